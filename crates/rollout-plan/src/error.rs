//! The one error type of the crate.

use thiserror::Error;

/// Why a plan could not be made. Only user-supplied parameters (strategy values, canary
/// steps) can be wrong: the planner itself accepts any observed state, because the cluster
/// is whatever it is and refusing to look at it would help nobody.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// `maxUnavailable` above 100% would let the plan remove more pods than exist; the
    /// Deployment API rejects it as well.
    #[error("maxUnavailable must not be greater than 100% (got {percent}%)")]
    UnavailablePercentOver100 {
        /// The rejected percentage.
        percent: u32,
    },
    /// `desired + maxSurge` does not fit in a replica count.
    #[error("maxSurge {surge} is too large for {desired} desired replicas")]
    SurgeTooLarge {
        /// The surge as given, for the message.
        surge: String,
        /// The desired replicas it was resolved against.
        desired: u32,
    },
    /// A canary needs at least one step.
    #[error("no canary steps given")]
    NoCanarySteps,
    /// Canary steps must grow strictly, starting above zero: a step that adds no canary pod
    /// (often because a small percentage rounds to the previous count) would be a no-op.
    #[error(
        "canary step {index} resolves to {value} replicas, which is not more than the previous step ({previous})"
    )]
    CanaryStepNotIncreasing {
        /// Zero-based position of the offending step.
        index: usize,
        /// Its resolved replica count.
        value: u64,
        /// The previous step's count (0 before the first step).
        previous: u64,
    },
    /// A canary step larger than the total would grow the service instead of shifting it.
    #[error("canary step {index} resolves to {value} replicas, more than the total of {total}")]
    CanaryStepOverTotal {
        /// Zero-based position of the offending step.
        index: usize,
        /// Its resolved replica count.
        value: u64,
        /// The total replica count.
        total: u32,
    },
}
