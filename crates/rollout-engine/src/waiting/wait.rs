//! The engine's one wait loop, in the spirit of kube-runtime's `await_condition`: look at
//! the cluster, stop when the condition holds, otherwise say what is awaited and sleep until
//! a followed object changes ([`Wake`]) or a pause passes, and fail after `--timeout` without
//! progress with a message that names what holds things up.
//!
//! Every loop that waits on the cluster goes through [`until`]: the rolling update's scale
//! loop (whose look also applies a step), the waits for one RC's pods (`settle`), an RC's
//! deletion ([`until_rc_gone`]),
//! the controller observing a generation, the EndpointSlice controller listing pods, and the
//! analysis window of a new version. Only the look differs.

use std::time::Duration;

use tokio::time::Instant;

use crate::api;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::waiting::wake::Wake;

/// What one look at the cluster found.
pub(crate) enum Look<T> {
    /// The condition holds: the loop returns this.
    Done(T),
    /// The look changed something (a scale was applied): that is progress, look again now.
    Acted,
    /// The look found its view outdated (a write lost to a concurrent one): look again now.
    Again,
    /// Not yet.
    Pending(Pending),
}

/// Why a look found the condition not yet holding, and how to go on.
pub(crate) struct Pending {
    /// What is awaited, for the `Waiting` event (`waiting for …`).
    pub waiting: String,
    /// The error if `--timeout` passes without progress (the recovery hint is appended).
    pub stuck: String,
    /// Whether this look saw progress, which restarts the timeout.
    pub progressed: bool,
    /// The longest pause before the next look (a followed change ends it earlier).
    pub max: Duration,
}

impl<T> Look<T> {
    /// Not yet, without progress, looking again after at most `max`.
    pub(crate) fn pending(waiting: String, stuck: String, max: Duration) -> Self {
        Look::Pending(Pending {
            waiting,
            stuck,
            progressed: false,
            max,
        })
    }
}

/// Looks with `look` until it returns [`Look::Done`]. Between looks it waits on the objects
/// `look` asked the [`Wake`] to follow, at most [`Pending::max`]; it fails with
/// [`EngineError::Stuck`] once `--timeout` passes without progress, and on Ctrl-C.
pub(crate) async fn until<T>(
    ctx: &Ctx,
    mut look: impl AsyncFnMut(&mut Wake) -> Result<Look<T>>,
) -> Result<T> {
    let mut wake = Wake::new();
    let mut last_progress = Instant::now();
    loop {
        ctx.check_cancel()?;
        match look(&mut wake).await? {
            Look::Done(value) => return Ok(value),
            Look::Acted => last_progress = Instant::now(),
            Look::Again => {}
            Look::Pending(pending) => {
                if pending.progressed {
                    last_progress = Instant::now();
                } else if last_progress.elapsed() > ctx.timing.timeout {
                    return Err(EngineError::Stuck(format!(
                        "{}; {}",
                        pending.stuck,
                        ctx.recovery()
                    )));
                }
                ctx.emit(Event::Waiting(pending.waiting));
                wake.wait(ctx, pending.max).await?;
            }
        }
    }
}

/// The pause between looks at objects that are not followed by a watch of their own change
/// (the controller's status, an RC's deletion): short, since these waits are short.
pub(crate) fn short_pause(ctx: &Ctx) -> Duration {
    ctx.timing.poll_interval.min(Duration::from_secs(1))
}

/// Waits until RC `name` is gone (an orphaning delete finishes only after the garbage
/// collector has released the pods).
pub(crate) async fn until_rc_gone(ctx: &Ctx, name: &str) -> Result<()> {
    until(ctx, async |wake: &mut Wake| {
        let Some(rc) = api::get_rc_opt(ctx, name).await? else {
            return Ok(Look::Done(()));
        };
        wake.follow_rc(ctx, &rc);
        Ok(Look::pending(
            format!("waiting for replicationcontroller {name} to be deleted"),
            format!("timed out waiting for replicationcontroller {name} to be deleted"),
            short_pause(ctx),
        ))
    })
    .await
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
