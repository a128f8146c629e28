//! The tutorial's first manual method: change the template, delete every old pod, let the
//! controller recreate them. The outage window is measured and reported.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::Pod;

use super::steps::{probe, setup_v1, versions};
use crate::monitor::{Monitor, Snapshot, check_bounds};
use crate::{Env, Outcome, process};

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-recreate", 3).await?;
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = origin.elapsed();
    o.marks.push(("recreate".into(), start));
    let out = process::run(
        ns.kubia_rollout(
            env,
            &[
                "recreate",
                "kubia-v1",
                &env.image_arg("v2"),
                "--poll-interval=1s",
            ],
        ),
        Duration::from_secs(300),
    )
    .await?;
    let end = origin.elapsed();
    o.marks.push(("done".into(), end));
    ns.wait_ready("app=kubia", 3, Duration::from_secs(60))
        .await?;
    super::steps::wait_serving(env, "v2", Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    let out = out.ok("recreate")?;
    // Recreate promises no surge, and says it has an outage: both from the pods' view.
    let (_, max_live) = check_bounds(&snaps, Duration::ZERO, 0, 3)?;
    let no_ready = time_without_ready(&snaps, end);
    ensure!(
        no_ready > Duration::ZERO,
        "the pod monitor never saw the outage recreate states (0 ready pods)"
    );
    o.note(format!(
        "pods: at most {max_live} live (no surge, bound 3); no pod ready for {:.1}s in all, the outage recreate states",
        no_ready.as_secs_f64()
    ));
    for l in out.stdout.lines() {
        o.note(format!("kubia-rollout: {l}"));
    }
    let summary = traffic_probe::summarize(&samples);
    o.outage = Some(summary.outage);
    o.note(format!(
        "recreate took {:.1}s; {} of {} requests failed, outage window {:.2}s \
         (the images keep serving for 15s after SIGTERM, so the window is the time with no ready pod)",
        (end - start).as_secs_f64(),
        summary.failed,
        summary.sent,
        summary.outage.as_secs_f64()
    ));
    let v = versions(&samples);
    ensure!(v.first() == Some(&"v1"), "the probe did not start on v1");
    ensure!(v.last() == Some(&"v2"), "the probe did not end on v2");
    let tail = &v[v.len().saturating_sub(20)..];
    ensure!(
        tail.iter().all(|x| *x == "v2"),
        "v1 still answers at the end"
    );
    ns.delete().await
}

/// How long, up to `end`, the monitor saw no ready pod.
fn time_without_ready(snaps: &[Snapshot], end: Duration) -> Duration {
    snaps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.ready == 0)
        .map(|(i, s)| {
            snaps
                .get(i + 1)
                .map_or(end, |next| next.at)
                .saturating_sub(s.at)
        })
        .sum()
}
