//! One engine per update, on the real cluster.
//!
//! `lease-race`: two engines started on the same update at the same moment, 20 times (each
//! round updates the previous round's result): exactly one proceeds and completes, the other
//! is refused with a message naming the winner's process (its PID is in the holder identity:
//! kubectl execs the plugin, so the PID we started is the engine's).
//!
//! `kill-storm`: a 12-replica update SIGKILLed at random moments 15 times, rerun after each
//! kill, then run to its end (should a run finish its update between two kills, the storm
//! goes on with the next update, so that every kill lands in the middle of one). The killed engine's Lease is taken over at once (its process is
//! gone, judged by PID and start time on this host), the update resumes each time, the bounds
//! (12 ready, 13 live) hold in every observed state, no request fails, and no Lease is left.
//!
//! Traffic and pods are watched throughout both.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::ListParams;

use super::steps::{assert_no_failures, probe, setup_v1};
use crate::monitor::{Monitor, check_bounds};
use crate::{Env, Namespace, Outcome, process};

/// How many times two engines race.
const ROUNDS: usize = 20;
/// How many times the storm kills the update.
const KILLS: usize = 15;
/// The storm's update: 12 replicas, 24 scaling steps.
const STORM_REPLICAS: i32 = 12;
/// The pause after each scale-up (a killed run's pause is lost: the next run steps at once).
const STORM_PERIOD: &str = "--update-period=2s";
/// The longest a killed run lives.
const KILL_WITHIN_MS: u64 = 2500;

pub async fn race(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-lease-race", 1).await?;
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    let result = race_rounds(env, &ns, o).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    result?;
    assert_no_failures(&samples)?;
    let (min_ready, max_live) = check_bounds(&snaps, Duration::ZERO, 1, 2)?;
    o.note(format!(
        "pods throughout: at least {min_ready} ready, at most {max_live} live (bounds 1 and 2), {} observed states; {} requests, none failed",
        snaps.len(),
        samples.len()
    ));
    no_leases_left(&ns).await?;
    ns.delete().await
}

async fn race_rounds(env: &Env, ns: &Namespace, o: &mut Outcome) -> Result<()> {
    let mut old = "kubia-v1".to_owned();
    let mut first_refusal = None;
    let mut won = [0; 2];
    for round in 1..=ROUNDS {
        let new = format!("kubia-r{round}");
        let image = env.image(if round % 2 == 1 { "v2" } else { "v1" });
        let image = format!("--image={image}");
        let args = [
            "rolling-update",
            old.as_str(),
            new.as_str(),
            image.as_str(),
            "--update-period=1s",
        ];
        // Both started before either is waited for: they race for the Lease.
        let a = process::spawn(ns.kubectl(env, &args))?;
        let b = process::spawn(ns.kubectl(env, &args))?;
        let pids = [a.pid(), b.pid()];
        let limit = Duration::from_secs(180);
        let (a, b) = tokio::join!(a.finish(limit), b.finish(limit));
        let outs = [a?, b?];
        let winners: Vec<usize> = (0..2).filter(|i| outs[*i].success()).collect();
        let [winner] = winners[..] else {
            bail!(
                "round {round}: {} of the 2 engines succeeded, not exactly one; exits {} and {}: {} | {}",
                winners.len(),
                outs[0].exit(),
                outs[1].exit(),
                outs[0].stderr.trim(),
                outs[1].stderr.trim()
            );
        };
        won[winner] += 1;
        let loser = &outs[1 - winner];
        let winner_pid = pids[winner].context("the winner's PID")?;
        let refusal = loser.stderr.trim().lines().last().unwrap_or_default();
        ensure!(
            refusal.starts_with(&format!(
                "error: replicationcontroller {old} is being updated by another engine: held by "
            )) && refusal.contains(&format!("/{winner_pid}/")),
            "round {round}: the engine that lost was not refused naming the winner (PID {winner_pid}): exit {}: {}",
            loser.exit(),
            loser.stderr.trim()
        );
        ensure!(
            outs[winner].stdout.ends_with(&format!(
                "replicationcontroller/{new} rolling updated to \"{new}\"\n"
            )),
            "round {round}: the winner did not finish: {}",
            outs[winner].stdout
        );
        ensure!(
            ns.api::<ReplicationController>()
                .get_opt(&old)
                .await?
                .is_none(),
            "round {round}: {old} still exists after the update"
        );
        ns.wait_ready_live("app=kubia", 1, Duration::from_secs(60))
            .await?;
        first_refusal.get_or_insert_with(|| refusal.to_owned());
        old = new;
    }
    o.note(format!(
        "{ROUNDS} rounds of two engines started together: exactly one proceeded each time (the first started won {}, the second {}); the other was refused naming the winner's PID, e.g. `{}`",
        won[0],
        won[1],
        first_refusal.unwrap_or_default()
    ));
    Ok(())
}

pub async fn kill_storm(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-kill-storm", STORM_REPLICAS).await?;
    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, running) = probe(env, false);
    let result = storm(env, &ns, o, origin).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);
    result?;
    assert_no_failures(&samples)?;
    let replicas = STORM_REPLICAS as usize;
    let (min_ready, max_live) = check_bounds(&snaps, Duration::ZERO, replicas, replicas + 1)?;
    o.note(format!(
        "pods throughout: at least {min_ready} ready, at most {max_live} live (bounds {replicas} and {}), {} observed states; {} requests, none failed",
        replicas + 1,
        snaps.len(),
        samples.len()
    ));
    no_leases_left(&ns).await?;
    ns.delete().await
}

async fn storm(env: &Env, ns: &Namespace, o: &mut Outcome, origin: Instant) -> Result<()> {
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    // Each run may make a step or two before its kill, so an update can end between kills;
    // the storm then goes on with the next update (v2 -> v1 -> v2 ...), so that every kill
    // lands in the middle of one.
    let mut update = 1;
    let mut old = "kubia-v1".to_owned();
    let mut moments = Vec::new();
    let mut resumed = 0;
    let mut completed = Vec::new();
    while moments.len() < KILLS {
        let new = format!("kubia-k{update}");
        // A kill may land after the last write (releasing the Leases, printing): then the
        // update is complete, and the next run starts the next one.
        if let Some(done) = completed_by_a_killed_run(ns, &old, &new, update).await? {
            completed.push(format!("{done} by the run of kill {}", moments.len()));
            old = new;
            update += 1;
            continue;
        }
        let image = env.image_arg(if update % 2 == 1 { "v2" } else { "v1" });
        let args = [
            "rolling-update",
            old.as_str(),
            new.as_str(),
            image.as_str(),
            STORM_PERIOD,
        ];
        let after = Duration::from_millis(rng.u64(100..=KILL_WITHIN_MS));
        let started = Instant::now();
        let mut running = process::spawn(ns.kubectl(env, &args))?;
        // Read its lines until the moment comes (the pipe must not fill).
        while let Some(left) = after.checked_sub(started.elapsed()) {
            if running.next_line(left).await.is_none() {
                break;
            }
        }
        if running
            .seen()
            .iter()
            .any(|l| *l == format!("Found existing update in progress ({new}), resuming."))
        {
            resumed += 1;
        }
        if running.exited() {
            let out = running.finish(Duration::from_secs(10)).await?;
            ensure!(
                out.success()
                    && out.stdout.ends_with(&format!(
                        "replicationcontroller/{new} rolling updated to \"{new}\"\n"
                    )),
                "{old} -> {new} ended before its kill without finishing: exit {}: {}{}",
                out.exit(),
                out.stdout,
                out.stderr.trim()
            );
            finished(ns, &old, if update % 2 == 1 { "v2" } else { "v1" }).await?;
            completed.push(format!("{old} -> {new} after kill {}", moments.len()));
            old = new;
            update += 1;
            continue;
        }
        o.marks
            .push((format!("kill {}", moments.len() + 1), origin.elapsed()));
        running.kill().await?;
        moments.push(format!("{:.1}", after.as_secs_f64()));
    }
    let mut new = format!("kubia-k{update}");
    if let Some(done) = completed_by_a_killed_run(ns, &old, &new, update).await? {
        completed.push(format!("{done} by the run of kill {}", moments.len()));
        old = new;
        update += 1;
        new = format!("kubia-k{update}");
    }
    let version = if update % 2 == 1 { "v2" } else { "v1" };
    let image = env.image_arg(version);
    let args = [
        "rolling-update",
        old.as_str(),
        new.as_str(),
        image.as_str(),
        STORM_PERIOD,
    ];
    // A kill that lands before the run's first write (a slow start on a loaded machine,
    // just after an update ended) leaves nothing to resume: the last run then starts afresh.
    let begun = ns
        .api::<ReplicationController>()
        .get_opt(&new)
        .await?
        .is_some();
    let out = process::run(ns.kubectl(env, &args), Duration::from_secs(600)).await?;
    let out = out.ok("the run after the last kill")?;
    let resuming = format!("Found existing update in progress ({new}), resuming.");
    ensure!(
        out.stdout.starts_with(&resuming) == begun,
        "the run after the last kill {} ({new} {} before it): {}",
        if begun {
            "did not resume"
        } else {
            "claimed to resume"
        },
        if begun { "existed" } else { "did not exist" },
        out.stdout
    );
    ensure!(
        out.stdout.ends_with(&format!(
            "replicationcontroller/{new} rolling updated to \"{new}\"\n"
        )),
        "the run after the last kill did not finish: {}",
        out.stdout
    );
    finished(ns, &old, version).await?;
    o.note(format!(
        "{KILLS} SIGKILLs at random moments (seed {seed}; seconds after each start: {}); {resumed} run(s) resumed an update before being killed, the run after the last kill {} and finished; {}",
        moments.join(", "),
        if begun { "resumed" } else { "started afresh (its update had nothing written yet)" },
        if completed.is_empty() {
            "all in one update".to_owned()
        } else {
            format!(
                "updates that ended between kills (the storm went on with the next): {}",
                completed.join(", ")
            )
        }
    ));
    Ok(())
}

/// `Some("old -> new")` when `old` is gone and `new` exists: a killed run completed
/// update number `update` (checked as [`finished`]).
async fn completed_by_a_killed_run(
    ns: &Namespace,
    old: &str,
    new: &str,
    update: usize,
) -> Result<Option<String>> {
    let rcs = ns.api::<ReplicationController>();
    if rcs.get_opt(old).await?.is_some() || rcs.get_opt(new).await?.is_none() {
        return Ok(None);
    }
    finished(ns, old, if update % 2 == 1 { "v2" } else { "v1" }).await?;
    Ok(Some(format!("{old} -> {new}")))
}

/// After an update from `old`: `old` gone, 12 ready pods, all of `version`.
async fn finished(ns: &Namespace, old: &str, version: &str) -> Result<()> {
    ensure!(
        ns.api::<ReplicationController>()
            .get_opt(old)
            .await?
            .is_none(),
        "{old} still exists after the update"
    );
    // The old pods may still serve out their shutdown delay: the bounds count live pods.
    ns.wait_ready_live(
        "app=kubia",
        STORM_REPLICAS as usize,
        Duration::from_secs(120),
    )
    .await?;
    let pods = ns.ready_pods("app=kubia").await?;
    ensure!(
        pods.iter().all(|p| crate::monitor::version(p) == version),
        "not every pod runs {version} after the update"
    );
    Ok(())
}

/// Every engine released its Leases (a killed one's were taken over and released).
async fn no_leases_left(ns: &Namespace) -> Result<()> {
    let leases = ns.api::<Lease>().list(&ListParams::default()).await?;
    let names: Vec<String> = leases
        .items
        .iter()
        .filter_map(|l| l.metadata.name.clone())
        .collect();
    ensure!(names.is_empty(), "Leases left behind: {names:?}");
    Ok(())
}
