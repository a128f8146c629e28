//! Canary: 1 of 4 pods on v2 behind the one selector; the share of v2 answers is measured
//! against the expected 25%; `abort` returns to v1 only, `promote` finishes on v2 only.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};

use super::steps::{assert_no_failures, between, probe, setup_v1, versions};
use crate::monitor::{Monitor, check_bounds};
use crate::{Env, Outcome, process};

/// Requests sampled while the canary runs (20 s at 20/s).
const SAMPLE: Duration = Duration::from_secs(20);
/// Accepted share of canary answers: 25% ± 10 points. With n = 400 independent picks the
/// standard deviation is 2.2 points, so this is ±4.6σ: a correct split fails it about once
/// in 250 000 runs, a 2-of-4 or 0-of-4 split (50%, 0%) never passes.
const TOLERANCE: f64 = 0.10;

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-canary", 4).await?;
    let rollout = |args: &[&str]| ns.kubia_rollout(env, args);
    let start_canary = [
        "canary",
        "kubia-v1",
        "kubia-v2",
        &env.image_arg("v2"),
        "--steps=1",
        "--poll-interval=1s",
    ];
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);

    // 1. Canary, measured, then aborted.
    o.marks.push(("canary".into(), origin.elapsed()));
    let out = process::run(rollout(&start_canary), Duration::from_secs(300)).await?;
    let out = out.ok("canary")?;
    ns.wait_ready("app=kubia", 4, Duration::from_secs(60))
        .await?;
    let counts = versions_of_pods(&ns).await?;
    ensure!(
        counts == (3, 1),
        "expected 3 v1 + 1 v2 pods, got {counts:?}"
    );
    // Let kube-proxy pick up the canary's endpoint before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let measure_from = origin.elapsed();
    tokio::time::sleep(SAMPLE).await;
    let measure_to = origin.elapsed();
    o.marks.push(("abort".into(), measure_to));
    let abort = process::run(rollout(&["canary", "abort"]), Duration::from_secs(300)).await?;
    let abort = abort.ok("canary abort")?;
    // The aborted pod serves out its shutdown delay out of the Service's endpoints; what
    // counts is the 4 live pods.
    ns.wait_ready_live("app=kubia", 4, Duration::from_secs(60))
        .await?;
    ensure!(
        ns.api::<ReplicationController>()
            .get_opt("kubia-v2")
            .await?
            .is_none(),
        "the canary RC still exists after abort"
    );
    ensure!(
        versions_of_pods(&ns).await? == (4, 0),
        "after abort not all pods run v1"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_abort = origin.elapsed();

    // 2. Canary again, promoted.
    o.marks.push(("canary".into(), after_abort));
    let out2 = process::run(rollout(&start_canary), Duration::from_secs(300)).await?;
    out2.ok("second canary")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    o.marks.push(("promote".into(), origin.elapsed()));
    let promote = process::run(
        rollout(&["canary", "promote", "--poll-interval=1s"]),
        Duration::from_secs(300),
    )
    .await?;
    let promote = promote.ok("canary promote")?;
    ns.wait_ready_live("app=kubia", 4, Duration::from_secs(60))
        .await?;
    ensure!(
        ns.api::<ReplicationController>()
            .get_opt("kubia-v1")
            .await?
            .is_none(),
        "the stable RC still exists after promote"
    );
    ensure!(
        versions_of_pods(&ns).await? == (0, 4),
        "after promote not all pods run v2"
    );
    tokio::time::sleep(Duration::from_secs(4)).await;
    let end = origin.elapsed();
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    // Capacity never drops (4 ready throughout). Start and abort move one pod (at most 5
    // live); the promote's remaining step takes the canary from 1 to 4 pods before the
    // stable RC shrinks, so up to 4 + 3 = 7 pods live then, as the method says.
    let promote_at = o
        .marks
        .iter()
        .rev()
        .find(|(what, _)| what == "promote")
        .map_or(Duration::MAX, |(_, at)| *at);
    let before = snaps.partition_point(|s| s.at < promote_at);
    let (min_ready, max_live) = check_bounds(&snaps[..before], Duration::ZERO, 4, 5)?;
    let (min_promote, max_promote) = check_bounds(&snaps, promote_at, 4, 7)?;
    o.note(format!(
        "pods until the promote: at least {min_ready} ready, at most {max_live} live (bounds 4 and 5); during the promote: at least {min_promote} ready, at most {max_promote} live (bounds 4 and 7); {} observed states",
        snaps.len()
    ));
    for l in out
        .stdout
        .lines()
        .chain(abort.stdout.lines())
        .chain(promote.stdout.lines())
    {
        o.note(format!("kubia-rollout: {l}"));
    }

    assert_no_failures(&samples)?;
    let window = between(&samples, measure_from, measure_to);
    let v = versions(&window);
    let n = v.len();
    let share = v.iter().filter(|x| **x == "v2").count() as f64 / n.max(1) as f64;
    o.canary_share = Some((share, n));
    o.note(format!(
        "with 1 of 4 pods on v2: {:.1}% of {n} answers from v2 (expected 25% ± {:.0} points)",
        share * 100.0,
        TOLERANCE * 100.0
    ));
    ensure!(n >= 300, "too few answers in the measuring window: {n}");
    ensure!(
        (share - 0.25).abs() <= TOLERANCE,
        "canary share {share:.3} outside 0.25 ± {TOLERANCE}"
    );
    let after_window = between(&samples, after_abort - Duration::from_secs(2), after_abort);
    let after = versions(&after_window);
    ensure!(
        !after.is_empty() && after.iter().all(|x| *x == "v1"),
        "after abort v2 still answered"
    );
    let last_window = between(&samples, end - Duration::from_secs(2), end);
    let last = versions(&last_window);
    ensure!(
        !last.is_empty() && last.iter().all(|x| *x == "v2"),
        "after promote v1 still answered"
    );
    o.note(format!(
        "{} requests, none failed; abort → v1 only, promote → v2 only",
        samples.len()
    ));
    ns.delete().await
}

/// (v1 pods, v2 pods) among the ready ones.
async fn versions_of_pods(ns: &crate::Namespace) -> Result<(usize, usize)> {
    let pods = ns.ready_pods("app=kubia").await?;
    let count = |v: &str| {
        pods.iter()
            .filter(|p| crate::monitor::version(p) == v)
            .count()
    };
    Ok((count("v1"), count("v2")))
}
