//! kubectl rolling-update's progress lines, byte for byte: the project compares its output
//! with the tutorial's transcript, so these strings are part of the contract.

use crate::{Limits, Observed, Step};

/// The line kubectl printed before the first scale, e.g.
/// `Scaling up kubia-v2 from 0 to 3, scaling down kubia-v1 from 3 to 0 (keep 3 pods available, don't exceed 4 pods)`.
/// The "from" figures are the observed specs, so a resumed update reports where it resumes.
pub fn describe_start(
    old_name: &str,
    new_name: &str,
    limits: &Limits,
    observed: &Observed,
) -> String {
    format!(
        "Scaling up {new_name} from {} to {}, scaling down {old_name} from {} to 0 (keep {} pods available, don't exceed {} pods)",
        observed.new.spec,
        limits.desired,
        observed.old.spec,
        limits.min_available(),
        limits.max_total(),
    )
}

/// kubectl's line for a scale-up: `Scaling NAME up to N`.
pub fn scaling_up(name: &str, to: u32) -> String {
    format!("Scaling {name} up to {to}")
}

/// kubectl's line for a scale-down: `Scaling NAME down to N`.
pub fn scaling_down(name: &str, to: u32) -> String {
    format!("Scaling {name} down to {to}")
}

impl Step {
    /// The line to print when applying this step, with the controllers' names; `None` for
    /// [`Step::Wait`] and [`Step::Done`], for which kubectl printed nothing (the final lines
    /// depend on the executor's cleanup, so they are the executor's).
    pub fn describe(&self, old_name: &str, new_name: &str) -> Option<String> {
        match *self {
            Step::ScaleNew { from, to } if to < from => Some(scaling_down(new_name, to)),
            Step::ScaleNew { to, .. } => Some(scaling_up(new_name, to)),
            Step::ScaleOld { to, .. } => Some(scaling_down(old_name, to)),
            Step::Wait(_) | Step::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Side, WaitReason};

    #[test]
    fn start_line_of_the_tutorial() {
        let limits = Limits {
            desired: 3,
            surge: 1,
            unavailable: 0,
        };
        let observed = Observed {
            old: Side::steady(3),
            new: Side::steady(0),
        };
        assert_eq!(
            describe_start("kubia-v1", "kubia-v2", &limits, &observed),
            "Scaling up kubia-v2 from 0 to 3, scaling down kubia-v1 from 3 to 0 (keep 3 pods available, don't exceed 4 pods)"
        );
    }

    #[test]
    fn step_lines() {
        let d = |s: Step| s.describe("kubia-v1", "kubia-v2");
        assert_eq!(
            d(Step::ScaleNew { from: 0, to: 1 }).as_deref(),
            Some("Scaling kubia-v2 up to 1")
        );
        assert_eq!(
            d(Step::ScaleOld { from: 3, to: 2 }).as_deref(),
            Some("Scaling kubia-v1 down to 2")
        );
        assert_eq!(
            d(Step::ScaleNew { from: 5, to: 3 }).as_deref(),
            Some("Scaling kubia-v2 down to 3")
        );
        assert_eq!(d(Step::Done), None);
        assert_eq!(
            d(Step::Wait(WaitReason::NewPodsNotAvailable { waiting: 1 })),
            None
        );
    }

    #[test]
    fn wait_reasons_read_well() {
        assert_eq!(
            WaitReason::NewPodsNotAvailable { waiting: 2 }.to_string(),
            "waiting for 2 new pods to become available"
        );
        assert_eq!(
            WaitReason::NewPodsNotAvailable { waiting: 1 }.to_string(),
            "waiting for 1 new pod to become available"
        );
        assert_eq!(
            WaitReason::Settling {
                role: crate::Role::Old
            }
            .to_string(),
            "waiting for the old replication controller to reach its replica count"
        );
    }
}
