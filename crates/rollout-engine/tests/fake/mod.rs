//! An in-memory Kubernetes API server with a simulated ReplicationController manager, served
//! to kube through a tower service: enough of the API for the engine (RCs, pods, services,
//! optimistic concurrency, orphaning deletes), plus injectable faults (5xx, conflicts,
//! pods that never become ready, pods that become ready only after a delay, refused watches).
//! It lets the engine's real code paths run without a cluster.
//!
//! Watches (`?watch=true`) are served from a log of changes: after every request (and every
//! [`Fake::with`]) the objects are compared with the previous snapshot and each difference is
//! recorded as an ADDED/MODIFIED/DELETED event with a new resourceVersion, then streamed as
//! JSON lines to the watches whose kind, `fieldSelector=metadata.name=` and `labelSelector`
//! match, from the requested `resourceVersion` (none or `0`: the current objects as ADDED
//! first). `allowWatchBookmarks` and `timeoutSeconds` are ignored; `sendInitialEvents=true`
//! gets the initial ADDED events and the closing bookmark.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use tokio::sync::Notify;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodSpec,
    PodStatus, PodTemplateSpec, ReplicationController, ReplicationControllerSpec,
    ReplicationControllerStatus, Service, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use rollout_engine::{Cancel, Cluster, Ctx, Event, EventSink, Hints, Timing};
use serde_json::{Value, json};

pub const NS: &str = "test";

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
    rv: u64,
    serial: u64,
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
    pending_ready: Vec<String>,
    /// Every change, for watches.
    events: Vec<Change>,
    /// The objects as of the last recorded change, by (resource, name).
    snapshot: BTreeMap<(&'static str, String), Value>,
}

/// One recorded change: `seq` is its resourceVersion.
struct Change {
    seq: u64,
    resource: &'static str,
    name: String,
    labels: BTreeMap<String, String>,
    line: Bytes,
}

impl State {
    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    /// Records the differences since the last snapshot as watch events; whether any.
    fn record_changes(&mut self) -> bool {
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
    fn make_ready(&mut self, names: &[String]) {
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

    fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// The simulated RC manager: adopt orphans, release strays, create or delete pods to
    /// match the spec, update status.
    fn reconcile(&mut self) {
        let names: Vec<String> = self.rcs.keys().cloned().collect();
        for name in names {
            let Some(rc) = self.rcs.get(&name).cloned() else {
                continue;
            };
            let uid = rc.metadata.uid.clone().unwrap_or_default();
            let selector = rc
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            let spec = rc
                .spec
                .as_ref()
                .and_then(|s| s.replicas)
                .unwrap_or(1)
                .max(0) as usize;
            let pod_names: Vec<String> = self.pods.keys().cloned().collect();
            let mut owned = Vec::new();
            for pod_name in pod_names {
                let Some(pod) = self.pods.get_mut(&pod_name) else {
                    continue;
                };
                let matches = matches(&selector, pod.metadata.labels.as_ref());
                let controller = pod
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|r| r.controller == Some(true))
                    .map(|r| r.uid.clone());
                match (controller, matches) {
                    (Some(owner), true) if owner == uid => owned.push(pod_name),
                    (Some(owner), false) if owner == uid => pod.metadata.owner_references = None,
                    (None, true) => {
                        pod.metadata.owner_references = Some(vec![owner_ref(&name, &uid)]);
                        owned.push(pod_name);
                    }
                    _ => {}
                }
            }
            while owned.len() > spec {
                if let Some(victim) = owned.pop() {
                    self.pods.remove(&victim);
                }
            }
            while owned.len() < spec {
                let serial = self.next_serial();
                let pod_name = format!("{name}-{serial:05}");
                let template = rc
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.clone())
                    .unwrap_or_default();
                let image = template
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let delayed = self.ready_delay.is_some();
                if delayed {
                    self.pending_ready.push(pod_name.clone());
                }
                let unpullable = self.unpullable_images.contains(&image);
                let ready = !self.unready_images.contains(&image) && !unpullable && !delayed;
                let rv = self.next_rv();
                let pod = Pod {
                    metadata: ObjectMeta {
                        name: Some(pod_name.clone()),
                        namespace: Some(NS.into()),
                        labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                        owner_references: Some(vec![owner_ref(&name, &uid)]),
                        resource_version: Some(rv),
                        uid: Some(format!("pod-uid-{serial}")),
                        ..ObjectMeta::default()
                    },
                    spec: template.spec.clone(),
                    status: Some(PodStatus {
                        phase: Some("Running".into()),
                        pod_ip: Some(format!("10.244.{}.{}", serial / 250, serial % 250 + 2)),
                        conditions: Some(vec![PodCondition {
                            type_: "Ready".into(),
                            status: if ready { "True" } else { "False" }.into(),
                            last_transition_time: Some(Time(Timestamp::now())),
                            ..PodCondition::default()
                        }]),
                        container_statuses: unpullable.then(|| {
                            vec![ContainerStatus {
                                name: "nodejs".into(),
                                image: image.clone(),
                                state: Some(ContainerState {
                                    waiting: Some(ContainerStateWaiting {
                                        reason: Some("ErrImagePull".into()),
                                        message: Some(format!("{image}: not found")),
                                    }),
                                    ..ContainerState::default()
                                }),
                                ..ContainerStatus::default()
                            }]
                        }),
                        ..PodStatus::default()
                    }),
                };
                self.pods.insert(pod_name.clone(), pod);
                owned.push(pod_name);
            }
            let ready = owned
                .iter()
                .filter(|p| self.pods.get(*p).is_some_and(is_ready))
                .count() as i32;
            if let Some(rc) = self.rcs.get_mut(&name) {
                rc.status = Some(ReplicationControllerStatus {
                    replicas: owned.len() as i32,
                    ready_replicas: Some(ready),
                    available_replicas: Some(ready),
                    observed_generation: rc.metadata.generation,
                    ..ReplicationControllerStatus::default()
                });
            }
        }
        let kubia: BTreeMap<String, String> = [("app".to_owned(), "kubia".to_owned())].into();
        let live: Vec<&Pod> = self
            .pods
            .values()
            .filter(|p| matches(&kubia, p.metadata.labels.as_ref()))
            .collect();
        self.max_pods_seen = self.max_pods_seen.max(live.len());
        let ready = live.iter().filter(|p| is_ready(p)).count();
        if self.rcs.len() > 1 {
            self.min_ready_seen = Some(self.min_ready_seen.map_or(ready, |m| m.min(ready)));
        }
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

fn owner_ref(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ReplicationController".into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn matches(selector: &BTreeMap<String, String>, labels: Option<&BTreeMap<String, String>>) -> bool {
    !selector.is_empty()
        && labels.is_some_and(|l| selector.iter().all(|(k, v)| l.get(k) == Some(v)))
}

fn parse_selector(query: &str) -> BTreeMap<String, String> {
    let Some(raw) = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("labelSelector="))
    else {
        return BTreeMap::new();
    };
    let decoded = raw
        .replace("%3D", "=")
        .replace("%2C", ",")
        .replace("%2F", "/");
    decoded
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn status(code: u16, reason: &str, message: String) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Handles one request against the state.
fn handle(
    state: &mut State,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> (u16, Value) {
    state.log.push(format!("{method} {path}"));
    if state.fail_next > 0 {
        state.fail_next -= 1;
        return status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request".into(),
        );
    }
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    if parts
        == [
            "apis",
            "authorization.k8s.io",
            "v1",
            "selfsubjectaccessreviews",
        ]
        && *method == Method::POST
        && !state.denied.is_empty()
    {
        let mut review: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let attrs = &review["spec"]["resourceAttributes"];
        let asked = format!(
            "{} {}",
            attrs["verb"].as_str().unwrap_or_default(),
            attrs["resource"].as_str().unwrap_or_default()
        );
        review["status"] = json!({"allowed": !state.denied.contains(&asked)});
        return (201, review);
    }
    let (kind, name) = match parts.as_slice() {
        ["api", "v1", "namespaces", _, kind] => (*kind, None),
        ["api", "v1", "namespaces", _, kind, name] => (*kind, Some(*name)),
        [
            "apis",
            "coordination.k8s.io",
            "v1",
            "namespaces",
            _,
            "leases",
        ] => ("leases", None),
        [
            "apis",
            "coordination.k8s.io",
            "v1",
            "namespaces",
            _,
            "leases",
            name,
        ] => ("leases", Some(*name)),
        [
            "apis",
            "discovery.k8s.io",
            "v1",
            "namespaces",
            _,
            "endpointslices",
        ] => ("endpointslices", None),
        _ => return status(404, "NotFound", format!("unknown path {path}")),
    };
    match (kind, method.clone(), name) {
        ("replicationcontrollers", Method::GET, Some(name)) => match state.rcs.get(name) {
            Some(rc) => (200, to_value(rc)),
            None => status(
                404,
                "NotFound",
                format!("replicationcontrollers \"{name}\" not found"),
            ),
        },
        ("replicationcontrollers", Method::GET, None) => {
            let items: Vec<Value> = state.rcs.values().map(to_value).collect();
            (
                200,
                json!({"kind": "ReplicationControllerList", "apiVersion": "v1", "metadata": {"resourceVersion": state.rv.to_string()}, "items": items}),
            )
        }
        ("replicationcontrollers", Method::POST, None) => {
            let Ok(mut rc) = serde_json::from_slice::<ReplicationController>(body) else {
                return status(400, "BadRequest", "bad body".into());
            };
            let name = rc.metadata.name.clone().unwrap_or_default();
            if state.rcs.contains_key(&name) {
                return status(
                    409,
                    "AlreadyExists",
                    format!("replicationcontrollers \"{name}\" already exists"),
                );
            }
            let serial = state.next_serial();
            rc.metadata.uid = Some(format!("rc-uid-{serial}"));
            rc.metadata.resource_version = Some(state.next_rv());
            rc.metadata.generation = Some(1);
            rc.metadata.namespace = Some(NS.into());
            default_rc(&mut rc);
            rc.status = None;
            state.rcs.insert(name.clone(), rc);
            state.reconcile();
            (201, to_value(&state.rcs[&name]))
        }
        ("replicationcontrollers", Method::PUT, Some(name)) => {
            let Ok(mut rc) = serde_json::from_slice::<ReplicationController>(body) else {
                return status(400, "BadRequest", "bad body".into());
            };
            let Some(stored) = state.rcs.get(name).cloned() else {
                return status(
                    404,
                    "NotFound",
                    format!("replicationcontrollers \"{name}\" not found"),
                );
            };
            if state.conflict_next > 0
                || rc.metadata.resource_version != stored.metadata.resource_version
            {
                state.conflict_next = state.conflict_next.saturating_sub(1);
                return status(
                    409,
                    "Conflict",
                    format!(
                        "Operation cannot be fulfilled on replicationcontrollers \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                    ),
                );
            }
            default_rc(&mut rc);
            let changed = rc.spec != stored.spec;
            rc.metadata.generation =
                Some(stored.metadata.generation.unwrap_or(1) + i64::from(changed));
            rc.metadata.uid = stored.metadata.uid.clone();
            rc.metadata.resource_version = Some(state.next_rv());
            rc.status = stored.status.clone();
            state.rcs.insert(name.to_owned(), rc);
            state.reconcile();
            (200, to_value(&state.rcs[name]))
        }
        ("replicationcontrollers", Method::DELETE, Some(name)) => {
            let Some(rc) = state.rcs.remove(name) else {
                return status(
                    404,
                    "NotFound",
                    format!("replicationcontrollers \"{name}\" not found"),
                );
            };
            let orphan = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("propagationPolicy")
                        .and_then(|p| p.as_str())
                        .map(str::to_owned)
                })
                .is_some_and(|p| p == "Orphan");
            let uid = rc.metadata.uid.clone().unwrap_or_default();
            let owned: Vec<String> = state
                .pods
                .iter()
                .filter(|(_, p)| {
                    p.metadata
                        .owner_references
                        .iter()
                        .flatten()
                        .any(|r| r.uid == uid)
                })
                .map(|(n, _)| n.clone())
                .collect();
            for pod in owned {
                if orphan {
                    if let Some(p) = state.pods.get_mut(&pod) {
                        p.metadata.owner_references = None;
                    }
                } else {
                    state.pods.remove(&pod);
                }
            }
            state.reconcile();
            (200, to_value(&rc))
        }
        ("pods", Method::GET, None) => {
            let selector = parse_selector(query);
            let items: Vec<Value> = state
                .pods
                .values()
                .filter(|p| matches(&selector, p.metadata.labels.as_ref()))
                .map(to_value)
                .collect();
            (
                200,
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": state.rv.to_string()}, "items": items}),
            )
        }
        ("pods", Method::GET, Some(name)) => match state.pods.get(name) {
            Some(p) => (200, to_value(p)),
            None => status(404, "NotFound", format!("pods \"{name}\" not found")),
        },
        ("pods", Method::PATCH, Some(name)) => {
            let patch: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let rv = state.next_rv();
            let Some(pod) = state.pods.get_mut(name) else {
                return status(404, "NotFound", format!("pods \"{name}\" not found"));
            };
            let wanted = patch
                .pointer("/metadata/resourceVersion")
                .and_then(|v| v.as_str());
            if wanted.is_some() && wanted != pod.metadata.resource_version.as_deref() {
                return status(409, "Conflict", format!("pods \"{name}\" conflict"));
            }
            if let Some(labels) = patch
                .pointer("/metadata/labels")
                .and_then(|l| l.as_object())
            {
                let target = pod.metadata.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in labels {
                    target.insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
                }
            }
            pod.metadata.resource_version = Some(rv);
            let pod = pod.clone();
            state.reconcile();
            (200, to_value(&pod))
        }
        ("pods", Method::DELETE, Some(name)) => match state.pods.remove(name) {
            Some(p) => {
                state.reconcile();
                (200, to_value(&p))
            }
            None => status(404, "NotFound", format!("pods \"{name}\" not found")),
        },
        ("leases", Method::GET, Some(name)) => match state.leases.get(name) {
            Some(l) => (200, l.clone()),
            None => status(404, "NotFound", format!("leases \"{name}\" not found")),
        },
        ("leases", Method::POST, None) => {
            let mut lease: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let name = lease["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if state.leases.contains_key(&name) {
                return status(
                    409,
                    "AlreadyExists",
                    format!("leases \"{name}\" already exists"),
                );
            }
            lease["metadata"]["resourceVersion"] = json!(state.next_rv());
            lease["metadata"]["uid"] = json!(format!("lease-{name}"));
            state.lease_holders.push(
                lease["spec"]["holderIdentity"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            );
            state.leases.insert(name.clone(), lease.clone());
            (201, lease)
        }
        ("leases", Method::PUT, Some(name)) => {
            let mut lease: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let Some(stored) = state.leases.get(name) else {
                return status(404, "NotFound", format!("leases \"{name}\" not found"));
            };
            if lease["metadata"]["resourceVersion"] != stored["metadata"]["resourceVersion"] {
                return status(409, "Conflict", format!("leases \"{name}\" conflict"));
            }
            lease["metadata"]["resourceVersion"] = json!(state.next_rv());
            state.lease_holders.push(
                lease["spec"]["holderIdentity"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
            );
            state.leases.insert(name.to_owned(), lease.clone());
            (200, lease)
        }
        ("leases", Method::DELETE, Some(name)) => match state.leases.remove(name) {
            Some(l) => (200, l),
            None => status(404, "NotFound", format!("leases \"{name}\" not found")),
        },
        ("services", Method::GET, Some(name)) => match state.services.get(name) {
            Some(s) => (200, to_value(s)),
            None => status(404, "NotFound", format!("services \"{name}\" not found")),
        },
        ("services", Method::GET, None) => {
            let items: Vec<Value> = state.services.values().map(to_value).collect();
            (
                200,
                json!({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": state.rv.to_string()}, "items": items}),
            )
        }
        ("services", Method::POST, None) => {
            let Ok(mut svc) = serde_json::from_slice::<Service>(body) else {
                return status(400, "BadRequest", "bad body".into());
            };
            let name = svc.metadata.name.clone().unwrap_or_default();
            if state.services.contains_key(&name) {
                return status(
                    409,
                    "AlreadyExists",
                    format!("services \"{name}\" already exists"),
                );
            }
            svc.metadata.resource_version = Some(state.next_rv());
            state.services.insert(name.clone(), svc);
            (201, to_value(&state.services[&name]))
        }
        ("services", Method::DELETE, Some(name)) => match state.services.remove(name) {
            Some(s) => (200, to_value(&s)),
            None => status(404, "NotFound", format!("services \"{name}\" not found")),
        },
        ("endpointslices", Method::GET, None) => {
            let wanted = parse_selector(query);
            let lagging = state.slices_lag > 0;
            state.slices_lag = state.slices_lag.saturating_sub(1);
            let items: Vec<Value> = state
                .services
                .iter()
                .filter(|(name, _)| wanted.get("kubernetes.io/service-name") == Some(*name))
                .map(|(name, svc)| {
                    let selector = svc
                        .spec
                        .as_ref()
                        .and_then(|s| s.selector.clone())
                        .unwrap_or_default();
                    let endpoints: Vec<Value> = state
                        .pods
                        .values()
                        .filter(|_| !lagging)
                        .filter(|p| matches(&selector, p.metadata.labels.as_ref()))
                        .map(|p| {
                            json!({
                                "addresses": [p.status.as_ref().and_then(|s| s.pod_ip.clone())],
                                "conditions": {"ready": is_ready(p)},
                                "targetRef": {"kind": "Pod", "name": p.metadata.name, "namespace": NS},
                            })
                        })
                        .collect();
                    json!({
                        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                        "metadata": {"name": format!("{name}-x1y2z"), "namespace": NS,
                                     "labels": {"kubernetes.io/service-name": name}},
                        "addressType": "IPv4", "endpoints": endpoints,
                    })
                })
                .collect();
            (
                200,
                json!({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "metadata": {"resourceVersion": state.rv.to_string()}, "items": items}),
            )
        }
        ("services", Method::PUT, Some(name)) => {
            let Ok(mut svc) = serde_json::from_slice::<Service>(body) else {
                return status(400, "BadRequest", "bad body".into());
            };
            let Some(stored) = state.services.get(name) else {
                return status(404, "NotFound", format!("services \"{name}\" not found"));
            };
            if svc.metadata.resource_version != stored.metadata.resource_version {
                return status(409, "Conflict", format!("services \"{name}\" conflict"));
            }
            svc.metadata.resource_version = Some(state.next_rv());
            state.services.insert(name.to_owned(), svc);
            (200, to_value(&state.services[name]))
        }
        _ => status(
            405,
            "MethodNotAllowed",
            format!("{method} {path} not supported"),
        ),
    }
}

/// API-server defaulting that the engine relies on: selector and labels from the template.
fn default_rc(rc: &mut ReplicationController) {
    let spec = rc.spec.get_or_insert_with(Default::default);
    if spec.replicas.is_none() {
        spec.replicas = Some(1);
    }
    let template_labels = spec
        .template
        .as_ref()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if spec.selector.as_ref().is_none_or(BTreeMap::is_empty) {
        spec.selector = Some(template_labels.clone());
    }
    if rc.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) {
        rc.metadata.labels = Some(template_labels);
    }
}

type FakeBody = UnsyncBoxBody<Bytes, Infallible>;

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    match state.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// After a change: wake the watches, and schedule delayed readiness.
fn changed(state: &Arc<Mutex<State>>, notify: &Arc<Notify>) {
    let (any, delay, pending) = {
        let mut s = lock(state);
        let any = s.record_changes();
        (any, s.ready_delay, std::mem::take(&mut s.pending_ready))
    };
    if any {
        notify.notify_waiters();
    }
    if let Some(delay) = delay
        && !pending.is_empty()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        let (state, notify) = (state.clone(), notify.clone());
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            lock(&state).make_ready(&pending);
            changed(&state, &notify);
        });
    }
}

/// Answers a watch request with a body that streams events until the client drops it.
fn watch(
    state: &Arc<Mutex<State>>,
    notify: &Arc<Notify>,
    path: &str,
    query: &str,
) -> (u16, Option<FakeBody>) {
    let Some(resource) = ["replicationcontrollers", "pods"]
        .into_iter()
        .find(|r| path.ends_with(&format!("/{r}")))
    else {
        return (404, None);
    };
    let selector = parse_selector(query);
    let name = query_param(query, "fieldSelector")
        .map(|f| f.replace("%3D", "="))
        .and_then(|f| f.strip_prefix("metadata.name=").map(str::to_owned));
    let wanted = move |resource_of: &str, n: &str, labels: &BTreeMap<String, String>| {
        resource_of == resource
            && name.as_deref().is_none_or(|want| want == n)
            && (selector.is_empty() || matches(&selector, Some(labels)))
    };
    let since = query_param(query, "resourceVersion").unwrap_or("");
    let (cursor, initial) = {
        let mut s = lock(state);
        s.log.push(format!("WATCH {path}"));
        if s.refuse_watch {
            return (403, None);
        }
        match since.parse::<u64>() {
            Ok(rv) if rv > 0 => (rv, VecDeque::new()),
            _ => {
                let mut initial: VecDeque<Bytes> = s
                    .snapshot
                    .iter()
                    .filter(|((r, n), v)| {
                        let labels = v
                            .pointer("/metadata/labels")
                            .and_then(|l| serde_json::from_value(l.clone()).ok())
                            .unwrap_or_default();
                        wanted(r, n, &labels)
                    })
                    .map(|(_, v)| watch_line("ADDED", v))
                    .collect();
                if query_param(query, "sendInitialEvents") == Some("true") {
                    initial.push_back(watch_line(
                        "BOOKMARK",
                        &json!({"kind": "Pod", "apiVersion": "v1", "metadata": {
                            "resourceVersion": s.rv.to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"}}}),
                    ));
                }
                (s.rv, initial)
            }
        }
    };
    let (state, notify) = (state.clone(), notify.clone());
    let wanted = Arc::new(wanted);
    let events = futures::stream::unfold((cursor, initial), move |(mut cursor, mut initial)| {
        let (state, notify, wanted) = (state.clone(), notify.clone(), wanted.clone());
        async move {
            if let Some(line) = initial.pop_front() {
                return Some((line, (cursor, initial)));
            }
            loop {
                // Registered before looking, so a change in between is not missed.
                let notified = notify.notified();
                let next = lock(&state)
                    .events
                    .iter()
                    .find(|e| e.seq > cursor && wanted(e.resource, &e.name, &e.labels))
                    .map(|e| (e.seq, e.line.clone()));
                if let Some((seq, line)) = next {
                    cursor = seq;
                    return Some((line, (cursor, initial)));
                }
                notified.await;
            }
        }
    });
    let body = StreamBody::new(futures::StreamExt::map(events, |line| {
        Ok::<_, Infallible>(Frame::data(line))
    }));
    (200, Some(body.boxed_unsync()))
}

/// A fake cluster: shared state plus a kube client talking to it.
#[derive(Clone)]
pub struct Fake {
    pub state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
}

impl Fake {
    pub fn new() -> Self {
        Fake {
            state: Arc::new(Mutex::new(State::default())),
            notify: Arc::new(Notify::new()),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = f(&mut lock(&self.state));
        changed(&self.state, &self.notify);
        result
    }

    pub fn client(&self) -> kube::Client {
        let state = self.state.clone();
        let notify = self.notify.clone();
        let service = tower::service_fn(move |req: Request<Body>| {
            let state = state.clone();
            let notify = notify.clone();
            async move {
                let method = req.method().clone();
                let path = req.uri().path().to_owned();
                let query = req.uri().query().unwrap_or("").to_owned();
                if method == Method::GET && query_param(&query, "watch") == Some("true") {
                    let (code, body) = watch(&state, &notify, &path, &query);
                    let body = body.unwrap_or_else(|| {
                        let (_, value) = status(code, "Forbidden", format!("cannot watch {path}"));
                        let bytes = serde_json::to_vec(&value).unwrap_or_default();
                        Full::new(Bytes::from(bytes)).boxed_unsync()
                    });
                    return Response::builder()
                        .status(
                            StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                        )
                        .header("content-type", "application/json")
                        .body(body);
                }
                let body = req
                    .into_body()
                    .collect_bytes()
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                let (code, value) = handle(&mut lock(&state), &method, &path, &query, &body);
                changed(&state, &notify);
                let bytes = serde_json::to_vec(&value).unwrap_or_default();
                Response::builder()
                    .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(bytes)).boxed_unsync())
            }
        });
        kube::Client::new(service, NS)
    }

    /// A context for the engine with fast timings (2 s timeout).
    pub fn ctx(&self, sink: Arc<dyn EventSink>, cancel: Cancel) -> Ctx {
        self.ctx_with_timeout(sink, cancel, std::time::Duration::from_secs(2))
    }

    /// A context for the engine with a given timeout.
    pub fn ctx_with_timeout(
        &self,
        sink: Arc<dyn EventSink>,
        cancel: Cancel,
        timeout: std::time::Duration,
    ) -> Ctx {
        self.ctx_with_timing(
            sink,
            cancel,
            Timing {
                poll_interval: std::time::Duration::from_millis(5),
                timeout,
            },
        )
    }

    /// A context for the engine with given timings.
    pub fn ctx_with_timing(&self, sink: Arc<dyn EventSink>, cancel: Cancel, timing: Timing) -> Ctx {
        Ctx::new(
            Cluster {
                client: self.client(),
                namespace: NS.into(),
                server: "https://fake.invalid:6443/".into(),
            },
            sink,
            cancel,
            timing,
            Hints {
                program: "kubia-rollout".into(),
                flags: " -n test".into(),
                resume:
                    "kubia-rollout -n test rolling-update kubia-v1 kubia-v2 --image=luksa/kubia:v2"
                        .into(),
            },
        )
    }

    /// Adds the tutorial's RC `name` (app=kubia, container nodejs) and reconciles.
    pub fn add_rc(&self, name: &str, replicas: i32, image: &str) {
        let labels: BTreeMap<String, String> = [("app".to_owned(), "kubia".to_owned())].into();
        let rc = ReplicationController {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicationControllerSpec {
                replicas: Some(replicas),
                selector: None,
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "nodejs".into(),
                            image: Some(image.into()),
                            image_pull_policy: Some("IfNotPresent".into()),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                }),
                ..ReplicationControllerSpec::default()
            }),
            status: None,
        };
        let body = serde_json::to_vec(&rc).unwrap_or_default();
        self.with(|s| {
            handle(
                s,
                &Method::POST,
                &format!("/api/v1/namespaces/{NS}/replicationcontrollers"),
                "",
                &body,
            )
        });
    }

    /// Adds the tutorial's Service `kubia` selecting app=kubia.
    pub fn add_service(&self, name: &str) {
        let svc = Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(NS.into()),
                resource_version: Some("1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                selector: Some([("app".to_owned(), "kubia".to_owned())].into()),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        self.with(|s| s.services.insert(name.into(), svc));
    }
}

/// Records lines and cancels the operation right after a given line, like a Ctrl-C there.
pub struct CancelAfter {
    pub lines: Mutex<Vec<String>>,
    pub after: String,
    pub cancel: Cancel,
}

impl EventSink for CancelAfter {
    fn emit(&self, event: Event) {
        if let Event::Line(line) = event {
            if line == self.after {
                self.cancel.cancel();
            }
            if let Ok(mut lines) = self.lines.lock() {
                lines.push(line);
            }
        }
    }
}
