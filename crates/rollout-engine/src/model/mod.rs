//! The shapes of the objects the methods work on, as pure functions of Kubernetes objects (no
//! I/O): the new RC derived from the old one ([`new_rc`], hashed as kubectl hashed it through
//! [`go_json`]), the bookkeeping [`annotations`], [`labels`] and selectors, [`image`]
//! references, and which RC a pod belongs to and whether it counts ([`side`]).

pub mod annotations;
pub mod go_json;
pub mod image;
pub mod labels;
pub mod new_rc;
pub mod side;
