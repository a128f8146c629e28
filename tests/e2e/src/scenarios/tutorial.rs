//! The tutorial's automatic rolling update, exactly as typed, through the kubectl plugin.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};

use super::steps::{assert_no_failures, assert_transition, probe, wait_serving};
use crate::monitor::{Monitor, check_bounds};
use crate::objects::{Mode, create_all};
use crate::{Env, Outcome};

/// The tutorial's output, line for line (the one oracle).
pub const TUTORIAL_OUTPUT: [&str; 10] = tutorial_oracle::OUTPUT;

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = env.namespace("e2e-tutorial", &[]).await?;
    let yaml = crate::env::read(&env.manifest("kubia-v1.yaml"))?;
    let created = create_all(&ns, &yaml, Mode::Create).await?;
    o.note(format!(
        "created {} from manifests/kubia-v1.yaml",
        created.join(", ")
    ));
    ns.wait_ready("app=kubia", 3, Duration::from_secs(120))
        .await?;
    wait_serving(env, "v1", Duration::from_secs(60)).await?;

    let origin = Instant::now();
    let monitor = Monitor::start(ns.api::<Pod>(), "app=kubia", origin);
    let (stop, probe) = probe(env, true);
    tokio::time::sleep(Duration::from_secs(3)).await;

    let update_start = origin.elapsed();
    o.marks
        .push(("kubectl rolling-update".into(), update_start));
    let mut args = vec![
        "rolling-update".to_owned(),
        "kubia-v1".to_owned(),
        "kubia-v2".to_owned(),
        env.image_arg("v2"),
    ];
    match &env.settings.tutorial_update_period {
        Some(p) => {
            args.push(format!("--update-period={p}"));
            o.note(format!(
                "the tutorial's command with --update-period={p} (verbatim in `cargo xtask e2e`)"
            ));
        }
        None => o.note("the tutorial's command verbatim (kubectl's default --update-period=1m)"),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let cmd = ns.kubectl(env, &args);
    let out = super::steps::run_marking_steps(cmd, o, origin, Duration::from_secs(600)).await?;
    let update_end = origin.elapsed();
    o.marks.push(("done".into(), update_end));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.stop();
    let samples = probe.await.context("probe")?;
    let snaps = monitor.stop_into(o).await;
    o.add_samples(&samples);

    ensure!(
        out.success(),
        "kubectl rolling-update failed ({}): {}",
        out.exit(),
        out.stderr.trim()
    );
    let lines = out.stdout_lines();
    if lines != TUTORIAL_OUTPUT {
        bail!(
            "output differs from the tutorial's:\n--- got\n{}\n--- expected\n{}",
            out.stdout,
            TUTORIAL_OUTPUT.join("\n")
        );
    }
    o.note(format!(
        "output is the tutorial's {} lines exactly; the update took {:.1}s",
        lines.len(),
        (update_end - update_start).as_secs_f64()
    ));
    assert_no_failures(&samples)?;
    o.note(format!("{} requests, none failed", samples.len()));
    o.note(assert_transition(&samples, "v1", "v2")?);
    let (min_ready, max_live) = check_bounds(&snaps, update_start, 3, 4)?;
    o.note(format!(
        "pods during the update: at least {min_ready} ready, at most {max_live} live (bounds 3 and 4), {} observed states",
        snaps.len()
    ));

    let rcs = ns.api::<ReplicationController>();
    ensure!(
        rcs.get_opt("kubia-v1").await?.is_none(),
        "RC kubia-v1 still exists"
    );
    let v2 = rcs.get("kubia-v2").await?;
    ensure!(
        v2.status.as_ref().and_then(|s| s.ready_replicas) == Some(3),
        "RC kubia-v2 does not have 3 ready replicas: {:?}",
        v2.status
    );
    let ready = ns.ready_pods("app=kubia").await?;
    ensure!(
        ready.len() == 3 && ready.iter().all(|p| crate::monitor::version(p) == "v2"),
        "expected 3 ready v2 pods"
    );
    o.note("at the end RC kubia-v1 is gone and 3 kubia-v2 pods serve");
    ns.delete().await
}
