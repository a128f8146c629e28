//! Every checked-in manifest passes the real API server's validation and admission; the
//! hardened ones run under the `restricted` Pod Security Standard.
//!
//! Their Services take this scenario's NodePort instead of the tutorial's 30002 (the only
//! change, checked line by line), so it runs beside the tutorial's scenario.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use k8s_openapi::api::core::v1::Pod;

use crate::objects::{Mode, create_all};
use crate::schedule::TUTORIAL_NODE_PORT;
use crate::{Env, Outcome};

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let dir = env.manifest("");
    let mut plain = files(&dir)?;
    plain.sort();
    let rewritten = plain
        .iter()
        .chain(&files(&dir.join("hardened"))?)
        .map(|f| only_the_node_port_changed(env, &dir, f))
        .sum::<Result<usize>>()?;
    o.note(format!(
        "NodePort {} instead of the tutorial's {TUTORIAL_NODE_PORT} in {rewritten} Service port(s); every other line as checked in",
        env.node_port_number()
    ));
    let ns = env.namespace("e2e-manifests", &[]).await?;
    for f in &plain {
        let yaml = crate::env::read(f)?;
        let objs = create_all(&ns, &yaml, Mode::DryRun)
            .await
            .with_context(|| format!("server-side dry run of {}", f.display()))?;
        o.note(format!(
            "{}: server-side dry run accepted {}",
            shown(&dir, f),
            objs.join(", ")
        ));
    }
    ns.delete().await?;

    let mut hardened = files(&dir.join("hardened"))?;
    hardened.sort();
    ensure!(!hardened.is_empty(), "no hardened manifests");
    for f in &hardened {
        let ns = env
            .namespace(
                "e2e-restricted",
                &[
                    ("pod-security.kubernetes.io/enforce", "restricted"),
                    ("pod-security.kubernetes.io/enforce-version", "latest"),
                ],
            )
            .await?;
        let yaml = crate::env::read(f)?;
        let created_at = std::time::Instant::now();
        let objs = create_all(&ns, &yaml, Mode::Create)
            .await
            .with_context(|| format!("creating {} under the restricted standard", f.display()))?;
        let want = replicas(&yaml);
        // v3 fails its readiness probe by design; every other variant must become Ready.
        let must_be_ready = !yaml.contains(&env.image("v3"));
        let pods = ns.api::<Pod>();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let list = pods.list(&Default::default()).await?;
            let ok = list
                .items
                .iter()
                .filter(|p| {
                    if must_be_ready {
                        crate::monitor::is_ready(p)
                    } else {
                        started(p)
                    }
                })
                .count();
            if ok == want && list.items.len() == want {
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "{}: {ok} of {want} pods {} after 120s under the restricted standard",
                f.display(),
                if must_be_ready { "ready" } else { "started" }
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let up = created_at.elapsed();
        let deleted_at = std::time::Instant::now();
        ns.delete().await?;
        o.note(format!(
            "{}: created in a namespace enforcing `restricted` ({}), {want} pods {} in {:.1}s; namespace gone {:.1}s after its deletion",
            shown(&dir, f),
            objs.join(", "),
            if must_be_ready {
                "ready"
            } else {
                "running (v3: readiness fails by design)"
            },
            up.as_secs_f64(),
            deleted_at.elapsed().as_secs_f64()
        ));
    }
    Ok(())
}

/// `manifests/…` for the copy `f` in `dir`.
fn shown(dir: &Path, f: &Path) -> String {
    format!("manifests/{}", f.strip_prefix(dir).unwrap_or(f).display())
}

/// The copy `f` (in `dir`) differs from the checked-in file only in its NodePort lines, each
/// now naming this scenario's port; returns how many there are.
fn only_the_node_port_changed(env: &Env, dir: &Path, f: &Path) -> Result<usize> {
    let rel = f.strip_prefix(dir).unwrap_or(f);
    let original = crate::env::read(&env.settings.root.join("manifests").join(rel))?;
    let copy = crate::env::read(f)?;
    let expected =
        crate::env::rewrite_manifest(&original, &env.settings.image_repo, env.node_port.port());
    ensure!(
        copy == expected,
        "{}: the copy is not the checked-in file with only its NodePort and image repository changed",
        rel.display()
    );
    let port_line = |p: u16| format!("nodePort: {p}");
    let before = original.matches(&port_line(TUTORIAL_NODE_PORT)).count();
    let after = copy.matches(&port_line(env.node_port.port())).count();
    ensure!(
        env.node_port.port() == TUTORIAL_NODE_PORT
            || (before == after && !copy.contains(&port_line(TUTORIAL_NODE_PORT))),
        "{}: {before} NodePort line(s) of {TUTORIAL_NODE_PORT}, {after} of {} in the copy",
        rel.display(),
        env.node_port.port()
    );
    Ok(after)
}

/// Every container has started (it runs under the pod's security context).
fn started(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| {
            !cs.is_empty()
                && cs.iter().all(|c| {
                    c.started == Some(true)
                        || c.state.as_ref().is_some_and(|st| st.running.is_some())
                })
        })
}

fn files(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    Ok(std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect())
}

/// Total pods the file's workloads ask for.
fn replicas(yaml: &str) -> usize {
    serde_yaml::Deserializer::from_str(yaml)
        .filter_map(|d| <serde_yaml::Value as serde::Deserialize>::deserialize(d).ok())
        .filter(|v| v.get("kind").and_then(|k| k.as_str()) != Some("Service"))
        .filter_map(|v| v.get("spec")?.get("replicas")?.as_u64())
        .sum::<u64>() as usize
}
