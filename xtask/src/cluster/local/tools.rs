//! The command-line tools the local provider drives (kubectl, ctr, crictl), each pointed at
//! this cluster's kubeconfig or containerd socket, run through `cluster::command`, which
//! quotes a failing tool's stderr.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use super::paths::{containerd_socket, kubeconfig};
use crate::cluster::build;
use crate::cluster::command::run_checked;

pub(super) fn path(p: &Path) -> String {
    p.display().to_string()
}

pub fn kubectl(args: &[&str]) -> Result<String> {
    kubectl_stdin(args, "")
}

pub fn kubectl_stdin(args: &[&str], input: &str) -> Result<String> {
    crate::cluster::kubectl::kubectl_stdin(&kubeconfig(), args, input)
}

pub(super) fn ctr(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("ctr");
    cmd.arg("--address").arg(containerd_socket());
    run_checked("ctr", cmd, args, "")
}

pub(super) fn crictl(args: &[&str]) -> Result<String> {
    let endpoint = format!("unix://{}", containerd_socket().display());
    let mut cmd = Command::new(build::bin("crictl"));
    cmd.args([
        "--runtime-endpoint",
        &endpoint,
        "--image-endpoint",
        &endpoint,
        "--timeout",
        "30s",
    ]);
    run_checked("crictl", cmd, args, "")
}

/// Imports a `docker save` tarball into containerd's `k8s.io` namespace (the CRI's).
pub fn import_image(tarball: &Path) -> Result<()> {
    ctr(&[
        "-n",
        "k8s.io",
        "images",
        "import",
        "--no-unpack",
        &path(tarball),
    ])
    .or_else(|_| ctr(&["-n", "k8s.io", "images", "import", &path(tarball)]))
    .map(drop)
    .with_context(|| format!("importing {}", tarball.display()))
}
