//! The rolling update (kubectl's method): the tutorial's output, resume, rollback, the
//! same-name rename, bad images, transient errors.

use crate::support::*;

#[tokio::test]
async fn tutorial_output_line_for_line() {
    let fake = tutorial_cluster();
    let out = run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    assert_eq!(out.ok().as_deref(), Some(tutorial().as_str()));
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

#[tokio::test]
async fn interrupted_update_resumes_where_it_stopped() {
    let fake = tutorial_cluster();
    let err = interrupted_after(
        &fake,
        "Scaling kubia-v1 down to 2",
        &request(Some("kubia-v2"), "luksa/kubia:v2"),
    )
    .await;
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
    let _ = interrupted_after(
        &fake,
        "Scaling kubia-v2 up to 1",
        &request(Some("kubia-v2"), "luksa/kubia:v2"),
    )
    .await;
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
    let _ = interrupted_after(
        &fake,
        "Scaling kubia-v1 down to 1",
        &request(Some("kubia-v2"), "luksa/kubia:v2"),
    )
    .await;
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
    req.source = Some(file_source(edited, "edited.yaml"));
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

/// kubectl 1.17's `KeepOldName = len(args) == 1` holds for `-f` too: `rolling-update kubia-v1
/// -f kubia-v2.yaml` creates kubia-v2, then renames it to kubia-v1.
#[tokio::test]
async fn a_file_without_new_keeps_the_old_name_as_kubectl_did() {
    let fake = tutorial_cluster();
    let mut file = fake.with(|s| s.rc("kubia-v1").cloned()).unwrap_or_default();
    file.metadata = kube::api::ObjectMeta {
        name: Some("kubia-v2".into()),
        ..Default::default()
    };
    file.status = None;
    let labels: std::collections::BTreeMap<String, String> = [("app", "kubia-next")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    if let Some(spec) = file.spec.as_mut() {
        spec.selector = Some(labels.clone());
        if let Some(t) = spec.template.as_mut() {
            t.metadata.get_or_insert_with(Default::default).labels = Some(labels);
            if let Some(c) = t.spec.as_mut().and_then(|s| s.containers.first_mut()) {
                c.image = Some("luksa/kubia:v2".into());
            }
        }
    }
    let mut req = request(None, "unused");
    req.source = Some(file_source(file, "kubia-v2.yaml"));
    let out = run(&fake, &req).await.unwrap_or_else(|e| e.to_string());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Created kubia-v2", "{out}");
    assert!(
        out.contains(
            "Update succeeded. Deleting old controller: kubia-v1\nRenaming kubia-v2 to kubia-v1\n"
        ),
        "{out}"
    );
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
async fn rename_interrupted_after_orphaning_is_finished_by_a_rerun() {
    let fake = tutorial_cluster();
    let err = interrupted_after(
        &fake,
        "Update succeeded. Deleting old controller: kubia-v1",
        &request(None, "luksa/kubia:v2"),
    )
    .await;
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
    assert!(message.starts_with("timed out waiting for any update progress to be made (none for 2s): 1 new pod of kubia-v3 not available: kubia-v3-"), "{message}");
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

#[tokio::test]
async fn the_outcome_is_the_surviving_rc_as_stored() {
    let fake = tutorial_cluster();
    let sink = Arc::new(RecordingSink::new());
    let ctx = fake.ctx(sink, Cancel::new());
    let outcome =
        rollout_engine::rolling::run(&ctx, &request(Some("kubia-v2"), "luksa/kubia:v2")).await;
    let Ok(Outcome::Done { rc, message }) = outcome else {
        panic!("{outcome:?}")
    };
    // As stored by the engine's last write (the fake's controller may write status since).
    let stored = fake.with(|s| s.rc("kubia-v2").cloned()).unwrap_or_default();
    assert_eq!(rc.metadata.name.as_deref(), Some("kubia-v2"));
    assert_eq!(
        (rc.metadata.uid, rc.spec),
        (stored.metadata.uid, stored.spec)
    );
    assert_eq!(message, "rolling updated to \"kubia-v2\"");
}

#[tokio::test]
async fn cleanup_interrupted_after_deleting_the_old_rc_is_finished() {
    let fake = tutorial_cluster();
    let _ = interrupted_after(
        &fake,
        "Update succeeded. Deleting kubia-v1",
        &request(Some("kubia-v2"), "luksa/kubia:v2"),
    )
    .await;
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
