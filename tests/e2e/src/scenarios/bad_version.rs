//! Bad versions stopped automatically: the book's v3 (HTTP 500 from its 5th request) and a
//! typo'd tag, against every method, with `--on-failure=rollback`.
//!
//! 1. rolling-update v2 → v3, the pods probed for readiness on `/` with
//!    `--min-ready-seconds=10` (the book's v3 Deployment): v3 pods never become available,
//!    the progress deadline fires, the update rolls back; v2's 3 pods stay ready throughout.
//! 2. canary v2 → v3 with `--max-error-rate=1%`: the canary's own `/metrics` show the errors,
//!    the canary is aborted at its first step.
//! 3. blue-green v2 → v3 with the analysis before the switch: the engine asks green's pods
//!    itself, finds the errors, deletes green; the Service never selects v3.
//! 4. rolling-update to a tag that does not exist: the pull failure stops it at once (no
//!    deadline, no `--timeout`), rolled back.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{Pod, Service};

use super::steps::{probe, versions, wait_serving};
use crate::monitor::{Monitor, check_bounds};
use crate::process::{self, Output};
use crate::{Env, Namespace, Outcome};

/// Requests that may fail in case 1, and why: a v3 pod passes its first 4 readiness probes
/// (1 s apart), so it is Ready and in the Service's endpoints for about 4 s plus the 3 failed
/// probes (failureThreshold) and the endpoint propagation (a few seconds): at most ~10 s of
/// one in four pods at 20 requests/s is ~50 requests; one v3 pod exists at a time (maxSurge 1,
/// and it never becomes available), so twice that covers a slow endpoint update.
const ROLLING_FAILURE_BOUND: usize = 100;
/// Requests that may fail in case 2: the canary (1 of 4 pods) gets ~5 of the 20 requests/s
/// and the analysis fires once 20 answers with more than 1% errors are counted (checked each
/// second), then the abort removes the pod from the endpoints: about 20-40 requests.
const CANARY_FAILURE_BOUND: usize = 100;

/// The tutorial's Service and an RC `kubia-v2` of 3 pods, serving v2.
async fn setup_v2(
    env: &Env,
    name: &str,
    readiness: Option<kubia_manifests::ReadinessProbe>,
) -> Result<Namespace> {
    let ns = env.namespace(name, &[]).await?;
    let yaml = kubia_manifests::tutorial(&kubia_manifests::Params {
        replicas: 3,
        image_repo: env.settings.image_repo.clone(),
        tag: Some("v2".into()),
        readiness_probe: readiness,
        node_port: env.node_port_number(),
        ..Default::default()
    })?
    .to_yaml()?;
    crate::objects::create_all(&ns, &yaml, crate::objects::Mode::Create).await?;
    ns.wait_ready("app=kubia", 3, Duration::from_secs(120))
        .await?;
    wait_serving(env, "v2", Duration::from_secs(60)).await?;
    Ok(ns)
}

/// What the engine prints at the moment a signal fires, before it rolls back.
const SIGNAL_LINES: [&str; 3] = [": rolling back to ", ": aborting the canary", ": deleting "];

/// Runs `cmd` to its end, marking on the timeline (as `label`) the moment it printed that a
/// failure signal fired.
async fn run_marking(
    cmd: tokio::process::Command,
    o: &mut Outcome,
    origin: Instant,
    label: &str,
) -> Result<Output> {
    let mut running = process::spawn(cmd)?;
    let deadline = Instant::now() + Duration::from_secs(400);
    let mut marked = false;
    while let Some(line) = running
        .next_line(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        if !marked && SIGNAL_LINES.iter().any(|s| line.contains(s)) {
            o.signals.push((label.to_owned(), origin.elapsed()));
            marked = true;
        }
    }
    let out = running.finish(Duration::from_secs(60)).await?;
    ensure!(
        marked,
        "{label}: the command never printed that a signal fired; stdout {:?}",
        out.stdout
    );
    Ok(out)
}

/// The command failed with one `error:` line containing `expected`; returns that line.
fn refused(out: &Output, what: &str, expected: &str) -> Result<String> {
    let error = out.stderr.trim();
    let last = error.lines().last().unwrap_or_default().to_owned();
    ensure!(
        !out.success() && last.starts_with("error: ") && last.contains(expected),
        "{what}: expected a failure naming {expected:?}, got {}, stderr {error:?}",
        out.exit()
    );
    Ok(last)
}

/// Only `kubia-v2` is left, with its 3 pods, all on v2 (the bad version's pods may still
/// serve out their shutdown delay, out of the Service's endpoints).
async fn only_v2_left(ns: &Namespace, what: &str) -> Result<()> {
    ns.wait_ready_live("app=kubia", 3, Duration::from_secs(60))
        .await?;
    let rcs = ns.rc_names().await?;
    ensure!(
        rcs == ["kubia-v2"],
        "{what}: expected only kubia-v2 afterwards, found {rcs:?}"
    );
    let pods = ns.ready_pods("app=kubia").await?;
    let off: Vec<String> = pods
        .iter()
        .map(crate::monitor::version)
        .filter(|v| v != "v2")
        .collect();
    ensure!(off.is_empty(), "{what}: pods not on v2: {off:?}");
    Ok(())
}

/// Case 1, in its own namespace (scenario `bad-version-rolling`, run beside the others).
pub async fn run_rolling(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v2(
        env,
        "e2e-bad-version-rolling",
        Some(kubia_manifests::ReadinessProbe::Root),
    )
    .await?;
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = origin.elapsed();
    o.marks.push(("rolling-update to v3".into(), start));
    let out = run_marking(
        ns.kubectl(
            env,
            &[
                "rolling-update",
                "kubia-v2",
                "kubia-v3",
                &env.image_arg("v3"),
                "--update-period=2s",
                "--poll-interval=1s",
                "--min-ready-seconds=10",
                "--progress-deadline=15s",
                "--on-failure=rollback",
            ],
        ),
        o,
        origin,
        "deadline fired",
    )
    .await?;
    o.marks.push(("rolled back".into(), origin.elapsed()));
    let line = refused(
        &out,
        "rolling-update to v3",
        "beyond the progress deadline of 15s",
    )?;
    ensure!(
        line.contains("rolled back to kubia-v2"),
        "not rolled back: {line}"
    );
    only_v2_left(&ns, "rolling-update to v3").await?;
    wait_serving(env, "v2", Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    o.note(format!("rolling-update: {line}"));
    let (min_ready, max_live) = check_bounds(&snaps, start, 3, 4)?;
    let failed: Vec<_> = samples.iter().filter(|s| !s.ok()).collect();
    ensure!(
        failed.iter().all(|s| s.status == Some(500)),
        "a request failed otherwise than with v3's HTTP 500: {:?}",
        failed.iter().find(|s| s.status != Some(500))
    );
    ensure!(
        failed.len() <= ROLLING_FAILURE_BOUND,
        "{} requests failed, more than the {ROLLING_FAILURE_BOUND} a briefly Ready v3 pod explains",
        failed.len()
    );
    o.note(format!(
        "rolling-update v2 → v3 rolled back by the progress deadline: {} of {} requests got v3's 500 while a v3 pod was briefly Ready (bound {ROLLING_FAILURE_BOUND}); pods: at least {min_ready} ready, at most {max_live} live (bounds 3 and 4)",
        failed.len(),
        samples.len()
    ));
    ns.delete().await
}

/// Cases 2-4, one namespace and one probe for the three (scenario `bad-version`).
pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v2(env, "e2e-bad-version", None).await?;
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 2. Canary with the error-rate analysis.
    let canary_from = origin.elapsed();
    o.marks.push(("canary v3".into(), canary_from));
    let out = run_marking(
        ns.kubia_rollout(
            env,
            &[
                "canary",
                "kubia-v2",
                "kubia-v3",
                &env.image_arg("v3"),
                "--steps=1,2",
                "--step-period=30s",
                "--poll-interval=1s",
                "--max-error-rate=1%",
                "--min-requests=20",
                "--on-failure=rollback",
            ],
        ),
        o,
        origin,
        "error rate fired",
    )
    .await?;
    let canary_to = origin.elapsed();
    o.marks.push(("canary aborted".into(), canary_to));
    let line = refused(&out, "canary to v3", "answered 5xx to")?;
    ensure!(
        line.contains("canary aborted") && !out.stdout.contains("Canary step 2/"),
        "the canary was not aborted at its first step: {line}; stdout {:?}",
        out.stdout
    );
    only_v2_left(&ns, "canary to v3").await?;
    o.note(format!("canary: {line}"));
    wait_serving(env, "v2", Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 3. Blue-green, analysed before the switch.
    let bg_from = origin.elapsed();
    o.marks.push(("blue-green v3".into(), bg_from));
    let out = run_marking(
        ns.kubia_rollout(
            env,
            &[
                "blue-green",
                "kubia-v2",
                "kubia-v3",
                &env.image_arg("v3"),
                "--poll-interval=1s",
                "--max-error-rate=1%",
                "--min-requests=20",
                "--on-failure=rollback",
            ],
        ),
        o,
        origin,
        "error rate fired",
    )
    .await?;
    let bg_to = origin.elapsed();
    o.marks.push(("not switched".into(), bg_to));
    let line = refused(&out, "blue-green to v3", "answered 5xx to")?;
    ensure!(line.contains("not switched"), "blue-green: {line}");
    let selector = ns
        .api::<Service>()
        .get("kubia")
        .await?
        .spec
        .and_then(|s| s.selector)
        .unwrap_or_default();
    ensure!(
        selector.values().all(|v| !v.contains("v3")),
        "the Service selects v3: {selector:?}"
    );
    only_v2_left(&ns, "blue-green to v3").await?;
    o.note(format!("blue-green: {line}"));

    // 4. A typo'd tag.
    let typo_from = origin.elapsed();
    o.marks.push(("typo'd tag".into(), typo_from));
    let started = Instant::now();
    let out = run_marking(
        ns.kubectl(
            env,
            &[
                "rolling-update",
                "kubia-v2",
                "kubia-v9",
                &env.image_arg("v2-typo"),
                "--update-period=2s",
                "--poll-interval=1s",
                "--on-failure=rollback",
            ],
        ),
        o,
        origin,
        "pull failure fired",
    )
    .await?;
    let took = started.elapsed();
    o.marks.push(("typo rolled back".into(), origin.elapsed()));
    let line = refused(
        &out,
        "rolling-update to a typo'd tag",
        "cannot pull its image",
    )?;
    ensure!(
        line.contains("kubia-v9-") && line.contains("rolled back to kubia-v2"),
        "the pull failure should name the pod and be rolled back: {line}"
    );
    only_v2_left(&ns, "typo'd tag").await?;
    o.note(format!(
        "typo'd tag: stopped and rolled back {:.1}s after the start (no deadline or --timeout involved): {line}",
        took.as_secs_f64()
    ));

    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    // Blue-green and the typo: no request may fail and none may reach v3 or v9.
    let after_canary = super::steps::between(
        &samples,
        canary_to + Duration::from_secs(5),
        origin.elapsed(),
    );
    super::steps::assert_no_failures(&after_canary)?;
    let reached: Vec<&str> = versions(&after_canary)
        .into_iter()
        .filter(|v| *v != "v2")
        .collect();
    ensure!(
        reached.is_empty(),
        "answers from {reached:?} reached the Service after the canary"
    );
    let canary_failed =
        super::steps::between(&samples, canary_from, canary_to + Duration::from_secs(5))
            .iter()
            .filter(|s| !s.ok())
            .count();
    ensure!(
        canary_failed <= CANARY_FAILURE_BOUND,
        "{canary_failed} requests failed during the canary, more than {CANARY_FAILURE_BOUND}"
    );
    let (min_ready, max_live) = check_bounds(&snaps, typo_from, 3, 4)?;
    o.note(format!(
        "{canary_failed} requests got v3's 500 while the canary served (bound {CANARY_FAILURE_BOUND}); afterwards 0 failed and none reached v3 through the Service; during the typo: at least {min_ready} ready, at most {max_live} live (bounds 3 and 4)"
    ));
    ns.delete().await
}
