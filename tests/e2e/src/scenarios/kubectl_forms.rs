//! kubectl rolling-update's other forms, on the real cluster with live traffic: `--dry-run
//! -o yaml`, `-f` with a new controller, `kubia-rollout status` during an update, an image
//! that never becomes ready (and `--rollback`), and `-f` with the old controller edited in
//! place (the name is kept), printed with `-o jsonpath`. First, kubectl's own completion of
//! the plugin's arguments through `kubectl_complete-rolling_update` (RC names and `--image`
//! read from the cluster).

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::ReplicationController;

use super::steps::{assert_no_failures, probe, wait_serving};
use crate::objects::{Mode, create_all};
use crate::{Env, Namespace, Outcome, process};

const PERIOD: &str = "--update-period=1s";

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = env.namespace("e2e-forms", &[]).await?;
    // kubia-v1 with a `version` label in its selector, as the file's kubia-v2 has: kubectl's
    // -f form needs a shared selector key whose value differs.
    let v2_file = env.manifest("kubia-v2-rc.yaml");
    let v1_rc = crate::env::read(&v2_file)?.replace("v2", "v1");
    let tutorial = crate::env::read(&env.manifest("kubia-v1.yaml"))?;
    let service = tutorial
        .split("\n---\n")
        .find(|doc| doc.contains("kind: Service"))
        .context("no Service in kubia-v1.yaml")?;
    create_all(&ns, &format!("{v1_rc}\n---\n{service}"), Mode::Create).await?;
    ns.wait_ready("app=kubia", 3, Duration::from_secs(120))
        .await?;
    wait_serving(env, "v1", Duration::from_secs(60)).await?;

    let origin = Instant::now();
    let (stop, running) = probe(env, false);
    let result = forms(env, &ns, o, origin).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.stop();
    let samples = running.await.context("probe")?;
    o.add_samples(&samples);
    result?;
    assert_no_failures(&samples)?;
    o.note(format!(
        "{} requests through every form, none failed",
        samples.len()
    ));
    ns.delete().await
}

/// `kubectl __complete rolling-update …` as the shell asks it: kubectl finds
/// `kubectl_complete-rolling_update` on PATH and passes its answer through.
async fn completion(env: &Env, ns: &Namespace) -> Result<()> {
    let complete = |words: &'static [&'static str]| async move {
        let mut args = vec!["__complete", "rolling-update"];
        args.extend_from_slice(words);
        let out = process::run(ns.kubectl(env, &args), Duration::from_secs(30)).await?;
        ensure!(
            out.code == Some(0),
            "kubectl __complete {words:?} failed: {}",
            out.stderr
        );
        anyhow::Ok(out.stdout)
    };
    let names = complete(&[""]).await?;
    ensure!(
        names == "kubia-v1\tReplicationController\n:4\n",
        "`kubectl rolling-update <TAB>` offered {names:?}, not the namespace's one RC"
    );
    let image = complete(&["kubia-v1", "kubia-v2", "--image", ""]).await?;
    ensure!(
        image.starts_with("luksa/kubia:v1\tcurrent image (container ") && image.ends_with("\n:4\n"),
        "`--image <TAB>` offered {image:?}, not kubia-v1's image"
    );
    let flags = complete(&["kubia-v1", "--update-p"]).await?;
    ensure!(
        flags.starts_with("--update-period\t") && flags.ends_with("\n:4\n"),
        "`--update-p<TAB>` offered {flags:?}"
    );
    Ok(())
}

async fn forms(env: &Env, ns: &Namespace, o: &mut Outcome, origin: Instant) -> Result<()> {
    let kubectl = |args: &[&str]| ns.kubectl(env, args);
    let rollout = |args: &[&str]| ns.kubia_rollout(env, args);
    let rcs = ns.api::<ReplicationController>();
    let v2_file = env.manifest("kubia-v2-rc.yaml").display().to_string();

    completion(env, ns).await?;

    // 1. --dry-run -o yaml: both controllers printed as kubectl printed them, nothing changed.
    let before = rcs.get("kubia-v1").await?.metadata.resource_version;
    let out = process::run(
        kubectl(&[
            "rolling-update",
            "kubia-v1",
            "-f",
            &v2_file,
            "--dry-run",
            "-o",
            "yaml",
        ]),
        Duration::from_secs(60),
    )
    .await?;
    let out = out.ok("--dry-run -o yaml")?;
    ensure!(
        out.stdout
            .starts_with("Rolling from:\napiVersion: v1\nkind: ReplicationController\n")
            && out
                .stdout
                .contains("\n\nTo:\napiVersion: v1\nkind: ReplicationController\n"),
        "unexpected --dry-run -o yaml output: {}",
        out.stdout
    );
    ensure!(
        rcs.get_opt("kubia-v2").await?.is_none()
            && rcs.get("kubia-v1").await?.metadata.resource_version == before,
        "--dry-run changed the cluster"
    );
    o.note("--dry-run -o yaml printed both controllers (kubectl's `Rolling from:` … `To:` …) and changed nothing");

    // 2. -f with a new controller, and `kubia-rollout status` while it runs.
    o.marks
        .push(("-f kubia-v2-rc.yaml".into(), origin.elapsed()));
    // NEW named: without it kubectl 1.17 (and we) would rename kubia-v2 to kubia-v1 at the end.
    let mut update = kubectl(&[
        "rolling-update",
        "kubia-v1",
        "kubia-v2",
        "-f",
        &v2_file,
        "--update-period=3s",
    ])
    .spawn()
    .context("starting the -f update")?;
    let status = status_during_update(&rollout).await;
    let finished = tokio::time::timeout(Duration::from_secs(300), update.wait())
        .await
        .context("the -f update did not finish within 300s")??;
    let status = status?;
    ensure!(finished.success(), "the -f update failed: {finished}");
    o.note(format!(
        "kubia-rollout status during the -f update: {status}"
    ));
    ns.wait_ready("app=kubia", 3, Duration::from_secs(60))
        .await?;
    ensure!(
        rcs.get_opt("kubia-v1").await?.is_none() && rcs.get_opt("kubia-v2").await?.is_some(),
        "after -f: kubia-v1 should be gone and kubia-v2 serve"
    );
    wait_serving(env, "v2", Duration::from_secs(30)).await?;
    o.note("-f kubia-v2-rc.yaml: kubia-v1 replaced by the file's kubia-v2");

    // 3. An image that never becomes ready: refused in time, old pods keep serving; --rollback.
    o.marks.push(("never-ready image".into(), origin.elapsed()));
    let missing = env.image("no-such-tag");
    let out = process::run(
        kubectl(&[
            "rolling-update",
            "kubia-v2",
            "kubia-bad",
            &format!("--image={missing}"),
            PERIOD,
            "--timeout=20s",
            "--poll-interval=1s",
        ]),
        Duration::from_secs(120),
    )
    .await?;
    ensure!(!out.success(), "an update to {missing} should fail");
    let error = out.stderr.trim();
    ensure!(
        error.lines().count() == 1 && error.starts_with("error: ") && error.contains("kubia-bad"),
        "expected one error line naming kubia-bad, got: {error}"
    );
    o.note(format!(
        "never-ready image {missing}: {}, {error}",
        out.exit()
    ));
    let out = process::run(
        kubectl(&[
            "rolling-update",
            "kubia-v2",
            "kubia-bad",
            "--rollback",
            PERIOD,
        ]),
        Duration::from_secs(120),
    )
    .await?;
    out.ok("--rollback")?;
    ensure!(
        rcs.get_opt("kubia-bad").await?.is_none(),
        "--rollback left kubia-bad behind"
    );
    ns.wait_ready("app=kubia", 3, Duration::from_secs(60))
        .await?;
    o.note("--rollback removed kubia-bad; kubia-v2's 3 pods serve");

    // 4. -f with the old controller itself, edited (same name): the name is kept.
    let mut edited = rcs.get("kubia-v2").await?;
    edited.metadata.resource_version = None;
    edited.metadata.uid = None;
    edited.metadata.managed_fields = None;
    edited.metadata.creation_timestamp = None;
    edited.metadata.generation = None;
    edited.status = None;
    let container = edited
        .spec
        .as_mut()
        .and_then(|s| s.template.as_mut())
        .and_then(|t| t.spec.as_mut())
        .and_then(|s| s.containers.first_mut())
        .context("kubia-v2 has no container")?;
    container.image = Some(env.image("v4"));
    let edited_file = env.settings.report_dir.join("kubia-v2-edited.yaml");
    std::fs::write(&edited_file, serde_yaml::to_string(&edited)?)?;
    o.marks.push(("-f (same name)".into(), origin.elapsed()));
    let out = process::run(
        kubectl(&[
            "rolling-update",
            "kubia-v2",
            "-f",
            &edited_file.display().to_string(),
            PERIOD,
            "-o",
            "jsonpath={.metadata.name} {.spec.template.spec.containers[0].image}",
        ]),
        Duration::from_secs(300),
    )
    .await?;
    let out = out.ok("the same-name -f update")?;
    let last = out.stdout.lines().last().unwrap_or_default();
    let expected = format!("kubia-v2 {}", env.image("v4"));
    ensure!(
        last == expected,
        "-o jsonpath printed {last:?}, expected {expected:?}; output:\n{}",
        out.stdout
    );
    ensure!(
        out.stdout.contains("Renaming kubia-v2-"),
        "the same-name update did not rename: {}",
        out.stdout
    );
    wait_serving(env, "v4", Duration::from_secs(30)).await?;
    o.note(format!(
        "-f with kubia-v2 edited in place: updated under a temporary name, renamed back; -o jsonpath printed {last:?}"
    ));

    // 5. The same-name --image form (the new name omitted), with kubectl's other template
    //    flags: `-o jsonpath --template`.
    o.marks
        .push(("--image (same name)".into(), origin.elapsed()));
    let out = process::run(
        kubectl(&[
            "rolling-update",
            "kubia-v2",
            &env.image_arg("v2"),
            PERIOD,
            "-o",
            "jsonpath",
            "--template={.metadata.name} {.metadata.annotations.absent}{.spec.replicas}",
        ]),
        Duration::from_secs(300),
    )
    .await?;
    let out = out.ok("the same-name --image update")?;
    let last = out.stdout.lines().last().unwrap_or_default();
    ensure!(
        last == "kubia-v2 3",
        "-o jsonpath --template printed {last:?} (a missing key prints nothing), expected \"kubia-v2 3\"; output:\n{}",
        out.stdout
    );
    ensure!(
        out.stdout.contains("Renaming kubia-v2-"),
        "the same-name --image update did not rename: {}",
        out.stdout
    );
    wait_serving(env, "v2", Duration::from_secs(30)).await?;
    o.note("kubia-v2 --image=…:v2 (new name omitted): updated under kubia-v2-<hash>, renamed back; -o jsonpath --template printed \"kubia-v2 3\"");
    Ok(())
}

/// Polls `kubia-rollout status` until it shows the update kubia-v1 → kubia-v2.
async fn status_during_update(
    rollout: &(dyn Fn(&[&str]) -> tokio::process::Command + Sync),
) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = process::run(rollout(&["status"]), Duration::from_secs(30)).await?;
        if out.success() && out.stdout.contains("kubia-v1") && out.stdout.contains("kubia-v2") {
            return Ok(out.stdout.trim().replace('\n', " | "));
        }
        if Instant::now() > deadline {
            bail!(
                "kubia-rollout status never showed the update in progress; last output: {} {}",
                out.stdout.trim(),
                out.stderr.trim()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
