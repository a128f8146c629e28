//! `cargo xtask cluster up|down|status|kubeconfig [--provider kind|local]`: a real cluster
//! for the end-to-end tests.

pub mod build;
pub mod host;
pub mod kind;
pub mod local;
mod pki;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use crate::util;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// Which cluster: `kind` (default where kind is installed, or where the local provider
    /// cannot run: not Linux, or not root) or `local` (upstream components as processes on
    /// this machine). CI runs both.
    #[arg(long, global = true, value_enum)]
    provider: Option<Provider>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create (or reuse) the cluster and load the demo images.
    Up,
    /// Delete the cluster and everything it left on the machine.
    Down,
    /// Show what runs.
    Status,
    /// Print the path of the cluster's kubeconfig.
    Kubeconfig,
    /// Stop one component of the local cluster (kube-apiserver, etcd, kubelet, …), leaving
    /// the rest running: the fault scenarios' hook.
    Stop { component: String },
    /// Start a component stopped with `stop` again, with the flags `up` gave it.
    Start { component: String },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Kind,
    Local,
}

impl Provider {
    /// kind where it is installed or the local cluster cannot run, else the local cluster.
    pub fn detect() -> Provider {
        if kind::preferred() {
            Provider::Kind
        } else {
            Provider::Local
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let provider = args.provider.unwrap_or_else(Provider::detect);
    match (args.action_ref(), provider) {
        (Action::Up, Provider::Local) => local::up().map(drop),
        (Action::Down, Provider::Local) => local::down(),
        (Action::Status, Provider::Local) => local::status(),
        (Action::Kubeconfig, Provider::Local) => {
            println!("{}", local::kubeconfig().display());
            Ok(())
        }
        (Action::Stop { component }, Provider::Local) => local::stop_component(component),
        (Action::Start { component }, Provider::Local) => local::start_component(component),
        (Action::Stop { .. } | Action::Start { .. }, Provider::Kind) => anyhow::bail!(
            "stop and start are offered by the local provider only: kind's control plane runs \
             as static pods inside its node containers, which the kubelet restarts at once"
        ),
        (Action::Up, Provider::Kind) => kind::up().map(drop),
        (Action::Down, Provider::Kind) => kind::down(),
        (Action::Status, Provider::Kind) => kind::status(),
        (Action::Kubeconfig, Provider::Kind) => {
            println!("{}", kind::kubeconfig()?.display());
            Ok(())
        }
    }
}

impl Args {
    fn action_ref(&self) -> &Action {
        &self.action
    }
}

/// Brings up a cluster of the given provider and returns its kubeconfig.
/// Whether `up` created the cluster or found one running (which is then not ours to
/// take down).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Created {
    New,
    Reused,
}

/// Brings up a cluster of the given provider; returns its kubeconfig and whether it is new.
pub fn up(provider: Provider) -> Result<(std::path::PathBuf, Created)> {
    match provider {
        Provider::Local => {
            let created = local::up()?;
            Ok((local::kubeconfig(), created))
        }
        Provider::Kind => {
            let created = kind::up()?;
            Ok((kind::kubeconfig()?, created))
        }
    }
}

pub fn down(provider: Provider) -> Result<()> {
    match provider {
        Provider::Local => local::down(),
        Provider::Kind => kind::down(),
    }
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Kind => "kind",
            Provider::Local => "local",
        }
    }
}

/// The kubectl to drive clusters with: ours (v1.34.4, built with the cluster) when built,
/// else the one on PATH.
pub fn kubectl_binary() -> PathBuf {
    let ours = build::bin("kubectl");
    if ours.is_file() {
        ours
    } else {
        PathBuf::from("kubectl")
    }
}

pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String> {
    kubectl_stdin(kubeconfig, args, "")
}

pub fn kubectl_stdin(kubeconfig: &Path, args: &[&str], input: &str) -> Result<String> {
    let mut cmd = std::process::Command::new(kubectl_binary());
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()));
    local::run_checked("kubectl", cmd, args, input)
}

/// Connects the clusters that run to the local registry: kind's node gets the forwarder
/// and the `hosts.toml` files, and both clusters the KEP-1755 ConfigMap. A cluster brought
/// up later connects itself; this is for the registry started under a running one
/// (`registry up`, `images --push`, which `main` follows with it: the registry module
/// knows no cluster, since the clusters build on it).
pub fn connect_registry() -> Result<()> {
    if kind::node_running() {
        kind::connect_registry(&kind::running_kubeconfig()?)?;
    }
    if local::healthy() {
        local::connect_registry()?;
    }
    Ok(())
}

/// Publishes the local registry in the cluster of `kubeconfig` (KEP-1755's
/// `local-registry-hosting`), its nodes reaching it at `from_runtime`.
pub fn publish_registry(kubeconfig: &Path, from_runtime: &str) -> Result<()> {
    let manifest = crate::registry::hosting_manifest(from_runtime);
    kubectl_stdin(kubeconfig, &["apply", "-f", "-"], &manifest).map(drop)
}

/// Waits until namespace `ns` has its default service account: pods are refused before.
pub fn wait_default_service_account(kubeconfig: &Path, ns: &str) -> Result<()> {
    util::wait_for(
        &format!("the default service account in namespace {ns}"),
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            Ok(kubectl(
                kubeconfig,
                &["-n", ns, "get", "serviceaccount", "default", "-o", "name"],
            )
            .ok()
            .map(drop))
        },
    )
}

/// `kubectl apply` of a manifest that creates namespace `ns` and pods in it. Pods are
/// refused until the new namespace's default service account exists, which appears a
/// moment after the namespace: on a refusal, wait for it and apply again.
fn apply_with_namespace(kubeconfig: &Path, ns: &str, manifest: &str) -> Result<()> {
    kubectl_stdin(kubeconfig, &["apply", "-f", "-"], manifest)
        .or_else(|_| {
            wait_default_service_account(kubeconfig, ns)?;
            kubectl_stdin(kubeconfig, &["apply", "-f", "-"], manifest)
        })
        .map(drop)
}

/// A pod from the locally built image behind NodePort `node_port` answers on 127.0.0.1;
/// the namespace is deleted afterwards (and waited for, so the NodePort is free again).
pub fn serving_check(kubeconfig: &Path, ns: &str, node_port: u16) -> Result<()> {
    let manifest = format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: check, namespace: {ns}, labels: {{app: check}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: kubia, image: "luksa/kubia:v1", imagePullPolicy: Never, env: [{{name: KUBIA_SHUTDOWN_DELAY, value: 0s}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: check, namespace: {ns}}}
spec:
  type: NodePort
  selector: {{app: check}}
  ports: [{{port: 80, targetPort: 8080, nodePort: {node_port}}}]
"#
    );
    wait_default_service_account(kubeconfig, "default")?;
    apply_with_namespace(kubeconfig, ns, &manifest)?;
    let result = util::wait_for(
        "the check pod to answer on the NodePort",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let body = util::http_get(node_port)?;
            Ok((body == "This is v1 running in pod check\n").then_some(()))
        },
    );
    let deleted = kubectl(
        kubeconfig,
        &["delete", "namespace", ns, "--wait=true", "--timeout=60s"],
    );
    result?;
    eprintln!("127.0.0.1:{node_port} answered \"This is v1 running in pod check\"");
    deleted.map(drop)
}

/// A pod with `imagePullPolicy: Always` for `luksa/kubia:v4` becomes Ready: the node's
/// containerd really pulled it, and with no internet only the local registry (docker.io's
/// mirror) can have served it. Needs `registry up` and `images --push` first.
pub fn pull_always_check(kubeconfig: &Path, ns: &str) -> Result<()> {
    let manifest = format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: pull-always, namespace: {ns}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: kubia, image: "luksa/kubia:v4", imagePullPolicy: Always, env: [{{name: KUBIA_SHUTDOWN_DELAY, value: 0s}}]}}
"#
    );
    apply_with_namespace(kubeconfig, ns, &manifest)?;
    let waited = kubectl(
        kubeconfig,
        &[
            "-n",
            ns,
            "wait",
            "pod/pull-always",
            "--for=condition=Ready",
            "--timeout=60s",
        ],
    );
    let detail = kubectl(
        kubeconfig,
        &[
            "-n",
            ns,
            "get",
            "pod/pull-always",
            "-o",
            "jsonpath={.status.containerStatuses[0].imageID} {.status.containerStatuses[0].state.waiting.reason}",
        ],
    )
    .unwrap_or_default();
    let deleted = kubectl(kubeconfig, &["delete", "namespace", ns, "--wait=false"]);
    waited.map_err(|e| {
        e.context(format!(
            "a pod pulling luksa/kubia:v4 with imagePullPolicy: Always did not become Ready ({})",
            detail.trim()
        ))
    })?;
    eprintln!(
        "imagePullPolicy: Always pulled luksa/kubia:v4 through the local registry ({})",
        detail.trim()
    );
    deleted.map(drop)
}
