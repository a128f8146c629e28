//! The cluster's processes: started in their own process group with a recorded PID and
//! command line, recognised again only by that PID running that program (never by name),
//! stopped with TERM then KILL; and containerd's shims, which outlive containerd.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::paths::{containerd_socket, log_file, pid_file, state_dir};
use crate::cluster::build;

/// Running containerd shims that serve our containerd (their command line names our socket).
pub(super) fn shim_processes() -> Vec<u32> {
    let sock = containerd_socket().display().to_string();
    processes_where(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&sock))
    })
}

/// The PIDs in /proc for which `wanted` holds.
pub(super) fn processes_where(wanted: impl Fn(u32) -> bool) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| wanted(*pid))
        .collect()
}

pub(super) fn spawn(name: &str, program: &Path, args: &[String]) -> Result<()> {
    // Appended to, not truncated: a component restarted by a fault scenario keeps what it
    // logged before the restart.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file(name))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: a Ctrl-C on the terminal of `cargo xtask` must not reach it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    if name != "containerd" {
        // The kubelet and kube-proxy find conntrack/iptables here; all find our kubectl.
        cmd.env("PATH", path_with_bins());
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    std::fs::write(pid_file(name), child.id().to_string())?;
    record(name, program, args)?;
    // Give crashes at start-up a moment to show. Our own child's exit status is the
    // authority here, not /proc: a CI run once saw `alive` miss an API server that went on
    // serving for seconds.
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = child.try_wait()? {
        bail!(
            "{name} exited at once ({status}); see {}",
            log_file(name).display()
        );
    }
    // Not waited for: it outlives us, and `alive` finds it again by its PID file.
    drop(child);
    Ok(())
}

/// Where `spawn` records a component's program and arguments (NUL-separated).
pub(super) fn command_file(name: &str) -> PathBuf {
    state_dir().join("pids").join(format!("{name}.cmd"))
}

/// Records what `spawn` ran, for `start_component`.
fn record(name: &str, program: &Path, args: &[String]) -> Result<()> {
    let mut parts = vec![program.display().to_string()];
    parts.extend(args.iter().cloned());
    std::fs::write(command_file(name), parts.join("\0"))
        .with_context(|| format!("recording the command line of {name}"))
}

pub(super) fn path_with_bins() -> String {
    let mut p = std::env::var("PATH").unwrap_or_default();
    p = format!("{}:/usr/sbin:/sbin:{p}", build::bin_dir().display());
    p
}

/// The recorded PID when that process still runs the recorded program.
pub(super) fn alive(name: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file(name))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline(pid)?).into_owned();
    let arg0 = cmdline.split('\0').next()?;
    // A recycled PID (after a reboot, say) runs something else: every component we start
    // names its program and a path in our state directory on its command line.
    let ours = arg0.ends_with(name) && cmdline.contains(&state_dir().display().to_string());
    (ours && running(pid)).then_some(pid)
}

/// `/proc/PID/cmdline`, read again when it comes back empty while the process runs: the
/// kernel returns nothing when it cannot read the process's memory at that moment.
fn cmdline(pid: u32) -> Option<Vec<u8>> {
    for _ in 0..5 {
        let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        if !bytes.is_empty() || !running(pid) {
            return Some(bytes);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The process exists and has not exited (a zombie has).
pub(super) fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

pub(super) fn stop(name: &str) {
    let Some(pid) = alive(name) else { return };
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(name).is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive(name).is_some() {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// containerd's runc shims outlive containerd (and so do their containers when the CRI
/// could not remove them). Only shims serving our containerd are touched: their command
/// line names our socket. Their children (the containers' processes) go first.
pub(super) fn kill_leftover_shims() {
    for shim in shim_processes() {
        for child in children(shim) {
            kill9(child);
        }
        kill9(shim);
    }
}

pub(super) fn children(parent: u32) -> Vec<u32> {
    processes_where(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<u32>().ok())
                == Some(parent)
        })
    })
}

pub(super) fn kill9(pid: u32) {
    if pid > 1 {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stderr(Stdio::null())
            .status();
    }
}
