//! The `kind` provider: a kind cluster named `kubia-lab` whose NodePort 30002 is mapped to
//! 127.0.0.1:30002, with the demo images loaded by `kind load docker-image`.
//!
//! By default the node runs our own node image ([`node_image`]), assembled on this machine
//! with no registry: then the cluster has no default CNI (the image's bridge conflist does
//! the job) and no CoreDNS (nothing here needs cluster DNS). `KUBIA_KIND_NODE_IMAGE=kind-default`
//! (or any other image reference) runs kind's own node image with kind's defaults instead
//! (kindnet, CoreDNS and all). kind itself is the one on PATH, or v0.33.0 built from the Go
//! module proxy. On hosts that refuse privileged containers, kind runs through
//! [`docker_shim`]; elsewhere it runs untouched.

pub mod docker_shim;
pub mod node_image;
mod node_network;

use node_network::parse_node_networks;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::cluster::build;
use crate::cluster::checks::{serving_check, wait_default_service_account};
use crate::cluster::created::Created;
use crate::cluster::kubectl::kubectl;
use crate::cluster::registry_hosting::publish_registry;
use crate::{images, util};

pub const CLUSTER_NAME: &str = "kubia-lab";
/// The node container kind names after the cluster.
const NODE_CONTAINER: &str = "kubia-lab-control-plane";
/// The taint on the cluster's second node: only pods that tolerate it run there.
pub const SECOND_NODE_TAINT: &str = "kubia-lab/second-node";
/// Selects the node image: unset for ours, `kind-default` for kind's, or a reference.
const NODE_IMAGE_ENV: &str = "KUBIA_KIND_NODE_IMAGE";

/// Which node image the cluster runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeImage {
    /// Built here by [`node_image::ensure`]: no default CNI, no CoreDNS.
    Ours,
    /// kind's default node image, or the one named: kind's own defaults apply.
    Stock(Option<String>),
}

impl NodeImage {
    pub fn from_env() -> Self {
        match std::env::var(NODE_IMAGE_ENV).ok().as_deref().map(str::trim) {
            None | Some("") | Some("kubia-lab") => NodeImage::Ours,
            Some("kind-default") => NodeImage::Stock(None),
            Some(other) => NodeImage::Stock(Some(other.to_owned())),
        }
    }
}

/// Whether kind is the provider to pick by default: kind is installed, or the local
/// provider cannot run here (not Linux, or not root), and a Docker engine answers.
pub fn preferred() -> bool {
    (util::have("kind") || !crate::cluster::local::can_run())
        && crate::docker::engine_version().is_some()
}

pub fn kubeconfig() -> Result<PathBuf> {
    Ok(util::root().join("target/kind/kubeconfig"))
}

/// The kubeconfig of the running `kubia-lab` cluster, exported first when this checkout
/// has none (the cluster was created from another one).
pub fn running_kubeconfig() -> Result<PathBuf> {
    let kc = kubeconfig()?;
    if !kc.exists() {
        Kind::new(shim_needed_cached())?.export_kubeconfig(&kc)?;
    }
    Ok(kc)
}

/// The tutorial's NodePort, published on 127.0.0.1.
const TUTORIAL_NODE_PORT: u16 = 30002;
/// The NodePorts the end-to-end scenarios that run side by side take (`tests/e2e`'s
/// `schedule::NODE_PORT_POOL`; a test keeps the two equal), published on 127.0.0.1 too.
pub const E2E_NODE_PORT_POOL: std::ops::RangeInclusive<u16> = 30010..=30029;

/// The kind config for the node image: the NodePort mapping always; with our image, no
/// default CNI, no CoreDNS, and the etcd we build.
pub fn config(image: &NodeImage, reference: Option<&str>) -> String {
    let ours = *image == NodeImage::Ours;
    let mut c = String::from("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n");
    if ours {
        c.push_str("networking:\n  disableDefaultCNI: true\n  kubeProxyMode: iptables\n");
    }
    let image_line = reference
        .map(|r| format!("  image: {r}\n"))
        .unwrap_or_default();
    // The control plane takes every workload (kind would keep its NoSchedule taint once a
    // worker exists).
    c.push_str("nodes:\n- role: control-plane\n");
    c.push_str(&image_line);
    c.push_str("  extraPortMappings:\n");
    for port in std::iter::once(TUTORIAL_NODE_PORT).chain(E2E_NODE_PORT_POOL) {
        c.push_str(&format!(
            "  - containerPort: {port}\n    hostPort: {port}\n    listenAddress: \"127.0.0.1\"\n    protocol: TCP\n"
        ));
    }
    c.push_str("  kubeadmConfigPatches:\n  - |\n    kind: InitConfiguration\n    nodeRegistration:\n      taints: []\n");
    // The second node only takes pods that tolerate its taint (the pull-policy scenario's
    // mixed-version RC): every other scenario runs on one node, as before.
    c.push_str("- role: worker\n");
    c.push_str(&image_line);
    c.push_str(&format!(
        "  kubeadmConfigPatches:\n  - |\n    kind: JoinConfiguration\n    nodeRegistration:\n      taints:\n      - key: {SECOND_NODE_TAINT}\n        effect: NoSchedule\n"
    ));
    if !ours {
        // kind's documented way to let a registry's hosts.toml take effect.
        c.push_str("containerdConfigPatches:\n- |-\n  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n    config_path = \"/etc/containerd/certs.d\"\n");
    }
    if ours {
        c.push_str(&format!(
            "kubeadmConfigPatches:\n- |\n  kind: InitConfiguration\n  skipPhases: [preflight, addon/coredns]\n- |\n  kind: JoinConfiguration\n  skipPhases: [preflight]\n- |\n  kind: ClusterConfiguration\n  etcd:\n    local:\n      imageTag: \"{}\"\n- |\n  kind: KubeletConfiguration\n  failCgroupV1: false\n",
            node_image::etcd_image_tag()
        ));
    }
    c
}

/// kind on PATH, or the pinned release built into the cache.
fn kind_binary() -> Result<PathBuf> {
    match crate::util::which("kind") {
        Some(p) => Ok(p),
        None => build::ensure_kind(),
    }
}

/// Runs kind, through the docker shim where privileged containers are refused.
struct Kind {
    binary: PathBuf,
    env: Vec<(String, OsString)>,
}

impl Kind {
    fn new(shim: bool) -> Result<Self> {
        Ok(Self {
            binary: kind_binary()?,
            env: if shim {
                docker_shim::environment()?
            } else {
                Vec::new()
            },
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.binary);
        c.args(args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn run(&self, args: &[&str]) -> Result<()> {
        let status = self
            .command(args)
            .status()
            .with_context(|| format!("running {}", self.binary.display()))?;
        ensure!(status.success(), "kind {} failed", args.join(" "));
        Ok(())
    }

    fn read(&self, args: &[&str]) -> Result<String> {
        let out = self.command(args).output()?;
        ensure!(
            out.status.success(),
            "kind {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `kind delete cluster` for `kubia-lab` only.
    fn delete(&self, kubeconfig: &std::path::Path) -> Result<()> {
        let kc = kubeconfig.to_string_lossy();
        self.run(&[
            "delete",
            "cluster",
            "--name",
            CLUSTER_NAME,
            "--kubeconfig",
            &kc,
        ])
    }

    /// Writes the cluster's kubeconfig to `path`: the cluster may have been created from
    /// another checkout, whose `target/` holds the file.
    fn export_kubeconfig(&self, path: &std::path::Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let p = path.to_string_lossy();
        self.read(&[
            "export",
            "kubeconfig",
            "--name",
            CLUSTER_NAME,
            "--kubeconfig",
            &p,
        ])
        .map(drop)
    }

    fn exists(&self) -> Result<bool> {
        Ok(self
            .read(&["get", "clusters"])?
            .lines()
            .any(|l| l.trim() == CLUSTER_NAME))
    }
}

pub fn node_running() -> bool {
    Command::new("docker")
        .args(["inspect", "--format", "{{.State.Running}}", NODE_CONTAINER])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

/// Creates the cluster (or reuses a running one), loads the demo images and checks that a
/// pod answers on 127.0.0.1:30002.
pub fn up() -> Result<Created> {
    let total = Instant::now();
    crate::docker::ensure_engine()?;
    if crate::cluster::local::state_dir().exists() {
        bail!(
            "the local cluster is up and also wants 127.0.0.1:30002; take it down first: \
             cargo xtask cluster down --provider local"
        );
    }
    let built = images::run(&images::Args {
        repo: "luksa/kubia".into(),
        save: None,
        push: false,
    })?;
    let image = NodeImage::from_env();
    let reference = match &image {
        NodeImage::Ours => Some(node_image::ensure()?),
        NodeImage::Stock(r) => r.clone(),
    };
    let shim = docker_shim::privileged_refused("luksa/kubia:v1")?;
    if shim {
        eprintln!(
            "This Docker engine refuses privileged containers: kind runs through the docker shim \
             (capabilities instead of --privileged)."
        );
    }
    let kind = Kind::new(shim)?;
    let kc = kubeconfig()?;
    let kc_s = kc.to_string_lossy().into_owned();
    let dir = util::root().join("target/kind");
    std::fs::create_dir_all(&dir)?;
    let mut created = Created::Reused;
    if kind.exists()? && !node_running() {
        eprintln!("kind cluster {CLUSTER_NAME} exists but its node is stopped; recreating it.");
        kind.delete(&kc)?;
    }
    if kind.exists()? {
        eprintln!("kind cluster {CLUSTER_NAME} is running; reusing it.");
        kind.export_kubeconfig(&kc)?;
    } else {
        let cfg = dir.join("config.yaml");
        std::fs::write(&cfg, config(&image, reference.as_deref()))?;
        let cfg_s = cfg.to_string_lossy().into_owned();
        let start = Instant::now();
        let _p = util::Phase::start(format!(
            "kind create cluster --name {CLUSTER_NAME} ({})",
            reference.as_deref().unwrap_or("kind's default node image")
        ));
        kind.run(&[
            "create",
            "cluster",
            "--name",
            CLUSTER_NAME,
            "--config",
            &cfg_s,
            "--kubeconfig",
            &kc_s,
            "--wait",
            "180s",
        ])?;
        eprintln!(
            "kind create cluster took {:.1}s",
            start.elapsed().as_secs_f64()
        );
        created = Created::New;
    }
    {
        let _p = util::Phase::start("kind load docker-image (the demo images)");
        let mut args = vec!["load", "docker-image", "--name", CLUSTER_NAME];
        args.extend(built.iter().map(|b| b.reference.as_str()));
        kind.run(&args)?;
    }
    if image == NodeImage::Ours {
        pod_network(&kc)?;
    }
    wait_default_service_account(&kc, "default")?;
    if crate::registry::running() {
        connect_registry(&kc)?;
    }
    if created == Created::New {
        let _p = util::Phase::start("check: a pod serves through a NodePort");
        serving_check(&kc, "kubia-kind-check", 30002)?;
    }
    eprintln!(
        "kind cluster {CLUSTER_NAME} ready in {:.0}s. KUBECONFIG={}",
        total.elapsed().as_secs_f64(),
        kc.display()
    );
    Ok(created)
}

/// The pod network between our nodes, which kindnet provides on kind's own image: each
/// node's bridge conflist gets the node's `podCIDR`, and each node routes the others'
/// pod CIDRs to their addresses. Idempotent; run again after a restart of the node
/// containers (their routes do not survive it).
fn pod_network(kubeconfig: &std::path::Path) -> Result<()> {
    let nodes = kubectl(
        kubeconfig,
        &[
            "get",
            "nodes",
            "-o",
            "jsonpath={range .items[*]}{.metadata.name} {.spec.podCIDR} {.status.addresses[?(@.type==\"InternalIP\")].address}{\"\\n\"}{end}",
        ],
    )?;
    // These values go into a shell inside a privileged container: each is parsed as what it
    // must be (a node name, a CIDR, an address) and written back from the parsed value.
    let nodes = parse_node_networks(&nodes)?;
    ensure!(
        !nodes.is_empty(),
        "no node of {CLUSTER_NAME} has a podCIDR and an address yet"
    );
    let template = std::fs::read_to_string(
        util::root().join("images/kind-node/files/etc/cni/net.d/10-kubia-lab.conflist"),
    )?;
    for node in &nodes {
        let mut script = String::from(
            "cat > /etc/cni/net.d/10-kubia-lab.conflist.tmp && mv /etc/cni/net.d/10-kubia-lab.conflist.tmp /etc/cni/net.d/10-kubia-lab.conflist",
        );
        for other in &nodes {
            if other.name != node.name {
                script.push_str(&format!(
                    " && ip route replace {} via {}",
                    other.pod_cidr, other.address
                ));
            }
        }
        let cidr = node.pod_cidr.to_string();
        docker_exec_stdin(
            &node.name,
            &script,
            &template.replace("10.244.0.0/16", &cidr),
        )
        .with_context(|| format!("pod network on {} ({cidr})", node.name))?;
    }
    Ok(())
}

/// Runs `sh -c script` in a node container with `input` on its stdin.
fn docker_exec_stdin(node: &str, script: &str, input: &str) -> Result<()> {
    let mut child = Command::new("docker")
        .args(["exec", "-i", node, "sh", "-c", script])
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        stdin.write_all(input.as_bytes())?;
    }
    ensure!(
        child.wait()?.success(),
        "docker exec {node} sh -c {script:?} failed"
    );
    Ok(())
}

/// Stops the running node containers of `kubia-lab` (the cluster survives, as across a
/// Docker restart) and returns their names, for [`resume`].
pub fn pause() -> Result<Vec<String>> {
    let nodes = node_containers()?;
    if !nodes.is_empty() {
        let status = Command::new("docker").arg("stop").args(&nodes).status()?;
        ensure!(status.success(), "docker stop {}", nodes.join(" "));
    }
    Ok(nodes)
}

/// Starts the containers [`pause`] stopped and waits until the API server is ready again.
pub fn resume(nodes: &[String]) -> Result<()> {
    if nodes.is_empty() {
        return Ok(());
    }
    let _p = util::Phase::start(format!("docker start {}", nodes.join(" ")));
    let status = Command::new("docker").arg("start").args(nodes).status()?;
    ensure!(status.success(), "docker start {}", nodes.join(" "));
    let kc = running_kubeconfig()?;
    let deadline = Instant::now() + std::time::Duration::from_secs(180);
    loop {
        if kubectl(&kc, &["get", "--raw=/readyz"]).is_ok() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "the API server of kind cluster {CLUSTER_NAME} is not ready 180s after its nodes were started again"
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// The cluster's running node containers.
fn node_containers() -> Result<Vec<String>> {
    let out = Command::new("docker")
        .args([
            "ps",
            "--filter",
            &format!("label=io.x-k8s.kind.cluster={CLUSTER_NAME}"),
            "--format",
            "{{.Names}}",
        ])
        .output()?;
    ensure!(out.status.success(), "docker ps failed");
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Lets the node's containerd resolve docker.io images through the local registry: a
/// forwarder on the kind network's gateway (the node cannot reach the host's loopback),
/// docker.io's `hosts.toml` in the node, and the KEP-1755 ConfigMap.
pub fn connect_registry(kubeconfig: &std::path::Path) -> Result<()> {
    let out = Command::new("docker")
        .args([
            "network",
            "inspect",
            "kind",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}} {{end}}",
        ])
        .output()?;
    let gateways = String::from_utf8_lossy(&out.stdout).into_owned();
    let gateway = gateways
        .split_whitespace()
        .find(|g| g.parse::<std::net::Ipv4Addr>().is_ok())
        .context("the kind network has no IPv4 gateway")?;
    let mirror = crate::registry::forward_for_kind(gateway)?;
    for node in node_containers()? {
        for (dir, toml) in crate::registry::hosts_files(&mirror) {
            let script = format!(
                "mkdir -p '/etc/containerd/certs.d/{dir}' && cat > '/etc/containerd/certs.d/{dir}/hosts.toml'"
            );
            docker_exec_stdin(&node, &script, &toml)
                .with_context(|| format!("writing {dir}/hosts.toml into {node}"))?;
        }
    }
    publish_registry(kubeconfig, &mirror)?;
    eprintln!("docker.io images resolve through the local registry (node: {mirror})");
    Ok(())
}

/// Deletes the `kubia-lab` cluster and nothing else (kind's `kind` network stays, as kind
/// leaves it for other clusters).
pub fn down() -> Result<()> {
    let shim = node_running() && shim_needed_cached();
    let kind = Kind::new(shim)?;
    if !kind.exists()? {
        eprintln!("No kind cluster {CLUSTER_NAME}; nothing to do.");
        return Ok(());
    }
    let _p = util::Phase::start(format!("kind delete cluster --name {CLUSTER_NAME}"));
    kind.delete(&kubeconfig()?)
}

/// Deleting needs no privileges, but the shim is harmless there; ask Docker only when an
/// image to try is at hand.
fn shim_needed_cached() -> bool {
    docker_shim::privileged_refused("luksa/kubia:v1").unwrap_or(false)
}

pub fn status() -> Result<()> {
    let kind = Kind::new(false)?;
    if !kind.exists()? {
        println!("kind: no cluster {CLUSTER_NAME}");
        return Ok(());
    }
    let image = Command::new("docker")
        .args(["inspect", "--format", "{{.Config.Image}}", NODE_CONTAINER])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!(
        "kind: cluster {CLUSTER_NAME}, node {NODE_CONTAINER} {} (image {image})",
        if node_running() { "running" } else { "stopped" }
    );
    let kc = kubeconfig()?;
    let out = kubectl(&kc, &["get", "nodes", "-o", "wide"])?;
    print!("{out}");
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn our_image_gets_no_cni_no_coredns_and_our_etcd() {
        let c = config(&NodeImage::Ours, Some("kubia-lab/kind-node:v1.34.4-abc"));
        assert!(c.contains("disableDefaultCNI: true"));
        assert!(c.contains("skipPhases: [preflight, addon/coredns]"));
        assert!(c.contains(&format!("imageTag: \"{}\"", node_image::etcd_image_tag())));
        assert_eq!(
            c.matches("image: kubia-lab/kind-node:v1.34.4-abc").count(),
            2
        );
        assert!(c.contains("hostPort: 30002"));
    }

    #[test]
    fn a_stock_image_keeps_kinds_defaults() {
        let c = config(&NodeImage::Stock(None), None);
        assert!(!c.contains("disableDefaultCNI"));
        assert!(!c.contains("skipPhases"));
        assert!(!c.contains("image:"));
        assert!(c.contains("- role: worker"));
        assert!(c.contains(&format!("- key: {SECOND_NODE_TAINT}")));
        assert!(c.contains("containerPort: 30002"));
        assert!(c.contains("listenAddress: \"127.0.0.1\""));
    }

    #[test]
    fn every_port_of_the_e2e_pool_is_published_on_loopback() {
        let c = config(&NodeImage::Ours, None);
        for port in E2E_NODE_PORT_POOL {
            assert!(
                c.contains(&format!(
                    "- containerPort: {port}\n    hostPort: {port}\n    listenAddress: \"127.0.0.1\"\n"
                )),
                "{port} is not published"
            );
        }
        assert_eq!(c.matches("hostPort:").count(), 21);
    }

    #[test]
    fn the_pool_is_the_one_the_scenarios_take() {
        let schedule = std::fs::read_to_string(util::root().join("tests/e2e/src/schedule.rs"))
            .expect("tests/e2e/src/schedule.rs");
        let (from, to) = (E2E_NODE_PORT_POOL.start(), E2E_NODE_PORT_POOL.end());
        assert!(
            schedule.contains(&format!(
                "pub const NODE_PORT_POOL: std::ops::RangeInclusive<u16> = {from}..={to};"
            )),
            "tests/e2e's NODE_PORT_POOL is not {from}..={to}"
        );
    }
}
