//! `status --watch`: follows one update in progress, whoever runs it (this machine, another
//! terminal, another laptop), from what the cluster shows: the annotations the methods
//! leave (`status`), the RCs' counts, the new pods' troubles, and the Lease of the engine
//! that drives it. It ends with the update: completed, rolled back, or stopped half-way
//! with no engine left driving it.
//!
//! Each look is a few LISTs (RCs, Services, Leases, the new RC's pods) every
//! `--poll-interval`; the pure part ([`frame`], [`ending`]) decides from them alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use k8s_openapi::jiff::Timestamp;

use crate::api;
use crate::context::Ctx;
use crate::detach;
use crate::error::{EngineError, Result};
use crate::model::labels::{name_of, rc_selector};
use crate::model::new_rc::spec_replicas;
use crate::status::{UpdateInfo, describe};

/// One RC's pods, as its status counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcCounts {
    /// The RC.
    pub name: String,
    /// `spec.replicas`.
    pub desired: u32,
    /// `status.replicas`: pods created and not terminating.
    pub live: u32,
    /// Ready pods.
    pub ready: u32,
    /// Available pods (ready for `minReadySeconds`).
    pub available: u32,
}

/// What `status -w` shows at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The update and its current step (`status`'s line).
    pub update: String,
    /// Each RC of the update (a deleted one is left out).
    pub rcs: Vec<RcCounts>,
    /// The bounds the engine holds, as its Lease says (rolling updates).
    pub bounds: Option<String>,
    /// Who drives it, or that nobody does.
    pub engine: String,
    /// Troubles of the pods (`kubia-v3-x: CrashLoopBackOff, 3 restarts`).
    pub signals: Vec<String>,
    /// Whether an engine drives it; `None` when Leases cannot be listed.
    pub driven: Option<bool>,
}

/// How an update followed to its end ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Done: the new version serves alone.
    Completed(String),
    /// Undone: the old version serves alone again (or a rollback is under way).
    RolledBack(String),
    /// Left half-way: no engine has driven it for a while.
    Stopped(String),
    /// There was none to follow.
    NoneInProgress(String),
}

impl Ending {
    /// Whether scripts waiting on the update should go on (exit 0).
    pub fn is_success(&self) -> bool {
        matches!(self, Ending::Completed(_) | Ending::NoneInProgress(_))
    }

    /// The last line to print.
    pub fn message(&self) -> &str {
        match self {
            Ending::Completed(m)
            | Ending::RolledBack(m)
            | Ending::Stopped(m)
            | Ending::NoneInProgress(m) => m,
        }
    }
}

/// How long an update may have no engine renewing its Lease before it counts as stopped:
/// long enough for a rerun or a Job's next pod to take over.
const UNDRIVEN: Duration = Duration::from_secs(20);
/// How long to wait for an update to appear when there is none at the first look (one
/// started a moment ago in another terminal may not have written its annotations yet).
const APPEAR: Duration = Duration::from_secs(10);

/// Everything one look lists.
struct Look {
    rcs: Vec<ReplicationController>,
    updates: Vec<UpdateInfo>,
    /// `None` when Leases cannot be listed (RBAC): who drives the update is then unknown.
    leases: Option<Vec<Lease>>,
    pods: Vec<Arc<Pod>>,
    /// The detached updates' Jobs still running (none when they cannot be listed).
    jobs: Vec<k8s_openapi::api::batch::v1::Job>,
}

/// One entry per update: `status` lists a rollback (or a rename) both from the new RC's
/// annotations and from the old RC's; the entry that says `rollback` wins.
fn merged(updates: Vec<UpdateInfo>) -> Vec<UpdateInfo> {
    let mut out: Vec<UpdateInfo> = Vec::new();
    for u in updates {
        match out.iter_mut().find(|o| same_rcs(o, &u)) {
            Some(o) if u.method == "rollback" => *o = u,
            Some(_) => {}
            None => out.push(u),
        }
    }
    out
}

/// Whether two entries are about the same RCs, in any order (blue-green swaps them).
fn same_rcs(a: &UpdateInfo, b: &UpdateInfo) -> bool {
    let mut x = a.rcs.clone();
    let mut y = b.rcs.clone();
    x.sort();
    y.sort();
    x == y
}

/// Whether one command drives the update from start to end, so that no engine for a while
/// means it stopped; blue-green and canary rest between their commands.
fn driven_to_the_end(method: &str) -> bool {
    matches!(method, "rolling-update" | "rollback" | "recreate")
}

/// The RC's pod template as JSON, to tell a same-name update's renamed RC from the old RC.
fn template_of(rc: &ReplicationController) -> String {
    rc.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| serde_json::to_string(t).ok())
        .unwrap_or_default()
}

/// The Lease holder of any of `rcs` that renewed within its duration, with its note.
fn driver<'a>(
    leases: &'a [Lease],
    rcs: &[String],
    now: Timestamp,
) -> Option<(&'a str, Option<&'a str>)> {
    let names: Vec<String> = rcs.iter().map(|rc| crate::lease::name(rc)).collect();
    let mut note = None;
    let mut holder = None;
    for lease in leases {
        if !names
            .iter()
            .any(|n| Some(n.as_str()) == lease.metadata.name.as_deref())
        {
            continue;
        }
        if let Some(n) = lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(crate::lease::NOTE))
        {
            note = Some(n.as_str());
        }
        // Renewed within its duration by the clocks, as the engine judges a Lease
        // it would take (`lease::decide`: held, not to be taken).
        let live = matches!(
            crate::lease::decide(lease, "", now, |_| false),
            crate::lease::Verdict::Held(_)
        );
        let holder_identity = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.as_deref());
        if live && let Some(h) = holder_identity {
            holder = Some(h);
        }
    }
    holder.map(|h| (h, note))
}

/// The troubles of `pods`: waiting for a reason that is not plain creation, restarts.
fn troubles(pods: &[Arc<Pod>]) -> Vec<String> {
    // The same view of the new pods the failure signals judge (`health::new_pods`).
    let now = crate::model::side::now_seconds();
    crate::health::new_pods(pods, now)
        .into_iter()
        .filter_map(|p| {
            let reason = p
                .waiting_reason
                .filter(|r| r != "ContainerCreating" && r != "PodInitializing");
            match (reason, p.restarts) {
                (Some(reason), 0) => Some(format!("{}: {reason}", p.name)),
                (Some(reason), n) => Some(format!("{}: {reason}, {n} restarts", p.name)),
                (None, 0) => None,
                (None, n) => Some(format!("{}: {n} restarts", p.name)),
            }
        })
        .collect()
}

fn counts(rc: &ReplicationController) -> RcCounts {
    let status = rc.status.as_ref();
    let n = |v: Option<i32>| u32::try_from(v.unwrap_or(0)).unwrap_or(0);
    RcCounts {
        name: name_of(rc).to_owned(),
        desired: spec_replicas(rc),
        live: n(status.map(|s| s.replicas)),
        ready: n(status.and_then(|s| s.ready_replicas)),
        available: n(status.and_then(|s| s.available_replicas)),
    }
}

/// The frame of `update` (pure).
pub fn frame(
    update: &UpdateInfo,
    rcs: &[ReplicationController],
    leases: Option<&[Lease]>,
    pods: &[Arc<Pod>],
    now: Timestamp,
) -> Frame {
    let driver = leases.and_then(|l| driver(l, &update.rcs, now));
    Frame {
        update: update.line.clone(),
        rcs: update
            .rcs
            .iter()
            .filter_map(|name| rcs.iter().find(|rc| name_of(rc) == name))
            .map(counts)
            .collect(),
        bounds: driver.and_then(|(_, note)| note).map(str::to_owned),
        engine: match (driver, leases) {
            (Some((holder, _)), _) => format!("driven by {holder}"),
            (None, Some(_)) => "no engine is driving it".to_owned(),
            (None, None) => "driven by: unknown (no permission to list Leases)".to_owned(),
        },
        signals: troubles(pods),
        driven: leases.map(|_| driver.is_some()),
    }
}

/// How `followed` ended, now that it is no longer in progress (pure): the RCs of
/// `followed.rcs` (first the old one, then the new one, as first seen) that still exist say
/// which. `old_template` (the old RC's pod template when following began) tells a
/// same-name update, whose old RC took the new template, from a rollback.
pub fn ending(followed: &UpdateInfo, rcs: &[ReplicationController], old_template: &str) -> Ending {
    let find = |name: &str| rcs.iter().find(|rc| name_of(rc) == name);
    let what = format!("{} {}", followed.method, followed.rcs.join(" -> "));
    match followed.rcs.as_slice() {
        [old, new] if old != new => match (find(old), find(new)) {
            (None, Some(_)) => Ending::Completed(format!("{what}: completed")),
            (Some(rc), None) if template_of(rc) != old_template => {
                Ending::Completed(format!("{what}: completed (renamed to {old})"))
            }
            (Some(_), None) => Ending::RolledBack(format!("{what}: rolled back, {old} serves")),
            (Some(_), Some(_)) => Ending::Completed(format!("{what}: completed, both RCs kept")),
            (None, None) => Ending::Stopped(format!("{what}: both RCs are gone")),
        },
        _ => Ending::Completed(format!("{what}: completed")),
    }
}

async fn look(ctx: &Ctx, rc: Option<&str>, following: Option<&UpdateInfo>) -> Result<Look> {
    let rcs = api::list_rcs(ctx).await?;
    let services = api::list_services(ctx).await?;
    let mut updates = merged(describe(&rcs, &services));
    if let Some(name) = rc {
        updates.retain(|u| u.rcs.iter().any(|r| r == name));
    }
    // Without the right to list Leases, who drives it is unknown: shown, not fatal.
    let leases = api::list_leases(ctx).await.ok();
    let new_rc = following
        .or(updates.first())
        .and_then(|u| u.rcs.last())
        .and_then(|name| rcs.iter().find(|r| name_of(r) == name));
    let pods = match new_rc {
        Some(rc) => api::list_pods(ctx, &rc_selector(rc))
            .await?
            .into_iter()
            .filter(|p| {
                crate::model::side::is_owned_by(p, rc.metadata.uid.as_deref().unwrap_or(""))
            })
            .map(Arc::new)
            .collect(),
        None => Vec::new(),
    };
    let jobs = detach::active(ctx).await;
    Ok(Look {
        rcs,
        updates,
        leases,
        pods,
        jobs,
    })
}

/// Follows the update involving `rc` (or the only one in progress) to its end, calling
/// `show` with the frame of every look (a display redraws it or prints what changed).
pub async fn follow(ctx: &Ctx, rc: Option<&str>, mut show: impl FnMut(&Frame)) -> Result<Ending> {
    if let Some(name) = rc {
        crate::names::object(crate::names::RC, name)?;
    }
    let started = Instant::now();
    // The first look fails fast on an unreachable cluster; later ones ride out an API
    // server restart as the engine does (`--timeout`).
    let pre = ctx.preflight();
    let mut looking = &pre;
    let mut followed: Option<(UpdateInfo, String)> = None;
    let mut driven_at = Instant::now();
    loop {
        let seen = look(looking, rc, followed.as_ref().map(|(u, _)| u)).await?;
        looking = ctx;
        let now = Timestamp::now();
        match &followed {
            None => match seen.updates.as_slice() {
                [] if started.elapsed() >= APPEAR => {
                    // A name that is no RC is bad input, not "nothing to follow".
                    if let Some(name) = rc
                        && !seen.rcs.iter().any(|r| name_of(r) == name)
                    {
                        return Err(EngineError::RcNotFound(name.to_owned()));
                    }
                    return Ok(Ending::NoneInProgress(match rc {
                        Some(name) => {
                            format!("no update in progress for replicationcontroller {name}")
                        }
                        None => "no update in progress".to_owned(),
                    }));
                }
                [] => {}
                [one] => {
                    let old = one.rcs.first().cloned().unwrap_or_default();
                    let template = seen
                        .rcs
                        .iter()
                        .find(|r| name_of(r) == old)
                        .map(template_of)
                        .unwrap_or_default();
                    followed = Some((one.clone(), template));
                    continue;
                }
                several => {
                    let list: Vec<String> = several.iter().map(|u| u.rcs.join(" -> ")).collect();
                    return Err(EngineError::Usage(format!(
                        "{} updates in progress ({}); name one of their RCs",
                        several.len(),
                        list.join(", ")
                    )));
                }
            },
            Some((update, old_template)) => {
                let Some(current) = seen.updates.iter().find(|u| same_rcs(u, update)) else {
                    return Ok(ending(update, &seen.rcs, old_template));
                };
                if current.method == "rollback" && update.method != "rollback" {
                    return Ok(Ending::RolledBack(format!(
                        "{} {}: being rolled back",
                        update.method,
                        update.rcs.join(" -> ")
                    )));
                }
                let leases = seen.leases.as_deref();
                let mut f = frame(current, &seen.rcs, leases, &seen.pods, now);
                // A detached update between two pods of its Job (one gone, the next
                // starting) is still driven: the Job will resume it.
                let rcs: Vec<&str> = current.rcs.iter().map(String::as_str).collect();
                if f.driven != Some(true)
                    && let Some(job) = seen.jobs.iter().find(|j| detach::changes_any(j, &rcs))
                {
                    f.driven = Some(true);
                    f.engine = format!(
                        "driven by job.batch/{} (between its pods)",
                        job.metadata.name.as_deref().unwrap_or_default()
                    );
                }
                let driven = f.driven != Some(false);
                if driven || !driven_to_the_end(current.method) {
                    driven_at = Instant::now();
                } else if driven_at.elapsed() >= UNDRIVEN {
                    show(&f);
                    return Ok(Ending::Stopped(format!(
                        "{}: stopped, no engine has driven it for {}s; run the update's command again to resume it, or roll it back",
                        current.line,
                        driven_at.elapsed().as_secs()
                    )));
                }
                show(&f);
            }
        }
        ctx.sleep(ctx.timing.poll_interval).await?;
    }
}

#[cfg(test)]
mod tests;
