//! `--detach`: the tutorial's update run by a Job inside the cluster, under live traffic.
//!
//! Bad input with `--detach` creates nothing; the client exits at once naming the Job; a
//! second `--detach` is refused naming it; the Role grants no more than the engine uses (a
//! SelfSubjectRulesReview made as the Job's ServiceAccount); mid-update the Job's pod is
//! deleted and the next pod resumes; `status -w` follows to the end and exits 0; the update
//! completes with 0 failed requests and the bounds held; the outcome is an Event on the RC;
//! nothing of the Job's machinery stays. Then a detached update is rolled back by a client:
//! the Job is stopped first and the rollback completes.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod, ReplicationController, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Api;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};

use super::steps::{assert_no_failures, assert_transition, probe, setup_v1};
use crate::monitor::{Monitor, check_bounds};
use crate::{Env, Namespace, Outcome, process};

const JOB_LABEL: &str = "app.kubernetes.io/managed-by=kubia-rollout";

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-detached", 3).await?;
    bad_input_creates_nothing(env, &ns, o).await?;

    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let result = detached_update(env, &ns, o, origin).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    let update_start = result?;
    assert_no_failures(&samples)?;
    o.note(format!("{} requests, none failed", samples.len()));
    o.note(assert_transition(&samples, "v1", "v2")?);
    let (min_ready, max_live) = check_bounds(&snaps, update_start, 3, 4)?;
    o.note(format!(
        "pods during the update: at least {min_ready} ready, at most {max_live} live (bounds 3 and 4), {} observed states",
        snaps.len()
    ));
    rollback_stops_the_job(env, &ns, o).await?;
    ns.delete().await
}

/// The objects a detached update creates, by kind, in `ns` (the default ServiceAccount
/// aside).
async fn machinery(ns: &Namespace) -> Result<Vec<String>> {
    let lp = ListParams::default().labels(JOB_LABEL);
    let mut found = Vec::new();
    let names = |kind: &str, items: Vec<Option<String>>| {
        items
            .into_iter()
            .flatten()
            .map(|n| format!("{kind}/{n}"))
            .collect::<Vec<_>>()
    };
    let jobs = ns.api::<Job>().list(&ListParams::default()).await?.items;
    found.extend(names(
        "job",
        jobs.into_iter().map(|j| j.metadata.name).collect(),
    ));
    let sas = ns.api::<ServiceAccount>().list(&lp).await?.items;
    found.extend(names(
        "serviceaccount",
        sas.into_iter().map(|j| j.metadata.name).collect(),
    ));
    let roles = ns.api::<Role>().list(&ListParams::default()).await?.items;
    found.extend(names(
        "role",
        roles.into_iter().map(|j| j.metadata.name).collect(),
    ));
    let rbs = ns
        .api::<RoleBinding>()
        .list(&ListParams::default())
        .await?
        .items;
    found.extend(names(
        "rolebinding",
        rbs.into_iter().map(|j| j.metadata.name).collect(),
    ));
    Ok(found)
}

async fn bad_input_creates_nothing(env: &Env, ns: &Namespace, o: &mut Outcome) -> Result<()> {
    let before = ns.api::<ReplicationController>().get("kubia-v1").await?;
    let (v1, v2) = (env.image_arg("v1"), env.image_arg("v2"));
    let cases: [(&str, Vec<&str>); 4] = [
        (
            "an unknown RC",
            vec!["rolling-update", "kubia-nope", "kubia-v2", &v2, "--detach"],
        ),
        (
            "an invalid image",
            vec![
                "rolling-update",
                "kubia-v1",
                "kubia-v2",
                "--image=Not A/Valid:Image",
                "--detach",
            ],
        ),
        (
            "--detach with --dry-run",
            vec![
                "rolling-update",
                "kubia-v1",
                "kubia-v2",
                &v2,
                "--dry-run",
                "--detach",
            ],
        ),
        (
            "the running image without --image-pull-policy",
            vec!["rolling-update", "kubia-v1", &v1, "--detach"],
        ),
    ];
    let mut seen = Vec::new();
    for (what, args) in &cases {
        let out = process::run(ns.kubectl(env, args), Duration::from_secs(60)).await?;
        // One error line (a usage error adds a pointer to the help, clap its usage line).
        let errors: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.starts_with("error: ") || l.starts_with("Error from server"))
            .collect();
        ensure!(
            !out.success() && errors.len() == 1,
            "{what} with --detach: {}, stderr {:?}",
            out.exit(),
            out.stderr
        );
        seen.push(format!("{what}: {}, {}", out.exit(), errors[0]));
    }
    let left = machinery(ns).await?;
    ensure!(left.is_empty(), "bad input with --detach created {left:?}");
    let after = ns.api::<ReplicationController>().get("kubia-v1").await?;
    ensure!(
        ns.rc_names().await? == ["kubia-v1"]
            && after.metadata.resource_version == before.metadata.resource_version,
        "bad input with --detach changed the RCs: {:?}",
        ns.rc_names().await?
    );
    o.note(format!(
        "bad input with --detach created nothing (no Job, ServiceAccount, Role, RoleBinding; kubia-v1 unchanged): {}",
        seen.join("; ")
    ));
    Ok(())
}

/// The detached update, from the client's command to the Job's cleanup; returns when the
/// update started (for the bounds).
async fn detached_update(
    env: &Env,
    ns: &Namespace,
    o: &mut Outcome,
    origin: Instant,
) -> Result<Duration> {
    let v2 = env.image_arg("v2");
    let args = [
        "rolling-update",
        "kubia-v1",
        "kubia-v2",
        v2.as_str(),
        "--update-period=5s",
        "--detach",
        "--detach-ttl=5s",
    ];
    let update_start = origin.elapsed();
    o.marks
        .push(("kubectl rolling-update --detach".into(), update_start));
    let client = Instant::now();
    let out = process::run(ns.kubectl(env, &args), Duration::from_secs(60))
        .await?
        .ok("kubectl rolling-update --detach")?;
    let client_took = client.elapsed();
    let job = out
        .stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("job.batch/"))
        .context("the client named no Job")?
        .to_owned();
    o.note(format!(
        "the client exited 0 in {:.1}s: {}",
        client_took.as_secs_f64(),
        out.stdout.lines().next().unwrap_or_default()
    ));

    // A second --detach of the same update is refused, naming the Job.
    let again = process::run(ns.kubectl(env, &args), Duration::from_secs(60)).await?;
    ensure!(
        !again.success() && again.stderr.contains(&format!("job.batch/{job}")),
        "a second --detach: exit {}, {:?}",
        again.exit(),
        again.stderr
    );
    o.note(format!(
        "a second --detach was refused: {}",
        again.stderr.trim()
    ));

    rules_are_the_engines(ns, &job, o).await?;

    // Once the update exists, `status -w` follows it from another terminal.
    let rcs = ns.api::<ReplicationController>();
    wait_for(
        Duration::from_secs(120),
        "RC kubia-v2 created by the Job",
        || async { Ok(rcs.get_opt("kubia-v2").await?.is_some()) },
    )
    .await?;
    let follower = process::spawn(ns.kubia_rollout(env, &["status", "-w", "kubia-v1"]))?;

    // After the first step, the Job's pod is deleted mid-update.
    let pods = ns.api::<Pod>();
    let of_job = ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}"));
    wait_for(Duration::from_secs(120), "a kubia-v2 pod ready", || async {
        let rc = rcs.get("kubia-v2").await?;
        Ok(rc.status.and_then(|s| s.ready_replicas).unwrap_or(0) >= 1)
    })
    .await?;
    let first = pods.list(&of_job).await?.items;
    let first = first
        .iter()
        .find(|p| p.metadata.deletion_timestamp.is_none())
        .and_then(|p| p.metadata.name.clone())
        .context("the Job has no pod")?;
    pods.delete(&first, &DeleteParams::default()).await?;
    let deleted_at = origin.elapsed();
    o.marks.push(("Job's pod deleted".into(), deleted_at));

    // The next pod resumes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let next = 'next: loop {
        for p in pods.list(&of_job).await?.items {
            let name = p.metadata.name.clone().unwrap_or_default();
            if name == first {
                continue;
            }
            let log = pods
                .logs(&name, &LogParams::default())
                .await
                .unwrap_or_default();
            if log.contains("Found existing update in progress (kubia-v2), resuming.") {
                break 'next name;
            }
        }
        ensure!(
            Instant::now() < deadline,
            "no pod of job.batch/{job} resumed the update within 120s of {first}'s deletion"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let resumed_at = origin.elapsed();
    o.marks.push(("next pod resumed".into(), resumed_at));
    o.note(format!(
        "pod {first} of job.batch/{job} deleted at {:.1}s; pod {next} resumed the update {:.1}s later",
        deleted_at.as_secs_f64(),
        (resumed_at - deleted_at).as_secs_f64()
    ));

    // The Job completes; `status -w` exits 0.
    let jobs = ns.api::<Job>();
    wait_for(Duration::from_secs(300), "the Job complete", || async {
        Ok(jobs
            .get_opt(&job)
            .await?
            .is_some_and(|j| condition(&j, "Complete")))
    })
    .await?;
    o.marks.push(("Job complete".into(), origin.elapsed()));
    let followed = follower.finish(Duration::from_secs(60)).await?;
    ensure!(
        followed.success() && followed.stdout.contains("completed"),
        "status -w of the detached update: {} {:?} {:?}",
        followed.exit(),
        followed.stdout,
        followed.stderr
    );
    o.note(format!(
        "status -w followed it to the end across the pod's deletion: exit 0, {:?}",
        followed.stdout.lines().last().unwrap_or_default()
    ));
    let log = pods.logs(&next, &LogParams::default()).await?;
    ensure!(
        log.contains("replicationcontroller/kubia-v2 rolling updated to \"kubia-v2\""),
        "the last pod's log lacks the outcome: {log}"
    );

    // The end state, the outcome's Event, and nothing left behind.
    ensure!(
        rcs.get_opt("kubia-v1").await?.is_none(),
        "RC kubia-v1 still exists"
    );
    ns.wait_ready("app=kubia", 3, Duration::from_secs(60))
        .await?;
    let events = ns.api::<Event>().list(&ListParams::default()).await?.items;
    let event = events
        .iter()
        .find(|e| {
            e.involved_object.name.as_deref() == Some("kubia-v2")
                && e.reason.as_deref() == Some("DetachedUpdateSucceeded")
        })
        .context("no DetachedUpdateSucceeded Event on kubia-v2")?;
    o.note(format!(
        "Event on replicationcontroller/kubia-v2: {} {:?}",
        event.reason.as_deref().unwrap_or_default(),
        event.message.as_deref().unwrap_or_default()
    ));
    wait_for(
        Duration::from_secs(90),
        "the Job's machinery removed",
        || async { Ok(machinery(ns).await?.is_empty()) },
    )
    .await
    .with_context(|| "after success")?;
    o.note("after success nothing is left: the ServiceAccount, Role and RoleBinding were removed by the pod, the Job after its ttlSecondsAfterFinished (5s)");
    Ok(update_start)
}

/// A SelfSubjectRulesReview made as the Job's ServiceAccount lists only what the engine
/// uses for a rolling update (`access::ROLLING`), its Event and deleting its own Role.
async fn rules_are_the_engines(ns: &Namespace, job: &str, o: &mut Outcome) -> Result<()> {
    let kc = kube::config::Kubeconfig::read_from(&ns.kubeconfig)?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{}:{job}", ns.name));
    let client = kube::Client::try_from(config)?;
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(ns.name.clone()),
        },
        ..SelfSubjectRulesReview::default()
    };
    let answer = Api::<SelfSubjectRulesReview>::all(client)
        .create(&PostParams::default(), &review)
        .await?;
    let mut granted = BTreeSet::new();
    for rule in answer.status.map(|s| s.resource_rules).unwrap_or_default() {
        for group in rule.api_groups.unwrap_or_default() {
            // Every authenticated user may review itself (system:basic-user).
            if group == "authorization.k8s.io" || group == "authentication.k8s.io" {
                continue;
            }
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    let names = rule.resource_names.clone().unwrap_or_default().join(",");
                    granted.insert(format!("{verb} {resource}.{group} [{names}]"));
                }
            }
        }
    }
    let mut expected: BTreeSet<String> = rollout_engine::access::ROLLING
        .iter()
        .chain(rollout_engine::access::IN_JOB)
        .map(|n| format!("{} {}.{} []", n.verb, n.resource, n.group))
        .collect();
    expected.insert(format!("delete roles.rbac.authorization.k8s.io [{job}]"));
    if granted != expected {
        bail!(
            "the Job's ServiceAccount may do more or less than the engine uses:\n  granted, not used: {:?}\n  used, not granted: {:?}",
            granted.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&granted).collect::<Vec<_>>()
        );
    }
    o.note(format!(
        "a SelfSubjectRulesReview as serviceaccount/{job} lists exactly what the engine uses ({} permissions): {}",
        granted.len(),
        granted.iter().cloned().collect::<Vec<_>>().join(", ")
    ));
    Ok(())
}

/// A detached update rolled back by a client: its Job is stopped first, then the rollback
/// runs; nothing of the Job stays.
async fn rollback_stops_the_job(env: &Env, ns: &Namespace, o: &mut Outcome) -> Result<()> {
    let v1 = env.image_arg("v1");
    let args = [
        "rolling-update",
        "kubia-v2",
        "kubia-v3",
        v1.as_str(),
        "--update-period=60s",
        "--detach",
    ];
    process::run(ns.kubectl(env, &args), Duration::from_secs(60))
        .await?
        .ok("the second detached update")?;
    let rcs = ns.api::<ReplicationController>();
    wait_for(Duration::from_secs(120), "a kubia-v3 pod ready", || async {
        let rc = rcs.get_opt("kubia-v3").await?;
        Ok(rc
            .and_then(|r| r.status)
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
            >= 1)
    })
    .await?;
    let rollback = ["rolling-update", "kubia-v2", "kubia-v3", "--rollback"];
    let out = process::run(ns.kubectl(env, &rollback), Duration::from_secs(180))
        .await?
        .ok("the rollback of the detached update")?;
    ensure!(
        out.stdout.starts_with("Stopping job.batch/"),
        "the rollback did not stop the Job first: {}",
        out.stdout
    );
    ensure!(
        rcs.get_opt("kubia-v3").await?.is_none(),
        "RC kubia-v3 still exists"
    );
    ns.wait_ready("app=kubia", 3, Duration::from_secs(60))
        .await?;
    wait_for(
        Duration::from_secs(90),
        "the stopped Job's machinery removed",
        || async { Ok(machinery(ns).await?.is_empty()) },
    )
    .await?;
    o.note(format!(
        "a detached update rolled back by a client: {:?}, then the rollback; Job, ServiceAccount, Role and RoleBinding gone",
        out.stdout.lines().next().unwrap_or_default()
    ));
    Ok(())
}

fn condition(job: &Job, kind: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
}

/// Polls `check` every 500 ms until it holds, for at most `timeout`.
async fn wait_for<F, Fut>(timeout: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("waited {}s for {what}", timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
