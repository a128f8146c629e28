//! The canary method: paused at a share, then promoted or aborted.

use crate::support::*;

#[tokio::test]
async fn canary_pauses_then_promotes_or_aborts() {
    let fake = tutorial_cluster();
    let (ctx, sink) = ctx(&fake);
    let start = v1_to_v2_canary(vec![IntOrPercent::Percent(25), IntOrPercent::Percent(50)]);
    let result = canary::start(&ctx, &start).await;
    assert!(result.is_ok(), "{result:?}");
    fake.with(|s| {
        assert_eq!(
            (s.replicas("kubia-v1"), s.replicas("kubia-v2")),
            (Some(2), Some(1))
        )
    });
    let lines = sink.lines();
    assert_eq!(
        &lines[..4],
        [
            "Created kubia-v2",
            "Canary step 1/3: 1 of 3 pods on kubia-v2",
            "Scaling kubia-v2 up to 1",
            "Scaling kubia-v1 down to 2"
        ]
    );
    assert!(
        lines[4].starts_with("Canary paused at step 1/3"),
        "{lines:?}"
    );

    // Rerunning the start command stays paused at the same step, without announcing or
    // scaling it again.
    let before = sink.lines().len();
    assert!(canary::start(&ctx, &start).await.is_ok());
    let rerun = sink.lines()[before..].to_vec();
    assert!(
        !rerun
            .iter()
            .any(|l| l.starts_with("Canary step") || l.starts_with("Scaling")),
        "{rerun:?}"
    );
    fake.with(|s| {
        assert_eq!(
            (s.replicas("kubia-v1"), s.replicas("kubia-v2")),
            (Some(2), Some(1))
        )
    });

    let abort = canary::abort(&ctx, &CanaryRef::default()).await;
    assert!(abort.is_ok(), "{abort:?}");
    fake.with(|s| {
        assert_eq!(s.rcs.keys().collect::<Vec<_>>(), vec!["kubia-v1"]);
        assert_eq!(s.replicas("kubia-v1"), Some(3));
        assert!(s.annotations("kubia-v1").is_empty());
    });

    assert!(canary::start(&ctx, &start).await.is_ok());
    let promote = canary::promote(
        &ctx,
        &CanaryRef {
            names: vec!["kubia-v2".into()],
            ..CanaryRef::default()
        },
    )
    .await;
    assert!(promote.is_ok(), "{promote:?}");
    fake.with(|s| {
        assert_eq!(s.rcs.keys().collect::<Vec<_>>(), vec!["kubia-v2"]);
        assert_eq!(s.replicas("kubia-v2"), Some(3));
        assert!(s.annotations("kubia-v2").is_empty());
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]);
    });
    assert!(matches!(
        rollout_engine::status::run(&ctx, None).await.as_deref(),
        Ok([])
    ));
}
