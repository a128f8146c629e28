//! The tutorial's `kubia-v1.yaml` must come out as the book has it.

use kubia_manifests::{Params, tutorial};
use serde::Deserialize;
use serde_yaml::Value;

/// The tutorial's `kubia-v1.yaml` (the one oracle).
const SEED_KUBIA_V1_YAML: &str = tutorial_oracle::KUBIA_V1_YAML;

fn documents(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|d| Value::deserialize(d).expect("valid YAML"))
        .collect()
}

#[test]
fn tutorial_equals_the_seed_as_yaml() {
    let generated = tutorial(&Params::default()).unwrap().to_yaml().unwrap();
    let expected = documents(SEED_KUBIA_V1_YAML);
    assert_eq!(expected.len(), 2);
    assert_eq!(documents(&generated), expected);
}

#[test]
fn tutorial_equals_the_seed_byte_for_byte() {
    // Stronger than required: the key order of render::KEY_ORDER reproduces the book's text.
    let generated = tutorial(&Params::default()).unwrap().to_yaml().unwrap();
    assert_eq!(generated, SEED_KUBIA_V1_YAML);
}

#[test]
fn tutorial_file_name() {
    assert_eq!(
        tutorial(&Params::default()).unwrap().file_name,
        "kubia-v1.yaml"
    );
    let hardened = Params {
        hardened: true,
        ..Params::default()
    };
    assert_eq!(
        tutorial(&hardened).unwrap().file_name,
        "hardened/kubia-v1.yaml"
    );
}

#[test]
fn common_flags_change_the_tutorial() {
    let p = Params {
        name: "shop".into(),
        namespace: Some("demo".into()),
        image_repo: "localhost:5000/shop".into(),
        tag: Some("v7".into()),
        replicas: 5,
        node_port: 31000,
        ..Params::default()
    };
    let m = tutorial(&p).unwrap();
    assert_eq!(m.file_name, "shop-v7.yaml");
    let docs = documents(&m.to_yaml().unwrap());
    let rc = &docs[0];
    assert_eq!(rc["metadata"]["name"], "shop-v7");
    assert_eq!(rc["metadata"]["namespace"], "demo");
    assert_eq!(rc["spec"]["replicas"], 5);
    assert_eq!(rc["spec"]["template"]["metadata"]["labels"]["app"], "shop");
    let container = &rc["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "localhost:5000/shop:v7");
    assert!(container.get("imagePullPolicy").is_none());
    let svc = &docs[1];
    assert_eq!(svc["metadata"]["name"], "shop");
    assert_eq!(svc["metadata"]["namespace"], "demo");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 31000);
    assert_eq!(svc["spec"]["selector"]["app"], "shop");
}
