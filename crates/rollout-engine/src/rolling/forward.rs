//! `kubectl rolling-update`, resumable: validate everything, then prepare the old RC, create
//! (or find) the new one, run the scale loop, and clean up.
//!
//! Resumption needs no client state: the old RC's `next-controller-id` names the new RC, whose
//! `update-source-id` proves it belongs to this update and whose `desired-replicas` is the
//! target; the scale loop continues from the replica counts. Cleanup deletes the old RC
//! *before* removing the new RC's bookkeeping, so an interruption in between is recognised on
//! the next run (old gone, new still pointing at it) and finished, rather than leaving a new
//! RC that later runs would refuse as "unrelated" (kubernetes#27929).

use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::PropagationPolicy;
use rollout_plan::Limits;
use rollout_plan::health::OnFailure;

use super::request::{Direction, NewSource, Outcome, RollingUpdate, validate};
use super::{rename, rollback};
use crate::access;
use crate::api::{self, clear_update_annotations, remove_annotations, set_annotation};
use crate::begin::begin;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::lease;
use crate::model::annotations::{self, SourceId};
use crate::model::labels::{self, name_of};
use crate::model::new_rc::{self, Derived, derive_from_file, prepared_old};
use crate::relabel;
use crate::rolling::drive::{self, Drive};

/// The new RC, found or to be created.
enum Target {
    Existing(Box<ReplicationController>),
    Create(Box<Derived>),
}

/// Everything decided before the first change.
struct Plan {
    new_name: String,
    target: Target,
    limits: Limits,
    keep_old_name: bool,
}

/// Runs the update (or its rollback, or a dry run).
///
/// The request is checked here, once, before anything touches the cluster: first what needs
/// no cluster ([`validate`]), then a `-f` file by the API server (`--validate`).
pub async fn run(ctx: &Ctx, req: &RollingUpdate) -> Result<Outcome> {
    let source = match validate(req)? {
        Direction::Rollback => return rollback::run(ctx, req).await,
        Direction::Forward(source) => source,
    };
    if let NewSource::File { raw, path, .. } = source {
        let origin = if path == "-" { "stdin" } else { path.as_str() };
        crate::validate::validate_file(ctx, raw, origin, req.validation).await?;
    }
    let pre = ctx.preflight();
    let Some(old) = api::get_rc_opt(&pre, &req.old_name).await? else {
        return finish_after_old_deleted(ctx, req).await;
    };
    if annotations::get(old.metadata.annotations.as_ref(), annotations::RENAME_FROM).is_some() {
        let finish = rename::finish(ctx, &req.old_name);
        return begin(ctx, access::ROLLING, &[req.old_name.as_str()], finish).await;
    }
    labels::check_selector_matches_template(&old)?;
    labels::check_not_owned(&old, req.force)?;
    if req.dry_run {
        let plan = plan(&pre, req, source, &old).await?;
        return Ok(dry_run(req, &old, &plan));
    }
    if ctx.check_only {
        // A check for `--detach`: the plan refuses what the Job's pod would refuse (the same
        // image without a pull policy, an existing RC that does not fit) before anything is
        // created; `begin` then checks the permissions and the Leases.
        plan(&pre, req, source, &old).await?;
    }
    let old_name = [req.old_name.as_str()];
    begin(
        ctx,
        access::ROLLING,
        &old_name,
        run_holding(ctx, req, source),
    )
    .await
}

/// Plans from the old RC as it is once its Lease is held (what was read before may be
/// another engine's state in the middle of a change), takes the new RC's Lease too (so
/// `kubia-v2 -> kubia-v3` is refused while `kubia-v1 -> kubia-v2` runs: the new RC's name
/// is known only now), and updates.
async fn run_holding(ctx: &Ctx, req: &RollingUpdate, source: &NewSource) -> Result<Outcome> {
    let pre = ctx.preflight();
    let old = api::get_rc(&pre, &req.old_name).await?;
    labels::check_selector_matches_template(&old)?;
    labels::check_not_owned(&old, req.force)?;
    let plan = plan(&pre, req, source, &old).await?;
    let new_name = plan.new_name.clone();
    let ctx = &ctx.with_undo(ctx.hints.command(&[
        "rolling-update",
        &req.old_name,
        &new_name,
        "--rollback",
    ]));
    let limits = plan.limits;
    let pre = pre.with_lease_note(format!(
        "rolling-update {} -> {new_name}: at most {} pods, at least {} available",
        req.old_name,
        limits.max_total(),
        limits.min_available()
    ));
    lease::holding(&pre, &[new_name.as_str()], execute(ctx, req, &old, plan)).await
}

/// Decides the new RC (existing or derived), its name and the limits, refusing anything
/// inconsistent before a single change.
async fn plan(
    ctx: &Ctx,
    req: &RollingUpdate,
    source: &NewSource,
    old: &ReplicationController,
) -> Result<Plan> {
    // Without NEW the update ends under OLD's name, whatever the new RC is called meanwhile:
    // kubectl 1.17's `KeepOldName = len(args) == 1`, for `--image` and `-f` alike (so
    // `rolling-update frontend-v1 -f frontend-v2.json` ends with the file's RC renamed to
    // frontend-v1).
    let keep_old_name = req.new_name.is_none();
    if let NewSource::File { rc: file, .. } = source
        && let Some(ns) = file.metadata.namespace.as_deref()
        && ns != ctx.namespace()
    {
        return Err(EngineError::invalid(format!(
            "the namespace from the provided object {ns:?} does not match the namespace {:?}. You must pass '--namespace={ns}' to perform this operation.",
            ctx.namespace()
        )));
    }
    let next = match source {
        NewSource::File { rc: file, .. } => file.metadata.name.clone(),
        _ => req.new_name.clone().or_else(|| {
            annotations::get(
                old.metadata.annotations.as_ref(),
                annotations::NEXT_CONTROLLER_ID,
            )
            .map(str::to_owned)
        }),
    }
    .filter(|name| *name != req.old_name);
    if let Some(next) = &next {
        refuse_other_update_in_progress(ctx, old, next, req).await?;
    }
    let existing = match &next {
        Some(name) => api::get_rc_opt(ctx, name).await?,
        None => None,
    };
    let target = match existing {
        Some(existing) => {
            check_existing(&existing, old, req)?;
            Target::Existing(Box::new(existing))
        }
        None => {
            let mut derived = match source {
                NewSource::Image(change) => {
                    let derived = new_rc::derive_from_image(
                        old,
                        change,
                        &req.deployment_label_key,
                        req.new_name.as_deref(),
                    )?;
                    ctx.warn(new_rc::pull_policy_warning(old, change));
                    derived
                }
                NewSource::File { rc: file, path, .. } => {
                    derive_from_file(old, file, path, &req.deployment_label_key)?
                }
            };
            // kubectl 1.17's findNewName: without NEW, the old RC's next-controller-id names
            // the new RC even when no such RC exists (left by a dry run, which annotates for
            // real, or by a run stopped between annotating and creating); the hash label stays
            // the fresh one.
            if keep_old_name
                && matches!(source, NewSource::Image(_))
                && let Some(pointed) = &next
            {
                derived.rc.metadata.name = Some(pointed.clone());
            }
            let name = name_of(&derived.rc).to_owned();
            if next.as_deref() != Some(name.as_str())
                && let Some(existing) = api::get_rc_opt(ctx, &name).await?
            {
                check_existing(&existing, old, req)?;
                Target::Existing(Box::new(existing))
            } else {
                Target::Create(Box::new(derived))
            }
        }
    };
    let (new_name, desired) = match &target {
        Target::Existing(rc) => {
            let desired = annotations::replicas(
                rc.metadata.annotations.as_ref(),
                annotations::DESIRED_REPLICAS,
                name_of(rc),
            )?
            .ok_or_else(|| {
                EngineError::Inconsistent(format!(
                    "replicationcontroller {} has no {} annotation; it is not a resumable update target",
                    name_of(rc),
                    annotations::DESIRED_REPLICAS
                ))
            })?;
            (name_of(rc).to_owned(), desired)
        }
        Target::Create(derived) => (name_of(&derived.rc).to_owned(), derived.desired),
    };
    Ok(Plan {
        limits: Limits::resolve(desired, &req.strategy)?,
        new_name,
        target,
        keep_old_name,
    })
}

/// One update per old RC: if `old` records an update to another RC that still exists and
/// belongs to it, a request for a different target is refused (it would leave two new RCs
/// competing for the old one's pods), naming the update in progress and how to finish or
/// roll it back.
async fn refuse_other_update_in_progress(
    ctx: &Ctx,
    old: &ReplicationController,
    requested: &str,
    req: &RollingUpdate,
) -> Result<()> {
    let Some(recorded) = annotations::get(
        old.metadata.annotations.as_ref(),
        annotations::NEXT_CONTROLLER_ID,
    ) else {
        return Ok(());
    };
    if recorded == requested || recorded == req.old_name {
        return Ok(());
    }
    let Some(other) = api::get_rc_opt(ctx, recorded).await? else {
        return Ok(());
    };
    let belongs = annotations::get(
        other.metadata.annotations.as_ref(),
        annotations::UPDATE_SOURCE_ID,
    )
    .and_then(SourceId::parse)
    .is_some_and(|id| id == new_rc::source_id(old));
    if !belongs {
        return Ok(());
    }
    let image = new_rc::target_image(&other, None);
    Err(EngineError::invalid(format!(
        "replicationcontroller {} is being updated to {recorded} ({image}), an update in progress; finish it with: {} or roll it back with: {}",
        req.old_name,
        ctx.hints.command(&[
            "rolling-update",
            &req.old_name,
            recorded,
            &format!("--image={image}")
        ]),
        ctx.hints
            .command(&["rolling-update", &req.old_name, recorded, "--rollback"]),
    )))
}

/// An existing new RC may only be continued if it is this update's (kubectl's
/// `update-source-id` check) and targets the requested image (kubernetes#9045: resuming with
/// another image used to silently finish the old one).
fn check_existing(
    existing: &ReplicationController,
    old: &ReplicationController,
    req: &RollingUpdate,
) -> Result<()> {
    let name = name_of(existing);
    let source = annotations::get(
        existing.metadata.annotations.as_ref(),
        annotations::UPDATE_SOURCE_ID,
    );
    let expected = new_rc::source_id(old);
    match source.and_then(SourceId::parse) {
        Some(id) if id == expected => {}
        Some(_) | None => {
            return Err(EngineError::invalid(format!(
                "replicationcontroller {name} already exists and is not part of an update from {} ({} is {}); delete it or choose another name",
                req.old_name,
                annotations::UPDATE_SOURCE_ID,
                source.map_or_else(|| "missing".to_owned(), |s| format!("{s:?}")),
            )));
        }
    }
    if let Some(NewSource::Image(change)) = &req.source {
        let in_progress = new_rc::target_image(existing, change.container.as_deref());
        if in_progress != change.image.to_string() {
            return Err(EngineError::invalid(format!(
                "Found existing in-progress update to image ({in_progress}). Either continue in-progress update with --image={in_progress} or rollback with --rollback"
            )));
        }
    }
    Ok(())
}

fn dry_run(req: &RollingUpdate, old: &ReplicationController, plan: &Plan) -> Outcome {
    let orig = new_rc::orig_label_value(old);
    let prepared = prepared_old(old, &plan.new_name, &req.deployment_label_key, &orig);
    let new = match &plan.target {
        Target::Existing(rc) => (**rc).clone(),
        Target::Create(derived) => new_rc::for_creation(derived, old),
    };
    Outcome::DryRun {
        old: Box::new(prepared),
        new: Box::new(new),
    }
}

async fn execute(
    ctx: &Ctx,
    req: &RollingUpdate,
    old: &ReplicationController,
    plan: Plan,
) -> Result<Outcome> {
    let old_name = req.old_name.as_str();
    let new_name = plan.new_name.as_str();
    let orig = new_rc::orig_label_value(old);
    // kubectl recorded `original-replicas` in a write of its own after creating the new RC;
    // it is the old RC's count before any scaling either way, so it goes with this write.
    relabel::prepare_old(ctx, old, &req.deployment_label_key, &orig, |rc| {
        let pointed = set_annotation(&mut rc.metadata, annotations::NEXT_CONTROLLER_ID, new_name);
        // Leftovers of an interrupted rollback: this run goes forward again.
        let cleared = remove_annotations(
            &mut rc.metadata,
            &[annotations::DESIRED_REPLICAS, annotations::UPDATE_SOURCE_ID],
        );
        let recorded = new_rc::record_original_replicas(rc);
        pointed || cleared || recorded
    })
    .await?;

    match &plan.target {
        Target::Create(derived) => {
            let rc = new_rc::for_creation(derived, old);
            api::create_or_continue(ctx, &rc, "Continuing update", |existing| {
                check_existing(existing, old, req)
            })
            .await?;
        }
        Target::Existing(_) => {
            // kubectl's --image path said so before continuing (its -f path did not).
            if matches!(req.source, Some(NewSource::Image(_))) {
                ctx.line(format!(
                    "Found existing update in progress ({new_name}), resuming."
                ));
            }
            ctx.line(format!(
                "Continuing update with existing controller {new_name}."
            ));
        }
    }

    let end = drive::run(
        ctx,
        &Drive {
            old: old_name,
            new: new_name,
            limits: plan.limits,
            min_ready_seconds: req.strategy.min_ready_seconds,
            update_period: req.update_period,
            health: Some(&req.failure),
        },
    )
    .await?;
    if let drive::End::Failed(signal) = end {
        return Err(after_failure(ctx, req, new_name, &signal).await);
    }

    if plan.keep_old_name {
        rename::start(ctx, old_name, new_name, plan.limits.desired).await
    } else {
        ctx.line(format!("Update succeeded. Deleting {old_name}"));
        api::delete_rc(ctx, old_name, PropagationPolicy::Background).await?;
        finish_new(ctx, new_name).await
    }
}

/// `--on-failure`: stop where the update is (kubectl's behaviour: the old pods still serve,
/// resume or roll back by hand), or roll back within the same bounds; either way an error
/// that quotes the signal.
async fn after_failure(
    ctx: &Ctx,
    req: &RollingUpdate,
    new_name: &str,
    signal: &rollout_plan::health::Signal,
) -> EngineError {
    let old_name = req.old_name.as_str();
    match req.failure.on_failure {
        OnFailure::Stop => EngineError::BadVersion(format!(
            "{signal}; stopped, {old_name} still serves; {}",
            ctx.recovery()
        )),
        OnFailure::Rollback => {
            ctx.line(format!("{signal}: rolling back to {old_name}"));
            let back = RollingUpdate {
                new_name: Some(new_name.to_owned()),
                source: None,
                rollback: true,
                ..req.clone()
            };
            match rollback::run(ctx, &back).await {
                Ok(_) => EngineError::BadVersion(format!("{signal}; rolled back to {old_name}")),
                Err(e) => EngineError::BadVersion(format!(
                    "{signal}; rolling back to {old_name} failed: {e}"
                )),
            }
        }
    }
}

/// Removes the update's bookkeeping from the surviving RC and reports success.
async fn finish_new(ctx: &Ctx, new_name: &str) -> Result<Outcome> {
    let rc = clear_update_annotations(ctx, new_name).await?;
    Ok(Outcome::Done {
        rc: Box::new(rc),
        message: format!("rolling updated to \"{new_name}\""),
    })
}

/// The old RC is gone. If the new RC still carries `update-source-id` pointing at it, an
/// earlier run was interrupted between deleting the old RC and the final cleanup: finish.
/// Otherwise this is kubectl's NotFound.
async fn finish_after_old_deleted(ctx: &Ctx, req: &RollingUpdate) -> Result<Outcome> {
    let candidate = match &req.source {
        Some(NewSource::File { rc: file, .. }) => file.metadata.name.clone(),
        _ => req.new_name.clone(),
    };
    if let Some(name) = candidate
        && let Some(new) = api::get_rc_opt(&ctx.preflight(), &name).await?
    {
        let source = annotations::get(
            new.metadata.annotations.as_ref(),
            annotations::UPDATE_SOURCE_ID,
        )
        .and_then(SourceId::parse);
        if source.is_some_and(|id| id.name == req.old_name) {
            if req.dry_run {
                return Ok(Outcome::DryRun {
                    old: Box::new(ReplicationController::default()),
                    new: Box::new(new),
                });
            }
            ctx.line(format!(
                "Continuing update with existing controller {name}."
            ));
            let rcs = [req.old_name.as_str(), name.as_str()];
            return begin(ctx, access::ROLLING, &rcs, finish_new(ctx, &name)).await;
        }
    }
    Err(EngineError::RcNotFound(req.old_name.clone()))
}

#[cfg(test)]
mod tests;
