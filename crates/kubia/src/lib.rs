//! The kubia demo server of the "upgrading applications" tutorial, as a library so that
//! tests (and benchmarks) can run the real server in-process on an ephemeral port.
//!
//! The binary in `main.rs` only parses flags, installs signal handlers and calls
//! [`Server::run`].

mod config;
pub mod log;
mod server;
pub mod variant;

pub use config::Config;
pub use log::Log;
pub use server::{BindError, MAX_SLEEP, Server};
pub use variant::{Answer, Responder, Variant};
