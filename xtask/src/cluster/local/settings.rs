//! The fixed shape of the local cluster: its node's name, the CNI bridge, the ports its
//! components listen on, the components in start order, and the client QPS the benchmark
//! raises the controllers to. A leaf the provider and its parts (network, configuration,
//! components, teardown) all read.

/// The name of the cluster's one node.
pub const NODE_NAME: &str = "kubia-node";
/// Client QPS and burst of kube-controller-manager and kube-scheduler while
/// `cargo xtask bench rollout --fake-nodes` runs (their defaults, 20/30 and 50/100, throttle
/// the controllers at 1000 pods).
pub const BENCH_QPS: u32 = 500;
pub const BENCH_BURST: u32 = 1000;
/// The CNI bridge the pods are attached to.
pub const BRIDGE: &str = "kubia0";
/// etcd's client and peer ports, away from the defaults another etcd may hold.
pub const ETCD_PORT: u16 = 23790;
pub const ETCD_PEER_PORT: u16 = 23800;
/// The API server's secure port.
pub const API_PORT: u16 = 6443;
/// Where Debian's containernetworking-plugins puts the CNI plugins.
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";

/// Components in start order; `down` stops them in reverse.
pub const COMPONENTS: [&str; 7] = [
    "containerd",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
];
