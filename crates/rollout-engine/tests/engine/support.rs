//! What the engine tests share: the tutorial's oracle, requests, a context over the fake
//! API server, rendering of the output.

pub(crate) use std::sync::{Arc, Mutex};
pub(crate) use std::time::Duration;

pub(crate) use crate::fake::{CancelAfter, Fake, NS};
pub(crate) use k8s_openapi::api::core::v1::ReplicationController;
pub(crate) use rollout_engine::blue_green::{self, BlueGreen, BlueGreenRef};
pub(crate) use rollout_engine::canary::{self, CanaryRef, CanaryStart};
pub(crate) use rollout_engine::recreate::{self, Recreate};
pub(crate) use rollout_engine::side_by_side::SideBySide;
pub(crate) use rollout_engine::validate::Validation;
pub(crate) use rollout_engine::{
    Cancel, EngineError, Event, ImageChange, NewSource, Outcome, RecordingSink, RollingUpdate,
};
pub(crate) use rollout_plan::{IntOrPercent, Strategy};

/// The tutorial's ten lines, as printed.
pub(crate) fn tutorial() -> String {
    tutorial_oracle::output_text()
}

pub(crate) fn image(image: &str) -> ImageChange {
    ImageChange {
        image: image.parse().expect("a valid image reference"),
        container: None,
        pull_policy: None,
    }
}

pub(crate) fn request(new_name: Option<&str>, img: &str) -> RollingUpdate {
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
        // The fake API server does not implement dry-run creates; e2e covers `--validate`.
        validation: Validation::Ignore,
    }
}

/// The outcome as the CLI prints it by default (kubectl's last line; `--dry-run`'s names).
pub(crate) fn printed(outcome: &Outcome) -> String {
    let name = |rc: &ReplicationController| rc.metadata.name.clone().unwrap_or_default();
    match outcome {
        Outcome::DryRun { old, new } => {
            format!("Rolling from:\n{}\nTo:\n{}\n", name(old), name(new))
        }
        Outcome::Done { rc, message } => format!("replicationcontroller/{} {message}\n", name(rc)),
    }
}

/// `-f PATH` defining `rc`.
pub(crate) fn file_source(rc: ReplicationController, path: &str) -> NewSource {
    NewSource::File {
        raw: serde_json::to_value(&rc).unwrap_or_default(),
        rc: Box::new(rc),
        path: path.into(),
    }
}

/// Runs a rolling update and returns stdout as the CLI would print it.
pub(crate) async fn run(fake: &Fake, req: &RollingUpdate) -> Result<String, EngineError> {
    let sink = Arc::new(RecordingSink::new());
    let ctx = fake.ctx(sink.clone(), Cancel::new());
    let result = rollout_engine::rolling::run(&ctx, req).await;
    let mut out: String = sink.lines().iter().map(|l| format!("{l}\n")).collect();
    out.push_str(&printed(&result?));
    Ok(out)
}

/// Runs the rolling update `req` on `fake` and interrupts it (as Ctrl-C does) as soon as the
/// engine prints `after`; returns how the run ended.
pub(crate) async fn interrupted_after(
    fake: &Fake,
    after: &str,
    req: &RollingUpdate,
) -> Result<Outcome, EngineError> {
    let cancel = Cancel::new();
    let sink = Arc::new(CancelAfter {
        lines: Mutex::new(Vec::new()),
        after: after.into(),
        cancel: cancel.clone(),
    });
    let ctx = fake.ctx(sink, cancel);
    rollout_engine::rolling::run(&ctx, req).await
}

/// Asserts that the fake API server saw no write (PUT, PATCH, DELETE, or a POST other than
/// the RBAC preflight's reviews) since its log was last cleared.
pub(crate) fn assert_no_writes(fake: &Fake) {
    fake.with(|s| {
        let writes: Vec<&String> = s
            .log
            .iter()
            .filter(|l| {
                l.starts_with("PUT ")
                    || l.starts_with("PATCH ")
                    || l.starts_with("DELETE ")
                    || (l.starts_with("POST ") && !l.contains("selfsubject"))
            })
            .collect();
        assert!(writes.is_empty(), "writes: {writes:?}");
    });
}

pub(crate) fn tutorial_cluster() -> Fake {
    let fake = Fake::new();
    fake.add_rc("kubia-v1", 3, "luksa/kubia:v1");
    fake
}

/// A Lease held by another engine, renewed `secs_ago` seconds ago.
pub(crate) fn lease_of(holder: &str, secs_ago: i64) -> serde_json::Value {
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

pub(crate) fn ctx(fake: &Fake) -> (rollout_engine::Ctx, Arc<RecordingSink>) {
    let sink = Arc::new(RecordingSink::new());
    (fake.ctx(sink.clone(), Cancel::new()), sink)
}

/// Blue-green from the tutorial's kubia-v1 to kubia-v2 behind Service `kubia`.
/// A canary of kubia-v1 -> kubia-v2 pausing at `steps`.
pub(crate) fn v1_to_v2_canary(steps: Vec<IntOrPercent>) -> CanaryStart {
    CanaryStart {
        pair: v1_beside_v2(),
        steps,
        step_period: None,
    }
}

pub(crate) fn v1_to_v2_blue_green() -> BlueGreen {
    BlueGreen {
        pair: v1_beside_v2(),
        service: Some("kubia".into()),
        cleanup: false,
    }
}

/// kubia-v2 (image luksa/kubia:v2) beside the tutorial's kubia-v1.
pub(crate) fn v1_beside_v2() -> SideBySide {
    SideBySide {
        old_name: "kubia-v1".into(),
        new_name: "kubia-v2".into(),
        change: image("luksa/kubia:v2"),
        deployment_label_key: "deployment".into(),
        min_ready_seconds: 0,
        failure: Default::default(),
        force: false,
        metrics_port: 8080,
    }
}

/// A context polling every `poll` with a 30 s timeout, and its recorder.
pub(crate) fn ctx_polling(
    fake: &Fake,
    poll: Duration,
) -> (rollout_engine::Ctx, Arc<RecordingSink>) {
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

pub(crate) fn rendered(sink: &RecordingSink, result: Result<Outcome, EngineError>) -> String {
    let mut out: String = sink.lines().iter().map(|l| format!("{l}\n")).collect();
    let outcome = result.unwrap_or_else(|e| panic!("{e}"));
    out.push_str(&printed(&outcome));
    out
}
