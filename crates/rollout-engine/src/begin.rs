//! How every method starts, once and alike.
//!
//! A method first reads and checks what it needs (on the preflight context: nothing has
//! changed yet, so an unreachable cluster fails within seconds). Then, before its first
//! change, [`begin`] runs the same two steps for every method, in the same order and on the
//! same short budget: the RBAC preflight for everything the method will call (one error
//! naming every missing permission), then the Leases of the RCs it changes (refused while
//! another engine holds one). The work itself runs on the caller's context, with the full
//! `--timeout` budget, and the Leases are released however it ends.
//!
//! With `--detach` ([`crate::Ctx::checking_only`]) the method stops here instead, having
//! checked everything: the permissions of the update and of handing it to a Job, no Job
//! already running it, its Leases free. A client run is refused while a detached update
//! of the same RCs runs; a rollback stops it first ([`begin_taking_over`]).
//!
//! A method that learns the name of another RC to hold only under its first Lease (the
//! rolling update's new RC, planned from the old RC as it is once held) takes that Lease
//! with [`lease::holding`] inside the work.

use std::future::Future;

use crate::access::{self, Need};
use crate::context::Ctx;
use crate::detach;
use crate::error::{EngineError, Result};
use crate::lease;

/// Checks `needs`, takes the Leases of `rcs`, runs `work`, releases the Leases.
///
/// `work` is boxed before the returned future exists, so that future stays small (see
/// [`lease::holding`]).
pub(crate) fn begin<'a, T: 'a>(
    ctx: &'a Ctx,
    needs: &'a [Need],
    rcs: &'a [&'a str],
    work: impl Future<Output = Result<T>> + 'a,
) -> impl Future<Output = Result<T>> + 'a {
    let work = Box::pin(work);
    async move {
        let pre = ctx.preflight();
        ctx.record_begun(needs, rcs);
        if ctx.check_only {
            // `--detach`: what the Job's pod will need, and what handing it over needs.
            access::check(&pre, &[needs, access::DETACH].concat()).await?;
            detach::refuse_running(&pre, rcs).await?;
            lease::check_free(&pre, rcs).await?;
            return Err(EngineError::CheckedOnly);
        }
        access::check(&pre, needs).await?;
        if ctx.in_job.is_none() {
            detach::refuse_running(&pre, rcs).await?;
        }
        lease::holding(&pre, rcs, work).await
    }
}

/// [`begin`] for a method that undoes an update (`--rollback`): a detached update of `rcs`
/// still running is stopped first (its Job suspended, its pod gone, the Job deleted), so
/// that its Lease passes cleanly to this run.
pub(crate) fn begin_taking_over<'a, T: 'a>(
    ctx: &'a Ctx,
    needs: &'a [Need],
    rcs: &'a [&'a str],
    work: impl Future<Output = Result<T>> + 'a,
) -> impl Future<Output = Result<T>> + 'a {
    let work = Box::pin(work);
    async move {
        if !ctx.check_only && ctx.in_job.is_none() {
            detach::stop_running(&ctx.preflight(), ctx, rcs).await?;
        }
        begin(ctx, needs, rcs, work).await
    }
}
