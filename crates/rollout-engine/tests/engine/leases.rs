//! One engine per update: the Leases, judged by this process's clock and never by the
//! holder's, taken for every RC a command writes, and lost without another write.

use crate::support::*;

const V1: &str = "rolling-update.kubia-v1";

/// A Lease of another engine, renewed `secs_ago` by its clock, valid `duration` seconds.
fn foreign(secs_ago: i64, duration: i64) -> serde_json::Value {
    let mut lease = lease_of("other-host/4242", secs_ago);
    lease["spec"]["leaseDurationSeconds"] = duration.into();
    lease
}

fn warnings(sink: &RecordingSink) -> Vec<String> {
    sink.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Warning(w) => Some(w),
            _ => None,
        })
        .collect()
}

/// Whatever the holder's `renewTime` says (long ago, or in our future: a skewed clock), a
/// Lease is taken over only after this process saw it unchanged for its duration; the
/// update then completes and deletes the Lease.
#[tokio::test]
async fn an_unrenewed_lease_is_taken_over_once_seen_unchanged_for_its_duration() {
    for renewed_secs_ago in [31, -3600] {
        let fake = tutorial_cluster();
        fake.with(|s| s.leases.insert(V1.into(), foreign(renewed_secs_ago, 2)));
        let (ctx, sink) = ctx(&fake);
        let started = std::time::Instant::now();
        let result =
            rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
        assert!(result.is_ok(), "{:?}", result.err());
        assert!(
            started.elapsed() >= Duration::from_secs(2),
            "taken before its duration"
        );
        let w = warnings(&sink);
        assert!(
            w.iter()
                .any(|w| w.contains("watching it for 2s before taking it over")),
            "{w:?}"
        );
        fake.with(|s| {
            let me = rollout_engine::lease::identity();
            let first = s.lease_holders.first().cloned().unwrap_or_default();
            assert!(
                first.starts_with(&format!("{me}.")),
                "{me}: {:?}",
                s.lease_holders
            );
            assert!(s.leases.is_empty(), "lease left behind: {:?}", s.leases);
        });
    }
}

/// A Lease that looks long expired by the clocks but that its holder keeps renewing is
/// never taken: the engine refuses, naming the holder, and changes nothing.
#[tokio::test]
async fn a_lease_its_holder_renews_is_never_taken_whatever_the_clocks_say() {
    let fake = tutorial_cluster();
    fake.with(|s| s.leases.insert(V1.into(), foreign(3600, 3)));
    let before = fake.with(|s| (s.rcs.clone(), s.pods.clone()));
    let holder = fake.clone();
    let renewing = tokio::spawn(async move {
        for version in 100..130 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            holder.with(|s| {
                if let Some(l) = s.leases.get_mut(V1) {
                    l["metadata"]["resourceVersion"] = version.to_string().into();
                }
            });
        }
    });
    let message = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    renewing.abort();
    assert_eq!(
        message,
        "replicationcontroller kubia-v1 is being updated by another engine: held by other-host/4242 (Lease rolling-update.kubia-v1, renewed while we watched it)"
    );
    assert!(
        before == fake.with(|s| (s.rcs.clone(), s.pods.clone())),
        "changed"
    );
    fake.with(|s| assert_eq!(s.leases[V1]["spec"]["holderIdentity"], "other-host/4242"));
}

/// An engine whose Lease another engine took over stops before its next change once its
/// renewal finds the Lease taken, and says how to resume; it leaves the Lease to the new
/// holder.
#[tokio::test]
async fn a_lease_taken_over_stops_the_engine_before_its_next_change() {
    let fake = tutorial_cluster();
    let (ctx, _sink) = ctx(&fake);
    let req = RollingUpdate {
        update_period: Duration::from_secs(4),
        ..request(Some("kubia-v2"), "luksa/kubia:v2")
    };
    // Once the update is under way, another engine takes the Lease.
    let thief = async {
        for _ in 0..400 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let stolen = fake.with(|s| {
                if s.replicas("kubia-v2") != Some(1) {
                    return None;
                }
                let lease = s.leases.get_mut(V1)?;
                lease["spec"]["holderIdentity"] = "thief/1".into();
                lease["metadata"]["resourceVersion"] = "999999".into();
                Some(s.log.len())
            });
            if stolen.is_some() {
                return stolen;
            }
        }
        None
    };
    let (result, stolen_at) = tokio::join!(rollout_engine::rolling::run(&ctx, &req), thief);
    let stolen_at = stolen_at.expect("the update reached kubia-v2=1");
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with(
            "lease rolling-update.kubia-v1 was taken over by thief/1; stopped before the next change; resume with: "
        ),
        "{message}"
    );
    fake.with(|s| {
        // The holder learns of the theft at its next renewal (a read of its Lease, every
        // 10 s); from then on it changes nothing.
        let lease_path = format!("GET /apis/coordination.k8s.io/v1/namespaces/test/leases/{V1}");
        let noticed = s.log[stolen_at..]
            .iter()
            .position(|l| l.starts_with(&lease_path))
            .map(|i| stolen_at + i)
            .expect("a renewal read the Lease after the theft");
        let writes: Vec<&String> = s.log[noticed..]
            .iter()
            .filter(|l| {
                !l.starts_with("GET ") && !l.starts_with("WATCH ") && !l.contains("/leases")
            })
            .collect();
        assert!(
            writes.is_empty(),
            "written after the Lease was lost: {writes:?}"
        );
        assert_eq!(s.leases[V1]["spec"]["holderIdentity"], "thief/1");
    });
}

/// `kubia-v2 -> kubia-v3` while `kubia-v1 -> kubia-v2` runs: the running update holds the
/// new RC's Lease too, so the second is refused naming it.
#[tokio::test]
async fn the_new_rc_of_a_running_update_cannot_be_updated_meanwhile() {
    let fake = tutorial_cluster();
    let (ctx, _sink) = ctx(&fake);
    let first = RollingUpdate {
        update_period: Duration::from_secs(1),
        ..request(Some("kubia-v2"), "luksa/kubia:v2")
    };
    let second = async {
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if fake.with(|s| s.leases.contains_key("rolling-update.kubia-v2")) {
                break;
            }
        }
        let second = RollingUpdate {
            old_name: "kubia-v2".into(),
            ..request(Some("kubia-v3"), "luksa/kubia:v3")
        };
        run(&fake, &second).await
    };
    let (result, refused) = tokio::join!(rollout_engine::rolling::run(&ctx, &first), second);
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with(
            "replicationcontroller kubia-v2 is being updated by another engine: held by "
        ) && message.contains("(Lease rolling-update.kubia-v2,"),
        "{message}"
    );
    assert!(result.is_ok(), "{:?}", result.err());
    fake.with(|s| {
        assert!(s.rc("kubia-v3").is_none());
        assert!(s.leases.is_empty(), "{:?}", s.leases);
    });
}

/// `canary promote|abort` and `blue-green switch-back|cleanup` write, so they take the
/// Leases of both RCs: each is refused while another engine holds one.
#[tokio::test]
async fn every_command_that_writes_takes_the_leases() {
    let fake = tutorial_cluster();
    let (ctx, _) = ctx(&fake);
    let start = v1_to_v2_canary(vec![IntOrPercent::Percent(50)]);
    canary::start(&ctx, &start).await.expect("canary started");
    fake.with(|s| s.leases.insert(V1.into(), foreign(1, 30)));
    let before = fake.with(|s| (s.rcs.clone(), s.pods.clone()));
    let refused = |r: Result<(), EngineError>| {
        let m = r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            m.contains("is being updated by another engine: held by other-host/4242"),
            "{m}"
        );
    };
    refused(canary::promote(&ctx, &CanaryRef::default()).await);
    refused(canary::abort(&ctx, &CanaryRef::default()).await);
    assert!(
        before == fake.with(|s| (s.rcs.clone(), s.pods.clone())),
        "changed"
    );
    fake.with(|s| s.leases.clear());
    canary::abort(&ctx, &CanaryRef::default())
        .await
        .expect("aborted");

    fake.add_service("kubia");
    blue_green::deploy(&ctx, &v1_to_v2_blue_green())
        .await
        .expect("switched");
    fake.with(|s| {
        let mut lease = foreign(1, 30);
        lease["metadata"]["name"] = "rolling-update.kubia-v2".into();
        s.leases.insert("rolling-update.kubia-v2".into(), lease);
    });
    let before = fake.with(|s| (s.rcs.clone(), s.services.clone()));
    refused(blue_green::switch_back(&ctx, &BlueGreenRef::default()).await);
    refused(blue_green::cleanup(&ctx, &BlueGreenRef::default()).await);
    assert!(
        before == fake.with(|s| (s.rcs.clone(), s.services.clone())),
        "changed"
    );
}
