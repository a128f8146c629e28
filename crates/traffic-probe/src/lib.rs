//! The tutorial's `while true; do curl http://<node>:30002; sleep 1; done`, in Rust.
//!
//! [`http`] sends single requests; the probe loop (used by the end-to-end tests) sends
//! them at a fixed rate for a bounded time and records every answer.

pub mod http;

pub use http::{Connection, FetchError, Reply, fetch, timed_fetch};
