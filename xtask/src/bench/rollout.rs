//! A 3-replica v1→v2 update, timed and counted, by our engine (`kubectl rolling-update`
//! through the plugin: maxSurge 1, maxUnavailable 0, update period 0) and by the Deployment
//! controller with the same settings, on the same local cluster, alternating runs.
//!
//! API requests are counted from the API server's audit log, per namespace and by user name
//! (every component has its own identity; see [`audit`]): on one side the engine (its own
//! certificate) and the ReplicationController manager, on the other `kubectl set image` +
//! `kubectl rollout status` (another certificate) and the Deployment and ReplicaSet
//! controllers. The kubelet's and scheduler's work is the same on both sides and reported
//! apart; the benchmark's own set-up calls (admin certificate) come before the counted window.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::audit::{self, DEPLOYMENT_CONTROLLERS, RC_CONTROLLER, Requests};
use crate::cluster::{self, Provider, build, local};
use crate::util;

/// The user names of the two clients (see `cluster::pki::CLIENTS`).
const ENGINE_USER: &str = "kubia-bench:engine";
const KUBECTL_USER: &str = "kubia-bench:kubectl";

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
    requests: Requests,
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
        .env("KUBECONFIG", local::client_kubeconfig("bench-engine"))
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
    let requests = count_requests(ns, &since, ENGINE_USER, &[RC_CONTROLLER])?;
    finish(ns)?;
    Ok(Run { took, requests })
}

fn deployment_run(ns: &str) -> Result<Run> {
    prepare(ns, DEPLOYMENT)?;
    let start = Instant::now();
    let since = now_rfc3339_micros();
    let kubeconfig = local::client_kubeconfig("bench-kubectl");
    cluster::kubectl(
        &kubeconfig,
        &[
            "-n",
            ns,
            "set",
            "image",
            "deployment/kubia",
            "nodejs=luksa/kubia:v2",
        ],
    )?;
    // `rollout status` watches and returns as soon as the rollout is complete.
    cluster::kubectl(
        &kubeconfig,
        &[
            "-n",
            ns,
            "rollout",
            "status",
            "deployment/kubia",
            "--timeout=300s",
        ],
    )?;
    let took = start.elapsed();
    let requests = count_requests(ns, &since, KUBECTL_USER, &DEPLOYMENT_CONTROLLERS)?;
    finish(ns)?;
    Ok(Run { took, requests })
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

/// The requests of one side in namespace `ns` since `since`.
fn count_requests(
    ns: &str,
    since: &str,
    client: &str,
    controllers: &[audit::Controller],
) -> Result<Requests> {
    // The audit backend writes asynchronously.
    std::thread::sleep(Duration::from_secs(2));
    let text = std::fs::read_to_string(local::audit_log())
        .context("reading the API server's audit log (is the local cluster up to date? `cargo xtask cluster down` then `up`)")?;
    let requests = audit::count(&text, ns, since, client, controllers);
    if requests.client == 0 {
        bail!(
            "no requests by {client} in namespace {ns}: the cluster predates per-component identities (`cargo xtask cluster down` then `up`)"
        );
    }
    Ok(requests)
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
         Requests by user name from the audit log: the client (engine; or `kubectl set image` + `kubectl rollout status`), \
         its watches (each one request, and the events they delivered), the controllers doing the work (RC manager; or \
         Deployment + ReplicaSet controllers, whose watches delivered the events shown), and everyone else (kubelet, \
         scheduler, …: the same work on both sides, not compared).\n\n\
         | run | side | time | client | client watches (events) | controllers (events delivered) | total | others |\n|---|---|---|---|---|---|---|---|\n",
    );
    let row = |s: &mut String, i: usize, side: &str, r: &Run| {
        let q = &r.requests;
        let _ = writeln!(
            s,
            "| {i} | {side} | {:.2}s | {} | {} ({}) | {} ({}) | {} | {} |",
            r.took.as_secs_f64(),
            q.client,
            q.client_watches,
            q.client_watch_events,
            q.controllers,
            q.controller_watch_events,
            q.total(),
            q.others
        );
    };
    for (i, (e, d)) in engine.iter().zip(deployment).enumerate() {
        row(&mut s, i + 1, "engine", e);
        row(&mut s, i + 1, "Deployment", d);
    }
    let med = |runs: &[Run], f: &dyn Fn(&Run) -> f64| median(runs.iter().map(f).collect());
    let time = |r: &Run| r.took.as_secs_f64();
    let total = |r: &Run| r.requests.total() as f64;
    let client = |r: &Run| (r.requests.client + r.requests.client_watches) as f64;
    let controllers = |r: &Run| r.requests.controllers as f64;
    let _ = writeln!(
        s,
        "\n| median | engine | Deployment | ratio engine / Deployment | target |\n|---|---|---|---|---|"
    );
    for (what, f, fmt_s, target) in [
        ("time", &time as &dyn Fn(&Run) -> f64, true, "<= 1.0"),
        ("API requests, total", &total, false, "<= 1.0"),
        ("  by the client", &client, false, "-"),
        ("  by the controllers", &controllers, false, "-"),
    ] {
        let (e, d) = (med(engine, f), med(deployment, f));
        let show = |v: f64| {
            if fmt_s {
                format!("{v:.2}s")
            } else {
                format!("{v:.0}")
            }
        };
        let _ = writeln!(
            s,
            "| {what} | {} | {} | {:.2} | {target} |",
            show(e),
            show(d),
            e / d
        );
    }
    s
}
