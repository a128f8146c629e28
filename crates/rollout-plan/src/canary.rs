//! Canary by hand, made exact: the replica counts of each canary step for a fixed total.
//!
//! The tutorial's manual canary keeps one Service over two RCs (stable and canary) and moves
//! replicas from one to the other. These helpers turn user-given steps (`1`, `25%`, ...) into
//! canary replica counts and split the constant total between the two RCs.

use crate::int_or_percent::Rounding;
use crate::{IntOrPercent, PlanError};

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
}
