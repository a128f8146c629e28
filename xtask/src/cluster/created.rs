//! Whether `up` created a cluster or reused one already running: the caller takes down only
//! what it created. Both providers return it; the dispatching `cluster` module re-exports it.

/// Whether `up` created the cluster or found one running (which is then not ours to
/// take down).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Created {
    New,
    Reused,
}
