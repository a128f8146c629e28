//! The scenarios, each a function from the environment to an [`Outcome`].

mod bad_input;
mod bad_version;
mod blue_green;
mod canary;
mod deployment;
mod faults;
mod interrupted;
pub mod kubectl_117;
mod kubectl_forms;
mod leases;
mod manifests;
mod pull_policy;
mod recreate;
mod stale_conntrack;
mod tutorial;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use traffic_probe::{ProbeConfig, Sample, StopHandle};

use crate::schedule::Needs;
use crate::{Env, Outcome};

type Run =
    for<'a> fn(&'a Env, &'a mut Outcome) -> Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// A scenario: its name, what it needs from the cluster, and its body.
pub struct Scenario {
    /// The name `--only` takes and the report shows.
    pub name: &'static str,
    /// Whether it runs beside others or alone (see [`crate::schedule`]).
    pub needs: Needs,
    /// Whether it uses the tutorial's NodePort 30002 (else it takes a pool port); one such
    /// scenario runs at a time.
    pub tutorial_port: bool,
    run: Run,
}

/// Beside others, on a pool port.
const fn beside(name: &'static str, run: Run) -> Scenario {
    Scenario {
        name,
        needs: Needs::Namespace,
        tutorial_port: false,
        run,
    }
}

/// Alone, on a pool port, for the reason given.
const fn alone(name: &'static str, why: &'static str, run: Run) -> Scenario {
    Scenario {
        name,
        needs: Needs::Alone(why),
        tutorial_port: false,
        run,
    }
}

/// Every scenario. Those that run beside others are listed longest first (the run ends when
/// the last one does); the ones that run alone start after them (see [`crate::schedule`]).
pub const ALL: [Scenario; 23] = [
    Scenario {
        name: "tutorial-rolling-update",
        needs: Needs::Namespace,
        tutorial_port: true,
        run: |e, o| Box::pin(tutorial::run(e, o)),
    },
    beside("lease-race", |e, o| Box::pin(leases::race(e, o))),
    beside("kill-storm", |e, o| Box::pin(leases::kill_storm(e, o))),
    beside("canary", |e, o| Box::pin(canary::run(e, o))),
    beside("deployment", |e, o| Box::pin(deployment::run(e, o))),
    beside("interrupted-and-resumed", |e, o| {
        Box::pin(interrupted::run(e, o))
    }),
    beside("bad-version", |e, o| Box::pin(bad_version::run(e, o))),
    beside("bad-version-rolling", |e, o| {
        Box::pin(bad_version::run_rolling(e, o))
    }),
    beside("kubectl-forms", |e, o| Box::pin(kubectl_forms::run(e, o))),
    // kubectl 1.17.17's own rolling-update, side by side with ours (two namespaces, no
    // Service).
    beside("kubectl-1.17", |e, o| Box::pin(kubectl_117::run(e, o))),
    // Its Services take a pool port instead of the tutorial's 30002 (see `manifests`).
    beside("manifests-on-the-server", |e, o| {
        Box::pin(manifests::run(e, o))
    }),
    // Its DROP rule matches only packets to 127.0.0.66:6443, the second address of the API
    // server that only this scenario's engine uses; every other client (and every probe,
    // from 127.64.0.0/10) goes elsewhere.
    beside("fault-api-unreachable", |e, o| {
        Box::pin(faults::run(e, o, faults::Fault::ApiUnreachable))
    }),
    beside("recreate", |e, o| Box::pin(recreate::run(e, o))),
    // Its refused SYNs' conntrack entries name its own NodePort, which nothing else uses,
    // and every other connection comes from a fresh loopback source (traffic_probe::source):
    // no other scenario can meet them.
    beside("stale-conntrack", |e, o| {
        Box::pin(stale_conntrack::run(e, o))
    }),
    beside("blue-green", |e, o| Box::pin(blue_green::run(e, o))),
    beside("bad-input", |e, o| Box::pin(bad_input::run(e, o))),
    beside("fault-old-pod-deleted", |e, o| {
        Box::pin(faults::run(e, o, faults::Fault::OldPodDeleted))
    }),
    beside("fault-new-pod-deleted", |e, o| {
        Box::pin(faults::run(e, o, faults::Fault::NewPodDeleted))
    }),
    beside("pull-policy", |e, o| Box::pin(pull_policy::run(e, o))),
    alone(
        "fault-apiserver-restart",
        "it restarts kube-apiserver: every client's watches break, and kube-proxy's come back \
         only after client-go's backoff (up to 102 s seen), while no Service is updated",
        |e, o| Box::pin(faults::run(e, o, faults::Fault::ApiServerRestart)),
    ),
    alone(
        "fault-etcd-restart",
        "it restarts etcd: the API server stores nothing, for every client",
        |e, o| Box::pin(faults::run(e, o, faults::Fault::EtcdRestart)),
    ),
    alone(
        "fault-controller-manager-stopped",
        "it stops kube-controller-manager: no controller creates or deletes any pod",
        |e, o| Box::pin(faults::run(e, o, faults::Fault::ControllerManagerStopped)),
    ),
    alone(
        "fault-kubelet-restart",
        "it restarts the kubelet: every pod's probes and status updates pause",
        |e, o| Box::pin(faults::run(e, o, faults::Fault::KubeletRestart)),
    ),
];

/// The scenario called `name`.
pub fn by_name(name: &str) -> Option<&'static Scenario> {
    ALL.iter().find(|s| s.name == name)
}

/// Scenarios that need what only some providers give, with those providers and why.
const PROVIDER_SPECIFIC: [(&str, &[&str], &str); 2] = [
    (
        "stale-conntrack",
        &["local"],
        "it asserts how this host's kernel keeps the conntrack entry of a SYN that kube-proxy \
         REJECTed on 127.0.0.1; on kind, 127.0.0.1:30002 is Docker's port forward into the node \
         container, so the host never sees kube-proxy's rules",
    ),
    (
        "pull-policy",
        &["local", "kind"],
        "it pushes to the local registry on 127.0.0.1:5000 (`cargo xtask registry up`), which \
         only the clusters `cargo xtask` brings up pull from",
    ),
];

/// Why scenario `name` does not apply to this environment, if it does not.
pub fn not_applicable(name: &str, env: &Env) -> Option<String> {
    PROVIDER_SPECIFIC
        .iter()
        .find(|(n, only, _)| *n == name && !only.contains(&env.provider.as_str()))
        .map(|(_, only, why)| format!("runs on {} only: {why}", only.join(" and ")))
        .or_else(|| faults::not_applicable(name, env))
}

/// Runs one scenario in its environment (see [`Env::for_scenario`]), catching its error
/// into the outcome; removes what it left behind.
pub async fn run(env: &Env, scenario: &Scenario) -> Outcome {
    let name = scenario.name;
    let mut outcome = Outcome {
        name: name.to_owned(),
        ..Default::default()
    };
    if let Some(why) = not_applicable(name, env) {
        println!("=== {name}: not applicable on {}: {why}", env.provider);
        outcome.not_applicable = Some(why);
        return outcome;
    }
    let start = Instant::now();
    // Shared until a disruptive part takes the cluster whole (see `schedule::Gate`).
    env.gate.share().await;
    println!("=== {name}: started on {}", env.node_port);
    if let Err(e) = (scenario.run)(env, &mut outcome).await {
        outcome.error = Some(format!("{e:#}"));
    }
    // A failed scenario leaves its namespace behind; its NodePort goes back to the pool.
    if let Err(e) = env.delete_scenario_namespaces().await {
        outcome.error.get_or_insert(format!("cleanup: {e:#}"));
    }
    env.gate.release().await;
    outcome.alone_spans = env.gate.alone_spans().await;
    outcome.duration = start.elapsed();
    println!(
        "=== {name}: {} in {:.1}s ({} requests, {} failed)",
        if outcome.passed() { "PASS" } else { "FAIL" },
        outcome.duration.as_secs_f64(),
        outcome.sent,
        outcome.failed
    );
    if let Some(e) = &outcome.error {
        println!("[{name}] error: {e}");
    }
    outcome
}

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
        image_repo: env.image_repo.clone(),
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

/// Runs a command to the end, marking each of its scaling steps on the timeline when it
/// is printed (`kubia-v2 ↑1`, `kubia-v1 ↓2`).
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
        if let Some(label) = step_label(&line) {
            o.marks.push((label, origin.elapsed()));
        }
    }
    running
        .finish(deadline.saturating_duration_since(Instant::now()))
        .await
}

/// `Scaling kubia-v2 up to 1` → `kubia-v2 ↑1`.
fn step_label(line: &str) -> Option<String> {
    if !is_scaling_step(line) {
        return None;
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["Scaling", rc, "up", "to", n] => Some(format!("{rc} ↑{n}")),
        ["Scaling", rc, "down", "to", n] => Some(format!("{rc} ↓{n}")),
        _ => None,
    }
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
