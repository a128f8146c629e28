//! Talking to the Docker engine.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::util;

/// Fails with instructions when no Docker engine answers. Installs nothing: that is
/// `cargo xtask setup`'s job, which says what it does.
pub fn require_engine() -> Result<()> {
    if engine_version().is_some() {
        return Ok(());
    }
    if !util::have("docker") {
        bail!(
            "no `docker` command found. Install a Docker engine (Debian: `apt-get install docker.io`) \
             or run `cargo xtask setup`, which does that and starts it"
        );
    }
    bail!(
        "no Docker engine answers. Start one (as root: `dockerd > /var/log/dockerd.log 2>&1 &`, or \
         `systemctl start docker`), or run `cargo xtask setup`"
    )
}

/// The engine's version, or None when no engine answers.
pub fn engine_version() -> Option<String> {
    let out = std::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// Size in bytes of a local image.
pub fn image_size(image: &str) -> Result<u64> {
    let sh = util::shell()?;
    let format = "{{.Size}}";
    let out = xshell::cmd!(sh, "docker image inspect --format {format} {image}")
        .quiet()
        .read()?;
    Ok(out.trim().parse()?)
}

/// A running Docker engine: installs Debian's docker.io when there is none and starts
/// `dockerd` in the background when none answers.
pub fn ensure_engine() -> Result<()> {
    if let Some(v) = engine_version() {
        eprintln!("Docker engine {v} is running");
        return Ok(());
    }
    if !util::have("dockerd") {
        crate::packages::ensure(&["docker.io"])?;
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
        || Ok(engine_version()),
    )?;
    eprintln!("Docker engine {v} is running");
    Ok(())
}
