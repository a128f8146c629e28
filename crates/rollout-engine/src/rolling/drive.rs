//! The scale loop shared by the rolling update and its rollback: observe both RCs, ask the
//! planner, apply one scale, repeat until [`Step::Done`].
//!
//! Why a loop around a stateless planner: nothing is remembered between iterations except
//! the time of the last progress (kept by `wait::until`), so a restarted CLI enters the same loop and continues from
//! whatever the cluster shows. Scales are conditional (`spec.replicas` must still be what was
//! observed), so a concurrent change makes us re-plan instead of overwrite. Waits end as soon
//! as either RC or one of their pods changes (`wake`), at the latest after `--poll-interval`.

use std::time::Duration;

use rollout_plan::health::{Signal, assess};
use rollout_plan::{Limits, Observed, Step, WaitReason, describe_start, next_step};

use crate::api::{self, Scaled};
use crate::context::Ctx;
use crate::error::Result;
use crate::events::{Event, Progress};
use crate::health::{self, FailurePolicy};
use crate::model::side::{self, RcState};
use crate::waiting::wait::{self, Look, humanize};
use crate::waiting::wake::{self, Wake};

/// One rolling update's parameters, with roles already assigned (a rollback swaps them).
#[derive(Debug, Clone)]
pub(crate) struct Drive<'a> {
    /// The RC being drained.
    pub old: &'a str,
    /// The RC being filled.
    pub new: &'a str,
    /// Resolved bounds.
    pub limits: Limits,
    /// Seconds a pod must be Ready to count as available.
    pub min_ready_seconds: u32,
    /// Pause after each scale-up (kubectl's `--update-period`).
    pub update_period: Duration,
    /// The failure signals to watch in the new RC's pods (none for a rollback: going back
    /// is never stopped by the version it returns to).
    pub health: Option<&'a FailurePolicy>,
}

/// How the loop ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum End {
    /// The new RC has `desired` replicas and the old one none.
    Done,
    /// A failure signal fired in the new RC's pods; nothing was changed after it.
    Failed(Signal),
}

/// Runs the loop until the new RC has `desired` replicas and the old one none, or a
/// failure signal fires.
pub(crate) async fn run(ctx: &Ctx, drive: &Drive<'_>) -> Result<End> {
    let mut announced = false;
    wait::until(ctx, async |wake: &mut Wake| {
        wake.together(&[drive.old, drive.new]);
        let old = wake
            .required(ctx, drive.old, drive.min_ready_seconds)
            .await?;
        let new = wake
            .required(ctx, drive.new, drive.min_ready_seconds)
            .await?;
        let observed = Observed {
            old: old.side,
            new: new.side,
        };
        ctx.emit(Event::Progress(Progress {
            old_name: drive.old.to_owned(),
            new_name: drive.new.to_owned(),
            old: old.side,
            new: new.side,
            desired: drive.limits.desired,
        }));
        if !announced {
            ctx.line(describe_start(
                drive.old,
                drive.new,
                &drive.limits,
                &observed,
            ));
            announced = true;
        }
        if let Some(policy) = drive.health {
            let pods = health::new_pods(&new.pods, side::now_seconds());
            if let Some(signal) = assess(drive.new, &pods, None, &policy.thresholds) {
                return Ok(Look::Done(End::Failed(signal)));
            }
        }
        let step = next_step(&drive.limits, &observed);
        match step {
            Step::Done => Ok(Look::Done(End::Done)),
            Step::ScaleNew { from, to } | Step::ScaleOld { from, to } => {
                let scale_up = matches!(step, Step::ScaleNew { .. });
                let (name, rc) = if scale_up {
                    (drive.new, &new.rc)
                } else {
                    (drive.old, &old.rc)
                };
                if let Scaled::Applied { generation } =
                    api::scale_observed(ctx, rc, from, to).await?
                {
                    wake.wrote(name, generation);
                    if let Some(line) = step.describe(drive.old, drive.new) {
                        ctx.line(line);
                    }
                    if scale_up && to > from {
                        ctx.emit(Event::Waiting(format!(
                            "waiting {} (update period) before the next step",
                            humanize(drive.update_period)
                        )));
                        ctx.sleep(drive.update_period).await?;
                    }
                    return Ok(Look::Acted);
                }
                // Someone else changed the RC: observe again at once, afresh.
                wake.refresh();
                Ok(Look::Again)
            }
            Step::Wait(reason) => Ok(Look::pending(
                reason.to_string(),
                stuck(ctx, drive, reason, &old, &new),
                wake::interval(ctx, &[&old, &new], drive.min_ready_seconds),
            )),
        }
    })
    .await
}

/// The error for no progress within `--timeout`: what is stuck (pods by name and reason),
/// that the old pods still serve, and how to roll back.
fn stuck(ctx: &Ctx, drive: &Drive<'_>, reason: WaitReason, old: &RcState, new: &RcState) -> String {
    let detail = match reason {
        WaitReason::NewPodsNotAvailable { waiting } => format!(
            "{waiting} new pod{} of {} not available: {}",
            if waiting == 1 { "" } else { "s" },
            drive.new,
            side::describe_unavailable(new, drive.min_ready_seconds)
        ),
        WaitReason::Settling { role } => {
            let state = if role == rollout_plan::Role::New {
                new
            } else {
                old
            };
            format!(
                "replicationcontroller {} has {} of {} pods",
                crate::model::labels::name_of(&state.rc),
                state.side.current,
                state.side.spec
            )
        }
    };
    format!(
        "timed out waiting for any update progress to be made (none for {}): {detail}; {} still has {} available pods",
        humanize(ctx.timing.timeout),
        drive.old,
        old.side.available,
    )
}
