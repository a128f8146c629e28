//! The scenarios, each a function from the environment to an [`Outcome`].

mod bad_input;
mod bad_version;
mod blue_green;
mod canary;
mod deployment;
mod detached;
mod faults;
mod interrupted;
pub mod kubectl_117;
mod kubectl_forms;
mod leases;
mod manifests;
mod pull_policy;
mod recreate;
mod stale_conntrack;
mod steps;
mod tutorial;
mod watching;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use anyhow::Result;

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
pub const ALL: [Scenario; 25] = [
    Scenario {
        name: "tutorial-rolling-update",
        needs: Needs::Namespace,
        tutorial_port: true,
        run: |e, o| Box::pin(tutorial::run(e, o)),
    },
    beside("lease-race", |e, o| Box::pin(leases::race(e, o))),
    beside("kill-storm", |e, o| Box::pin(leases::kill_storm(e, o))),
    beside("canary", |e, o| Box::pin(canary::run(e, o))),
    beside("detached", |e, o| Box::pin(detached::run(e, o))),
    beside("deployment", |e, o| Box::pin(deployment::run(e, o))),
    beside("interrupted-and-resumed", |e, o| {
        Box::pin(interrupted::run(e, o))
    }),
    beside("bad-version", |e, o| Box::pin(bad_version::run(e, o))),
    beside("bad-version-rolling", |e, o| {
        Box::pin(bad_version::run_rolling(e, o))
    }),
    beside("kubectl-forms", |e, o| Box::pin(kubectl_forms::run(e, o))),
    beside("watching", |e, o| Box::pin(watching::run(e, o))),
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
        .find(|(n, only, _)| *n == name && !only.contains(&env.settings.provider.as_str()))
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
        println!(
            "=== {name}: not applicable on {}: {why}",
            env.settings.provider
        );
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
