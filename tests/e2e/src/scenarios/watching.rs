//! See the update, as a user of the plugin does: the tutorial's command with `--timeline`
//! and `--probe` (the command runs the curl loop itself and draws the picture), while
//! `kubia-rollout status -w` follows it from "another terminal": once in a real
//! pseudo-terminal (`script`), where it redraws in place, and once into a pipe, where it
//! prints a line per change. Both exit 0 when the update completes. Then an update to v3 is
//! interrupted and rolled back while `status -w` follows it: it exits 1, "rolled back".

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::steps::setup_v1;
use crate::{Env, Outcome, process};

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-watching", 3).await?;
    let svg = env.settings.report_dir.join("watching-plugin.svg");
    let _ = std::fs::remove_file(&svg);
    let url = format!("http://127.0.0.1:{}/", env.node_port.port());
    let (image, timeline, probe) = (
        env.image_arg("v2"),
        format!("--timeline={}", svg.display()),
        format!("--probe={url}"),
    );
    let update = [
        "rolling-update",
        "kubia-v1",
        "kubia-v2",
        image.as_str(),
        "--update-period=2s",
        timeline.as_str(),
        probe.as_str(),
    ];
    let origin = Instant::now();
    let mut plugin = process::spawn(ns.kubectl(env, &update))?;
    // Once the update exists in the cluster, another terminal follows it: a
    // pseudo-terminal of its own (`script`), and a pipe.
    let created = Duration::from_secs(120);
    while let Some(line) = plugin.next_line(created).await {
        if line.starts_with("Created kubia-v2") {
            break;
        }
    }
    let watch = format!(
        "{} status -w kubia-v1",
        env.settings.bin_dir.join("kubia-rollout").display()
    );
    let mut in_pty = process::command(
        std::path::Path::new("script"),
        &["-q", "-e", "-c", &watch, "/dev/null"],
        &env.settings.bin_dir,
        &ns.kubeconfig,
    );
    in_pty.env("TERM", "xterm");
    let in_pty = process::spawn(in_pty)?;
    let piped = process::spawn(ns.kubia_rollout(env, &["status", "-w", "kubia-v1"]))?;

    let plugin = plugin.finish(Duration::from_secs(300)).await?;
    ensure!(
        plugin.success(),
        "the plugin with --timeline and --probe: {} {}",
        plugin.exit(),
        plugin.stderr
    );
    o.marks.push(("update done".into(), origin.elapsed()));
    let in_pty = in_pty.finish(Duration::from_secs(60)).await?;
    let piped = piped.finish(Duration::from_secs(60)).await?;
    ensure!(
        in_pty.success() && in_pty.stdout.contains("completed"),
        "status -w in a terminal: {} {:?} {}",
        in_pty.exit(),
        in_pty.stdout,
        in_pty.stderr
    );
    let redraws = in_pty.stdout.matches("\x1b[").count();
    ensure!(
        redraws >= 2,
        "status -w in a terminal redrew {redraws} times: {:?}",
        in_pty.stdout
    );
    o.note(format!(
        "status -w in a pseudo-terminal: redrew in place {redraws} times, exit 0, last line {:?}",
        in_pty.stdout.lines().last().unwrap_or_default().trim()
    ));
    let lines = piped.stdout_lines();
    ensure!(
        piped.success()
            && lines.len() >= 3
            && lines.last().is_some_and(|l| l.contains("completed"))
            && !piped.stdout.contains('\x1b'),
        "status -w into a pipe: {} {:?}",
        piped.exit(),
        piped.stdout
    );
    o.note(format!(
        "status -w into a pipe: {} lines, one per change, exit 0",
        lines.len()
    ));

    let text =
        std::fs::read_to_string(&svg).with_context(|| format!("reading {}", svg.display()))?;
    let stderr_line = plugin
        .stderr
        .lines()
        .find(|l| l.starts_with("timeline written to"))
        .unwrap_or_default()
        .to_owned();
    ensure!(
        text.contains("kubia-v2 ↑1") && text.contains(">v1<") && text.contains(">v2<"),
        "the plugin's timeline lacks the steps or the versions: {stderr_line}"
    );
    ensure!(
        stderr_line.contains(", 0 without a good answer"),
        "the plugin's probe saw failures: {stderr_line}"
    );
    o.note(format!("the plugin: {stderr_line}"));

    // Rolled back while followed: status -w exits 1.
    let v3 = env.image_arg("v3");
    let to_v3 = [
        "rolling-update",
        "kubia-v2",
        "kubia-v3",
        v3.as_str(),
        "--update-period=60s",
    ];
    let mut bad = process::spawn(ns.kubectl(env, &to_v3))?;
    let deadline = Duration::from_secs(120);
    while let Some(line) = bad.next_line(deadline).await {
        if line.starts_with("Scaling kubia-v3 up to 1") {
            break;
        }
    }
    let mut follower = process::spawn(ns.kubia_rollout(env, &["status", "-w", "kubia-v2"]))?;
    // It follows before the engine stops: its first frame is printed.
    let first = follower.next_line(Duration::from_secs(30)).await;
    ensure!(
        first.is_some(),
        "status -w printed nothing while the update ran"
    );
    let _ = bad.interrupt(Duration::from_secs(60)).await?;
    let rollback = ["rolling-update", "kubia-v2", "kubia-v3", "--rollback"];
    process::run(ns.kubectl(env, &rollback), Duration::from_secs(300))
        .await?
        .ok("the rollback")?;
    let followed = follower.finish(Duration::from_secs(60)).await?;
    ensure!(
        followed.code == Some(1) && followed.stderr.contains("rolled back"),
        "status -w of a rolled-back update: {} {:?} {:?}",
        followed.exit(),
        followed.stdout,
        followed.stderr
    );
    o.note(format!(
        "status -w of an update rolled back: exit 1, {:?}",
        followed.stderr.trim()
    ));
    ns.delete().await
}
