//! `kubectl-rolling_update`: with it on PATH, `kubectl rolling-update OLD NEW --image=...`
//! works again as a kubectl plugin.

use std::process::ExitCode;

// The binary picks the Kubernetes API version for k8s-openapi (see crates/k8s-version).
use k8s_version as _;

fn main() -> ExitCode {
    rollout_cli::plugin_main()
}
