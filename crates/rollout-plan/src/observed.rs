//! What the executor saw in the cluster: the planner's only input besides the limits.

use std::fmt;

/// One ReplicationController as observed. All four numbers come straight from the cluster,
/// which is what makes the plan restartable: nothing here is remembered by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Side {
    /// `spec.replicas`: what the RC has been asked for (our progress record).
    pub spec: u32,
    /// Pods the RC owns that are active (not terminating, not finished): what the RC
    /// controller reports as `status.replicas`, counted by the executor from the pods
    /// themselves because the status lags one controller sync behind them.
    pub current: u32,
    /// Pods that are Ready for at least `minReadySeconds` and not terminating. Counted by the
    /// executor from the pods themselves, because RC status has no such field in every version.
    pub available: u32,
    /// `status.observedGeneration >= metadata.generation`: the controller has seen the latest
    /// spec, so `current` refers to it.
    pub spec_observed: bool,
}

impl Side {
    /// A controller at rest with all `replicas` pods available, e.g. the old RC before the
    /// update starts. Mostly a convenience for tests and examples.
    pub const fn steady(replicas: u32) -> Side {
        Side {
            spec: replicas,
            current: replicas,
            available: replicas,
            spec_observed: true,
        }
    }

    /// The controller has caught up with its spec: it has observed it and created or deleted
    /// pods to match. The planner only decides on settled state, as kubectl waited for
    /// `status.replicas == spec.replicas` after every scale (here the pods are counted, which
    /// is the same condition seen one controller sync earlier).
    pub const fn is_settled(&self) -> bool {
        self.spec_observed && self.current == self.spec
    }

    /// Requested pods that are not available (kubectl's `newUnavailable` for the new RC).
    pub const fn unavailable(&self) -> u32 {
        self.spec.saturating_sub(self.available)
    }
}

/// Both controllers of the update. `old` is the one being drained, `new` the one being filled;
/// a rollback swaps them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Observed {
    /// The RC being scaled down to 0.
    pub old: Side,
    /// The RC being scaled up to `desired`.
    pub new: Side,
}

impl Observed {
    /// Roles swapped, for a rollback: the original RC becomes the target (with `desired` = its
    /// `original-replicas` annotation) and the half-deployed one is drained.
    pub const fn swapped(self) -> Observed {
        Observed {
            old: self.new,
            new: self.old,
        }
    }
}

/// Which of the two controllers something is about, e.g. which one is still settling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The RC being drained.
    Old,
    /// The RC being filled.
    New,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Old => "old",
            Role::New => "new",
        })
    }
}
