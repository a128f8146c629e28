//! `status [RC]`: every update in progress in the namespace, found from the annotations the
//! methods leave on RCs and Services, with replica counts from the RCs' status (no pod
//! listing, so it is cheap and works for any RC).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ReplicationController, Service};

use crate::api;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::model::annotations::{
    self, BLUE_GREEN_ACTIVE, BLUE_GREEN_STANDBY, CANARY_OF, CANARY_STEPS, DESIRED_REPLICAS,
    NEXT_CONTROLLER_ID, ORIGINAL_REPLICAS, RECREATE_IMAGE, RENAME_FROM, SourceId, UPDATE_SOURCE_ID,
};
use crate::model::labels::name_of;
use crate::model::new_rc::spec_replicas;
use rollout_plan::canary::{current_step, targets};

/// One update in progress, as shown by `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateInfo {
    /// `rolling-update`, `rollback`, `recreate`, `blue-green` or `canary`.
    pub method: &'static str,
    /// The RCs involved (for filtering by name).
    pub rcs: Vec<String>,
    /// The line to print.
    pub line: String,
}

/// `NAME: S replicas, R ready` (or `NAME: not found`).
fn counts(rcs: &BTreeMap<&str, &ReplicationController>, name: &str) -> String {
    match rcs.get(name) {
        Some(rc) => {
            let status = rc.status.as_ref();
            format!(
                "{name} {} replicas ({} current, {} ready)",
                spec_replicas(rc),
                status.map_or(0, |s| s.replicas),
                status.and_then(|s| s.ready_replicas).unwrap_or(0)
            )
        }
        None => format!("{name} deleted"),
    }
}

/// Finds the updates in progress among `rcs` and `services` (pure, for tests).
pub fn describe(rcs: &[ReplicationController], services: &[Service]) -> Vec<UpdateInfo> {
    let by_name: BTreeMap<&str, &ReplicationController> =
        rcs.iter().map(|rc| (name_of(rc), rc)).collect();
    let mut found = Vec::new();
    for rc in rcs {
        let name = name_of(rc);
        let a = rc.metadata.annotations.as_ref();
        if let (Some(source), Some(desired)) = (
            annotations::get(a, UPDATE_SOURCE_ID).and_then(SourceId::parse),
            annotations::get(a, DESIRED_REPLICAS),
        ) {
            let rollback = annotations::get(a, NEXT_CONTROLLER_ID) == Some(source.name.as_str());
            let method = if rollback {
                "rollback"
            } else {
                "rolling-update"
            };
            found.push(UpdateInfo {
                method,
                rcs: vec![source.name.clone(), name.to_owned()],
                line: format!(
                    "{method} {} -> {name}: step {} of {desired} replicas; old {}; new {}",
                    source.name,
                    spec_replicas(rc),
                    counts(&by_name, &source.name),
                    counts(&by_name, name)
                ),
            });
        }
        if let Some(from) = annotations::get(a, RENAME_FROM) {
            found.push(UpdateInfo {
                method: "rolling-update",
                rcs: vec![name.to_owned(), from.to_owned()],
                line: format!(
                    "rolling-update {name}: renaming {from} to {name}; {}; {}",
                    counts(&by_name, from),
                    counts(&by_name, name)
                ),
            });
        }
        if let Some(image) = annotations::get(a, RECREATE_IMAGE) {
            found.push(UpdateInfo {
                method: "recreate",
                rcs: vec![name.to_owned()],
                line: format!("recreate {name} -> {image}: {}", counts(&by_name, name)),
            });
        }
        if let Some(of) = annotations::get(a, CANARY_OF).and_then(SourceId::parse) {
            let steps = annotations::get(a, CANARY_STEPS)
                .and_then(annotations::parse_counts)
                .unwrap_or_default();
            let total = by_name
                .get(of.name.as_str())
                .and_then(|old| {
                    annotations::replicas(
                        old.metadata.annotations.as_ref(),
                        ORIGINAL_REPLICAS,
                        &of.name,
                    )
                    .ok()
                    .flatten()
                })
                .unwrap_or_else(|| steps.last().copied().unwrap_or(0));
            let all = targets(&steps, total);
            let step = current_step(&all, spec_replicas(rc)).map_or(0, |i| i + 1);
            found.push(UpdateInfo {
                method: "canary",
                rcs: vec![of.name.clone(), name.to_owned()],
                line: format!(
                    "canary {} -> {name}: step {step}/{} ({} of {total} pods on the canary); old {}; new {}",
                    of.name,
                    all.len(),
                    spec_replicas(rc),
                    counts(&by_name, &of.name),
                    counts(&by_name, name)
                ),
            });
        }
    }
    for service in services {
        let a = service.metadata.annotations.as_ref();
        if let (Some(active), Some(standby)) = (
            annotations::get(a, BLUE_GREEN_ACTIVE),
            annotations::get(a, BLUE_GREEN_STANDBY),
        ) {
            let svc = service.metadata.name.as_deref().unwrap_or("");
            found.push(UpdateInfo {
                method: "blue-green",
                rcs: vec![active.to_owned(), standby.to_owned()],
                line: format!(
                    "blue-green service/{svc}: active {}; standby {}",
                    counts(&by_name, active),
                    counts(&by_name, standby)
                ),
            });
        }
    }
    found
}

/// Emits one line per update in progress (involving `rc` if given), or a line saying there
/// is none.
pub async fn run(ctx: &Ctx, rc: Option<&str>) -> Result<Vec<UpdateInfo>> {
    if let Some(name) = rc {
        crate::names::object(crate::names::RC, name)?;
    }
    let pre = ctx.preflight();
    let rcs = api::list_rcs(&pre).await?;
    let services = api::list_services(&pre).await?;
    let mut updates = describe(&rcs, &services);
    if let Some(name) = rc {
        updates.retain(|u| u.rcs.iter().any(|r| r == name));
        if updates.is_empty() && !rcs.iter().any(|r| name_of(r) == name) {
            return Err(EngineError::RcNotFound(name.to_owned()));
        }
    }
    if updates.is_empty() {
        ctx.line(match rc {
            Some(name) => format!("No update in progress for replicationcontroller {name}."),
            None => "No update in progress.".to_owned(),
        });
    }
    for update in &updates {
        ctx.line(update.line.clone());
    }
    Ok(updates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::set_annotation;
    use k8s_fixtures::RcFixture;

    fn rc(
        name: &str,
        replicas: i32,
        ready: i32,
        annotations: &[(&str, &str)],
    ) -> ReplicationController {
        let mut rc = ReplicationController::test()
            .named(name)
            .replicas(replicas)
            .with_status(replicas, ready);
        for (k, v) in annotations {
            set_annotation(&mut rc.metadata, k, v);
        }
        rc
    }

    #[test]
    fn rolling_update_in_progress() {
        let rcs = vec![
            rc(
                "kubia-v1",
                2,
                2,
                &[(NEXT_CONTROLLER_ID, "kubia-v2"), (ORIGINAL_REPLICAS, "3")],
            ),
            rc(
                "kubia-v2",
                1,
                0,
                &[
                    (UPDATE_SOURCE_ID, "kubia-v1:uid-1"),
                    (DESIRED_REPLICAS, "3"),
                ],
            ),
        ];
        let found = describe(&rcs, &[]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].method, "rolling-update");
        assert_eq!(
            found[0].line,
            "rolling-update kubia-v1 -> kubia-v2: step 1 of 3 replicas; old kubia-v1 2 replicas (2 current, 2 ready); new kubia-v2 1 replicas (1 current, 0 ready)"
        );
    }

    #[test]
    fn rollback_and_canary_and_nothing() {
        let rollback = vec![
            rc(
                "kubia-v1",
                1,
                1,
                &[
                    (NEXT_CONTROLLER_ID, "kubia-v2"),
                    (UPDATE_SOURCE_ID, "kubia-v2:u2"),
                    (DESIRED_REPLICAS, "3"),
                ],
            ),
            rc(
                "kubia-v2",
                2,
                2,
                &[
                    (UPDATE_SOURCE_ID, "kubia-v1:uid-1"),
                    (DESIRED_REPLICAS, "3"),
                ],
            ),
        ];
        let methods: Vec<&str> = describe(&rollback, &[]).iter().map(|u| u.method).collect();
        assert_eq!(methods, vec!["rollback", "rolling-update"]);

        let canary = vec![
            rc(
                "kubia-v1",
                2,
                2,
                &[
                    (annotations::CANARY_NEXT, "kubia-v2"),
                    (ORIGINAL_REPLICAS, "3"),
                ],
            ),
            rc(
                "kubia-v2",
                1,
                1,
                &[(CANARY_OF, "kubia-v1:uid-1"), (CANARY_STEPS, "1,2")],
            ),
        ];
        let found = describe(&canary, &[]);
        assert_eq!(found.len(), 1);
        assert!(
            found[0]
                .line
                .starts_with("canary kubia-v1 -> kubia-v2: step 1/3 (1 of 3 pods"),
            "{}",
            found[0].line
        );

        assert!(describe(&[rc("kubia-v1", 3, 3, &[])], &[]).is_empty());
    }
}
