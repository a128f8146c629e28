//! What the fake API server holds: the objects, the faults to inject, what it saw (requests,
//! pod counts) and the log of changes that watches are served from.

use super::*;

/// The cluster's state.
#[derive(Default)]
pub struct State {
    pub rcs: BTreeMap<String, ReplicationController>,
    pub pods: BTreeMap<String, Pod>,
    pub services: BTreeMap<String, Service>,
    /// coordination.k8s.io Leases, as JSON.
    pub leases: BTreeMap<String, Value>,
    /// Every Lease ever written (POST or PUT), in order: who held it.
    pub lease_holders: Vec<String>,
    pub(super) rv: u64,
    pub(super) serial: u64,
    /// Pods of these images never become ready.
    pub unready_images: BTreeSet<String>,
    /// Permissions the user lacks, as `verb resource` (`patch pods`): SelfSubjectAccessReviews
    /// for them answer not allowed. Without any, reviews are not served at all (404).
    pub denied: BTreeSet<String>,
    /// Pods of these images cannot pull them: never ready, waiting with `ErrImagePull`.
    pub unpullable_images: BTreeSet<String>,
    /// Answer the next N requests with 503.
    pub fail_next: u32,
    /// Answer the next N PUTs with 409 Conflict.
    pub conflict_next: u32,
    /// Every request, as `METHOD path`.
    pub log: Vec<String>,
    /// Largest number of live pods seen for any app=kubia selector at once.
    pub max_pods_seen: usize,
    /// Smallest number of ready pods seen once the first update started.
    pub min_ready_seen: Option<usize>,
    /// Answer watch requests with 403, as RBAC without the `watch` verb does.
    pub refuse_watch: bool,
    /// The simulated EndpointSlice controller lags: the next N EndpointSlice lists show no
    /// endpoints, as a controller whose pod cache has not caught up.
    pub slices_lag: u32,
    /// New pods start unready and become ready this long after their creation.
    pub ready_delay: Option<Duration>,
    /// Pods created unready that become ready after `ready_delay`.
    pub(super) pending_ready: Vec<String>,
    /// Every change, for watches.
    pub(super) events: Vec<Change>,
    /// The objects as of the last recorded change, by (resource, name).
    pub(super) snapshot: BTreeMap<(&'static str, String), Value>,
}

/// One recorded change: `seq` is its resourceVersion.
pub(super) struct Change {
    pub(super) seq: u64,
    pub(super) resource: &'static str,
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) line: Bytes,
}

impl State {
    pub(super) fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Records the differences since the last snapshot as watch events; whether any.
    pub(super) fn record_changes(&mut self) -> bool {
        let mut now: BTreeMap<(&'static str, String), Value> = BTreeMap::new();
        for (name, rc) in &self.rcs {
            now.insert(("replicationcontrollers", name.clone()), to_value(rc));
        }
        for (name, pod) in &self.pods {
            now.insert(("pods", name.clone()), to_value(pod));
        }
        let mut changes = Vec::new();
        for (key, value) in &now {
            match self.snapshot.get(key) {
                None => changes.push(("ADDED", key.clone(), value.clone())),
                Some(old) if old != value => changes.push(("MODIFIED", key.clone(), value.clone())),
                Some(_) => {}
            }
        }
        for (key, old) in &self.snapshot {
            if !now.contains_key(key) {
                changes.push(("DELETED", key.clone(), old.clone()));
            }
        }
        let any = !changes.is_empty();
        for (kind, (resource, name), mut object) in changes {
            let seq = self.rv + 1;
            self.rv = seq;
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("resourceVersion".into(), json!(seq.to_string()));
            }
            // The stored object has the resourceVersion its watch event carries, as in a
            // real API server: a client may write back what it watched.
            if kind != "DELETED" {
                let rv = Some(seq.to_string());
                match resource {
                    "replicationcontrollers" => {
                        if let Some(rc) = self.rcs.get_mut(&name) {
                            rc.metadata.resource_version = rv;
                        }
                    }
                    _ => {
                        if let Some(pod) = self.pods.get_mut(&name) {
                            pod.metadata.resource_version = rv;
                        }
                    }
                }
                if let Some(v) = now.get_mut(&(resource, name.clone())) {
                    *v = object.clone();
                }
            }
            let labels = object
                .pointer("/metadata/labels")
                .and_then(|l| serde_json::from_value(l.clone()).ok())
                .unwrap_or_default();
            let line = watch_line(kind, &object);
            self.events.push(Change {
                seq,
                resource,
                name,
                labels,
                line,
            });
        }
        self.snapshot = now;
        any
    }

    /// Marks pods ready.
    pub(super) fn make_ready(&mut self, names: &[String]) {
        for name in names {
            if let Some(pod) = self.pods.get_mut(name) {
                for c in pod
                    .status
                    .iter_mut()
                    .flat_map(|s| s.conditions.iter_mut().flatten())
                {
                    c.status = "True".into();
                }
            }
        }
        self.reconcile();
    }

    pub(super) fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    pub fn rc(&self, name: &str) -> Option<&ReplicationController> {
        self.rcs.get(name)
    }

    pub fn replicas(&self, name: &str) -> Option<i32> {
        self.rc(name)
            .and_then(|rc| rc.spec.as_ref())
            .and_then(|s| s.replicas)
    }

    pub fn annotations(&self, name: &str) -> BTreeMap<String, String> {
        self.rc(name)
            .and_then(|rc| rc.metadata.annotations.clone())
            .unwrap_or_default()
    }

    pub fn pod_images(&self) -> Vec<String> {
        self.pods
            .values()
            .map(|p| {
                p.spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default()
            })
            .collect()
    }
}
