//! `cargo xtask setup`: installs and starts what the other tasks need, idempotently, and says
//! what it does. Tasks that need something call the matching `ensure_*` function.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::{docker, util};

#[derive(clap::Args, Clone, Default)]
pub struct Args {
    /// Also build the Kubernetes binaries for the local cluster (tens of minutes when cold).
    #[arg(long)]
    pub cluster: bool,
}

pub fn run(args: &Args) -> Result<()> {
    ensure_docker()?;
    ensure_packages(&["wrk"])?;
    if args.cluster {
        crate::cluster::local::ensure_installed()?;
    }
    Ok(())
}

/// Installs the Debian packages (by package name) that `dpkg` does not list as installed.
pub fn ensure_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !util::have("apt-get") {
        bail!("missing packages {missing:?} and no apt-get to install them; install them by hand");
    }
    let _p = util::Phase::start(format!("apt-get install {}", missing.join(" ")));
    let sh = util::shell()?;
    let _env = sh.push_env("DEBIAN_FRONTEND", "noninteractive");
    // The package lists of a fresh machine may be empty or stale.
    cmd!(sh, "apt-get update -qq")
        .quiet()
        .ignore_stdout()
        .run()?;
    cmd!(sh, "apt-get install -y -qq {missing...}")
        .quiet()
        .ignore_stdout()
        .run()
        .context("apt-get install failed")?;
    Ok(())
}

fn dpkg_installed(package: &str) -> bool {
    std::process::Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

/// A running Docker engine: installs Debian's docker.io when there is none and starts
/// `dockerd` in the background when none answers.
pub fn ensure_docker() -> Result<()> {
    if let Some(v) = docker::engine_version() {
        eprintln!("Docker engine {v} is running");
        return Ok(());
    }
    if !util::have("dockerd") {
        ensure_packages(&["docker.io"])?;
    }
    let _p = util::Phase::start("starting dockerd");
    let log = std::fs::File::create("/var/log/kubia-dockerd.log")
        .or_else(|_| std::fs::File::create(std::env::temp_dir().join("kubia-dockerd.log")))?;
    std::process::Command::new("dockerd")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(std::process::Stdio::null())
        .spawn()
        .context("cannot start dockerd")?;
    let v = util::wait_for(
        "the Docker engine to answer",
        Duration::from_secs(60),
        Duration::from_millis(500),
        || Ok(docker::engine_version()),
    )?;
    eprintln!("Docker engine {v} is running");
    Ok(())
}
