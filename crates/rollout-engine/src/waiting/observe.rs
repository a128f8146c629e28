//! Observing one RC afresh: a GET of the RC and a LIST of its pods, reduced to [`RcState`]
//! (see [`crate::model::side`]). The wait loops decide on watch caches when `cache`'s rules
//! allow and come here when they do not (`wake`).

use std::sync::Arc;

use crate::api;
use crate::context::Ctx;
use crate::error::Result;
use crate::model::labels::rc_selector;
use crate::model::side::{RcState, live_owned_pods, now_seconds, side_of};

/// Reads an RC and its pods; `None` if the RC does not exist.
pub(crate) async fn observe(
    ctx: &Ctx,
    name: &str,
    min_ready_seconds: u32,
) -> Result<Option<RcState>> {
    let Some(rc) = api::get_rc_opt(ctx, name).await? else {
        return Ok(None);
    };
    let pods = api::list_pods(ctx, &rc_selector(&rc)).await?;
    let pods = live_owned_pods(&rc, pods.into_iter().map(Arc::new).collect());
    let side = side_of(&rc, &pods, min_ready_seconds, now_seconds());
    Ok(Some(RcState { rc, side, pods }))
}

/// [`observe`] of an RC the update needs: its disappearance mid-update is an error naming it,
/// with the recovery commands.
pub(crate) async fn required(ctx: &Ctx, name: &str, min_ready_seconds: u32) -> Result<RcState> {
    observe(ctx, name, min_ready_seconds)
        .await?
        .ok_or_else(|| disappeared(ctx, name))
}

/// The error for an RC the update needs that is gone, with the recovery commands.
pub(crate) fn disappeared(ctx: &Ctx, name: &str) -> crate::error::EngineError {
    crate::error::EngineError::Inconsistent(format!(
        "replicationcontroller {name} disappeared during the update; {}",
        ctx.recovery()
    ))
}
