//! Builder fixtures for the Kubernetes objects tests build, in the style of controller-rs's
//! `fixtures.rs`: start from the tutorial's shape and change only what the test is about.
//!
//! ```ignore
//! let rc = ReplicationController::test().named("kubia-v2").image("luksa/kubia:v2");
//! let pod = Pod::test().named("kubia-v2-abcde").owned_by("uid-2").ready_since(1_000);
//! ```

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateWaiting, ContainerStatus, Pod, PodCondition, PodSpec,
    PodStatus, PodTemplateSpec, ReplicationController, ReplicationControllerSpec,
    ReplicationControllerStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::jiff::Timestamp;

/// The tutorial's labels: `app=kubia`.
fn app_kubia() -> BTreeMap<String, String> {
    [("app".to_owned(), "kubia".to_owned())].into()
}

fn time(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// Builders for a ReplicationController.
pub trait RcFixture: Sized {
    /// The tutorial's `kubia-v1`: 3 replicas, selector and template labels `app=kubia`, one
    /// container `nodejs` running `luksa/kubia:v1` with `IfNotPresent`; no uid, no status.
    fn test() -> Self;
    /// Another name.
    fn named(self, name: &str) -> Self;
    /// Another `spec.replicas`.
    fn replicas(self, replicas: i32) -> Self;
    /// Another image for the first container.
    fn image(self, image: &str) -> Self;
    /// In `namespace`, as read back from the API server.
    fn in_namespace(self, namespace: &str) -> Self;
    /// A uid, as the API server assigns one.
    fn uid(self, uid: &str) -> Self;
    /// A resourceVersion, as the API server assigns one.
    fn resource_version(self, rv: &str) -> Self;
    /// One more annotation.
    fn annotated(self, key: &str, value: &str) -> Self;
    /// No `spec.selector` (the API server defaults it from the template's labels).
    fn without_selector(self) -> Self;
    /// A status: `replicas` pods of which `ready` are ready, generation observed.
    fn with_status(self, replicas: i32, ready: i32) -> Self;
}

impl RcFixture for ReplicationController {
    fn test() -> Self {
        ReplicationController {
            metadata: ObjectMeta {
                name: Some("kubia-v1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicationControllerSpec {
                replicas: Some(3),
                selector: Some(app_kubia()),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(app_kubia()),
                        ..ObjectMeta::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: "nodejs".into(),
                            image: Some("luksa/kubia:v1".into()),
                            image_pull_policy: Some("IfNotPresent".into()),
                            ..Container::default()
                        }],
                        ..PodSpec::default()
                    }),
                }),
                ..ReplicationControllerSpec::default()
            }),
            status: None,
        }
    }

    fn named(mut self, name: &str) -> Self {
        self.metadata.name = Some(name.into());
        self
    }

    fn replicas(mut self, replicas: i32) -> Self {
        if let Some(spec) = self.spec.as_mut() {
            spec.replicas = Some(replicas);
        }
        self
    }

    fn image(mut self, image: &str) -> Self {
        let container = self
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut())
            .and_then(|t| t.spec.as_mut())
            .and_then(|s| s.containers.first_mut());
        if let Some(c) = container {
            c.image = Some(image.into());
        }
        self
    }

    fn in_namespace(mut self, namespace: &str) -> Self {
        self.metadata.namespace = Some(namespace.into());
        self
    }

    fn uid(mut self, uid: &str) -> Self {
        self.metadata.uid = Some(uid.into());
        self
    }

    fn resource_version(mut self, rv: &str) -> Self {
        self.metadata.resource_version = Some(rv.into());
        self
    }

    fn annotated(mut self, key: &str, value: &str) -> Self {
        self.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }

    fn without_selector(mut self) -> Self {
        if let Some(spec) = self.spec.as_mut() {
            spec.selector = None;
        }
        self
    }

    fn with_status(mut self, replicas: i32, ready: i32) -> Self {
        self.status = Some(ReplicationControllerStatus {
            replicas,
            ready_replicas: Some(ready),
            observed_generation: self.metadata.generation,
            ..ReplicationControllerStatus::default()
        });
        self
    }
}

/// Builders for a Pod.
pub trait PodFixture: Sized {
    /// A pod named `kubia-v1-00000`, phase Running, Ready condition False, no owner, no spec.
    fn test() -> Self;
    /// Another name.
    fn named(self, name: &str) -> Self;
    /// Controlled by the ReplicationController with `uid`.
    fn owned_by(self, uid: &str) -> Self;
    /// Ready since `seconds` after the epoch.
    fn ready_since(self, seconds: i64) -> Self;
    /// Its container `nodejs` waiting with `reason` (`ImagePullBackOff`, …).
    fn waiting(self, reason: &str) -> Self;
    /// Being deleted.
    fn terminating(self) -> Self;
    /// A spec whose container `name` runs `image`.
    fn running(self, name: &str, image: &str) -> Self;
}

impl PodFixture for Pod {
    fn test() -> Self {
        Pod {
            metadata: ObjectMeta {
                name: Some("kubia-v1-00000".into()),
                ..ObjectMeta::default()
            },
            spec: None,
            status: Some(PodStatus {
                phase: Some("Running".into()),
                conditions: Some(vec![PodCondition {
                    type_: "Ready".into(),
                    status: "False".into(),
                    last_transition_time: Some(time(0)),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
        }
    }

    fn named(mut self, name: &str) -> Self {
        self.metadata.name = Some(name.into());
        self
    }

    fn owned_by(mut self, uid: &str) -> Self {
        self.metadata.owner_references = Some(vec![OwnerReference {
            controller: Some(true),
            uid: uid.into(),
            kind: "ReplicationController".into(),
            name: "rc".into(),
            api_version: "v1".into(),
            ..OwnerReference::default()
        }]);
        self
    }

    fn ready_since(mut self, seconds: i64) -> Self {
        let ready = self
            .status
            .as_mut()
            .and_then(|s| s.conditions.as_mut())
            .and_then(|c| c.iter_mut().find(|c| c.type_ == "Ready"));
        if let Some(c) = ready {
            c.status = "True".into();
            c.last_transition_time = Some(time(seconds));
        }
        self
    }

    fn waiting(mut self, reason: &str) -> Self {
        if let Some(s) = self.status.as_mut() {
            s.container_statuses = Some(vec![ContainerStatus {
                name: "nodejs".into(),
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some(reason.into()),
                        message: None,
                    }),
                    ..ContainerState::default()
                }),
                ..ContainerStatus::default()
            }]);
        }
        self
    }

    fn terminating(mut self) -> Self {
        self.metadata.deletion_timestamp = Some(time(0));
        self
    }

    fn running(mut self, name: &str, image: &str) -> Self {
        self.spec = Some(PodSpec {
            containers: vec![Container {
                name: name.into(),
                image: Some(image.into()),
                ..Container::default()
            }],
            ..PodSpec::default()
        });
        self
    }
}
