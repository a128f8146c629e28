//! Comparing the two sides: output with hashes masked, and the RCs and pods at rest.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::ListParams;
use serde_json::Value;

use crate::Namespace;
use crate::process::Output;

const DEPRECATED: &str = "Command \"rolling-update\" is deprecated, use \"rollout\" instead";

/// The same exit code and stdout; stderr the same once kubectl 1.17's deprecation notice (a
/// listed deviation, asserted here) is left out. With `mask`, hashes are masked first.
pub(super) fn same_output(what: &str, theirs: &Output, ours: &Output, mask: bool) -> Result<()> {
    let m = |s: &str| if mask { mask_hashes(s) } else { s.to_owned() };
    ensure!(
        theirs.code == ours.code,
        "{what}: kubectl 1.17 {}, ours {}\nkubectl 1.17 stderr: {}\nours stderr: {}",
        theirs.exit(),
        ours.exit(),
        theirs.stderr.trim(),
        ours.stderr.trim()
    );
    let (t, u) = (m(&theirs.stdout), m(&ours.stdout));
    if t != u {
        let first = t
            .lines()
            .zip(u.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| t.lines().count().min(u.lines().count()));
        bail!(
            "{what}: stdout differs from line {}:\nkubectl 1.17:\n{t}\nours:\n{u}",
            first + 1
        );
    }
    let Some(rest) = theirs.stderr.strip_prefix(DEPRECATED) else {
        bail!(
            "deviation `stderr of every run` no longer as listed: kubectl 1.17's stderr: {:?}",
            theirs.stderr
        );
    };
    ensure!(
        !ours.stderr.contains(DEPRECATED),
        "ours printed kubectl's deprecation notice"
    );
    let (t, u) = (m(rest.trim()), m(ours.stderr.trim()));
    ensure!(
        t == u,
        "{what}: stderr differs:\nkubectl 1.17: {t}\nours: {u}"
    );
    Ok(())
}

/// The RCs and pods of both namespaces are the same once namespace-bound values are masked.
pub(super) async fn same_state(what: &str, theirs: &Namespace, ours: &Namespace) -> Result<()> {
    same_state_except(what, theirs, ours, &[]).await
}

/// [`same_state`], RC annotations `kubectl.kubernetes.io/<key>` for `keys` left out.
pub(super) async fn same_state_except(
    what: &str,
    theirs: &Namespace,
    ours: &Namespace,
    keys: &[&str],
) -> Result<()> {
    let (t, u) = tokio::try_join!(state(theirs, keys), state(ours, keys))?;
    if t != u {
        let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
        bail!(
            "{what}: the RCs and pods differ:\nkubectl 1.17's namespace:\n{}\nours:\n{}",
            pretty(&t),
            pretty(&u)
        );
    }
    Ok(())
}

/// Every RC (settled) and pod, without what the server or the namespace decides.
async fn state(ns: &Namespace, keys: &[&str]) -> Result<Value> {
    let rcs = ns.api::<ReplicationController>();
    // An RC being deleted (kubectl 1.17 orphans, we propagate in the background) is gone
    // a moment later on either side.
    let deadline = Instant::now() + Duration::from_secs(60);
    while rcs
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .any(|rc| rc.metadata.deletion_timestamp.is_some())
    {
        if Instant::now() > deadline {
            bail!("{}: an RC was still being deleted after 60s", ns.name);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let names = ns.rc_names().await?;
    for name in names.iter().filter(|n| !n.starts_with("kubia-dry")) {
        wait_settled(ns, name).await?;
    }
    let mut out = Vec::new();
    // kubia-dry served the dry runs, which kubectl 1.17 lets write (a listed deviation).
    for rc in rcs.list(&ListParams::default()).await?.items {
        if rc
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("kubia-dry"))
        {
            continue;
        }
        let mut v = serde_json::to_value(&rc)?;
        strip_server_fields(&mut v);
        if let Some(a) = v["metadata"]["annotations"].as_object_mut() {
            for k in keys {
                a.remove(&format!("kubectl.kubernetes.io/{k}"));
            }
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
        // No annotation left: the same whether the map is empty or absent.
        if v["metadata"]["annotations"]
            .as_object()
            .is_some_and(|a| a.is_empty())
            && let Some(m) = v["metadata"].as_object_mut()
        {
            m.remove("annotations");
        }
        if v["metadata"]["annotations"].is_null()
            && let Some(m) = v["metadata"].as_object_mut()
        {
            m.remove("annotations");
        }
        out.push(v);
    }
    let mut pods = Vec::new();
    for p in ns.api::<Pod>().list(&ListParams::default()).await?.items {
        let dry = p
            .metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.get("app").is_some_and(|a| a == "kubia-dry"));
        if dry || p.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let owner = p
            .metadata
            .owner_references
            .as_ref()
            .and_then(|o| o.first())
            .map(|o| o.name.clone());
        let image = p
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .and_then(|c| c.image.clone());
        pods.push(serde_json::json!({
            "owner": owner,
            "labels": p.metadata.labels,
            "image": image,
        }));
    }
    pods.sort_by_key(|p| p.to_string());
    Ok(mask_value(serde_json::json!({ "rcs": out, "pods": pods })))
}

/// Waits until the RC's status describes its spec (the controller has caught up), so that a
/// command and a comparison both see it at rest.
pub(super) async fn wait_settled(ns: &Namespace, name: &str) -> Result<()> {
    let rcs = ns.api::<ReplicationController>();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(rc) = rcs.get_opt(name).await? {
            let want = rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
            let settled = rc.status.as_ref().is_some_and(|s| {
                s.observed_generation == rc.metadata.generation
                    && s.replicas == want
                    && s.ready_replicas.unwrap_or(0) == want
                    && s.available_replicas.unwrap_or(0) == want
                    && s.fully_labeled_replicas.unwrap_or(0) == want
            });
            if settled {
                return Ok(());
            }
        } else {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{}: {name} did not settle within 120s", ns.name);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub(super) async fn rc_json(ns: &Namespace, name: &str) -> Result<Value> {
    let rc = ns.api::<ReplicationController>().get(name).await?;
    Ok(serde_json::to_value(rc)?)
}

fn strip_server_fields(v: &mut Value) {
    if let Some(m) = v["metadata"].as_object_mut() {
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "generation",
            "namespace",
        ] {
            m.remove(k);
        }
    }
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
}

/// `Rolling from:\n<yaml>\nTo:\n<yaml>` (kubectl 1.17 puts a `---` after `To:`) → both RCs.
pub(super) fn rolling_from_to(stdout: &str) -> Result<(Value, Value)> {
    let rest = stdout
        .strip_prefix("Rolling from:\n")
        .with_context(|| format!("no `Rolling from:` in {stdout}"))?;
    let (old, new) = rest
        .split_once("\nTo:\n")
        .with_context(|| format!("no `To:` in {stdout}"))?;
    let new = new.trim_start_matches("---\n");
    Ok((serde_yaml::from_str(old)?, serde_yaml::from_str(new)?))
}

/// Every run of 32 lowercase hex digits (an RC hash) replaced by `<hash>`.
pub fn mask_hashes(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| hex(**b)).count();
        if run == 32 {
            out.push_str("<hash>");
            i += 32;
        } else if run > 0 {
            out.push_str(&s[i..i + run]);
            i += run;
        } else {
            let c = s[i..].chars().next().unwrap_or_default();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn mask_value(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(mask_hashes(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(mask_value).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| (mask_hashes(&k), mask_value(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_masked_and_nothing_else() {
        assert_eq!(
            mask_hashes("Created kubia-v1-0123456789abcdef0123456789abcdef\nkubia-v2 3"),
            "Created kubia-v1-<hash>\nkubia-v2 3"
        );
        // 31 or 33 hex digits are not a hash.
        let short = "0123456789abcdef0123456789abcde";
        assert_eq!(mask_hashes(short), short);
        assert_eq!(mask_hashes(&format!("{short}ff")), format!("{short}ff"));
        assert_eq!(
            mask_hashes("deployment: 0123456789abcdef0123456789abcdef-orig é"),
            "deployment: <hash>-orig é"
        );
    }
}
