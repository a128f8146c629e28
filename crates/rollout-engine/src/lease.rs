//! One engine per ReplicationController at a time.
//!
//! Two terminals running `rolling-update` on the same RC would each scale it and its new RC
//! from their own view and undo each other's steps. Before its first write an engine takes a
//! `coordination.k8s.io` Lease named `rolling-update.<rc>`, renews it while it works and
//! deletes it when it stops. Another engine finding the Lease held and fresh refuses with the
//! holder's name; a Lease is taken over once it expired (its holder died without releasing
//! it), or at once when its holder is a process on this host that no longer exists, so a
//! killed run can be resumed right away.
//!
//! Writes use the Lease's resourceVersion, so two engines racing for an expired Lease cannot
//! both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, PostParams, Preconditions};
use tokio::sync::watch;

use crate::context::{Ctx, HeldSet};
use crate::error::{EngineError, Result};
use crate::retry::call;

/// How long a Lease stays valid without renewal.
pub const DURATION: Duration = Duration::from_secs(30);
/// How often the holder renews it.
const RENEW_EVERY: Duration = Duration::from_secs(10);

/// The Lease guarding updates of `rc`.
pub fn name(rc: &str) -> String {
    format!("rolling-update.{rc}")
}

/// Who we are, as written into `holderIdentity`: `host/pid`.
pub fn identity() -> String {
    format!("{}/{}", hostname(), std::process::id())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// What to do about an existing Lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Ours already, released, expired, or its holder's process is gone: take it.
    Take,
    /// Held by someone else: refuse, with this explanation.
    Held(String),
}

/// Decides whether `me` may take `lease` at `now` (pure). `alive` says whether a process
/// with this PID runs on this host.
pub fn decide(lease: &Lease, me: &str, now: Timestamp, alive: impl Fn(u32) -> bool) -> Verdict {
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.unwrap_or_default();
    if holder.is_empty() || holder == me {
        return Verdict::Take;
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0).max(0));
    let renewed = spec
        .renew_time
        .or(spec.acquire_time)
        .map(|t| t.0)
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let age = now.as_second() - renewed.as_second();
    let left = duration - age;
    if left <= 0 {
        return Verdict::Take;
    }
    let (my_host, _) = me.rsplit_once('/').unwrap_or((me, ""));
    if let Some((host, pid)) = holder.rsplit_once('/')
        && host == my_host
        && let Ok(pid) = pid.parse::<u32>()
        && !alive(pid)
    {
        return Verdict::Take;
    }
    Verdict::Held(format!(
        "held by {holder} (Lease {}, renewed {}s ago; taken over only after it expires, in {left}s)",
        lease.metadata.name.as_deref().unwrap_or_default(),
        age.max(0)
    ))
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// A held Lease: renewed in the background until [`Held::release`]. `None` inside when
/// this operation already held it (a rollback started by a failed update): the outer holder
/// releases it.
pub struct Held(Option<Renewing>);

struct Renewing {
    api: Api<Lease>,
    name: String,
    /// The operation's set of held Leases, and this one's key in it.
    held: HeldSet,
    key: (String, String),
    stop: watch::Sender<bool>,
    /// Returns the Lease as last written by us (the renewer's last success).
    renewer: tokio::task::JoinHandle<Lease>,
}

/// Takes the Lease for updates of `rc`, or refuses naming its holder.
pub async fn acquire(ctx: &Ctx, rc: &str) -> Result<Held> {
    let api: Api<Lease> = Api::namespaced(ctx.cluster.client.clone(), ctx.namespace());
    let name = name(rc);
    let key = (ctx.namespace().to_owned(), name.clone());
    if ctx.leases.contains(&key) {
        return Ok(Held(None));
    }
    let me = identity();
    // Usually there is no Lease: create it without reading first. A race with another engine
    // or an existing Lease (AlreadyExists, Conflict) is decided by reading again.
    let mut read_first = false;
    for _ in 0..5 {
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
                let lease = fresh(&name, &me, now, 0);
                let what = format!("creating lease {name}");
                let pp = PostParams::default();
                call(ctx, &what, || api.create(&pp, &lease)).await
            }
            Some(lease) => match decide(&lease, &me, now, process_alive) {
                Verdict::Held(why) => {
                    return Err(EngineError::Invalid(format!(
                        "replicationcontroller {rc} is being updated by another engine: {why}"
                    )));
                }
                Verdict::Take => {
                    let mut taken = lease.clone();
                    let transitions = lease
                        .spec
                        .as_ref()
                        .and_then(|s| s.lease_transitions)
                        .unwrap_or(0);
                    let ours = lease
                        .spec
                        .as_ref()
                        .and_then(|s| s.holder_identity.as_deref())
                        == Some(me.as_str());
                    taken.spec = fresh(&name, &me, now, transitions + i32::from(!ours)).spec;
                    let what = format!("taking lease {name}");
                    let pp = PostParams::default();
                    call(ctx, &what, || api.replace(&name, &pp, &taken)).await
                }
            },
        };
        match written {
            Ok(stored) => {
                ctx.leases.insert(key.clone());
                let renewing = start_renewing(ctx, api, name, me, &stored, key);
                return Ok(Held(Some(renewing)));
            }
            Err(EngineError::Api { code: 409, .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(EngineError::Invalid(format!(
        "replicationcontroller {rc}: another engine keeps taking lease {name}; try again"
    )))
}

/// Runs `work` holding the Lease of `rc`, releasing it however `work` ends.
pub async fn holding<T>(
    ctx: &Ctx,
    rc: &str,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let held = acquire(ctx, rc).await?;
    let result = work.await;
    held.release().await;
    result
}

fn fresh(name: &str, me: &str, now: Timestamp, transitions: i32) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
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
    let (task_api, task_name, sink) = (api.clone(), name.clone(), ctx.clone());
    let mut last = stored.clone();
    let renewer = tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(RENEW_EVERY) => {}
                _ = stopped.changed() => return last,
            }
            match renew(&task_api, &task_name, &me).await {
                Ok(Some(renewed)) => last = renewed,
                Ok(None) => {
                    sink.line(format!(
                        "warning: lease {task_name} was taken over by another engine; stop one of them"
                    ));
                    last.metadata.resource_version = None;
                    return last;
                }
                // A missed renewal is retried at the next tick; the Lease lasts three.
                Err(e) => tracing::warn!(lease = %task_name, error = %e, "renewing the lease"),
            }
        }
    });
    Renewing {
        api,
        name,
        held: ctx.leases.clone(),
        key,
        stop,
        renewer,
    }
}

/// Renews the Lease if it is still ours (returning it as stored); `None` when someone else
/// holds it.
async fn renew(api: &Api<Lease>, name: &str, me: &str) -> Result<Option<Lease>, kube::Error> {
    let Some(mut lease) = api.get_opt(name).await? else {
        return Ok(None);
    };
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(me) {
        return Ok(None);
    }
    spec.renew_time = Some(MicroTime(Timestamp::now()));
    api.replace(name, &PostParams::default(), &lease)
        .await
        .map(Some)
}

impl Held {
    /// Stops renewing and deletes the Lease if it is still ours. Failures only cost the next
    /// engine the wait until the Lease expires, so they are logged, not returned.
    pub async fn release(self) {
        let Some(r) = self.0 else { return };
        let _ = r.stop.send(true);
        let last = r.renewer.await.ok();
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
        let me = identity();
        match r.api.get_opt(&r.name).await {
            Ok(Some(lease))
                if lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.holder_identity.as_deref())
                    == Some(me.as_str()) =>
            {
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
mod tests {
    use super::*;

    fn lease(holder: &str, renewed_secs_ago: i64, now: Timestamp) -> Lease {
        let renewed = Timestamp::from_second(now.as_second() - renewed_secs_ago)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let mut l = fresh("rolling-update.kubia-v1", holder, renewed, 0);
        if holder.is_empty() {
            l.spec = Some(LeaseSpec::default());
        }
        l
    }

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn a_fresh_lease_of_another_engine_is_refused_naming_it() {
        let v = decide(&lease("laptop/42", 5, now()), "ci/7", now(), |_| true);
        let Verdict::Held(why) = v else {
            panic!("taken: {v:?}")
        };
        assert!(why.contains("laptop/42"), "{why}");
        assert!(why.contains("rolling-update.kubia-v1"), "{why}");
        assert!(why.contains("renewed 5s ago"), "{why}");
        assert!(why.contains("in 25s"), "{why}");
    }

    #[test]
    fn an_expired_lease_is_taken_over_and_the_limit_is_exact() {
        let at_limit = lease("laptop/42", DURATION.as_secs() as i64, now());
        assert_eq!(decide(&at_limit, "ci/7", now(), |_| true), Verdict::Take);
        let just_before = lease("laptop/42", DURATION.as_secs() as i64 - 1, now());
        assert!(matches!(
            decide(&just_before, "ci/7", now(), |_| true),
            Verdict::Held(_)
        ));
    }

    #[test]
    fn our_own_or_a_released_lease_is_taken() {
        assert_eq!(
            decide(&lease("ci/7", 1, now()), "ci/7", now(), |_| true),
            Verdict::Take
        );
        assert_eq!(
            decide(&lease("", 1, now()), "ci/7", now(), |_| true),
            Verdict::Take
        );
    }

    #[test]
    fn a_dead_holder_on_this_host_is_taken_over_at_once_but_not_one_elsewhere() {
        let here = lease("ci/42", 1, now());
        assert_eq!(decide(&here, "ci/7", now(), |pid| pid != 42), Verdict::Take);
        assert!(matches!(
            decide(&here, "ci/7", now(), |_| true),
            Verdict::Held(_)
        ));
        // Another host's PIDs say nothing about this one's.
        let elsewhere = lease("laptop/42", 1, now());
        assert!(matches!(
            decide(&elsewhere, "ci/7", now(), |_| false),
            Verdict::Held(_)
        ));
    }
}
