//! `kubectl_complete-rolling_update`: kubectl (>= 1.26) runs it to complete the arguments of
//! `kubectl rolling-update` (flags, RC names, `--image` from the RC's current image).

use std::process::ExitCode;

// The binary picks the Kubernetes API version for k8s-openapi (see crates/k8s-version).
use k8s_version as _;

fn main() -> ExitCode {
    rollout_cli::complete::main()
}
