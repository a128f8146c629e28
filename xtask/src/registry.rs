//! `cargo xtask registry up|down|status`: a real local image registry (Debian's
//! `docker-registry`, distribution 2.8) on 127.0.0.1:5000, started and stopped by PID like
//! the local cluster's components. Its storage lives in the cache, so pushed images survive
//! `down`.
//!
//! Both clusters resolve `docker.io` images (`luksa/kubia:*`) through it (containerd's
//! per-registry `hosts.toml`), so `imagePullPolicy: Always` works with no internet, and the
//! registry is published to tools the KEP-1755 way (ConfigMap `local-registry-hosting` in
//! `kube-public`). A kind node cannot reach the host's loopback: there a `socat` forwarder
//! on the kind network's gateway carries the node's pulls to 127.0.0.1:5000.
//!
//! This module knows no cluster: the clusters build on it (their containerd config, the
//! ConfigMap, the forwarder), so connecting a running cluster to the registry is the
//! cluster side's job (`cluster::connect_registry`, which `main` calls after `registry up`
//! and `images --push`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::util;

/// Where the registry listens (loopback only).
pub const ADDRESS: &str = "127.0.0.1:5000";
const PORT: u16 = 5000;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Start the registry (or find it running).
    Up,
    /// Stop the registry and the kind forwarder; the stored images stay.
    Down,
    /// Say whether it runs.
    Status,
}

impl Args {
    /// `registry up`: after it, `main` connects the clusters that run.
    pub fn is_up(&self) -> bool {
        matches!(self.action, Action::Up)
    }
}

pub fn run(args: &Args) -> Result<()> {
    match args.action {
        Action::Up => up(),
        Action::Down => down(),
        Action::Status => {
            match pid_of("registry") {
                Some(pid) => println!("registry: running on {ADDRESS} (pid {pid})"),
                None => println!("registry: not running"),
            }
            if let Some(pid) = pid_of("forward-kind") {
                println!("kind forwarder: running (pid {pid})");
            }
            Ok(())
        }
    }
}

fn dir() -> PathBuf {
    util::cache_dir().join("registry")
}

fn pid_file(name: &str) -> PathBuf {
    dir().join(format!("{name}.pid"))
}

/// The recorded PID when that process still runs (and is the program we started).
fn pid_of(name: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(name))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    // The registry names our config file; the forwarder names our registry's address.
    let ours =
        cmdline.contains(&*dir().to_string_lossy()) || cmdline.contains(&format!("TCP:{ADDRESS}"));
    ours.then_some(pid)
}

pub fn running() -> bool {
    pid_of("registry").is_some()
}

/// Starts the registry unless it runs; waits until `/v2/` answers. Clusters already
/// running are not told: see the module's doc.
pub fn up() -> Result<()> {
    if running() {
        eprintln!("Local registry already running on {ADDRESS}.");
        Ok(())
    } else {
        start()
    }
}

fn start() -> Result<()> {
    crate::packages::ensure(&["docker-registry", "socat"])?;
    if answers() {
        bail!(
            "something else already answers on {ADDRESS} (Debian's docker-registry service? \
             stop it: `systemctl stop docker-registry`); not starting a second registry"
        );
    }
    let _p = util::Phase::start(format!("registry up ({ADDRESS})"));
    let d = dir();
    std::fs::create_dir_all(d.join("data"))?;
    let config = d.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {ADDRESS}\n",
            d.join("data").display()
        ),
    )?;
    spawn(
        "registry",
        Command::new("docker-registry").arg("serve").arg(&config),
    )?;
    util::wait_for(
        "the registry to answer on /v2/",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || Ok(answers().then_some(())),
    )?;
    Ok(())
}

/// Stops the registry and the kind forwarder (by PID); the stored images stay.
pub fn down() -> Result<()> {
    for name in ["forward-kind", "registry"] {
        if let Some(pid) = pid_of(name) {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let _ = util::wait_for(
                &format!("{name} to stop"),
                Duration::from_secs(10),
                Duration::from_millis(100),
                || Ok(pid_of(name).is_none().then_some(())),
            );
            eprintln!("stopped {name} (pid {pid})");
        }
        let _ = std::fs::remove_file(pid_file(name));
    }
    Ok(())
}

fn spawn(name: &str, cmd: &mut Command) -> Result<()> {
    let log = std::fs::File::create(dir().join(format!("{name}.log")))?;
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: a Ctrl-C on xtask's terminal must not stop it.
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    let child = cmd.spawn().with_context(|| format!("starting {name}"))?;
    std::fs::write(pid_file(name), child.id().to_string())?;
    Ok(())
}

/// `GET /v2/` answers 200.
fn answers() -> bool {
    util::http_get_path(PORT, "/v2/").is_ok()
}

/// Where `images --push` pushes `repo`: as named when it names a registry host
/// (`ghcr.io/me/kubia`, `localhost:5000/kubia`), else into the local registry.
pub fn push_repository(repo: &str) -> String {
    let first = repo.split('/').next().unwrap_or_default();
    let names_host =
        repo.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if names_host {
        repo.to_owned()
    } else {
        format!("{ADDRESS}/{repo}")
    }
}

/// containerd's `hosts.toml` for docker.io: try the local registry (plain HTTP) first.
pub fn docker_io_hosts_toml(mirror: &str) -> String {
    format!(
        "# docker.io images resolve through the kubia-lab local registry first.\nserver = \"https://registry-1.docker.io\"\n\n[host.\"http://{mirror}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    )
}

/// containerd's `hosts.toml` for images named `127.0.0.1:5000/…` (what `images --push`
/// pushes): plain HTTP, at `address` (the registry itself, or the kind forwarder).
pub fn own_hosts_toml(address: &str) -> String {
    format!(
        "# Images named {ADDRESS}/… come from the kubia-lab local registry over plain HTTP.\nserver = \"http://{address}\"\n\n[host.\"http://{address}\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    )
}

/// The `hosts.toml` files (directory under containerd's `config_path`, content) that make a
/// node pull through the registry reachable at `address`.
pub fn hosts_files(address: &str) -> [(String, String); 2] {
    [
        ("docker.io".to_owned(), docker_io_hosts_toml(address)),
        (ADDRESS.to_owned(), own_hosts_toml(address)),
    ]
}

/// Writes the `hosts.toml` files under a containerd `config_path` directory.
pub fn write_hosts_toml(config_path: &Path, address: &str) -> Result<()> {
    for (dir, toml) in hosts_files(address) {
        let d = config_path.join(dir);
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("hosts.toml"), toml)?;
    }
    Ok(())
}

/// The manifest that publishes the registry in a cluster (KEP-1755's
/// `local-registry-hosting`), its nodes reaching it at `from_runtime`; the cluster side
/// applies it.
pub fn hosting_manifest(from_runtime: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local-registry-hosting\n  namespace: kube-public\ndata:\n  localRegistryHosting.v1: |\n    host: \"{ADDRESS}\"\n    hostFromContainerRuntime: \"{from_runtime}\"\n    help: \"cargo xtask registry up; cargo xtask images --push\"\n"
    )
}

/// For kind: forwards `gateway:5000` (the kind network's address on this host, which the
/// node reaches) to the registry on 127.0.0.1:5000. Returns the address the node uses.
pub fn forward_for_kind(gateway: &str) -> Result<String> {
    let addr = format!("{gateway}:{PORT}");
    if pid_of("forward-kind").is_some() {
        return Ok(addr);
    }
    spawn(
        "forward-kind",
        Command::new("socat")
            .arg(format!("TCP-LISTEN:{PORT},bind={gateway},fork,reuseaddr"))
            .arg(format!("TCP:{ADDRESS}")),
    )?;
    std::thread::sleep(Duration::from_millis(300));
    if pid_of("forward-kind").is_none() {
        bail!(
            "socat forwarder to the registry exited at once; see {}",
            dir().join("forward-kind.log").display()
        );
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_without_a_host_go_to_the_local_registry() {
        assert_eq!(push_repository("luksa/kubia"), "127.0.0.1:5000/luksa/kubia");
        assert_eq!(push_repository("kubia"), "127.0.0.1:5000/kubia");
        assert_eq!(push_repository("ghcr.io/me/kubia"), "ghcr.io/me/kubia");
        assert_eq!(
            push_repository("localhost:5000/kubia"),
            "localhost:5000/kubia"
        );
        assert_eq!(push_repository("localhost/kubia"), "localhost/kubia");
    }

    #[test]
    fn hosts_toml_tries_the_mirror_over_plain_http() {
        let t = docker_io_hosts_toml("172.18.0.1:5000");
        assert!(t.contains("[host.\"http://172.18.0.1:5000\"]"));
        assert!(t.contains("capabilities = [\"pull\", \"resolve\"]"));
    }
}
