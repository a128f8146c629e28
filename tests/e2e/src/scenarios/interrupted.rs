//! The tutorial's stated weakness, fixed: the update is SIGKILLed after each of its scaling
//! steps in turn, and the same command run again resumes and completes; interrupted with
//! Ctrl-C (SIGINT) in the middle, it exits 130 saying how to resume or roll back, and
//! `--rollback` returns to the old version. Traffic and pod bounds are watched throughout.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};

use super::steps::{assert_no_failures, is_scaling_step, probe, setup_v1, versions};
use crate::monitor::{Monitor, check_bounds};
use crate::{Env, Namespace, Outcome, process};

const PERIOD: &str = "--update-period=1s";

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-interrupted", 3).await?;
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    let result = steps(env, &ns, o, origin).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    result?;
    assert_no_failures(&samples)?;
    let v = versions(&samples);
    ensure!(
        v.iter().all(|x| *x == "v1" || *x == "v2"),
        "unexpected versions answered"
    );
    o.note(format!(
        "{} requests over every interruption, none failed",
        samples.len()
    ));
    let (min_ready, max_live) = check_bounds(&snaps, Duration::ZERO, 3, 4)?;
    o.note(format!(
        "pods throughout: at least {min_ready} ready, at most {max_live} live (bounds 3 and 4), {} observed states",
        snaps.len()
    ));
    ns.delete().await
}

async fn steps(env: &Env, ns: &Namespace, o: &mut Outcome, origin: Instant) -> Result<()> {
    let mut old = "kubia-v1".to_owned();
    // Six scaling steps in a 3-replica update: kill after each of them in turn.
    for k in 1..=6 {
        let new = format!("kubia-s{k}");
        let image = env.image(if k % 2 == 1 { "v2" } else { "v1" });
        let args = [
            "rolling-update",
            old.as_str(),
            new.as_str(),
            &format!("--image={image}"),
            PERIOD,
        ];
        o.marks.push((format!("kill@{k}"), origin.elapsed()));
        let killed_after = run_and_kill(env, ns, &args, k).await?;
        let rcs = ns.api::<ReplicationController>();
        // SIGKILL lands a few milliseconds after the line; after the last step the engine
        // may have finished in between. Then there is nothing to resume, which is also fine.
        if k == 6 && rcs.get_opt(&old).await?.is_none() {
            o.note(format!(
                "{old} → {new}: the kill after step 6 landed after the update had completed"
            ));
            old = new;
            continue;
        }
        let out = process::run(ns.kubectl(env, &args), Duration::from_secs(300)).await?;
        ensure!(
            out.success(),
            "resuming after a kill at step {k} failed: {}",
            out.stderr.trim()
        );
        ensure!(
            out.stdout.contains(&format!(
                "Found existing update in progress ({new}), resuming.\nContinuing update with existing controller {new}."
            )),
            "the rerun did not say, as kubectl did, that it found the update and continues: {}",
            out.stdout
        );
        ensure!(
            out.stdout.ends_with(&format!(
                "replicationcontroller/{new} rolling updated to \"{new}\"\n"
            )),
            "the rerun did not finish: {}",
            out.stdout
        );
        let rcs = ns.api::<ReplicationController>();
        ensure!(
            rcs.get_opt(&old).await?.is_none(),
            "{old} still exists after the resumed update"
        );
        // The old RC's pods may still serve out their shutdown delay: the next update starts
        // meanwhile, as a user chaining updates would (the bounds count live pods only).
        ns.wait_ready_live("app=kubia", 3, Duration::from_secs(60))
            .await?;
        o.note(format!(
            "{old} → {new} ({image}): SIGKILL after step {k} ({killed_after:?}), rerun resumed and finished"
        ));
        old = new;
    }

    // Rollback from the middle.
    let new = "kubia-rb";
    let args = [
        "rolling-update",
        old.as_str(),
        new,
        &env.image_arg("v2"),
        PERIOD,
    ];
    o.marks.push(("Ctrl-C, rollback".into(), origin.elapsed()));
    let interrupted = run_and_interrupt(env, ns, &args, 3).await?;
    ensure!(
        interrupted.code == Some(130),
        "after Ctrl-C the update ended with {}, not exit 130: {}",
        interrupted.exit(),
        interrupted.stderr.trim()
    );
    // The last stderr line is the error (retries, if any, are reported before it).
    let message = interrupted.stderr.trim().lines().last().unwrap_or_default();
    ensure!(
        message.starts_with("error: interrupted; resume with: ")
            && message.contains("roll back with: ")
            && message.contains("--rollback"),
        "after Ctrl-C the message does not say how to resume and roll back: {}",
        interrupted.stderr.trim()
    );
    // Another target while this update is in progress is refused, naming it.
    let other = process::run(
        ns.kubectl(
            env,
            &[
                "rolling-update",
                old.as_str(),
                "kubia-other",
                &env.image_arg("v3"),
                PERIOD,
            ],
        ),
        Duration::from_secs(120),
    )
    .await?;
    let refusal = other.stderr.trim().lines().last().unwrap_or_default();
    ensure!(
        !other.success()
            && refusal.starts_with(&format!(
                "error: replicationcontroller {old} is being updated to {new} ("
            ))
            && refusal.contains("an update in progress; finish it with: ")
            && refusal.contains("--rollback"),
        "an update to another target during {old} → {new} was not refused naming it: {}, {}",
        other.exit(),
        other.stderr.trim()
    );
    ensure!(
        ns.api::<ReplicationController>()
            .get_opt("kubia-other")
            .await?
            .is_none(),
        "the refused update created kubia-other"
    );
    o.note(format!(
        "{old} → kubia-other during {old} → {new}: `{refusal}`"
    ));
    let out = process::run(
        ns.kubectl(
            env,
            &["rolling-update", old.as_str(), new, "--rollback", PERIOD],
        ),
        Duration::from_secs(300),
    )
    .await?;
    let out = out.ok("--rollback")?;
    let rcs = ns.api::<ReplicationController>();
    ensure!(
        rcs.get_opt(new).await?.is_none(),
        "{new} still exists after the rollback"
    );
    ns.wait_ready("app=kubia", 3, Duration::from_secs(60))
        .await?;
    let pods = ns.ready_pods("app=kubia").await?;
    ensure!(
        pods.iter().all(|p| crate::monitor::version(p) == "v1"),
        "after the rollback not every pod runs v1"
    );
    // The Service must serve v1 only now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for _ in 0..20 {
        let r = traffic_probe::fetch(env.node_port, "/", Duration::from_secs(2)).await?;
        ensure!(
            r.body.starts_with("This is v1 "),
            "after the rollback: {:?}",
            r.body
        );
    }
    o.note(format!(
        "{old} → {new}: Ctrl-C (SIGINT) after step 3: exit 130 and `{message}`; then --rollback: {new} deleted, 3 v1 pods of {old} serve; output: {}",
        out.stdout.lines().collect::<Vec<_>>().join(" | ")
    ));
    Ok(())
}

/// Starts the update and SIGKILLs it right after its `k`-th scaling step line.
async fn run_and_kill(env: &Env, ns: &Namespace, args: &[&str], k: usize) -> Result<String> {
    let (running, line) = run_until_step(env, ns, args, k).await?;
    running.kill().await?;
    Ok(line)
}

/// Starts the update and presses Ctrl-C (SIGINT) right after its `k`-th scaling step line.
async fn run_and_interrupt(
    env: &Env,
    ns: &Namespace,
    args: &[&str],
    k: usize,
) -> Result<process::Output> {
    let (running, _) = run_until_step(env, ns, args, k).await?;
    running.interrupt(Duration::from_secs(60)).await
}

/// Starts the update and returns it, still running, with its `k`-th scaling step line.
async fn run_until_step(
    env: &Env,
    ns: &Namespace,
    args: &[&str],
    k: usize,
) -> Result<(process::Running, String)> {
    let mut running = process::spawn(ns.kubectl(env, args))?;
    let mut steps = 0;
    while let Some(line) = running.next_line(Duration::from_secs(120)).await {
        if is_scaling_step(&line) {
            steps += 1;
            if steps == k {
                return Ok((running, line));
            }
        }
    }
    let seen = running.seen().join("\n");
    let out = running.finish(Duration::from_secs(10)).await?;
    bail!("the update ended before step {k}: {seen}\n{}", out.stderr)
}
