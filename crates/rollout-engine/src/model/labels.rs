//! Label selectors of ReplicationControllers: equality-based maps only.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, ReplicationController};

use crate::error::{EngineError, Result};

/// `a=b,c=d`, sorted: the API's label-selector syntax and a readable form for messages.
pub fn selector_string(selector: &BTreeMap<String, String>) -> String {
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `labels` contain every pair of `selector` (an empty selector matches nothing, as
/// for RCs, rather than everything).
pub fn matches(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    !selector.is_empty()
        && labels.is_some_and(|labels| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// The RC's selector (empty if unset).
pub fn rc_selector(rc: &ReplicationController) -> BTreeMap<String, String> {
    rc.spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default()
}

/// The RC's pod template labels (empty if unset).
pub fn template_labels(rc: &ReplicationController) -> BTreeMap<String, String> {
    rc.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// The RC's name, or `""`.
pub fn name_of(rc: &ReplicationController) -> &str {
    rc.metadata.name.as_deref().unwrap_or("")
}

/// A pod's name, or `""`.
pub fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

/// Refuses an RC that another controller owns (`ownerReferences` with `controller: true`,
/// or any owner): that controller would fight the update or undo it. `force` overrides.
pub fn check_not_owned(rc: &ReplicationController, force: bool) -> Result<()> {
    let owners = rc.metadata.owner_references.as_deref().unwrap_or_default();
    match owners.first() {
        Some(owner) if !force => Err(EngineError::invalid(format!(
            "replicationcontroller {} is owned by {}/{}, which may undo this update; pass --force to update it anyway",
            name_of(rc),
            owner.kind,
            owner.name
        ))),
        _ => Ok(()),
    }
}

/// Refuses an RC whose selector does not select its own pods: updating it would create pods
/// that no controller counts.
pub fn check_selector_matches_template(rc: &ReplicationController) -> Result<()> {
    let selector = rc_selector(rc);
    let labels = template_labels(rc);
    if selector.is_empty() {
        return Err(EngineError::invalid(format!(
            "replicationcontroller {} has an empty selector",
            name_of(rc)
        )));
    }
    if !matches(&selector, Some(&labels)) {
        return Err(EngineError::invalid(format!(
            "the selector of replicationcontroller {} ({}) does not match its pod template labels ({})",
            name_of(rc),
            selector_string(&selector),
            selector_string(&labels)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn selector_strings_and_matching() {
        let sel = map(&[("deployment", "abc"), ("app", "kubia")]);
        assert_eq!(selector_string(&sel), "app=kubia,deployment=abc");
        assert!(matches(
            &sel,
            Some(&map(&[("app", "kubia"), ("deployment", "abc"), ("x", "y")]))
        ));
        assert!(!matches(&sel, Some(&map(&[("app", "kubia")]))));
        assert!(!matches(&sel, None));
        assert!(!matches(&BTreeMap::new(), Some(&map(&[("app", "kubia")]))));
    }
}
