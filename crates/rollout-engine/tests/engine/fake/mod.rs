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
use k8s_fixtures::RcFixture;
use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodStatus,
    ReplicationController, ReplicationControllerStatus, Service, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;
use kube::client::Body;
use rollout_engine::{Cancel, Cluster, Ctx, Event, EventSink, Hints, Timing};
use serde_json::{Value, json};

pub const NS: &str = "test";
mod controller;
mod routes;
mod state;
mod watch;

use controller::*;
use routes::*;
pub use state::State;
use watch::*;

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
                watch_client: self.client(),
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
        let rc = ReplicationController::test()
            .named(name)
            .replicas(replicas)
            .image(image)
            .without_selector();
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
