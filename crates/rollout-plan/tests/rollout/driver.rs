//! A stateless executor loop over the toy cluster, checking the safety bounds after every
//! change. It keeps no memory between calls on purpose: everything it knows it observes,
//! which is what lets a crashed executor restart anywhere.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rollout_plan::{Limits, Step, WaitReason, next_step};

use crate::cluster::Cluster;

/// One thing happening, in a scripted interleaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Time passes; the chosen RC controllers sync, creating at most `burst` pods each.
    Tick {
        sync_old: bool,
        sync_new: bool,
        burst: u32,
    },
    /// The executor observes and asks the planner. `restarts`: it crashes after deciding and
    /// that many fresh executors, rebuilt from what the cluster stores, decide again on the
    /// same state (the answer must not change); the last one carries on. `lost`: the last
    /// one crashes before applying, so nothing is applied.
    Call { restarts: u8, lost: bool },
}

/// After the script: the controllers sync every tick and the executor calls after each.
const DEFAULT_TICK: Event = Event::Tick {
    sync_old: true,
    sync_new: true,
    burst: 1,
};
const DEFAULT_CALL: Event = Event::Call {
    restarts: 0,
    lost: false,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Done,
    /// Waiting for new pods that will never become available; nothing can change any more.
    Stuck {
        waiting: u32,
    },
    /// The call budget ran out first.
    Interrupted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Every answer of the planner, waits included, in order.
    pub decisions: Vec<Step>,
    /// The scales applied, then `Done` if reached.
    pub actions: Vec<Step>,
    pub end: End,
}

/// The safety bounds, fixed when the run starts.
struct Bounds {
    limits: Limits,
    spec_cap: u32,
    pod_cap: u32,
    available_floor: u32,
}

impl Bounds {
    fn new(cluster: &Cluster, limits: &Limits) -> Bounds {
        Bounds {
            limits: *limits,
            // Already above max_total (old RC larger than desired + surge): may only shrink.
            spec_cap: limits.max_total().max(cluster.spec_sum()),
            // Pods follow the specs; a run may start with a scale still in flight either way
            // (e.g. a rollback right after a scale-up), which the controllers finish.
            pod_cap: limits
                .max_total()
                .max(cluster.spec_sum())
                .max(cluster.pods()),
            // Likewise a scale-down in flight at the start is not this run's doing: the floor
            // is what remains once it completes (unavailable pods go first).
            available_floor: limits.min_available().min(
                cluster.old.available().min(cluster.old.spec)
                    + cluster.new.available().min(cluster.new.spec),
            ),
        }
    }

    fn check(&self, cluster: &Cluster, when: &str) -> Result<(), TestCaseError> {
        prop_assert!(
            cluster.spec_sum() <= self.spec_cap,
            "{when}: specs {} > cap {}",
            cluster.spec_sum(),
            self.spec_cap
        );
        prop_assert!(
            cluster.pods() <= self.pod_cap,
            "{when}: pods {} > cap {}",
            cluster.pods(),
            self.pod_cap
        );
        prop_assert!(
            cluster.available() >= self.available_floor,
            "{when}: available {} < floor {}",
            cluster.available(),
            self.available_floor
        );
        Ok(())
    }

    /// Checks an action against the state it was decided on.
    fn check_action(&self, cluster: &Cluster, step: &Step) -> Result<(), TestCaseError> {
        let o = cluster.observe();
        match *step {
            Step::ScaleNew { from, to } => {
                prop_assert_eq!(from, o.new.spec);
                if to > from {
                    prop_assert!(to <= self.limits.desired);
                    prop_assert!(o.old.spec + to <= self.limits.max_total(), "surge exceeded");
                } else {
                    prop_assert_eq!((o.old.spec, to), (0, self.limits.desired));
                }
            }
            Step::ScaleOld { from, to } => {
                prop_assert_eq!(from, o.old.spec);
                prop_assert!(to < from);
            }
            Step::Wait(_) | Step::Done => {}
        }
        Ok(())
    }
}

/// How a restarted executor rebuilds its limits from the cluster alone (the stored
/// annotations and the command line given again).
pub type Restart<'a> = &'a dyn Fn(&Cluster) -> Limits;

/// Drives the planner over `script`, then the default interleaving, for at most `max_calls`
/// calls. Without `restart` the script's restarts are ignored, so two runs can be
/// compared to show that restarting changes nothing.
pub fn run(
    cluster: &mut Cluster,
    limits: &Limits,
    script: &[Event],
    restart: Option<Restart>,
    max_calls: usize,
) -> Result<Run, TestCaseError> {
    let mut current = *limits;
    let limits = &mut current;
    let bounds = Bounds::new(cluster, limits);
    bounds.check(cluster, "start")?;
    let initial_old = cluster.old.spec;
    let mut decisions = Vec::new();
    let mut actions = Vec::new();
    let defaults = std::iter::repeat([DEFAULT_TICK, DEFAULT_CALL]).flatten();
    for event in script.iter().copied().chain(defaults) {
        match event {
            Event::Tick {
                sync_old,
                sync_new,
                burst,
            } => {
                cluster.tick(sync_old, sync_new, burst);
                bounds.check(cluster, "after tick")?;
            }
            Event::Call { restarts: n, lost } => {
                if decisions.len() >= max_calls {
                    return Ok(Run {
                        decisions,
                        actions,
                        end: End::Interrupted,
                    });
                }
                let observed = cluster.observe();
                let step = next_step(limits, &observed);
                if let Some(rebuild) = restart {
                    for _ in 0..n {
                        // A fresh process: nothing of the crashed one survives.
                        let rebuilt = rebuild(cluster);
                        prop_assert_eq!(next_step(&rebuilt, &cluster.observe()), step);
                        *limits = rebuilt;
                    }
                }
                decisions.push(step);
                bounds.check_action(cluster, &step)?;
                match step {
                    Step::Done => {
                        prop_assert_eq!(cluster.new.spec, limits.desired);
                        prop_assert_eq!(cluster.old.spec, 0);
                        prop_assert_eq!(cluster.old.pod_count(), 0);
                        prop_assert_eq!(cluster.new.pod_count(), limits.desired);
                        actions.push(step);
                        prop_assert!(
                            actions.len() as u64
                                <= u64::from(limits.desired) + u64::from(initial_old) + 2,
                            "too many steps: {actions:?}"
                        );
                        return Ok(Run {
                            decisions,
                            actions,
                            end: End::Done,
                        });
                    }
                    Step::Wait(WaitReason::NewPodsNotAvailable { waiting })
                        if cluster.quiescent() =>
                    {
                        prop_assert!(waiting >= 1);
                        prop_assert_eq!(waiting, cluster.new.broken());
                        return Ok(Run {
                            decisions,
                            actions,
                            end: End::Stuck { waiting },
                        });
                    }
                    Step::Wait(_) => {}
                    Step::ScaleNew { .. } | Step::ScaleOld { .. } => {
                        if !lost {
                            cluster.apply(&step);
                            actions.push(step);
                            bounds.check(cluster, "after scale")?;
                        }
                    }
                }
            }
        }
    }
    unreachable!("the default interleaving is endless")
}

/// Strategy for scripts of random interleavings.
pub fn script(max_len: usize) -> impl Strategy<Value = Vec<Event>> {
    let event = prop_oneof![
        3 => (any::<bool>(), any::<bool>(), 1u32..=4).prop_map(|(sync_old, sync_new, burst)| {
            Event::Tick { sync_old, sync_new, burst }
        }),
        2 => (0u8..=2, proptest::bool::weighted(0.15))
            .prop_map(|(restarts, lost)| Event::Call { restarts, lost }),
    ];
    proptest::collection::vec(event, 0..max_len)
}
