//! Who asked the API server for what during one benchmark run, read from its audit log
//! (JSON lines, level Metadata, one event per request at `ResponseComplete`).
//!
//! Every component of the local cluster has its own user name (see `cluster::pki`), so a
//! request is attributed by who made it, not by guessing from user agents. A side's requests
//! are those in its namespace, plus its client's outside any namespace (RBAC reviews,
//! discovery). Watches are counted apart: one request each, plus the events they delivered,
//! which the audit log does not record and is reconstructed as the writes to the watched
//! objects while the watch was open (for label-selected watches, all objects of the resource
//! in the namespace: an upper bound).

/// The requests of one side of a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Requests {
    /// Requests other than watches by the client (the engine; or `kubectl set image` and
    /// `kubectl rollout status`).
    pub client: usize,
    /// Watches the client opened.
    pub client_watches: usize,
    /// Events delivered to those watches.
    pub client_watch_events: usize,
    /// Requests by the controllers that do the work (watches included, each as one).
    pub controllers: usize,
    /// Events delivered to the controllers' watches: the writes in the namespace to the
    /// kinds each of them watches.
    pub controller_watch_events: usize,
    /// Requests by everyone else (kubelet, scheduler, garbage collector, …): the same work
    /// on both sides, reported but not compared.
    pub others: usize,
}

impl Requests {
    /// Client plus controllers: what the comparison is about.
    pub fn total(&self) -> usize {
        self.client + self.client_watches + self.controllers
    }
}

/// A controller doing a side's work: its user name and the resources it watches.
pub struct Controller {
    /// `system:serviceaccount:kube-system:<name>` (controllers run with their own
    /// service-account credentials).
    pub user: &'static str,
    /// Resources its informers watch, whose writes it is told about.
    pub watches: &'static [&'static str],
}

/// The ReplicationController manager.
pub const RC_CONTROLLER: Controller = Controller {
    user: "system:serviceaccount:kube-system:replication-controller",
    watches: &["replicationcontrollers", "pods"],
};

/// The Deployment controller and the ReplicaSet controller.
pub const DEPLOYMENT_CONTROLLERS: [Controller; 2] = [
    Controller {
        user: "system:serviceaccount:kube-system:deployment-controller",
        watches: &["deployments", "replicasets", "pods"],
    },
    Controller {
        user: "system:serviceaccount:kube-system:replicaset-controller",
        watches: &["replicasets", "pods"],
    },
];

/// One audit event, reduced to what the counts need.
#[derive(Debug, Clone)]
struct Event {
    user: String,
    verb: String,
    resource: String,
    name: Option<String>,
    uri: String,
    /// When the request arrived and when it completed (RFC 3339, microseconds: compared as
    /// strings).
    received: String,
    completed: String,
}

/// The event on `line` if it is in namespace `ns`, or outside any namespace and by user
/// `client` (its RBAC reviews, kubectl's discovery: requests a side makes too).
fn parse(line: &str, ns: &str, client: &str) -> Option<Event> {
    // Most of a long log is about other namespaces and users: skip those lines unparsed.
    if !line.contains(&format!("\"namespace\":\"{ns}\""))
        && !line.contains(&format!("\"username\":\"{client}\""))
    {
        return None;
    }
    let ev: serde_json::Value = serde_json::from_str(line).ok()?;
    let object = &ev["objectRef"];
    let user = ev["user"]["username"].as_str().unwrap_or_default();
    match object["namespace"].as_str() {
        Some(n) if n == ns => {}
        None if user == client => {}
        _ => return None,
    }
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    Some(Event {
        user: user.to_owned(),
        verb: text(&ev["verb"]),
        resource: text(&object["resource"]),
        name: object["name"].as_str().map(str::to_owned),
        uri: text(&ev["requestURI"]),
        received: text(&ev["requestReceivedTimestamp"]),
        completed: text(&ev["stageTimestamp"]),
    })
}

fn is_write(verb: &str) -> bool {
    matches!(
        verb,
        "create" | "update" | "patch" | "delete" | "deletecollection"
    )
}

/// The object name a watch is limited to (`fieldSelector=metadata.name=X`), if any.
fn watched_name(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix("fieldSelector=")?;
        let value = value.replace("%3D", "=").replace("%3d", "=");
        value.strip_prefix("metadata.name=").map(str::to_owned)
    })
}

/// Counts the requests in namespace `ns` received at or after `since` (the audit log's
/// `text`), for a side whose client is `client` (a user name) and whose work is done by
/// `controllers`; the client's requests outside any namespace count too (each side's client
/// has its own user name and the runs do not overlap).
pub fn count(
    text: &str,
    ns: &str,
    since: &str,
    client: &str,
    controllers: &[Controller],
) -> Requests {
    let events: Vec<Event> = text
        .lines()
        .filter_map(|l| parse(l, ns, client))
        .filter(|e| e.received.as_str() >= since)
        .collect();
    let writes: Vec<&Event> = events.iter().filter(|e| is_write(&e.verb)).collect();
    let delivered = |resource: &str, name: Option<&str>, from: &str, to: &str| {
        writes
            .iter()
            .filter(|w| w.resource == resource)
            .filter(|w| name.is_none() || w.name.as_deref() == name)
            .filter(|w| w.received.as_str() >= from && w.received.as_str() <= to)
            .count()
    };
    let mut r = Requests::default();
    for e in &events {
        if e.user == client {
            if e.verb == "watch" {
                r.client_watches += 1;
                let name = watched_name(&e.uri);
                r.client_watch_events +=
                    delivered(&e.resource, name.as_deref(), &e.received, &e.completed);
            } else {
                r.client += 1;
            }
        } else if controllers.iter().any(|c| c.user == e.user) {
            r.controllers += 1;
        } else {
            r.others += 1;
        }
    }
    let (first, last) = (
        events.iter().map(|e| e.received.as_str()).min(),
        events.iter().map(|e| e.completed.as_str()).max(),
    );
    if let (Some(first), Some(last)) = (first, last) {
        for c in controllers {
            for resource in c.watches {
                r.controller_watch_events += delivered(resource, None, first, last);
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(
        user: &str,
        verb: &str,
        resource: &str,
        name: &str,
        uri: &str,
        t: (u32, u32),
    ) -> String {
        serde_json::json!({
            "user": {"username": user},
            "verb": verb,
            "requestURI": uri,
            "objectRef": {"namespace": "ns", "resource": resource, "name": name},
            "requestReceivedTimestamp": format!("2026-12-02T07:00:{:02}.000000Z", t.0),
            "stageTimestamp": format!("2026-12-02T07:00:{:02}.000000Z", t.1),
        })
        .to_string()
    }

    #[test]
    fn requests_are_attributed_by_user_and_watches_count_their_events() {
        let rc = "system:serviceaccount:kube-system:replication-controller";
        let log = [
            line("engine", "get", "replicationcontrollers", "a", "/x", (1, 1)),
            line(
                "engine",
                "watch",
                "replicationcontrollers",
                "",
                "/api/v1/namespaces/ns/replicationcontrollers?fieldSelector=metadata.name%3Da&watch=true",
                (2, 9),
            ),
            line("engine", "watch", "pods", "", "/api/v1/namespaces/ns/pods?labelSelector=app%3Dk&watch=true", (2, 9)),
            line("engine", "update", "replicationcontrollers", "a", "/x", (3, 3)),
            line(rc, "update", "replicationcontrollers", "b", "/x", (4, 4)),
            line(rc, "create", "pods", "p1", "/x", (5, 5)),
            line("system:node:n", "patch", "pods", "p1", "/x", (6, 6)),
            // After the watches closed: delivered to nobody's open watch.
            line(rc, "delete", "pods", "p1", "/x", (10, 10)),
            // Before the run: not counted.
            line("engine", "get", "pods", "", "/x", (0, 0)),
            // Another namespace: not counted.
            line("engine", "get", "pods", "", "/x", (5, 5)).replace("\"ns\"", "\"other\""),
            // Outside any namespace: the client's (a rules review) counts, others' do not.
            line("engine", "create", "selfsubjectrulesreviews", "", "/x", (1, 1))
                .replace(",\"namespace\":\"ns\"", ""),
            line(rc, "list", "nodes", "", "/x", (4, 4)).replace(",\"namespace\":\"ns\"", ""),
        ]
        .join("\n");
        let r = count(
            &log,
            "ns",
            "2026-12-02T07:00:01",
            "engine",
            &[RC_CONTROLLER],
        );
        assert_eq!(
            r,
            Requests {
                client: 3,
                client_watches: 2,
                // The name-limited RC watch sees the write to `a` only; the pod watch sees
                // the create and the kubelet's patch, not the later delete.
                client_watch_events: 1 + 2,
                controllers: 3,
                // RC writes (2) and pod writes (3) during the run.
                controller_watch_events: 5,
                others: 1,
            }
        );
        assert_eq!(r.total(), 8);
    }
}
