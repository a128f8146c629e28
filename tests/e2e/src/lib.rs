//! The end-to-end scenarios: the tutorial reproduced on a real cluster with live traffic.
//!
//! Each scenario runs in its own namespace against the Service's NodePort on 127.0.0.1,
//! drives the engine's binaries (and kubectl) exactly as a user would, and asserts on what
//! the traffic probe and the pod monitor recorded. `cargo xtask e2e` builds everything,
//! brings a cluster up and runs the `e2e` binary.

pub mod env;
pub mod html;
pub mod monitor;
pub mod objects;
pub mod process;
pub mod report;
pub mod scenarios;
pub mod schedule;

pub use env::{Env, Namespace};
pub use report::Outcome;
