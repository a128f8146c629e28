//! The tutorial's `while true; do curl http://<node>:30002; sleep 1; done`, in Rust.
//!
//! [`http`] sends single requests; [`probe`] sends them at a fixed rate for a bounded time
//! and records every answer (time, status, version, pod, latency, error); [`answer`] reads
//! the demo app's bodies; [`source`] keeps connections to a NodePort from inheriting each
//! other's refusals.

pub mod answer;
pub mod http;
pub mod probe;
pub mod source;

pub use http::{Connection, FetchError, Reply, fetch, timed_fetch};
pub use probe::{ConnectionMode, ProbeConfig, Sample, StopHandle, Summary, start, summarize};
