//! One generated Kubernetes object, whatever its kind, so a manifest can hold a mix.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ReplicationController, Service};
use serde::Serialize;

/// A typed object; serialises exactly as the wrapped k8s-openapi value (with `apiVersion`
/// and `kind`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Object {
    /// A ReplicationController (v1), the tutorial's controller.
    ReplicationController(ReplicationController),
    /// A ReplicaSet (apps/v1).
    ReplicaSet(ReplicaSet),
    /// A Deployment (apps/v1).
    Deployment(Deployment),
    /// A Service (v1), the NodePort Service in front of the pods.
    Service(Service),
}

impl Object {
    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        let meta = match self {
            Object::ReplicationController(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
        };
        meta.name.as_deref()
    }

    /// The API kind, e.g. `ReplicationController`.
    pub fn kind(&self) -> &'static str {
        use k8s_openapi::Resource;
        match self {
            Object::ReplicationController(_) => ReplicationController::KIND,
            Object::ReplicaSet(_) => ReplicaSet::KIND,
            Object::Deployment(_) => Deployment::KIND,
            Object::Service(_) => Service::KIND,
        }
    }
}

impl From<ReplicationController> for Object {
    fn from(o: ReplicationController) -> Self {
        Object::ReplicationController(o)
    }
}
impl From<ReplicaSet> for Object {
    fn from(o: ReplicaSet) -> Self {
        Object::ReplicaSet(o)
    }
}
impl From<Deployment> for Object {
    fn from(o: Deployment) -> Self {
        Object::Deployment(o)
    }
}
impl From<Service> for Object {
    fn from(o: Service) -> Self {
        Object::Service(o)
    }
}
