//! The test environment: cluster client, binaries, and one namespace per scenario.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Namespace as NamespaceObj, Pod, ReplicationController};
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams, PropagationPolicy};
use kube::{Api, Client};

/// What a scenario sees: the cluster and binaries every scenario shares, and its own
/// NodePort and name ([`Env::for_scenario`]).
#[derive(Clone)]
pub struct Env {
    /// What the run was started with, the same for every scenario.
    pub settings: Settings,
    /// Client for the cluster under test.
    pub client: Client,
    /// This scenario's Service NodePort as seen from this machine (the tutorial's 30002, or
    /// one of the pool's: see [`crate::schedule`]).
    pub node_port: SocketAddr,
    /// The scenario this environment is for (empty for the run's own); its namespaces are
    /// labelled with it, so that its cleanup removes only them.
    pub scenario: String,
    /// Where `manifests/` is read from: the checked-in files, or copies naming `image_repo`
    /// and this scenario's NodePort.
    manifests: PathBuf,
    /// How this scenario holds the cluster: shared with the others, or whole for the part
    /// of a disruptive scenario that disturbs everyone (see [`crate::schedule::Gate`]).
    pub gate: crate::schedule::Gate,
}

/// The images' repository in the tutorial and in `manifests/`.
pub const TUTORIAL_REPO: &str = "luksa/kubia";

/// What `Env::new` is built from (the `e2e` binary's flags).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Kubeconfig of the cluster under test.
    pub kubeconfig: PathBuf,
    /// Directory holding `kubectl-rolling_update` and `kubia-rollout`.
    pub bin_dir: PathBuf,
    /// The kubectl binary to drive.
    pub kubectl: PathBuf,
    /// Where the report and the timelines go.
    pub report_dir: PathBuf,
    /// The repository root (for `manifests/`).
    pub root: PathBuf,
    /// `local`, `kind` or `current`.
    pub provider: String,
    /// `--update-period` for the tutorial's command; None runs it verbatim.
    pub tutorial_update_period: Option<String>,
    /// Repository of the demo images; anything but `luksa/kubia` gets rewritten manifests.
    pub image_repo: String,
    /// Program that stops and starts cluster components; None makes the fault scenarios
    /// that need it not applicable.
    pub cluster_hooks: Option<PathBuf>,
    /// kubectl 1.17.17; None makes the scenario `kubectl-1.17` not applicable.
    pub kubectl_117: Option<PathBuf>,
}

impl Env {
    /// Connects to the cluster and prepares `manifests/` for the image repository.
    pub async fn new(settings: Settings) -> Result<Self> {
        let kc = kube::config::Kubeconfig::read_from(&settings.kubeconfig)
            .with_context(|| format!("reading {}", settings.kubeconfig.display()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        let client = Client::try_from(config)?;
        let node_port = crate::schedule::TUTORIAL_NODE_PORT;
        let manifests = manifests_for(
            &settings.root,
            &settings.report_dir,
            &settings.image_repo,
            node_port,
        )?;
        Ok(Self {
            settings,
            client,
            node_port: SocketAddr::from(([127, 0, 0, 1], node_port)),
            scenario: String::new(),
            gate: crate::schedule::Gate::new(Instant::now()),
            manifests,
        })
    }

    /// The run's environment, its times measured from `run_start`.
    pub fn for_run(&self, run_start: Instant) -> Env {
        Env {
            gate: crate::schedule::Gate::new(run_start),
            ..self.clone()
        }
    }

    /// The environment of scenario `name`, whose Services take NodePort `port`.
    pub fn for_scenario(&self, name: &str, port: u16) -> Result<Env> {
        Ok(Env {
            node_port: SocketAddr::from(([127, 0, 0, 1], port)),
            scenario: name.to_owned(),
            manifests: manifests_for(
                &self.settings.root,
                &self.settings.report_dir,
                &self.settings.image_repo,
                port,
            )?,
            gate: self.gate.for_scenario(),
            ..self.clone()
        })
    }

    /// This scenario's Service NodePort (the port of [`Env::node_port`]).
    pub fn node_port_number(&self) -> i32 {
        i32::from(self.node_port.port())
    }

    /// A file of `manifests/` (rewritten to name `--image-repo` and this scenario's NodePort).
    pub fn manifest(&self, name: &str) -> PathBuf {
        self.manifests.join(name)
    }

    /// The demo image with this tag (`v2` → `luksa/kubia:v2`).
    pub fn image(&self, tag: &str) -> String {
        format!("{}:{tag}", self.settings.image_repo)
    }

    /// `--image=` for the demo image with this tag.
    pub fn image_arg(&self, tag: &str) -> String {
        format!("--image={}", self.image(tag))
    }

    /// Creates a fresh namespace (deleting a leftover of an earlier run first) with its own
    /// kubeconfig whose context points at it, so commands run exactly as the tutorial typed
    /// them (no `-n`).
    pub async fn namespace(&self, name: &str, labels: &[(&str, &str)]) -> Result<Namespace> {
        let api: Api<NamespaceObj> = Api::all(self.client.clone());
        delete_namespace(&api, name).await?;
        // NodePorts are cluster-wide: wait until no other namespace holds this scenario's.
        wait_node_port_free(&self.client, self.node_port_number()).await?;
        let mut all_labels: std::collections::BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all_labels.insert(E2E_LABEL.into(), "true".into());
        if !self.scenario.is_empty() {
            all_labels.insert(SCENARIO_LABEL.into(), self.scenario.clone());
        }
        let ns = NamespaceObj {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                labels: Some(all_labels),
                ..Default::default()
            },
            ..Default::default()
        };
        api.create(&PostParams::default(), &ns).await?;
        // Pods are refused until the namespace's default service account exists.
        let sa: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.client.clone(), name);
        let deadline = Instant::now() + Duration::from_secs(60);
        while sa.get_opt("default").await?.is_none() {
            if Instant::now() > deadline {
                bail!("no default service account in {name} after 60s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let kubeconfig = self.settings.report_dir.join(format!("kubeconfig-{name}"));
        std::fs::create_dir_all(&self.settings.report_dir)?;
        std::fs::copy(&self.settings.kubeconfig, &kubeconfig)?;
        let status = tokio::process::Command::new(&self.settings.kubectl)
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args([
                "config",
                "set-context",
                "--current",
                &format!("--namespace={name}"),
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .await?;
        if !status.success() {
            bail!("kubectl config set-context failed");
        }
        Ok(Namespace {
            name: name.to_owned(),
            client: self.client.clone(),
            kubeconfig,
        })
    }
}

/// A scenario's namespace.
pub struct Namespace {
    /// The namespace's name, as the scenario chose it.
    pub name: String,
    /// Client for the cluster under test.
    pub client: Client,
    /// A kubeconfig whose current context uses this namespace.
    pub kubeconfig: PathBuf,
}

impl Namespace {
    /// An API for objects of kind `K` in this namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.name)
    }

    /// Deletes the namespace and waits until it is gone.
    pub async fn delete(self) -> Result<()> {
        let api: Api<NamespaceObj> = Api::all(self.client.clone());
        delete_namespace(&api, &self.name).await
    }

    /// The names of the namespace's ReplicationControllers, sorted.
    pub async fn rc_names(&self) -> Result<Vec<String>> {
        let rcs: Api<k8s_openapi::api::core::v1::ReplicationController> = self.api();
        Ok(rcs
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .filter_map(|rc| rc.metadata.name)
            .collect())
    }

    /// `kubia-rollout ARGS` against this namespace (PATH and KUBECONFIG set).
    pub fn kubia_rollout(&self, env: &Env, args: &[&str]) -> tokio::process::Command {
        crate::process::command(
            &env.settings.bin_dir.join("kubia-rollout"),
            args,
            &env.settings.bin_dir,
            &self.kubeconfig,
        )
    }

    /// `kubectl ARGS` (so `kubectl rolling-update` finds our plugin) against this namespace.
    pub fn kubectl(&self, env: &Env, args: &[&str]) -> tokio::process::Command {
        crate::process::command(
            &env.settings.kubectl,
            args,
            &env.settings.bin_dir,
            &self.kubeconfig,
        )
    }

    /// Pods matching a label selector that are Ready and not terminating.
    pub async fn ready_pods(&self, selector: &str) -> Result<Vec<Pod>> {
        let pods: Api<Pod> = self.api();
        let list = pods.list(&ListParams::default().labels(selector)).await?;
        Ok(list
            .items
            .into_iter()
            .filter(|p| crate::monitor::is_ready(p) && p.metadata.deletion_timestamp.is_none())
            .collect())
    }

    /// Waits until exactly `n` pods of the selector are ready (and no others exist).
    pub async fn wait_ready(&self, selector: &str, n: usize, timeout: Duration) -> Result<()> {
        self.wait_ready_counting(selector, n, timeout, true).await
    }

    /// Waits until exactly `n` pods of the selector are ready, pods still terminating (which
    /// a long shutdown delay keeps around) aside.
    pub async fn wait_ready_live(&self, selector: &str, n: usize, timeout: Duration) -> Result<()> {
        self.wait_ready_counting(selector, n, timeout, false).await
    }

    async fn wait_ready_counting(
        &self,
        selector: &str,
        n: usize,
        timeout: Duration,
        terminating_count: bool,
    ) -> Result<()> {
        let pods: Api<Pod> = self.api();
        let deadline = Instant::now() + timeout;
        loop {
            let list = pods.list(&ListParams::default().labels(selector)).await?;
            let counted: Vec<&Pod> = list
                .items
                .iter()
                .filter(|p| terminating_count || p.metadata.deletion_timestamp.is_none())
                .collect();
            let ready = counted
                .iter()
                .filter(|p| crate::monitor::is_ready(p) && p.metadata.deletion_timestamp.is_none())
                .count();
            if ready == n && counted.len() == n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "waited {timeout:?} for {n} ready pods matching {selector} in {}, have {ready} ready of {}{}",
                    self.name,
                    counted.len(),
                    if terminating_count {
                        ""
                    } else {
                        " not terminating"
                    }
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Every namespace a scenario creates carries this label, so that an interrupted run's
/// leftovers can be removed before the next run starts.
pub const E2E_LABEL: &str = "kubia-lab/e2e";
/// ... and this one, naming the scenario, so that a failed scenario's leftovers can be
/// removed while its neighbours run.
pub const SCENARIO_LABEL: &str = "kubia-lab/e2e-scenario";

impl Env {
    /// Deletes every namespace this scenario created (after a failure, say); for the run's
    /// own environment, every namespace any scenario created (an interrupted run's).
    pub async fn delete_scenario_namespaces(&self) -> Result<()> {
        let api: Api<NamespaceObj> = Api::all(self.client.clone());
        let selector = if self.scenario.is_empty() {
            E2E_LABEL.to_owned()
        } else {
            format!("{SCENARIO_LABEL}={}", self.scenario)
        };
        let names: Vec<String> = api
            .list(&ListParams::default().labels(&selector))
            .await?
            .items
            .into_iter()
            .filter_map(|ns| ns.metadata.name)
            .collect();
        futures::future::try_join_all(names.iter().map(|name| delete_namespace(&api, name)))
            .await?;
        Ok(())
    }
}

async fn delete_namespace(api: &Api<NamespaceObj>, name: &str) -> Result<()> {
    if api.get_opt(name).await?.is_none() {
        return Ok(());
    }
    // Scenarios are over when their namespace goes: its pods are removed at once instead of
    // each serving out its grace period (and the namespace controller, finding pods with a
    // grace period, would come back only after it). Their controllers go first, orphaning
    // the pods, or they would replace them at once.
    let client = api.clone().into_client();
    let orphan = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..Default::default()
    };
    let all = ListParams::default();
    let _ = Api::<Deployment>::namespaced(client.clone(), name)
        .delete_collection(&orphan, &all)
        .await;
    let _ = Api::<ReplicaSet>::namespaced(client.clone(), name)
        .delete_collection(&orphan, &all)
        .await;
    let _ = Api::<ReplicationController>::namespaced(client.clone(), name)
        .delete_collection(&orphan, &all)
        .await;
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..Default::default()
    };
    let _ = Api::<Pod>::namespaced(client, name)
        .delete_collection(&now, &all)
        .await;
    let _ = api.delete(name, &DeleteParams::default()).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    while api.get_opt(name).await?.is_some() {
        if Instant::now() > deadline {
            bail!("namespace {name} still exists 180s after deletion");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn wait_node_port_free(client: &Client, port: i32) -> Result<()> {
    let svcs: Api<k8s_openapi::api::core::v1::Service> = Api::all(client.clone());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let holders: Vec<String> = svcs
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|s| {
                s.spec
                    .as_ref()
                    .and_then(|sp| sp.ports.as_ref())
                    .is_some_and(|ps| ps.iter().any(|p| p.node_port == Some(port)))
            })
            .map(|s| {
                format!(
                    "{}/{}",
                    s.metadata.namespace.clone().unwrap_or_default(),
                    s.metadata.name.clone().unwrap_or_default()
                )
            })
            .collect();
        if holders.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("NodePort {port} is still held by {holders:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Reads a file relative to the repository root.
pub fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The checked-in manifests, or copies in the report directory whose `luksa/kubia:` images
/// name `repo` instead (for a cluster that pulls the demo images from elsewhere) and whose
/// Services take NodePort `port` instead of the tutorial's.
fn manifests_for(root: &Path, report_dir: &Path, repo: &str, port: u16) -> Result<PathBuf> {
    let src = root.join("manifests");
    if repo == TUTORIAL_REPO && port == crate::schedule::TUTORIAL_NODE_PORT {
        return Ok(src);
    }
    let dst = report_dir.join("manifests").join(port.to_string());
    for sub in ["", "hardened"] {
        let (from, to) = (src.join(sub), dst.join(sub));
        std::fs::create_dir_all(&to)?;
        for entry in
            std::fs::read_dir(&from).with_context(|| format!("reading {}", from.display()))?
        {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "yaml")
                && let Some(name) = path.file_name()
            {
                std::fs::write(to.join(name), rewrite_manifest(&read(&path)?, repo, port))?;
            }
        }
    }
    Ok(dst)
}

/// A checked-in manifest with `luksa/kubia:` images from `repo` and NodePort `port` instead
/// of the tutorial's; nothing else changes.
pub fn rewrite_manifest(text: &str, repo: &str, port: u16) -> String {
    let tutorial_port = crate::schedule::TUTORIAL_NODE_PORT;
    text.replace(&format!("{TUTORIAL_REPO}:"), &format!("{repo}:"))
        .replace(
            &format!("nodePort: {tutorial_port}\n"),
            &format!("nodePort: {port}\n"),
        )
}
