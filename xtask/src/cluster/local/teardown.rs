//! `down`: the cluster's processes stopped, what they left on the host removed, then the
//! state directory, each only once it is proven ours (see `ownership`).

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

use super::network::Networks;
use super::ownership;
use super::paths::state_dir;
use super::processes::{alive, kill_leftover_shims, stop};
use super::settings::BRIDGE;
use super::tools::crictl;
use crate::cluster::{build, host};
use crate::util;

/// Stops every process `up` started, removes what they left on the host, then the state.
pub fn down() -> Result<()> {
    let dir = state_dir();
    if !dir.exists() {
        eprintln!(
            "No local cluster state at {}; nothing to do.",
            dir.display()
        );
        return Ok(());
    }
    ownership::check_ours(&dir)?;
    // The bridge, chains and cgroups are the same names for every state directory: only the
    // one that claimed them removes them (see `ownership`).
    let owns_host = ownership::owns_host(&dir);
    let _p = util::Phase::start("local cluster down");
    for name in [
        "kube-proxy",
        "kube-scheduler",
        "kube-controller-manager",
        "kubelet",
    ] {
        stop(name);
    }
    // Pod sandboxes hold network namespaces, veths and IP leases: remove them through the
    // CRI, which runs CNI DEL for each, while containerd still runs.
    if alive("containerd").is_some() {
        let _ = crictl(&["rmp", "--all", "--force"]);
    }
    for name in ["kube-apiserver", "etcd", "containerd"] {
        stop(name);
    }
    kill_leftover_shims();
    keep_logs(&dir);
    let mut errors = Vec::new();
    if owns_host {
        remove_host_parts(&dir, &mut errors);
    } else {
        eprintln!(
            "The host's bridge {BRIDGE}, iptables chains and kubepods cgroups are not this state \
             directory's (another one claimed them, or none did): left alone."
        );
    }
    // A mount that stays would take what is below it with the directory: stop here.
    if let Err(e) = host::unmount_below(&dir) {
        errors.push(format!("unmounting: {e:#}"));
        bail!(
            "`down` stopped before removing {}: {}",
            dir.display(),
            errors.join("; ")
        );
    }
    ownership::release_host(&dir);
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        errors.push(format!("removing {}: {e}", dir.display()));
    }
    if !errors.is_empty() {
        bail!(
            "`down` could not clean up everything: {}",
            errors.join("; ")
        );
    }
    Ok(())
}

/// kube-proxy's and CNI's rules, the sysctls `up` changed, the bridge and the cgroups.
/// Every step runs even when an earlier one failed; the failures are reported together.
fn remove_host_parts(dir: &Path, errors: &mut Vec<String>) {
    if build::bin("kube-proxy").is_file() {
        let _ = Command::new(build::bin("kube-proxy"))
            .arg("--cleanup")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    // Rules naming our bridge or our ranges are ours (`up` refused to start beside another
    // Kubernetes' or CNI's chains, so those are ours too).
    let mut marks = vec![BRIDGE.to_owned()];
    if let Some(nets) = Networks::load(dir) {
        marks.push(nets.pods.to_string());
        marks.push(nets.services.to_string());
    }
    if let Err(e) = host::remove_iptables(&marks) {
        errors.push(format!("iptables: {e:#}"));
    }
    if let Err(e) = host::restore_sysctls(dir) {
        errors.push(format!("sysctls: {e:#}"));
    }
    let _ = Command::new("ip")
        .args(["link", "delete", BRIDGE])
        .stderr(Stdio::null())
        .status();
    host::remove_kubepods_cgroups();
}

/// Copies the components' logs to `target/cluster-logs/` before the state goes, so that a
/// failed CI run can still be read afterwards.
fn keep_logs(dir: &Path) {
    let to = util::root().join("target/cluster-logs");
    let _ = std::fs::remove_dir_all(&to);
    if std::fs::create_dir_all(&to).is_err() {
        return;
    }
    let Ok(logs) = std::fs::read_dir(dir.join("logs")) else {
        return;
    };
    for log in logs.flatten() {
        // The audit log is large and only the rollout benchmark reads it.
        if log.file_name() != "audit.log" {
            let _ = std::fs::copy(log.path(), to.join(log.file_name()));
        }
    }
}
