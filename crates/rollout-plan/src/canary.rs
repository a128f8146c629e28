//! Canary by hand, made exact: the replica counts of each canary step for a fixed total.
//!
//! The tutorial's manual canary keeps one Service over two RCs (stable and canary) and moves
//! replicas from one to the other. These helpers turn user-given steps (`1`, `25%`, ...) into
//! canary replica counts and split the constant total between the two RCs.

use crate::Rounding;
use crate::messages::{scaling_down, scaling_up};
use crate::{IntOrPercent, Observed, PlanError};

/// Resolves canary steps against `total` replicas. Percentages are of `total` and round
/// **up**, so any non-zero percentage gets at least one canary pod (a canary of 0 pods tests
/// nothing; Argo Rollouts rounds the same way). Counts are taken as they are.
///
/// The result must grow strictly from 0 and stay within `total`: a step that adds no pod (for
/// instance 10% then 20% of 3 replicas, both 1 pod) or overshoots is reported rather than
/// silently merged or clamped. The last step may stay below `total`; finishing the promotion
/// is the caller's decision.
pub fn resolve_steps(steps: &[IntOrPercent], total: u32) -> Result<Vec<u32>, PlanError> {
    if steps.is_empty() {
        return Err(PlanError::NoCanarySteps);
    }
    let mut previous = 0u64;
    let mut resolved = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let value = step.resolve(total, Rounding::Up);
        if value > u64::from(total) {
            return Err(PlanError::CanaryStepOverTotal {
                index,
                value,
                total,
            });
        }
        if value <= previous {
            return Err(PlanError::CanaryStepNotIncreasing {
                index,
                value,
                previous,
            });
        }
        // value <= total, a u32.
        resolved.push(u32::try_from(value).unwrap_or(total));
        previous = value;
    }
    Ok(resolved)
}

/// Replica counts of the two RCs for one canary step. Named fields because swapping the two
/// numbers would put the untested version in charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Split {
    /// Replicas of the RC running the current version.
    pub stable: u32,
    /// Replicas of the RC running the candidate version.
    pub canary: u32,
}

/// Splits `total` so that the Service always has `total` pods behind it: `canary` pods of the
/// new version (capped at `total`) and the rest of the old one.
pub fn split(total: u32, canary: u32) -> Split {
    let canary = canary.min(total);
    Split {
        stable: total - canary,
        canary,
    }
}

/// The step targets: the resolved steps, then all pods on the canary if the last step falls
/// short (that final step is what a promote adds).
pub fn targets(steps: &[u32], total: u32) -> Vec<u32> {
    let mut all = steps.to_vec();
    if all.last().is_none_or(|last| *last < total) {
        all.push(total);
    }
    all
}

/// Index (0-based) of the step a canary with `canary_replicas` pods has reached: the last
/// target not above them; `None` before the first.
pub fn current_step(targets: &[u32], canary_replicas: u32) -> Option<usize> {
    targets.iter().rposition(|t| *t <= canary_replicas)
}

/// The line announcing step `index` (0-based) of `count`:
/// `Canary step 1/3: 1 of 3 pods on kubia-v2`.
pub fn describe_step(index: usize, count: usize, target: u32, total: u32, canary: &str) -> String {
    format!(
        "Canary step {}/{count}: {target} of {total} pods on {canary}",
        index + 1
    )
}

/// What to do next to bring a canary to `target` of `total` pods. `observed.old` is the
/// stable RC, `observed.new` the canary RC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CanaryStep {
    /// Scale the canary RC up to `to`.
    ScaleCanary {
        /// Its `spec.replicas` now.
        from: u32,
        /// The step's target.
        to: u32,
    },
    /// Wait until every canary pod is available: the stable RC shrinks only once the new
    /// pods serve, so the Service never has fewer than `total` pods behind it.
    WaitCanary,
    /// Scale the stable RC down to `to` (`total - target`).
    ScaleStable {
        /// Its `spec.replicas` now.
        from: u32,
        /// What the split leaves it.
        to: u32,
    },
    /// Wait until the stable RC's controller has removed the pods.
    WaitStable,
    /// Both RCs are at the step's split.
    Reached,
}

/// The canary's decision, a function of the observed state only (so a rerun after an
/// interruption continues where the cluster is): canary up first, then, once its pods are
/// available, stable down to what [`split`] leaves it.
pub fn next_step(total: u32, target: u32, observed: &Observed) -> CanaryStep {
    let goal = split(total, target);
    let (stable, canary) = (observed.old, observed.new);
    if canary.spec < goal.canary {
        CanaryStep::ScaleCanary {
            from: canary.spec,
            to: goal.canary,
        }
    } else if !canary.is_settled() || canary.available < canary.spec {
        CanaryStep::WaitCanary
    } else if stable.spec > goal.stable {
        CanaryStep::ScaleStable {
            from: stable.spec,
            to: goal.stable,
        }
    } else if !stable.is_settled() {
        CanaryStep::WaitStable
    } else {
        CanaryStep::Reached
    }
}

/// Whether the specs already stand at the step's split (the step's line is printed only
/// when they do not: a resumed canary does not announce steps it already took).
pub fn spec_reached(total: u32, target: u32, observed: &Observed) -> bool {
    let goal = split(total, target);
    observed.new.spec >= goal.canary && observed.old.spec <= goal.stable
}

impl CanaryStep {
    /// kubectl's line for a scale (`Scaling kubia-v2 up to 1`), `None` for waits.
    pub fn describe(&self, stable: &str, canary: &str) -> Option<String> {
        match *self {
            CanaryStep::ScaleCanary { to, .. } => Some(scaling_up(canary, to)),
            CanaryStep::ScaleStable { to, .. } => Some(scaling_down(stable, to)),
            CanaryStep::WaitCanary | CanaryStep::WaitStable | CanaryStep::Reached => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntOrPercent::{Count, Percent};
    use proptest::prelude::*;

    #[test]
    fn percentages_round_up() {
        assert_eq!(
            resolve_steps(&[Percent(25), Percent(50), Percent(100)], 3),
            Ok(vec![1, 2, 3])
        );
        assert_eq!(
            resolve_steps(&[Percent(10), Percent(50)], 10),
            Ok(vec![1, 5])
        );
        assert_eq!(resolve_steps(&[Percent(1)], 3), Ok(vec![1]));
    }

    #[test]
    fn counts_and_mixed() {
        assert_eq!(
            resolve_steps(&[Count(1), Percent(50), Count(4)], 4),
            Ok(vec![1, 2, 4])
        );
        assert_eq!(resolve_steps(&[Count(1)], 3), Ok(vec![1]));
    }

    #[test]
    fn errors() {
        assert_eq!(resolve_steps(&[], 3), Err(PlanError::NoCanarySteps));
        assert_eq!(
            resolve_steps(&[Percent(10), Percent(20)], 3),
            Err(PlanError::CanaryStepNotIncreasing {
                index: 1,
                value: 1,
                previous: 1
            })
        );
        assert_eq!(
            resolve_steps(&[Count(2), Count(1)], 3),
            Err(PlanError::CanaryStepNotIncreasing {
                index: 1,
                value: 1,
                previous: 2
            })
        );
        assert_eq!(
            resolve_steps(&[Count(0)], 3),
            Err(PlanError::CanaryStepNotIncreasing {
                index: 0,
                value: 0,
                previous: 0
            })
        );
        assert_eq!(
            resolve_steps(&[Count(1), Percent(150)], 3),
            Err(PlanError::CanaryStepOverTotal {
                index: 1,
                value: 5,
                total: 3
            })
        );
        assert_eq!(
            resolve_steps(&[Count(4)], 3),
            Err(PlanError::CanaryStepOverTotal {
                index: 0,
                value: 4,
                total: 3
            })
        );
        assert!(resolve_steps(&[Percent(50)], 0).is_err());
    }

    #[test]
    fn splits_keep_the_total() {
        assert_eq!(
            split(3, 1),
            Split {
                stable: 2,
                canary: 1
            }
        );
        assert_eq!(
            split(3, 3),
            Split {
                stable: 0,
                canary: 3
            }
        );
        assert_eq!(
            split(3, 7),
            Split {
                stable: 0,
                canary: 3
            }
        );
        assert_eq!(
            split(0, 0),
            Split {
                stable: 0,
                canary: 0
            }
        );
    }

    fn any_step() -> impl Strategy<Value = IntOrPercent> {
        prop_oneof![(0u32..30).prop_map(Count), (0u32..=150).prop_map(Percent)]
    }

    proptest! {
        #[test]
        fn resolved_steps_are_valid_or_the_error_is_right(
            steps in proptest::collection::vec(any_step(), 0..6),
            total in 0u32..30,
        ) {
            let expected: Vec<u64> = steps
                .iter()
                .map(|s| match *s {
                    Count(n) => u64::from(n),
                    Percent(p) => (u64::from(p) * u64::from(total)).div_ceil(100),
                })
                .collect();
            match resolve_steps(&steps, total) {
                Ok(resolved) => {
                    prop_assert_eq!(resolved.len(), steps.len());
                    prop_assert!(resolved.iter().zip(&expected).all(|(r, e)| u64::from(*r) == *e));
                    prop_assert!(resolved[0] >= 1);
                    prop_assert!(resolved.windows(2).all(|w| w[0] < w[1]));
                    prop_assert!(resolved.iter().all(|r| *r <= total));
                }
                Err(PlanError::NoCanarySteps) => prop_assert!(steps.is_empty()),
                Err(PlanError::CanaryStepOverTotal { index, value, total: t }) => {
                    prop_assert_eq!(t, total);
                    prop_assert_eq!(value, expected[index]);
                    prop_assert!(value > u64::from(total));
                    prop_assert!(expected[..index].windows(2).all(|w| w[0] < w[1]));
                }
                Err(PlanError::CanaryStepNotIncreasing { index, value, previous }) => {
                    prop_assert_eq!(value, expected[index]);
                    let prev = if index == 0 { 0 } else { expected[index - 1] };
                    prop_assert_eq!(previous, prev);
                    prop_assert!(value <= previous);
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
        }

        #[test]
        fn percent_steps_of_a_large_enough_total_resolve(total in 1u32..1000, a in 1u32..=33, b in 34u32..=66) {
            // For total >= 100, a% and b% (b - a >= 1) round up to different counts, and
            // 66% stays below total, so the three steps always resolve; below 100 they may
            // collide, which must then be the only reason for an error.
            if let Ok(r) = resolve_steps(&[Percent(a), Percent(b), Percent(100)], total) {
                prop_assert_eq!(r.last().copied(), Some(total));
                prop_assert!(r[0] >= 1);
            } else {
                prop_assert!(total < 100);
            }
        }

        #[test]
        fn split_keeps_the_total(total in any::<u32>(), canary in any::<u32>()) {
            let s = split(total, canary);
            prop_assert_eq!(u64::from(s.stable) + u64::from(s.canary), u64::from(total));
            prop_assert_eq!(s.canary, canary.min(total));
        }
    }

    #[test]
    fn targets_end_with_everything_on_the_canary() {
        assert_eq!(targets(&[1, 2], 3), vec![1, 2, 3]);
        assert_eq!(targets(&[1, 2, 3], 3), vec![1, 2, 3]);
        assert_eq!(targets(&[], 3), vec![3]);
    }

    #[test]
    fn current_step_from_replicas() {
        let all = [1, 2, 3];
        assert_eq!(current_step(&all, 0), None);
        assert_eq!(current_step(&all, 1), Some(0));
        assert_eq!(current_step(&all, 2), Some(1));
        assert_eq!(current_step(&all, 3), Some(2));
    }

    #[test]
    fn the_tutorials_first_canary_step_line_by_line() {
        use crate::Side;
        let mut seen = vec![describe_step(0, 3, 1, 3, "kubia-v2")];
        let mut o = Observed {
            old: Side::steady(3),
            new: Side::steady(0),
        };
        loop {
            let step = next_step(3, 1, &o);
            seen.extend(step.describe("kubia-v1", "kubia-v2"));
            match step {
                CanaryStep::ScaleCanary { to, .. } => o.new = Side::steady(to),
                CanaryStep::ScaleStable { to, .. } => o.old = Side::steady(to),
                CanaryStep::WaitCanary | CanaryStep::WaitStable => unreachable!("steady pods"),
                CanaryStep::Reached => break,
            }
        }
        assert_eq!(
            seen,
            [
                "Canary step 1/3: 1 of 3 pods on kubia-v2",
                "Scaling kubia-v2 up to 1",
                "Scaling kubia-v1 down to 2",
            ]
        );
        assert!(spec_reached(3, 1, &o));
    }

    fn any_side() -> impl Strategy<Value = crate::Side> {
        (0u32..8, 0u32..8, 0u32..8, any::<bool>()).prop_map(
            |(spec, current, available, spec_observed)| crate::Side {
                spec,
                current,
                available: available.min(current),
                spec_observed,
            },
        )
    }

    proptest! {
        /// Whatever the cluster looks like (a resumed canary sees any state), the stable RC
        /// is shrunk only while every canary pod the step asks for is available.
        #[test]
        fn stable_shrinks_only_behind_available_canary_pods(
            total in 0u32..8, target in 0u32..10, stable in any_side(), canary in any_side(),
        ) {
            let o = Observed { old: stable, new: canary };
            let goal = split(total, target);
            match next_step(total, target, &o) {
                CanaryStep::ScaleCanary { from, to } => {
                    prop_assert_eq!(from, canary.spec);
                    prop_assert_eq!(to, goal.canary);
                    prop_assert!(to > from);
                }
                CanaryStep::ScaleStable { from, to } => {
                    prop_assert!(canary.is_settled() && canary.available >= goal.canary);
                    prop_assert_eq!(from, stable.spec);
                    prop_assert_eq!(to, goal.stable);
                    prop_assert!(to < from);
                }
                CanaryStep::Reached => {
                    prop_assert!(spec_reached(total, target, &o));
                    prop_assert!(stable.is_settled() && canary.is_settled());
                }
                CanaryStep::WaitCanary | CanaryStep::WaitStable => {}
            }
        }

        /// Walking a step against a simulated RC controller whose pods become available
        /// whenever `ready` says so: the step is reached, the Service never has fewer than
        /// `total` available pods, and at most the step's new pods are added on top.
        #[test]
        fn a_step_keeps_capacity_and_reaches_its_split(
            total in 1u32..8, from_step in 0u32..8, add in 1u32..8,
            ready in proptest::collection::vec(any::<bool>(), 64),
        ) {
            use crate::Side;
            let previous = from_step.min(total - 1);
            let target = (previous + add).min(total);
            let mut o = Observed { old: Side::steady(total - previous), new: Side::steady(previous) };
            let mut ticks = ready.iter().copied().chain(std::iter::repeat(true));
            let mut reached = false;
            for _ in 0..200 {
                prop_assert!(o.old.available + o.new.available >= total, "{:?}", o);
                prop_assert!(o.old.spec + o.new.spec <= total + (target - previous), "{:?}", o);
                match next_step(total, target, &o) {
                    CanaryStep::ScaleCanary { to, .. } => { o.new.spec = to; o.new.spec_observed = false; }
                    CanaryStep::ScaleStable { to, .. } => { o.old.spec = to; o.old.spec_observed = false; }
                    CanaryStep::Reached => { reached = true; break; }
                    CanaryStep::WaitCanary | CanaryStep::WaitStable => {}
                }
                // The RC controller: creates or deletes pods; new pods become available when
                // `ready` says so, deleted ones stop counting at once.
                for side in [&mut o.old, &mut o.new] {
                    side.spec_observed = true;
                    side.current = side.spec;
                    side.available = side.available.min(side.spec);
                }
                if ticks.next().unwrap_or(true) && o.new.available < o.new.spec {
                    o.new.available += 1;
                }
            }
            prop_assert!(reached, "not reached: {:?}", o);
            prop_assert_eq!((o.old.spec, o.new.spec), (total - target, target));
        }
    }
}
