//! Our plugin side by side with kubectl 1.17.17's own `rolling-update` (`tools/kubectl-1.17`)
//! on the same cluster, each in its own namespace, the same commands in the same order: the
//! dry run (on one RC, so the hashes must be equal), the tutorial's command, the same-name
//! form, `-f` (refused and accepted), bad input, an update interrupted by one side and resumed
//! by the other (both ways), `--rollback` of an interrupted update, and `--timeout`.
//!
//! Every output line, exit code, RC and pod must be the same on both sides once the values that
//! depend on the namespace (the hashes: an RC's uid is hashed) are masked — except for the
//! deviations in [`deviations::DEVIATIONS`], each asserted where it shows. Anything else that differs
//! fails the scenario.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::ListParams;
use serde_json::Value;

use crate::objects::{Mode, create_all};
use crate::process::{self, Output};
use crate::{Env, Namespace, Outcome};

mod compare;
pub mod deviations;

use compare::{rc_json, rolling_from_to, same_output, same_state, same_state_except, wait_settled};

const PERIOD: &str = "--update-period=1s";
/// Long enough for the interruption to land between two steps.
const SLOW_PERIOD: &str = "--update-period=4s";
const STEP: Duration = Duration::from_secs(180);

/// One side: who runs the commands in which namespace.
struct Side<'a> {
    who: &'static str,
    ns: &'a Namespace,
    program: PathBuf,
    env: &'a Env,
}

impl Side<'_> {
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut all = vec!["rolling-update"];
        all.extend_from_slice(args);
        process::command(
            &self.program,
            &all,
            &self.env.settings.bin_dir,
            &self.ns.kubeconfig,
        )
    }
    async fn run(&self, args: &[&str]) -> Result<Output> {
        process::run(self.command(args), STEP)
            .await
            .with_context(|| format!("{}: rolling-update {}", self.who, args.join(" ")))
    }
    /// Runs until `line` (`Scaling NEW up to 1`) is printed and NEW has 1 replica (kubectl
    /// prints the line before it scales), then interrupts with SIGINT.
    async fn run_and_interrupt(&self, args: &[&str], line: &str, new: &str) -> Result<Output> {
        let mut running = process::spawn(self.command(args))?;
        let deadline = Instant::now() + STEP;
        loop {
            match running
                .next_line(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Some(l) if l == line => break,
                Some(_) => {}
                None => bail!(
                    "{}: rolling-update {} never printed {line:?}; printed: {:?}",
                    self.who,
                    args.join(" "),
                    running.seen()
                ),
            }
        }
        let rcs = self.ns.api::<ReplicationController>();
        loop {
            let scaled = rcs
                .get_opt(new)
                .await?
                .and_then(|rc| rc.spec.and_then(|s| s.replicas))
                .is_some_and(|r| r >= 1);
            if scaled {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "{}: {new} was never scaled to 1",
                self.who
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        running.interrupt(Duration::from_secs(60)).await
    }
}

const THEIRS: &str = "kubectl 1.17";
/// The annotations kubectl 1.17's `--rollback` leaves on the old RC.
const STALE: [&str; 2] = ["next-controller-id", "original-replicas"];
const OURS: &str = "ours";

/// The scenario `kubectl-1.17`.
pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let Some(kubectl_117) = env.settings.kubectl_117.clone() else {
        bail!("no kubectl 1.17 (pass --kubectl-117; `cargo xtask e2e` builds it)");
    };
    let (t, u) = tokio::try_join!(setup(env, "e2e-k117-theirs"), setup(env, "e2e-k117-ours"))?;
    let plugin = env.settings.kubectl.clone();
    let theirs = |ns| Side {
        who: THEIRS,
        ns,
        program: kubectl_117.clone(),
        env,
    };
    let ours = |ns| Side {
        who: OURS,
        ns,
        program: plugin.clone(),
        env,
    };

    dry_run(o, &ours(&t), &theirs(&t), &ours(&u), &theirs(&u)).await?;
    let files = write_files(env)?;
    steps(env, o, (&theirs(&t), &ours(&u)), &files).await?;
    interrupted(o, (&theirs(&t), &ours(&t)), (&ours(&u), &theirs(&u))).await?;
    rollback(env, o, &theirs(&t), &ours(&u)).await?;
    bad_input(env, o, &theirs(&t), &ours(&u)).await?;
    timeout(env, o, &theirs(&t), &ours(&u)).await?;
    t.delete().await?;
    u.delete().await
}

/// The tutorial's kubia-v1 (3 replicas, created with `kubectl apply` as many users do; no
/// Service: nothing here is about traffic), and `kubia-dry` (1 replica, its own labels) for
/// the dry runs, which kubectl 1.17 lets write.
async fn setup(env: &Env, name: &str) -> Result<Namespace> {
    let ns = env.namespace(name, &[]).await?;
    let tutorial = crate::env::read(&env.manifest("kubia-v1.yaml"))?;
    let rc = tutorial
        .split("\n---\n")
        .find(|doc| doc.contains("kind: ReplicationController"))
        .context("no RC in kubia-v1.yaml")?;
    let file = env
        .settings
        .report_dir
        .join(format!("{name}-kubia-v1.yaml"));
    std::fs::write(&file, rc)?;
    process::run(
        ns.kubectl(env, &["apply", "-f", &file.display().to_string()]),
        STEP,
    )
    .await?
    .ok("kubectl apply -f kubia-v1.yaml")?;
    let dry = rc
        .replace("name: kubia-v1", "name: kubia-dry")
        .replace("app: kubia", "app: kubia-dry")
        .replace("replicas: 3", "replicas: 1");
    create_all(&ns, &dry, Mode::Create).await?;
    ns.wait_ready("app=kubia", 3, Duration::from_secs(120))
        .await?;
    ns.wait_ready("app=kubia-dry", 1, Duration::from_secs(120))
        .await?;
    wait_settled(&ns, "kubia-v1").await?;
    wait_settled(&ns, "kubia-dry").await?;
    Ok(ns)
}

/// Step 1: the dry run, ours first, then kubectl 1.17's, on the same unchanged RC: the same
/// new RC name (the hash) in the plain form, the same new RC in `-o yaml`.
async fn dry_run(
    o: &mut Outcome,
    ours_t: &Side<'_>,
    theirs_t: &Side<'_>,
    ours_u: &Side<'_>,
    theirs_u: &Side<'_>,
) -> Result<()> {
    let image = ours_t.env.image_arg("v2");
    // The same-name form: the hash is in the new RC's name.
    let args = ["kubia-dry", image.as_str(), "--dry-run"];
    let before = rc_json(ours_t.ns, "kubia-dry").await?;
    let ours = ours_t.run(&args).await?;
    ensure!(
        rc_json(ours_t.ns, "kubia-dry").await? == before,
        "deviation `--dry-run`: ours changed kubia-dry"
    );
    let theirs = theirs_t.run(&args).await?;
    same_output("--dry-run (same-name form)", &theirs, &ours, false)?;
    let after = rc_json(theirs_t.ns, "kubia-dry").await?;
    ensure!(
        after["spec"]["selector"]["deployment"]
            .as_str()
            .is_some_and(|v| v.ends_with("-orig"))
            && after["metadata"]["annotations"]["kubectl.kubernetes.io/next-controller-id"]
                .is_string(),
        "deviation `--dry-run`: kubectl 1.17 did not relabel kubia-dry for real: {after}"
    );
    let name = ours.stdout.lines().last().unwrap_or_default();
    o.note(format!(
        "--dry-run: both print `{name}` for the same RC (the hash is kubectl 1.17's); kubectl 1.17 relabelled kubia-dry for real, ours changed nothing"
    ));

    // -o yaml with NEW: the hash is in the new RC's selector and labels.
    let args = [
        "kubia-dry",
        "kubia-dry-2",
        image.as_str(),
        "--dry-run",
        "-o",
        "yaml",
    ];
    let ours = ours_u.run(&args).await?.ok("ours --dry-run -o yaml")?;
    let theirs = theirs_u
        .run(&args)
        .await?
        .ok("kubectl 1.17 --dry-run -o yaml")?;
    let (ours_old, ours_new) = rolling_from_to(&ours.stdout)?;
    let (theirs_old, theirs_new) = rolling_from_to(&theirs.stdout)?;
    for (what, o_, t_) in [
        ("old", &ours_old, &theirs_old),
        ("new", &ours_new, &theirs_new),
    ] {
        for field in ["/metadata/name", "/metadata/labels", "/spec/selector"] {
            ensure!(
                o_.pointer(field) == t_.pointer(field),
                "--dry-run -o yaml: the {what} RC's {field} differs: ours {:?}, kubectl 1.17 {:?}",
                o_.pointer(field),
                t_.pointer(field)
            );
        }
    }
    let template = |v: &Value| {
        let mut t = v["spec"]["template"].clone();
        // Go prints a zero creationTimestamp as null; ours leaves it out.
        if let Some(m) = t["metadata"].as_object_mut() {
            m.remove("creationTimestamp");
        }
        t
    };
    ensure!(
        template(&ours_new) == template(&theirs_new),
        "--dry-run -o yaml: the new RC's template differs:\nours {}\nkubectl 1.17 {}",
        template(&ours_new),
        template(&theirs_new)
    );
    // The listed deviation, as it shows.
    ensure!(
        ours_new["spec"]["replicas"] == 0
            && ours_new["metadata"]["uid"].is_null()
            && theirs_new["metadata"]["uid"].is_string()
            && theirs_new["status"].is_object(),
        "deviation `--dry-run -o yaml` no longer as listed: ours {ours_new}, kubectl 1.17 {theirs_new}"
    );
    let hash = ours_new["spec"]["selector"]["deployment"]
        .as_str()
        .unwrap_or_default();
    o.note(format!(
        "--dry-run -o yaml: the same new RC (selector deployment={hash}, template) on both sides"
    ));
    Ok(())
}

/// The files of the `-f` form, named the same for both sides (kubectl's refusal names them).
struct Files {
    refused: PathBuf,
    accepted: PathBuf,
}

fn write_files(env: &Env) -> Result<Files> {
    let dir = env.settings.report_dir.join("kubectl-1.17");
    std::fs::create_dir_all(&dir)?;
    let rc = |selector: &str| {
        format!(
            "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: kubia-v3\nspec:\n  replicas: 3\n  selector:\n    app: kubia\n{selector}  template:\n    metadata:\n      labels:\n        app: kubia\n{selector_t}    spec:\n      containers:\n      - name: nodejs\n        image: {}\n",
            env.image("v2"),
            selector_t = selector.replace("    ", "        "),
        )
    };
    let files = Files {
        refused: dir.join("kubia-v3-same-selector.yaml"),
        accepted: dir.join("kubia-v3.yaml"),
    };
    std::fs::write(&files.refused, rc(""))?;
    std::fs::write(&files.accepted, rc("    deployment: v3\n"))?;
    Ok(files)
}

/// The tutorial's command, the same-name form and `-f`, the same on both sides at once.
async fn steps(
    env: &Env,
    o: &mut Outcome,
    (theirs, ours): (&Side<'_>, &Side<'_>),
    files: &Files,
) -> Result<()> {
    let v1 = env.image_arg("v1");
    let v2 = env.image_arg("v2");
    let refused = files.refused.display().to_string();
    let accepted = files.accepted.display().to_string();
    let cases: [(&str, Vec<&str>); 4] = [
        (
            "the tutorial's command",
            vec!["kubia-v1", "kubia-v2", &v2, PERIOD],
        ),
        ("the same-name form", vec!["kubia-v2", &v1, PERIOD]),
        ("-f refused", vec!["kubia-v2", "-f", &refused, PERIOD]),
        ("-f", vec!["kubia-v2", "-f", &accepted, PERIOD]),
    ];
    for (i, (what, args)) in cases.into_iter().enumerate() {
        let (t, u) = tokio::try_join!(theirs.run(&args), ours.run(&args))?;
        same_output(what, &t, &u, true)?;
        if i == 0 {
            copied_annotations_as_listed(theirs.ns, ours.ns).await?;
        }
        same_state(what, theirs.ns, ours.ns).await?;
        let shown = if u.success() {
            format!("{} stdout lines", u.stdout.lines().count())
        } else {
            format!("{}: {}", u.exit(), u.stderr.trim())
        };
        o.note(format!(
            "{what}: the same stdout, stderr, exit code, RCs and pods ({shown})"
        ));
    }
    Ok(())
}

/// Deviation "the new RC's annotations", after the tutorial's command from kubia-v1 made with
/// `kubectl apply`: kubectl 1.17's kubia-v2 carries kubia-v1's last-applied-configuration.
async fn copied_annotations_as_listed(theirs: &Namespace, ours: &Namespace) -> Result<()> {
    let key = "kubectl.kubernetes.io/last-applied-configuration";
    let t = rc_json(theirs, "kubia-v2").await?;
    let u = rc_json(ours, "kubia-v2").await?;
    let applied = &t["metadata"]["annotations"][key];
    ensure!(
        applied
            .as_str()
            .is_some_and(|a| a.contains("\"name\":\"kubia-v1\""))
            && u["metadata"]["annotations"][key].is_null(),
        "deviation `the new RC's annotations` no longer as listed: kubectl 1.17's kubia-v2 {}, ours {}",
        t["metadata"]["annotations"],
        u["metadata"]["annotations"]
    );
    Ok(())
}

/// An update interrupted (Ctrl-C) by one side after its first step and resumed by the other,
/// both ways, at once: the resuming runs print the same, and end in the same state.
async fn interrupted(
    o: &mut Outcome,
    (theirs_t, ours_t): (&Side<'_>, &Side<'_>),
    (ours_u, theirs_u): (&Side<'_>, &Side<'_>),
) -> Result<()> {
    let v1 = ours_t.env.image_arg("v1");
    let args = ["kubia-v2", "kubia-v3", v1.as_str(), SLOW_PERIOD];
    let first = "Scaling kubia-v3 up to 1";
    let (t, u) = tokio::try_join!(
        theirs_t.run_and_interrupt(&args, first, "kubia-v3"),
        ours_u.run_and_interrupt(&args, first, "kubia-v3")
    )?;
    ensure!(
        t.stdout == u.stdout,
        "interrupted: stdout differs until the interruption:\nkubectl 1.17:\n{}\nours:\n{}",
        t.stdout,
        u.stdout
    );
    interrupted_as_listed(&t, &u)?;
    let resume = ["kubia-v2", "kubia-v3", v1.as_str(), PERIOD];
    let (t, u) = tokio::try_join!(ours_t.run(&resume), theirs_u.run(&resume))?;
    ensure!(
        t.success() && u.success(),
        "resuming failed: ours {} {}; kubectl 1.17 {} {}",
        t.exit(),
        t.stderr.trim(),
        u.exit(),
        u.stderr.trim()
    );
    ensure!(
        t.stdout == u.stdout,
        "the resuming runs differ:\nours (resuming kubectl 1.17's):\n{}\nkubectl 1.17 (resuming ours):\n{}",
        t.stdout,
        u.stdout
    );
    ensure!(
        t.stdout
            .starts_with("Found existing update in progress (kubia-v3), resuming.\n"),
        "the resuming run did not resume: {}",
        t.stdout
    );
    same_state("interrupted and resumed", theirs_t.ns, ours_u.ns).await?;
    o.note(format!(
        "interrupted after `{first}` by one side, resumed by the other (both ways): the same {} lines, the same RCs and pods",
        t.stdout.lines().count()
    ));
    Ok(())
}

/// Deviation "Ctrl-C": kubectl 1.17 dies by SIGINT; ours exits 130 saying how to go on.
fn interrupted_as_listed(theirs: &Output, ours: &Output) -> Result<()> {
    let message = ours.stderr.trim().lines().last().unwrap_or_default();
    ensure!(
        theirs.code.is_none()
            && ours.code == Some(130)
            && message.starts_with("error: interrupted; resume with: ")
            && message.contains("--rollback"),
        "deviation `Ctrl-C` no longer as listed: kubectl 1.17 {} {:?}, ours {} {:?}",
        theirs.exit(),
        theirs.stderr.trim(),
        ours.exit(),
        ours.stderr.trim()
    );
    Ok(())
}

/// `--rollback` of an update interrupted after its first step, each side its own.
async fn rollback(env: &Env, o: &mut Outcome, theirs: &Side<'_>, ours: &Side<'_>) -> Result<()> {
    let v2 = env.image_arg("v2");
    let args = ["kubia-v3", "kubia-v4", v2.as_str(), SLOW_PERIOD];
    let first = "Scaling kubia-v4 up to 1";
    let (t, u) = tokio::try_join!(
        theirs.run_and_interrupt(&args, first, "kubia-v4"),
        ours.run_and_interrupt(&args, first, "kubia-v4")
    )?;
    interrupted_as_listed(&t, &u)?;
    let back = ["kubia-v3", "kubia-v4", "--rollback", PERIOD];
    let (t, u) = tokio::try_join!(theirs.run(&back), ours.run(&back))?;
    let (t_last, u_last) = (
        t.stdout.lines().last().unwrap_or_default(),
        u.stdout.lines().last().unwrap_or_default(),
    );
    ensure!(
        t_last == "replicationcontroller/kubia-v4 rolling updated to \"kubia-v4\""
            && u_last == "replicationcontroller/kubia-v3 rolled back",
        "deviation `--rollback, last line` no longer as listed: kubectl 1.17 {t_last:?}, ours {u_last:?}"
    );
    let but_last = |s: &str| {
        let lines: Vec<&str> = s.lines().collect();
        lines[..lines.len().saturating_sub(1)].join("\n")
    };
    let mut t_cut = t.clone();
    t_cut.stdout = but_last(&t.stdout);
    let mut u_cut = u.clone();
    u_cut.stdout = but_last(&u.stdout);
    same_output("--rollback", &t_cut, &u_cut, true)?;
    // Deviation `--rollback, annotations`, then the rest of the state.
    let stale = STALE;
    let t_rc = rc_json(theirs.ns, "kubia-v3").await?;
    let u_rc = rc_json(ours.ns, "kubia-v3").await?;
    let annotation = |rc: &Value, key: &str| {
        rc["metadata"]["annotations"][format!("kubectl.kubernetes.io/{key}")].clone()
    };
    ensure!(
        annotation(&t_rc, "next-controller-id") == "kubia-v4"
            && annotation(&t_rc, "original-replicas") == "3"
            && stale.iter().all(|k| annotation(&u_rc, k).is_null()),
        "deviation `--rollback, annotations` no longer as listed: kubectl 1.17 {}, ours {}",
        t_rc["metadata"]["annotations"],
        u_rc["metadata"]["annotations"]
    );
    same_state_except("--rollback", theirs.ns, ours.ns, &stale).await?;
    o.note(format!(
        "--rollback of an interrupted update: the same {} lines but the last (kubectl 1.17 {t_last:?}, ours {u_last:?}); kubectl 1.17 left next-controller-id=kubia-v4 and original-replicas, ours removed them",
        u.stdout.lines().count().saturating_sub(1)
    ));
    Ok(())
}

/// Bad input, refused alike: an unknown RC, an image equal to the running one, and `-n ''`
/// (a listed deviation).
async fn bad_input(env: &Env, o: &mut Outcome, theirs: &Side<'_>, ours: &Side<'_>) -> Result<()> {
    let v1 = env.image_arg("v1");
    let v2 = env.image_arg("v2");
    let cases: [(&str, Vec<&str>); 3] = [
        ("an unknown RC", vec!["kubia-nope", "kubia-v9", &v2]),
        // kubia-v3 runs v1 (the rollback kept it).
        ("the running image", vec!["kubia-v3", "kubia-v9", &v1]),
        ("no image or file", vec!["kubia-v3", "kubia-v9"]),
    ];
    for (what, args) in cases {
        let (t, u) = tokio::try_join!(theirs.run(&args), ours.run(&args))?;
        same_output(what, &t, &u, true)?;
        // kubectl 1.17's rollback left its stale annotations (a listed deviation).
        same_state_except(what, theirs.ns, ours.ns, &STALE).await?;
        o.note(format!("{what}: refused alike: {}", u.stderr.trim()));
    }
    let args = ["kubia-nope", v2.as_str()];
    let (t, u) = tokio::try_join!(theirs.run(&args), ours.run(&args))?;
    ensure!(
        t.stderr.contains(&format!(
            "error: couldn't find a replication controller with source id == {}/kubia-nope",
            theirs.ns.name
        )) && u.stderr.trim()
            == "Error from server (NotFound): replicationcontrollers \"kubia-nope\" not found"
            && t.code == Some(1)
            && u.code == Some(1),
        "deviation `an unknown RC without NEW` no longer as listed: kubectl 1.17 {} {:?}, ours {} {:?}",
        t.exit(),
        t.stderr.trim(),
        u.exit(),
        u.stderr.trim()
    );
    o.note(format!(
        "an unknown RC without NEW: ours says {}",
        u.stderr.trim()
    ));
    let args = ["kubia-nope", "kubia-v9", v2.as_str(), "-n", ""];
    let (t, u) = tokio::try_join!(theirs.run(&args), ours.run(&args))?;
    ensure!(
        t.stderr.contains("\"kubia-nope\" not found")
            && u.code == Some(1)
            && u.stderr.trim().lines().count() == 1
            && u.stderr.contains("namespace"),
        "deviation `-n ''` no longer as listed: kubectl 1.17 {} {:?}, ours {} {:?}",
        t.exit(),
        t.stderr.trim(),
        u.exit(),
        u.stderr.trim()
    );
    o.note(format!("-n '': ours refuses ({})", u.stderr.trim()));
    Ok(())
}

/// Deviation `--timeout`: a new RC that can never create a pod (a ResourceQuota allows only
/// the pods there are: no image, crash or probe failure for our failure signals to catch),
/// `--timeout=10s`; ours gives up after 10 s without progress with kubectl's sentence first;
/// kubectl 1.17 is still waiting at 20 s.
async fn timeout(env: &Env, o: &mut Outcome, theirs: &Side<'_>, ours: &Side<'_>) -> Result<()> {
    for ns in [theirs.ns, ours.ns] {
        // Only pods that stay count: a pod still terminating from an earlier step would
        // raise the limit by one and let the new RC's first pod in once it is gone.
        let pods = ns
            .api::<Pod>()
            .list(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| {
                let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                !matches!(phase, Some("Succeeded" | "Failed"))
            })
            .count();
        let quota: k8s_openapi::api::core::v1::ResourceQuota =
            serde_json::from_value(serde_json::json!({
                "metadata": { "name": "no-more-pods" },
                "spec": { "hard": { "pods": pods.to_string() } },
            }))?;
        ns.api::<k8s_openapi::api::core::v1::ResourceQuota>()
            .create(&Default::default(), &quota)
            .await?;
    }
    // The quota controller counts the pods before it admits or refuses any.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let v2 = env.image_arg("v2");
    let args = [
        "kubia-v3",
        "kubia-never",
        v2.as_str(),
        PERIOD,
        "--timeout=10s",
    ];
    let started = Instant::now();
    let mut t = process::spawn(theirs.command(&args))?;
    let u = ours.run(&args).await?;
    let message = u.stderr.trim().lines().last().unwrap_or_default();
    ensure!(
        u.code == Some(1)
            && message.starts_with(
                "error: timed out waiting for any update progress to be made (none for 10s): "
            ),
        "ours with --timeout=10s: {} {:?}",
        u.exit(),
        u.stderr.trim()
    );
    let wait = Duration::from_secs(20).saturating_sub(started.elapsed());
    tokio::time::sleep(wait).await;
    ensure!(
        !t.exited(),
        "deviation `--timeout` no longer as listed: kubectl 1.17 ended within 20 s of --timeout=10s"
    );
    let _ = t.interrupt(Duration::from_secs(30)).await?;
    o.note(format!(
        "--timeout=10s: ours gave up ({message}); kubectl 1.17 was still waiting at 20 s (interrupted)"
    ));
    Ok(())
}
