//! The executor of the kubia upgrade methods: applies `rollout-plan`'s decisions to a real
//! cluster with kube.
//!
//! Four methods, as in the tutorial: a resumable reimplementation of `kubectl rolling-update`
//! ([`rolling::run`], with `--rollback`), [`recreate`], [`blue_green`] and a manual
//! [`canary`]; plus [`status`], which reports updates in progress from annotations.
//!
//! Design: every decision about replica counts is made by the pure planner from the
//! observed cluster; every bit of progress is written to the cluster (RC `spec.replicas` and
//! annotations) before it is relied on; every write is guarded by `resourceVersion` and every
//! call is retried through transient API failures. So the CLI can be killed at any moment and
//! the same command, run again, continues. The engine never prints: it emits [`Event`]s to an
//! [`EventSink`], and the caller decides what goes to stdout.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The RC shapes: pure functions of Kubernetes objects.
pub mod model;

// The methods: observe → plan (rollout_plan) → apply → wait, until the planner says done.
pub mod blue_green;
pub mod canary;
pub mod detach;
pub mod follow;
pub mod recreate;
mod relabel;
pub mod rolling;
pub mod side_by_side;
pub mod status;

// The signals the methods stop or roll back on.
pub mod health;
pub mod selector_witness;

// The primitives: API calls, how every method starts, observing and waiting, retries,
// permissions, the per-RC lease, server-side validation.
pub mod access;
mod api;
mod begin;
pub mod lease;
mod retry;
pub mod validate;
pub mod waiting;

// Plumbing: connection, context, cancellation, events.
pub mod cancel;
pub mod client;
mod context;
pub mod error;
pub mod events;
pub mod names;
mod need;

pub use cancel::Cancel;
pub use client::{Cluster, ClusterOptions, connect};
pub use context::{Begun, Ctx, Hints, Timing, shell_quote};
pub use error::{EngineError, Result};
pub use events::{Event, EventSink, NullSink, Progress, RecordingSink};
pub use health::FailurePolicy;
pub use model::image::PullPolicy;
pub use model::new_rc::ImageChange;
pub use rolling::{NewSource, Outcome, RollingUpdate};
