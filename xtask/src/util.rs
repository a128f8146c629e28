//! Small helpers shared by the tasks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The workspace root (xtask's parent directory).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

pub fn chdir_to_root() -> Result<()> {
    std::env::set_current_dir(root()).context("cannot enter the workspace root")
}

/// Where expensive, reusable artefacts live (Kubernetes binaries, etcd): outside the work
/// tree so that a clean checkout on the same machine reuses them.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KUBIA_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/var/cache"));
    base.join("kubia-lab")
}

pub fn shell() -> Result<xshell::Shell> {
    let sh = xshell::Shell::new()?;
    sh.change_dir(root());
    Ok(sh)
}

/// Prints a phase heading and, when the phase ends, how long it took.
pub struct Phase {
    name: String,
    start: Instant,
}

impl Phase {
    pub fn start(name: impl Into<String>) -> Self {
        let name = name.into();
        eprintln!("==> {name}");
        Self {
            name,
            start: Instant::now(),
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        eprintln!(
            "<== {} ({:.1}s)",
            self.name,
            self.start.elapsed().as_secs_f64()
        );
    }
}

/// Polls `check` until it returns `Ok(Some(_))` or `timeout` passes.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    let mut last_err = None;
    loop {
        match check() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() >= deadline {
            return Err(match last_err {
                Some(e) => e.context(format!("timed out after {timeout:?} waiting for {what}")),
                None => anyhow::anyhow!("timed out after {timeout:?} waiting for {what}"),
            });
        }
        std::thread::sleep(interval);
    }
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    which(program).is_some()
}

/// Where a program is on PATH, if it is.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

/// `GET /` on 127.0.0.1:port with a fresh connection; the body of a 200 answer.
pub fn http_get(port: u16) -> Result<String> {
    http_get_path(port, "/")
}

/// `GET path` on 127.0.0.1:port with a fresh connection; the body of a 200 answer.
pub fn http_get_path(port: u16, path: &str) -> Result<String> {
    use std::io::{Read, Write};
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: kubia\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    let (head, body) = buf.split_once("\r\n\r\n").context("no HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("answer: {}", head.lines().next().unwrap_or_default());
    }
    Ok(body.to_owned())
}
