//! Watches wake the waits long before the poll interval; refused watches fall back to polling.

use crate::support::*;

#[tokio::test]
async fn watch_events_wake_the_rolling_update_long_before_the_poll_interval() {
    let fake = tutorial_cluster();
    fake.with(|s| s.ready_delay = Some(Duration::from_millis(30)));
    let (ctx, sink) = ctx_polling(&fake, Duration::from_secs(3600));
    let started = std::time::Instant::now();
    let req = request(Some("kubia-v2"), "luksa/kubia:v2");
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        rollout_engine::rolling::run(&ctx, &req),
    )
    .await
    .expect("woken by events, not by the 1h poll interval");
    assert_eq!(rendered(&sink, result), tutorial());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    fake.with(|s| {
        assert!(
            s.log
                .iter()
                .any(|l| l.starts_with("WATCH ") && l.ends_with("/pods"))
        );
        assert!(
            s.log
                .iter()
                .any(|l| l.starts_with("WATCH ") && l.ends_with("/replicationcontrollers"))
        );
        assert_eq!(s.min_ready_seen, Some(3), "maxUnavailable 0 still holds");
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]);
    });
}

#[tokio::test]
async fn watch_events_wake_recreate_and_blue_green_waits() {
    let fake = tutorial_cluster();
    fake.add_service("kubia");
    fake.with(|s| s.ready_delay = Some(Duration::from_millis(30)));
    let (ctx, _sink) = ctx_polling(&fake, Duration::from_secs(3600));
    let req = Recreate {
        rc_name: "kubia-v1".into(),
        change: image("luksa/kubia:v2"),
        min_ready_seconds: 0,
        failure: Default::default(),
        force: false,
    };
    let result = tokio::time::timeout(Duration::from_secs(10), recreate::run(&ctx, &req))
        .await
        .expect("recreate woken by events");
    assert!(result.is_ok(), "{result:?}");
    fake.with(|s| assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]));
    // Blue-green's wait for the new pods, with the same 1 h poll interval.
    let bg = BlueGreen {
        pair: SideBySide {
            new_name: "kubia-v3".into(),
            change: image("luksa/kubia:v3"),
            ..v1_beside_v2()
        },
        ..v1_to_v2_blue_green()
    };
    let result = tokio::time::timeout(Duration::from_secs(10), blue_green::deploy(&ctx, &bg))
        .await
        .expect("blue-green woken by events");
    assert!(result.is_ok(), "{result:?}");
    fake.with(|s| {
        assert_eq!(s.replicas("kubia-v3"), Some(3));
        assert!(
            s.pods
                .values()
                .filter(|p| p
                    .metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("kubia-v3-")))
                .count()
                == 3
        );
    });
}

#[tokio::test]
async fn refused_watches_fall_back_to_polling_and_resume() {
    let fake = tutorial_cluster();
    fake.with(|s| {
        s.refuse_watch = true;
        s.ready_delay = Some(Duration::from_millis(30));
    });
    // Without events, a 1h poll interval leaves the first wait asleep...
    let (ctx, _sink) = ctx_polling(&fake, Duration::from_secs(3600));
    let req = request(Some("kubia-v2"), "luksa/kubia:v2");
    let stalled = tokio::time::timeout(
        Duration::from_millis(500),
        rollout_engine::rolling::run(&ctx, &req),
    )
    .await;
    assert!(
        stalled.is_err(),
        "no watch, so nothing should wake it: {stalled:?}"
    );
    // ...while a short one polls through to the end, resuming where it stopped.
    let (ctx, sink) = ctx_polling(&fake, Duration::from_millis(20));
    let result = rollout_engine::rolling::run(&ctx, &req).await;
    let out = rendered(&sink, result);
    assert!(
        out.starts_with(
            "Found existing update in progress (kubia-v2), resuming.\nContinuing update with existing controller kubia-v2.\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("replicationcontroller/kubia-v2 rolling updated to \"kubia-v2\"\n"));
    fake.with(|s| {
        assert!(
            s.log.iter().any(|l| l.starts_with("WATCH ")),
            "watches were tried"
        );
        assert!(s.rc("kubia-v1").is_none());
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]);
        assert_eq!(s.min_ready_seen, Some(3));
    });
}

/// At scale the scale loop reads its watch caches: the pods are listed a few times in all
/// (the first observation, the caches' initial lists), not after every step, and each scale
/// is one PUT, not a GET and a PUT; maxUnavailable 0 still holds throughout.
#[tokio::test]
async fn the_scale_loop_reads_watch_caches_instead_of_listing_after_every_step() {
    let fake = Fake::new();
    fake.add_rc("kubia-v1", 12, "luksa/kubia:v1");
    fake.with(|s| {
        s.ready_delay = Some(Duration::from_millis(5));
        s.log.clear();
    });
    let (ctx, _sink) = ctx_polling(&fake, Duration::from_secs(3600));
    let req = request(Some("kubia-v2"), "luksa/kubia:v2");
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        rollout_engine::rolling::run(&ctx, &req),
    )
    .await
    .expect("woken by events");
    assert!(result.is_ok(), "{result:?}");
    fake.with(|s| {
        let count = |prefix: &str, suffix: &str| {
            s.log
                .iter()
                .filter(|l| l.starts_with(prefix) && l.ends_with(suffix))
                .count()
        };
        let pod_lists = count("GET ", "/pods");
        let rc_puts = count("PUT ", "/replicationcontrollers/kubia-v1")
            + count("PUT ", "/replicationcontrollers/kubia-v2");
        // 24 scales (12 up, 12 down) plus the set-up and clean-up writes.
        assert!(rc_puts >= 24, "{rc_puts} RC updates: {:?}", s.log);
        // One LIST for the relabelling, one for the pod watch the two RCs share.
        assert!(
            pod_lists <= 3,
            "{pod_lists} pod LISTs for 24 scales: the loop did not use its caches"
        );
        assert_eq!(
            (
                count("WATCH ", "/pods"),
                count("WATCH ", "/replicationcontrollers")
            ),
            (1, 1),
            "old and new RC share one pod watch and one RC watch: {:?}",
            s.log
        );
        let rc_gets = count("GET ", "/replicationcontrollers/kubia-v2");
        assert!(
            rc_gets <= 10,
            "{rc_gets} GETs of kubia-v2 for 12 scales: scales re-read the RC: {:?}",
            s.log
                .iter()
                .filter(|l| l.contains("kubia-v2"))
                .collect::<Vec<_>>()
        );
        assert_eq!(s.min_ready_seen, Some(12), "maxUnavailable 0 still holds");
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 12]);
    });
}
