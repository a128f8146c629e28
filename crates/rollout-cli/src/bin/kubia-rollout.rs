//! `kubia-rollout`: rolling update, recreate, blue-green, canary and status.

use std::process::ExitCode;

// The binary picks the Kubernetes API version for k8s-openapi (see crates/k8s-version).
use k8s_version as _;

fn main() -> ExitCode {
    rollout_cli::kubia_rollout_main()
}
