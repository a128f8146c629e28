//! `--rollback`: the same scale loop with the roles swapped.
//!
//! As in kubectl, the original RC becomes the target with `desired-replicas` = its
//! `original-replicas` and `update-source-id` pointing at the half-deployed RC, which is
//! drained and deleted. Unlike kubectl, the end does not fail with NotFound (kubectl printed
//! the deleted RC), and the original RC loses the update's bookkeeping so that a later update
//! starts from a clean slate. A rollback interrupted after deleting the other RC is finished
//! by running it again.

use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::PropagationPolicy;
use rollout_plan::Limits;

use super::request::{Outcome, RollingUpdate};
use crate::access;
use crate::api::clear_update_annotations;
use crate::api::{self, remove_annotations, set_annotation};
use crate::begin::begin_taking_over;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::model::annotations::{self, RENAME_FROM, RENAME_SPEC, SourceId};
use crate::model::labels::name_of;
use crate::model::new_rc::{self, spec_replicas};
use crate::rolling::drive::{self, Drive};

/// Reverts the update from `req.old_name` to the RC named by `req.new_name` or by the old
/// RC's `next-controller-id`.
pub(crate) async fn run(ctx: &Ctx, req: &RollingUpdate) -> Result<Outcome> {
    let pre = ctx.preflight();
    let old_name = req.old_name.as_str();
    let old = api::get_rc(&pre, old_name).await?;
    let recorded = old.metadata.annotations.as_ref();
    let new_name = match &req.new_name {
        Some(name) => name.clone(),
        None => annotations::get(recorded, annotations::NEXT_CONTROLLER_ID)
            .map(str::to_owned)
            .ok_or_else(|| {
                EngineError::invalid(format!(
                    "cannot roll back {old_name}: it records no update ({} annotation missing); give the new controller's name as the second argument",
                    annotations::NEXT_CONTROLLER_ID
                ))
            })?,
    };
    let Some(new) = api::get_rc_opt(&pre, &new_name).await? else {
        let source =
            annotations::get(recorded, annotations::UPDATE_SOURCE_ID).and_then(SourceId::parse);
        if source.is_some_and(|id| id.name == new_name) {
            // The other RC is already deleted: only the cleanup was left.
            if req.dry_run {
                return Ok(Outcome::DryRun {
                    old: Box::new(ReplicationController::default()),
                    new: Box::new(old),
                });
            }
            let rcs = [old_name];
            return begin_taking_over(ctx, access::ROLLING, &rcs, finish(ctx, old_name)).await;
        }
        if annotations::get(recorded, RENAME_FROM).is_some() {
            return Err(EngineError::invalid(format!(
                "the update of {old_name} is already renaming {new_name} to {old_name} and cannot be rolled back; run it again without --rollback to finish"
            )));
        }
        return Err(EngineError::invalid(format!(
            "Could not find {new_name} to rollback."
        )));
    };
    check_partners(&old, &new)?;
    let original = annotations::replicas(recorded, annotations::ORIGINAL_REPLICAS, old_name)?
        .or_else(|| (spec_replicas(&new) == 0).then(|| spec_replicas(&old)))
        .ok_or_else(|| {
            EngineError::invalid(format!(
                "couldn't find original replica count of {old_name:?} ({} annotation missing)",
                annotations::ORIGINAL_REPLICAS
            ))
        })?;
    let limits = Limits::resolve(original, &req.strategy)?;
    if req.dry_run {
        return Ok(Outcome::DryRun {
            old: Box::new(new),
            new: Box::new(old),
        });
    }
    let rcs = [old_name, name_of(&new)];
    begin_taking_over(
        ctx,
        access::ROLLING,
        &rcs,
        apply(ctx, req, &new, original, limits),
    )
    .await
}

/// The rollback itself, once everything is checked and the Lease is held.
async fn apply(
    ctx: &Ctx,
    req: &RollingUpdate,
    new: &ReplicationController,
    original: u32,
    limits: Limits,
) -> Result<Outcome> {
    let old_name = req.old_name.as_str();
    let new_name = name_of(new).to_owned();
    ctx.line(format!("Setting \"{old_name}\" replicas to {original}"));
    let source = new_rc::source_id(new).to_string();
    api::update_rc(ctx, old_name, |rc| {
        let desired = set_annotation(
            &mut rc.metadata,
            annotations::DESIRED_REPLICAS,
            &original.to_string(),
        );
        let source = set_annotation(&mut rc.metadata, annotations::UPDATE_SOURCE_ID, &source);
        let rename = remove_annotations(&mut rc.metadata, &[RENAME_FROM, RENAME_SPEC]);
        Ok(desired || source || rename)
    })
    .await?;
    api::update_rc(ctx, &new_name, |rc| {
        Ok(new_rc::record_original_replicas(rc))
    })
    .await?;
    ctx.line(format!(
        "Continuing update with existing controller {old_name}."
    ));
    drive::run(
        ctx,
        &Drive {
            old: &new_name,
            new: old_name,
            limits,
            min_ready_seconds: req.strategy.min_ready_seconds,
            update_period: req.update_period,
            health: None,
        },
    )
    .await?;
    ctx.line(format!("Update succeeded. Deleting {new_name}"));
    api::delete_rc(ctx, &new_name, PropagationPolicy::Background).await?;
    finish(ctx, old_name).await
}

/// The two RCs must belong to one update: the new one's `update-source-id` names the old one,
/// or the old one's `next-controller-id` names the new one.
fn check_partners(old: &ReplicationController, new: &ReplicationController) -> Result<()> {
    let source = annotations::get(
        new.metadata.annotations.as_ref(),
        annotations::UPDATE_SOURCE_ID,
    )
    .and_then(SourceId::parse);
    let next = annotations::get(
        old.metadata.annotations.as_ref(),
        annotations::NEXT_CONTROLLER_ID,
    );
    if source.is_some_and(|id| id.name == name_of(old)) || next == Some(name_of(new)) {
        Ok(())
    } else {
        Err(EngineError::invalid(format!(
            "replicationcontroller {} is not part of an update from {}; nothing to roll back",
            name_of(new),
            name_of(old)
        )))
    }
}

async fn finish(ctx: &Ctx, old_name: &str) -> Result<Outcome> {
    let rc = clear_update_annotations(ctx, old_name).await?;
    Ok(Outcome::Done {
        rc: Box::new(rc),
        message: "rolled back".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn partners() {
        let old = crate::model::new_rc::tests::tutorial_rc();
        let mut new = old.clone();
        new.metadata.name = Some("kubia-v2".into());
        new.metadata.annotations = None;
        assert!(check_partners(&old, &new).is_err());
        new.metadata.annotations = Some(BTreeMap::from([(
            annotations::UPDATE_SOURCE_ID.to_owned(),
            "kubia-v1:uid-1".to_owned(),
        )]));
        assert!(check_partners(&old, &new).is_ok());
        new.metadata.annotations = None;
        let mut pointing = old.clone();
        pointing.metadata.annotations = Some(BTreeMap::from([(
            annotations::NEXT_CONTROLLER_ID.to_owned(),
            "kubia-v2".to_owned(),
        )]));
        assert!(check_partners(&pointing, &new).is_ok());
    }
}
