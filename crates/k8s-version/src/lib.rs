//! The Kubernetes API version this workspace is built against.
//!
//! k8s-openapi needs exactly one `v1_*` feature in a build. Libraries must not choose it
//! (whoever links them does), so every binary and every test target depends on this crate
//! instead, and this is the only `Cargo.toml` that names the feature. Changing the cluster
//! version we target is a one-line change here (and in `xtask`'s pinned Kubernetes release).

/// The Kubernetes minor version selected by the `k8s-openapi` feature enabled here.
pub const KUBERNETES_MINOR: (u32, u32) = (1, 34);

/// Re-exported so that binaries can name the crate they enabled.
pub use k8s_openapi;
