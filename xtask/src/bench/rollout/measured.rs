//! What the benchmark measures and with which settings: the bounds and their targets, the
//! RC the engine side starts from, what one side of one run measured, and the runs of each
//! side. Read by the run that fills them and by the report that renders them.

use std::time::Duration;

use crate::bench::audit::Requests;

/// maxSurge and maxUnavailable, as both sides spell them.
#[derive(Clone, Copy)]
pub(super) struct Bounds {
    pub(super) surge: &'static str,
    pub(super) unavailable: &'static str,
    /// The targets for this size and bounds: time and requests, engine / Deployment.
    pub(super) targets: (f64, f64),
    /// Also time the engine's first update of an RC without the deployment label (see
    /// [`Start`]); skipped where one run takes minutes.
    pub(super) first_update: bool,
}

impl Bounds {
    /// The bounds as `--only-bounds` spells them: `MAXSURGE/MAXUNAVAILABLE`.
    pub(super) fn spelled(&self) -> String {
        format!("{}/{}", self.surge, self.unavailable)
    }
}

/// The old RC the engine side starts from.
///
/// The comparison starts both sides in their steady state: a Deployment's ReplicaSets carry
/// `pod-template-hash` from creation, and an RC a rolling update created carries the
/// `deployment` key in its selector and pods (`Labelled`). An RC made by `kubectl create`
/// without that key (`Unlabelled`, the tutorial's `kubia-v1`) is relabelled once on its
/// first update, pod by pod in kubectl's order (one PATCH per pod); that run is reported
/// beside the comparison.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    Labelled,
    Unlabelled,
}

/// What the runs of one bounds measured, per side.
#[derive(Default)]
pub(super) struct Sides {
    pub(super) engine: Vec<Run>,
    pub(super) deployment: Vec<Run>,
    /// The engine from an [`Start::Unlabelled`] RC.
    pub(super) first_update: Vec<Run>,
}

/// What one side of one run measured.
pub(super) struct Run {
    pub(super) took: Duration,
    pub(super) requests: Requests,
    /// Peak resident memory of the engine process (engine side only).
    pub(super) peak_kib: Option<u64>,
}
