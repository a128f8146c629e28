//! Unit tests of deriving the new RC: names, hashes pinned to kubectl's, labels, images.

use super::*;
use k8s_fixtures::RcFixture;

/// The tutorial's RC as read back: kubia-v1, 3 replicas, app=kubia, container nodejs, with
/// the uid, resourceVersion and annotation the pinned hashes below were computed with.
pub(crate) fn tutorial_rc() -> ReplicationController {
    ReplicationController::test()
        .in_namespace("default")
        .uid("uid-1")
        .resource_version("100")
        .annotated("kubernetes.io/change-cause", "tutorial")
}

fn v2() -> ImageChange {
    ImageChange {
        image: "luksa/kubia:v2".parse().expect("a valid image reference"),
        container: None,
        pull_policy: None,
    }
}

fn sel(rc: &ReplicationController) -> String {
    labels::selector_string(&rc_selector(rc))
}

#[test]
fn derives_the_tutorials_kubia_v2() {
    let old = tutorial_rc();
    let d = derive_from_image(&old, &v2(), "deployment", Some("kubia-v2"));
    let Ok(d) = d else {
        panic!("derive failed: {d:?}");
    };
    assert_eq!(d.desired, 3);
    assert_eq!(name_of(&d.rc), "kubia-v2");
    assert_eq!(d.rc.metadata.resource_version, None);
    assert_eq!(d.rc.metadata.uid, None);
    assert_eq!(target_image(&d.rc, None), "luksa/kubia:v2");
    let hash = labels::rc_selector(&d.rc)
        .get("deployment")
        .cloned()
        .unwrap_or_default();
    assert_eq!(hash.len(), 32);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(sel(&d.rc), format!("app=kubia,deployment={hash}"));
    assert_eq!(
        labels::template_labels(&d.rc).get("deployment"),
        Some(&hash)
    );
    let created = for_creation(&d, &old);
    assert_eq!(created.spec.as_ref().and_then(|s| s.replicas), Some(0));
    let ann = created.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        ann.get(annotations::DESIRED_REPLICAS).map(String::as_str),
        Some("3")
    );
    assert_eq!(
        ann.get(annotations::UPDATE_SOURCE_ID).map(String::as_str),
        Some("kubia-v1:uid-1")
    );
    assert_eq!(
        ann.get("kubernetes.io/change-cause").map(String::as_str),
        Some("tutorial")
    );
}

#[test]
fn unnamed_new_rc_is_old_dash_hash_and_hash_is_stable() {
    let old = tutorial_rc();
    let a = derive_from_image(&old, &v2(), "deployment", None).map(|d| d.rc);
    let b = derive_from_image(&old, &v2(), "deployment", None).map(|d| d.rc);
    let (Ok(a), Ok(b)) = (a, b) else {
        panic!("derive failed")
    };
    assert_eq!(name_of(&a), name_of(&b));
    let hash = rc_selector(&a)
        .get("deployment")
        .cloned()
        .unwrap_or_default();
    assert_eq!(name_of(&a), format!("kubia-v1-{hash}"));
    // Another resourceVersion (another attempt) gives another hash, as in kubectl.
    let mut later = old.clone();
    later.metadata.resource_version = Some("101".into());
    let c = derive_from_image(&later, &v2(), "deployment", None).map(|d| d.rc);
    assert_ne!(
        c.map(|c| name_of(&c).to_owned()).ok(),
        Some(name_of(&a).to_owned())
    );
    // The values themselves are pinned to kubectl's in `hashes_are_kubectls`.
    assert_eq!(orig_label_value(&old), format!("{}-orig", rc_hash(&old)));
}

/// The tutorial's kubia-v1 as a v1.34 API server returns it (uid, resourceVersion,
/// managedFields, defaulted fields, status).
fn fetched_kubia_v1() -> ReplicationController {
    let json = include_str!("../../../tests/fixtures/kubia-v1-rc.json");
    match serde_json::from_str(json) {
        Ok(rc) => rc,
        Err(e) => panic!("fixture: {e}"),
    }
}

// Printed by kubectl 1.17's own Go code (tools/kubectl-1.17/cmd/kubectl-hash: kubectl's
// scheme, LegacyCodec, HashObject; k8s.io/kubectl, api and apimachinery v0.17.17, the
// release whose `rolling-update` we reproduce), not by our encoder:
//
//     cd tools/kubectl-1.17
//     F=../../crates/rollout-engine/tests/fixtures/kubia-v1-rc.json
//     go run ./cmd/kubectl-hash $F                                             # KUBIA_V1
//     go run ./cmd/kubectl-hash -image luksa/kubia:v2 $F                       # KUBIA_V1_WITH_V2
//     go run ./cmd/kubectl-hash -image luksa/kubia:v1 -pull-policy Always $F   # KUBIA_V1_ALWAYS
//
// (Until v0.17.17 was pinned they came from v0.34.4, whose decoder keeps fields 1.17 does not
// know: every hash differed from what kubectl 1.17 printed for the same RC.)

/// `HashObject` of kubia-v1 as fetched: the old RC's `<hash>-orig` label.
const KUBIA_V1: &str = "58ec1fbb06286eab11fdbdb4a7fe32be";
/// `HashObject` of kubia-v1 as fetched with image `luksa/kubia:v2`: the new RC's hash.
const KUBIA_V1_WITH_V2: &str = "8633c1689ab374b85dd1d771590a3d08";
/// The same image with `--image-pull-policy Always`.
const KUBIA_V1_ALWAYS: &str = "db2ce4adf49adda5faf4fa40dcf1e8ba";

#[test]
fn hashes_are_kubectls() {
    let old = fetched_kubia_v1();
    assert_eq!(rc_hash(&old), KUBIA_V1);
    assert_eq!(orig_label_value(&old), format!("{KUBIA_V1}-orig"));

    // The new RC's hash is taken on the old RC as fetched, with the new image set.
    let d = derive_from_image(&old, &v2(), "deployment", None);
    let Ok(d) = d else { panic!("{d:?}") };
    assert_eq!(name_of(&d.rc), format!("kubia-v1-{KUBIA_V1_WITH_V2}"));
    assert_eq!(
        rc_selector(&d.rc).get("deployment").map(String::as_str),
        Some(KUBIA_V1_WITH_V2)
    );
    assert_eq!(
        labels::template_labels(&d.rc)
            .get("deployment")
            .map(String::as_str),
        Some(KUBIA_V1_WITH_V2)
    );
    // A name given on the command line changes the name only.
    let named = derive_from_image(&old, &v2(), "deployment", Some("kubia-v2"));
    assert_eq!(
        named
            .map(|d| rc_selector(&d.rc).get("deployment").cloned())
            .ok()
            .flatten()
            .as_deref(),
        Some(KUBIA_V1_WITH_V2)
    );

    let always = ImageChange {
        image: "luksa/kubia:v1".parse().expect("a valid image reference"),
        container: None,
        pull_policy: Some(PullPolicy::Always),
    };
    let d = derive_from_image(&old, &always, "deployment", None);
    assert_eq!(
        d.map(|d| name_of(&d.rc).to_owned()).ok().as_deref(),
        Some(format!("kubia-v1-{KUBIA_V1_ALWAYS}").as_str())
    );
}

#[test]
fn old_annotations_of_an_earlier_update_are_not_copied() {
    let mut old = tutorial_rc();
    old.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .extend([
            (annotations::NEXT_CONTROLLER_ID.to_owned(), "x".to_owned()),
            (annotations::ORIGINAL_REPLICAS.to_owned(), "3".to_owned()),
            (annotations::CANARY_NEXT.to_owned(), "y".to_owned()),
        ]);
    let d = derive_from_image(&old, &v2(), "deployment", Some("kubia-v2"));
    let ann = d
        .map(|d| d.rc.metadata.annotations.unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(ann.len(), 1, "{ann:?}");
}

#[test]
fn refuses_bad_input() {
    let old = tutorial_rc();
    let err = |r: Result<Derived>| r.err().map(|e| e.to_string()).unwrap_or_default();
    let same = ImageChange {
        image: "luksa/kubia:v1".parse().expect("a valid image reference"),
        ..v2()
    };
    assert!(
        err(derive_from_image(&old, &same, "deployment", None)).contains("--image-pull-policy")
    );
    let same_policy = ImageChange {
        pull_policy: Some(PullPolicy::IfNotPresent),
        ..same.clone()
    };
    assert!(
        err(derive_from_image(&old, &same_policy, "deployment", None))
            .contains("nothing to update")
    );
    let new_policy = ImageChange {
        pull_policy: Some(PullPolicy::Always),
        ..same
    };
    assert!(derive_from_image(&old, &new_policy, "deployment", None).is_ok());
    let no_container = ImageChange {
        container: Some("sidecar".into()),
        ..v2()
    };
    assert_eq!(
        err(derive_from_image(&old, &no_container, "deployment", None)),
        "container \"sidecar\" not found in the pod template of replicationcontroller kubia-v1 (containers: nodejs)"
    );
    assert!(err(derive_from_image(&old, &v2(), "", None)).contains("--deployment-label-key"));
    assert!(
        err(derive_from_image(
            &old,
            &v2(),
            "deployment",
            Some("kubia-v1")
        ))
        .contains("cannot have the same name")
    );

    let mut two = tutorial_rc();
    if let Some(spec) = two
        .spec
        .as_mut()
        .and_then(|s| s.template.as_mut())
        .and_then(|t| t.spec.as_mut())
    {
        spec.containers.push(Container {
            name: "sidecar".into(),
            image: Some("busybox".into()),
            ..Container::default()
        });
    }
    assert!(
        err(derive_from_image(&two, &v2(), "deployment", None)).contains("must specify container")
    );
    let chosen = ImageChange {
        container: Some("sidecar".into()),
        ..v2()
    };
    let d = derive_from_image(&two, &chosen, "deployment", None);
    assert_eq!(
        d.as_ref()
            .map(|d| containers(&d.rc)[1].image.clone())
            .ok()
            .flatten()
            .as_deref(),
        Some("luksa/kubia:v2")
    );
    assert_eq!(
        d.map(|d| target_image(&d.rc, Some("nodejs")).to_owned())
            .ok()
            .as_deref(),
        Some("luksa/kubia:v1")
    );

    let mut mismatched = tutorial_rc();
    if let Some(s) = mismatched.spec.as_mut() {
        s.selector = Some([("app".to_owned(), "other".to_owned())].into());
    }
    assert!(
        err(derive_from_image(&mismatched, &v2(), "deployment", None))
            .contains("does not match its pod template labels")
    );
}

#[test]
fn from_file() {
    let old = tutorial_rc();
    let mut file = tutorial_rc();
    file.metadata = ObjectMeta {
        name: Some("kubia-v2".into()),
        ..ObjectMeta::default()
    };
    if let Some(s) = file.spec.as_mut() {
        s.replicas = None;
        s.selector = None;
    }
    // The same selector as the old RC: refused with kubectl's message.
    assert_eq!(
        derive_from_file(&old, &file, "kubia-v2.yaml", "deployment")
            .err()
            .map(|e| e.to_string())
            .as_deref(),
        Some(
            "kubia-v2.yaml must specify a matching key with non-equal value in Selector for kubia-v1"
        )
    );
    // A file whose selector differs keeps it as it is.
    let mut versioned = file.clone();
    if let Some(s) = versioned.spec.as_mut() {
        s.replicas = Some(5);
        let l: BTreeMap<String, String> = [("app".to_owned(), "other".to_owned())].into();
        s.selector = Some(l.clone());
        if let Some(m) = s.template.as_mut().and_then(|t| t.metadata.as_mut()) {
            m.labels = Some(l);
        }
    }
    let d = derive_from_file(&old, &versioned, "kubia-v2.yaml", "deployment");
    assert_eq!(d.as_ref().map(|d| d.desired).ok(), Some(5));
    assert_eq!(d.map(|d| sel(&d.rc)).ok().as_deref(), Some("app=other"));
    // The old RC itself, edited: `<old>-<hash>` with the hash label, renamed at the end.
    let mut same = file;
    same.metadata.name = Some("kubia-v1".into());
    let d = derive_from_file(&old, &same, "kubia-v1.yaml", "deployment");
    let Ok(d) = d else { panic!("{d:?}") };
    assert!(
        name_of(&d.rc).starts_with("kubia-v1-"),
        "{}",
        name_of(&d.rc)
    );
    assert_eq!(d.desired, 3);
    assert!(rc_selector(&d.rc).contains_key("deployment"));
}

#[test]
fn prepared_old_gets_annotations_and_orig_label() {
    let old = tutorial_rc();
    let p = prepared_old(&old, "kubia-v2", "deployment", "abc-orig");
    assert_eq!(sel(&p), "app=kubia,deployment=abc-orig");
    let ann = p.metadata.annotations.unwrap_or_default();
    assert_eq!(
        ann.get(annotations::NEXT_CONTROLLER_ID).map(String::as_str),
        Some("kubia-v2")
    );
    assert_eq!(
        ann.get(annotations::ORIGINAL_REPLICAS).map(String::as_str),
        Some("3")
    );
    // An RC that already has the key (e.g. kubia-v2 updated again) keeps its value.
    let mut second = tutorial_rc();
    set_deployment_label(&mut second, "deployment", "h2");
    let p = prepared_old(&second, "kubia-v3", "deployment", "zzz-orig");
    assert_eq!(sel(&p), "app=kubia,deployment=h2");
}
