//! The blue-green method: the Service switches only once the new pods serve.

use crate::support::*;

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
