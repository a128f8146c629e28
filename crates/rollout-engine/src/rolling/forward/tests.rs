//! Unit tests of the rolling update's pure helpers.

use super::*;
use std::time::Duration;

use rollout_plan::Strategy;

use crate::model::new_rc::{ImageChange, derive_from_image};

fn request() -> RollingUpdate {
    RollingUpdate {
        old_name: "kubia-v1".into(),
        new_name: Some("kubia-v2".into()),
        source: Some(NewSource::Image(ImageChange {
            image: "luksa/kubia:v2".parse().expect("a valid image reference"),
            container: None,
            pull_policy: None,
        })),
        deployment_label_key: "deployment".into(),
        strategy: Strategy::kubectl(),
        update_period: Duration::from_secs(60),
        rollback: false,
        dry_run: false,
        failure: Default::default(),
        force: false,
        validation: Default::default(),
    }
}

fn request_with(change: impl FnOnce(&mut RollingUpdate)) -> RollingUpdate {
    let mut r = request();
    change(&mut r);
    r
}

fn message(req: &RollingUpdate) -> Option<String> {
    validate(req).err().map(|e| e.to_string())
}

#[test]
fn validation_of_the_request() {
    assert_eq!(message(&request()), None);
    let mut r = request();
    r.source = None;
    assert_eq!(
        message(&r).as_deref(),
        Some("Must specify --filename or --image for new controller")
    );
    r.rollback = true;
    assert_eq!(message(&r), None);
    assert_eq!(
        message(&request_with(|r| r.rollback = true)).as_deref(),
        Some("Don't specify --filename or --image on rollback")
    );
    let mut r = request();
    r.deployment_label_key.clear();
    assert!(message(&r).is_some_and(|m| m.contains("--deployment-label-key")));
    let mut r = request();
    r.new_name = Some("kubia-v1".into());
    assert_eq!(
        message(&r).as_deref(),
        Some("kubia-v1 cannot have the same name as the existing ReplicationController kubia-v1")
    );
    let mut r = request();
    r.strategy.max_unavailable = rollout_plan::IntOrPercent::Percent(150);
    assert!(message(&r).is_some_and(|m| m.contains("100%")));
}

#[test]
fn existing_target_must_belong_to_this_update() {
    let old = new_rc::tests::tutorial_rc();
    let req = request();
    let derived = derive_from_image(
        &old,
        &ImageChange {
            image: "luksa/kubia:v2".parse().expect("a valid image reference"),
            container: None,
            pull_policy: None,
        },
        "deployment",
        Some("kubia-v2"),
    );
    let Ok(derived) = derived else {
        panic!("derive")
    };
    let ours = new_rc::for_creation(&derived, &old);
    assert!(check_existing(&ours, &old, &req).is_ok());

    let mut other_image = req.clone();
    other_image.source = Some(NewSource::Image(ImageChange {
        image: "luksa/kubia:v3".parse().expect("a valid image reference"),
        container: None,
        pull_policy: None,
    }));
    assert_eq!(
        check_existing(&ours, &old, &other_image)
            .err()
            .map(|e| e.to_string())
            .as_deref(),
        Some(
            "Found existing in-progress update to image (luksa/kubia:v2). Either continue in-progress update with --image=luksa/kubia:v2 or rollback with --rollback"
        )
    );

    let mut unrelated = ours.clone();
    unrelated.metadata.annotations = None;
    assert!(
        check_existing(&unrelated, &old, &req)
            .err()
            .is_some_and(|e| e
                .to_string()
                .contains("is not part of an update from kubia-v1"))
    );

    let mut recreated_old = old.clone();
    recreated_old.metadata.uid = Some("uid-2".into());
    assert!(check_existing(&ours, &recreated_old, &req).is_err());
}
