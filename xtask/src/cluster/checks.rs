//! What proves a cluster serves: a pod from the locally built image answering through a
//! NodePort, a pod pulling through the local registry; and the wait for a namespace's
//! default service account that creating pods needs. Used by both providers' `up` and by
//! `cargo xtask test`.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;

use super::kubectl::{kubectl, kubectl_stdin};
use crate::util;

/// Waits until namespace `ns` has its default service account: pods are refused before.
pub fn wait_default_service_account(kubeconfig: &Path, ns: &str) -> Result<()> {
    util::wait_for(
        &format!("the default service account in namespace {ns}"),
        Duration::from_secs(60),
        Duration::from_millis(200),
        || {
            Ok(kubectl(
                kubeconfig,
                &["-n", ns, "get", "serviceaccount", "default", "-o", "name"],
            )
            .ok()
            .map(drop))
        },
    )
}

/// `kubectl apply` of a manifest that creates namespace `ns` and pods in it. Pods are
/// refused until the new namespace's default service account exists, which appears a
/// moment after the namespace: on a refusal, wait for it and apply again.
fn apply_with_namespace(kubeconfig: &Path, ns: &str, manifest: &str) -> Result<()> {
    kubectl_stdin(kubeconfig, &["apply", "-f", "-"], manifest)
        .or_else(|_| {
            wait_default_service_account(kubeconfig, ns)?;
            kubectl_stdin(kubeconfig, &["apply", "-f", "-"], manifest)
        })
        .map(drop)
}

/// A pod from the locally built image behind NodePort `node_port` answers on 127.0.0.1;
/// the namespace is deleted afterwards (and waited for, so the NodePort is free again).
pub fn serving_check(kubeconfig: &Path, ns: &str, node_port: u16) -> Result<()> {
    let manifest = format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: check, namespace: {ns}, labels: {{app: check}}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: kubia, image: "luksa/kubia:v1", imagePullPolicy: Never, env: [{{name: KUBIA_SHUTDOWN_DELAY, value: 0s}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: check, namespace: {ns}}}
spec:
  type: NodePort
  selector: {{app: check}}
  ports: [{{port: 80, targetPort: 8080, nodePort: {node_port}}}]
"#
    );
    wait_default_service_account(kubeconfig, "default")?;
    apply_with_namespace(kubeconfig, ns, &manifest)?;
    let result = util::wait_for(
        "the check pod to answer on the NodePort",
        Duration::from_secs(120),
        Duration::from_millis(500),
        || {
            let body = util::http_get(node_port)?;
            Ok((body == "This is v1 running in pod check\n").then_some(()))
        },
    );
    let deleted = kubectl(
        kubeconfig,
        &["delete", "namespace", ns, "--wait=true", "--timeout=60s"],
    );
    result?;
    eprintln!("127.0.0.1:{node_port} answered \"This is v1 running in pod check\"");
    deleted.map(drop)
}

/// A pod with `imagePullPolicy: Always` for `luksa/kubia:v4` becomes Ready: the node's
/// containerd really pulled it, and with no internet only the local registry (docker.io's
/// mirror) can have served it. Needs `registry up` and `images --push` first.
pub fn pull_always_check(kubeconfig: &Path, ns: &str) -> Result<()> {
    let manifest = format!(
        r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: pull-always, namespace: {ns}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: kubia, image: "luksa/kubia:v4", imagePullPolicy: Always, env: [{{name: KUBIA_SHUTDOWN_DELAY, value: 0s}}]}}
"#
    );
    apply_with_namespace(kubeconfig, ns, &manifest)?;
    let waited = kubectl(
        kubeconfig,
        &[
            "-n",
            ns,
            "wait",
            "pod/pull-always",
            "--for=condition=Ready",
            "--timeout=60s",
        ],
    );
    let detail = kubectl(
        kubeconfig,
        &[
            "-n",
            ns,
            "get",
            "pod/pull-always",
            "-o",
            "jsonpath={.status.containerStatuses[0].imageID} {.status.containerStatuses[0].state.waiting.reason}",
        ],
    )
    .unwrap_or_default();
    let deleted = kubectl(kubeconfig, &["delete", "namespace", ns, "--wait=false"]);
    waited.map_err(|e| {
        e.context(format!(
            "a pod pulling luksa/kubia:v4 with imagePullPolicy: Always did not become Ready ({})",
            detail.trim()
        ))
    })?;
    eprintln!(
        "imagePullPolicy: Always pulled luksa/kubia:v4 through the local registry ({})",
        detail.trim()
    );
    deleted.map(drop)
}
