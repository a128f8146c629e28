//! What `--hardened` adds to a pod: the settings a production rollout needs and that the
//! tutorial leaves out for brevity.
//!
//! - Security contexts that pass the `restricted` Pod Security Standard (non-root user,
//!   no privilege escalation, no capabilities, RuntimeDefault seccomp, read-only root).
//! - Small resource requests and limits, so the scheduler can place pods and a runaway pod
//!   cannot starve its node.
//! - Readiness and liveness probes on `/healthz`, so traffic only reaches ready pods and a
//!   hung server is restarted, without counting as application requests.
//! - The server's `/metrics` (requests by status code) announced on the pod with the usual
//!   `prometheus.io/*` annotations, on the pod's own port: no Service port is added, so it is
//!   never published through the NodePort by design. `kubia-rollout` reads it through the
//!   API server's pod proxy to judge a canary's error rate.
//! - A shutdown delay (`KUBIA_SHUTDOWN_DELAY`): after SIGTERM the server keeps answering
//!   while the endpoints controller removes the pod from the Service, so a rolling update
//!   drops no request; the grace period leaves room for the delay plus draining.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, PodSecurityContext, PodSpec, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::probe::{CONTAINER_PORT, ReadinessProbe, http_get};

/// The non-root user (and group) the pods run as: distroless' `nonroot`.
pub const RUN_AS_USER: i64 = 65532;
/// CPU request.
pub const CPU_REQUEST: &str = "10m";
/// Memory request.
pub const MEMORY_REQUEST: &str = "16Mi";
/// CPU limit.
pub const CPU_LIMIT: &str = "200m";
/// Memory limit.
pub const MEMORY_LIMIT: &str = "64Mi";
/// The server's environment variable for the delay between SIGTERM and closing the listener.
pub const SHUTDOWN_DELAY_ENV: &str = "KUBIA_SHUTDOWN_DELAY";
/// Long enough for the EndpointSlice controller and kube-proxy to stop sending traffic; the
/// same as the images' default (removal was seen to take over 5 s on a loaded 2-core node).
pub const SHUTDOWN_DELAY: &str = "15s";
/// The shutdown delay (15 s), plus the server's 10 s drain timeout, plus headroom.
pub const TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;

/// The pod template's annotations announcing `/metrics` on the container port.
pub fn metrics_annotations() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("prometheus.io/path".to_owned(), "/metrics".to_owned()),
        ("prometheus.io/port".to_owned(), CONTAINER_PORT.to_string()),
        ("prometheus.io/scrape".to_owned(), "true".to_owned()),
    ])
}

/// Applies the pod-level settings.
pub fn harden_pod(spec: &mut PodSpec) {
    spec.security_context = Some(PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(RUN_AS_USER),
        run_as_group: Some(RUN_AS_USER),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    });
    spec.termination_grace_period_seconds = Some(TERMINATION_GRACE_PERIOD_SECONDS);
    // The server never talks to the API server; a token in the pod would only be a risk.
    spec.automount_service_account_token = Some(false);
}

/// Applies the container-level settings. A readiness probe chosen by the caller (e.g. the
/// book's `GET /`) is kept; otherwise readiness uses `/healthz`.
pub fn harden_container(c: &mut Container) {
    c.security_context = Some(SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    });
    c.resources = Some(ResourceRequirements {
        requests: Some(quantities(CPU_REQUEST, MEMORY_REQUEST)),
        limits: Some(quantities(CPU_LIMIT, MEMORY_LIMIT)),
        ..ResourceRequirements::default()
    });
    c.ports = Some(vec![ContainerPort {
        name: Some("http".to_owned()),
        container_port: CONTAINER_PORT,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }]);
    c.env = Some(vec![EnvVar {
        name: SHUTDOWN_DELAY_ENV.to_owned(),
        value: Some(SHUTDOWN_DELAY.to_owned()),
        ..EnvVar::default()
    }]);
    if c.readiness_probe.is_none() {
        c.readiness_probe = Some(ReadinessProbe::Healthz.probe());
    }
    c.liveness_probe = Some(Probe {
        http_get: Some(http_get("/healthz")),
        period_seconds: Some(10),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    });
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ])
}
