//! Random runs: random sizes, strategies, pod readiness (slow or never), controller timing,
//! executor restarts and lost actions, and rollbacks from random points.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rollout_plan::IntOrPercent::{Count, Percent};
use rollout_plan::{IntOrPercent, Limits};

use crate::cluster::{Cluster, Delay, Rc};
use crate::driver::{End, Event, Restart, Run, run, script};

const MAX_CALLS: usize = 20_000;

fn surge() -> impl Strategy<Value = IntOrPercent> {
    prop_oneof![(0u32..=4).prop_map(Count), (0u32..=200).prop_map(Percent)]
}

fn unavailable() -> impl Strategy<Value = IntOrPercent> {
    prop_oneof![(0u32..=4).prop_map(Count), (0u32..=100).prop_map(Percent)]
}

fn good_delay() -> impl Strategy<Value = Delay> {
    (0u32..6).prop_map(Some)
}

fn any_delay() -> impl Strategy<Value = Delay> {
    prop_oneof![3 => good_delay(), 1 => Just(None)]
}

#[derive(Debug, Clone)]
struct Scenario {
    desired: u32,
    old_pods: u32,
    old_broken: u32,
    strategy: rollout_plan::Strategy,
    new_delays: Vec<Delay>,
    script: Vec<Event>,
}

fn scenario(delay: BoxedStrategy<Delay>) -> impl Strategy<Value = Scenario> {
    (
        0u32..=12,
        0u32..=12,
        prop_oneof![4 => Just(0u32), 1 => 0u32..=3],
        surge(),
        unavailable(),
        proptest::collection::vec(delay, 0..30),
        script(150),
    )
        .prop_map(
            |(desired, old_pods, old_broken, max_surge, max_unavailable, new_delays, script)| {
                Scenario {
                    desired,
                    old_pods,
                    old_broken: old_broken.min(old_pods),
                    strategy: rollout_plan::Strategy {
                        max_surge,
                        max_unavailable,
                        min_ready_seconds: 0,
                    },
                    new_delays,
                    script,
                }
            },
        )
}

impl Scenario {
    fn limits(&self) -> Limits {
        Limits::resolve(self.desired, &self.strategy).expect("strategies here are valid")
    }

    /// The start of an update: old RC at rest, new RC created with 0 replicas. New pods created
    /// after `new_delays` is used up are healthy.
    fn cluster(&self) -> Cluster {
        let mut new = Rc::running(0, 0).with_delays(self.new_delays.clone(), Some(0));
        new.desired_annotation = Some(self.desired);
        Cluster {
            old: Rc::running(self.old_pods, self.old_broken),
            new,
        }
    }

    fn run(&self, restarts: bool) -> Result<(Run, Cluster), TestCaseError> {
        let mut cluster = self.cluster();
        let rebuild = |c: &Cluster| rebuilt_limits(c, &self.strategy);
        let run = run(
            &mut cluster,
            &self.limits(),
            &self.script,
            restarts.then_some(&rebuild as Restart),
            MAX_CALLS,
        )?;
        Ok((run, cluster))
    }
}

/// What a restarted executor knows: the target's `desired-replicas` annotation and the
/// strategy flags of the command run again; never the crashed process's memory.
fn rebuilt_limits(cluster: &Cluster, strategy: &rollout_plan::Strategy) -> Limits {
    let desired = cluster
        .new
        .desired_annotation
        .expect("the executor annotates its target before scaling it");
    Limits::resolve(desired, strategy).expect("strategies here are valid")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// All new pods eventually become available: the bounds hold throughout and the update
    /// finishes, with a bounded number of scales.
    #[test]
    fn healthy_update_finishes_within_bounds(s in scenario(good_delay().boxed())) {
        let (run, cluster) = s.run(true)?;
        prop_assert_eq!(run.end, End::Done);
        prop_assert_eq!(cluster.new.spec, s.desired);
    }

    /// Some new pods never become available: the bounds still hold (no healthy old pod is
    /// removed below min_available), and the run ends either done (enough good pods) or
    /// stopped at Wait(NewPodsNotAvailable) with nothing left that could change.
    #[test]
    fn bad_pods_stop_the_update_at_the_bound(s in scenario(any_delay().boxed())) {
        let (run, cluster) = s.run(true)?;
        match run.end {
            End::Done => {}
            End::Stuck { waiting } => {
                prop_assert_eq!(waiting, cluster.new.broken());
                prop_assert!(cluster.old.spec > 0, "stuck with the old RC empty");
            }
            End::Interrupted => prop_assert!(false, "no end within {MAX_CALLS} calls"),
        }
    }

    /// The planner keeps no state: executors that crash and restart (deciding again on the
    /// same cluster) make exactly the decisions of one that never crashes.
    #[test]
    fn restarts_change_nothing(s in scenario(any_delay().boxed())) {
        let (without, cluster_without) = s.run(false)?;
        let (with, cluster_with) = s.run(true)?;
        prop_assert_eq!(&without, &with);
        prop_assert_eq!(cluster_without.observe(), cluster_with.observe());
    }

    /// Rollback = the same planner with roles swapped, from any point of a (possibly bad)
    /// update, even one interrupted between a scale and the controller catching up: it
    /// finishes with the original RC at its original size (when that RC's pods are healthy),
    /// within the bounds measured at the start of the rollback.
    #[test]
    fn rollback_from_any_point_finishes(
        s in scenario(any_delay().boxed()),
        cut in 0usize..60,
        original_delays in proptest::collection::vec(good_delay(), 0..30),
        rollback_script in script(100),
    ) {
        let mut cluster = s.cluster();
        let forward = |c: &Cluster| rebuilt_limits(c, &s.strategy);
        run(&mut cluster, &s.limits(), &s.script, Some(&forward), cut)?;
        // The original RC's pods are healthy (it ran before); the drained one keeps its pods.
        cluster.old.set_delays(original_delays, Some(0));
        cluster.swap();
        // The rollback records the original size on its target, as the engine does.
        cluster.new.desired_annotation = Some(s.old_pods);
        let limits = Limits::resolve(s.old_pods, &s.strategy).expect("valid strategy");
        let back_rebuild = |c: &Cluster| rebuilt_limits(c, &s.strategy);
        let back = run(&mut cluster, &limits, &rollback_script, Some(&back_rebuild), MAX_CALLS)?;
        if s.old_broken == 0 {
            prop_assert_eq!(back.end, End::Done);
            prop_assert_eq!((cluster.new.spec, cluster.old.spec), (s.old_pods, 0));
        } else {
            // The original RC's own broken pods hold the rollback like any unavailable pod of
            // the target: it may stop at the bound instead of removing the last good pods.
            prop_assert_ne!(back.end, End::Interrupted);
        }
    }
}
