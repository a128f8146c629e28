//! A manual canary: a second RC with the new image takes a growing share of a fixed number
//! of pods, behind a Service that selects both (`app=kubia`).
//!
//! Each step first scales the canary up and waits until its pods are available, then scales
//! the stable RC down by as many, so capacity never drops (the total exceeds the original
//! count only during a step). The canary RC records the resolved steps, the stable RC its
//! original replica count; the current step is the canary's replica count. So `start` can
//! pause after the first step and `promote` or `abort` continue later, from any machine, and
//! any of them can be rerun after an interruption.

use std::time::Duration;

use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::PropagationPolicy;
use rollout_plan::canary::{
    self as plan, CanaryStep, current_step, describe_step, resolve_steps, spec_reached, targets,
};
use rollout_plan::health::{OnFailure, Signal};
use rollout_plan::{IntOrPercent, Observed};

use crate::access;
use crate::api::{self, remove_annotations, set_annotation};
use crate::begin::begin;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::health::{self, FailurePolicy};
use crate::model::annotations::{
    self, CANARY_NEXT, CANARY_OF, CANARY_STEPS, ORIGINAL_REPLICAS, SourceId,
};
use crate::model::labels::name_of;
use crate::model::new_rc::{self, ImageChange, source_id, spec_replicas};
use crate::names::{self, RC};
use crate::relabel;
use crate::side_by_side::{self, SideBySide};
use crate::waiting::{observe, settle};

/// `canary OLD NEW --image=X --steps 1,2,3 [--step-period D]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryStart {
    /// The stable RC, the canary RC and how the canary is made and judged.
    pub pair: SideBySide,
    /// Canary sizes, counts or percentages of the stable RC's replicas.
    pub steps: Vec<IntOrPercent>,
    /// Go through all steps with this pause between them and finish; without it, stop after
    /// the first step until `canary promote`.
    pub step_period: Option<Duration>,
}

/// Which canary `promote` or `abort` is about: `[OLD] [NEW]`, either, or none if there is
/// only one canary in the namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanaryRef {
    /// Zero, one or two RC names.
    pub names: Vec<String>,
    /// Pause between the remaining steps of a promote.
    pub step_period: Option<Duration>,
    /// Seconds a pod must be Ready to count.
    pub min_ready_seconds: u32,
}

/// Starts the canary.
pub async fn start(ctx: &Ctx, req: &CanaryStart) -> Result<()> {
    req.pair.check()?;
    let pre = ctx.preflight();
    let old = req.pair.old(&pre).await?;
    if let Some(other) = annotations::get(old.metadata.annotations.as_ref(), CANARY_NEXT)
        && other != req.pair.new_name
    {
        return Err(EngineError::invalid(format!(
            "{} already has a canary in progress ({other}); promote or abort it first",
            req.pair.old_name
        )));
    }
    let existing = api::get_rc_opt(&pre, &req.pair.new_name).await?;
    let (derived, total, steps) = match &existing {
        Some(existing) => {
            check_existing(existing, &old, &req.pair.change)?;
            let (total, steps) = recorded_plan(&old, existing)?;
            (None, total, steps)
        }
        None => {
            let derived = new_rc::derive_from_image(
                &old,
                &req.pair.change,
                &req.pair.deployment_label_key,
                Some(&req.pair.new_name),
            )?;
            ctx.warn(new_rc::pull_policy_warning(&old, &req.pair.change));
            let total = annotations::replicas(
                old.metadata.annotations.as_ref(),
                ORIGINAL_REPLICAS,
                &req.pair.old_name,
            )?
            .unwrap_or_else(|| spec_replicas(&old));
            if total == 0 {
                return Err(EngineError::invalid(format!(
                    "replicationcontroller {} has 0 replicas: nothing to share with a canary",
                    req.pair.old_name
                )));
            }
            let steps = resolve_steps(&req.steps, total)?;
            (Some(derived), total, steps)
        }
    };

    let ctx = &ctx.with_undo(ctx.hints.command(&[
        "canary",
        "abort",
        &req.pair.old_name,
        &req.pair.new_name,
    ]));
    let analysis = req.pair.failure.thresholds.max_error_rate.is_some();
    let needs = access::canary(analysis);
    begin(ctx, &needs, &req.pair.names(), async {
        let orig = new_rc::orig_label_value(&old);
        let total_text = total.to_string();
        let new_name = req.pair.new_name.as_str();
        relabel::prepare_old(ctx, &old, &req.pair.deployment_label_key, &orig, |rc| {
            let meta = &mut rc.metadata;
            let next = set_annotation(meta, CANARY_NEXT, new_name);
            let original =
                if annotations::get(meta.annotations.as_ref(), ORIGINAL_REPLICAS).is_none() {
                    set_annotation(meta, ORIGINAL_REPLICAS, &total_text)
                } else {
                    false
                };
            next || original
        })
        .await?;

        match derived {
            Some(derived) => {
                let mut rc = derived.rc;
                rc.spec.get_or_insert_with(Default::default).replicas = Some(0);
                set_annotation(&mut rc.metadata, CANARY_OF, &source_id(&old).to_string());
                set_annotation(
                    &mut rc.metadata,
                    CANARY_STEPS,
                    &annotations::format_counts(&steps),
                );
                api::create_or_continue(ctx, &rc, "Continuing canary", |existing| {
                    check_existing(existing, &old, &req.pair.change)
                })
                .await?;
            }
            None => ctx.line(format!(
                "Continuing canary with existing controller {new_name}."
            )),
        }

        let all = targets(&steps, total);
        let pair = Pair {
            old: &req.pair.old_name,
            new: new_name,
            total,
            min_ready_seconds: req.pair.min_ready_seconds,
            failure: Some(&req.pair.failure),
            metrics_port: req.pair.metrics_port,
        };
        match req.step_period {
            Some(period) => {
                walk(ctx, &pair, &all, all.len(), Some(period)).await?;
                promote_finish(ctx, &pair).await
            }
            None => {
                walk(ctx, &pair, &all, 1, None).await?;
                pause_message(ctx, &pair, &all).await
            }
        }
    })
    .await
}

/// Finishes the canary: the remaining steps, then the stable RC is deleted.
pub async fn promote(ctx: &Ctx, r: &CanaryRef) -> Result<()> {
    on_canary(ctx, r, |old, new| promote_held(ctx, r, old, new)).await
}

/// How `promote` and `abort` start: the names checked, the canary found, then [`begin`]
/// with both RCs' Leases; `work` (given the two names) reads everything again under them:
/// another engine may have moved on meanwhile.
async fn on_canary<'a, Fut>(
    ctx: &'a Ctx,
    r: &'a CanaryRef,
    work: impl FnOnce(String, String) -> Fut,
) -> Result<()>
where
    Fut: std::future::Future<Output = Result<()>> + 'a,
{
    names::objects(RC, &r.names)?;
    let pre = ctx.preflight();
    let (old_name, new_name) = resolve(&pre, &r.names).await?;
    let leases = [old_name.as_str(), new_name.as_str()];
    let work = work(old_name.clone(), new_name.clone());
    begin(ctx, &access::canary(false), &leases, work).await
}

async fn promote_held(ctx: &Ctx, r: &CanaryRef, old_name: String, new_name: String) -> Result<()> {
    let pre = ctx.preflight();
    let new = api::get_rc(&pre, &new_name).await?;
    let Some(old) = api::get_rc_opt(&pre, &old_name).await? else {
        // The stable RC is already deleted: only the bookkeeping was left.
        return clear_canary(ctx, &new_name).await;
    };
    check_pair(&old, &new)?;
    let (total, steps) = recorded_plan(&old, &new)?;
    let all = targets(&steps, total);
    let pair = Pair {
        old: &old_name,
        new: &new_name,
        total,
        min_ready_seconds: r.min_ready_seconds,
        failure: None,
        metrics_port: 0,
    };
    let ctx = &ctx.with_undo(
        ctx.hints
            .command(&["canary", "abort", &old_name, &new_name]),
    );
    walk(ctx, &pair, &all, all.len(), r.step_period).await?;
    promote_finish(ctx, &pair).await
}

/// Removes the canary: the stable RC back to its original size (first, so capacity never
/// drops), then the canary RC scaled to 0 and deleted.
pub async fn abort(ctx: &Ctx, r: &CanaryRef) -> Result<()> {
    on_canary(ctx, r, |old, new| abort_held(ctx, r, old, new)).await
}

async fn abort_held(ctx: &Ctx, r: &CanaryRef, old_name: String, new_name: String) -> Result<()> {
    let pre = ctx.preflight();
    let old = api::get_rc(&pre, &old_name).await?;
    let new = api::get_rc_opt(&pre, &new_name).await?;
    if let Some(new) = &new {
        check_pair(&old, new)?;
    }
    let total = annotations::replicas(
        old.metadata.annotations.as_ref(),
        ORIGINAL_REPLICAS,
        &old_name,
    )?
    .unwrap_or_else(|| spec_replicas(&old) + new.as_ref().map_or(0, spec_replicas));
    let ctx = &ctx.with_undo(
        ctx.hints
            .command(&["canary", "promote", &old_name, &new_name]),
    );
    let current = spec_replicas(&old);
    if current < total
        && api::scale_rc(ctx, &old_name, current, total)
            .await?
            .is_applied()
    {
        ctx.line(format!("Scaling {old_name} up to {total}"));
    }
    settle::until_all_available(ctx, &old_name, r.min_ready_seconds).await?;
    if let Some(new) = new {
        let replicas = spec_replicas(&new);
        if replicas > 0
            && api::scale_rc(ctx, &new_name, replicas, 0)
                .await?
                .is_applied()
        {
            ctx.line(format!("Scaling {new_name} down to 0"));
        }
        api::delete_rc(ctx, &new_name, PropagationPolicy::Background).await?;
        ctx.line(format!("replicationcontroller \"{new_name}\" deleted"));
    }
    api::update_rc(ctx, &old_name, |rc| {
        Ok(remove_annotations(
            &mut rc.metadata,
            &[CANARY_NEXT, ORIGINAL_REPLICAS],
        ))
    })
    .await?;
    ctx.line(format!("replicationcontroller/{old_name} canary aborted"));
    Ok(())
}

/// The two RCs of a canary and its size.
struct Pair<'a> {
    old: &'a str,
    new: &'a str,
    total: u32,
    min_ready_seconds: u32,
    /// Failure signals and analysis (not for a promote: the user judged the canary).
    failure: Option<&'a FailurePolicy>,
    metrics_port: u16,
}

/// Goes through `all[..upto]`, skipping steps already reached.
async fn walk(
    ctx: &Ctx,
    pair: &Pair<'_>,
    all: &[u32],
    upto: usize,
    period: Option<Duration>,
) -> Result<()> {
    let count = all.len();
    for (index, target) in all.iter().copied().enumerate().take(upto) {
        let line = describe_step(index, count, target, pair.total, pair.new);
        let reached = go_to(ctx, pair, target, line).await?;
        let last = index + 1 == upto.min(count);
        if !reached
            && let Some(policy) = pair.failure
            && policy.thresholds.max_error_rate.is_some()
        {
            // The step's window (the step period; without one, until enough answers).
            let window = period.filter(|_| !last);
            if let Some(signal) =
                health::analyse(ctx, pair.new, policy, pair.metrics_port, window).await?
            {
                return Err(failed(ctx, pair, policy, &signal).await);
            }
            if window.is_some() {
                continue;
            }
        }
        if !reached
            && !last
            && let Some(period) = period
        {
            ctx.sleep(period).await?;
        }
    }
    Ok(())
}

/// One step, as the planner ([`plan::next_step`]) decides it from what is observed: canary
/// up to `target` and available, then stable down to what the split leaves it. Prints
/// `line` (the step's heading) first unless the first observation shows the step's replica
/// counts already set (a resumed step), and returns whether they were.
async fn go_to(ctx: &Ctx, pair: &Pair<'_>, target: u32, line: String) -> Result<bool> {
    let mut first = true;
    let mut reached = false;
    loop {
        let stable = observe::required(ctx, pair.old, pair.min_ready_seconds).await?;
        let canary = observe::required(ctx, pair.new, pair.min_ready_seconds).await?;
        let observed = Observed {
            old: stable.side,
            new: canary.side,
        };
        if first {
            first = false;
            reached = spec_reached(pair.total, target, &observed);
            if !reached {
                ctx.line(line.clone());
            }
        }
        let step = plan::next_step(pair.total, target, &observed);
        let line = step.describe(pair.old, pair.new);
        match step {
            CanaryStep::ScaleCanary { from, to } => {
                if api::scale_rc(ctx, pair.new, from, to).await?.is_applied() {
                    ctx.line(line.unwrap_or_default());
                }
            }
            CanaryStep::WaitCanary => wait_canary(ctx, pair).await?,
            CanaryStep::ScaleStable { from, to } => {
                if api::scale_rc(ctx, pair.old, from, to).await?.is_applied() {
                    ctx.line(line.unwrap_or_default());
                }
            }
            CanaryStep::WaitStable => {
                settle::until_settled(ctx, pair.old).await?;
            }
            CanaryStep::Reached => return Ok(reached),
        }
    }
}

/// Until the canary's pods are available, or (when judging the canary) a failure signal
/// fires, which ends the step with `--on-failure`'s action.
async fn wait_canary(ctx: &Ctx, pair: &Pair<'_>) -> Result<()> {
    match pair.failure {
        Some(policy) => {
            if let Err(signal) =
                settle::until_available_unless_failed(ctx, pair.new, pair.min_ready_seconds, policy)
                    .await?
            {
                return Err(failed(ctx, pair, policy, &signal).await);
            }
        }
        None => {
            settle::until_all_available(ctx, pair.new, pair.min_ready_seconds).await?;
        }
    }
    Ok(())
}

/// `--on-failure` for a canary: stop where it is, or abort it (everything back on the
/// stable RC); either way an error quoting the signal.
async fn failed(
    ctx: &Ctx,
    pair: &Pair<'_>,
    policy: &FailurePolicy,
    signal: &Signal,
) -> EngineError {
    match policy.on_failure {
        OnFailure::Stop => EngineError::BadVersion(format!(
            "{signal}; canary stopped, {} still serves; {}",
            pair.old,
            ctx.recovery()
        )),
        OnFailure::Rollback => {
            ctx.line(format!("{signal}: aborting the canary"));
            let back = CanaryRef {
                names: vec![pair.old.to_owned(), pair.new.to_owned()],
                step_period: None,
                min_ready_seconds: pair.min_ready_seconds,
            };
            match abort(ctx, &back).await {
                Ok(()) => EngineError::BadVersion(format!(
                    "{signal}; canary aborted, all pods back on {}",
                    pair.old
                )),
                Err(e) => {
                    EngineError::BadVersion(format!("{signal}; aborting the canary failed: {e}"))
                }
            }
        }
    }
}

async fn promote_finish(ctx: &Ctx, pair: &Pair<'_>) -> Result<()> {
    ctx.line(format!("Update succeeded. Deleting {}", pair.old));
    api::delete_rc(ctx, pair.old, PropagationPolicy::Background).await?;
    clear_canary(ctx, pair.new).await
}

async fn clear_canary(ctx: &Ctx, new_name: &str) -> Result<()> {
    api::update_rc(ctx, new_name, |rc| {
        Ok(remove_annotations(
            &mut rc.metadata,
            &[CANARY_OF, CANARY_STEPS],
        ))
    })
    .await?;
    ctx.line(format!("replicationcontroller/{new_name} promoted"));
    Ok(())
}

async fn pause_message(ctx: &Ctx, pair: &Pair<'_>, all: &[u32]) -> Result<()> {
    let new = api::get_rc(ctx, pair.new).await?;
    let replicas = spec_replicas(&new);
    let step = current_step(all, replicas).map_or(0, |i| i + 1);
    ctx.line(format!(
        "Canary paused at step {step}/{}: {replicas} of {} pods on {}. Continue with: {}; abort with: {}",
        all.len(),
        pair.total,
        pair.new,
        ctx.hints.command(&["canary", "promote", pair.old, pair.new]),
        ctx.hints.command(&["canary", "abort", pair.old, pair.new]),
    ));
    Ok(())
}

/// The canary RC may be continued only if it was made for this stable RC and has the image.
fn check_existing(
    existing: &ReplicationController,
    old: &ReplicationController,
    change: &ImageChange,
) -> Result<()> {
    check_pair(old, existing)?;
    if let Some(image) = side_by_side::other_image(existing, change) {
        return Err(EngineError::invalid(format!(
            "Found existing canary to image ({image}); promote or abort it first"
        )));
    }
    Ok(())
}

fn check_pair(old: &ReplicationController, new: &ReplicationController) -> Result<()> {
    if side_by_side::made_from(new, old, CANARY_OF) {
        Ok(())
    } else {
        Err(EngineError::invalid(format!(
            "replicationcontroller {} already exists and is not a canary of {}",
            name_of(new),
            name_of(old)
        )))
    }
}

/// The total and resolved steps recorded when the canary started.
fn recorded_plan(
    old: &ReplicationController,
    new: &ReplicationController,
) -> Result<(u32, Vec<u32>)> {
    let total = annotations::replicas(
        old.metadata.annotations.as_ref(),
        ORIGINAL_REPLICAS,
        name_of(old),
    )?
    .ok_or_else(|| {
        EngineError::Inconsistent(format!(
            "replicationcontroller {} has no {ORIGINAL_REPLICAS} annotation",
            name_of(old)
        ))
    })?;
    let steps = annotations::get(new.metadata.annotations.as_ref(), CANARY_STEPS)
        .and_then(annotations::parse_counts)
        .ok_or_else(|| {
            EngineError::Inconsistent(format!(
                "replicationcontroller {} has no readable {CANARY_STEPS} annotation",
                name_of(new)
            ))
        })?;
    Ok((total, steps))
}

/// `[OLD] [NEW]` → both names, from the annotations where a name is missing.
async fn resolve(ctx: &Ctx, names: &[String]) -> Result<(String, String)> {
    match names {
        [old, new] => Ok((old.clone(), new.clone())),
        [one] => {
            let rc = api::get_rc(ctx, one).await?;
            let recorded = rc.metadata.annotations.as_ref();
            if let Some(of) = annotations::get(recorded, CANARY_OF).and_then(SourceId::parse) {
                Ok((of.name, one.clone()))
            } else if let Some(next) = annotations::get(recorded, CANARY_NEXT) {
                Ok((one.clone(), next.to_owned()))
            } else {
                Err(EngineError::invalid(format!(
                    "replicationcontroller {one} is not part of a canary"
                )))
            }
        }
        [] => {
            let canaries: Vec<(String, String)> = api::list_rcs(ctx)
                .await?
                .iter()
                .filter_map(|rc| {
                    annotations::get(rc.metadata.annotations.as_ref(), CANARY_OF)
                        .and_then(SourceId::parse)
                        .map(|of| (of.name, name_of(rc).to_owned()))
                })
                .collect();
            match canaries.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(EngineError::invalid(
                    "no canary in progress in this namespace",
                )),
                _ => Err(EngineError::invalid(
                    "several canaries in progress; name the RCs",
                )),
            }
        }
        _ => Err(EngineError::invalid("give at most two names: OLD NEW")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_check() {
        let old = crate::model::new_rc::tests::tutorial_rc();
        let mut new = old.clone();
        new.metadata.name = Some("kubia-v2".into());
        assert!(check_pair(&old, &new).is_err());
        set_annotation(&mut new.metadata, CANARY_OF, "kubia-v1:uid-1");
        assert!(check_pair(&old, &new).is_ok());
        set_annotation(&mut new.metadata, CANARY_STEPS, "1,2");
        let mut old_annotated = old.clone();
        set_annotation(&mut old_annotated.metadata, ORIGINAL_REPLICAS, "3");
        assert_eq!(
            recorded_plan(&old_annotated, &new).ok(),
            Some((3, vec![1, 2]))
        );
        assert!(recorded_plan(&old, &new).is_err());
    }
}
