//! The tutorial's first manual method: change the template, delete every old pod, let the
//! controller recreate them. The outage window is measured and reported.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::{probe, setup_v1, versions};
use crate::{Env, Outcome, process};

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-recreate", 3).await?;
    let origin = Instant::now();
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
    super::wait_serving(env, "v2", Duration::from_secs(30)).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    o.add_samples(&samples);
    let out = out.ok("recreate")?;
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
