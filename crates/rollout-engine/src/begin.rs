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
//! A method that learns the name of another RC to hold only under its first Lease (the
//! rolling update's new RC, planned from the old RC as it is once held) takes that Lease
//! with [`lease::holding`] inside the work.

use std::future::Future;

use crate::access::{self, Need};
use crate::context::Ctx;
use crate::error::Result;
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
        access::check(&pre, needs).await?;
        lease::holding(&pre, rcs, work).await
    }
}
