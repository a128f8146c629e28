//! The frames and endings of `status -w`, from hand-made cluster states.

use k8s_fixtures::RcFixture;
use k8s_openapi::api::coordination::v1::LeaseSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};

use super::*;
use crate::model::annotations::{DESIRED_REPLICAS, UPDATE_SOURCE_ID};

fn rc(name: &str, uid: &str, replicas: i32, ready: i32) -> ReplicationController {
    ReplicationController::test()
        .named(name)
        .uid(uid)
        .replicas(replicas)
        .with_status(replicas, ready)
}

fn tutorial(old_replicas: i32, new_replicas: i32) -> Vec<ReplicationController> {
    let old = rc("kubia-v1", "uid-1", old_replicas, old_replicas);
    let new = rc("kubia-v2", "uid-2", new_replicas, new_replicas)
        .annotated(UPDATE_SOURCE_ID, "kubia-v1:uid-1")
        .annotated(DESIRED_REPLICAS, "3");
    vec![old, new]
}

fn lease(rc: &str, holder: &str, renewed: Timestamp, note: Option<&str>) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(crate::lease::name(rc)),
            annotations: note.map(|n| [(crate::lease::NOTE.to_owned(), n.to_owned())].into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.to_owned()),
            lease_duration_seconds: Some(30),
            renew_time: Some(MicroTime(renewed)),
            ..Default::default()
        }),
    }
}

#[test]
fn a_frame_shows_counts_bounds_driver_and_troubles() {
    let rcs = tutorial(2, 1);
    let updates = describe(&rcs, &[]);
    let [update] = updates.as_slice() else {
        panic!("{updates:?}")
    };
    let now = Timestamp::now();
    let note = "rolling-update kubia-v1 -> kubia-v2: at most 4 pods, at least 3 available";
    let leases = [lease("kubia-v2", "laptop/42", now, Some(note))];
    let mut pod = Pod::default();
    pod.metadata.name = Some("kubia-v2-abcde".into());
    pod.status = serde_json::from_value(serde_json::json!({
        "containerStatuses": [{
            "name": "nodejs", "image": "x", "imageID": "", "ready": false, "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}}
        }]
    }))
    .ok();
    let f = frame(update, &rcs, Some(&leases), &[Arc::new(pod)], now);
    assert_eq!(f.rcs.len(), 2);
    assert_eq!((f.rcs[1].name.as_str(), f.rcs[1].desired), ("kubia-v2", 1));
    assert_eq!(f.bounds.as_deref(), Some(note));
    assert_eq!(f.engine, "driven by laptop/42");
    assert_eq!(f.signals, ["kubia-v2-abcde: CrashLoopBackOff, 3 restarts"]);

    let stale = [lease(
        "kubia-v2",
        "laptop/42",
        Timestamp::UNIX_EPOCH,
        Some(note),
    )];
    let f = frame(update, &rcs, Some(&stale), &[], now);
    assert_eq!(f.engine, "no engine is driving it");
    assert_eq!(f.driven, Some(false));
    assert_eq!(f.bounds, None);
    let f = frame(update, &rcs, None, &[], now);
    assert!(
        f.engine.contains("unknown"),
        "Leases not listable: {}",
        f.engine
    );
    assert_eq!(f.driven, None);
}

#[test]
fn the_end_says_completed_renamed_or_rolled_back() {
    let rcs = tutorial(0, 3);
    let updates = describe(&rcs, &[]);
    let update = &updates[0];
    let old_template = template_of(&rcs[0]);
    let new_only = vec![rc("kubia-v2", "uid-2", 3, 3)];
    assert!(matches!(
        ending(update, &new_only, &old_template),
        Ending::Completed(_)
    ));
    let old_only = vec![rcs[0].clone()];
    let rolled = ending(update, &old_only, &old_template);
    assert!(matches!(rolled, Ending::RolledBack(_)), "{rolled:?}");
    assert!(!rolled.is_success());
    // A same-name update ends with the old RC (same name, same uid) carrying the new
    // RC's template.
    let mut renamed = rcs[0].clone();
    if let Some(t) = renamed.spec.as_mut().and_then(|s| s.template.as_mut()) {
        let labels = t
            .metadata
            .get_or_insert_with(Default::default)
            .labels
            .get_or_insert_with(Default::default);
        labels.insert(
            "deployment".into(),
            "b1512555c3695d9e0e7efd7dbac70e22".into(),
        );
    }
    let e = ending(update, &[renamed], &old_template);
    assert!(e.is_success() && e.message().contains("renamed"), "{e:?}");
}

#[test]
fn a_rollback_listed_twice_is_one_update_and_wins() {
    let forward = UpdateInfo {
        method: "rolling-update",
        rcs: vec!["kubia-v1".into(), "kubia-v2".into()],
        line: "forward".into(),
    };
    let rollback = UpdateInfo {
        method: "rollback",
        rcs: vec!["kubia-v2".into(), "kubia-v1".into()],
        line: "back".into(),
    };
    let other = UpdateInfo {
        method: "canary",
        rcs: vec!["a".into(), "b".into()],
        line: "canary".into(),
    };
    let m = merged(vec![forward, other.clone(), rollback.clone()]);
    assert_eq!(m, [rollback, other]);
    assert!(driven_to_the_end("rolling-update") && !driven_to_the_end("canary"));
}
