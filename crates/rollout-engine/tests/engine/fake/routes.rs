//! The HTTP routes: one request against the state, answered as the API server would
//! (defaulting, optimistic concurrency, orphaning deletes, Status errors).

use super::*;

pub(super) fn matches(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    !selector.is_empty()
        && labels.is_some_and(|l| selector.iter().all(|(k, v)| l.get(k) == Some(v)))
}

pub(super) fn parse_selector(query: &str) -> BTreeMap<String, String> {
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

pub(super) fn query_param<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

pub(super) fn status(code: u16, reason: &str, message: String) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

pub(super) fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Handles one request against the state.
pub(super) fn handle(
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
    // RBAC's view for the rules review: every verb on every resource the engine touches,
    // except the denied ones, as one rule each (so nothing is granted by a wildcard).
    if parts
        == [
            "apis",
            "authorization.k8s.io",
            "v1",
            "selfsubjectrulesreviews",
        ]
        && *method == Method::POST
    {
        const VERBS: [&str; 7] = [
            "get", "list", "watch", "create", "update", "patch", "delete",
        ];
        const RESOURCES: [&str; 6] = [
            "replicationcontrollers",
            "pods",
            "pods/proxy",
            "leases",
            "services",
            "endpointslices",
        ];
        let rules: Vec<Value> = VERBS
            .iter()
            .flat_map(|verb| RESOURCES.iter().map(move |resource| (*verb, *resource)))
            .filter(|(verb, resource)| !state.denied.contains(&format!("{verb} {resource}")))
            .map(|(verb, resource)| {
                json!({"verbs": [verb], "apiGroups": ["*"], "resources": [resource]})
            })
            .collect();
        let mut review: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        review["status"] =
            json!({"resourceRules": rules, "nonResourceRules": [], "incomplete": false});
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
pub(super) fn default_rc(rc: &mut ReplicationController) {
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
