//! `cargo xtask bench …`: benchmarks, always side by side with their reference in one run,
//! reported as ratios. No thresholds are enforced here; targets are printed next to results.

mod audit;
mod fake_nodes;
mod rollout;
mod server;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand)]
enum Which {
    /// kubia (v1) vs the book's Node.js app vs a bare hyper server, under wrk on loopback.
    Server(server::Args),
    /// Our engine vs the Deployment controller: a v1→v2 update on the local cluster (3 real
    /// pods, or `--replicas N --fake-nodes M` on kwok fake nodes).
    Rollout(rollout::Args),
}

/// CI's run of the rollout benchmark at scale (see `rollout::Args::ci_at_scale`).
pub fn rollout_at_scale_for_ci() -> Result<()> {
    rollout::run(&rollout::Args::ci_at_scale())
}

pub fn run(args: &Args) -> Result<()> {
    match &args.which {
        Which::Server(a) => server::run(a),
        Which::Rollout(a) => rollout::run(a),
    }
}
