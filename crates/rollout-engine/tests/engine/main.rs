//! The engine against an in-memory API server (see `fake/`): the tutorial's exact output,
//! resuming after an interruption, rollback, the same-name rename, a bad image stopping at
//! the safety bound, transient errors and conflicts, and refusing bad input unchanged.
//!
//! One module per method (`rolling`, `recreate`, `blue_green`, `canary`), `safety` for what
//! is refused before the first write, `watches` for waking on events; `support` holds the
//! tutorial's oracle and the shared helpers.

mod blue_green;
mod canary;
mod fake;
mod leases;
mod recreate;
mod rolling;
mod safety;
mod support;
mod watches;

use k8s_version as _;
