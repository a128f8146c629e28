//! Pure decision logic of a rolling update between two ReplicationControllers, as
//! `kubectl rolling-update` did it, generalised to `maxSurge`/`maxUnavailable`.
//!
//! Why a separate crate with no I/O: the executor (`rollout-engine`) observes the cluster,
//! asks [`next_step`] what to do, applies it, and repeats. Every bit of progress lives in the
//! cluster (RC `spec.replicas` and annotations), and the planner is a function of the
//! observed state only, so an executor that crashes and restarts simply calls it again and
//! continues where the cluster is. Keeping the arithmetic here, free of kube, clocks and
//! async, lets it be tested exhaustively against a simulated cluster.
//!
//! Vocabulary: *old* is the RC being drained and *new* the RC being filled. A rollback is the
//! same plan with the roles swapped (see [`Observed::swapped`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod blue_green;
pub mod canary;
mod error;
pub mod health;
mod limits;
mod messages;
mod observed;
pub mod recreate;
mod rolling;
mod step;

pub use error::PlanError;
pub use int_or_percent::{IntOrPercent, InvalidIntOrPercent, Rounding};
pub use limits::{Limits, Strategy};
pub use messages::{describe_start, scaling_down, scaling_up};
pub use observed::{Observed, Role, Side};
pub use rolling::next_step;
pub use step::{Step, WaitReason};
