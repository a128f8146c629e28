//! A v1→v2 update, timed and counted, by our engine (`kubectl rolling-update` through the
//! plugin, update period 0) and by the Deployment controller (`kubectl set image` +
//! `kubectl rollout status`) with the same bounds, on the same local cluster, alternating
//! sides in each run.
//!
//! `--replicas 3` (the default) runs real pods with kubectl's bounds (maxSurge 1,
//! maxUnavailable 0). `--fake-nodes M` puts the pods on `M` kwok nodes instead
//! ([`fake_nodes`]), raises kube-controller-manager's and kube-scheduler's client QPS for the
//! duration, and runs both kubectl's bounds and 25%/25%.
//!
//! API requests are counted from the API server's audit log, per namespace and by user name
//! (every component has its own identity; see [`audit`]): on one side the engine (its own
//! certificate) and the ReplicationController manager, on the other `kubectl` (another
//! certificate) and the Deployment and ReplicaSet controllers. The kubelet's (or kwok's) and
//! scheduler's work is the same on both sides and reported apart; the benchmark's own set-up
//! calls (admin certificate) come before the counted window.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

mod args;
mod measured;
mod report;

pub use args::Args;
use measured::{Bounds, Run, Sides, Start};

use super::audit::{self, DEPLOYMENT_CONTROLLERS, RC_CONTROLLER, Requests};
use super::fake_nodes::{self, FakeNodes};
use crate::cluster::{self, Provider, build, local};
use crate::util;

/// The user names of the two clients (see `cluster::pki::CLIENTS`).
const ENGINE_USER: &str = "kubia-bench:engine";
const KUBECTL_USER: &str = "kubia-bench:kubectl";

pub fn run(args: &Args) -> Result<()> {
    ensure!(args.runs > 0, "--runs must be at least 1");
    ensure!(args.replicas > 0, "--replicas must be at least 1");
    if let Some(m) = args.fake_nodes {
        ensure!(m > 0, "--fake-nodes must be at least 1");
        ensure!(
            u64::from(args.replicas) * 2 <= u64::from(m) * 100,
            "{} replicas need at least {} fake nodes (each takes 110 pods, and an update holds old and new pods)",
            args.replicas,
            args.replicas.div_ceil(50)
        );
    } else {
        ensure!(
            args.replicas <= 20,
            "{} real pods are too many for this machine's one node; use --fake-nodes",
            args.replicas
        );
    }
    let mut bounds: Vec<Bounds> = if args.fake_nodes.is_some() {
        vec![
            Bounds {
                surge: "1",
                unavailable: "0",
                targets: (1.1, 1.2),
                first_update: false,
            },
            Bounds {
                surge: "25%",
                unavailable: "25%",
                targets: (1.0, 1.0),
                first_update: true,
            },
        ]
    } else {
        vec![Bounds {
            surge: "1",
            unavailable: "0",
            targets: (1.0, 1.0),
            first_update: true,
        }]
    };
    if let Some(only) = &args.only_bounds {
        let all: Vec<String> = bounds.iter().map(Bounds::spelled).collect();
        bounds.retain(|b| b.spelled() == *only);
        ensure!(
            !bounds.is_empty(),
            "--only-bounds {only}: not among this size's bounds ({})",
            all.join(", ")
        );
    }
    let sh = util::shell()?;
    let plugin_dir = if args.debug_build {
        let _p = util::Phase::start("cargo build -p rollout-cli (debug: not the engine users get)");
        xshell::cmd!(sh, "cargo build --quiet --locked -p rollout-cli").run()?;
        util::root().join("target/debug")
    } else {
        let _p = util::Phase::start("cargo build --release -p rollout-cli");
        xshell::cmd!(sh, "cargo build --quiet --release --locked -p rollout-cli").run()?;
        util::root().join("target/release")
    };
    let (_, created) = cluster::up(Provider::Local)?;
    let mut results: Vec<Sides> = bounds.iter().map(|_| Sides::default()).collect();
    let outcome = (|| -> Result<()> {
        let _fast = args
            .fake_nodes
            .map(|_| FastControllers::start())
            .transpose()?;
        let _nodes = args.fake_nodes.map(FakeNodes::start).transpose()?;
        let workload = Workload {
            replicas: args.replicas,
            fake: args.fake_nodes.is_some(),
        };
        for i in 1..=args.runs {
            for (b, sides) in bounds.iter().zip(results.iter_mut()) {
                let _p = util::Phase::start(format!(
                    "run {i} of {}, maxSurge {} maxUnavailable {}",
                    args.runs, b.surge, b.unavailable
                ));
                let tag = format!("{i}-{}", b.surge.trim_end_matches('%'));
                sides.engine.push(engine_run(
                    &format!("bench-engine-{tag}"),
                    &plugin_dir,
                    &workload,
                    b,
                    Start::Labelled,
                )?);
                sides.deployment.push(deployment_run(
                    &format!("bench-deploy-{tag}"),
                    &workload,
                    b,
                )?);
                if b.first_update && !args.no_first_update {
                    sides.first_update.push(engine_run(
                        &format!("bench-first-{tag}"),
                        &plugin_dir,
                        &workload,
                        b,
                        Start::Unlabelled,
                    )?);
                }
            }
        }
        Ok(())
    })();
    if !args.keep && created == cluster::Created::New {
        cluster::down(Provider::Local)?;
    }
    outcome?;
    let report = report::render(args, &bounds, &results);
    println!("{report}");
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("rollout.md"), &report)?;
    std::fs::write(out.join(format!("rollout-{}.md", args.replicas)), &report)?;
    eprintln!(
        "written to target/bench/rollout.md and target/bench/rollout-{}.md",
        args.replicas
    );
    Ok(())
}

/// kube-controller-manager and kube-scheduler restarted with [`local::BENCH_QPS`] until
/// dropped.
struct FastControllers;

impl FastControllers {
    fn start() -> Result<FastControllers> {
        let _p = util::Phase::start(format!(
            "restarting kube-controller-manager and kube-scheduler with client QPS {} (burst {})",
            local::BENCH_QPS,
            local::BENCH_BURST
        ));
        let guard = FastControllers;
        local::restart_with("kube-controller-manager", |mut args| {
            args.push(format!("--kube-api-qps={}", local::BENCH_QPS));
            args.push(format!("--kube-api-burst={}", local::BENCH_BURST));
            args
        })?;
        local::restart_with("kube-scheduler", |args| {
            args.into_iter()
                .map(|a| a.replace("scheduler.yaml", "scheduler-bench.yaml"))
                .collect()
        })?;
        Ok(guard)
    }
}

impl Drop for FastControllers {
    fn drop(&mut self) {
        for name in ["kube-controller-manager", "kube-scheduler"] {
            if let Err(e) = local::restore(name) {
                eprintln!("warning: restoring {name}: {e:#}");
            }
        }
    }
}

/// The updated workload: how many pods, and where.
struct Workload {
    replicas: u32,
    fake: bool,
}

impl Workload {
    /// The pod template (labels, and on fake nodes their selector, toleration and kwok's
    /// delays), indented for a controller's `spec.template`.
    fn template(&self) -> String {
        let (annotations, placement) = if self.fake {
            (
                format!("annotations: {}, ", fake_nodes::POD_ANNOTATIONS),
                format!(
                    "\n      nodeSelector: {}\n      tolerations: [{}]",
                    fake_nodes::NODE_SELECTOR,
                    fake_nodes::TOLERATION
                ),
            )
        } else {
            (String::new(), String::new())
        };
        format!(
            r#"  template:
    metadata: {{{annotations}labels: {{app: kubia}}}}
    spec:
      terminationGracePeriodSeconds: 10{placement}
      containers: [{{name: nodejs, image: "luksa/kubia:v1", imagePullPolicy: IfNotPresent}}]
"#
        )
    }

    fn rc(&self, start: Start) -> String {
        let (selector, template) = match start {
            Start::Labelled => (
                "{app: kubia, deployment: v1}",
                self.template().replace(
                    "labels: {app: kubia}",
                    "labels: {app: kubia, deployment: v1}",
                ),
            ),
            Start::Unlabelled => ("{app: kubia}", self.template()),
        };
        format!(
            "apiVersion: v1\nkind: ReplicationController\nmetadata: {{name: kubia-v1}}\nspec:\n  replicas: {}\n  selector: {selector}\n{template}",
            self.replicas,
        )
    }

    fn deployment(&self, b: &Bounds) -> String {
        let quote = |v: &str| {
            if v.ends_with('%') {
                format!("\"{v}\"")
            } else {
                v.to_owned()
            }
        };
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: kubia}}\nspec:\n  replicas: {}\n  minReadySeconds: 0\n  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: {}, maxUnavailable: {}}}}}\n  selector: {{matchLabels: {{app: kubia}}}}\n{}",
            self.replicas,
            quote(b.surge),
            quote(b.unavailable),
            self.template()
        )
    }
}

fn engine_run(ns: &str, plugin_dir: &Path, w: &Workload, b: &Bounds, start: Start) -> Result<Run> {
    prepare(ns, &w.rc(start), w.replicas)?;
    let log = local::state_dir().join(format!("{ns}.log"));
    let start = Instant::now();
    let since = now_rfc3339_micros();
    let mut child = Command::new(build::bin("kubectl"))
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
            &format!("--max-surge={}", b.surge),
            &format!("--max-unavailable={}", b.unavailable),
            "--timeout=10m",
            "-n",
            ns,
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log)?)
        .stderr(std::fs::File::create(log.with_extension("err"))?)
        .spawn()
        .context("starting kubectl rolling-update")?;
    // kubectl execs the plugin in place: the same pid, whose peak RSS is sampled until exit.
    let mut peak_kib = 0;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        peak_kib = peak_kib.max(vm_hwm_kib(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = start.elapsed();
    ensure!(
        status.success(),
        "kubectl rolling-update failed: {}",
        std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
    );
    let requests = count_requests(ns, &since, ENGINE_USER, &[RC_CONTROLLER])?;
    finish(ns)?;
    Ok(Run {
        took,
        requests,
        peak_kib: Some(peak_kib),
    })
}

/// The peak resident set size of process `pid` so far (`VmHWM` in `/proc/PID/status`).
fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn deployment_run(ns: &str, w: &Workload, b: &Bounds) -> Result<Run> {
    prepare(ns, &w.deployment(b), w.replicas)?;
    let start = Instant::now();
    let since = now_rfc3339_micros();
    let kubeconfig = local::client_kubeconfig("bench-kubectl");
    let image = ["set", "image", "deployment/kubia", "nodejs=luksa/kubia:v2"];
    cluster::kubectl(&kubeconfig, &[&["-n", ns][..], &image[..]].concat())?;
    // `rollout status` watches and returns as soon as the rollout is complete.
    let status = ["rollout", "status", "deployment/kubia", "--timeout=10m"];
    cluster::kubectl(&kubeconfig, &[&["-n", ns][..], &status[..]].concat())?;
    let took = start.elapsed();
    let requests = count_requests(ns, &since, KUBECTL_USER, &DEPLOYMENT_CONTROLLERS)?;
    finish(ns)?;
    Ok(Run {
        took,
        requests,
        peak_kib: None,
    })
}

fn prepare(ns: &str, manifest: &str, replicas: u32) -> Result<()> {
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
    let every = if replicas > 50 { 1000 } else { 200 };
    util::wait_for(
        &format!("{replicas} ready pods"),
        Duration::from_secs(300),
        Duration::from_millis(every),
        || {
            let out = local::kubectl(&[
                "-n",
                ns,
                "get",
                "pods",
                "-o",
                "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
            ])?;
            let ready = out.lines().filter(|l| *l == "True").count();
            Ok(
                (ready == replicas as usize && out.lines().count() == replicas as usize)
                    .then_some(()),
            )
        },
    )?;
    // Let the controllers' status updates of the set-up settle before counting.
    std::thread::sleep(Duration::from_secs(2));
    Ok(())
}

/// Deletes the run's namespace and waits until it is gone. Without the wait, a 1000-pod
/// teardown overlapped the next two or three runs and competed with whichever side ran then
/// for the 2 cores (run times jumped by up to 10 s on either side). The run is over, so its
/// pods go at once: controllers first (orphaning their pods, or they would replace them),
/// then the pods with no grace period; otherwise the namespace waits for every pod's grace
/// period (20.6 s of a 3-replica run's 87 s, for a 2.9 s update).
fn finish(ns: &str) -> Result<()> {
    let _p = util::Phase::start(format!("deleting namespace {ns} before the next run"));
    let controllers = "replicationcontrollers,replicasets,deployments";
    local::kubectl(&["-n", ns, "delete", controllers, "--all", "--cascade=orphan"])?;
    local::kubectl(&[
        "-n",
        ns,
        "delete",
        "pods",
        "--all",
        "--grace-period=0",
        "--force",
        "--wait=false",
    ])?;
    local::kubectl(&["delete", "namespace", ns, "--wait=true", "--timeout=600s"]).map(drop)
}

/// The requests of one side in namespace `ns` since `since`, from the audit log and the
/// files it was rotated into.
fn count_requests(
    ns: &str,
    since: &str,
    client: &str,
    controllers: &[audit::Controller],
) -> Result<Requests> {
    // The audit backend writes asynchronously.
    std::thread::sleep(Duration::from_secs(2));
    let log = local::audit_log();
    let dir = log.parent().context("the audit log has a directory")?;
    let mut text = String::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("audit") && name.ends_with(".log") {
            text.push_str(&std::fs::read_to_string(entry.path())?);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_parse_and_land_on_fake_nodes_only_when_asked() {
        let b = Bounds {
            surge: "25%",
            unavailable: "25%",
            targets: (1.0, 1.0),
            first_update: true,
        };
        for fake in [false, true] {
            let w = Workload {
                replicas: 1000,
                fake,
            };
            let rc: serde_yaml::Value =
                serde_yaml::from_str(&w.rc(Start::Labelled)).expect("RC parses");
            let first: serde_yaml::Value =
                serde_yaml::from_str(&w.rc(Start::Unlabelled)).expect("RC parses");
            assert_eq!(rc["spec"]["selector"]["deployment"], "v1");
            assert_eq!(
                rc["spec"]["template"]["metadata"]["labels"]["deployment"],
                "v1"
            );
            assert_eq!(
                first["spec"]["selector"]["deployment"],
                serde_yaml::Value::Null
            );
            let d: serde_yaml::Value =
                serde_yaml::from_str(&w.deployment(&b)).expect("Deployment parses");
            assert_eq!(rc["spec"]["replicas"], 1000);
            assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
            for spec in [
                &rc["spec"]["template"]["spec"],
                &d["spec"]["template"]["spec"],
            ] {
                assert_eq!(
                    spec["nodeSelector"]["type"].as_str(),
                    fake.then_some("kwok")
                );
                assert_eq!(
                    spec["tolerations"][0]["key"].as_str(),
                    fake.then_some("kwok.x-k8s.io/node")
                );
            }
        }
    }

    #[test]
    fn peak_memory_is_read_from_proc() {
        assert!(vm_hwm_kib(std::process::id()).is_some_and(|k| k > 0));
        assert_eq!(vm_hwm_kib(u32::MAX), None);
    }
}
