//! `cargo xtask test`: everything CI checks, in the order that fails fastest. It installs and
//! starts what it needs first (see `setup`), so it is the one command a fresh machine needs.

use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use xshell::cmd;

use crate::cluster::{self, Provider, local};
use crate::{e2e, images, setup, util};

#[derive(clap::Args)]
pub struct Args {
    /// Skip the cluster smoke tests and the end-to-end scenarios (no cluster needed).
    #[arg(long)]
    no_cluster: bool,
    /// Skip the kind provider (its node image, smoke test and scenarios).
    #[arg(long)]
    no_kind: bool,
}

/// Each phase's wall time, printed together at the end.
#[derive(Default)]
struct Timings(Vec<(String, Duration)>);

impl Timings {
    fn run<T>(&mut self, name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let start = Instant::now();
        let r = f();
        self.0.push((name.to_owned(), start.elapsed()));
        r
    }

    fn print(&self) {
        eprintln!("Phase times:");
        for (name, d) in &self.0 {
            eprintln!("  {:>7.1}s  {name}", d.as_secs_f64());
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let start = Instant::now();
    setup::run(&setup::Args {
        cluster: !args.no_cluster,
    })?;
    let mut t = Timings::default();
    let result = checks(args, &mut t);
    t.print();
    result?;
    eprintln!(
        "All checks passed in {:.0}s.",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn checks(args: &Args, t: &mut Timings) -> Result<()> {
    let sh = util::shell()?;
    t.run("cargo fmt --check", || {
        let _p = util::Phase::start("cargo fmt --check");
        Ok(cmd!(sh, "cargo fmt --all -- --check").run()?)
    })?;
    t.run("cargo clippy", || {
        let _p = util::Phase::start("cargo clippy");
        Ok(cmd!(
            sh,
            "cargo clippy --workspace --all-targets --locked -- -D warnings"
        )
        .run()?)
    })?;
    t.run("cargo test", || {
        let _p = util::Phase::start("cargo test (unit, integration, snapshot, property tests)");
        Ok(cmd!(sh, "cargo test --workspace --locked").run()?)
    })?;
    t.run("images smoke test", images_smoke)?;
    t.run("dist --target host --krew-test", || {
        crate::dist::run(&crate::dist::Args::for_ci())
    })?;
    if args.no_cluster {
        return Ok(());
    }
    // A kind cluster this run did not create (the user's, or one left by another checkout)
    // holds 127.0.0.1:30002, which the local cluster needs: its nodes are stopped for the
    // local phase and started again afterwards; it is never deleted.
    let paused = if cluster::kind::node_running() {
        eprintln!(
            "A kind cluster {} is up (not created by this run): stopping its nodes while the local cluster needs 127.0.0.1:30002; they start again afterwards.",
            cluster::kind::CLUSTER_NAME
        );
        cluster::kind::pause()?
    } else {
        Vec::new()
    };
    let local = local_phase(t);
    let resumed = if paused.is_empty() {
        Ok(())
    } else {
        t.run("kind cluster nodes started again", || {
            cluster::kind::resume(&paused)
        })
    };
    local?;
    resumed?;
    if args.no_kind {
        return Ok(());
    }
    t.run("kind node image", || {
        cluster::kind::node_image::ensure().map(drop)
    })?;
    let (kc, created) = t.run("kind cluster up (smoke test)", || {
        let _p = util::Phase::start("cluster smoke test (kind provider)");
        cluster::up(Provider::Kind)
    })?;
    let result = smoke_checks_kind(&kc).and_then(|()| {
        cluster::pull_always_check(&kc, "kubia-pull-always")?;
        t.run("e2e on kind", || {
            e2e::run(&e2e::Args::for_ci(Provider::Kind))
        })?;
        // Any cluster the user points at, with the images from a registry it can reach.
        t.run(
            "e2e --provider current (kind, images from the local registry)",
            || {
                let repo = format!("{}/luksa/kubia", crate::registry::ADDRESS);
                e2e::run(&e2e::Args::current(
                    &kc,
                    &repo,
                    &["tutorial-rolling-update"],
                ))
            },
        )
    });
    // Only a cluster this run created is taken down.
    let down = if created == cluster::Created::New {
        t.run("kind cluster down", || cluster::down(Provider::Kind))
    } else {
        Ok(())
    };
    result.and(down)
}

/// The registry, the local cluster's smoke test and its e2e scenarios.
fn local_phase(t: &mut Timings) -> Result<()> {
    t.run("local registry up, images pushed", || {
        crate::registry::up()?;
        images::run(&images::Args {
            repo: "luksa/kubia".into(),
            save: None,
            push: true,
        })
        .map(drop)
    })?;
    t.run("local cluster smoke test", cluster_smoke)?;
    // One cluster for the scenarios and the benchmark (each would otherwise bring up and
    // take down its own), taken down however they end.
    let (_, created) = t.run("local cluster up", || cluster::up(Provider::Local))?;
    let result = t
        .run("e2e on the local cluster", || {
            e2e::run(&e2e::Args::for_ci(Provider::Local))
        })
        .and_then(|()| {
            // Run once, small, so that it cannot rot; its timings are reported, not asserted.
            t.run(
                "bench rollout --replicas 100 --fake-nodes 10 --runs 1 --debug-build",
                crate::bench::rollout_at_scale_for_ci,
            )
        });
    let down = if created == cluster::Created::New {
        t.run("local cluster down", || cluster::down(Provider::Local))
    } else {
        Ok(())
    };
    result.and(down)
}

/// kind: two Ready nodes at the pinned version (kind up already saw a pod answer on 30002).
fn smoke_checks_kind(kc: &std::path::Path) -> Result<()> {
    let nodes = cluster::kubectl(kc, &["get", "nodes", "-o", NODES_JSONPATH])?;
    let lines: Vec<&str> = nodes.lines().collect();
    let expected: Vec<String> = ["control-plane", "worker"]
        .iter()
        .map(|role| {
            format!(
                "{}-{role} {} True",
                cluster::kind::CLUSTER_NAME,
                cluster::build::KUBERNETES_VERSION
            )
        })
        .collect();
    ensure!(
        lines == expected,
        "expected two Ready kind nodes at {}, got {nodes:?}",
        cluster::build::KUBERNETES_VERSION
    );
    eprintln!("kind: {}", nodes.trim());
    Ok(())
}

const NODES_JSONPATH: &str = "jsonpath={range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}";

/// The image answers as a pod would: run `luksa/kubia:v2` with a pod-like hostname.
pub fn images_smoke() -> Result<()> {
    let _p = util::Phase::start("images: build, then docker run luksa/kubia:v2");
    images::run(&images::Args {
        repo: "luksa/kubia".into(),
        save: None,
        push: false,
    })?;
    let sh = util::shell()?;
    let port = free_port()?;
    let publish = format!("127.0.0.1:{port}:8080");
    let id = cmd!(
        sh,
        "docker run -d --rm --hostname kubia-v2-abcde -p {publish} luksa/kubia:v2"
    )
    .read()?;
    let result = util::wait_for(
        "the container to answer",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || Ok(util::http_get(port).ok()),
    );
    let format = "{{.Config.User}}";
    let user = cmd!(sh, "docker inspect --format {format} {id}")
        .read()
        .unwrap_or_default();
    let _ = cmd!(sh, "docker rm -f {id}").quiet().ignore_stdout().run();
    let body = result?;
    ensure!(
        body == "This is v2 running in pod kubia-v2-abcde\n",
        "unexpected answer from luksa/kubia:v2: {body:?}"
    );
    ensure!(
        user == "65532:65532",
        "the image must run as non-root, runs as {user:?}"
    );
    eprintln!("luksa/kubia:v2 answered {body:?} as user {user}");
    rollout_image_smoke(&sh)
}

/// The plugin's image runs its binary as non-root and prints the workspace's version.
fn rollout_image_smoke(sh: &xshell::Shell) -> Result<()> {
    let image = format!("{}:latest", images::ROLLOUT_REPO);
    let out = cmd!(sh, "docker run --rm {image} --version").read()?;
    let version = crate::dist::version(sh)?;
    ensure!(
        out.starts_with(&format!("kubia-rollout {version} (")),
        "`docker run {image} --version` printed {out:?}"
    );
    let format = "{{.Config.User}}";
    let user = cmd!(sh, "docker inspect --format {format} {image}").read()?;
    ensure!(
        user == "65532:65532",
        "{image} must run as non-root, runs as {user:?}"
    );
    let size = crate::docker::image_size(&image)?;
    eprintln!("{image}: {out} as user {user}, {size} bytes");
    Ok(())
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Local cluster smoke test: one Ready node at the pinned version, the tutorial's image
/// behind NodePort 30002, then `down` leaves nothing running.
pub fn cluster_smoke() -> Result<()> {
    let _p = util::Phase::start("cluster smoke test (local provider)");
    cluster::up(Provider::Local)?;
    let checked = smoke_checks().and_then(|()| foreign_state_dirs_are_left_alone());
    // Whatever the checks found, `down` must run and leave nothing behind.
    let pids = local::recorded_pids();
    let down = cluster::down(Provider::Local);
    let leftovers = local::leftovers(&pids);
    checked?;
    down?;
    ensure!(
        pids.len() == 7,
        "expected 7 recorded processes, found {pids:?}"
    );
    if !leftovers.is_empty() {
        bail!(
            "`cluster down` left things behind: {}",
            leftovers.join("; ")
        );
    }
    eprintln!(
        "cluster down left nothing behind (processes, mounts, iptables chains, bridge, state)"
    );
    Ok(())
}

/// `cluster down` with `KUBIA_STATE_DIR` naming a directory `up` did not create refuses and
/// changes nothing; naming a stale state directory of ours (a second one), it removes that
/// directory and leaves the running cluster's bridge, chains and processes alone.
fn foreign_state_dirs_are_left_alone() -> Result<()> {
    let down_at = |dir: &std::path::Path| -> Result<std::process::Output> {
        Ok(std::process::Command::new(std::env::current_exe()?)
            .args(["cluster", "down", "--provider", "local"])
            .env("KUBIA_STATE_DIR", dir)
            .output()?)
    };
    let base = std::env::temp_dir().join(format!("kubia-foreign-{}", std::process::id()));
    let not_ours = base.join("not-ours");
    std::fs::create_dir_all(not_ours.join("data"))?;
    std::fs::write(not_ours.join("data/keep"), "someone else's")?;
    let out = down_at(&not_ours)?;
    let said = String::from_utf8_lossy(&out.stderr);
    ensure!(
        !out.status.success() && said.contains("refusing to clean up"),
        "`cluster down` on a directory without the marker did not refuse: {said}"
    );
    ensure!(
        not_ours.join("data/keep").is_file(),
        "`cluster down` removed a directory that was not ours"
    );
    let stale = base.join("stale");
    std::fs::create_dir_all(stale.join("pids"))?;
    std::fs::write(stale.join(local::MARKER), "stale")?;
    let chains = cluster::host::kubernetes_chains().len();
    let out = down_at(&stale)?;
    ensure!(
        out.status.success() && !stale.exists(),
        "`cluster down` of a stale state directory failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        local::healthy()
            && cluster::host::kubernetes_chains().len() == chains
            && std::path::Path::new("/sys/class/net")
                .join(local::BRIDGE)
                .exists(),
        "`cluster down` of a stale state directory disturbed the running cluster"
    );
    std::fs::remove_dir_all(&base)?;
    eprintln!(
        "cluster down refused a directory without the marker, and removed a stale state \
         directory leaving the running cluster ({chains} chains, bridge {}) alone",
        local::BRIDGE
    );
    Ok(())
}

fn smoke_checks() -> Result<()> {
    let nodes = local::kubectl(&["get", "nodes", "-o", NODES_JSONPATH])?;
    let lines: Vec<&str> = nodes.lines().collect();
    ensure!(
        lines
            == [format!(
                "{} {} True",
                local::NODE_NAME,
                cluster::build::KUBERNETES_VERSION
            )],
        "expected one Ready node at {}, got {nodes:?}",
        cluster::build::KUBERNETES_VERSION
    );
    let version = local::kubectl(&["version"])?;
    ensure!(!version.contains("v0.0.0"), "unstamped version: {version}");

    let ns = "kubia-smoke";
    let _ = local::kubectl(&[
        "delete",
        "namespace",
        ns,
        "--wait=true",
        "--ignore-not-found",
    ]);
    local::kubectl(&["create", "namespace", ns])?;
    local::kubectl(&[
        "-n",
        ns,
        "run",
        "kubia-smoke",
        "--image=luksa/kubia:v1",
        "--image-pull-policy=Never",
        "--labels=app=kubia-smoke",
        "--port=8080",
    ])?;
    local::kubectl(&[
        "-n",
        ns,
        "create",
        "service",
        "nodeport",
        "kubia-smoke",
        "--tcp=80:8080",
        "--node-port=30002",
    ])?;
    // `kubectl create service` selects app=<name>, which the pod carries.
    let body = util::wait_for(
        "the pod to answer on 127.0.0.1:30002",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || Ok(util::http_get(30002).ok()),
    )?;
    ensure!(
        body == "This is v1 running in pod kubia-smoke\n",
        "unexpected answer {body:?}"
    );
    eprintln!("127.0.0.1:30002 answered {body:?}");
    local::kubectl(&["delete", "namespace", ns, "--wait=false"])?;
    cluster::pull_always_check(&local::kubeconfig(), "kubia-pull-always")?;
    Ok(())
}
