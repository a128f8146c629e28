//! Debian packages: installed with apt-get when dpkg does not list them, saying so. A leaf
//! module every task that needs a package uses (setup, the cluster providers, the registry,
//! the benchmarks).

use anyhow::{Context, Result, bail};
use xshell::cmd;

use crate::util;

/// Installs the Debian packages (by package name) that `dpkg` does not list as installed.
pub fn ensure(packages: &[&str]) -> Result<()> {
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
