//! The annotations that hold an update's progress, and their parsing.
//!
//! Why annotations: the planner is stateless and the CLI may die at any moment, so everything
//! needed to continue (who replaces whom, how many replicas to end with, what to roll back to)
//! must live on the cluster objects. Where `kubectl rolling-update` had a name for a piece of
//! state we use kubectl's, so an update started by kubectl can be finished by us and the other
//! way round; the rest use our own prefix.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{EngineError, Result};

/// kubectl's: on the old RC, the name of the RC that replaces it. Never removed by kubectl;
/// we remove it when a rollback completes.
pub const NEXT_CONTROLLER_ID: &str = "kubectl.kubernetes.io/next-controller-id";
/// kubectl's: on the old RC, its replica count when the update started (the rollback target).
pub const ORIGINAL_REPLICAS: &str = "kubectl.kubernetes.io/original-replicas";
/// kubectl's: on the new RC, the replica count it must end with; removed at cleanup.
pub const DESIRED_REPLICAS: &str = "kubectl.kubernetes.io/desired-replicas";
/// kubectl's: on the new RC, `<old name>:<old uid>`; proves the RC belongs to this update.
pub const UPDATE_SOURCE_ID: &str = "kubectl.kubernetes.io/update-source-id";

/// Prefix of our own annotations.
pub const OUR_PREFIX: &str = "rollout.kubia.dev/";
/// On the old RC during a same-name rolling update's final rename: the RC being renamed to
/// the old name. Its presence means "finish the rename".
pub const RENAME_FROM: &str = "rollout.kubia.dev/rename-from";
/// Next to [`RENAME_FROM`]: the labels, annotations and spec the old RC will take over (JSON),
/// saved before the hashed RC is deleted so that an interruption cannot lose them.
pub const RENAME_SPEC: &str = "rollout.kubia.dev/rename-spec";
/// On an RC during `recreate`: the image being rolled out.
pub const RECREATE_IMAGE: &str = "rollout.kubia.dev/recreate-image";
/// On the new RC of a blue-green update: `<old name>:<old uid>`.
pub const BLUE_GREEN_OF: &str = "rollout.kubia.dev/blue-green-of";
/// On the Service of a blue-green update: the RC whose pods it selects now.
pub const BLUE_GREEN_ACTIVE: &str = "rollout.kubia.dev/blue-green-active";
/// On the Service of a blue-green update: the other RC, kept for an instant switch.
pub const BLUE_GREEN_STANDBY: &str = "rollout.kubia.dev/blue-green-standby";
/// On the Service of a blue-green update: its selector before we pinned it (JSON), restored
/// by cleanup so that later updates find the Service as it was.
pub const BLUE_GREEN_ORIGINAL_SELECTOR: &str = "rollout.kubia.dev/blue-green-original-selector";
/// On the canary RC: `<old name>:<old uid>`.
pub const CANARY_OF: &str = "rollout.kubia.dev/canary-of";
/// On the canary RC: the resolved canary replica counts of the steps, e.g. `1,2,3`.
pub const CANARY_STEPS: &str = "rollout.kubia.dev/canary-steps";
/// On the stable RC of a canary: the canary RC's name.
pub const CANARY_NEXT: &str = "rollout.kubia.dev/canary";

/// Whether `key` is bookkeeping of an update (kubectl's or ours), to be dropped when an RC is
/// copied into a new one.
pub fn is_update_annotation(key: &str) -> bool {
    [
        NEXT_CONTROLLER_ID,
        ORIGINAL_REPLICAS,
        DESIRED_REPLICAS,
        UPDATE_SOURCE_ID,
    ]
    .contains(&key)
        || key.starts_with(OUR_PREFIX)
}

/// `<name>:<uid>`: which RC an update comes from, pinned to one incarnation of that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceId {
    /// The RC's name.
    pub name: String,
    /// The RC's uid.
    pub uid: String,
}

impl SourceId {
    /// Parses `name:uid`; `None` if malformed.
    pub fn parse(value: &str) -> Option<SourceId> {
        let (name, uid) = value.split_once(':')?;
        (!name.is_empty() && !uid.is_empty()).then(|| SourceId {
            name: name.to_owned(),
            uid: uid.to_owned(),
        })
    }
}

impl fmt::Display for SourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.uid)
    }
}

/// Reads a replica-count annotation of `object` (for messages). `Ok(None)` if absent; an
/// error if present but not a replica count an RC can have (a non-negative integer up to
/// `i32::MAX`, `spec.replicas`' type): guessing could scale wrongly, and a count the engine
/// cannot write would be chased forever.
pub fn replicas(
    annotations: Option<&BTreeMap<String, String>>,
    key: &str,
    object: &str,
) -> Result<Option<u32>> {
    match annotations.and_then(|a| a.get(key)) {
        None => Ok(None),
        Some(value) => value
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| i32::try_from(*n).is_ok())
            .map(Some)
            .ok_or_else(|| {
                EngineError::Inconsistent(format!(
                    "unable to parse annotation for {object}: {key}={value} (a replica count from 0 to {})",
                    i32::MAX
                ))
            }),
    }
}

/// A comma-separated list of replica counts (the canary steps).
pub fn parse_counts(value: &str) -> Option<Vec<u32>> {
    value
        .split(',')
        .map(|part| part.trim().parse::<u32>().ok())
        .collect()
}

/// The inverse of [`parse_counts`].
pub fn format_counts(counts: &[u32]) -> String {
    counts
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads one annotation.
pub fn get<'a>(annotations: Option<&'a BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations.and_then(|a| a.get(key)).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_ids() {
        let id = SourceId::parse("kubia-v1:1234-abcd");
        assert_eq!(
            id,
            Some(SourceId {
                name: "kubia-v1".into(),
                uid: "1234-abcd".into()
            })
        );
        assert_eq!(
            id.map(|i| i.to_string()).as_deref(),
            Some("kubia-v1:1234-abcd")
        );
        assert_eq!(SourceId::parse("kubia-v1"), None);
        assert_eq!(SourceId::parse(":uid"), None);
        assert_eq!(SourceId::parse("name:"), None);
    }

    #[test]
    fn replica_annotations() {
        let mut a = BTreeMap::new();
        a.insert(DESIRED_REPLICAS.to_string(), "3".to_string());
        a.insert(ORIGINAL_REPLICAS.to_string(), "three".to_string());
        assert_eq!(
            replicas(Some(&a), DESIRED_REPLICAS, "kubia-v2").ok(),
            Some(Some(3))
        );
        assert_eq!(
            replicas(None, DESIRED_REPLICAS, "kubia-v2").ok(),
            Some(None)
        );
        let err = replicas(Some(&a), ORIGINAL_REPLICAS, "kubia-v1").err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some(
                "unable to parse annotation for kubia-v1: kubectl.kubernetes.io/original-replicas=three (a replica count from 0 to 2147483647)"
            )
        );
        a.insert(DESIRED_REPLICAS.to_string(), "-1".to_string());
        assert!(replicas(Some(&a), DESIRED_REPLICAS, "kubia-v2").is_err());
        // Beyond what spec.replicas (an int32) can hold: refused, not chased forever.
        a.insert(DESIRED_REPLICAS.to_string(), "2147483648".to_string());
        assert!(replicas(Some(&a), DESIRED_REPLICAS, "kubia-v2").is_err());
        a.insert(DESIRED_REPLICAS.to_string(), "4294967295".to_string());
        assert!(replicas(Some(&a), DESIRED_REPLICAS, "kubia-v2").is_err());
        a.insert(DESIRED_REPLICAS.to_string(), "2147483647".to_string());
        assert_eq!(
            replicas(Some(&a), DESIRED_REPLICAS, "kubia-v2").ok(),
            Some(Some(2147483647))
        );
    }

    #[test]
    fn counts_round_trip() {
        assert_eq!(parse_counts("1,2,3"), Some(vec![1, 2, 3]));
        assert_eq!(format_counts(&[1, 2, 3]), "1,2,3");
        assert_eq!(parse_counts("1,x"), None);
        assert_eq!(parse_counts(""), None);
    }

    #[test]
    fn update_annotations_are_recognised() {
        assert!(is_update_annotation(NEXT_CONTROLLER_ID));
        assert!(is_update_annotation(CANARY_OF));
        assert!(is_update_annotation(RENAME_SPEC));
        assert!(!is_update_annotation("kubernetes.io/change-cause"));
        assert!(!is_update_annotation(
            "kubectl.kubernetes.io/last-applied-configuration"
        ));
    }
}
