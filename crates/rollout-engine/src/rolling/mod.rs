//! `kubectl rolling-update` as one subtree: the request ([`request`]), the forward update
//! ([`forward`]: derive, relabel, create or continue, drive, clean up), the scale loop both
//! directions share ([`drive`]), `--rollback` ([`rollback`]) and the final rename of a
//! same-name update ([`rename`]).
//!
//! Dependencies point one way: `forward → rollback → drive`, `forward → rename`, and every
//! module → `request`.

pub(crate) mod drive;
pub(crate) mod forward;
pub mod rename;
pub mod request;
pub(crate) mod rollback;

pub use forward::run;
pub use request::{Direction, NewSource, Outcome, RollingUpdate, validate};
