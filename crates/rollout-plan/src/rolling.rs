//! `next_step`: kubectl rolling-update's arithmetic as a function of observed state.

use crate::{Limits, Observed, Role, Side, Step, WaitReason};

/// Decides the next step of the rolling update from the observed cluster alone.
///
/// Pure and total: the same input always gives the same answer and no input panics, so an
/// executor may call it as often as it likes, crash, restart and call it again.
///
/// Order of decisions:
/// 1. a controller not settled ([`Side::is_settled`]) → [`WaitReason::Settling`];
/// 2. `new.spec == desired` and `old.spec == 0` → [`Step::Done`];
/// 3. scale the new RC up if the surge allows: target `desired` when the old RC is empty,
///    else `min(desired, desired + surge - old.spec)`; only if above `new.spec`;
/// 4. else scale the old RC down by
///    `(old.spec + new.spec) - min_available - (new.spec - new.available)`, capped at
///    `old.spec` (kubectl's formula; it counts old pods as available, so it never relies on
///    the executor's count of old pods, and the RC controller removes unready pods first);
/// 5. else, with the old RC empty and the new one above `desired`, trim the new one;
/// 6. else [`WaitReason::NewPodsNotAvailable`].
///
/// Preferring the scale-up reproduces kubectl's alternation (it scaled up, then down, in each
/// round) and the tutorial's sequence: new 0→1, old 3→2, new 1→2, old 2→1, new 2→3, old 1→0.
pub fn next_step(limits: &Limits, observed: &Observed) -> Step {
    let Observed { old, new } = *observed;
    if !new.is_settled() {
        return Step::Wait(WaitReason::Settling { role: Role::New });
    }
    if !old.is_settled() {
        return Step::Wait(WaitReason::Settling { role: Role::Old });
    }
    if old.spec == 0 && new.spec == limits.desired {
        return Step::Done;
    }
    if let Some(to) = scale_up_target(limits, &old, &new) {
        return Step::ScaleNew { from: new.spec, to };
    }
    if let Some(to) = scale_down_target(limits, &old, &new) {
        return Step::ScaleOld { from: old.spec, to };
    }
    if old.spec == 0 && new.spec > limits.desired {
        return Step::ScaleNew {
            from: new.spec,
            to: limits.desired,
        };
    }
    Step::Wait(WaitReason::NewPodsNotAvailable {
        waiting: new.unavailable(),
    })
}

/// kubectl's scale-up: as far as `max_total` allows (all the way once the old RC is empty),
/// never above `desired`, never down.
fn scale_up_target(limits: &Limits, old: &Side, new: &Side) -> Option<u32> {
    if new.spec >= limits.desired {
        return None;
    }
    let target = if old.spec == 0 {
        limits.desired
    } else {
        limits
            .max_total()
            .saturating_sub(old.spec)
            .min(limits.desired)
    };
    (target > new.spec).then_some(target)
}

/// kubectl's scale-down: remove as many old pods as keeps `min_available`, counting every
/// requested new pod that is not available as missing.
fn scale_down_target(limits: &Limits, old: &Side, new: &Side) -> Option<u32> {
    if old.spec == 0 {
        return None;
    }
    let all = u64::from(old.spec) + u64::from(new.spec);
    let decrement = all
        .saturating_sub(u64::from(limits.min_available()))
        .saturating_sub(u64::from(new.unavailable()))
        .min(u64::from(old.spec));
    let decrement = u32::try_from(decrement).unwrap_or(old.spec);
    (decrement > 0).then(|| old.spec - decrement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TUTORIAL: Limits = Limits {
        desired: 3,
        surge: 1,
        unavailable: 0,
    };

    fn side(spec: u32, current: u32, available: u32, spec_observed: bool) -> Side {
        Side {
            spec,
            current,
            available,
            spec_observed,
        }
    }

    fn observed(old: Side, new: Side) -> Observed {
        Observed { old, new }
    }

    #[test]
    fn first_step_of_the_tutorial() {
        let o = observed(Side::steady(3), Side::steady(0));
        assert_eq!(next_step(&TUTORIAL, &o), Step::ScaleNew { from: 0, to: 1 });
    }

    #[test]
    fn waits_for_the_controller_to_observe_and_create() {
        let unobserved = observed(Side::steady(3), side(1, 0, 0, false));
        let uncreated = observed(Side::steady(3), side(1, 0, 0, true));
        let undeleted = observed(side(2, 3, 3, true), Side::steady(1));
        for o in [unobserved, uncreated] {
            assert_eq!(
                next_step(&TUTORIAL, &o),
                Step::Wait(WaitReason::Settling { role: Role::New })
            );
        }
        assert_eq!(
            next_step(&TUTORIAL, &undeleted),
            Step::Wait(WaitReason::Settling { role: Role::Old })
        );
    }

    #[test]
    fn waits_for_new_pods_to_become_available() {
        let o = observed(Side::steady(3), side(1, 1, 0, true));
        assert_eq!(
            next_step(&TUTORIAL, &o),
            Step::Wait(WaitReason::NewPodsNotAvailable { waiting: 1 })
        );
        let o = observed(Side::steady(3), side(1, 1, 1, true));
        assert_eq!(next_step(&TUTORIAL, &o), Step::ScaleOld { from: 3, to: 2 });
    }

    #[test]
    fn done_needs_both_settled() {
        let o = observed(Side::steady(0), Side::steady(3));
        assert_eq!(next_step(&TUTORIAL, &o), Step::Done);
        let o = observed(side(0, 1, 1, true), Side::steady(3));
        assert_eq!(
            next_step(&TUTORIAL, &o),
            Step::Wait(WaitReason::Settling { role: Role::Old })
        );
        // Done is about specs, as in kubectl: unavailable new pods do not hold it back.
        let o = observed(Side::steady(0), side(3, 3, 1, true));
        assert_eq!(next_step(&TUTORIAL, &o), Step::Done);
    }

    #[test]
    fn old_empty_scales_new_all_the_way() {
        let o = observed(Side::steady(0), side(1, 1, 0, true));
        assert_eq!(next_step(&TUTORIAL, &o), Step::ScaleNew { from: 1, to: 3 });
    }

    #[test]
    fn fully_available_new_lets_old_go_at_once() {
        let o = observed(Side::steady(2), Side::steady(3));
        assert_eq!(next_step(&TUTORIAL, &o), Step::ScaleOld { from: 2, to: 0 });
    }

    #[test]
    fn new_above_desired_is_trimmed_after_old_is_gone() {
        let o = observed(Side::steady(1), Side::steady(5));
        assert_eq!(next_step(&TUTORIAL, &o), Step::ScaleOld { from: 1, to: 0 });
        let o = observed(Side::steady(0), Side::steady(5));
        assert_eq!(next_step(&TUTORIAL, &o), Step::ScaleNew { from: 5, to: 3 });
    }

    #[test]
    fn old_pods_are_counted_as_available_like_kubectl() {
        // Old RC with 2 of 3 pods broken: kubectl's formula still removes only one pod per
        // available new pod; the RC controller deletes the broken ones first.
        let o = observed(side(3, 3, 1, true), Side::steady(1));
        assert_eq!(next_step(&TUTORIAL, &o), Step::ScaleOld { from: 3, to: 2 });
    }

    fn any_side() -> impl Strategy<Value = Side> {
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>()).prop_map(
            |(spec, current, available, spec_observed)| Side {
                spec,
                current,
                available,
                spec_observed,
            },
        )
    }

    fn small_side() -> impl Strategy<Value = Side> {
        (0u32..20, 0u32..20, 0u32..20, any::<bool>()).prop_map(
            |(spec, current, available, spec_observed)| Side {
                spec,
                current,
                available,
                spec_observed,
            },
        )
    }

    fn check_answer(limits: &Limits, o: &Observed) -> Result<(), TestCaseError> {
        let step = next_step(limits, o);
        prop_assert_eq!(step, next_step(limits, o), "not deterministic");
        match step {
            Step::ScaleNew { from, to } => {
                prop_assert_eq!(from, o.new.spec);
                prop_assert!(to <= limits.desired);
                if to > from && o.old.spec > 0 {
                    prop_assert!(
                        u64::from(to) + u64::from(o.old.spec) <= u64::from(limits.max_total())
                    );
                }
                if to < from {
                    prop_assert_eq!((o.old.spec, to), (0, limits.desired));
                }
                prop_assert_ne!(to, from);
            }
            Step::ScaleOld { from, to } => {
                prop_assert_eq!(from, o.old.spec);
                prop_assert!(to < from);
            }
            Step::Wait(WaitReason::Settling { .. }) => {
                prop_assert!(!o.old.is_settled() || !o.new.is_settled());
            }
            Step::Wait(WaitReason::NewPodsNotAvailable { waiting }) => {
                prop_assert!(o.old.is_settled() && o.new.is_settled());
                if o.new.available <= o.new.current {
                    prop_assert!(waiting >= 1);
                }
            }
            Step::Done => {
                prop_assert!(o.old.is_settled() && o.new.is_settled());
                prop_assert_eq!((o.old.spec, o.new.spec), (0, limits.desired));
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn total_on_any_input(desired in any::<u32>(), surge in any::<u32>(), unavailable in any::<u32>(),
                              old in any_side(), new in any_side()) {
            let limits = Limits { desired, surge, unavailable };
            check_answer(&limits, &observed(old, new))?;
        }

        #[test]
        fn sensible_on_small_input(desired in 0u32..15, surge in 0u32..5, unavailable in 0u32..5,
                                   old in small_side(), new in small_side()) {
            let limits = Limits { desired, surge, unavailable };
            check_answer(&limits, &observed(old, new))?;
        }
    }
}
