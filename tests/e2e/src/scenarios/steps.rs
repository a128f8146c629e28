//! The steps scenarios are made of: the traffic probe, waits for the NodePort to serve a
//! version, assertions on the answers, the tutorial's starting point, and an update run
//! with its steps marked on the timeline. A leaf: the scenarios use it, it uses none of them.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use traffic_probe::{ProbeConfig, Sample, StopHandle};

use crate::{Env, Outcome};

/// The probe every scenario uses: 20 requests/s, a new connection each, 2 s timeout,
/// bounded to 15 minutes.
pub fn probe(env: &Env, echo: bool) -> (StopHandle, tokio::task::JoinHandle<Vec<Sample>>) {
    let mut cfg = ProbeConfig::new(env.node_port);
    cfg.max_duration = Duration::from_secs(900);
    cfg.max_requests = 20 * 900;
    cfg.echo_every = if echo { 20 } else { 0 };
    traffic_probe::start(cfg)
}

/// Waits until the NodePort answers with the given version (kube-proxy has synced).
pub async fn wait_serving(env: &Env, version: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = traffic_probe::fetch(env.node_port, "/", Duration::from_secs(1)).await
            && traffic_probe::answer::parse(&r.body).is_some_and(|p| p.version == version)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} did not answer with {version} within {timeout:?}",
                env.node_port
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the NodePort answers only with `version` (for 2 s and at least 20 answers in
/// a row), so that a probe stopped afterwards ends on it; returns how long that took.
/// kube-proxy may still route to terminating pods for a while after an update ended (after
/// an API server restart, until its watches are back).
pub async fn wait_converged(env: &Env, version: &str, timeout: Duration) -> Result<Duration> {
    let started = Instant::now();
    let mut in_a_row = 0;
    let mut since = Instant::now();
    while in_a_row < 20 || since.elapsed() < Duration::from_secs(2) {
        let answer = traffic_probe::fetch(env.node_port, "/", Duration::from_secs(1)).await;
        let got = answer
            .ok()
            .and_then(|r| traffic_probe::answer::parse(&r.body))
            .map(|p| p.version);
        if got.as_deref() == Some(version) {
            if in_a_row == 0 {
                since = Instant::now();
            }
            in_a_row += 1;
            continue;
        }
        in_a_row = 0;
        if started.elapsed() > timeout {
            bail!(
                "{} still answered with {} instead of only {version} {timeout:?} after the update ended",
                env.node_port,
                got.as_deref().unwrap_or("no answer")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(since.duration_since(started))
}

/// Versions of the successful answers, in order.
pub fn versions(samples: &[Sample]) -> Vec<&str> {
    samples
        .iter()
        .filter(|s| s.ok())
        .filter_map(|s| s.version.as_deref())
        .collect()
}

/// Asserts the answers went from `from` only, through a mix, to `to` only — and nothing else.
pub fn assert_transition(samples: &[Sample], from: &str, to: &str) -> Result<String> {
    let v = versions(samples);
    if let Some(other) = v.iter().find(|x| **x != from && **x != to) {
        bail!("an answer from an unexpected version {other}");
    }
    let Some(first_to) = v.iter().position(|x| *x == to) else {
        bail!("no answer from {to}");
    };
    let Some(last_from) = v.iter().rposition(|x| *x == from) else {
        bail!("no answer from {from}");
    };
    if first_to == 0 {
        bail!("{to} answered before any {from}");
    }
    if last_from + 1 == v.len() {
        bail!("{from} still answered at the end");
    }
    Ok(format!(
        "answers: {} {from} only, then {} mixed, then {} {to} only",
        first_to,
        (last_from + 1).saturating_sub(first_to),
        v.len() - last_from - 1
    ))
}

/// Asserts that no request failed.
pub fn assert_no_failures(samples: &[Sample]) -> Result<()> {
    let failed: Vec<&Sample> = samples.iter().filter(|s| !s.ok()).collect();
    if let Some(f) = failed.first() {
        bail!(
            "{} of {} requests failed; first at {:.2}s: status {:?}, error {:?}",
            failed.len(),
            samples.len(),
            f.at.as_secs_f64(),
            f.status,
            f.error
        );
    }
    Ok(())
}

/// The tutorial's starting point with `replicas` pods: RC kubia-v1 and Service kubia, in a
/// fresh namespace, serving v1 on the NodePort.
pub async fn setup_v1(env: &Env, ns: &str, replicas: i32) -> Result<crate::Namespace> {
    setup_v1_with(env, ns, replicas, |_| {}).await
}

/// [`setup_v1`], with the RC's pod spec changed by `edit` first.
pub async fn setup_v1_with(
    env: &Env,
    ns: &str,
    replicas: i32,
    edit: impl FnOnce(&mut k8s_openapi::api::core::v1::PodSpec),
) -> Result<crate::Namespace> {
    let ns = env.namespace(ns, &[]).await?;
    let mut manifest = kubia_manifests::tutorial(&kubia_manifests::Params {
        replicas,
        image_repo: env.settings.image_repo.clone(),
        node_port: env.node_port_number(),
        ..Default::default()
    })?;
    let spec = manifest.objects.iter_mut().find_map(|o| match o {
        kubia_manifests::Object::ReplicationController(rc) => rc
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut())
            .and_then(|t| t.spec.as_mut()),
        _ => None,
    });
    edit(spec.context("the tutorial's manifest has no RC pod spec")?);
    let yaml = manifest.to_yaml()?;
    crate::objects::create_all(&ns, &yaml, crate::objects::Mode::Create).await?;
    ns.wait_ready("app=kubia", replicas as usize, Duration::from_secs(120))
        .await?;
    wait_serving(env, "v1", Duration::from_secs(60)).await?;
    Ok(ns)
}

/// Runs a command to the end, marking each of its steps on the timeline when it is printed
/// (`kubia-v2 ↑1`, `kubia-v1 ↓2`), and the error it ends with as a failure signal.
pub async fn run_marking_steps(
    cmd: tokio::process::Command,
    o: &mut Outcome,
    origin: Instant,
    timeout: Duration,
) -> Result<crate::process::Output> {
    let deadline = Instant::now() + timeout;
    let mut running = crate::process::spawn(cmd)?;
    while let Some(line) = running
        .next_line(deadline.saturating_duration_since(Instant::now()))
        .await
    {
        if is_scaling_step(&line)
            && let Some(label) = timeline::step_label(&line)
        {
            o.marks.push((label, origin.elapsed()));
        }
    }
    let output = running
        .finish(deadline.saturating_duration_since(Instant::now()))
        .await?;
    if !output.success()
        && let Some(error) = output
            .stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("error: "))
    {
        o.signals.push((error.to_owned(), origin.elapsed()));
    }
    Ok(output)
}

/// A scaling step line of the rolling update (`Scaling NEW up to N`, `Scaling OLD down to N`).
pub fn is_scaling_step(line: &str) -> bool {
    line.starts_with("Scaling ") && !line.starts_with("Scaling up ")
}

/// Samples whose send time falls in `[from, to)`.
pub fn between(samples: &[Sample], from: Duration, to: Duration) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .cloned()
        .collect()
}
