//! The state directory's layout: where the local cluster keeps its kubeconfigs, PID files,
//! logs, audit log and containerd socket (`/var/lib/kubia-lab`, or `$KUBIA_STATE_DIR`). A
//! leaf the provider and its parts all read.

use std::path::PathBuf;

/// The directory holding everything the local cluster writes.
pub fn state_dir() -> PathBuf {
    std::env::var_os("KUBIA_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/kubia-lab"))
}

/// The admin kubeconfig.
pub fn kubeconfig() -> PathBuf {
    state_dir().join("kubeconfig")
}

/// The kubeconfig of client identity `file` (see [`crate::cluster::pki::CLIENTS`]).
pub fn client_kubeconfig(file: &str) -> PathBuf {
    state_dir().join("kubeconfigs").join(format!("{file}.conf"))
}

/// Where `spawn` records the PID of component `name`.
pub fn pid_file(name: &str) -> PathBuf {
    state_dir().join("pids").join(format!("{name}.pid"))
}

/// Where component `name` logs (stdout and stderr).
pub fn log_file(name: &str) -> PathBuf {
    state_dir().join("logs").join(format!("{name}.log"))
}

/// The API server's audit log (JSON lines, one per request stage).
pub fn audit_log() -> PathBuf {
    state_dir().join("logs/audit.log")
}

/// The socket of our containerd (not the host's).
pub fn containerd_socket() -> PathBuf {
    state_dir().join("containerd/containerd.sock")
}
