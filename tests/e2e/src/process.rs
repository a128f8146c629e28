//! Running the binaries under test (the engine's CLIs, kubectl) as a user would.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Output {
    /// The exit code; None when a signal ended the command.
    pub code: Option<i32>,
    /// Everything printed on stdout.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

impl Output {
    /// Whether the command exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    /// The output of a command that had to succeed; else an error naming `what` and its
    /// stderr.
    pub fn ok(self, what: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            self.success(),
            "{what} failed ({}): {}",
            self.exit(),
            self.stderr.trim()
        );
        Ok(self)
    }
    /// `exit 1`, or `killed by a signal` when there is no code: for reports.
    pub fn exit(&self) -> String {
        match self.code {
            Some(code) => format!("exit {code}"),
            None => "killed by a signal".into(),
        }
    }
    /// stdout, line by line.
    pub fn stdout_lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// A command with PATH set so that `kubectl rolling-update` finds our plugin, and
/// KUBECONFIG set to the scenario's kubeconfig.
pub fn command(program: &Path, args: &[&str], bin_dir: &Path, kubeconfig: &Path) -> Command {
    let mut cmd = Command::new(program);
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.args(args)
        .env("PATH", path)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs to completion (bounded by `timeout`).
pub async fn run(mut cmd: Command, timeout: Duration) -> Result<Output> {
    let child = cmd.spawn().context("spawning")?;
    let out = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .with_context(|| format!("command did not finish within {timeout:?}"))??;
    Ok(Output {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// A running command whose stdout lines arrive as they are printed (to kill it at a chosen
/// step).
pub struct Running {
    /// The process, e.g. to signal it.
    pub child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every stdout line handed out so far.
    seen: Vec<String>,
    stderr: tokio::task::JoinHandle<String>,
}

/// Starts the command; its stdout lines are read with [`Running::next_line`].
pub fn spawn(mut cmd: Command) -> Result<Running> {
    let mut child = cmd.spawn().context("spawning")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let (tx, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut r = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = r.next_line().await {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = tokio::spawn(async move {
        let mut s = String::new();
        let mut r = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = r.next_line().await {
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    Ok(Running {
        child,
        lines,
        seen: Vec::new(),
        stderr,
    })
}

impl Running {
    /// The next stdout line, or None when the command ended or `timeout` passed.
    pub async fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = tokio::time::timeout(timeout, self.lines.recv())
            .await
            .ok()
            .flatten()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// Its process id (while it runs).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it has exited already.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The stdout lines handed out so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// SIGKILL: the harshest interruption, as a lost client.
    pub async fn kill(mut self) -> Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// SIGINT, as Ctrl-C in a terminal; then waits for the exit and collects the output.
    pub async fn interrupt(self, timeout: Duration) -> Result<Output> {
        let pid = self.child.id().context("the command already exited")?;
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .context("running kill")?;
        anyhow::ensure!(status.success(), "kill -INT {pid} failed");
        self.finish(timeout).await
    }

    /// Waits for the end, collecting the remaining output.
    pub async fn finish(mut self, timeout: Duration) -> Result<Output> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .with_context(|| format!("command did not finish within {timeout:?}"))??;
        // The reader ends at EOF, which follows the exit.
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            self.seen.push(line);
        }
        let stdout: String = self.seen.iter().map(|l| format!("{l}\n")).collect();
        let stderr = self.stderr.await.unwrap_or_default();
        Ok(Output {
            code: status.code(),
            stdout,
            stderr,
        })
    }
}
