//! Waiting for one RC's pods, for the methods that scale in big steps (recreate, blue-green,
//! canary): through [`wait::until`], observe whenever the RC or its pods change (at least
//! every `--poll-interval`) until a condition holds, fail after `--timeout` without progress,
//! naming the pods that hold things up.

use rollout_plan::Side;
use rollout_plan::health::{Signal, assess};

use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::health::{self, FailurePolicy};
use crate::model::side::{self, RcState};
use crate::waiting::wait::{self, Look, Pending, humanize};
use crate::waiting::wake::{self, Wake};

/// Observes RC `name` until `done` holds for its state. Progress (which restarts the timeout)
/// is any change of the RC's counts. `goal` describes what we wait for, for messages.
pub(crate) async fn until_rc<F>(
    ctx: &Ctx,
    name: &str,
    min_ready_seconds: u32,
    goal: &str,
    done: F,
) -> Result<RcState>
where
    F: Fn(&RcState) -> bool,
{
    let mut last_side: Option<Side> = None;
    wait::until(ctx, async |wake: &mut Wake| {
        let state = wake
            .observe(ctx, name, min_ready_seconds)
            .await?
            .ok_or_else(|| EngineError::RcNotFound(name.to_owned()))?;
        if done(&state) {
            return Ok(Look::Done(state));
        }
        let progressed = last_side != Some(state.side);
        last_side = Some(state.side);
        Ok(Look::Pending(Pending {
            waiting: format!(
                "waiting for {goal} ({} of {} available)",
                state.side.available, state.side.spec
            ),
            stuck: format!(
                "timed out after {} waiting for {goal}: {}",
                humanize(ctx.timing.timeout),
                side::describe_unavailable(&state, min_ready_seconds)
            ),
            progressed,
            max: wake::interval(ctx, &[&state], min_ready_seconds),
        }))
    })
    .await
}

/// Settled at its spec with every pod available.
pub(crate) fn all_available(state: &RcState) -> bool {
    state.side.is_settled() && state.side.available >= state.side.spec
}

/// Waits until RC `name` is settled at its spec with all pods available.
pub(crate) async fn until_all_available(
    ctx: &Ctx,
    name: &str,
    min_ready_seconds: u32,
) -> Result<RcState> {
    let goal = format!("the pods of {name} to become available");
    until_rc(ctx, name, min_ready_seconds, &goal, all_available).await
}

/// [`until_all_available`], unless a failure signal of `policy` fires in the RC's pods
/// first (then `Err(signal)` inside `Ok`).
pub(crate) async fn until_available_unless_failed(
    ctx: &Ctx,
    name: &str,
    min_ready_seconds: u32,
    policy: &FailurePolicy,
) -> Result<std::result::Result<RcState, Signal>> {
    let goal = format!("the pods of {name} to become available");
    let check = |s: &RcState| {
        assess(
            name,
            &health::new_pods(&s.pods, side::now_seconds()),
            None,
            &policy.thresholds,
        )
    };
    let state = until_rc(ctx, name, min_ready_seconds, &goal, |s| {
        all_available(s) || check(s).is_some()
    })
    .await?;
    Ok(match check(&state) {
        Some(signal) => Err(signal),
        None => Ok(state),
    })
}

/// Waits until RC `name` is settled at its spec (pods created or deleted), ready or not.
pub(crate) async fn until_settled(ctx: &Ctx, name: &str) -> Result<RcState> {
    let goal = format!("replicationcontroller {name} to reach its replica count");
    until_rc(ctx, name, 0, &goal, |s| s.side.is_settled()).await
}
