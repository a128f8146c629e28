//! Unit tests of blue-green's pure helpers.

use super::*;
use k8s_openapi::api::core::v1::ServiceSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn service(selector: &[(&str, &str)], annotations: &[(&str, &str)]) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some("kubia".into()),
            annotations: Some(
                annotations
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(
                selector
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

#[test]
fn switch_state_and_selection() {
    let rc = crate::model::new_rc::tests::tutorial_rc();
    let s = service(&[("app", "kubia")], &[]);
    assert!(service_selects(&s, &rc));
    assert_eq!(SwitchState::of(&s), None);
    let other = service(&[("app", "other")], &[]);
    assert!(!service_selects(&other, &rc));
    let switched = service(
        &[("app", "kubia"), ("deployment", "h")],
        &[
            (BLUE_GREEN_ACTIVE, "kubia-v2"),
            (BLUE_GREEN_STANDBY, "kubia-v1"),
        ],
    );
    let state = SwitchState::of(&switched);
    assert_eq!(
        state,
        Some(SwitchState {
            active: "kubia-v2".into(),
            standby: "kubia-v1".into()
        })
    );
    assert!(state.is_some_and(|s| s.involves("kubia-v1") && !s.involves("kubia-v3")));
    assert_eq!(names_suffix(&[]), "");
    assert_eq!(names_suffix(&["a".into(), "b".into()]), " between a and b");
}
