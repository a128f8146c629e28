//! The tutorial's pull-policy pitfall, for real.
//!
//! 1. The default `imagePullPolicy` we compute (`image_reference::PullPolicy::default_for`)
//!    is the one the API server assigns, for a table of references: each is sent as a pod in
//!    a server-side dry run and the defaulted policy compared.
//! 2. With the local registry: push v1's content under a tag, start a pod with
//!    `IfNotPresent` and one with `Always`; push v2's content under the same tag; new pods
//!    with `IfNotPresent` still answer v1 (the node keeps what it pulled), new pods with
//!    `Always` answer v2. The tag is new each run, so no earlier run's cache can interfere.

use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use image_reference::{ImageRef, PullPolicy};
use k8s_openapi::api::core::v1::{Node, Pod, ReplicationController};
use kube::api::{ListParams, PostParams};

use crate::{Env, Namespace, Outcome};

/// The local registry (`cargo xtask registry up`), as this host reaches it.
const REGISTRY: &str = "127.0.0.1:5000";
/// The demo images' repository in it (`cargo xtask images --push`).
const REPOSITORY: &str = "luksa/kubia";

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = env.namespace("e2e-pull-policy", &[]).await?;
    defaults_match_the_api_server(&ns, o).await?;
    pitfall(&ns, o).await?;
    mixed_version_rc(&ns, o).await?;
    ns.delete().await
}

async fn defaults_match_the_api_server(ns: &Namespace, o: &mut Outcome) -> Result<()> {
    let d = "0123456789abcdef".repeat(4);
    let references = [
        "luksa/kubia".to_owned(),
        "luksa/kubia:latest".to_owned(),
        "luksa/kubia:v1".to_owned(),
        "luksa/kubia:LATEST".to_owned(),
        format!("luksa/kubia@sha256:{d}"),
        format!("luksa/kubia:latest@sha256:{d}"),
        format!("luksa/kubia:v1@sha256:{d}"),
        "nginx".to_owned(),
        "docker.io/library/nginx:1.27".to_owned(),
        "localhost:5000/kubia".to_owned(),
        "127.0.0.1:5000/luksa/kubia:latest".to_owned(),
        "registry.example.com:443/team/app:v2".to_owned(),
        "Registry.Example.com/app".to_owned(),
        "ghcr.io/owner/app:latest-rc".to_owned(),
    ];
    let pods = ns.api::<Pod>();
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let mut differ = Vec::new();
    for (i, image) in references.iter().enumerate() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("policy-{i}")},
            "spec": {"containers": [{"name": "c", "image": image}]}
        }))?;
        let created = pods.create(&dry, &pod).await?;
        let server = created
            .spec
            .and_then(|s| s.containers.into_iter().next())
            .and_then(|c| c.image_pull_policy)
            .unwrap_or_default();
        let ours = ImageRef::parse(image)
            .map(|r| PullPolicy::default_for(&r).as_str().to_owned())
            .unwrap_or_else(|e| format!("invalid ({e})"));
        if server != ours {
            differ.push(format!("{image}: server {server}, ours {ours}"));
        }
    }
    ensure!(
        differ.is_empty(),
        "our default pull policy differs from the API server's: {}",
        differ.join("; ")
    );
    o.note(format!(
        "the default imagePullPolicy we compute equals the API server's for all {} references (no tag, latest, LATEST, digests, latest@digest, registries with ports, upper-case registry)",
        references.len()
    ));
    Ok(())
}

async fn pitfall(ns: &Namespace, o: &mut Outcome) -> Result<()> {
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let tag = format!("pitfall-{stamp}");
    let image = format!("{REGISTRY}/{REPOSITORY}:{tag}");
    retag("v1", &tag).await.context(
        "pushing v1's content under a new tag to the local registry (cargo xtask registry up; cargo xtask images --push)",
    )?;
    o.note(format!("pushed v1's content as {image}"));
    start_pod(ns, "first-ifnotpresent", &image, "IfNotPresent", None).await?;
    start_pod(ns, "first-always", &image, "Always", None).await?;
    let a = answer(ns, "first-ifnotpresent").await?;
    let b = answer(ns, "first-always").await?;
    ensure!(
        a.starts_with("This is v1 ") && b.starts_with("This is v1 "),
        "before the second push both pods should answer v1: {a:?}, {b:?}"
    );

    retag("v2", &tag)
        .await
        .context("pushing v2's content under the same tag")?;
    o.note(format!("pushed v2's content under the same tag {tag}"));
    start_pod(ns, "second-ifnotpresent", &image, "IfNotPresent", None).await?;
    start_pod(ns, "second-always", &image, "Always", None).await?;
    let stale = answer(ns, "second-ifnotpresent").await?;
    let fresh = answer(ns, "second-always").await?;
    ensure!(
        stale.starts_with("This is v1 "),
        "a new IfNotPresent pod should still run the cached v1: {stale:?}"
    );
    ensure!(
        fresh.starts_with("This is v2 "),
        "a new Always pod should pull v2: {fresh:?}"
    );
    o.note(format!(
        "after the second push: the new IfNotPresent pod answered {:?}, the new Always pod {:?}: one tag, two versions",
        stale.trim(),
        fresh.trim()
    ));
    Ok(())
}

async fn mixed_version_rc(ns: &Namespace, o: &mut Outcome) -> Result<()> {
    let nodes: Vec<String> = kube::Api::<Node>::all(ns.client.clone())
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    let [warm_node, cold_node, ..] = nodes.as_slice() else {
        o.note("one node here: the tutorial's mixed-version RC needs two nodes (kind has two); not shown on this provider");
        return Ok(());
    };
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let tag = format!("mixed-{stamp}");
    let image = format!("{REGISTRY}/{REPOSITORY}:{tag}");
    retag("v1", &tag).await?;
    start_pod(ns, "warm", &image, "IfNotPresent", Some(warm_node)).await?;
    retag("v2", &tag).await?;
    o.note(format!(
        "{image}: a pod on {warm_node} pulled it while it held v1's content, then v2's content was pushed under it"
    ));

    let labels = serde_json::json!({"app": "kubia-mixed"});
    let rc: ReplicationController = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kubia-mixed"},
        "spec": {
            "replicas": 2,
            "selector": labels,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "tolerations": [{"operator": "Exists"}],
                    "affinity": {
                        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [{"matchExpressions": [{
                                "key": "kubernetes.io/hostname",
                                "operator": "In",
                                "values": [warm_node, cold_node]
                            }]}]
                        }},
                        "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                            "labelSelector": {"matchLabels": labels},
                            "topologyKey": "kubernetes.io/hostname"
                        }]}
                    },
                    "containers": [{
                        "name": "kubia",
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "env": [{"name": "KUBIA_SHUTDOWN_DELAY", "value": "0s"}]
                    }]
                }
            }
        }
    }))?;
    ns.api::<ReplicationController>()
        .create(&PostParams::default(), &rc)
        .await?;
    let pods = ns.api::<Pod>();
    let deadline = Instant::now() + Duration::from_secs(90);
    let ready = loop {
        let list = pods
            .list(&ListParams::default().labels("app=kubia-mixed"))
            .await?
            .items;
        if list.len() == 2 && list.iter().all(crate::monitor::is_ready) {
            break list;
        }
        ensure!(
            Instant::now() < deadline,
            "RC kubia-mixed: 2 ready pods expected within 90s, have {}",
            list.iter().filter(|p| crate::monitor::is_ready(p)).count()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut seen = Vec::new();
    for pod in &ready {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let node = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        let text = answer(ns, &name).await?;
        let expected = if node == *warm_node { "v1" } else { "v2" };
        ensure!(
            text.starts_with(&format!("This is {expected} ")),
            "RC kubia-mixed: pod {name} on {node} should run {expected} (its node {} the tag before the second push), answered {text:?}",
            if expected == "v1" {
                "had pulled"
            } else {
                "had not pulled"
            }
        );
        seen.push(format!("pod on {node} answered {:?}", text.trim()));
    }
    o.note(format!(
        "the tutorial's mixed-version RC: kubia-mixed, 2 replicas of {image} with IfNotPresent: {}",
        seen.join("; ")
    ));
    Ok(())
}

/// Starts a pod and waits until it is ready; `node` pins it there, tolerating any taint.
async fn start_pod(
    ns: &Namespace,
    name: &str,
    image: &str,
    policy: &str,
    node: Option<&str>,
) -> Result<()> {
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"app": "pull-policy"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "nodeName": node,
            "tolerations": node.map(|_| serde_json::json!([{"operator": "Exists"}])),
            "containers": [{
                "name": "kubia",
                "image": image,
                "imagePullPolicy": policy,
                "env": [{"name": "KUBIA_SHUTDOWN_DELAY", "value": "0s"}]
            }]
        }
    }))?;
    ns.api::<Pod>().create(&PostParams::default(), &pod).await?;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let p = ns.api::<Pod>().get(name).await?;
        if crate::monitor::is_ready(&p) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let waiting = p
                .status
                .and_then(|s| s.container_statuses)
                .and_then(|c| c.into_iter().next())
                .and_then(|c| c.state)
                .and_then(|s| s.waiting)
                .map(|w| {
                    format!(
                        "{}: {}",
                        w.reason.unwrap_or_default(),
                        w.message.unwrap_or_default()
                    )
                });
            bail!("pod {name} ({image}, {policy}) not ready after 90s: {waiting:?}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// What the pod answers on `/`, through the API server's pod proxy.
async fn answer(ns: &Namespace, pod: &str) -> Result<String> {
    let path = format!("/api/v1/namespaces/{}/pods/{pod}:8080/proxy/", ns.name);
    let request = http::Request::get(path).body(Vec::new())?;
    Ok(ns.client.request_text(request).await?)
}

/// Points `tag` at the manifest of `from` in the local registry (its layers are there
/// already): what `docker push` of a rebuilt image under an old tag does.
async fn retag(from: &str, tag: &str) -> Result<()> {
    let from = from.to_owned();
    let tag = tag.to_owned();
    tokio::task::spawn_blocking(move || {
        let accept = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json";
        let (status, content_type, body) = http_call(
            "GET",
            &format!("/v2/{REPOSITORY}/manifests/{from}"),
            &[("Accept", accept)],
            &[],
        )?;
        ensure!(status == 200, "GET manifest {from}: HTTP {status}");
        let (status, _, answer) = http_call(
            "PUT",
            &format!("/v2/{REPOSITORY}/manifests/{tag}"),
            &[("Content-Type", &content_type)],
            &body,
        )?;
        ensure!(
            status == 201,
            "PUT manifest {tag}: HTTP {status} {}",
            String::from_utf8_lossy(&answer)
        );
        Ok(())
    })
    .await?
}

/// One HTTP/1.1 request to the registry on loopback: (status, content type, body).
fn http_call(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<(u16, String, Vec<u8>)> {
    let mut s = std::net::TcpStream::connect(REGISTRY)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {REGISTRY}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no HTTP header end")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .context("no HTTP status")?;
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    Ok((status, content_type, raw[split + 4..].to_vec()))
}
