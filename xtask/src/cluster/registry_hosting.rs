//! The local registry published in a cluster (KEP-1755's `local-registry-hosting`
//! ConfigMap), so that tools find where to push: each provider applies it with the address
//! its nodes reach the registry at.

use std::path::Path;

use anyhow::Result;

use super::kubectl::kubectl_stdin;

/// Publishes the local registry in the cluster of `kubeconfig` (KEP-1755's
/// `local-registry-hosting`), its nodes reaching it at `from_runtime`.
pub fn publish_registry(kubeconfig: &Path, from_runtime: &str) -> Result<()> {
    let manifest = crate::registry::hosting_manifest(from_runtime);
    kubectl_stdin(kubeconfig, &["apply", "-f", "-"], &manifest).map(drop)
}
