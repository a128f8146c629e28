//! Stopping and starting one component of the running local cluster: the hooks the
//! end-to-end fault scenarios use (`cargo xtask cluster stop|start COMPONENT`).
//!
//! `start` replays the command line `up` recorded when it first started the component, so a
//! restarted API server or etcd runs exactly as before (same flags, same data directory).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::paths::state_dir;
use super::processes::{alive, command_file, spawn, stop};
use super::settings::COMPONENTS;
use super::tools::kubectl;
use crate::util;

fn known(name: &str) -> Result<()> {
    if !COMPONENTS.contains(&name) {
        bail!(
            "unknown component {name:?}; the local cluster runs {}",
            COMPONENTS.join(", ")
        );
    }
    if !state_dir().join("pids").is_dir() {
        bail!("no local cluster is running (`cargo xtask cluster up --provider local`)");
    }
    Ok(())
}

/// Stops one component (SIGTERM, then SIGKILL after 15 s) and leaves the others running.
pub fn stop_component(name: &str) -> Result<()> {
    known(name)?;
    let Some(pid) = alive(name) else {
        bail!("{name} is not running");
    };
    stop(name);
    if alive(name).is_some() {
        bail!("{name} (pid {pid}) did not stop");
    }
    eprintln!("stopped {name} (pid {pid})");
    Ok(())
}

/// Starts a stopped component again with its recorded command line; for the API server,
/// waits until it answers `/readyz` again.
pub fn start_component(name: &str) -> Result<()> {
    known(name)?;
    if let Some(pid) = alive(name) {
        eprintln!("{name} already runs (pid {pid})");
        return Ok(());
    }
    let file = command_file(name);
    let recorded = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "reading {} (written when `up` started {name})",
            file.display()
        )
    })?;
    let mut parts = recorded.split('\0').map(str::to_owned);
    let program = PathBuf::from(parts.next().unwrap_or_default());
    let args: Vec<String> = parts.collect();
    spawn(name, &program, &args)?;
    if name == "kube-apiserver" {
        util::wait_for(
            "the API server to be ready again",
            Duration::from_secs(120),
            Duration::from_millis(250),
            || {
                Ok(kubectl(&["get", "--raw", "/readyz"])
                    .ok()
                    .filter(|s| s.trim() == "ok")
                    .map(drop))
            },
        )?;
    }
    eprintln!("started {name} (pid {})", alive(name).unwrap_or_default());
    Ok(())
}

/// The command line `up` gave `name`, kept aside by the first [`restart_with`].
fn original_file(name: &str) -> PathBuf {
    state_dir().join("pids").join(format!("{name}.cmd.orig"))
}

/// Restarts running component `name` with the arguments `change` makes of those `up` gave
/// it (the benchmark's raised client QPS); [`restore`] puts the original back.
pub fn restart_with(name: &str, change: impl FnOnce(Vec<String>) -> Vec<String>) -> Result<()> {
    known(name)?;
    let original = original_file(name);
    if !original.is_file() {
        std::fs::copy(command_file(name), &original)
            .with_context(|| format!("keeping the command line of {name}"))?;
    }
    let recorded = std::fs::read_to_string(&original)?;
    let mut parts = recorded.split('\0').map(str::to_owned);
    let program = PathBuf::from(parts.next().unwrap_or_default());
    let args = change(parts.collect());
    stop(name);
    spawn(name, &program, &args)
}

/// Restarts `name` as `up` started it, if [`restart_with`] changed it.
pub fn restore(name: &str) -> Result<()> {
    let original = original_file(name);
    if !original.is_file() {
        return Ok(());
    }
    restart_with(name, |args| args)?;
    std::fs::remove_file(original)?;
    Ok(())
}
