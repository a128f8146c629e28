//! The tutorial's first manual method: change the RC's template image, delete all old pods,
//! let the RC recreate them. The application is down while the new pods start; that is the
//! method's known cost.
//!
//! Resumable: the image goes into the template together with a `recreate-image` annotation;
//! a rerun finds the template already changed, deletes whatever pods still run another image,
//! and waits. Pods are deleted only after the RC controller has observed the new template,
//! otherwise it could recreate them from the old one.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, ReplicationController};

use crate::access;
use crate::api::{self, remove_annotations, set_annotation};
use crate::begin::begin;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::health::{self, FailurePolicy};
use crate::model::annotations::{self, RECREATE_IMAGE};
use crate::model::image;
use crate::model::labels::{self, pod_name};
use crate::model::new_rc::{self, ImageChange, check_image_change, container_image, containers};
use crate::model::side::{self, RcState};
use crate::waiting::observe;
use crate::waiting::settle;
use rollout_plan::health::{OnFailure, Signal, assess};
use rollout_plan::recreate::{self as plan, RecreateObserved, RecreateStep};

/// A recreate request.
#[derive(Debug, Clone, PartialEq)]
pub struct Recreate {
    /// The RC to update in place.
    pub rc_name: String,
    /// The new image (and container, pull policy).
    pub change: ImageChange,
    /// Seconds a new pod must be Ready to count.
    pub min_ready_seconds: u32,
    /// Failure signals in the new pods, and `--on-failure`.
    pub failure: FailurePolicy,
    /// Update an RC that another controller owns.
    pub force: bool,
}

/// The image of container `name` in a pod (`""` if absent).
pub fn pod_image<'a>(pod: &'a Pod, container: &str) -> &'a str {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.iter().find(|c| c.name == container))
        .and_then(|c| c.image.as_deref())
        .unwrap_or("")
}

/// Whether the template already has the requested image and pull policy.
fn template_done(rc: &ReplicationController, index: usize, change: &ImageChange) -> bool {
    container_image(rc, index) == change.image.to_string()
        && change
            .pull_policy
            .is_none_or(|p| new_rc::effective_pull_policy(rc, index) == Some(p))
}

/// Runs the recreate.
pub async fn run(ctx: &Ctx, req: &Recreate) -> Result<()> {
    crate::names::object(crate::names::RC, &req.rc_name)?;
    Box::pin(run_inner(ctx, req)).await
}

async fn run_inner(ctx: &Ctx, req: &Recreate) -> Result<()> {
    let pre = ctx.preflight();
    let name = req.rc_name.as_str();
    let rc = api::get_rc(&pre, name).await?;
    labels::check_selector_matches_template(&rc)?;
    labels::check_not_owned(&rc, req.force)?;
    let index = new_rc::select_container(&rc, req.change.container.as_deref())?;
    let container = containers(&rc)
        .get(index)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let recorded =
        annotations::get(rc.metadata.annotations.as_ref(), RECREATE_IMAGE).map(str::to_owned);
    let already = template_done(&rc, index, &req.change);
    if let Some(recorded) = &recorded
        && *recorded != req.change.image.to_string()
    {
        return Err(EngineError::invalid(format!(
            "replicationcontroller {name} is being recreated with image {recorded}; continue with --image={recorded}"
        )));
    }
    if !already {
        check_image_change(&rc, &req.change)?;
        ctx.warn(new_rc::pull_policy_warning(&rc, &req.change));
    }
    begin(ctx, access::RECREATE, &[name], async {
        let previous = container_image(&rc, index).to_owned();
        let ctx =
            &ctx.with_undo(
                ctx.hints
                    .command(&["recreate", name, &format!("--image={previous}")]),
            );

        let image = req.change.image.to_string();
        let image = image.as_str();
        loop {
            let state = observe::required(ctx, name, req.min_ready_seconds).await?;
            let stale: Vec<&Pod> = state
                .pods
                .iter()
                .filter(|p| pod_image(p, &container) != image)
                .map(|p| &**p)
                .collect();
            let observed = RecreateObserved {
                template_updated: template_done(&state.rc, index, &req.change),
                in_progress: annotations::get(
                    state.rc.metadata.annotations.as_ref(),
                    RECREATE_IMAGE,
                )
                .is_some(),
                settled: state.side.is_settled(),
                stale_pods: u32::try_from(stale.len()).unwrap_or(u32::MAX),
                new_available: stale.is_empty() && settle::all_available(&state),
            };
            match plan::next_step(&observed) {
                RecreateStep::UpdateTemplate => {
                    update_template(ctx, req, &container).await?;
                    ctx.line(format!(
                        "replicationcontroller/{name} image updated to {image}"
                    ));
                }
                RecreateStep::Unchanged => {
                    ctx.line(format!(
                        "replicationcontroller/{name} unchanged: it already runs {image}"
                    ));
                    return Ok(());
                }
                RecreateStep::WaitObserved => {
                    settle::until_settled(ctx, name).await?;
                }
                RecreateStep::DeleteStale { .. } => {
                    let names: Vec<&str> = stale.iter().map(|p| pod_name(p)).collect();
                    ctx.line(format!(
                        "Deleting {} old pod{} of {name}: {}",
                        stale.len(),
                        if stale.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    ));
                    for pod in names {
                        api::delete_pod(ctx, pod).await?;
                    }
                }
                RecreateStep::WaitNewAvailable => {
                    if let Some(signal) = wait_new(ctx, req, &container).await? {
                        return Err(failed(ctx, req, &previous, &signal).await);
                    }
                }
                RecreateStep::Finish => break,
            }
        }
        api::update_rc(ctx, name, |rc| {
            Ok(remove_annotations(&mut rc.metadata, &[RECREATE_IMAGE]))
        })
        .await?;
        ctx.line(format!(
            "replicationcontroller/{name} recreated with image {image}"
        ));
        Ok(())
    })
    .await
}

/// The image (and pull policy) into the template, with the annotation that marks the
/// update as ours and in progress.
async fn update_template(ctx: &Ctx, req: &Recreate, container: &str) -> Result<()> {
    let name = req.rc_name.as_str();
    api::update_rc(ctx, name, |rc| {
        let Some(c) = rc
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut())
            .and_then(|t| t.spec.as_mut())
            .and_then(|s| s.containers.iter_mut().find(|c| c.name == container))
        else {
            return Err(EngineError::Inconsistent(format!(
                "container {container} disappeared from replicationcontroller {name}"
            )));
        };
        c.image = Some(req.change.image.to_string());
        if let Some(policy) = req.change.pull_policy {
            c.image_pull_policy = Some(policy.as_str().to_owned());
        }
        set_annotation(
            &mut rc.metadata,
            RECREATE_IMAGE,
            &req.change.image.to_string(),
        );
        Ok(true)
    })
    .await
    .map(drop)
}

/// Until every pod runs the new image and is available; a failure signal in the new pods
/// ends the wait early and is returned.
async fn wait_new(ctx: &Ctx, req: &Recreate, container: &str) -> Result<Option<Signal>> {
    let name = req.rc_name.as_str();
    let image = req.change.image.to_string();
    let image = image.as_str();
    let goal = format!("the new pods of {name} to become available");
    let signal = |state: &RcState| {
        let new: Vec<Arc<Pod>> = state
            .pods
            .iter()
            .filter(|p| pod_image(p, container) == image)
            .cloned()
            .collect();
        assess(
            name,
            &health::new_pods(&new, side::now_seconds()),
            None,
            &req.failure.thresholds,
        )
    };
    let state = settle::until_rc(ctx, name, req.min_ready_seconds, &goal, |state| {
        signal(state).is_some()
            || (settle::all_available(state)
                && state.pods.iter().all(|p| pod_image(p, container) == image))
    })
    .await?;
    Ok(signal(&state))
}

/// `--on-failure` for a recreate: stop, or recreate the RC with the image it ran before.
async fn failed(ctx: &Ctx, req: &Recreate, previous: &str, signal: &Signal) -> EngineError {
    let name = req.rc_name.as_str();
    match req.failure.on_failure {
        OnFailure::Rollback if previous != req.change.image.to_string() => {
            // The image the RC ran before was accepted by the cluster; one that is not a
            // reference here cannot be restored by this command either.
            let image = match image::parse_reference(previous) {
                Ok(image) => image,
                Err(e) => {
                    return EngineError::BadVersion(format!(
                        "{signal}; cannot recreate {name} with {previous}: {e}"
                    ));
                }
            };
            ctx.line(format!("{signal}: recreating {name} with {previous}"));
            let back = Recreate {
                change: ImageChange {
                    image,
                    pull_policy: None,
                    ..req.change.clone()
                },
                failure: FailurePolicy::default(),
                ..req.clone()
            };
            match run(ctx, &back).await {
                Ok(()) => EngineError::BadVersion(format!(
                    "{signal}; rolled back: {name} runs {previous} again"
                )),
                Err(e) => EngineError::BadVersion(format!(
                    "{signal}; recreating {name} with {previous} failed: {e}"
                )),
            }
        }
        _ => EngineError::BadVersion(format!("{signal}; stopped; {}", ctx.recovery())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::image::PullPolicy;
    use k8s_fixtures::PodFixture;

    #[test]
    fn template_and_pod_images() {
        let rc = crate::model::new_rc::tests::tutorial_rc();
        let v1 = ImageChange {
            image: "luksa/kubia:v1".parse().expect("a valid image reference"),
            container: None,
            pull_policy: None,
        };
        assert!(template_done(&rc, 0, &v1));
        let v2 = ImageChange {
            image: "luksa/kubia:v2".parse().expect("a valid image reference"),
            ..v1.clone()
        };
        assert!(!template_done(&rc, 0, &v2));
        let always = ImageChange {
            pull_policy: Some(PullPolicy::Always),
            ..v1
        };
        assert!(!template_done(&rc, 0, &always));
        let pod = Pod::test().running("nodejs", "luksa/kubia:v1");
        assert_eq!(pod_image(&pod, "nodejs"), "luksa/kubia:v1");
        assert_eq!(pod_image(&pod, "other"), "");
    }
}
