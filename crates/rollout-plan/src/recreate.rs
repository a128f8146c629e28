//! The tutorial's first method, made resumable: change the RC's template, delete the pods
//! that run anything else, wait for the replacements. Every decision is a function of what
//! the cluster shows, so a rerun after an interruption continues at the right phase.

/// What the executor saw of the RC being recreated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct RecreateObserved {
    /// The template has the requested image (and pull policy).
    pub template_updated: bool,
    /// The RC carries our `recreate-image` annotation: an update of ours is in progress.
    pub in_progress: bool,
    /// The RC controller has observed the current template and matched its replica count;
    /// only then may pods be deleted, or it could recreate them from the old template.
    pub settled: bool,
    /// Live pods that still run another image.
    pub stale_pods: u32,
    /// Every pod the RC asks for is available and runs the new image.
    pub new_available: bool,
}

/// The next thing a recreate does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecreateStep {
    /// Put the image into the template, with the `recreate-image` annotation.
    UpdateTemplate,
    /// Nothing to do: the RC already runs the image and no update of ours is in progress.
    Unchanged,
    /// Wait until the RC controller has observed the new template.
    WaitObserved,
    /// Delete the pods that run another image (the application is down until the new ones
    /// are ready: the method's known cost).
    DeleteStale {
        /// How many.
        pods: u32,
    },
    /// Wait until the new pods are available (or a failure signal fires).
    WaitNewAvailable,
    /// Done: remove the annotation and report.
    Finish,
}

/// The recreate's decision.
pub fn next_step(o: &RecreateObserved) -> RecreateStep {
    if !o.template_updated {
        RecreateStep::UpdateTemplate
    } else if !o.in_progress && o.stale_pods == 0 {
        RecreateStep::Unchanged
    } else if !o.settled {
        RecreateStep::WaitObserved
    } else if o.stale_pods > 0 {
        RecreateStep::DeleteStale { pods: o.stale_pods }
    } else if !o.new_available {
        RecreateStep::WaitNewAvailable
    } else {
        RecreateStep::Finish
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_observed() -> impl Strategy<Value = RecreateObserved> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            0u32..4,
            any::<bool>(),
        )
            .prop_map(
                |(template_updated, in_progress, settled, stale_pods, new_available)| {
                    RecreateObserved {
                        template_updated,
                        in_progress,
                        settled,
                        stale_pods,
                        new_available: new_available && stale_pods == 0,
                    }
                },
            )
    }

    #[test]
    fn the_tutorials_recreate_in_order() {
        let mut o = RecreateObserved {
            settled: true,
            stale_pods: 3,
            ..RecreateObserved::default()
        };
        let mut seen = Vec::new();
        loop {
            let step = next_step(&o);
            seen.push(step);
            match step {
                RecreateStep::UpdateTemplate => {
                    o.template_updated = true;
                    o.in_progress = true;
                    o.settled = false;
                }
                RecreateStep::WaitObserved => o.settled = true,
                RecreateStep::DeleteStale { .. } => o.stale_pods = 0,
                RecreateStep::WaitNewAvailable => o.new_available = true,
                RecreateStep::Finish => break,
                RecreateStep::Unchanged => unreachable!("an update was asked for"),
            }
        }
        assert_eq!(
            seen,
            [
                RecreateStep::UpdateTemplate,
                RecreateStep::WaitObserved,
                RecreateStep::DeleteStale { pods: 3 },
                RecreateStep::WaitNewAvailable,
                RecreateStep::Finish,
            ]
        );
        // A rerun once the annotation is gone finds nothing to do.
        o.in_progress = false;
        assert_eq!(next_step(&o), RecreateStep::Unchanged);
    }

    proptest! {
        /// Whatever a rerun finds: pods are deleted only once the controller knows the new
        /// template, and the update is reported done only with no old pod left and the new
        /// ones available.
        #[test]
        fn deletes_only_behind_the_new_template_and_finishes_only_when_served(o in any_observed()) {
            match next_step(&o) {
                RecreateStep::DeleteStale { pods } => {
                    prop_assert!(o.template_updated && o.settled);
                    prop_assert_eq!(pods, o.stale_pods);
                    prop_assert!(pods > 0);
                }
                RecreateStep::Finish => {
                    prop_assert!(o.template_updated && o.stale_pods == 0 && o.new_available);
                }
                RecreateStep::Unchanged => {
                    prop_assert!(o.template_updated && !o.in_progress && o.stale_pods == 0);
                }
                RecreateStep::UpdateTemplate => prop_assert!(!o.template_updated),
                RecreateStep::WaitObserved => prop_assert!(!o.settled),
                RecreateStep::WaitNewAvailable => prop_assert!(!o.new_available),
            }
        }
    }
}
