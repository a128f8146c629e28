//! Running one of the cluster's command-line tools (kubectl, ctr, crictl): input on stdin,
//! stdout back, and on failure an error naming the command and quoting its stderr. A leaf
//! under `kubectl` and the local provider's `ctr` and `crictl`.

use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Runs `cmd args` with `input` on stdin; its stdout, or an error naming the command and
/// quoting its stderr.
pub fn run_checked(name: &str, mut cmd: Command, args: &[&str], input: &str) -> Result<String> {
    use std::io::Write;
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {name}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{name} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
