//! The `local` provider: a single-node cluster of upstream components run as background
//! processes, wired the way Kubernetes' `hack/local-up-cluster.sh` wires them.
//!
//! Everything lives under one state directory (`/var/lib/kubia-lab`, or
//! `$KUBIA_STATE_DIR`): configuration, PKI, data, logs and the PID of every process started,
//! so that `down` stops exactly those (by recorded PID, never by name) and can undo what
//! they changed on the host.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::created::Created;
use super::{build, checks, host, pki};
use crate::{images, util};

mod components;
mod config;
mod network;
mod ownership;
mod paths;
mod processes;
mod settings;
mod teardown;
mod tools;

pub use components::{restart_with, restore, start_component, stop_component};
use config::write_configs;
use network::{Networks, host_ips};
pub use ownership::MARKER;
pub use paths::{audit_log, client_kubeconfig, kubeconfig, state_dir};
use processes::{alive, running, shim_processes, spawn};
use settings::{API_PORT, COMPONENTS, ETCD_PEER_PORT, ETCD_PORT};
pub use settings::{BENCH_BURST, BENCH_QPS, BRIDGE, NODE_NAME};
pub use teardown::down;
use tools::{ctr, path};
pub use tools::{import_image, kubectl, kubectl_stdin};

/// A second loopback address the API server's certificate names: the e2e scenario that cuts
/// the engine off the API server points the engine here and drops only this address.
/// (`tests/e2e/src/scenarios/faults.rs` names it too.)
const SECOND_API_ADDRESS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(127, 0, 0, 66);
/// NodePort of the readiness check run by `up` (not 30002: that one is the tutorial's).
const CHECK_NODE_PORT: u16 = 30999;

/// Installs (Debian packages) and builds (Kubernetes, etcd, crictl) what the cluster needs.
pub fn ensure_installed() -> Result<()> {
    if !cfg!(target_os = "linux") || !is_root() {
        bail!("the local provider needs Linux and root (it runs a kubelet and containerd)");
    }
    crate::packages::ensure(&[
        "containerd",
        "runc",
        "containernetworking-plugins",
        "iptables",
        "conntrack",
        "iproute2",
        "gcc",
        "libc6-dev",
    ])?;
    build::ensure_binaries()
}

/// Whether the local provider can run here at all (Linux, as root).
pub fn can_run() -> bool {
    cfg!(target_os = "linux") && is_root()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|v| v.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// Brings the cluster up, or reuses a healthy one, and loads the demo images.
/// Callers that reuse a cluster must leave it running.
pub fn up() -> Result<Created> {
    let total = Instant::now();
    crate::docker::ensure_engine()?;
    {
        let _p = util::Phase::start("install: packages and cached Kubernetes binaries");
        ensure_installed()?;
    }
    let images_dir = state_dir().join("images");
    // Bad ranges are refused before anything starts.
    Networks::from_env(&host_ips())?;
    let reuse = healthy();
    if reuse {
        eprintln!("A healthy local cluster is already running; reusing it.");
        // Its keys may have been written by a version that left them world-readable, and
        // its state directory by one that wrote no marker: the running cluster proves it ours.
        pki::secure(&state_dir())?;
        ownership::mark(&state_dir())?;
        ownership::claim_host(&state_dir())?;
    } else {
        if state_dir().exists() {
            ownership::check_ours(&state_dir())?;
            eprintln!("Cleaning up a stale local cluster first.");
            down()?;
        }
        let foreign = host::kubernetes_chains();
        if !foreign.is_empty() {
            bail!(
                "iptables chains {} exist on this host, but no local cluster of ours runs: \
                 another Kubernetes or CNI (k3s, kubeadm, minikube --driver=none, …) owns them. \
                 Refusing to mix with it: stop it first, or use --provider kind",
                foreign.join(", ")
            );
        }
        start_all()?;
    }
    {
        let _p = util::Phase::start("images: build and import into containerd");
        let built = images::run(&images::Args {
            repo: "luksa/kubia".into(),
            save: Some(images_dir.clone()),
            push: false,
        })?;
        for b in built {
            if let Some(tar) = b.tarball {
                import_image(&tar)?;
            }
        }
    }
    if !reuse {
        let _p = util::Phase::start("check: a pod serves through a NodePort");
        serving_check()?;
    }
    if crate::registry::running() {
        connect_registry()?;
    }
    eprintln!(
        "Local cluster ready in {:.0}s. KUBECONFIG={}",
        total.elapsed().as_secs_f64(),
        kubeconfig().display()
    );
    Ok(if reuse { Created::Reused } else { Created::New })
}

fn start_all() -> Result<()> {
    let dir = state_dir();
    // The marker first: whatever happens next, `down` may clean this directory up.
    ownership::mark(&dir)?;
    ownership::claim_host(&dir)?;
    for sub in [
        "pids",
        "logs",
        "pki",
        "cni/net.d",
        "cni/ipam",
        "containerd",
        "kubelet",
    ] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let host_ips = host_ips();
    let nets = Networks::from_env(&host_ips)?;
    host::snapshot(&dir)?;
    nets.save(&dir)?;
    {
        let _p = util::Phase::start("pki: CA, certificates, service-account key");
        // The serving certificate also names the second address the API server listens on.
        let mut addresses = host_ips.clone();
        addresses.push(std::net::IpAddr::from(SECOND_API_ADDRESS));
        pki::generate(
            &dir.join("pki"),
            NODE_NAME,
            &addresses,
            nets.services.first_host(),
        )?;
        write_configs(&dir, &nets)?;
    }
    {
        let _p = util::Phase::start("containerd (runc, CNI bridge) and the pause image");
        spawn(
            "containerd",
            Path::new("containerd"),
            &["--config".into(), path(&dir.join("containerd/config.toml"))],
        )?;
        util::wait_for(
            "containerd",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || Ok(ctr(&["version"]).is_ok().then_some(())),
        )?;
        let pause = images::pause_image(&dir.join("images"))?;
        import_image(&pause)?;
    }
    {
        let _p = util::Phase::start("etcd");
        let d = path(&dir.join("etcd"));
        spawn(
            "etcd",
            &build::bin("etcd"),
            &[
                "--name=kubia".into(),
                format!("--data-dir={d}"),
                format!("--listen-client-urls=http://127.0.0.1:{ETCD_PORT}"),
                format!("--advertise-client-urls=http://127.0.0.1:{ETCD_PORT}"),
                format!("--listen-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{ETCD_PEER_PORT}"),
                format!("--initial-cluster=kubia=http://127.0.0.1:{ETCD_PEER_PORT}"),
                // A throw-away test cluster: durability is not worth the fsync latency.
                "--unsafe-no-fsync".into(),
            ],
        )?;
    }
    {
        let _p = util::Phase::start("kube-apiserver");
        let pki = dir.join("pki");
        let f = |n: &str| path(&pki.join(n));
        spawn(
            "kube-apiserver",
            &build::bin("kube-apiserver"),
            &[
                format!("--etcd-servers=http://127.0.0.1:{ETCD_PORT}"),
                format!("--secure-port={API_PORT}"),
                format!("--tls-cert-file={}", f(pki::API_CRT)),
                format!("--tls-private-key-file={}", f(pki::API_KEY)),
                format!("--client-ca-file={}", f(pki::CA_CRT)),
                format!(
                    "--kubelet-client-certificate={}",
                    f("apiserver-kubelet-client.crt")
                ),
                format!("--kubelet-client-key={}", f("apiserver-kubelet-client.key")),
                format!("--kubelet-certificate-authority={}", f(pki::CA_CRT)),
                "--kubelet-preferred-address-types=InternalIP,Hostname".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", f(pki::SA_PUB)),
                format!("--service-account-signing-key-file={}", f(pki::SA_KEY)),
                format!("--service-cluster-ip-range={}", nets.services),
                "--authorization-mode=Node,RBAC".into(),
                "--allow-privileged=true".into(),
                "--profiling=false".into(),
                // On SIGTERM, close watches within 2 s: by default they hold the shutdown up
                // to the 60 s server timeout (`cluster stop kube-apiserver` waited its whole
                // 15 s and then killed it; clients saw a crash, not a graceful stop).
                "--shutdown-watch-termination-grace-period=2s".into(),
                // Every request, by whom: `cargo xtask bench rollout` counts them.
                format!(
                    "--audit-policy-file={}",
                    path(&dir.join("audit-policy.yaml"))
                ),
                format!("--audit-log-path={}", path(&audit_log())),
                "--audit-log-format=json".into(),
                "--audit-log-maxsize=200".into(),
                "--audit-log-maxbackup=1".into(),
            ],
        )?;
        util::wait_for(
            "the API server to be ready",
            Duration::from_secs(120),
            Duration::from_millis(500),
            || {
                Ok(kubectl(&["get", "--raw", "/readyz"])
                    .ok()
                    .filter(|s| s.trim() == "ok")
                    .map(drop))
            },
        )?;
    }
    {
        let _p = util::Phase::start("kube-controller-manager, kube-scheduler");
        let pki = dir.join("pki");
        let kc = path(&client_kubeconfig("kube-controller-manager"));
        spawn(
            "kube-controller-manager",
            &build::bin("kube-controller-manager"),
            &[
                format!("--kubeconfig={kc}"),
                format!("--authentication-kubeconfig={kc}"),
                format!("--authorization-kubeconfig={kc}"),
                format!(
                    "--service-account-private-key-file={}",
                    path(&pki.join(pki::SA_KEY))
                ),
                format!("--root-ca-file={}", path(&pki.join(pki::CA_CRT))),
                "--use-service-account-credentials=true".into(),
                "--leader-elect=false".into(),
                "--bind-address=127.0.0.1".into(),
                format!("--service-cluster-ip-range={}", nets.services),
                "--controllers=*,-nodeipam".into(),
            ],
        )?;
        let kc = path(&client_kubeconfig("kube-scheduler"));
        spawn(
            "kube-scheduler",
            &build::bin("kube-scheduler"),
            &[
                format!("--config={}", path(&dir.join("scheduler.yaml"))),
                format!("--authentication-kubeconfig={kc}"),
                format!("--authorization-kubeconfig={kc}"),
                "--bind-address=127.0.0.1".into(),
            ],
        )?;
    }
    {
        let _p = util::Phase::start("kubelet, kube-proxy; waiting for the node to be Ready");
        spawn(
            "kubelet",
            &build::bin("kubelet"),
            &[
                format!("--config={}", path(&dir.join("kubelet.yaml"))),
                format!(
                    "--kubeconfig={}",
                    path(&client_kubeconfig("kubelet-client"))
                ),
                format!("--root-dir={}", path(&dir.join("kubelet"))),
                format!("--hostname-override={NODE_NAME}"),
            ],
        )?;
        spawn(
            "kube-proxy",
            &build::bin("kube-proxy"),
            &[format!("--config={}", path(&dir.join("kube-proxy.yaml")))],
        )?;
        util::wait_for(
            "the node to be Ready",
            Duration::from_secs(180),
            Duration::from_secs(1),
            || {
                let s = kubectl(&[
                    "get",
                    "node",
                    NODE_NAME,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
                ])?;
                Ok((s.trim() == "True").then_some(()))
            },
        )?;
        wait_default_service_account("default")?;
    }
    Ok(())
}

/// Waits until namespace `ns` has its default service account: pods are refused before.
pub fn wait_default_service_account(ns: &str) -> Result<()> {
    checks::wait_default_service_account(&kubeconfig(), ns)
}

/// A pod from the locally built image behind a NodePort answers on 127.0.0.1.
fn serving_check() -> Result<()> {
    checks::serving_check(&kubeconfig(), "kubia-lab-check", CHECK_NODE_PORT)
}

/// PIDs of the processes `up` started (for checking that `down` stopped them).
pub fn recorded_pids() -> Vec<(String, u32)> {
    COMPONENTS
        .iter()
        .filter_map(|c| alive(c).map(|pid| (c.to_string(), pid)))
        .collect()
}

/// What a `down` failed to remove: processes still alive, mounts, chains, the bridge, state.
pub fn leftovers(pids: &[(String, u32)]) -> Vec<String> {
    let mut left = Vec::new();
    for (name, pid) in pids {
        if running(*pid) {
            left.push(format!("{name} (pid {pid}) still runs"));
        }
    }
    let dir = state_dir();
    if dir.exists() {
        left.push(format!("{} still exists", dir.display()));
    }
    let prefix = format!("{}/", dir.display());
    if let Ok(m) = std::fs::read_to_string("/proc/self/mountinfo") {
        let n = m
            .lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|p| p.starts_with(&prefix)))
            .count();
        if n > 0 {
            left.push(format!("{n} mounts under {}", dir.display()));
        }
    }
    if let Ok(out) = Command::new("iptables-save").output() {
        let chains: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(":KUBE-") || l.starts_with(":CNI-"))
            .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
            .collect();
        if !chains.is_empty() {
            left.push(format!("iptables chains {chains:?}"));
        }
    }
    if Path::new("/sys/class/net").join(BRIDGE).exists() {
        left.push(format!("network interface {BRIDGE}"));
    }
    for shim in shim_processes() {
        left.push(format!("containerd shim {shim} still runs"));
    }
    left
}

/// Publishes the local registry in the cluster; its containerd always has the registry
/// as docker.io's mirror (written at `up`), so the ConfigMap is all it lacks.
pub fn connect_registry() -> Result<()> {
    super::registry_hosting::publish_registry(&kubeconfig(), crate::registry::ADDRESS)?;
    eprintln!(
        "docker.io images resolve through the local registry on {}",
        crate::registry::ADDRESS
    );
    Ok(())
}

/// What runs, and whether the cluster answers.
pub fn status() -> Result<()> {
    let dir = state_dir();
    if !dir.exists() {
        println!("local cluster: not created");
        return Ok(());
    }
    for name in COMPONENTS {
        match alive(name) {
            Some(pid) => println!("{name:<24} running (pid {pid})"),
            None => println!("{name:<24} not running"),
        }
    }
    match kubectl(&["get", "nodes", "-o", "wide"]) {
        Ok(out) => print!("{out}"),
        Err(e) => println!("API server: {e:#}"),
    }
    println!("kubeconfig: {}", kubeconfig().display());
    Ok(())
}

/// Every component runs and the API server says it is ready with a Ready node.
pub fn healthy() -> bool {
    COMPONENTS.iter().all(|c| alive(c).is_some())
        && kubectl(&["get", "--raw", "/readyz"]).is_ok_and(|s| s.trim() == "ok")
        && kubectl(&[
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .is_ok_and(|s| s.trim() == "True")
}
