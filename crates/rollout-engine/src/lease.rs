//! One engine per ReplicationController at a time.
//!
//! Two terminals running `rolling-update` on the same RCs would each scale them from their
//! own view and undo each other's steps. Before it plans, an engine that will write takes a
//! `coordination.k8s.io` Lease named `rolling-update.<rc>` for every RC it touches (the old
//! and the new: `kubia-v2 -> kubia-v3` is refused while `kubia-v1 -> kubia-v2` runs), renews
//! them while it works and deletes them when it stops. Another engine finding a Lease held
//! refuses with the holder's name.
//!
//! When is a Lease free? Its holder's `renewTime` is the holder's clock, not ours, so it may
//! only ever make us *refuse*: a Lease is taken over once this process has seen it unchanged
//! for its whole duration by its own monotonic clock (client-go's leader election judges
//! expiry the same way), or at once when its holder is a process of this kernel and PID
//! namespace that no longer runs ([`identity`]), so a killed run can be resumed right away.
//!
//! A holder that loses its Lease (another engine took it over) stops before its next change
//! and exits with the resume command. When renewals fail for the Lease's duration (an API
//! server restart, a partition), nothing more is changed until a renewal proves the Lease is
//! still ours. Writes use the Lease's resourceVersion, so two engines racing for a free Lease
//! cannot both win.

pub mod identity;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, PostParams, Preconditions};
use tokio::sync::watch;

use crate::context::{Ctx, HeldSet};
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::retry::call;

/// How long a Lease stays valid without renewal.
pub const DURATION: Duration = Duration::from_secs(30);
/// How often the holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(10);
/// How often a failed renewal is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(2);
/// How often a Lease whose holder may be gone is read while watching it.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How far in the future a holder's `renewTime` may be (its clock ahead of ours) and still
/// count as fresh, for a refusal.
const CLOCK_SLACK_SECS: i64 = 5;
/// The longest a Lease is watched, whatever duration its holder wrote.
const WATCH_AT_MOST: Duration = Duration::from_secs(300);

/// The Lease guarding updates of `rc`.
pub fn name(rc: &str) -> String {
    format!("rolling-update.{rc}")
}

/// Who this process is ([`identity`]); each operation's `holderIdentity` is this with the
/// operation's number after it.
pub fn identity() -> String {
    identity::me().render()
}

/// What to do about an existing Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Ours already, released, or its holder's process is certainly gone: take it.
    Take,
    /// Held by someone else, renewed recently by the clocks: refuse, with this explanation.
    Held(String),
    /// Not renewed recently by the clocks, or renewed in our future: the clocks cannot be
    /// trusted to take it, so watch whether it changes for its duration.
    Watch,
}

/// Decides whether `me` may take `lease` at `now` (pure). `gone` says whether a holder
/// identity is certainly a process that no longer runs.
pub fn decide(lease: &Lease, me: &str, now: Timestamp, gone: impl Fn(&str) -> bool) -> Verdict {
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.unwrap_or_default();
    if holder.is_empty() || holder == me || gone(&holder) {
        return Verdict::Take;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0).max(0));
    let renewed = spec
        .renew_time
        .or(spec.acquire_time)
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let age = now.as_second() - renewed.as_second();
    if age < -CLOCK_SLACK_SECS || age >= duration {
        return Verdict::Watch;
    }
    Verdict::Held(format!(
        "held by {holder} (Lease {}, renewed {}s ago; taken over only once it stays unrenewed for {duration}s)",
        lease.metadata.name.as_deref().unwrap_or_default(),
        age.max(0)
    ))
}

/// A Lease as this process has seen it: the version and since when, by our own clock.
#[derive(Debug, Clone)]
pub struct Sighting {
    version: Option<String>,
    since: Instant,
    duration: Duration,
}

/// What a new read of a watched Lease says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Written since: its holder (or another engine) is alive.
    Changed,
    /// Unchanged, but not yet for its whole duration.
    Unchanged,
    /// Unchanged for its whole duration: free.
    Expired,
}

impl Sighting {
    /// The first sight of `lease`, at `at`.
    pub fn new(lease: &Lease, at: Instant) -> Self {
        let secs = lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_duration_seconds)
            .unwrap_or(0)
            .max(1);
        Sighting {
            version: lease.metadata.resource_version.clone(),
            since: at,
            duration: Duration::from_secs(u64::from(secs.unsigned_abs())).min(WATCH_AT_MOST),
        }
    }

    /// Judges a later read of the same Lease.
    pub fn see(&self, lease: &Lease, at: Instant) -> Seen {
        if lease.metadata.resource_version != self.version {
            Seen::Changed
        } else if at.saturating_duration_since(self.since) >= self.duration {
            Seen::Expired
        } else {
            Seen::Unchanged
        }
    }
}

/// The Leases one operation holds: renewed in the background until [`Held::release`].
/// Leases this operation already held (a rollback started by a failed update) are not in
/// it: the outer holder releases them.
pub struct Held(Vec<Renewing>);

struct Renewing {
    api: Api<Lease>,
    name: String,
    /// The operation's set of held Leases, and this one's key in it.
    held: HeldSet,
    key: (String, String),
    stop: watch::Sender<bool>,
    /// Returns the Lease as last written by us (the renewer's last success). Taken by
    /// [`Renewing::release`]; aborted on drop (an operation dropped midway renews nothing).
    renewer: Option<tokio::task::JoinHandle<Lease>>,
}

impl Drop for Renewing {
    fn drop(&mut self) {
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}

/// Takes the Leases for updates of `rcs` (in name order, each once), or refuses naming the
/// first holder, releasing what it took.
pub async fn acquire(ctx: &Ctx, rcs: &[&str]) -> Result<Held> {
    let mut names: Vec<&str> = rcs.to_vec();
    names.sort_unstable();
    names.dedup();
    let mut held = Held(Vec::new());
    for rc in names {
        match acquire_one(ctx, rc).await {
            Ok(Some(renewing)) => held.0.push(renewing),
            Ok(None) => {}
            Err(e) => {
                held.release().await;
                return Err(e);
            }
        }
    }
    Ok(held)
}

async fn acquire_one(ctx: &Ctx, rc: &str) -> Result<Option<Renewing>> {
    let api: Api<Lease> = Api::namespaced(ctx.cluster.client.clone(), ctx.namespace());
    let name = name(rc);
    let key = (ctx.namespace().to_owned(), name.clone());
    if ctx.leases.contains(&key) {
        return Ok(None);
    }
    let me = ctx.leases.identity().to_owned();
    let gone = |holder: &str| {
        identity::Holder::parse(holder).is_some_and(|h| {
            h.is_gone(identity::me(), identity::start_of)
                || h.is_ended_operation_of(identity::me(), identity::is_live)
        })
    };
    let refused = |why: String| {
        EngineError::Invalid(format!(
            "replicationcontroller {rc} is being updated by another engine: {why}"
        ))
    };
    // Usually there is no Lease: create it without reading first. A race with another engine
    // or an existing Lease (AlreadyExists, Conflict) is decided by reading again.
    let mut read_first = false;
    let mut conflicts = 0;
    let mut watching: Option<Sighting> = None;
    // A detached update's pod waits for the Lease of the pod before it (stopping, or gone
    // with its node) instead of refusing, for at most `--timeout`.
    let waiting_since = Instant::now();
    let mut announced = false;
    let mut wait_in_job = |why: &str| -> bool {
        if ctx.in_job.is_none() || waiting_since.elapsed() >= ctx.timing.timeout {
            return false;
        }
        if !announced {
            announced = true;
            ctx.emit(Event::Warning(format!(
                "lease {name} is {why}; waiting for it (at most {}s)",
                ctx.timing.timeout.as_secs()
            )));
        }
        true
    };
    while conflicts < 5 {
        let now = Timestamp::now();
        let existing = if read_first {
            let what = format!("reading lease {name}");
            call(ctx, &what, || api.get_opt(&name)).await?
        } else {
            None
        };
        read_first = true;
        let written = match existing {
            None => {
                let lease = fresh(&name, &me, now, 0, ctx.lease_note.as_deref());
                let what = format!("creating lease {name}");
                let pp = PostParams::default();
                call(ctx, &what, || api.create(&pp, &lease)).await
            }
            Some(lease) => {
                let verdict = match decide(&lease, &me, now, gone) {
                    Verdict::Watch => {
                        let seen = watching.get_or_insert_with(|| {
                            ctx.emit(Event::Warning(format!(
                                "lease {name} of {} looks unrenewed by the clocks; watching it for {}s before taking it over",
                                holder_of(&lease),
                                lease_secs(&lease)
                            )));
                            Sighting::new(&lease, Instant::now())
                        });
                        match seen.see(&lease, Instant::now()) {
                            Seen::Expired => Verdict::Take,
                            Seen::Unchanged => {
                                ctx.sleep(POLL_EVERY).await?;
                                continue;
                            }
                            Seen::Changed => {
                                let why = format!(
                                    "held by {} (Lease {name}, renewed while we watched it)",
                                    holder_of(&lease)
                                );
                                if wait_in_job(&why) {
                                    watching = None;
                                    ctx.sleep(POLL_EVERY).await?;
                                    continue;
                                }
                                return Err(refused(why));
                            }
                        }
                    }
                    other => other,
                };
                match verdict {
                    Verdict::Held(why) => {
                        if wait_in_job(&why) {
                            ctx.sleep(POLL_EVERY).await?;
                            continue;
                        }
                        return Err(refused(why));
                    }
                    _ => {
                        let mut taken = lease.clone();
                        let spec = lease.spec.as_ref();
                        let transitions = spec.and_then(|s| s.lease_transitions).unwrap_or(0);
                        let ours = spec.and_then(|s| s.holder_identity.as_deref()) == Some(&me);
                        let transitions = transitions + i32::from(!ours);
                        let note = ctx.lease_note.as_deref();
                        let fresh = fresh(&name, &me, now, transitions, note);
                        taken.spec = fresh.spec;
                        taken.metadata.annotations = fresh.metadata.annotations;
                        let what = format!("taking lease {name}");
                        let pp = PostParams::default();
                        call(ctx, &what, || api.replace(&name, &pp, &taken)).await
                    }
                }
            }
        };
        match written {
            Ok(stored) => {
                ctx.leases.insert(key.clone());
                return Ok(Some(start_renewing(ctx, api, name, me, &stored, key)));
            }
            Err(EngineError::Api { code: 409, .. }) => {
                conflicts += 1;
                watching = None;
            }
            Err(e) => return Err(e),
        }
    }
    Err(EngineError::Invalid(format!(
        "replicationcontroller {rc}: another engine keeps taking lease {name}; try again"
    )))
}

/// Fails as [`acquire`] would on a Lease of `rcs` that another engine holds, without taking
/// any (`--detach` checks before it hands the update to a Job). A Lease its holder left
/// unrenewed passes: the Job's pod takes it over after watching it.
pub(crate) async fn check_free(ctx: &Ctx, rcs: &[&str]) -> Result<()> {
    let api: Api<Lease> = Api::namespaced(ctx.cluster.client.clone(), ctx.namespace());
    let me = ctx.leases.identity().to_owned();
    for rc in rcs {
        let name = name(rc);
        let what = format!("reading lease {name}");
        let Some(lease) = call(ctx, &what, || api.get_opt(&name)).await? else {
            continue;
        };
        let gone = |holder: &str| {
            identity::Holder::parse(holder)
                .is_some_and(|h| h.is_gone(identity::me(), identity::start_of))
        };
        if let Verdict::Held(why) = decide(&lease, &me, Timestamp::now(), gone) {
            return Err(EngineError::Invalid(format!(
                "replicationcontroller {rc} is being updated by another engine: {why}"
            )));
        }
    }
    Ok(())
}

fn holder_of(lease: &Lease) -> &str {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .unwrap_or("nobody")
}

fn lease_secs(lease: &Lease) -> i32 {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.lease_duration_seconds)
        .unwrap_or(0)
}

/// Runs `work` holding the Leases of `rcs`, releasing them however `work` ends.
///
/// `work` is boxed before the returned future exists, so that future stays small: a
/// command's whole state machine kept inline would sit in its caller's stack frame, too
/// large for a 2 MiB thread in debug builds.
pub fn holding<'a, T: 'a>(
    ctx: &'a Ctx,
    rcs: &'a [&'a str],
    work: impl std::future::Future<Output = Result<T>> + 'a,
) -> impl std::future::Future<Output = Result<T>> + 'a {
    let work = Box::pin(work);
    async move {
        // The RCs an update changes, for the outcome a detached update reports on them.
        ctx.record_begun(&[], rcs);
        let held = Box::pin(acquire(ctx, rcs)).await?;
        let result = work.await;
        held.release().await;
        result
    }
}

/// The annotation a Lease carries with what the engine holding it says about the update
/// (`status -w` shows it): `rolling-update kubia-v1 -> kubia-v2: at most 4 pods, at least 3
/// available`.
pub const NOTE: &str = "rollout.kubia.dev/update";

fn fresh(name: &str, me: &str, now: Timestamp, transitions: i32, note: Option<&str>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            annotations: note.map(|n| [(NOTE.to_owned(), n.to_owned())].into_iter().collect()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(me.to_owned()),
            lease_duration_seconds: Some(DURATION.as_secs() as i32),
            acquire_time: Some(MicroTime(now)),
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }),
    }
}

fn start_renewing(
    ctx: &Ctx,
    api: Api<Lease>,
    name: String,
    me: String,
    stored: &Lease,
    key: (String, String),
) -> Renewing {
    let (stop, mut stopped) = watch::channel(false);
    let (task_api, task_name, task_ctx, task_key) =
        (api.clone(), name.clone(), ctx.clone(), key.clone());
    let mut last = stored.clone();
    let renewal = identity::renewing(&me);
    let renewer = tokio::spawn(async move {
        // Counts this operation as live while the renewer runs (ended or aborted).
        let _renewal = renewal;
        let mut renewed_at = Instant::now();
        let mut failing = false;
        loop {
            let pause = if failing { RETRY_EVERY } else { RENEW_EVERY };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => return last,
            }
            match renew(&task_api, &task_name, &me).await {
                Ok(Ok(renewed)) => {
                    last = renewed;
                    renewed_at = Instant::now();
                    if failing && task_ctx.leases.confirm(&task_key) {
                        task_ctx.emit(Event::Warning(format!(
                            "lease {task_name} renewed again; going on"
                        )));
                    }
                    failing = false;
                }
                Ok(Err(holder)) => {
                    task_ctx
                        .leases
                        .lose(format!("lease {task_name} was taken over by {holder}"));
                    task_ctx.cancel.cancel();
                    last.metadata.resource_version = None;
                    return last;
                }
                Err(e) => {
                    let silent = renewed_at.elapsed();
                    if silent >= DURATION && task_ctx.leases.unconfirm(&task_key) {
                        task_ctx.emit(Event::Warning(format!(
                            "lease {task_name} not renewed for {}s ({}); no changes until it is",
                            silent.as_secs(),
                            crate::error::one_line(&e)
                        )));
                    } else if !failing {
                        task_ctx.emit(Event::Warning(format!(
                            "renewing lease {task_name} failed ({}); trying again every {}s",
                            crate::error::one_line(&e),
                            RETRY_EVERY.as_secs()
                        )));
                    }
                    failing = true;
                }
            }
        }
    });
    Renewing {
        api,
        name,
        held: ctx.leases.clone(),
        key,
        stop,
        renewer: Some(renewer),
    }
}

/// Renews the Lease if it is still ours (returning it as stored), or names who holds it now.
async fn renew(
    api: &Api<Lease>,
    name: &str,
    me: &str,
) -> Result<Result<Lease, String>, kube::Error> {
    let Some(mut lease) = api.get_opt(name).await? else {
        return Ok(Err("nobody (it was deleted)".to_owned()));
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(me) {
        return Ok(Err(holder_of(&lease).to_owned()));
    }
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    api.replace(name, &PostParams::default(), &lease)
        .await
        .map(Ok)
}

impl Held {
    /// Adds `more` to the Leases held.
    pub fn add(&mut self, more: Held) {
        self.0.extend(more.0);
    }

    /// Stops renewing and deletes the Leases still ours. Failures only cost the next engine
    /// the wait until a Lease expires, so they are logged, not returned.
    pub async fn release(self) {
        for r in self.0 {
            r.release().await;
        }
    }
}

impl Renewing {
    async fn release(mut self) {
        let r = &mut self;
        let _ = r.stop.send(true);
        let last = match r.renewer.take() {
            Some(renewer) => renewer.await.ok(),
            None => None,
        };
        r.held.remove(&r.key);
        // Deleting the Lease as we last wrote it needs no read; if it changed since (taken
        // over), the precondition fails and we look at who holds it now.
        if let Some(last) = last.filter(|l| l.metadata.resource_version.is_some()) {
            match r.api.delete(&r.name, &unchanged_since(&last)).await {
                Ok(_) => return,
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(kube::Error::Api(status)) if status.code == 404 => return,
                Err(e) => {
                    tracing::warn!(lease = %r.name, error = %e, "releasing the lease");
                    return;
                }
            }
        }
        let me = r.held.identity().to_owned();
        match r.api.get_opt(&r.name).await {
            Ok(Some(lease)) if holder_of(&lease) == me => {
                if let Err(e) = r.api.delete(&r.name, &unchanged_since(&lease)).await {
                    tracing::warn!(lease = %r.name, error = %e, "releasing the lease");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(lease = %r.name, error = %e, "reading the lease"),
        }
    }
}

/// Delete options that succeed only if `lease` was not written since.
fn unchanged_since(lease: &Lease) -> DeleteParams {
    DeleteParams {
        preconditions: Some(Preconditions {
            resource_version: lease.metadata.resource_version.clone(),
            uid: lease.metadata.uid.clone(),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
