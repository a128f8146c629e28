//! The planner's answer: one action to apply, a reason to wait, or the end.

use std::fmt;

use crate::Role;

/// What the executor should do next. Exactly one scale at a time, like kubectl: after
/// applying a scale, the executor calls [`crate::next_step`] again and gets
/// [`WaitReason::Settling`] until the controller has caught up, which is kubectl's
/// "wait for replicas" between steps. Any extra pause (kubectl's `--update-period`) is the
/// executor's choice and does not change the decisions, only their timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Set the new RC's `spec.replicas` from `from` to `to`. Normally a scale-up; the one
    /// exception is trimming a new RC that someone scaled above `desired` back down once the
    /// old RC is empty (kubectl would loop forever there).
    ScaleNew {
        /// The observed `spec.replicas`, for a conditional update and the messages.
        from: u32,
        /// The value to set.
        to: u32,
    },
    /// Scale the old RC down: set its `spec.replicas` from `from` to `to` (`to < from`).
    ScaleOld {
        /// The observed `spec.replicas`.
        from: u32,
        /// The value to set.
        to: u32,
    },
    /// Nothing may change now; observe again later.
    Wait(WaitReason),
    /// The new RC has `desired` replicas, the old one none, and both controllers have caught
    /// up: time for the executor's cleanup (annotations, deleting or renaming).
    Done,
}

impl Step {
    /// Whether the step changes the cluster (a scale), as opposed to waiting or finishing.
    pub const fn is_action(&self) -> bool {
        matches!(self, Step::ScaleNew { .. } | Step::ScaleOld { .. })
    }
}

/// Why [`Step::Wait`] was returned, so the executor can report what it is waiting for and
/// decide what counts as progress for its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitReason {
    /// A controller has not yet observed its latest spec or not yet created/deleted pods to
    /// match it. Deciding on such state would double-count pods in flight.
    Settling {
        /// The first controller found unsettled (new is checked first).
        role: Role,
    },
    /// No scale is allowed until more new pods become available: scaling up would exceed
    /// `max_total` and scaling down would drop below `min_available`. This is where an update
    /// to a bad image stops, with the old pods still serving.
    NewPodsNotAvailable {
        /// New pods requested but not available (always at least 1 here).
        waiting: u32,
    },
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::Settling { role } => write!(
                f,
                "waiting for the {role} replication controller to reach its replica count"
            ),
            WaitReason::NewPodsNotAvailable { waiting } => write!(
                f,
                "waiting for {waiting} new pod{} to become available",
                if *waiting == 1 { "" } else { "s" }
            ),
        }
    }
}
