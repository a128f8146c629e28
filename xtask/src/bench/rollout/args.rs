//! The options of `cargo xtask bench rollout`, and the set CI runs: read by the run and
//! by its report.

#[derive(clap::Args)]
pub struct Args {
    /// Runs of each side and bounds (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub(super) runs: u32,
    /// Replicas of the updated workload.
    #[arg(long, default_value_t = 3)]
    pub(super) replicas: u32,
    /// Put the pods on this many kwok fake nodes instead of the real node (for hundreds of
    /// replicas).
    #[arg(long, value_name = "M")]
    pub(super) fake_nodes: Option<u32>,
    /// Leave the cluster running afterwards.
    #[arg(long)]
    pub(super) keep: bool,
    /// Skip the engine's first update of an unlabelled RC (reported, not compared).
    #[arg(long)]
    pub(super) no_first_update: bool,
    /// Only these bounds, as MAXSURGE/MAXUNAVAILABLE (`1/0`; with `--fake-nodes` also
    /// `25%/25%`); default all of them.
    #[arg(long, value_name = "SURGE/UNAVAILABLE")]
    pub(super) only_bounds: Option<String>,
    /// Time the debug build of the plugin (the one `cargo xtask e2e` builds) instead of the
    /// release build users get: the numbers are then not the engine's, only a check that
    /// the benchmark still runs (CI's no-rot run; the release build alone takes minutes).
    #[arg(long)]
    pub(super) debug_build: bool,
}

impl Args {
    /// What CI runs so that the benchmark cannot rot: every part of the full run at scale
    /// (kwok fake nodes, faster controllers, both bounds, the audit counting) at 100
    /// replicas on 10 fake nodes with the debug build, one run of each side and bounds,
    /// timings reported, never asserted. The full run is `--replicas 1000 --fake-nodes 100`.
    pub fn ci_at_scale() -> Args {
        Args {
            runs: 1,
            replicas: 100,
            fake_nodes: Some(10),
            keep: false,
            // Informational only, and the same code path as the compared runs.
            no_first_update: true,
            only_bounds: None,
            debug_build: true,
        }
    }
}
