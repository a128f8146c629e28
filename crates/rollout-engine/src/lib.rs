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

pub mod access;
pub mod annotations;
pub mod blue_green;
pub mod canary;
pub mod cancel;
pub mod client;
mod context;
pub mod derive;
mod drive;
pub mod error;
pub mod events;
pub mod go_json;
pub mod health;
pub mod image;
pub mod jsonpath;
pub mod labels;
pub mod lease;
pub mod observe;
mod ops;
pub mod output;
pub mod recreate;
mod relabel;
pub mod rename;
mod retry;
mod rollback;
pub mod rolling;
pub mod selector_witness;
pub mod status;
pub mod validate;
mod waits;
mod wake;

pub use cancel::Cancel;
pub use client::{Cluster, ClusterOptions, connect};
pub use context::{Ctx, Hints, Timing, shell_quote};
pub use derive::ImageChange;
pub use error::{EngineError, Result};
pub use events::{Event, EventSink, NullSink, Progress, RecordingSink};
pub use health::FailurePolicy;
pub use image::PullPolicy;
pub use output::OutputFormat;
pub use rolling::{NewSource, Outcome, RollingUpdate};
