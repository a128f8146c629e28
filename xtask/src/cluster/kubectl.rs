//! kubectl, pointed at one cluster's kubeconfig: ours (built with the cluster) when built,
//! else the one on PATH. Both providers and the tasks that drive a cluster go through it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use super::build;
use super::command::run_checked;

/// The kubectl to drive clusters with: ours (v1.34.4, built with the cluster) when built,
/// else the one on PATH.
pub fn kubectl_binary() -> PathBuf {
    let ours = build::bin("kubectl");
    if ours.is_file() {
        ours
    } else {
        PathBuf::from("kubectl")
    }
}

/// Runs kubectl against the cluster of `kubeconfig`; its stdout.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String> {
    kubectl_stdin(kubeconfig, args, "")
}

/// [`kubectl`] with `input` on its stdin (`apply -f -`).
pub fn kubectl_stdin(kubeconfig: &Path, args: &[&str], input: &str) -> Result<String> {
    let mut cmd = Command::new(kubectl_binary());
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()));
    run_checked("kubectl", cmd, args, input)
}
