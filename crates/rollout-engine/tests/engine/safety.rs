//! Refusals before the first write: permissions, the Lease, owned RCs, an update in
//! progress, bad input, dry runs.

use crate::support::*;

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
    assert_no_writes(&fake);
    // One rules review settles what RBAC grants; only the two it does not grant are asked
    // one by one.
    assert_eq!(reviews(&fake), (1, 2));
}

/// (rules reviews, access reviews) in the fake's log.
fn reviews(fake: &Fake) -> (usize, usize) {
    fake.with(|s| {
        let count = |what: &str| s.log.iter().filter(|l| l.contains(what)).count();
        (
            count("selfsubjectrulesreviews"),
            count("selfsubjectaccessreviews"),
        )
    })
}

/// With every permission granted, the preflight is one request.
#[tokio::test]
async fn granted_permissions_cost_one_review() {
    let fake = tutorial_cluster();
    fake.with(|s| s.log.clear());
    run(&fake, &request(Some("kubia-v2"), "luksa/kubia:v2"))
        .await
        .expect("update");
    assert_eq!(reviews(&fake), (1, 0));
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
    let before = fake.with(|s| (s.rcs.clone(), s.pods.clone(), s.leases.clone()));
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
    let after = fake.with(|s| (s.rcs.clone(), s.pods.clone(), s.leases.clone()));
    assert!(before == after, "the refused update changed something");
    // The only write attempts: each engine's create of the Lease (without reading first),
    // refused because it exists; the Lease itself is untouched.
    fake.with(|s| {
        let writes: Vec<&String> = s
            .log
            .iter()
            .filter(|l| {
                !l.starts_with("GET ") && !l.starts_with("WATCH ") && !l.contains("selfsubject")
            })
            .collect();
        assert_eq!(
            writes, ["POST /apis/coordination.k8s.io/v1/namespaces/test/leases"; 2],
            "writes"
        );
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
    assert_eq!(
        run(&fake, &forced).await.ok().as_deref(),
        Some(tutorial().as_str())
    );
}

/// `kubia-v1 → kubia-v2` interrupted, then `kubia-v1 → kubia-v3`: refused, naming the update
/// in progress, and nothing changes; the first update can still be finished.
#[tokio::test]
async fn another_target_is_refused_while_an_update_is_in_progress() {
    let fake = tutorial_cluster();
    let first = interrupted_after(
        &fake,
        "Scaling kubia-v1 down to 2",
        &request(Some("kubia-v2"), "luksa/kubia:v2"),
    )
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
async fn a_file_in_another_namespace_is_refused_before_any_change() {
    let fake = tutorial_cluster();
    let before = fake.with(|s| s.rcs.clone());
    let mut file = fake.with(|s| s.rc("kubia-v1").cloned()).unwrap_or_default();
    file.metadata.name = Some("kubia-v2".into());
    file.metadata.namespace = Some("elsewhere".into());
    let mut req = request(None, "unused");
    req.source = Some(file_source(file, "file.yaml"));
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

/// A name that would change the request path (`kubia-v1/status` is the status subresource),
/// or that the API server would refuse, is refused before a single request, by every method.
#[tokio::test]
async fn a_bad_name_is_refused_before_any_request() {
    let fake = tutorial_cluster();
    let (ctx, _) = ctx(&fake);
    fake.with(|s| s.log.clear());
    let mut errors = Vec::new();
    for (old, new) in [("kubia-v1/status", "kubia-v2"), ("kubia-v1", "../../x")] {
        let mut req = request(Some(new), "luksa/kubia:v2");
        req.old_name = old.into();
        errors.push(run(&fake, &req).await.err().map(|e| e.to_string()));
    }
    let canary = canary::promote(
        &ctx,
        &CanaryRef {
            names: vec!["kubia-v1/status".into()],
            ..CanaryRef::default()
        },
    )
    .await;
    errors.push(canary.err().map(|e| e.to_string()));
    let switch = blue_green::switch_back(
        &ctx,
        &BlueGreenRef {
            service: Some("kubia/status".into()),
            ..BlueGreenRef::default()
        },
    )
    .await;
    errors.push(switch.err().map(|e| e.to_string()));
    let status = rollout_engine::status::run(&ctx, Some("Kubia-V1")).await;
    errors.push(status.err().map(|e| e.to_string()));
    for e in &errors {
        let e = e.as_deref().unwrap_or("(accepted)");
        assert!(
            e.contains("may not contain '/'") || e.contains("metadata.name: Invalid value"),
            "{e}"
        );
    }
    assert_eq!(fake.with(|s| s.log.clone()), Vec::<String>::new());
}
