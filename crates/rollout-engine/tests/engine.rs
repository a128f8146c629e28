//! The engine against an in-memory API server (see `fake/`): the tutorial's exact output,
//! resuming after an interruption, rollback, the same-name rename, a bad image stopping at
//! the safety bound, transient errors and conflicts, and refusing bad input unchanged.

mod fake;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake::{CancelAfter, Fake, NS};
use rollout_engine::blue_green::{self, BlueGreen, BlueGreenRef};
use rollout_engine::canary::{self, CanaryRef, CanaryStart};
use rollout_engine::recreate::{self, Recreate};
use rollout_engine::{
    Cancel, EngineError, ImageChange, NewSource, Outcome, OutputFormat, RecordingSink,
    RollingUpdate, output,
};
use rollout_plan::{IntOrPercent, Strategy};

use k8s_version as _;

const TUTORIAL: &str = "Created kubia-v2
Scaling up kubia-v2 from 0 to 3, scaling down kubia-v1 from 3 to 0 (keep 3 pods available, don't exceed 4 pods)
Scaling kubia-v2 up to 1
Scaling kubia-v1 down to 2
Scaling kubia-v2 up to 2
Scaling kubia-v1 down to 1
Scaling kubia-v2 up to 3
Scaling kubia-v1 down to 0
Update succeeded. Deleting kubia-v1
replicationcontroller/kubia-v2 rolling updated to \"kubia-v2\"
";

fn image(image: &str) -> ImageChange {
    ImageChange {
        image: image.into(),
        container: None,
        pull_policy: None,
    }
}

fn request(new_name: Option<&str>, img: &str) -> RollingUpdate {
    RollingUpdate {
        old_name: "kubia-v1".into(),
        new_name: new_name.map(str::to_owned),
        source: Some(NewSource::Image(image(img))),
        deployment_label_key: "deployment".into(),
        strategy: Strategy::kubectl(),
        update_period: Duration::ZERO,
        rollback: false,
        dry_run: false,
        failure: Default::default(),
        force: false,
    }
}

/// Runs a rolling update and returns stdout as the CLI would print it.
async fn run(fake: &Fake, req: &RollingUpdate) -> Result<String, EngineError> {
    let sink = Arc::new(RecordingSink::new());
    let ctx = fake.ctx(sink.clone(), Cancel::new());
    let result = rollout_engine::rolling::run(&ctx, req).await;
    let mut out: String = sink.lines().iter().map(|l| format!("{l}\n")).collect();
    out.push_str(&output::render(&result?, &OutputFormat::Default)?);
    Ok(out)
}

fn tutorial_cluster() -> Fake {
    let fake = Fake::new();
    fake.add_rc("kubia-v1", 3, "luksa/kubia:v1");
    fake
}

#[tokio::test]
async fn tutorial_output_line_for_line() {
    let fake = tutorial_cluster();
    let out = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    assert_eq!(out.ok().as_deref(), Some(TUTORIAL));
    fake.with(|s| {
        assert!(s.rc("kubia-v1").is_none());
        assert_eq!(s.replicas("kubia-v2"), Some(3));
        assert!(
            s.annotations("kubia-v2").is_empty(),
            "{:?}",
            s.annotations("kubia-v2")
        );
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]);
        assert!(s.max_pods_seen <= 4, "surge exceeded: {}", s.max_pods_seen);
        // Recorded once the first update started; a run that recorded nothing fails here.
        assert_eq!(
            s.min_ready_seen,
            Some(3),
            "availability: {:?}",
            s.min_ready_seen
        );
    });
}

/// A user without `patch` on pods gets one error naming it, and the cluster is untouched.
#[tokio::test]
async fn missing_permissions_are_found_before_the_first_write() {
    let fake = tutorial_cluster();
    fake.with(|s| {
        s.denied.insert("patch pods".into());
        s.denied.insert("delete replicationcontrollers".into());
    });
    let before = fake.with(|s| {
        s.log.clear();
        (s.rcs.clone(), s.pods.clone())
    });
    let message = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        message,
        "missing permissions in namespace test: delete replicationcontrollers, patch pods; nothing was changed"
    );
    let after = fake.with(|s| (s.rcs.clone(), s.pods.clone()));
    assert!(before == after, "the refused update changed something");
    fake.with(|s| {
        assert!(
            !s.log.iter().any(|l| l.starts_with("PUT ")
                || l.starts_with("PATCH ")
                || (l.starts_with("POST ") && !l.contains("selfsubjectaccessreviews"))),
            "writes: {:?}",
            s.log
        );
    });
}

/// A Lease held by another engine, renewed `secs_ago` seconds ago.
fn lease_of(holder: &str, secs_ago: i64) -> serde_json::Value {
    let renewed = k8s_openapi::jiff::Timestamp::now()
        - k8s_openapi::jiff::SignedDuration::from_secs(secs_ago);
    let renewed = format!("{}", renewed.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"));
    serde_json::json!({
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "rolling-update.kubia-v1", "namespace": "test", "resourceVersion": "1", "uid": "l1"},
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": 30,
                 "acquireTime": renewed, "renewTime": renewed, "leaseTransitions": 0}
    })
}

/// A second engine on the same RC is refused naming the first, whatever target it names,
/// and changes nothing; the first one's update takes and releases the Lease.
#[tokio::test]
async fn a_second_engine_is_refused_while_the_first_holds_the_lease() {
    let fake = tutorial_cluster();
    fake.with(|s| {
        s.leases.insert(
            "rolling-update.kubia-v1".into(),
            lease_of("other-host/4242", 2),
        );
        s.log.clear();
    });
    let before = fake.with(|s| (s.rcs.clone(), s.pods.clone()));
    for target in ["kubia-v2", "kubia-v3"] {
        let message = run(&fake, &request(Some(target), "luksa/kubia:v2"))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.starts_with(
                "replicationcontroller kubia-v1 is being updated by another engine: held by other-host/4242 (Lease rolling-update.kubia-v1, renewed "
            ),
            "{message}"
        );
    }
    let after = fake.with(|s| (s.rcs.clone(), s.pods.clone()));
    assert!(before == after, "the refused update changed something");
    fake.with(|s| {
        assert!(
            !s.log.iter().any(|l| l.starts_with("PUT ")
                || l.starts_with("PATCH ")
                || (l.starts_with("POST ") && !l.contains("selfsubjectaccessreviews"))
                || l.starts_with("DELETE ")),
            "writes: {:?}",
            s.log
        );
    });
}

/// An expired Lease (its holder died elsewhere) is taken over; the update completes and
/// deletes the Lease.
#[tokio::test]
async fn an_expired_lease_is_taken_over_and_released_at_the_end() {
    let fake = tutorial_cluster();
    fake.with(|s| {
        s.leases.insert(
            "rolling-update.kubia-v1".into(),
            lease_of("other-host/4242", 31),
        );
    });
    let result = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    assert!(result.is_ok(), "{:?}", result.err());
    fake.with(|s| {
        let me = rollout_engine::lease::identity();
        assert_eq!(s.lease_holders.first(), Some(&me), "{:?}", s.lease_holders);
        assert!(s.leases.is_empty(), "lease left behind: {:?}", s.leases);
    });
}

/// An RC owned by another controller is refused (nothing changes) unless `--force`.
#[tokio::test]
async fn an_owned_rc_is_refused_unless_forced() {
    let fake = tutorial_cluster();
    fake.with(|s| {
        if let Some(rc) = s.rcs.get_mut("kubia-v1") {
            rc.metadata.owner_references = Some(vec![
                k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                    api_version: "example.com/v1".into(),
                    kind: "App".into(),
                    name: "kubia".into(),
                    uid: "app-uid".into(),
                    controller: Some(true),
                    ..Default::default()
                },
            ]);
        }
    });
    let message = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        message,
        "replicationcontroller kubia-v1 is owned by App/kubia, which may undo this update; pass --force to update it anyway"
    );
    fake.with(|s| assert!(s.rc("kubia-v2").is_none()));
    let forced = RollingUpdate {
        force: true,
        ..request(Some("kubia-v2"), "luksa/kubia:v2")
    };
    assert_eq!(run(&fake, &forced).await.ok().as_deref(), Some(TUTORIAL));
}

/// `kubia-v1 → kubia-v2` interrupted, then `kubia-v1 → kubia-v3`: refused, naming the update
/// in progress, and nothing changes; the first update can still be finished.
#[tokio::test]
async fn another_target_is_refused_while_an_update_is_in_progress() {
    let fake = tutorial_cluster();
    let cancel = Cancel::new();
    let sink = Arc::new(CancelAfter {
        lines: Mutex::new(Vec::new()),
        after: "Scaling kubia-v1 down to 2".into(),
        cancel: cancel.clone(),
    });
    let ctx = fake.ctx(sink, cancel);
    let first = rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2"))
        .await
        .err();
    assert!(first.as_ref().is_some_and(EngineError::is_interrupted));
    let before = fake.with(|s| (s.replicas("kubia-v1"), s.replicas("kubia-v2"), s.rcs.len()));
    let message = run(&fake, &request(Some("kubia-v3"), "luksa/kubia:v3"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with(
            "replicationcontroller kubia-v1 is being updated to kubia-v2 (luksa/kubia:v2), an update in progress; finish it with: kubia-rollout rolling-update kubia-v1 kubia-v2 --image=luksa/kubia:v2"
        ) && message.contains("kubia-v1 kubia-v2 --rollback"),
        "{message}"
    );
    let after = fake.with(|s| (s.replicas("kubia-v1"), s.replicas("kubia-v2"), s.rcs.len()));
    assert_eq!(before, after, "the refused request changed something");
    let out = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    assert!(
        out.as_ref().is_ok_and(
            |o| o.ends_with("replicationcontroller/kubia-v2 rolling updated to \"kubia-v2\"\n")
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn interrupted_update_resumes_where_it_stopped() {
    let fake = tutorial_cluster();
    let cancel = Cancel::new();
    let sink = Arc::new(CancelAfter {
        lines: Mutex::new(Vec::new()),
        after: "Scaling kubia-v1 down to 2".into(),
        cancel: cancel.clone(),
    });
    let ctx = fake.ctx(sink.clone(), cancel);
    let err =
        rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    let err = err.err();
    assert!(
        err.as_ref().is_some_and(EngineError::is_interrupted),
        "{err:?}"
    );
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("resume with: kubia-rollout -n test rolling-update kubia-v1 kubia-v2"),
        "{message}"
    );
    assert!(
        message.contains(
            "roll back with: kubia-rollout rolling-update kubia-v1 kubia-v2 --rollback -n test"
        ),
        "{message}"
    );
    fake.with(|s| {
        assert_eq!(
            (s.replicas("kubia-v1"), s.replicas("kubia-v2")),
            (Some(2), Some(1))
        );
    });

    let out = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    assert_eq!(
        out.ok().as_deref(),
        Some(
            "Found existing update in progress (kubia-v2), resuming.
Continuing update with existing controller kubia-v2.
Scaling up kubia-v2 from 1 to 3, scaling down kubia-v1 from 2 to 0 (keep 3 pods available, don't exceed 4 pods)
Scaling kubia-v2 up to 2
Scaling kubia-v1 down to 1
Scaling kubia-v2 up to 3
Scaling kubia-v1 down to 0
Update succeeded. Deleting kubia-v1
replicationcontroller/kubia-v2 rolling updated to \"kubia-v2\"
"
        )
    );
}

#[tokio::test]
async fn resuming_with_another_image_is_refused() {
    let fake = tutorial_cluster();
    let cancel = Cancel::new();
    let sink = Arc::new(CancelAfter {
        lines: Mutex::new(Vec::new()),
        after: "Scaling kubia-v2 up to 1".into(),
        cancel: cancel.clone(),
    });
    let ctx = fake.ctx(sink, cancel);
    let _ = rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    let err = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v3"))
        .await
        .err();
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some(
            "Found existing in-progress update to image (luksa/kubia:v2). Either continue in-progress update with --image=luksa/kubia:v2 or rollback with --rollback"
        )
    );
}

#[tokio::test]
async fn rollback_of_an_interrupted_update() {
    let fake = tutorial_cluster();
    let cancel = Cancel::new();
    let sink = Arc::new(CancelAfter {
        lines: Mutex::new(Vec::new()),
        after: "Scaling kubia-v1 down to 1".into(),
        cancel: cancel.clone(),
    });
    let ctx = fake.ctx(sink, cancel);
    let _ = rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    let mut back = request(Some("kubia-v2"), "luksa/kubia:v2");
    back.rollback = true;
    back.source = None;
    let out = run(&fake, &back).await;
    assert_eq!(
        out.ok().as_deref(),
        Some(
            "Setting \"kubia-v1\" replicas to 3
Continuing update with existing controller kubia-v1.
Scaling up kubia-v1 from 1 to 3, scaling down kubia-v2 from 2 to 0 (keep 3 pods available, don't exceed 4 pods)
Scaling kubia-v1 up to 2
Scaling kubia-v2 down to 1
Scaling kubia-v1 up to 3
Scaling kubia-v2 down to 0
Update succeeded. Deleting kubia-v2
replicationcontroller/kubia-v1 rolled back
"
        )
    );
    fake.with(|s| {
        assert!(s.rc("kubia-v2").is_none());
        assert_eq!(s.replicas("kubia-v1"), Some(3));
        assert!(
            s.annotations("kubia-v1").is_empty(),
            "{:?}",
            s.annotations("kubia-v1")
        );
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v1".to_owned(); 3]);
    });
    // Rolling back again finds nothing to roll back.
    let again = run(&fake, &back).await.err().map(|e| e.to_string());
    assert_eq!(
        again.as_deref(),
        Some("Could not find kubia-v2 to rollback.")
    );
}

#[tokio::test]
async fn same_name_update_renames_at_the_end() {
    let fake = tutorial_cluster();
    let out = run(&fake, &request(None, "luksa/kubia:v2")).await;
    let out = out.unwrap_or_else(|e| e.to_string());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Created kubia-v1-"), "{out}");
    assert_eq!(
        lines[lines.len() - 3],
        "Update succeeded. Deleting old controller: kubia-v1"
    );
    assert!(
        lines[lines.len() - 2].starts_with("Renaming kubia-v1-"),
        "{out}"
    );
    assert_eq!(
        lines[lines.len() - 1],
        "replicationcontroller/kubia-v1 rolling updated"
    );
    fake.with(|s| {
        assert_eq!(s.rcs.keys().collect::<Vec<_>>(), vec!["kubia-v1"]);
        assert_eq!(s.replicas("kubia-v1"), Some(3));
        assert!(s.annotations("kubia-v1").is_empty());
        assert_eq!(s.pods.len(), 3, "no pod created or lost by the rename");
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]);
        let uid = s.rc("kubia-v1").and_then(|rc| rc.metadata.uid.clone());
        assert!(s.pods.values().all(|p| {
            p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|r| Some(&r.uid) == uid.as_ref())
        }));
    });
}

#[tokio::test]
async fn a_file_naming_the_old_rc_updates_it_in_place_and_keeps_its_name() {
    let fake = tutorial_cluster();
    // The live object, edited: same name, new image (what `kubectl get -o yaml` + edit gives).
    let mut edited = fake.with(|s| s.rc("kubia-v1").cloned()).unwrap_or_default();
    edited.metadata.resource_version = None;
    edited.metadata.uid = None;
    edited.status = None;
    if let Some(c) = edited
        .spec
        .as_mut()
        .and_then(|s| s.template.as_mut())
        .and_then(|t| t.spec.as_mut())
        .and_then(|s| s.containers.first_mut())
    {
        c.image = Some("luksa/kubia:v2".into());
    }
    let mut req = request(None, "unused");
    req.source = Some(NewSource::File(Box::new(edited)));
    let out = run(&fake, &req).await.unwrap_or_else(|e| e.to_string());
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("Created kubia-v1-"), "{out}");
    assert_eq!(
        lines[lines.len() - 1],
        "replicationcontroller/kubia-v1 rolling updated",
        "{out}"
    );
    fake.with(|s| {
        assert_eq!(s.rcs.keys().collect::<Vec<_>>(), vec!["kubia-v1"]);
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]);
    });
}

#[tokio::test]
async fn a_file_in_another_namespace_is_refused_before_any_change() {
    let fake = tutorial_cluster();
    let before = fake.with(|s| s.rcs.clone());
    let mut file = fake.with(|s| s.rc("kubia-v1").cloned()).unwrap_or_default();
    file.metadata.name = Some("kubia-v2".into());
    file.metadata.namespace = Some("elsewhere".into());
    let mut req = request(None, "unused");
    req.source = Some(NewSource::File(Box::new(file)));
    let err = run(&fake, &req).await.err().map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.starts_with(
            "the namespace from the provided object \"elsewhere\" does not match the namespace"
        )),
        "{err:?}"
    );
    fake.with(|s| assert_eq!(s.rcs, before));
}

#[tokio::test]
async fn rename_interrupted_after_orphaning_is_finished_by_a_rerun() {
    let fake = tutorial_cluster();
    let cancel = Cancel::new();
    let sink = Arc::new(CancelAfter {
        lines: Mutex::new(Vec::new()),
        after: "Update succeeded. Deleting old controller: kubia-v1".into(),
        cancel: cancel.clone(),
    });
    let ctx = fake.ctx(sink, cancel);
    let err = rollout_engine::rolling::run(&ctx, &request(None, "luksa/kubia:v2")).await;
    assert!(err.is_err());
    // Simulate the worst moment: the hashed RC already deleted with its pods orphaned.
    fake.with(|s| {
        let hashed: Vec<String> = s
            .rcs
            .keys()
            .filter(|k| k.starts_with("kubia-v1-"))
            .cloned()
            .collect();
        for name in hashed {
            s.rcs.remove(&name);
        }
        for pod in s.pods.values_mut() {
            pod.metadata.owner_references = None;
        }
    });
    let out = run(&fake, &request(None, "luksa/kubia:v2"))
        .await
        .unwrap_or_else(|e| e.to_string());
    assert!(out.starts_with("Renaming kubia-v1-"), "{out}");
    assert!(
        out.ends_with("replicationcontroller/kubia-v1 rolling updated\n"),
        "{out}"
    );
    fake.with(|s| {
        assert_eq!(s.replicas("kubia-v1"), Some(3));
        assert_eq!(s.pods.len(), 3);
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v2".to_owned(); 3]);
    });
}

/// An image that cannot be pulled stops the update at once (no deadline, no timeout) and,
/// with `--on-failure=rollback`, the old RC is whole again and the new one gone.
#[tokio::test]
async fn an_unpullable_image_is_rolled_back_at_once() {
    let fake = tutorial_cluster();
    fake.with(|s| s.unpullable_images.insert("luksa/kubia:v9".into()));
    let mut req = request(Some("kubia-v9"), "luksa/kubia:v9");
    req.failure.on_failure = rollout_plan::health::OnFailure::Rollback;
    let message = run(&fake, &req)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.starts_with("pod kubia-v9-")
            && message.contains("cannot pull its image (ErrImagePull: luksa/kubia:v9: not found)")
            && message.ends_with("; rolled back to kubia-v1"),
        "{message}"
    );
    fake.with(|s| {
        assert_eq!(s.replicas("kubia-v1"), Some(3));
        assert_eq!(s.rc("kubia-v9"), None);
        assert_eq!(s.pod_images(), vec!["luksa/kubia:v1".to_owned(); 3]);
    });
    // With the default (stop), nothing is rolled back and the commands are printed.
    let fake = tutorial_cluster();
    fake.with(|s| s.unpullable_images.insert("luksa/kubia:v9".into()));
    let message = run(&fake, &request(Some("kubia-v9"), "luksa/kubia:v9"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        message.contains("; stopped, kubia-v1 still serves; resume with: ")
            && message.contains("--rollback"),
        "{message}"
    );
    fake.with(|s| assert_eq!(s.replicas("kubia-v9"), Some(1)));
}

#[tokio::test]
async fn a_never_ready_image_stops_at_the_safety_bound() {
    let fake = tutorial_cluster();
    fake.with(|s| s.unready_images.insert("luksa/kubia:v3".into()));
    let err = run(&fake, &request(Some("kubia-v3"), "luksa/kubia:v3"))
        .await
        .err();
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.starts_with("timed out after 2s waiting for any update progress to be made: 1 new pod of kubia-v3 not available: kubia-v3-"), "{message}");
    assert!(message.contains("(not ready)"), "{message}");
    assert!(
        message.contains(
            "roll back with: kubia-rollout rolling-update kubia-v1 kubia-v3 --rollback -n test"
        ),
        "{message}"
    );
    fake.with(|s| {
        assert_eq!(
            (s.replicas("kubia-v1"), s.replicas("kubia-v3")),
            (Some(3), Some(1))
        );
    });
}

#[tokio::test]
async fn transient_errors_and_conflicts_are_retried() {
    let fake = tutorial_cluster();
    fake.with(|s| {
        s.fail_next = 3;
        s.conflict_next = 2;
    });
    let sink = Arc::new(RecordingSink::new());
    let ctx = fake.ctx_with_timeout(sink.clone(), Cancel::new(), Duration::from_secs(30));
    let result =
        rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    assert!(result.is_ok(), "{result:?}");
    let retries = sink
        .events()
        .iter()
        .filter(|e| matches!(e, rollout_engine::Event::Retrying { .. }))
        .count();
    assert_eq!(retries, 3);
    assert_eq!(sink.lines().len(), 9);
    fake.with(|s| assert_eq!(s.replicas("kubia-v2"), Some(3)));
}

#[tokio::test]
async fn bad_input_changes_nothing() {
    let fake = tutorial_cluster();
    fake.add_rc("kubia-x", 1, "luksa/kubia:v1");
    let before = fake.with(|s| s.rcs.clone());
    let cases: Vec<(RollingUpdate, &str)> = vec![
        (
            request(Some("kubia-x"), "luksa/kubia:v2"),
            "kubia-x already exists and is not part of an update from kubia-v1",
        ),
        (
            request(Some("kubia-v2"), "luksa/kubia:v1"),
            "--image-pull-policy",
        ),
        (
            RollingUpdate {
                old_name: "nope".into(),
                ..request(Some("kubia-v2"), "luksa/kubia:v2")
            },
            "replicationcontrollers \"nope\" not found",
        ),
        (
            RollingUpdate {
                source: Some(NewSource::Image(ImageChange {
                    container: Some("sidecar".into()),
                    ..image("luksa/kubia:v2")
                })),
                ..request(Some("kubia-v2"), "luksa/kubia:v2")
            },
            "container \"sidecar\" not found",
        ),
    ];
    for (req, expected) in cases {
        let message = run(&fake, &req)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.contains(expected),
            "{message} should contain {expected}"
        );
    }
    fake.with(|s| assert_eq!(s.rcs, before));
}

#[tokio::test]
async fn dry_run_changes_nothing() {
    let fake = tutorial_cluster();
    let before = fake.with(|s| s.rcs.clone());
    let mut req = request(Some("kubia-v2"), "luksa/kubia:v2");
    req.dry_run = true;
    let out = run(&fake, &req).await.unwrap_or_else(|e| e.to_string());
    assert_eq!(out, "Rolling from:\nkubia-v1\nTo:\nkubia-v2\n");
    fake.with(|s| assert_eq!(s.rcs, before));
}

#[tokio::test]
async fn percentages_generalise_the_kubectl_bounds() {
    let fake = Fake::new();
    fake.add_rc("kubia-v1", 4, "luksa/kubia:v1");
    let mut req = request(Some("kubia-v2"), "luksa/kubia:v2");
    req.strategy.max_surge = IntOrPercent::Percent(50);
    req.strategy.max_unavailable = IntOrPercent::Count(1);
    let out = run(&fake, &req).await.unwrap_or_else(|e| e.to_string());
    assert!(
        out.starts_with("Created kubia-v2\nScaling up kubia-v2 from 0 to 4, scaling down kubia-v1 from 4 to 0 (keep 3 pods available, don't exceed 6 pods)\nScaling kubia-v2 up to 2\n"),
        "{out}"
    );
    fake.with(|s| assert!(s.max_pods_seen <= 6));
}

fn ctx(fake: &Fake) -> (rollout_engine::Ctx, Arc<RecordingSink>) {
    let sink = Arc::new(RecordingSink::new());
    (fake.ctx(sink.clone(), Cancel::new()), sink)
}

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

/// Blue-green from the tutorial's kubia-v1 to kubia-v2 behind Service `kubia`.
fn v1_to_v2_blue_green() -> BlueGreen {
    BlueGreen {
        old_name: "kubia-v1".into(),
        new_name: "kubia-v2".into(),
        change: image("luksa/kubia:v2"),
        service: Some("kubia".into()),
        deployment_label_key: "deployment".into(),
        cleanup: false,
        min_ready_seconds: 0,
        failure: Default::default(),
        force: false,
        metrics_port: 8080,
    }
}

/// The Service is narrowed only once a headless witness with the narrowed selector lists
/// every old pod, i.e. once the EndpointSlice controller sees the pods' new label.
#[tokio::test]
async fn blue_green_pins_only_after_the_endpoint_slices_follow() {
    let fake = tutorial_cluster();
    fake.add_service("kubia");
    fake.with(|s| s.slices_lag = 4);
    let (ctx, sink) = ctx(&fake);
    let req = v1_to_v2_blue_green();
    let result = blue_green::deploy(&ctx, &req).await;
    assert!(result.is_ok(), "{result:?}");
    let log = fake.with(|s| s.log.clone());
    let position = |wanted: &str| log.iter().position(|l| l == wanted);
    let services = format!("/api/v1/namespaces/{NS}/services");
    let slices = format!("GET /apis/discovery.k8s.io/v1/namespaces/{NS}/endpointslices");
    let created = position(&format!("POST {services}")).expect("the witness was created");
    let pinned = position(&format!("PUT {services}/kubia")).expect("the Service was pinned");
    let deleted = position(&format!("DELETE {services}/kubia-selector-witness"))
        .expect("the witness was deleted");
    let slice_reads: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == slices)
        .map(|(i, _)| i)
        .collect();
    // Four lagging answers, then the one listing all three pods.
    assert_eq!(slice_reads.len(), 5, "{log:#?}");
    assert!(created < slice_reads[0] && slice_reads[4] < deleted && deleted < pinned);
    fake.with(|s| assert!(!s.services.contains_key("kubia-selector-witness")));
    assert!(
        sink.lines()
            .iter()
            .any(|l| l.starts_with("Pinned service/kubia to the pods of kubia-v1")),
        "{:?}",
        sink.lines()
    );
}

/// A Service that merely has the witness's name is someone else's: blue-green stops before
/// touching it, and the tutorial's Service keeps its selector.
#[tokio::test]
async fn blue_green_leaves_a_foreign_service_with_the_witness_name_alone() {
    let fake = tutorial_cluster();
    fake.add_service("kubia");
    fake.add_service("kubia-selector-witness");
    let (ctx, _sink) = ctx(&fake);
    let result = blue_green::deploy(&ctx, &v1_to_v2_blue_green()).await;
    let message = result.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with(
            "service/kubia-selector-witness exists and is not a selector witness of service/kubia"
        ),
        "{message}"
    );
    fake.with(|s| {
        let selector = |name: &str| {
            s.services[name]
                .spec
                .as_ref()
                .and_then(|sp| sp.selector.clone())
        };
        let app_kubia = Some([("app".to_owned(), "kubia".to_owned())].into());
        assert_eq!(selector("kubia-selector-witness"), app_kubia);
        assert_eq!(selector("kubia"), app_kubia);
        assert!(!s.rcs.contains_key("kubia-v2"));
    });
}

#[tokio::test]
async fn blue_green_switches_and_cleans_up() {
    let fake = tutorial_cluster();
    fake.add_service("kubia");
    let (ctx, sink) = ctx(&fake);
    let req = v1_to_v2_blue_green();
    let result = blue_green::deploy(&ctx, &req).await;
    assert!(result.is_ok(), "{result:?}");
    let lines = sink.lines();
    assert!(
        lines[0].starts_with("Pinned service/kubia to the pods of kubia-v1"),
        "{lines:?}"
    );
    assert_eq!(lines[1], "Created kubia-v2");
    assert_eq!(lines[2], "service/kubia selector updated");
    let selector = |fake: &Fake| {
        fake.with(|s| {
            s.services["kubia"]
                .spec
                .as_ref()
                .and_then(|sp| sp.selector.clone())
                .unwrap_or_default()
        })
    };
    let new_selector = fake.with(|s| {
        s.rcs["kubia-v2"]
            .spec
            .as_ref()
            .and_then(|sp| sp.selector.clone())
    });
    assert_eq!(Some(selector(&fake)), new_selector);
    fake.with(|s| assert_eq!(s.replicas("kubia-v1"), Some(3)));

    let reference = BlueGreenRef {
        service: Some("kubia".into()),
        ..BlueGreenRef::default()
    };
    assert!(blue_green::switch_back(&ctx, &reference).await.is_ok());
    let old_selector = fake.with(|s| {
        s.rcs["kubia-v1"]
            .spec
            .as_ref()
            .and_then(|sp| sp.selector.clone())
    });
    assert_eq!(Some(selector(&fake)), old_selector);
    assert!(
        blue_green::switch_back(&ctx, &BlueGreenRef::default())
            .await
            .is_ok()
    );
    assert!(
        blue_green::cleanup(&ctx, &BlueGreenRef::default())
            .await
            .is_ok()
    );
    fake.with(|s| {
        assert_eq!(s.rcs.keys().collect::<Vec<_>>(), vec!["kubia-v2"]);
        assert!(s.annotations("kubia-v2").is_empty());
        assert!(
            s.services["kubia"]
                .metadata
                .annotations
                .as_ref()
                .is_none_or(|a| a.is_empty())
        );
    });
    assert_eq!(
        selector(&fake),
        [("app".to_owned(), "kubia".to_owned())].into()
    );
}

#[tokio::test]
async fn canary_pauses_then_promotes_or_aborts() {
    let fake = tutorial_cluster();
    let (ctx, sink) = ctx(&fake);
    let start = CanaryStart {
        old_name: "kubia-v1".into(),
        new_name: "kubia-v2".into(),
        change: image("luksa/kubia:v2"),
        steps: vec![IntOrPercent::Percent(25), IntOrPercent::Percent(50)],
        step_period: None,
        deployment_label_key: "deployment".into(),
        min_ready_seconds: 0,
        failure: Default::default(),
        force: false,
        metrics_port: 8080,
    };
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

    // Rerunning the start command stays paused at the same step.
    assert!(canary::start(&ctx, &start).await.is_ok());
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

#[tokio::test]
async fn outcome_render_for_name_output() {
    let fake = tutorial_cluster();
    let sink = Arc::new(RecordingSink::new());
    let ctx = fake.ctx(sink, Cancel::new());
    let outcome =
        rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    let Ok(outcome @ Outcome::Done { .. }) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        output::render(&outcome, &OutputFormat::Name)
            .ok()
            .as_deref(),
        Some("replicationcontroller/kubia-v2\n")
    );
}

#[tokio::test]
async fn cleanup_interrupted_after_deleting_the_old_rc_is_finished() {
    let fake = tutorial_cluster();
    let cancel = Cancel::new();
    let sink = Arc::new(CancelAfter {
        lines: Mutex::new(Vec::new()),
        after: "Update succeeded. Deleting kubia-v1".into(),
        cancel: cancel.clone(),
    });
    let ctx = fake.ctx(sink, cancel);
    let _ = rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    // The delete landed, the bookkeeping removal did not.
    fake.with(|s| {
        s.rcs.remove("kubia-v1");
        assert!(
            s.annotations("kubia-v2")
                .contains_key("kubectl.kubernetes.io/update-source-id")
        );
    });
    let out = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    assert_eq!(
        out.map_err(|e| e.to_string()).as_deref(),
        Ok(
            "Continuing update with existing controller kubia-v2.\nreplicationcontroller/kubia-v2 rolling updated to \"kubia-v2\"\n"
        )
    );
    fake.with(|s| assert!(s.annotations("kubia-v2").is_empty()));
}

/// A context polling every `poll` with a 30 s timeout, and its recorder.
fn ctx_polling(fake: &Fake, poll: Duration) -> (rollout_engine::Ctx, Arc<RecordingSink>) {
    let sink = Arc::new(RecordingSink::new());
    let timing = rollout_engine::Timing {
        poll_interval: poll,
        timeout: Duration::from_secs(30),
    };
    (
        fake.ctx_with_timing(sink.clone(), Cancel::new(), timing),
        sink,
    )
}

fn rendered(sink: &RecordingSink, result: Result<Outcome, EngineError>) -> String {
    let mut out: String = sink.lines().iter().map(|l| format!("{l}\n")).collect();
    let outcome = result.unwrap_or_else(|e| panic!("{e}"));
    out.push_str(&output::render(&outcome, &OutputFormat::Default).unwrap_or_default());
    out
}

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
    assert_eq!(rendered(&sink, result), TUTORIAL);
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
        new_name: "kubia-v3".into(),
        change: image("luksa/kubia:v3"),
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
