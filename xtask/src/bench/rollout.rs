//! A 3-replica v1→v2 update, timed and counted, by our engine (`kubectl rolling-update`
//! through the plugin: maxSurge 1, maxUnavailable 0, update period 0) and by the Deployment
//! controller with the same settings, on the same local cluster, alternating runs.
//!
//! API requests are counted from the API server's audit log, per namespace: the engine's own
//! requests plus the ReplicationController controller's, against the Deployment and
//! ReplicaSet controllers' (the kubelet's and scheduler's work is the same on both sides and
//! left out, as are the benchmark's own kubectl calls).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::cluster::{self, Provider, build, local};
use crate::util;

#[derive(clap::Args)]
pub struct Args {
    /// Runs of each side (medians are reported).
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Leave the cluster running afterwards.
    #[arg(long)]
    keep: bool,
}

const RC: &str = r#"apiVersion: v1
kind: ReplicationController
metadata: {name: kubia-v1}
spec:
  replicas: 3
  selector: {app: kubia}
  template:
    metadata: {labels: {app: kubia}}
    spec:
      terminationGracePeriodSeconds: 10
      containers: [{name: nodejs, image: "luksa/kubia:v1", imagePullPolicy: IfNotPresent}]
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: kubia}
spec:
  replicas: 3
  minReadySeconds: 0
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: kubia}}
  template:
    metadata: {labels: {app: kubia}}
    spec:
      terminationGracePeriodSeconds: 10
      containers: [{name: nodejs, image: "luksa/kubia:v1", imagePullPolicy: IfNotPresent}]
"#;

struct Run {
    took: Duration,
    client_requests: usize,
    controller_requests: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let sh = util::shell()?;
    {
        let _p = util::Phase::start("cargo build --release -p rollout-cli");
        xshell::cmd!(sh, "cargo build --quiet --release --locked -p rollout-cli").run()?;
    }
    let (_, created) = cluster::up(Provider::Local)?;
    let plugin_dir = util::root().join("target/release");
    let mut engine = Vec::new();
    let mut deployment = Vec::new();
    let result = (|| -> Result<()> {
        for i in 1..=args.runs {
            let _p = util::Phase::start(format!("run {i} of {}", args.runs));
            engine.push(engine_run(&format!("bench-engine-{i}"), &plugin_dir)?);
            deployment.push(deployment_run(&format!("bench-deploy-{i}"))?);
        }
        Ok(())
    })();
    if !args.keep && created == cluster::Created::New {
        cluster::down(Provider::Local)?;
    }
    result?;
    let report = render(&engine, &deployment);
    println!("{report}");
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("rollout.md"), &report)?;
    eprintln!("written to target/bench/rollout.md");
    Ok(())
}

fn engine_run(ns: &str, plugin_dir: &Path) -> Result<Run> {
    prepare(ns, RC)?;
    let start = Instant::now();
    let since = now_rfc3339_micros();
    let out = Command::new(build::bin("kubectl"))
        .env(
            "PATH",
            format!(
                "{}:{}",
                plugin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("KUBECONFIG", local::kubeconfig())
        .args([
            "rolling-update",
            "kubia-v1",
            "kubia-v2",
            "--image=luksa/kubia:v2",
            "--update-period=0s",
            "-n",
            ns,
        ])
        .output()?;
    let took = start.elapsed();
    ensure!(
        out.status.success(),
        "kubectl rolling-update failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts = count_requests(ns, &since)?;
    finish(ns)?;
    Ok(Run {
        took,
        client_requests: sum(&counts, |who| {
            who.starts_with("client:") && !who.contains("kubectl/")
        }),
        controller_requests: sum(&counts, |who| who.contains("replication-controller")),
    })
}

fn deployment_run(ns: &str) -> Result<Run> {
    prepare(ns, DEPLOYMENT)?;
    let start = Instant::now();
    let since = now_rfc3339_micros();
    local::kubectl(&[
        "-n",
        ns,
        "set",
        "image",
        "deployment/kubia",
        "nodejs=luksa/kubia:v2",
    ])?;
    // `rollout status` watches and returns as soon as the rollout is complete.
    local::kubectl(&[
        "-n",
        ns,
        "rollout",
        "status",
        "deployment/kubia",
        "--timeout=300s",
    ])?;
    let took = start.elapsed();
    let counts = count_requests(ns, &since)?;
    finish(ns)?;
    Ok(Run {
        took,
        client_requests: 0,
        controller_requests: sum(&counts, |who| {
            who.contains("deployment-controller") || who.contains("replicaset-controller")
        }),
    })
}

fn prepare(ns: &str, manifest: &str) -> Result<()> {
    let _ = local::kubectl(&[
        "delete",
        "namespace",
        ns,
        "--ignore-not-found",
        "--wait=true",
    ]);
    local::kubectl(&["create", "namespace", ns])?;
    local::wait_default_service_account(ns)?;
    local::kubectl_stdin(&["-n", ns, "apply", "-f", "-"], manifest)?;
    util::wait_for(
        "3 ready pods",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || {
            let out = local::kubectl(&[
                "-n",
                ns,
                "get",
                "pods",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ])?;
            Ok(
                (out.lines().filter(|l| *l == "True").count() == 3 && out.lines().count() == 3)
                    .then_some(()),
            )
        },
    )?;
    // Let the controllers' status updates of the set-up settle before counting.
    std::thread::sleep(Duration::from_secs(2));
    Ok(())
}

fn finish(ns: &str) -> Result<()> {
    local::kubectl(&["delete", "namespace", ns, "--wait=false"]).map(drop)
}

/// Requests in namespace `ns` since `since`, by `client:<user agent>` for our
/// kubeconfig's user and `<username>` for everyone else.
fn count_requests(ns: &str, since: &str) -> Result<BTreeMap<String, usize>> {
    // The audit backend writes asynchronously.
    std::thread::sleep(Duration::from_secs(2));
    let text = std::fs::read_to_string(local::audit_log())
        .context("reading the API server's audit log (is the local cluster up to date? `cargo xtask cluster down` then `up`)")?;
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Ok(ev) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if ev["objectRef"]["namespace"].as_str() != Some(ns) {
            continue;
        }
        if ev["requestReceivedTimestamp"]
            .as_str()
            .is_none_or(|t| t < since)
        {
            continue;
        }
        let user = ev["user"]["username"].as_str().unwrap_or("?");
        let who = if user == "kubernetes-admin" {
            format!("client:{}", ev["userAgent"].as_str().unwrap_or("?"))
        } else {
            user.to_owned()
        };
        *counts.entry(who).or_insert(0) += 1;
    }
    if counts.is_empty() {
        bail!("no audit events for namespace {ns}");
    }
    Ok(counts)
}

fn sum(counts: &BTreeMap<String, usize>, pick: impl Fn(&str) -> bool) -> usize {
    counts.iter().filter(|(k, _)| pick(k)).map(|(_, v)| v).sum()
}

/// UTC now as the audit log writes it (RFC 3339 with microseconds), for comparing strings.
fn now_rfc3339_micros() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn render(engine: &[Run], deployment: &[Run]) -> String {
    use std::fmt::Write;
    let mut s = String::from(
        "# bench rollout\n\n3 replicas, v1 → v2, maxSurge 1, maxUnavailable 0, minReadySeconds 0; our engine with \
         `--update-period=0s` (other flags at kubectl's defaults); the same local cluster, runs alternating.\n\n\
         | run | engine time | engine requests (client + RC controller) | Deployment time | Deployment requests (Deployment + ReplicaSet controllers) |\n|---|---|---|---|---|\n",
    );
    for (i, (e, d)) in engine.iter().zip(deployment).enumerate() {
        let _ = writeln!(
            s,
            "| {} | {:.2}s | {} + {} | {:.2}s | {} |",
            i + 1,
            e.took.as_secs_f64(),
            e.client_requests,
            e.controller_requests,
            d.took.as_secs_f64(),
            d.controller_requests
        );
    }
    let et = median(engine.iter().map(|r| r.took.as_secs_f64()).collect());
    let dt = median(deployment.iter().map(|r| r.took.as_secs_f64()).collect());
    let er = median(
        engine
            .iter()
            .map(|r| (r.client_requests + r.controller_requests) as f64)
            .collect(),
    );
    let dr = median(
        deployment
            .iter()
            .map(|r| r.controller_requests as f64)
            .collect(),
    );
    let _ = writeln!(
        s,
        "\n| median | engine | Deployment | ratio engine / Deployment | target |\n|---|---|---|---|---|\n| time | {et:.2}s | {dt:.2}s | {:.2} | <= 1.10 |\n| API requests | {er:.0} | {dr:.0} | {:.2} | - |",
        et / dt,
        er / dr
    );
    s
}
