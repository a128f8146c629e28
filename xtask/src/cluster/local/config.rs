//! The configuration files `up` writes into the state directory: containerd's, the CNI
//! conflist, the kubeconfigs and the components' config files.

use std::path::Path;

use anyhow::Result;

use super::network::Networks;
use super::paths::{client_kubeconfig, containerd_socket, kubeconfig};
use super::settings::{API_PORT, BENCH_BURST, BENCH_QPS, BRIDGE, CNI_BIN_DIR, NODE_NAME};
use super::tools::path;
use crate::cluster::pki;
use crate::images;

pub(super) fn write_configs(dir: &Path, nets: &Networks) -> Result<()> {
    let pod_cidr = nets.pods;
    let pki = dir.join("pki");
    let p = |n: &str| path(&pki.join(n));
    let ctrd = dir.join("containerd");
    std::fs::write(
        ctrd.join("config.toml"),
        format!(
            r#"version = 2
root = "{root}"
state = "{state}"
[grpc]
  address = "{sock}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  # Our machines refuse to lower oom_score_adj (the pause sandbox asks for -998):
  # clamp to the value containerd itself runs with instead of failing every pod.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    # docker.io resolves through the local registry first (`cargo xtask registry up`).
    config_path = "{certs}"
"#,
            certs = path(&ctrd.join("certs.d")),
            root = path(&ctrd.join("root")),
            state = path(&ctrd.join("state")),
            sock = path(&containerd_socket()),
            pause = images::PAUSE_IMAGE,
            cni = path(&dir.join("cni/net.d")),
        ),
    )?;
    crate::registry::write_hosts_toml(&ctrd.join("certs.d"), crate::registry::ADDRESS)?;
    std::fs::write(
        dir.join("cni/net.d/10-kubia.conflist"),
        format!(
            r#"{{
  "cniVersion": "0.4.0",
  "name": "kubia",
  "plugins": [
    {{
      "type": "bridge",
      "bridge": "{BRIDGE}",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {{
        "type": "host-local",
        "ranges": [[{{"subnet": "{pod_cidr}"}}]],
        "routes": [{{"dst": "0.0.0.0/0"}}],
        "dataDir": "{ipam}"
      }}
    }},
    {{"type": "portmap", "capabilities": {{"portMappings": true}}}}
  ]
}}
"#,
            ipam = path(&dir.join("cni/ipam")),
        ),
    )?;
    pki::write_file(
        &kubeconfig(),
        &kubeconfig_for("kubia-lab-admin", &p(pki::CA_CRT), &pki, "admin"),
    )?;
    pki::private_dir(&dir.join("kubeconfigs"))?;
    for client in &pki::CLIENTS {
        pki::write_file(
            &client_kubeconfig(client.file),
            &kubeconfig_for(client.file, &p(pki::CA_CRT), &pki, client.file),
        )?;
    }
    // Metadata only (who, what, when), once per request.
    std::fs::write(
        dir.join("audit-policy.yaml"),
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived, ResponseStarted]\nrules:\n- level: Metadata\n",
    )?;
    let kc = path(&client_kubeconfig("kube-scheduler"));
    std::fs::write(
        dir.join("scheduler.yaml"),
        format!(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: {kc}\nleaderElection:\n  leaderElect: false\n"
        ),
    )?;
    // The same with the client QPS raised, for `cargo xtask bench rollout --fake-nodes`.
    std::fs::write(
        dir.join("scheduler-bench.yaml"),
        format!(
            "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nclientConnection:\n  kubeconfig: {kc}\n  qps: {BENCH_QPS}\n  burst: {BENCH_BURST}\nleaderElection:\n  leaderElect: false\n"
        ),
    )?;
    std::fs::write(
        dir.join("kubelet.yaml"),
        format!(
            r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {ca}}}
authorization: {{mode: Webhook}}
tlsCertFile: {crt}
tlsPrivateKeyFile: {key}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://{sock}
failSwapOn: false
clusterDomain: cluster.local
readOnlyPort: 0
serializeImagePulls: false
# A small or busy test disk must not taint the node and evict the demo pods.
evictionHard: {{memory.available: "50Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# Report pod status changes quickly: the end-to-end tests watch readiness.
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
"#,
            ca = p(pki::CA_CRT),
            crt = p(pki::KUBELET_CRT),
            key = p(pki::KUBELET_KEY),
            sock = path(&containerd_socket()),
        ),
    )?;
    let kc = path(&client_kubeconfig("kube-proxy"));
    std::fs::write(
        dir.join("kube-proxy.yaml"),
        format!(
            r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {kc}}}
hostnameOverride: {NODE_NAME}
mode: iptables
clusterCIDR: {pod_cidr}
# Do not write conntrack sysctls (they may be read-only here); keep localhost NodePorts.
# minSyncPeriod batches endpoint changes that arrive together into one iptables update.
conntrack: {{maxPerCore: 0}}
iptables: {{localhostNodePorts: true, syncPeriod: 30s, minSyncPeriod: 1s}}
"#
        ),
    )?;
    Ok(())
}

/// A kubeconfig for the client whose certificate files are `<file>.crt` and `<file>.key` in
/// `pki`.
fn kubeconfig_for(user: &str, ca: &str, pki: &Path, file: &str) -> String {
    let crt = path(&pki.join(format!("{file}.crt")));
    let key = path(&pki.join(format!("{file}.key")));
    format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: kubia-lab
  cluster:
    server: https://127.0.0.1:{API_PORT}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    client-certificate: {crt}
    client-key: {key}
contexts:
- name: kubia-lab
  context: {{cluster: kubia-lab, user: {user}, namespace: default}}
current-context: kubia-lab
"#
    )
}
