//! Which fault a run injects, after which step, and what it stops: the vocabulary the
//! scenario (`faults`) and its checks (`bounds`) share.

use std::time::Duration;

/// One fault, injected once the update reached a given step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// kube-apiserver stopped for ~8 s, then started again.
    ApiServerRestart,
    /// etcd stopped for ~6 s, then started again.
    EtcdRestart,
    /// Every packet from the engine to the API server dropped for ~20 s.
    ApiUnreachable,
    /// The kubelet stopped and started again while a new pod starts.
    KubeletRestart,
    /// A ready pod of the new RC deleted by hand.
    NewPodDeleted,
    /// A ready pod of the old RC deleted by hand.
    OldPodDeleted,
    /// kube-controller-manager stopped for ~10 s: nothing creates or deletes pods.
    ControllerManagerStopped,
}

impl Fault {
    pub(super) fn slug(self) -> &'static str {
        match self {
            Fault::ApiServerRestart => "apiserver",
            Fault::EtcdRestart => "etcd",
            Fault::ApiUnreachable => "unreachable",
            Fault::KubeletRestart => "kubelet",
            Fault::NewPodDeleted => "new-pod",
            Fault::OldPodDeleted => "old-pod",
            Fault::ControllerManagerStopped => "kcm",
        }
    }

    /// The component this fault stops and starts, if any, and for how long it stays down:
    /// long enough that the engine's step in flight (a pod starting with a 1 s period) would
    /// have ended meanwhile, so the outage is seen; any longer is only waiting, while the
    /// whole cluster is this scenario's (see `schedule`).
    pub(super) fn component(self) -> Option<(&'static str, Duration)> {
        match self {
            Fault::ApiServerRestart => Some(("kube-apiserver", Duration::from_secs(8))),
            Fault::EtcdRestart => Some(("etcd", Duration::from_secs(6))),
            Fault::KubeletRestart => Some(("kubelet", Duration::from_secs(3))),
            Fault::ControllerManagerStopped => {
                Some(("kube-controller-manager", Duration::from_secs(10)))
            }
            _ => None,
        }
    }

    /// After which scaling step line the fault is injected.
    pub(super) fn after_step(self) -> usize {
        match self {
            // `Scaling kubia-v2 up to 1`: the first new pod is starting.
            //
            // etcd goes down here, not after a scale-down: a pod the RC controller deleted just
            // before the outage keeps its endpoint (the EndpointSlice update cannot be stored
            // while etcd is down) and exits after its grace period, so kube-proxy sends
            // requests to a closed port. That is Kubernetes losing writes, whatever client
            // drives the update (seen here: 18 of 936 requests refused); the engine's part,
            // waiting and resuming without a wrong step, is what this scenario checks.
            //
            // kube-controller-manager stops here too, for the same reason: stopped just after
            // `Scaling kubia-v1 down to 2`, the RC controller may already have deleted a pod
            // while the EndpointSlice controller (the same process) had not yet removed it, and
            // the Service sends requests to that pod until the controllers are back (seen in
            // CI: 32 of 572 requests timed out, sent up to 15.4 s after the deletion). After
            // `Scaling kubia-v2 up to 1` the only action in flight is a pod's creation, which
            // takes no endpoint away; the next step still needs the controllers (the RC
            // controller must observe the scale-down before the engine goes on).
            Fault::KubeletRestart
            | Fault::OldPodDeleted
            | Fault::EtcdRestart
            | Fault::ControllerManagerStopped => 1,
            // `Scaling kubia-v2 up to 2`: a new pod is ready (or about to be).
            Fault::NewPodDeleted => 3,
            // `Scaling kubia-v1 down to 2`: an old pod is going.
            _ => 2,
        }
    }
}
