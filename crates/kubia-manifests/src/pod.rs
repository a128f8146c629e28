//! The pod template every workload kind shares.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::hardening::{harden_container, harden_pod};
use crate::probe::ReadinessProbe;
use crate::pull_policy::PullPolicy;
use image_reference::ImageRef;

/// The tutorial's container name (the book's app is a Node.js server).
pub const CONTAINER_NAME: &str = "nodejs";

/// Label sets, ordered by key.
pub type Labels = BTreeMap<String, String>;

/// Builds a label set from pairs.
pub fn labels<const N: usize>(pairs: [(&str, &str); N]) -> Labels {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// What a pod template is made of.
#[derive(Debug, Clone)]
pub struct PodInput<'a> {
    /// The template's `metadata.name`: ignored by Kubernetes (pods are named after their
    /// controller) but present in the tutorial's file, so kept everywhere for likeness.
    pub template_name: &'a str,
    /// The pod labels, which the controller's selector must match.
    pub labels: Labels,
    /// The container image.
    pub image: &'a ImageRef,
    /// `None` leaves `imagePullPolicy` out, as the verbatim tutorial does.
    pub pull_policy: Option<PullPolicy>,
    /// The readiness probe; `None` means none, or `/healthz` when `hardened`.
    pub readiness: Option<ReadinessProbe>,
    /// Applies [`crate::hardening`] to the pod and container.
    pub hardened: bool,
}

/// The pod template: one `nodejs` container running the image.
pub fn pod_template(input: &PodInput<'_>) -> PodTemplateSpec {
    let mut container = Container {
        name: CONTAINER_NAME.to_owned(),
        image: Some(input.image.to_string()),
        image_pull_policy: input.pull_policy.map(|p| p.as_str().to_owned()),
        readiness_probe: input.readiness.map(ReadinessProbe::probe),
        ..Container::default()
    };
    let mut spec = PodSpec::default();
    if input.hardened {
        harden_container(&mut container);
        harden_pod(&mut spec);
    }
    spec.containers = vec![container];
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            name: Some(input.template_name.to_owned()),
            labels: Some(input.labels.clone()),
            annotations: input.hardened.then(crate::hardening::metrics_annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    }
}
