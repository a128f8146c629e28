//! The end of a same-name update (`rolling-update kubia --image=...`): the new RC, so far
//! called `<old>-<hash>`, takes over the old RC's name.
//!
//! kubectl deleted the old RC, orphan-deleted the hashed one and created a copy under the old
//! name; killed between the last two steps it left nothing that knew the RC's definition, and
//! the pods ran uncontrolled (kubernetes#32751). Here the old RC, already scaled to 0, stays
//! as the anchor: first the hashed RC's definition is saved in annotations on it, then the
//! hashed RC is deleted with orphan propagation (its pods stay), and finally the old RC is
//! replaced with the saved labels, annotations and spec. Its new selector matches the
//! orphaned pods, which it adopts; no pod is created or deleted. Every step can be repeated,
//! and the saved definition tells a rerun what is left to do.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ReplicationController, ReplicationControllerSpec};
use kube::api::PropagationPolicy;
use serde::{Deserialize, Serialize};

use super::request::Outcome;
use crate::api::{self, set_annotation};
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::model::annotations::{self, RENAME_FROM, RENAME_SPEC};

/// What the old RC becomes: the renamed RC's labels, annotations (without update
/// bookkeeping) and spec with the final replica count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Labels of the RC object.
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations of the RC object, bookkeeping removed.
    pub annotations: Option<BTreeMap<String, String>>,
    /// The spec, `replicas` set to the desired count.
    pub spec: ReplicationControllerSpec,
}

impl Snapshot {
    /// The snapshot of `rc` ending with `desired` replicas.
    pub fn of(rc: &ReplicationController, desired: u32) -> Snapshot {
        let annotations: BTreeMap<String, String> = rc
            .metadata
            .annotations
            .iter()
            .flatten()
            .filter(|(k, _)| !annotations::is_update_annotation(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut spec = rc.spec.clone().unwrap_or_default();
        spec.replicas = Some(i32::try_from(desired).unwrap_or(i32::MAX));
        Snapshot {
            labels: rc.metadata.labels.clone(),
            annotations: (!annotations.is_empty()).then_some(annotations),
            spec,
        }
    }

    /// Makes `rc` (the old RC) look like the snapshot; its name, uid and the rest of its
    /// identity stay.
    pub fn apply_to(&self, rc: &mut ReplicationController) {
        rc.metadata.labels = self.labels.clone();
        rc.metadata.annotations = self.annotations.clone();
        rc.spec = Some(self.spec.clone());
    }
}

/// Saves the new RC's definition on the old RC, then finishes the rename.
pub(crate) async fn start(
    ctx: &Ctx,
    old_name: &str,
    new_name: &str,
    desired: u32,
) -> Result<Outcome> {
    let new = api::get_rc(ctx, new_name).await?;
    let snapshot = serde_json::to_string(&Snapshot::of(&new, desired)).map_err(|e| {
        EngineError::Inconsistent(format!("cannot encode {new_name}'s definition: {e}"))
    })?;
    api::update_rc(ctx, old_name, |rc| {
        let from = set_annotation(&mut rc.metadata, RENAME_FROM, new_name);
        let spec = set_annotation(&mut rc.metadata, RENAME_SPEC, &snapshot);
        Ok(from || spec)
    })
    .await?;
    ctx.line(format!(
        "Update succeeded. Deleting old controller: {old_name}"
    ));
    finish(ctx, old_name).await
}

/// Finishes a rename recorded on the old RC (also the entry point of a rerun).
pub(crate) async fn finish(ctx: &Ctx, old_name: &str) -> Result<Outcome> {
    let old = api::get_rc(ctx, old_name).await?;
    let recorded = old.metadata.annotations.as_ref();
    let new_name = annotations::get(recorded, RENAME_FROM)
        .unwrap_or_default()
        .to_owned();
    let snapshot: Snapshot = annotations::get(recorded, RENAME_SPEC)
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or_else(|| {
            EngineError::Inconsistent(format!(
                "replicationcontroller {old_name} has an unreadable {RENAME_SPEC} annotation; finish the rename by hand"
            ))
        })?;
    ctx.line(format!("Renaming {new_name} to {old_name}"));
    if !new_name.is_empty() && new_name != old_name {
        api::delete_rc(ctx, &new_name, PropagationPolicy::Orphan).await?;
        crate::waiting::wait::until_rc_gone(ctx, &new_name).await?;
    }
    let rc = api::update_rc(ctx, old_name, |rc| {
        if annotations::get(rc.metadata.annotations.as_ref(), RENAME_FROM).is_none() {
            return Ok(false);
        }
        snapshot.apply_to(rc);
        Ok(true)
    })
    .await?;
    Ok(Outcome::Done {
        rc: Box::new(rc),
        message: "rolling updated".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::new_rc::{ImageChange, derive_from_image, for_creation};

    #[test]
    fn snapshot_round_trips_and_drops_bookkeeping() {
        let old = crate::model::new_rc::tests::tutorial_rc();
        let derived = derive_from_image(
            &old,
            &ImageChange {
                image: "luksa/kubia:v2".parse().expect("a valid image reference"),
                container: None,
                pull_policy: None,
            },
            "deployment",
            None,
        );
        let Ok(derived) = derived else {
            panic!("derive")
        };
        let new = for_creation(&derived, &old);
        let snap = Snapshot::of(&new, 3);
        assert_eq!(snap.spec.replicas, Some(3));
        let ann = snap.annotations.clone().unwrap_or_default();
        assert!(!ann.contains_key(annotations::DESIRED_REPLICAS));
        assert!(!ann.contains_key(annotations::UPDATE_SOURCE_ID));
        let json = serde_json::to_string(&snap).unwrap_or_default();
        let back: Option<Snapshot> = serde_json::from_str(&json).ok();
        assert_eq!(back.as_ref(), Some(&snap));

        let mut target = old.clone();
        target
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(RENAME_FROM.into(), "x".into());
        snap.apply_to(&mut target);
        assert_eq!(target.metadata.name.as_deref(), Some("kubia-v1"));
        assert_eq!(target.metadata.uid.as_deref(), Some("uid-1"));
        assert_eq!(
            crate::model::new_rc::target_image(&target, None),
            "luksa/kubia:v2"
        );
        assert_eq!(
            crate::model::labels::rc_selector(&target),
            crate::model::labels::rc_selector(&new)
        );
        assert!(annotations::get(target.metadata.annotations.as_ref(), RENAME_FROM).is_none());
    }
}
