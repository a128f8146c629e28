//! The scale loop shared by the rolling update and its rollback: observe both RCs, ask the
//! planner, apply one scale, repeat until [`Step::Done`].
//!
//! Why a loop around a stateless planner: nothing is remembered between iterations except
//! the time of the last progress, so a restarted CLI enters the same loop and continues from
//! whatever the cluster shows. Scales are conditional (`spec.replicas` must still be what was
//! observed), so a concurrent change makes us re-plan instead of overwrite. Waits end as soon
//! as either RC or one of their pods changes (`wake`), at the latest after `--poll-interval`.

use std::time::Duration;

use rollout_plan::health::{Signal, assess};
use rollout_plan::{Limits, Observed, Step, WaitReason, describe_start, next_step};
use tokio::time::Instant;

use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::events::{Event, Progress};
use crate::health::{self, FailurePolicy};
use crate::observe::{self, RcState};
use crate::ops::{self, Scaled};
use crate::wake::{self, Wake};

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
    let mut last_progress = Instant::now();
    let mut announced = false;
    let mut wake = Wake::new();
    loop {
        ctx.check_cancel()?;
        let old = observe::required(ctx, drive.old, drive.min_ready_seconds).await?;
        let new = observe::required(ctx, drive.new, drive.min_ready_seconds).await?;
        wake.follow(ctx, &old);
        wake.follow(ctx, &new);
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
            let pods = health::new_pods(&new.pods, observe::now_seconds());
            if let Some(signal) = assess(drive.new, &pods, None, &policy.thresholds) {
                return Ok(End::Failed(signal));
            }
        }
        let step = next_step(&drive.limits, &observed);
        match step {
            Step::Done => return Ok(End::Done),
            Step::ScaleNew { from, to } | Step::ScaleOld { from, to } => {
                let name = if matches!(step, Step::ScaleNew { .. }) {
                    drive.new
                } else {
                    drive.old
                };
                if ops::scale_rc(ctx, name, from, to).await? == Scaled::Applied {
                    if let Some(line) = step.describe(drive.old, drive.new) {
                        ctx.line(line);
                    }
                    last_progress = Instant::now();
                    if matches!(step, Step::ScaleNew { .. }) && to > from {
                        ctx.emit(Event::Waiting(format!(
                            "waiting {} (update period) before the next step",
                            humanize(drive.update_period)
                        )));
                        ctx.sleep(drive.update_period).await?;
                    }
                }
            }
            Step::Wait(reason) => {
                if last_progress.elapsed() > ctx.timing.timeout {
                    return Err(stuck(ctx, drive, reason, &old, &new));
                }
                ctx.emit(Event::Waiting(reason.to_string()));
                let max = wake::interval(ctx, &[&old, &new], drive.min_ready_seconds);
                wake.wait(ctx, max).await?;
            }
        }
    }
}

/// `1m0s`-style durations, as kubectl printed them.
pub(crate) fn humanize(duration: Duration) -> String {
    let secs = duration.as_secs();
    let millis = duration.subsec_millis();
    if duration.is_zero() {
        return "0s".to_owned();
    }
    if secs == 0 {
        return format!("{millis}ms");
    }
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let s = if millis > 0 {
        format!("{s}.{millis:03}").trim_end_matches('0').to_owned() + "s"
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => s,
        (0, m) => format!("{m}m{s}"),
        (h, m) => format!("{h}h{m}m{s}"),
    }
}

/// The error for no progress within `--timeout`: what is stuck (pods by name and reason),
/// that the old pods still serve, and how to roll back.
fn stuck(
    ctx: &Ctx,
    drive: &Drive<'_>,
    reason: WaitReason,
    old: &RcState,
    new: &RcState,
) -> EngineError {
    let detail = match reason {
        WaitReason::NewPodsNotAvailable { waiting } => format!(
            "{waiting} new pod{} of {} not available: {}",
            if waiting == 1 { "" } else { "s" },
            drive.new,
            observe::describe_unavailable(new, drive.min_ready_seconds)
        ),
        WaitReason::Settling { role } => {
            let state = if role == rollout_plan::Role::New {
                new
            } else {
                old
            };
            format!(
                "replicationcontroller {} has {} of {} pods",
                crate::labels::name_of(&state.rc),
                state.side.current,
                state.side.spec
            )
        }
    };
    EngineError::Stuck(format!(
        "timed out after {} waiting for any update progress to be made: {detail}; {} still has {} available pods; {}",
        humanize(ctx.timing.timeout),
        drive.old,
        old.side.available,
        ctx.recovery()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(humanize(Duration::from_secs(60)), "1m0s");
        assert_eq!(humanize(Duration::from_secs(3)), "3s");
        assert_eq!(humanize(Duration::from_secs(300)), "5m0s");
        assert_eq!(humanize(Duration::from_secs(3725)), "1h2m5s");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
        assert_eq!(humanize(Duration::ZERO), "0s");
    }
}
