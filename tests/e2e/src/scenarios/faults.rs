//! The cluster misbehaving in the middle of the tutorial's update: the API server or etcd
//! restarted, the engine cut off from the API server, the kubelet restarted, a pod deleted
//! by hand, the controller manager (and with it the RC controller) gone for a while.
//!
//! In every case the update either completes, or stops with its one-line resume hint and a
//! rerun completes; no request through the NodePort fails (the API server restart's pods
//! get a shutdown delay that outlasts kube-proxy's reconnection, see `data_plane`), and the
//! pod bounds hold in every state the monitor saw (a hand-deleted pod may take one ready pod
//! away until it is replaced: the check is then that the engine never takes away another).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{DeleteParams, ListParams};

use super::steps::{
    assert_no_failures, assert_transition, is_scaling_step, probe, setup_v1_with, wait_converged,
};
use crate::monitor::{Monitor, is_ready, version};
use crate::{Env, Namespace, Outcome, process};

mod bounds;
mod data_plane;
mod fault;

use bounds::bounds_around;
pub use fault::Fault;

/// Why `name` cannot run on this cluster, if it cannot.
pub fn not_applicable(name: &str, env: &Env) -> Option<String> {
    let fault = by_name(name)?;
    let needs_hooks = fault.component().is_some() || fault == Fault::ApiUnreachable;
    (needs_hooks && env.settings.cluster_hooks.is_none()).then(|| {
        "it stops the cluster's own processes (or firewalls the API server's port on this \
         host), which only the local provider runs and offers hooks for (`--cluster-hooks`); \
         kind's control plane runs as static pods inside its node containers"
            .to_owned()
    })
}

/// The scenario names, each with its fault.
const SCENARIOS: [(&str, Fault); 7] = [
    ("fault-apiserver-restart", Fault::ApiServerRestart),
    ("fault-etcd-restart", Fault::EtcdRestart),
    ("fault-api-unreachable", Fault::ApiUnreachable),
    ("fault-kubelet-restart", Fault::KubeletRestart),
    ("fault-new-pod-deleted", Fault::NewPodDeleted),
    ("fault-old-pod-deleted", Fault::OldPodDeleted),
    (
        "fault-controller-manager-stopped",
        Fault::ControllerManagerStopped,
    ),
];

fn by_name(name: &str) -> Option<Fault> {
    SCENARIOS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

pub async fn run(env: &Env, o: &mut Outcome, fault: Fault) -> Result<()> {
    let ns = setup_v1_with(env, &format!("e2e-fault-{}", fault.slug()), 3, |spec| {
        if fault == Fault::ApiServerRestart {
            data_plane::long_shutdown(spec);
        }
    })
    .await?;
    // A fault that stops a component disturbs every scenario: from here until the Service
    // answers only v2, nothing else runs (see `schedule::Gate`); the set-up above and the
    // clean-up below run beside the others.
    let disruptive = fault.component().is_some();
    if disruptive {
        let waited = env.gate.alone().await;
        o.note(format!(
            "had the cluster to itself after waiting {:.1}s for the other scenarios to finish",
            waited.as_secs_f64()
        ));
        // Whatever ran before may have left the NodePort's rules behind for a moment.
        ns.wait_ready("app=kubia", 3, Duration::from_secs(120))
            .await?;
        super::steps::wait_serving(env, "v1", Duration::from_secs(60)).await?;
    }
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    let result = update_through(env, &ns, o, fault, origin).await;
    // The probe ends once the Service answers only v2, which kube-proxy may take a while to
    // get to after the update (see `data_plane`).
    let converged = match &result {
        Ok(_) => Some(wait_converged(env, "v2", Duration::from_secs(180)).await),
        Err(_) => None,
    };
    stop.stop();
    let samples = running.await.context("probe")?;
    let watched = monitor.stop().await;
    if disruptive {
        env.gate.share().await;
    }
    o.add_samples(&samples);
    o.snapshots = watched.snapshots.clone();
    let fault_at = result?;
    let converged = converged.transpose()?.unwrap_or_default();
    o.note(watched.summary());
    o.note(format!(
        "{}; the Service answered only v2 {:.1}s after the update ended{}",
        data_plane::describe(data_plane::longest_after_deletion(
            &samples,
            &watched.terminating_since
        )),
        converged.as_secs_f64(),
        if fault == Fault::ApiServerRestart {
            format!(
                " (the pods' shutdown delay: {}s)",
                data_plane::API_RESTART_SHUTDOWN_DELAY.as_secs()
            )
        } else {
            String::new()
        }
    ));
    assert_no_failures(&samples)?;
    o.note(assert_transition(&samples, "v1", "v2")?);
    let (min_ready, max_live) = bounds_around(&watched.snapshots, fault, fault_at)?;
    o.note(format!(
        "pods throughout: at least {min_ready} ready, at most {max_live} live (bounds 3 and 4{}), {} observed states",
        if matches!(fault, Fault::NewPodDeleted | Fault::OldPodDeleted) {
            "; 2 ready allowed from the deletion until its replacement is ready"
        } else {
            ""
        },
        watched.snapshots.len()
    ));
    ns.delete().await
}

/// Runs the update, injects the fault after its step, and resumes it when it stopped.
/// Returns when the fault began (on the scenario's clock).
async fn update_through(
    env: &Env,
    ns: &Namespace,
    o: &mut Outcome,
    fault: Fault,
    origin: Instant,
) -> Result<Duration> {
    let image = env.image_arg("v2");
    let args = [
        "rolling-update",
        "kubia-v1",
        "kubia-v2",
        image.as_str(),
        "--update-period=1s",
    ];
    let cut_off = (fault == Fault::ApiUnreachable)
        .then(|| second_address_kubeconfig(ns))
        .transpose()?;
    let cmd = match &cut_off {
        Some(kc) => process::command(&env.settings.kubectl, &args, &env.settings.bin_dir, kc),
        None => ns.kubectl(env, &args),
    };
    let mut engine = process::spawn(cmd)?;
    let mut steps = 0;
    while steps < fault.after_step() {
        let Some(line) = engine.next_line(Duration::from_secs(120)).await else {
            let out = engine.finish(Duration::from_secs(10)).await?;
            bail!(
                "the update ended before step {}: {}{}",
                fault.after_step(),
                out.stdout,
                out.stderr
            );
        };
        if is_scaling_step(&line) {
            steps += 1;
        }
    }
    let fault_at = origin.elapsed();
    o.marks.push((format!("{fault:?}"), fault_at));
    // The engine's lines are read, with the time each arrived, while the fault runs.
    let mut timed: Vec<(Duration, String)> = Vec::new();
    let injected = {
        let injecting = inject(env, ns, fault, origin, o);
        tokio::pin!(injecting);
        let mut open = true;
        loop {
            tokio::select! {
                done = &mut injecting => break done,
                line = engine.next_line(Duration::from_secs(3600)), if open => match line {
                    Some(line) => timed.push((origin.elapsed(), line)),
                    None => open = false,
                },
            }
        }
    };
    let fault_end = origin.elapsed();
    o.marks.push(("fault over".into(), fault_end));
    // And on to the end of the run, still timed (a step after the fault shows when the
    // engine got going again).
    while let Some(line) = engine.next_line(Duration::from_secs(600)).await {
        timed.push((origin.elapsed(), line));
    }
    let out = engine.finish(Duration::from_secs(60)).await?;
    let injected = injected?;
    if let Some((down_from, down_to)) = injected.down {
        // While the component is down the engine may finish the step it was on, but
        // must not claim more: with no RC controller (or no API) no pod comes or goes.
        let steps_while_down: Vec<&str> = timed
            .iter()
            .filter(|(at, l)| *at >= down_from && *at < down_to && is_scaling_step(l))
            .map(|(_, l)| l.as_str())
            .collect();
        ensure!(
            steps_while_down.len() <= 1,
            "{} scaling steps printed while {} was down: {steps_while_down:?}",
            steps_while_down.len(),
            injected.what
        );
        let next = timed
            .iter()
            .find(|(at, l)| *at >= down_to && is_scaling_step(l));
        o.note(format!(
            "during the fault the engine printed {} scaling step(s){}; the next step {}",
            steps_while_down.len(),
            steps_while_down
                .first()
                .map(|l| format!(" (`{l}`)"))
                .unwrap_or_default(),
            match next {
                Some((at, l)) => format!(
                    "`{l}` came {:.1}s after the fault ended",
                    (*at - down_to).as_secs_f64()
                ),
                None => "never came in this run".into(),
            }
        ));
    }
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("Warning: "))
        .collect();
    o.note(format!(
        "{}; meanwhile the engine printed {} stdout line(s), {} more until it ended, and {} warning(s) on stderr{}",
        injected.what,
        timed.iter().filter(|(at, _)| *at < fault_end).count(),
        timed.iter().filter(|(at, _)| *at >= fault_end).count(),
        warnings.len(),
        warnings
            .first()
            .map(|l| format!(", the first: `{l}`"))
            .unwrap_or_default()
    ));
    if out.success() {
        o.note(format!(
            "the update completed in the same run, {:.1}s after the fault began",
            (origin.elapsed() - fault_at).as_secs_f64()
        ));
    } else {
        let last = out.stderr.trim().lines().last().unwrap_or_default();
        ensure!(
            last.contains("resume with: "),
            "the update failed without saying how to resume: {}",
            out.stderr.trim()
        );
        o.note(format!("the update stopped with `{last}`; rerunning it"));
        let again = process::run(ns.kubectl(env, &args), Duration::from_secs(300)).await?;
        let again = again.ok("the resumed update")?;
        ensure!(
            again
                .stdout
                .contains("Found existing update in progress (kubia-v2), resuming."),
            "the rerun did not resume: {}",
            again.stdout
        );
    }
    check_finished(ns).await?;
    Ok(fault_at)
}

/// After the update: kubia-v2 with 3 ready pods of v2, kubia-v1 gone.
async fn check_finished(ns: &Namespace) -> Result<()> {
    let rcs = ns.api::<ReplicationController>();
    ensure!(
        rcs.get_opt("kubia-v1").await?.is_none(),
        "kubia-v1 still exists after the update"
    );
    // Old pods may still be serving out a long shutdown delay (see `data_plane`).
    ns.wait_ready_live("app=kubia", 3, Duration::from_secs(120))
        .await?;
    let pods = ns.ready_pods("app=kubia").await?;
    ensure!(
        pods.iter().all(|p| version(p) == "v2"),
        "not every pod runs v2 after the update"
    );
    Ok(())
}

/// What a fault did.
struct Injected {
    /// For the reports.
    what: String,
    /// When a stopped component was down, on the scenario's clock: from the moment its
    /// stop completed to the moment its start was asked for.
    down: Option<(Duration, Duration)>,
}

/// Does the fault and undoes it (whatever happens in between); says what it did.
async fn inject(
    env: &Env,
    ns: &Namespace,
    fault: Fault,
    origin: Instant,
    o: &mut Outcome,
) -> Result<Injected> {
    if let Some((component, down_for)) = fault.component() {
        let began = Instant::now();
        hook(env, "stop", component).await?;
        let stopped = began.elapsed();
        let down_from = origin.elapsed();
        tokio::time::sleep(down_for).await;
        let down_to = origin.elapsed();
        o.marks.push((format!("{component} starting"), down_to));
        // Started again whatever happened: the next scenarios need it.
        let mut tries = 0;
        loop {
            match hook(env, "start", component).await {
                Ok(()) => break,
                Err(e) if tries < 2 => {
                    tries += 1;
                    eprintln!("starting {component} again: {e:#}; retrying");
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(Injected {
            what: format!(
                "{component} stopped ({:.1}s to stop), down for {}s, running again {:.1}s after the stop began",
                stopped.as_secs_f64(),
                down_for.as_secs(),
                began.elapsed().as_secs_f64()
            ),
            down: Some((down_from, down_to)),
        });
    }
    match fault {
        Fault::ApiUnreachable => {
            let rule = DropRule::insert(SECOND_API_ADDRESS, api_port(&env.settings.kubeconfig)?)?;
            let down_from = origin.elapsed();
            tokio::time::sleep(Duration::from_secs(20)).await;
            drop(rule);
            let down_to = origin.elapsed();
            Ok(Injected {
                what: format!(
                    "every packet to the API server from the engine ({SECOND_API_ADDRESS}) dropped for 20s"
                ),
                down: Some((down_from, down_to)),
            })
        }
        Fault::NewPodDeleted | Fault::OldPodDeleted => {
            let rc = if fault == Fault::NewPodDeleted {
                "kubia-v2"
            } else {
                "kubia-v1"
            };
            let pod = ready_pod_of(ns, rc).await?;
            ns.api::<Pod>()
                .delete(&pod, &DeleteParams::default())
                .await
                .with_context(|| format!("deleting {pod}"))?;
            Ok(Injected {
                what: format!("ready pod {pod} of {rc} deleted by hand"),
                down: None,
            })
        }
        _ => unreachable!("faults with a component are handled above"),
    }
}

/// A ready pod of `rc` (waiting up to a minute for one).
async fn ready_pod_of(ns: &Namespace, rc: &str) -> Result<String> {
    let pods = ns.api::<Pod>();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = pods
            .list(&ListParams::default().labels("app=kubia"))
            .await?;
        let owned = list.items.iter().find(|p| {
            is_ready(p)
                && p.metadata.deletion_timestamp.is_none()
                && p.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|r| r.name == rc)
        });
        if let Some(name) = owned.and_then(|p| p.metadata.name.clone()) {
            return Ok(name);
        }
        if Instant::now() > deadline {
            bail!("no ready pod of {rc} within 60s");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `HOOKS cluster ACTION COMPONENT --provider local`.
async fn hook(env: &Env, action: &str, component: &str) -> Result<()> {
    let Some(hooks) = &env.settings.cluster_hooks else {
        bail!("no --cluster-hooks");
    };
    let out = tokio::process::Command::new(hooks)
        .args(["cluster", action, component, "--provider", "local"])
        .current_dir(&env.settings.root)
        .output()
        .await
        .with_context(|| format!("running {}", hooks.display()))?;
    ensure!(
        out.status.success(),
        "cluster {action} {component}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// The second loopback address the local API server's certificate names (see
/// `xtask/src/cluster/local.rs`): the engine talks to it, and only it is firewalled.
const SECOND_API_ADDRESS: &str = "127.0.0.66";

/// A copy of the namespace's kubeconfig whose server is the second address.
fn second_address_kubeconfig(ns: &Namespace) -> Result<PathBuf> {
    let text = crate::env::read(&ns.kubeconfig)?;
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text)?;
    let clusters = doc
        .get_mut("clusters")
        .and_then(|c| c.as_sequence_mut())
        .context("kubeconfig without clusters")?;
    for c in clusters {
        if let Some(server) = c.get_mut("cluster").and_then(|c| c.get_mut("server")) {
            let s = server.as_str().unwrap_or_default().to_owned();
            ensure!(
                s.contains("127.0.0.1"),
                "the API server is not on 127.0.0.1 ({s})"
            );
            *server = s.replace("127.0.0.1", SECOND_API_ADDRESS).into();
        }
    }
    let path = ns.kubeconfig.with_extension("second-address");
    std::fs::write(&path, serde_yaml::to_string(&doc)?)?;
    Ok(path)
}

/// The API server's port, from the kubeconfig's server URL.
fn api_port(kubeconfig: &Path) -> Result<u16> {
    let text = crate::env::read(kubeconfig)?;
    let server = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .context("no server in the kubeconfig")?
        .trim();
    server
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .with_context(|| format!("no port in {server}"))
}

/// An iptables rule dropping every packet to `address:port` on the loopback interface;
/// removed when dropped, so the scenario cannot leave it behind however it ends.
struct DropRule {
    spec: Vec<String>,
}

impl DropRule {
    fn insert(address: &str, port: u16) -> Result<DropRule> {
        let spec: Vec<String> = [
            "INPUT",
            "-i",
            "lo",
            "-d",
            &format!("{address}/32"),
            "-p",
            "tcp",
            "--dport",
            &port.to_string(),
            "-m",
            "comment",
            "--comment",
            "kubia-lab e2e: engine cut off from the API server",
            "-j",
            "DROP",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let rule = DropRule { spec };
        // A leftover of an interrupted run goes first.
        while rule.iptables("-D").is_ok() {}
        rule.iptables("-I")?;
        Ok(rule)
    }

    fn iptables(&self, op: &str) -> Result<()> {
        let out = std::process::Command::new("iptables")
            .arg("-w")
            .arg(op)
            .args(&self.spec)
            .output()
            .context("running iptables")?;
        ensure!(
            out.status.success(),
            "iptables {op}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }
}

impl Drop for DropRule {
    fn drop(&mut self) {
        if let Err(e) = self.iptables("-D") {
            eprintln!("error: removing the iptables rule: {e:#}");
        }
    }
}
