//! Every Kubernetes manifest the kubia "upgrading applications" tutorial and our tests use,
//! built as typed k8s-openapi objects and rendered as YAML.
//!
//! Typed objects (rather than YAML templates) mean a manifest cannot have a misspelt field,
//! and the validation functions apply the API server's rules before anything reaches a
//! cluster. The defaults of [`Params`] reproduce the tutorial's `kubia-v1.yaml` exactly.
//!
//! ```
//! # use kubia_manifests::{Params, tutorial};
//! let m = tutorial(&Params::default()).unwrap();
//! assert_eq!(m.file_name, "kubia-v1.yaml");
//! assert!(m.to_yaml().unwrap().contains("image: luksa/kubia:v1"));
//! ```

mod blue_green;
mod canary;
mod checked_in;
mod deployment;
mod error;
pub mod hardening;
mod int_or_percent;
mod manifest;
mod object;
mod params;
mod pod;
mod probe;
mod pull_policy;
mod render;
mod service;
mod single;
mod tutorial;
mod validate;
mod workload;

pub use blue_green::{BlueGreenOptions, Color, DEFAULT_NEW_TAG, blue_green};
pub use canary::{CanaryOptions, DEFAULT_CANARY_REPLICAS, canary};
pub use checked_in::{REGENERATE_COMMAND, checked_in, checked_in_manifests};
pub use deployment::{
    DEFAULT_PROGRESS_DEADLINE_SECONDS, DeploymentOptions, StrategyType, parse_max_surge,
    parse_max_unavailable,
};
pub use error::{Error, ValidationError};
pub use image_reference::{ImageRef, ReferenceError, validate_tag};
pub use int_or_percent::parse_int_or_percent;
pub use manifest::{HARDENED_DIR, Manifest};
pub use object::Object;
pub use params::{
    DEFAULT_IMAGE_REPO, DEFAULT_NAME, DEFAULT_NODE_PORT, DEFAULT_REPLICAS, DEFAULT_TAG, Params,
};
pub use pod::{CONTAINER_NAME, Labels, PodInput, pod_template};
pub use probe::{CONTAINER_PORT, ReadinessProbe};
pub use pull_policy::{PullPolicy, Warning, pull_policy_warning};
pub use render::{KEY_ORDER, to_yaml};
pub use service::{SERVICE_PORT, nodeport_service};
pub use single::{deployment, rc, replicaset, service};
pub use tutorial::tutorial;
pub use validate::{
    NODE_PORT_RANGE, validate_dns1035_label, validate_dns1123_label, validate_dns1123_subdomain,
    validate_label_key, validate_label_value, validate_node_port, validate_non_negative,
    validate_replicas,
};
pub use workload::{
    Workload, WorkloadInput, deployment as deployment_object, replica_set, replication_controller,
    workload,
};
