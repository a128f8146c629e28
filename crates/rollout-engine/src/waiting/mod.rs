//! Observing the cluster and waiting on it: everything between one change and the next
//! decision.
//!
//! - [`observe`]: one RC and its pods as the planner sees them (`RcState`), read fresh.
//! - [`wait`]: the one wait loop every method goes through (`until`), with `--timeout`
//!   measured from the last progress.
//! - [`wake`]: what ends a wait early (a change that matters) and cached observation.
//! - [`cache`]: the watch caches under `wake`, and the rules for when their answer is as
//!   good as a fresh read.
//! - [`settle`]: the waits for one RC's pods (all available, or at its spec).
//!
//! Dependencies point one way: `settle → wait → wake → cache`, and `wake → observe`.

pub(crate) mod cache;
pub mod observe;
pub(crate) mod settle;
pub(crate) mod wait;
pub(crate) mod wake;
