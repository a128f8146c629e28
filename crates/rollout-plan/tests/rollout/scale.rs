//! At scale: up to 1000 replicas with bounds as counts or percentages. With pods that are
//! ready at once, every scale the planner asks for is as large as the bounds allow (one pod
//! more would break `maxSurge` or `maxUnavailable`), so an update takes about
//! `2 · desired / (surge + unavailable)` steps, as the Deployment controller's does, and never
//! waits.

use proptest::prelude::*;
use rollout_plan::IntOrPercent::{Count, Percent};
use rollout_plan::{IntOrPercent, Limits, Observed, Side, Step, Strategy as Bounds, next_step};

fn bound() -> impl Strategy<Value = IntOrPercent> {
    prop_oneof![
        (0u32..=1000).prop_map(Count),
        (0u32..=100).prop_map(Percent),
        Just(Percent(25)),
        Just(Count(1)),
        Just(Count(0)),
    ]
}

/// Runs an update of instantly ready pods from `old_pods` to `limits.desired`, checking each
/// step; returns the number of steps.
fn instant_update(limits: &Limits, old_pods: u32) -> Result<u32, TestCaseError> {
    let (mut old, mut new) = (Side::steady(old_pods), Side::steady(0));
    // Bounds are relative to where the update starts when that is already outside them.
    let ceiling = limits.max_total().max(old_pods);
    let floor = limits.min_available().min(old_pods);
    let most = 2 * limits.desired.max(old_pods) + 4;
    for steps in 0..=most {
        let step = next_step(limits, &Observed { old, new });
        match step {
            Step::Done => return Ok(steps),
            Step::ScaleNew { from, to } if to > from => {
                prop_assert!(old.spec + to <= ceiling, "{step:?} above maxSurge");
                // As large as allowed: all the way, or one more would pass the ceiling.
                prop_assert!(
                    to == limits.desired || old.spec + to == limits.max_total(),
                    "{step:?} with old at {} could go further",
                    old.spec
                );
                new = Side::steady(to);
            }
            Step::ScaleNew { to, .. } => new = Side::steady(to),
            Step::ScaleOld { from, to } => {
                prop_assert!(to < from);
                prop_assert!(to + new.available >= floor, "{step:?} below maxUnavailable");
                prop_assert!(
                    to == 0 || to + new.available == limits.min_available(),
                    "{step:?} with {} new available could go further",
                    new.available
                );
                old = Side::steady(to);
            }
            Step::Wait(reason) => {
                return Err(TestCaseError::fail(format!(
                    "waited ({reason}) although every pod is ready"
                )));
            }
        }
    }
    Err(TestCaseError::fail(format!("not done after {most} steps")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_step_is_as_large_as_the_bounds_allow(
        desired in 0u32..=1000,
        old_pods in 0u32..=1000,
        max_surge in bound(),
        max_unavailable in bound(),
    ) {
        let strategy = Bounds { max_surge, max_unavailable, min_ready_seconds: 0 };
        let Ok(limits) = Limits::resolve(desired, &strategy) else {
            return Ok(());
        };
        let steps = instant_update(&limits, old_pods)?;
        // Each round moves surge + unavailable pods (at least one) each way.
        let per_round = (limits.surge + limits.unavailable).max(1);
        let rounds = desired.max(old_pods).div_ceil(per_round);
        prop_assert!(
            steps <= 2 * rounds + 3,
            "{steps} steps for {old_pods} → {desired} with {limits:?} (expected at most {})",
            2 * rounds + 3
        );
    }
}

/// The benchmark's two strategies at 1000 replicas, exactly: kubectl's 1/0 takes one pod per
/// round (2000 scales); 25%/25% goes new 250, old 500, new 750, old 0, new 1000.
#[test]
fn the_benchmark_strategies_at_1000_replicas() {
    let run = |surge, unavailable| {
        let strategy = Bounds {
            max_surge: surge,
            max_unavailable: unavailable,
            min_ready_seconds: 0,
        };
        Limits::resolve(1000, &strategy)
            .map_err(|e| e.to_string())
            .and_then(|l| instant_update(&l, 1000).map_err(|e| e.to_string()))
    };
    assert_eq!(run(Count(1), Count(0)), Ok(2000));
    assert_eq!(run(Percent(25), Percent(25)), Ok(5));
}
