//! Every generated document deserialises back into its k8s-openapi type and equals the
//! object it was rendered from: the YAML is a faithful rendering, not an approximation.

mod common;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ReplicationController, Service};
use kubia_manifests::{Object, to_yaml};
use serde::Deserialize;

fn parse_like(template: &Object, doc: serde_yaml::Deserializer<'_>) -> Object {
    match template {
        Object::ReplicationController(_) => ReplicationController::deserialize(doc).unwrap().into(),
        Object::ReplicaSet(_) => ReplicaSet::deserialize(doc).unwrap().into(),
        Object::Deployment(_) => Deployment::deserialize(doc).unwrap().into(),
        Object::Service(_) => Service::deserialize(doc).unwrap().into(),
    }
}

#[test]
fn every_document_round_trips() {
    let mut count = 0;
    for m in common::all_manifests() {
        let yaml = to_yaml(&m.objects).unwrap();
        let docs: Vec<_> = serde_yaml::Deserializer::from_str(&yaml).collect();
        assert_eq!(docs.len(), m.objects.len(), "{}", m.file_name);
        for (object, doc) in m.objects.iter().zip(docs) {
            assert_eq!(
                &parse_like(object, doc),
                object,
                "{}: {:?}",
                m.file_name,
                object.name()
            );
            count += 1;
        }
    }
    assert!(count > 40, "only {count} objects checked");
}

#[test]
fn rendering_is_deterministic() {
    for m in common::all_manifests() {
        assert_eq!(m.to_yaml().unwrap(), m.to_yaml().unwrap());
    }
}
