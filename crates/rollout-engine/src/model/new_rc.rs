//! Deriving the new ReplicationController from the old one, as kubectl did: pure functions,
//! testable without a cluster.
//!
//! kubectl copied the old RC, set the new image (and pull policy), hashed the result (md5 hex of
//! its JSON as Go encodes it, see [`rc_hash`], taken *before* the name and resourceVersion
//! change, so that two attempts at the same update get different hashes), named it
//! `<old>-<hash>` when no name was given, and put
//! `deployment=<hash>` into its selector and template labels so that the two RCs never select
//! each other's pods. The old RC gets `deployment=<hash of old>-orig`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::error::{EngineError, Result};
use crate::model::annotations::{self, SourceId};
use crate::model::image::{self, ImageRef, PullPolicy};
use crate::model::labels::{self, name_of, rc_selector};

/// What to change in the pod template: kubectl's `--image`, `--container`,
/// `--image-pull-policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageChange {
    /// The new image, parsed where it entered.
    pub image: ImageRef,
    /// Which container; required when the pod has several.
    pub container: Option<String>,
    /// A new pull policy; required when the image does not change.
    pub pull_policy: Option<PullPolicy>,
}

/// The new RC before creation, and the replica count it must end with.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// Named, labelled, with the old RC's replica count still in `spec.replicas`.
    pub rc: ReplicationController,
    /// The target replica count (kubectl's `desired-replicas`).
    pub desired: u32,
}

/// The pod template's containers (empty if there is no template).
pub fn containers(rc: &ReplicationController) -> &[Container] {
    rc.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map_or(&[][..], |s| s.containers.as_slice())
}

fn container_names(rc: &ReplicationController) -> String {
    containers(rc)
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The index of the container to update: the named one, or the only one.
pub fn select_container(rc: &ReplicationController, name: Option<&str>) -> Result<usize> {
    let all = containers(rc);
    match name {
        Some(name) => all.iter().position(|c| c.name == name).ok_or_else(|| {
            EngineError::invalid(format!(
                "container {name:?} not found in the pod template of replicationcontroller {} (containers: {})",
                name_of(rc),
                container_names(rc)
            ))
        }),
        None if all.len() == 1 => Ok(0),
        None if all.is_empty() => Err(EngineError::invalid(format!(
            "replicationcontroller {} has no containers in its pod template",
            name_of(rc)
        ))),
        None => Err(EngineError::invalid(format!(
            "must specify container to update when updating a multi-container pod: replicationcontroller {} has containers {}; use --container",
            name_of(rc),
            container_names(rc)
        ))),
    }
}

/// The image of container `index` (`""` if unset).
pub fn container_image(rc: &ReplicationController, index: usize) -> &str {
    containers(rc)
        .get(index)
        .and_then(|c| c.image.as_deref())
        .unwrap_or("")
}

/// The pull policy container `index` runs with (explicit, else Kubernetes' default).
pub fn effective_pull_policy(rc: &ReplicationController, index: usize) -> Option<PullPolicy> {
    let container = containers(rc).get(index)?;
    match container.image_pull_policy.as_deref() {
        Some(policy) => policy.parse().ok(),
        None => image::default_pull_policy(container.image.as_deref().unwrap_or("")),
    }
}

/// Validates `change` against `old` (image syntax, container choice, that something changes)
/// and returns the container index.
pub fn check_image_change(old: &ReplicationController, change: &ImageChange) -> Result<usize> {
    let index = select_container(old, change.container.as_deref())?;
    // `luksa/kubia:v1` and `docker.io/luksa/kubia:v1` are one image.
    if image_reference::same_image(container_image(old, index), &change.image.to_string()) {
        match change.pull_policy {
            None => {
                // kubectl 1.17's sentence, word for word.
                return Err(EngineError::invalid(
                    "--image-pull-policy (Always|Never|IfNotPresent) must be provided when --image is the same as existing container image",
                ));
            }
            Some(policy) if effective_pull_policy(old, index) == Some(policy) => {
                return Err(EngineError::invalid(format!(
                    "replicationcontroller {} already runs {} with imagePullPolicy {policy}: nothing to update",
                    name_of(old),
                    change.image
                )));
            }
            Some(_) => {}
        }
    }
    Ok(index)
}

/// The pull-policy pitfall for this change, worded as the manifest generator words it: the
/// new image's tag can be pushed again (`latest`, or the tag the old pods run) and the
/// policy the new pods get is `IfNotPresent`.
pub fn pull_policy_warning(old: &ReplicationController, change: &ImageChange) -> Option<String> {
    let index = select_container(old, change.container.as_deref()).ok()?;
    let image = &change.image;
    let policy = match change.pull_policy {
        Some(p) => p,
        // An explicit policy on the old container is copied to the new one.
        None => match containers(old)[index].image_pull_policy.as_deref() {
            Some(p) => p.parse().ok()?,
            None => PullPolicy::default_for(image),
        },
    };
    let running = image_reference::ImageRef::parse(container_image(old, index)).ok();
    image_reference::pull_policy_warning(image, policy, running.as_ref())
}

/// kubectl's `util.HashObject(rc, scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion))`:
/// md5 hex of the RC as Go's apimachinery JSON serializer encodes it ([`crate::model::go_json`]:
/// `"kind"` and `"apiVersion"` first, Go field order and zero values, Go string escaping,
/// trailing newline). Called on the RC as fetched (uid, resourceVersion, managedFields and
/// status included), with the new image set when it is the new RC's hash, as kubectl did; so
/// a value computed here equals the one kubectl 1.17 (and `tools/kubectl-1.17/cmd/kubectl-hash`) computes.
pub fn rc_hash(rc: &ReplicationController) -> String {
    format!(
        "{:x}",
        md5::compute(crate::model::go_json::replication_controller(rc))
    )
}

/// The deployment label value the old RC gets: `<hash of old>-orig` (the suffix keeps it
/// distinct from the new hash even when only the pull policy changes).
pub fn orig_label_value(old: &ReplicationController) -> String {
    format!("{}-orig", rc_hash(old))
}

/// `kubectl apply`'s record of the applied manifest: it describes the old RC (its name and
/// image), so a copy would make a later `kubectl apply` compute a wrong diff.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata for a copy of `old` named `name`: labels and annotations kept, except update
/// bookkeeping; identity (uid, resourceVersion, timestamps, managedFields) dropped.
fn copied_metadata(old: &ObjectMeta, name: String) -> ObjectMeta {
    let annotations: BTreeMap<String, String> = old
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| !annotations::is_update_annotation(k) && k.as_str() != LAST_APPLIED)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    ObjectMeta {
        name: Some(name),
        namespace: old.namespace.clone(),
        labels: old.labels.clone(),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..ObjectMeta::default()
    }
}

/// Sets `key=value` in the selector and the template labels.
pub fn set_deployment_label(rc: &mut ReplicationController, key: &str, value: &str) {
    set_template_label(rc, key, value);
    rc.spec
        .get_or_insert_with(Default::default)
        .selector
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_owned(), value.to_owned());
}

/// Sets `key=value` in the template labels only.
pub fn set_template_label(rc: &mut ReplicationController, key: &str, value: &str) {
    rc.spec
        .get_or_insert_with(Default::default)
        .template
        .get_or_insert_with(Default::default)
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_owned(), value.to_owned());
}

/// The RC's `spec.replicas` (the API defaults an unset value to 1).
pub fn spec_replicas(rc: &ReplicationController) -> u32 {
    rc.spec
        .as_ref()
        .and_then(|s| s.replicas)
        .map_or(1, |r| u32::try_from(r).unwrap_or(0))
}

/// kubectl's `--image` path: copy `old`, change the image, hash, name and label.
pub fn derive_from_image(
    old: &ReplicationController,
    change: &ImageChange,
    key: &str,
    new_name: Option<&str>,
) -> Result<Derived> {
    check_deployment_key(key)?;
    labels::check_selector_matches_template(old)?;
    let index = check_image_change(old, change)?;
    let mut rc = old.clone();
    if let Some(container) = rc
        .spec
        .as_mut()
        .and_then(|s| s.template.as_mut())
        .and_then(|t| t.spec.as_mut())
        .and_then(|s| s.containers.get_mut(index))
    {
        container.image = Some(change.image.to_string());
        if let Some(policy) = change.pull_policy {
            container.image_pull_policy = Some(policy.as_str().to_owned());
        }
    }
    let hash = rc_hash(&rc);
    let name = new_name.map_or_else(|| format!("{}-{hash}", name_of(old)), str::to_owned);
    if name == name_of(old) {
        return Err(same_name(&name));
    }
    rc.metadata = copied_metadata(&old.metadata, name);
    rc.status = None;
    set_deployment_label(&mut rc, key, &hash);
    Ok(Derived {
        desired: spec_replicas(old),
        rc,
    })
}

/// kubectl's `-f` path: the new RC comes from a file; its replicas default to the old RC's
/// and its selector to its template's labels.
///
/// - A file naming a different RC must give it a selector that differs from the old one's
///   in some shared key (kubectl's rule and message): otherwise the two controllers would
///   fight over the same pods.
/// - A file naming the old RC itself (edit the live object, update it in place) keeps the
///   old name at the end, as `--image` without NEW does: the new RC is `<old>-<hash>` with
///   the deployment hash label until the final rename. kubectl refused such files with
///   "cannot have the same name"; refusing the natural edit-and-reapply flow helps nobody.
pub fn derive_from_file(
    old: &ReplicationController,
    file: &ReplicationController,
    path: &str,
    key: &str,
) -> Result<Derived> {
    check_deployment_key(key)?;
    labels::check_selector_matches_template(old)?;
    let name = file.metadata.name.clone().unwrap_or_default();
    if name.is_empty() {
        return Err(EngineError::invalid(
            "the new replicationcontroller has no name",
        ));
    }
    let keeps_old_name = name == name_of(old);
    let mut rc = file.clone();
    rc.metadata = copied_metadata(&file.metadata, name.clone());
    rc.metadata.namespace = old.metadata.namespace.clone();
    rc.status = None;
    let template_labels = labels::template_labels(&rc);
    let spec = rc.spec.get_or_insert_with(Default::default);
    if spec.replicas.is_none() {
        spec.replicas = Some(i32::try_from(spec_replicas(old)).unwrap_or(i32::MAX));
    }
    if spec.selector.as_ref().is_none_or(BTreeMap::is_empty) {
        spec.selector = Some(template_labels);
    }
    labels::check_selector_matches_template(&rc)?;
    if keeps_old_name {
        let hash = rc_hash(&rc);
        rc.metadata.name = Some(format!("{name}-{hash}"));
        set_deployment_label(&mut rc, key, &hash);
    } else {
        let old_selector = rc_selector(old);
        let differs = rc_selector(&rc)
            .iter()
            .any(|(k, v)| old_selector.get(k).is_some_and(|old_v| old_v != v));
        if !differs {
            return Err(EngineError::invalid(format!(
                "{path} must specify a matching key with non-equal value in Selector for {}",
                name_of(old)
            )));
        }
    }
    Ok(Derived {
        desired: spec_replicas(&rc),
        rc,
    })
}

/// kubectl's refusal of a new name equal to the old one (the same-name form leaves NEW out).
pub(crate) fn same_name(name: &str) -> EngineError {
    EngineError::invalid(format!(
        "{name} cannot have the same name as the existing ReplicationController {name}"
    ))
}

/// Records the RC's current replica count as its `original-replicas` annotation unless one
/// is there already (the first attempt's value wins, so a rerun cannot overwrite it with a
/// half-scaled count); whether the RC changed.
pub(crate) fn record_original_replicas(rc: &mut ReplicationController) -> bool {
    let replicas = spec_replicas(rc).to_string();
    let annotations = rc.metadata.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.contains_key(annotations::ORIGINAL_REPLICAS) {
        return false;
    }
    annotations.insert(annotations::ORIGINAL_REPLICAS.to_owned(), replicas);
    true
}

/// kubectl refused an empty `--deployment-label-key` (a selector key of `""`); any key the
/// API server would refuse in a label is refused here, before anything is written.
pub fn check_deployment_key(key: &str) -> Result<()> {
    crate::names::label_key("--deployment-label-key", key)
}

/// The new RC as it is created: 0 replicas, `desired-replicas` and `update-source-id`.
pub fn for_creation(derived: &Derived, old: &ReplicationController) -> ReplicationController {
    let mut rc = derived.rc.clone();
    rc.spec.get_or_insert_with(Default::default).replicas = Some(0);
    let annotations = rc.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(
        annotations::DESIRED_REPLICAS.to_owned(),
        derived.desired.to_string(),
    );
    annotations.insert(
        annotations::UPDATE_SOURCE_ID.to_owned(),
        source_id(old).to_string(),
    );
    rc
}

/// `<name>:<uid>` of an RC.
pub fn source_id(rc: &ReplicationController) -> SourceId {
    SourceId {
        name: name_of(rc).to_owned(),
        uid: rc.metadata.uid.clone().unwrap_or_default(),
    }
}

/// The old RC as the update prepares it (what `--dry-run` shows and what the executor
/// converges to): `next-controller-id`, `original-replicas` and the deployment label in
/// template and selector unless the selector already has the key.
pub fn prepared_old(
    old: &ReplicationController,
    new_name: &str,
    key: &str,
    orig_value: &str,
) -> ReplicationController {
    let mut rc = old.clone();
    let replicas = spec_replicas(old).to_string();
    let annotations = rc.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(
        annotations::NEXT_CONTROLLER_ID.to_owned(),
        new_name.to_owned(),
    );
    annotations
        .entry(annotations::ORIGINAL_REPLICAS.to_owned())
        .or_insert(replicas);
    if !rc_selector(old).contains_key(key) {
        let value = labels::template_labels(old)
            .get(key)
            .cloned()
            .unwrap_or_else(|| orig_value.to_owned());
        set_deployment_label(&mut rc, key, &value);
    }
    rc
}

/// The image the update targets, as recorded in an existing new RC (container `name`, or the
/// first), for kubectl's "existing in-progress update to image" check.
pub fn target_image<'a>(rc: &'a ReplicationController, container: Option<&str>) -> &'a str {
    let index = container
        .and_then(|name| containers(rc).iter().position(|c| c.name == name))
        .unwrap_or(0);
    container_image(rc, index)
}

#[cfg(test)]
pub(crate) mod tests;
