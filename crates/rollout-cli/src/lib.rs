//! The command-line front ends of `rollout-engine`: `kubia-rollout` (all methods) and the
//! kubectl plugin `kubectl-rolling_update` (kubectl rolling-update's arguments).
//!
//! Thin on purpose: parse flags, build an engine request, run it, print the result; every
//! decision about the cluster is the engine's. stdout carries exactly the command's output
//! lines; errors go to stderr as one `error: ...` line with exit code 1 (130 after Ctrl-C),
//! usage errors exit 2 (clap).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod complete;
pub mod detach;
pub mod generate;
pub mod job;
pub mod jsonpath;
pub mod output;
pub mod record;
pub mod request;
pub mod run;
pub mod sink;
pub mod watch;

pub use run::{kubia_rollout_main, plugin_main};
