//! Fake nodes for rollouts at scale: kwok (built from the Go module proxy) runs as a process
//! against the local cluster and plays the kubelet of `M` Node objects it alone manages (an
//! annotation selects them; the real node is never touched). Pods land on them only if they
//! tolerate their taint and select their label ([`TOLERATION`], [`NODE_SELECTOR`]), which
//! the benchmark's workloads do.
//!
//! Pod lifecycle: kwok's own "general" stages (create, init, ready, complete, delete), with
//! the delays each pod's annotations give ([`POD_ANNOTATIONS`]: running 50–100 ms and Ready
//! 150–300 ms after it is scheduled, like a small image already on the node with a probe
//! that passes at once; short enough that kubectl's one-pod-at-a-time bounds finish 1000
//! replicas in minutes); deletion waits out the pod's grace period. Nodes use the fast
//! initialisation stage and heartbeats through Leases.
//!
//! [`FakeNodes::start`] returns a guard: kwok is stopped and the nodes deleted when it is
//! dropped, whatever happened.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::cluster::{self, build, local};
use crate::util;

/// The annotation kwok selects its nodes by.
const NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// The label the workloads select fake nodes by.
pub const NODE_SELECTOR: &str = "{type: kwok}";
/// The toleration of the fake nodes' taint.
pub const TOLERATION: &str = "{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}";
/// The pod annotations that set kwok's stage delays (Go durations).
pub const POD_ANNOTATIONS: &str = "{pod-create.stage.kwok.x-k8s.io/delay: 50ms, pod-create.stage.kwok.x-k8s.io/jitter-delay: 50ms, pod-ready.stage.kwok.x-k8s.io/delay: 100ms, pod-ready.stage.kwok.x-k8s.io/jitter-delay: 100ms}";

/// The stage files used, relative to the kwok module's `kustomize/stage/`.
const STAGES: [&str; 8] = [
    "node/fast/node-initialize.yaml",
    "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "pod/general/pod-create.yaml",
    "pod/general/pod-init-container-running.yaml",
    "pod/general/pod-init-container-completed.yaml",
    "pod/general/pod-ready.yaml",
    "pod/general/pod-complete.yaml",
    "pod/general/pod-delete.yaml",
];

/// kwok running and its nodes present, until dropped.
pub struct FakeNodes {
    kwok: Child,
    nodes: Vec<String>,
}

impl FakeNodes {
    /// Builds kwok if needed, creates `count` fake nodes and starts kwok; returns once every
    /// fake node is Ready.
    pub fn start(count: u32) -> Result<FakeNodes> {
        let (kwok, source) = build::ensure_kwok()?;
        let dir = local::state_dir().join("kwok");
        std::fs::create_dir_all(&dir)?;
        clean_up_after_an_interrupted_run(&dir)?;
        let config = dir.join("stages.yaml");
        std::fs::write(&config, stages(&source.join("kustomize/stage"))?)?;
        let names: Vec<String> = (0..count).map(|i| format!("kwok-node-{i}")).collect();
        let manifests: Vec<String> = names.iter().map(|n| node(n)).collect();
        {
            let _p = util::Phase::start(format!("creating {count} fake nodes"));
            local::kubectl_stdin(&["apply", "-f", "-"], &manifests.join("---\n"))?;
        }
        let log = std::fs::File::create(dir.join("kwok.log"))?;
        let child = Command::new(&kwok)
            .args([
                format!(
                    "--kubeconfig={}",
                    local::client_kubeconfig("kwok").display()
                ),
                format!("--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake"),
                "--manage-all-nodes=false".to_owned(),
                "--cidr=10.250.0.0/16".to_owned(),
                "--node-ip=10.250.0.1".to_owned(),
                format!("--config={}", config.display()),
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", kwok.display()))?;
        std::fs::write(dir.join("kwok.pid"), child.id().to_string())?;
        let guard = FakeNodes {
            kwok: child,
            nodes: names,
        };
        util::wait_for(
            &format!("{count} fake nodes to be Ready"),
            Duration::from_secs(180),
            Duration::from_millis(500),
            || {
                let out = local::kubectl(&[
                    "get",
                    "nodes",
                    "-l",
                    "type=kwok",
                    "-o",
                    "jsonpath={range .items[*]}{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}",
                ])?;
                let ready = out.lines().filter(|l| *l == "True").count();
                Ok((ready == count as usize).then_some(()))
            },
        )?;
        Ok(guard)
    }
}

impl Drop for FakeNodes {
    fn drop(&mut self) {
        let _ = self.kwok.kill();
        let _ = self.kwok.wait();
        let _ = std::fs::remove_file(local::state_dir().join("kwok/kwok.pid"));
        let mut args = vec!["delete", "node", "--ignore-not-found", "--wait=false"];
        args.extend(self.nodes.iter().map(String::as_str));
        if let Err(e) = cluster::kubectl(&local::kubeconfig(), &args) {
            eprintln!("warning: deleting the fake nodes: {e:#}");
        }
    }
}

/// A run killed before its guard could clean up (Ctrl-C) left kwok running or fake nodes
/// behind: stop and delete them first.
fn clean_up_after_an_interrupted_run(dir: &Path) -> Result<()> {
    if let Ok(pid) = std::fs::read_to_string(dir.join("kwok.pid")) {
        let pid = pid.trim();
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.contains("kwok") {
            let _ = Command::new("kill").arg(pid).status();
        }
        let _ = std::fs::remove_file(dir.join("kwok.pid"));
    }
    local::kubectl(&[
        "delete",
        "nodes",
        "-l",
        "type=kwok",
        "--ignore-not-found",
        "--wait=false",
    ])
    .map(drop)
}

/// kwok's options: node heartbeats through Leases every 40 s as a kubelet's (without a lease
/// duration kwok renews node status only every ten minutes and the node lifecycle
/// controller marks the nodes' pods not ready), and more stage workers than the default 4
/// for a thousand pods.
const KWOK_CONFIGURATION: &str = "apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  nodeLeaseDurationSeconds: 40
  nodeLeaseParallelism: 8
  podPlayStageParallelism: 16
  nodePlayStageParallelism: 8
";

/// kwok's configuration and the stage definitions in [`STAGES`], as one multi-document
/// YAML file.
fn stages(dir: &Path) -> Result<String> {
    let mut docs: Vec<String> = vec![KWOK_CONFIGURATION.to_owned()];
    docs.extend(
        STAGES
            .iter()
            .map(|s| {
                let p: PathBuf = dir.join(s);
                std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
            })
            .collect::<Result<Vec<_>>>()?,
    );
    Ok(docs.join("\n---\n"))
}

/// One fake node: kwok's annotation, the taint that keeps other pods away, room for 110
/// pods, and a provider ID (without one the node lifecycle may delete it).
fn node(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Node
metadata:
  name: {name}
  annotations: {{{NODE_ANNOTATION}: fake, node.alpha.kubernetes.io/ttl: "0"}}
  labels: {{type: kwok, kubernetes.io/hostname: {name}, kubernetes.io/os: linux, kubernetes.io/arch: amd64}}
spec:
  providerID: kwok://{name}
  taints: [{{key: {NODE_ANNOTATION}, value: fake, effect: NoSchedule}}]
status:
  allocatable: {{cpu: "32", memory: 256Gi, pods: "110"}}
  capacity: {{cpu: "32", memory: 256Gi, pods: "110"}}
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_nodes_are_tainted_annotated_and_parse() {
        let yaml = node("kwok-node-7");
        let v: serde_yaml::Value = serde_yaml::from_str(&yaml).expect("node YAML parses");
        assert_eq!(v["metadata"]["annotations"][NODE_ANNOTATION], "fake");
        assert_eq!(v["spec"]["taints"][0]["key"], NODE_ANNOTATION);
        assert_eq!(v["spec"]["providerID"], "kwok://kwok-node-7");
        assert_eq!(v["metadata"]["labels"]["type"], "kwok");
        let t: serde_yaml::Value = serde_yaml::from_str(TOLERATION).expect("toleration parses");
        assert_eq!(t["key"], NODE_ANNOTATION);
        let a: serde_yaml::Value =
            serde_yaml::from_str(POD_ANNOTATIONS).expect("annotations parse");
        assert_eq!(a["pod-ready.stage.kwok.x-k8s.io/delay"], "100ms");
    }
}
