//! The controllers that keep N pods running: ReplicationController (the tutorial's),
//! ReplicaSet and Deployment (apps/v1), built from one pod template.

use std::str::FromStr;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::{
    PodTemplateSpec, ReplicationController, ReplicationControllerSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::deployment::DeploymentOptions;
use crate::error::{Error, ValidationError};
use crate::object::Object;
use crate::pod::Labels;

/// Which controller kind to generate where several fit (blue-green, canary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// ReplicationController (v1), as in the tutorial.
    ReplicationController,
    /// ReplicaSet (apps/v1).
    ReplicaSet,
    /// Deployment (apps/v1).
    Deployment,
}

impl FromStr for Workload {
    type Err = Error;

    /// Accepts the kind and kubectl's short names, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rc" | "replicationcontroller" => Ok(Workload::ReplicationController),
            "rs" | "replicaset" => Ok(Workload::ReplicaSet),
            "deploy" | "deployment" => Ok(Workload::Deployment),
            _ => Err(Error::invalid_str(
                "workload",
                s,
                ValidationError::UnknownValue {
                    expected: "rc, replicaset or deployment",
                },
            )),
        }
    }
}

/// What every controller needs.
#[derive(Debug, Clone)]
pub struct WorkloadInput {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`; `None` leaves it to kubectl.
    pub namespace: Option<String>,
    /// Desired pods.
    pub replicas: i32,
    /// The label selector. `None` is only meaningful for a ReplicationController, whose
    /// selector the API server then copies from the template labels (as in the tutorial);
    /// the apps/v1 kinds require one and get the template labels.
    pub selector: Option<Labels>,
    /// The pod template (see [`crate::pod_template`]).
    pub template: PodTemplateSpec,
}

impl WorkloadInput {
    fn metadata(&self) -> ObjectMeta {
        ObjectMeta {
            name: Some(self.name.clone()),
            namespace: self.namespace.clone(),
            ..ObjectMeta::default()
        }
    }

    fn required_selector(&self) -> LabelSelector {
        let labels = self.selector.clone().or_else(|| {
            self.template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
        });
        LabelSelector {
            match_labels: labels,
            ..LabelSelector::default()
        }
    }
}

/// A ReplicationController (v1).
pub fn replication_controller(w: &WorkloadInput) -> ReplicationController {
    ReplicationController {
        metadata: w.metadata(),
        spec: Some(ReplicationControllerSpec {
            replicas: Some(w.replicas),
            selector: w.selector.clone(),
            template: Some(w.template.clone()),
            ..ReplicationControllerSpec::default()
        }),
        status: None,
    }
}

/// A ReplicaSet (apps/v1).
pub fn replica_set(w: &WorkloadInput) -> ReplicaSet {
    ReplicaSet {
        metadata: w.metadata(),
        spec: Some(ReplicaSetSpec {
            replicas: Some(w.replicas),
            selector: w.required_selector(),
            template: Some(w.template.clone()),
            ..ReplicaSetSpec::default()
        }),
        status: None,
    }
}

/// A Deployment (apps/v1). `opts` must have passed [`DeploymentOptions::check`].
pub fn deployment(w: &WorkloadInput, opts: &DeploymentOptions) -> Deployment {
    Deployment {
        metadata: w.metadata(),
        spec: Some(DeploymentSpec {
            replicas: Some(w.replicas),
            selector: w.required_selector(),
            template: w.template.clone(),
            strategy: opts.strategy(),
            min_ready_seconds: opts.min_ready_seconds,
            revision_history_limit: opts.revision_history_limit,
            progress_deadline_seconds: opts.progress_deadline_seconds,
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

/// The controller of the chosen kind (Deployment settings apply to Deployments only).
pub fn workload(kind: Workload, w: &WorkloadInput, opts: &DeploymentOptions) -> Object {
    match kind {
        Workload::ReplicationController => replication_controller(w).into(),
        Workload::ReplicaSet => replica_set(w).into(),
        Workload::Deployment => deployment(w, opts).into(),
    }
}
