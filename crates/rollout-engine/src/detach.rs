//! `--detach`: the same update, run by a Job inside the cluster, so that it goes on when
//! the laptop that started it closes.
//!
//! Every step of an update is stored in the cluster and the same command resumes from any
//! of them, so a Job can carry the engine: when its pod dies or its node goes away, the Job
//! starts another pod, which resumes. The client first runs the method on a context that
//! only checks ([`crate::Ctx::checking_only`]): bad input is refused, the RBAC preflight
//! runs (for the update and for handing it over), no Job already runs it, its Leases are
//! free; nothing is written until then. [`submit`] then creates the Job (suspended), its
//! Role (exactly the permissions the method declared), ServiceAccount and RoleBinding, and
//! releases the Job.
//!
//! In the pod ([`crate::Ctx::in_job`]) the engine waits for the Lease of the pod before it
//! instead of refusing, and [`report`] leaves the outcome as an Event on the RC and deletes
//! the Role (the ServiceAccount and RoleBinding go with it; the Job goes after
//! `ttlSecondsAfterFinished`). A rollback stops a running detached update first
//! ([`stop_running`]); a client run of the same RCs is refused naming the Job
//! ([`refuse_running`]).

pub mod objects;

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::core::v1::{Event as KubeEvent, EventSource, ObjectReference, Pod};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};

use crate::api;
use crate::context::{Begun, Ctx};
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::retry::call;

pub use objects::Detach;
use objects::{DETACHED_LABEL, RCS_ANNOTATION};

/// How long a rollback waits for a detached update's pod to stop (its grace period and
/// some).
const STOP_WAIT: Duration = Duration::from_secs(60);

/// The detached update handed to the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The Job's name (also its ServiceAccount's, Role's and RoleBinding's).
    pub job: String,
    /// The RCs it changes.
    pub rcs: Vec<String>,
}

/// Creates the Job that runs `detach` for the checked update `begun`, with its
/// ServiceAccount, Role and RoleBinding, and starts it.
///
/// The Job is created suspended and owns the Role, which owns the ServiceAccount and the
/// RoleBinding: whatever fails midway, deleting the Job removes everything (and this does,
/// on an error).
pub async fn submit(ctx: &Ctx, begun: &Begun, detach: &Detach) -> Result<Submitted> {
    let ns = ctx.namespace().to_owned();
    let first = begun.rcs.first().map_or("update", String::as_str);
    let name = objects::job_name(first, &suffix());
    let client = ctx.cluster.client.clone();
    let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
    let pp = PostParams::default();
    let job = objects::job(&name, &ns, &begun.rcs, detach);
    let what = format!("creating job.batch/{name}");
    let created = call(ctx, &what, || jobs.create(&pp, &job)).await?;
    let result = async {
        let job_uid = created.metadata.uid.clone().unwrap_or_default();
        let roles: Api<Role> = Api::namespaced(client.clone(), &ns);
        let role = objects::role(&name, &ns, &job_uid, &begun.needs);
        let what = format!("creating role.rbac.authorization.k8s.io/{name}");
        let role = call(ctx, &what, || roles.create(&pp, &role)).await?;
        let role_uid = role.metadata.uid.unwrap_or_default();
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
        let account = objects::service_account(&name, &ns, &role_uid);
        let what = format!("creating serviceaccount/{name}");
        call(ctx, &what, || accounts.create(&pp, &account)).await?;
        let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
        let binding = objects::role_binding(&name, &ns, &role_uid);
        let what = format!("creating rolebinding.rbac.authorization.k8s.io/{name}");
        call(ctx, &what, || bindings.create(&pp, &binding)).await?;
        let release = serde_json::json!({ "spec": { "suspend": false } });
        let what = format!("starting job.batch/{name}");
        let patch = Patch::Merge(&release);
        let params = PatchParams::default();
        call(ctx, &what, || jobs.patch(&name, &params, &patch)).await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let _ = jobs.delete(&name, &background()).await;
        return Err(e);
    }
    Ok(Submitted {
        job: name,
        rcs: begun.rcs.clone(),
    })
}

/// Five characters that make the Job's name unique (std's randomly seeded hasher).
fn suffix() -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let mut n = hasher.finish();
    (0..5)
        .map(|_| {
            let c = b"bcdfghjklmnpqrstvwxz2456789"[(n % 27) as usize];
            n /= 27;
            char::from(c)
        })
        .collect()
}

fn background() -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    }
}

/// The detached updates running in the namespace; none when they cannot be listed (for
/// `status -w`, which shows a Job between its pods as driving the update).
pub(crate) async fn active(ctx: &Ctx) -> Vec<Job> {
    let jobs: Api<Job> = Api::namespaced(ctx.cluster.client.clone(), ctx.namespace());
    let lp = ListParams::default().labels(&format!("{DETACHED_LABEL}=true"));
    jobs.list(&lp).await.map_or_else(
        |_| Vec::new(),
        |l| {
            l.items
                .into_iter()
                .filter(|job| job.metadata.deletion_timestamp.is_none() && !finished(job))
                .collect()
        },
    )
}

/// The detached updates running in the namespace that change one of `rcs` (a Job not
/// finished nor being deleted), or none when Jobs cannot be listed (RBAC).
async fn running(ctx: &Ctx, rcs: &[&str]) -> Result<Vec<Job>> {
    let jobs: Api<Job> = Api::namespaced(ctx.cluster.client.clone(), ctx.namespace());
    let lp = ListParams::default().labels(&format!("{DETACHED_LABEL}=true"));
    let what = "listing the detached updates (jobs.batch)";
    let listed = match call(ctx, what, || jobs.list(&lp)).await {
        Ok(list) => list.items,
        // Not allowed to list Jobs (or no batch API): there is none we could see.
        Err(EngineError::Api {
            code: 403 | 404, ..
        }) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    Ok(listed
        .into_iter()
        .filter(|job| job.metadata.deletion_timestamp.is_none() && !finished(job))
        .filter(|job| changes_any(job, rcs))
        .collect())
}

/// Whether `job` has ended (its Complete or Failed condition is true).
pub fn finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

/// Whether `job`'s recorded RCs include one of `rcs`.
pub fn changes_any(job: &Job, rcs: &[&str]) -> bool {
    job.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(RCS_ANNOTATION))
        .is_some_and(|list| list.split(',').any(|rc| rcs.contains(&rc)))
}

/// Refuses while a detached update of one of `rcs` runs (other than the one this process
/// is the pod of), naming its Job and how to follow or stop it.
pub(crate) async fn refuse_running(ctx: &Ctx, rcs: &[&str]) -> Result<()> {
    let own = ctx.in_job.as_deref();
    let jobs = running(ctx, rcs).await?;
    let Some(job) = jobs
        .iter()
        .find(|j| j.metadata.name.as_deref() != own || own.is_none())
    else {
        return Ok(());
    };
    let name = job.metadata.name.as_deref().unwrap_or_default();
    let rc = rcs
        .iter()
        .find(|rc| changes_any(job, &[rc]))
        .copied()
        .unwrap_or_default();
    Err(EngineError::Invalid(format!(
        "replicationcontroller {rc} is being updated in the cluster by job.batch/{name} (--detach); follow it with: kubectl logs -f job/{name} -n {}, or stop it by rolling back",
        ctx.namespace()
    )))
}

/// Stops the detached updates of `rcs` before a rollback: suspends each Job (its pod gets
/// SIGTERM, stops before its next change and releases its Lease), waits for its pods to
/// end, and deletes the Job (its ServiceAccount, Role and RoleBinding go with it).
pub(crate) async fn stop_running(pre: &Ctx, ctx: &Ctx, rcs: &[&str]) -> Result<()> {
    let jobs_api: Api<Job> = Api::namespaced(pre.cluster.client.clone(), pre.namespace());
    for job in running(pre, rcs).await? {
        let name = job.metadata.name.clone().unwrap_or_default();
        ctx.line(format!(
            "Stopping job.batch/{name}, the detached update of {}",
            job.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(RCS_ANNOTATION))
                .cloned()
                .unwrap_or_default()
        ));
        let suspend = serde_json::json!({ "spec": { "suspend": true } });
        let patch = Patch::Merge(&suspend);
        let what = format!("suspending job.batch/{name}");
        let params = PatchParams::default();
        call(pre, &what, || jobs_api.patch(&name, &params, &patch)).await?;
        let selector = std::collections::BTreeMap::from([(
            "batch.kubernetes.io/job-name".to_owned(),
            name.clone(),
        )]);
        let since = Instant::now();
        loop {
            let pods = api::list_pods(ctx, &selector).await?;
            if pods.iter().all(ended) {
                break;
            }
            if since.elapsed() >= STOP_WAIT {
                return Err(EngineError::Stuck(format!(
                    "job.batch/{name} was suspended, but its pod still runs after {}s; nothing was rolled back",
                    STOP_WAIT.as_secs()
                )));
            }
            ctx.sleep(Duration::from_millis(500)).await?;
        }
        let what = format!("deleting job.batch/{name}");
        let params = background();
        match call(ctx, &what, || jobs_api.delete(&name, &params)).await {
            Ok(_) | Err(EngineError::Api { code: 404, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether `pod` has stopped (Succeeded or Failed), so it drives nothing any more.
fn ended(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// In the Job's pod, once the update has an outcome (not an interruption: the next pod
/// resumes then): the outcome as an Event on each RC of the update that still exists, and
/// the Role deleted (the ServiceAccount and RoleBinding with it). Failures here are
/// warnings: the outcome stands, and the Job's deletion removes what is left.
pub async fn report(ctx: &Ctx, succeeded: bool, message: &str) {
    let Some(job) = ctx.in_job.clone() else {
        return;
    };
    let client = ctx.cluster.client.clone();
    let ns = ctx.namespace().to_owned();
    let events: Api<KubeEvent> = Api::namespaced(client.clone(), &ns);
    let rcs = ctx.begun().map(|b| b.rcs).unwrap_or_default();
    for rc in &rcs {
        let Ok(Some(found)) = ctx.rcs().get_opt(rc).await else {
            continue;
        };
        let now = Time(Timestamp::now());
        let event = KubeEvent {
            metadata: ObjectMeta {
                generate_name: Some(format!("{rc}.")),
                namespace: Some(ns.clone()),
                ..ObjectMeta::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".to_owned()),
                kind: Some("ReplicationController".to_owned()),
                name: Some(rc.clone()),
                namespace: Some(ns.clone()),
                uid: found.metadata.uid.clone(),
                ..ObjectReference::default()
            },
            reason: Some(
                if succeeded {
                    "DetachedUpdateSucceeded"
                } else {
                    "DetachedUpdateFailed"
                }
                .to_owned(),
            ),
            message: Some(message.to_owned()),
            type_: Some(if succeeded { "Normal" } else { "Warning" }.to_owned()),
            source: Some(EventSource {
                component: Some("kubia-rollout".to_owned()),
                host: None,
            }),
            reporting_component: Some("kubia-rollout".to_owned()),
            reporting_instance: Some(job.to_string()),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            count: Some(1),
            ..KubeEvent::default()
        };
        if let Err(e) = events.create(&PostParams::default(), &event).await {
            ctx.emit(Event::Warning(format!(
                "recording the outcome as an event on replicationcontroller {rc}: {e}"
            )));
        }
    }
    let roles: Api<Role> = Api::namespaced(client, &ns);
    match roles.delete(&job, &background()).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 404 => {}
        Err(e) => ctx.emit(Event::Warning(format!(
            "deleting role.rbac.authorization.k8s.io/{job} (the Job's deletion removes it): {e}"
        ))),
    }
}
