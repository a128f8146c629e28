//! Blue-green: the new RC comes up beside the old one without traffic, then one selector
//! change moves all traffic; `switch-back` moves it back as fast.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use traffic_probe::Sample;

use super::steps::{assert_no_failures, probe, setup_v1};
use crate::monitor::{Monitor, check_bounds};
use crate::{Env, Outcome, process};

/// The longest a switch may show both versions (requests in flight, kube-proxy's sync).
const MAX_MIXED: Duration = Duration::from_secs(1);

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-blue-green", 3).await?;
    let rollout = |args: &[&str]| ns.kubia_rollout(env, args);
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    tokio::time::sleep(Duration::from_secs(2)).await;
    o.marks.push(("blue-green".into(), origin.elapsed()));
    let out = process::run(
        rollout(&[
            "blue-green",
            "kubia-v1",
            "kubia-v2",
            &env.image_arg("v2"),
            "--service=kubia",
            "--poll-interval=1s",
        ]),
        Duration::from_secs(300),
    )
    .await?;
    let out = out.ok("blue-green")?;
    ensure!(
        out.stdout.contains("service/kubia selector updated"),
        "no selector update reported: {}",
        out.stdout
    );
    let selector = ns
        .api::<Service>()
        .get("kubia")
        .await?
        .spec
        .and_then(|s| s.selector)
        .unwrap_or_default();
    // The switch must point the Service at the new pods: their RC's template labels.
    let v2_labels = ns
        .api::<ReplicationController>()
        .get("kubia-v2")
        .await?
        .spec
        .and_then(|s| s.template)
        .and_then(|t| t.metadata)
        .and_then(|m| m.labels)
        .unwrap_or_default();
    ensure!(
        !selector.is_empty() && selector.iter().all(|(k, v)| v2_labels.get(k) == Some(v)),
        "after the switch the Service selects {}, which does not match kubia-v2's pods ({})",
        labels_text(&selector),
        labels_text(&v2_labels)
    );
    o.note(format!(
        "after the switch the Service selects {} (kubia-v2's pods)",
        labels_text(&selector)
    ));
    tokio::time::sleep(Duration::from_secs(4)).await;
    o.marks.push(("switch-back".into(), origin.elapsed()));
    let back = process::run(
        rollout(&["blue-green", "switch-back"]),
        Duration::from_secs(120),
    )
    .await?;
    let back = back.ok("switch-back")?;
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    // Both colours run side by side: never more than twice the pods, never fewer ready
    // than the 3 serving.
    let (min_ready, max_live) = check_bounds(&snaps, Duration::ZERO, 3, 6)?;
    o.note(format!(
        "pods throughout: at least {min_ready} ready, at most {max_live} live (bounds 3 and 6), {} observed states",
        snaps.len()
    ));
    for l in out.stdout.lines().chain(back.stdout.lines()) {
        o.note(format!("kubia-rollout: {l}"));
    }
    assert_no_failures(&samples)?;
    let segments = segments(&samples);
    let names: Vec<&str> = segments.iter().map(|s| s.0.as_str()).collect();
    if names != ["v1", "v2", "v1"] {
        bail!("expected the answers to go v1 → v2 → v1, got {names:?}");
    }
    let windows = mixed_windows(&samples);
    ensure!(
        windows.len() == 2,
        "expected 2 switches in the traffic, found {}",
        windows.len()
    );
    for (i, w) in windows.iter().enumerate() {
        ensure!(
            *w <= MAX_MIXED,
            "switch {} showed both versions for {w:?} (more than {MAX_MIXED:?})",
            i + 1
        );
        o.note(format!(
            "switch {}: both versions answered for {:.0} ms",
            i + 1,
            w.as_secs_f64() * 1000.0
        ));
    }
    o.note(format!(
        "{} requests, none failed; answers v1 → v2 → v1",
        samples.len()
    ));
    let cleanup = process::run(
        rollout(&["blue-green", "cleanup"]),
        Duration::from_secs(120),
    )
    .await?;
    let cleanup = cleanup.ok("cleanup")?;
    // What cleanup promises: the standby RC gone, the Service's own selector back, no
    // bookkeeping left.
    let rcs = ns.rc_names().await?;
    ensure!(
        rcs == ["kubia-v1"],
        "after cleanup expected only kubia-v1, found {rcs:?}"
    );
    let service = ns.api::<Service>().get("kubia").await?;
    let selector = service.spec.and_then(|s| s.selector).unwrap_or_default();
    ensure!(
        selector == [("app".to_owned(), "kubia".to_owned())].into(),
        "after cleanup the Service selects {}, not its original app=kubia",
        labels_text(&selector)
    );
    let left: Vec<String> = service
        .metadata
        .annotations
        .unwrap_or_default()
        .into_keys()
        .filter(|k| k.contains("blue-green"))
        .collect();
    ensure!(left.is_empty(), "bookkeeping left on the Service: {left:?}");
    o.note(format!(
        "cleanup: {}; only kubia-v1 is left and service/kubia selects app=kubia again",
        cleanup.stdout.trim().replace('\n', "; ")
    ));
    ns.delete().await
}

/// Runs of the same version, ignoring short interleavings at the boundaries.
fn segments(samples: &[Sample]) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for v in super::steps::versions(samples) {
        match out.last_mut() {
            Some((last, n)) if last == v => *n += 1,
            _ => out.push((v.to_owned(), 1)),
        }
    }
    // Interleavings within a switch show up as tiny runs; merge them away for the shape.
    let mut merged: Vec<(String, usize)> = Vec::new();
    for (v, n) in out {
        if n < 5 {
            continue;
        }
        match merged.last_mut() {
            Some((last, m)) if *last == v => *m += n,
            _ => merged.push((v, n)),
        }
    }
    merged
}

/// How far after a change of version to look for late answers of the old one.
const LOOK_AHEAD: Duration = Duration::from_secs(3);

/// For each change of version, the time from the first answer of the new version to the
/// last answer of the old one within [`LOOK_AHEAD`].
fn mixed_windows(samples: &[Sample]) -> Vec<Duration> {
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok()).collect();
    let mut windows = Vec::new();
    let mut i = 1;
    while i < ok.len() {
        if ok[i].version != ok[i - 1].version {
            let old = ok[i - 1].version.clone();
            let first_new = ok[i].at;
            let last_old = ok[i..]
                .iter()
                .take_while(|s| s.at <= first_new + LOOK_AHEAD)
                .filter(|s| s.version == old)
                .map(|s| s.at)
                .max();
            windows.push(last_old.map_or(Duration::ZERO, |t| t.saturating_sub(first_new)));
            // Skip past this switch.
            let resume = last_old.unwrap_or(first_new);
            while i < ok.len() && ok[i].at <= resume {
                i += 1;
            }
        }
        i += 1;
    }
    windows
}

/// `k=v,k=v`, the way kubectl prints a selector.
fn labels_text(labels: &std::collections::BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "nothing".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
