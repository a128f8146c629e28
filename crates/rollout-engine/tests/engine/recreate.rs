//! The recreate method: all old pods go, then all new pods come.

use crate::support::*;

#[tokio::test]
async fn recreate_replaces_all_pods() {
    let fake = tutorial_cluster();
    let (ctx, sink) = ctx(&fake);
    let req = Recreate {
        rc_name: "kubia-v1".into(),
        change: image("luksa/kubia:v2"),
        min_ready_seconds: 0,
        failure: Default::default(),
        force: false,
    };
    let result = recreate::run(&ctx, &req).await;
    assert!(result.is_ok(), "{result:?}");
    let lines = sink.lines();
    assert_eq!(
        lines[0],
        "replicationcontroller/kubia-v1 image updated to luksa/kubia:v2"
    );
    assert!(
        lines[1].starts_with("Deleting 3 old pods of kubia-v1: "),
        "{lines:?}"
    );
    assert_eq!(
        lines[2],
        "replicationcontroller/kubia-v1 recreated with image luksa/kubia:v2"
    );
    fake.with(|s| {
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]);
        assert!(s.annotations("kubia-v1").is_empty());
    });
}
