//! The rolling-update strategy and the pod-count bounds it resolves to.

use crate::Rounding;
use crate::{IntOrPercent, PlanError};

/// How aggressive a rolling update may be. Same meaning as a Deployment's
/// `strategy.rollingUpdate` plus `minReadySeconds`, so that the RC-based update and the
/// Deployment can be compared with identical parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Strategy {
    /// How many pods may exist above the desired count during the update.
    pub max_surge: IntOrPercent,
    /// How many pods may be missing below the desired count during the update.
    pub max_unavailable: IntOrPercent,
    /// How long a pod must have been Ready to count as available. Not used by the planner
    /// itself: the executor applies it when it counts [`crate::Side::available`].
    pub min_ready_seconds: u32,
}

impl Strategy {
    /// kubectl rolling-update's fixed values (surge 1, unavailable 0, minReady 0): what the
    /// tutorial ran, and hence the default of our reimplementation.
    pub const fn kubectl() -> Self {
        Strategy {
            max_surge: IntOrPercent::Count(1),
            max_unavailable: IntOrPercent::Count(0),
            min_ready_seconds: 0,
        }
    }

    /// The apps/v1 Deployment defaults (25% / 25% / 0), for comparing with a Deployment.
    pub const fn deployment_default() -> Self {
        Strategy {
            max_surge: IntOrPercent::Percent(25),
            max_unavailable: IntOrPercent::Percent(25),
            min_ready_seconds: 0,
        }
    }
}

impl Default for Strategy {
    /// kubectl's values, because this crate reproduces `kubectl rolling-update`.
    fn default() -> Self {
        Strategy::kubectl()
    }
}

/// A [`Strategy`] resolved against the desired replica count: the absolute bounds the
/// planner keeps. Plain data so an executor can also build or print it directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Replicas the new RC must end with.
    pub desired: u32,
    /// Pods allowed above `desired` (resolved `maxSurge`).
    pub surge: u32,
    /// Pods allowed below `desired` (resolved `maxUnavailable`). May exceed `desired` when
    /// given as a count; [`Limits::min_available`] saturates at 0.
    pub unavailable: u32,
}

impl Limits {
    /// Resolves `strategy` for `desired` replicas the way kubectl and the Deployment
    /// controller do: percentages are of `desired`, surge rounds **up** and unavailable rounds
    /// **down** (both round towards keeping more pods), and if both come out 0 unavailable
    /// becomes 1, since with no room above or below nothing could ever move.
    ///
    /// With `desired == 0` the values hardly matter: the old RC is simply scaled to 0 (all its
    /// pods are above the minimum of 0 available).
    ///
    /// Errors: a `maxUnavailable` percentage above 100%, or a surge so large that
    /// `desired + surge` overflows. A surge percentage above 100% is allowed, as in the
    /// Deployment API.
    pub fn resolve(desired: u32, strategy: &Strategy) -> Result<Limits, PlanError> {
        if let IntOrPercent::Percent(percent) = strategy.max_unavailable
            && percent > 100
        {
            return Err(PlanError::UnavailablePercentOver100 { percent });
        }
        let surge = u32::try_from(strategy.max_surge.resolve(desired, Rounding::Up))
            .ok()
            .filter(|surge| desired.checked_add(*surge).is_some())
            .ok_or_else(|| PlanError::SurgeTooLarge {
                surge: strategy.max_surge.to_string(),
                desired,
            })?;
        // A count is a u32 and a percentage is at most 100% of a u32: always fits.
        let unavailable = u32::try_from(strategy.max_unavailable.resolve(desired, Rounding::Down))
            .unwrap_or(u32::MAX);
        let unavailable = if surge == 0 && unavailable == 0 {
            1
        } else {
            unavailable
        };
        Ok(Limits {
            desired,
            surge,
            unavailable,
        })
    }

    /// Pods that must stay available throughout (kubectl's `minAvailable`).
    pub const fn min_available(&self) -> u32 {
        self.desired.saturating_sub(self.unavailable)
    }

    /// Pods the two RCs may ask for together (kubectl's "don't exceed" figure).
    pub const fn max_total(&self) -> u32 {
        self.desired.saturating_add(self.surge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IntOrPercent::{Count, Percent};

    fn strategy(surge: IntOrPercent, unavailable: IntOrPercent) -> Strategy {
        Strategy {
            max_surge: surge,
            max_unavailable: unavailable,
            min_ready_seconds: 0,
        }
    }

    fn limits(desired: u32, surge: u32, unavailable: u32) -> Limits {
        Limits {
            desired,
            surge,
            unavailable,
        }
    }

    #[test]
    fn kubectl_for_the_tutorial() {
        let l = Limits::resolve(3, &Strategy::kubectl());
        assert_eq!(l, Ok(limits(3, 1, 0)));
        let l = l.unwrap_or(limits(0, 0, 0));
        assert_eq!(l.min_available(), 3);
        assert_eq!(l.max_total(), 4);
    }

    #[test]
    fn percentages_round_surge_up_and_unavailable_down() {
        let s = strategy(Percent(25), Percent(25));
        assert_eq!(Limits::resolve(10, &s), Ok(limits(10, 3, 2)));
        assert_eq!(Limits::resolve(4, &s), Ok(limits(4, 1, 1)));
        assert_eq!(Limits::resolve(3, &s), Ok(limits(3, 1, 0)));
        assert_eq!(Limits::resolve(1, &s), Ok(limits(1, 1, 0)));
        assert_eq!(
            Limits::resolve(10, &Strategy::deployment_default()),
            Ok(limits(10, 3, 2))
        );
    }

    #[test]
    fn both_zero_means_one_unavailable() {
        assert_eq!(
            Limits::resolve(5, &strategy(Count(0), Count(0))),
            Ok(limits(5, 0, 1))
        );
        // 10% of 3 is 0.3: surge rounds up to 1, so no adjustment is needed...
        assert_eq!(
            Limits::resolve(3, &strategy(Percent(10), Percent(10))),
            Ok(limits(3, 1, 0))
        );
        // ...but a 0% surge with unavailable rounding down to 0 gets the extra pod.
        assert_eq!(
            Limits::resolve(3, &strategy(Percent(0), Percent(10))),
            Ok(limits(3, 0, 1))
        );
    }

    #[test]
    fn desired_zero() {
        let l = Limits::resolve(0, &Strategy::deployment_default());
        assert_eq!(l, Ok(limits(0, 0, 1)));
        let l = l.unwrap_or(limits(9, 9, 9));
        assert_eq!((l.min_available(), l.max_total()), (0, 0));
        assert_eq!(
            Limits::resolve(0, &Strategy::kubectl()),
            Ok(limits(0, 1, 0))
        );
    }

    #[test]
    fn unavailable_over_100_percent_is_rejected() {
        assert_eq!(
            Limits::resolve(3, &strategy(Count(1), Percent(101))),
            Err(PlanError::UnavailablePercentOver100 { percent: 101 })
        );
        assert_eq!(
            Limits::resolve(3, &strategy(Count(0), Percent(100))),
            Ok(limits(3, 0, 3))
        );
    }

    #[test]
    fn surge_over_100_percent_is_allowed_and_overflow_is_an_error() {
        assert_eq!(
            Limits::resolve(3, &strategy(Percent(200), Count(0))),
            Ok(limits(3, 6, 0))
        );
        assert_eq!(
            Limits::resolve(u32::MAX, &strategy(Count(1), Count(0))),
            Err(PlanError::SurgeTooLarge {
                surge: "1".into(),
                desired: u32::MAX
            })
        );
        assert!(Limits::resolve(1000, &strategy(Percent(u32::MAX), Count(0))).is_err());
    }

    #[test]
    fn unavailable_count_above_desired_saturates_min_available() {
        let l = Limits::resolve(2, &strategy(Count(0), Count(5)));
        assert_eq!(l, Ok(limits(2, 0, 5)));
        assert_eq!(l.map(|l| l.min_available()), Ok(0));
    }
}
