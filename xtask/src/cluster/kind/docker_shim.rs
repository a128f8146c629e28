//! A `docker` stand-in for kind on hosts that refuse privileged containers.
//!
//! kind runs its nodes with `docker run --privileged` and execs into them with
//! `docker exec --privileged`. Some hosts (ours: dockerd without `CAP_SYS_RESOURCE` in its
//! bounding set) refuse both with "unable to apply caps: operation not permitted". There,
//! and only there, kind is given this shim first on its PATH: xtask's own binary, started as
//! `docker`, which rewrites those two commands and execs the real docker:
//! - `run --privileged` becomes every capability but `SYS_RESOURCE`, unconfined /proc and
//!   /sys paths, every device allowed and `/dev/kmsg` (kind already passes the seccomp,
//!   AppArmor, tmpfs and cgroupns flags; adding them twice would clash);
//! - kind's read-only `/lib/modules` volume points at an empty stand-in when the host has
//!   no `/lib/modules` (Docker would otherwise create one on the host);
//! - `exec --privileged` loses the flag.
//!
//! A user's machine that runs privileged containers never sees the shim.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, Result};

use crate::util;

/// The real docker the shim hands over to.
const REAL_DOCKER: &str = "KUBIA_REAL_DOCKER";
/// The empty directory standing in for a missing `/lib/modules`.
const MODULES_STAND_IN: &str = "KUBIA_LIB_MODULES_STAND_IN";

/// What replaces `--privileged` on `docker run`.
const INSTEAD_OF_PRIVILEGED: [&str; 5] = [
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt=systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
    "--device=/dev/kmsg",
];

/// When xtask was started as `docker` by kind: rewrite and exec. Returns None otherwise.
pub fn intercept() -> Option<ExitCode> {
    let mut args = std::env::args_os();
    let argv0 = PathBuf::from(args.next()?);
    if argv0.file_name()? != "docker" {
        return None;
    }
    let real = std::env::var_os(REAL_DOCKER)?;
    let stand_in = std::env::var_os(MODULES_STAND_IN).map(PathBuf::from);
    let rewritten = rewrite(args.collect(), stand_in.as_deref());
    let err = std::os::unix::process::CommandExt::exec(Command::new(&real).args(rewritten));
    eprintln!(
        "docker shim: cannot exec {}: {err}",
        Path::new(&real).display()
    );
    Some(ExitCode::from(127))
}

/// The arguments kind passed, with the privileged parts replaced (see the module doc).
fn rewrite(args: Vec<OsString>, modules_stand_in: Option<&Path>) -> Vec<OsString> {
    let command = args
        .iter()
        .position(|a| !a.to_string_lossy().starts_with('-'))
        .map(|i| args[i].to_string_lossy().into_owned());
    let mut out = Vec::with_capacity(args.len() + INSTEAD_OF_PRIVILEGED.len());
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        let s = arg.to_string_lossy();
        let privileged = s == "--privileged" || s == "--privileged=true";
        match command.as_deref() {
            Some("run") if privileged => {
                out.extend(INSTEAD_OF_PRIVILEGED.iter().map(OsString::from));
            }
            Some("exec") if privileged => {}
            Some("run") if modules_stand_in.is_some() => {
                let stand_in = modules_stand_in.unwrap_or(Path::new("/lib/modules"));
                if let Some(spec) = s.strip_prefix("--volume=").or(s.strip_prefix("-v=")) {
                    out.push(format!("--volume={}", modules_volume(spec, stand_in)).into());
                } else if (s == "--volume" || s == "-v") && iter.peek().is_some() {
                    let spec = iter.next().unwrap_or_default();
                    out.push(arg);
                    out.push(modules_volume(&spec.to_string_lossy(), stand_in).into());
                } else {
                    out.push(arg);
                }
            }
            _ => out.push(arg),
        }
    }
    out
}

fn modules_volume(spec: &str, stand_in: &Path) -> String {
    match spec.strip_prefix("/lib/modules:") {
        Some(rest) => format!("{}:{rest}", stand_in.display()),
        None => spec.to_owned(),
    }
}

/// Whether this Docker engine refuses privileged containers (tried with a local image, as
/// root: a non-root process never asks for the capabilities, so it would pass).
pub fn privileged_refused(image: &str) -> Result<bool> {
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "--privileged",
            "--user=0:0",
            "--entrypoint=/kubia",
            image,
            "--version",
        ])
        .stdout(Stdio::null())
        .output()
        .context("running docker")?;
    if out.status.success() {
        return Ok(false);
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("operation not permitted") {
        return Ok(true);
    }
    anyhow::bail!(
        "cannot tell whether privileged containers run here: {}",
        err.trim()
    )
}

/// The environment that puts the shim first on PATH for a kind command.
pub fn environment() -> Result<Vec<(String, OsString)>> {
    let dir = util::root().join("target/kind/docker-shim");
    std::fs::create_dir_all(&dir)?;
    let link = dir.join("docker");
    let exe = std::env::current_exe().context("locating xtask's binary")?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&exe, &link)?;
    let real = which("docker").context("no docker on PATH")?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![dir];
    dirs.extend(std::env::split_paths(&path));
    let mut env = vec![
        ("PATH".to_owned(), std::env::join_paths(dirs)?),
        (REAL_DOCKER.to_owned(), real.into_os_string()),
    ];
    if !Path::new("/lib/modules").exists() {
        let stand_in = util::root().join("target/kind/lib-modules");
        std::fs::create_dir_all(&stand_in)?;
        env.push((MODULES_STAND_IN.to_owned(), stand_in.into_os_string()));
    }
    Ok(env)
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn run_loses_privileged_and_gets_the_substitutes() {
        let out = strings(rewrite(
            os(&[
                "run",
                "--name",
                "n",
                "--privileged",
                "--volume",
                "/lib/modules:/lib/modules:ro",
                "--volume=/var",
                "img",
            ]),
            Some(Path::new("/tmp/mods")),
        ));
        assert!(!out.iter().any(|a| a == "--privileged"));
        assert!(out.iter().any(|a| a == "--cap-drop=SYS_RESOURCE"));
        assert!(out.iter().any(|a| a == "/tmp/mods:/lib/modules:ro"));
        assert!(out.iter().any(|a| a == "--volume=/var"));
        assert_eq!(out.last().map(String::as_str), Some("img"));
    }

    #[test]
    fn modules_volume_kept_when_the_host_has_modules() {
        let out = strings(rewrite(
            os(&["run", "-v", "/lib/modules:/lib/modules:ro", "img"]),
            None,
        ));
        assert_eq!(out, ["run", "-v", "/lib/modules:/lib/modules:ro", "img"]);
    }

    #[test]
    fn exec_only_drops_privileged_and_other_commands_pass_through() {
        assert_eq!(
            strings(rewrite(
                os(&["exec", "--privileged", "-i", "n", "ctr"]),
                None
            )),
            ["exec", "-i", "n", "ctr"]
        );
        assert_eq!(
            strings(rewrite(os(&["inspect", "--privileged"]), None)),
            ["inspect", "--privileged"]
        );
    }
}
