//! The tutorial's first manual method: change the RC's template image, delete all old pods,
//! let the RC recreate them. The application is down while the new pods start; that is the
//! method's known cost.
//!
//! Resumable: the image goes into the template together with a `recreate-image` annotation;
//! a rerun finds the template already changed, deletes whatever pods still run another image,
//! and waits. Pods are deleted only after the RC controller has observed the new template,
//! otherwise it could recreate them from the old one.

use k8s_openapi::api::core::v1::{Pod, ReplicationController};

use crate::annotations::{self, RECREATE_IMAGE};
use crate::context::Ctx;
use crate::derive::{self, ImageChange, check_image_change, container_image, containers};
use crate::error::{EngineError, Result};
use crate::health::{self, FailurePolicy};
use crate::labels::{self, pod_name, rc_selector};
use crate::observe::live_owned_pods;
use crate::ops::{self, remove_annotations, set_annotation};
use crate::{image, waits};
use rollout_plan::health::{OnFailure, assess};

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
    container_image(rc, index) == change.image
        && change
            .pull_policy
            .is_none_or(|p| derive::effective_pull_policy(rc, index) == Some(p))
}

/// Runs the recreate.
pub async fn run(ctx: &Ctx, req: &Recreate) -> Result<()> {
    Box::pin(run_inner(ctx, req)).await
}

async fn run_inner(ctx: &Ctx, req: &Recreate) -> Result<()> {
    image::validate_reference(&req.change.image)?;
    let pre = ctx.preflight();
    let name = req.rc_name.as_str();
    let rc = ops::get_rc(&pre, name).await?;
    labels::check_selector_matches_template(&rc)?;
    labels::check_not_owned(&rc, req.force)?;
    let index = derive::select_container(&rc, req.change.container.as_deref())?;
    let container = containers(&rc)
        .get(index)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let recorded =
        annotations::get(rc.metadata.annotations.as_ref(), RECREATE_IMAGE).map(str::to_owned);
    let already = template_done(&rc, index, &req.change);
    if let Some(recorded) = &recorded
        && *recorded != req.change.image
    {
        return Err(EngineError::invalid(format!(
            "replicationcontroller {name} is being recreated with image {recorded}; continue with --image={recorded}"
        )));
    }
    if !already {
        check_image_change(&rc, &req.change)?;
        ctx.warn_pull_policy(&rc, &req.change);
    }
    crate::access::check(&pre, crate::access::RECREATE).await?;
    crate::lease::holding(&pre, name, async {
        let previous = container_image(&rc, index).to_owned();
        let ctx =
            &ctx.with_undo(
                ctx.hints
                    .command(&["recreate", name, &format!("--image={previous}")]),
            );

        if !already {
            ops::update_rc(ctx, name, |rc| {
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
                c.image = Some(req.change.image.clone());
                if let Some(policy) = req.change.pull_policy {
                    c.image_pull_policy = Some(policy.as_str().to_owned());
                }
                set_annotation(&mut rc.metadata, RECREATE_IMAGE, &req.change.image);
                Ok(true)
            })
            .await?;
            ctx.line(format!(
                "replicationcontroller/{name} image updated to {}",
                req.change.image
            ));
        } else if recorded.is_none() {
            let rc = ops::get_rc(ctx, name).await?;
            let stale = stale_pods(ctx, &rc, &container, &req.change.image).await?;
            if stale.is_empty() {
                ctx.line(format!(
                    "replicationcontroller/{name} unchanged: it already runs {}",
                    req.change.image
                ));
                return Ok(());
            }
        }

        // The controller must know the new template before it replaces deleted pods.
        waits::until_settled(ctx, name).await?;
        let rc = ops::get_rc(ctx, name).await?;
        let stale = stale_pods(ctx, &rc, &container, &req.change.image).await?;
        if !stale.is_empty() {
            let names: Vec<&str> = stale.iter().map(pod_name).collect();
            ctx.line(format!(
                "Deleting {} old pod{} of {name}: {}",
                stale.len(),
                if stale.len() == 1 { "" } else { "s" },
                names.join(", ")
            ));
            for pod in &stale {
                ops::delete_pod(ctx, pod_name(pod)).await?;
            }
        }
        let goal = format!("the new pods of {name} to become available");
        let image = req.change.image.as_str();
        let signal = |state: &crate::observe::RcState| {
            let new: Vec<Pod> = state
                .pods
                .iter()
                .filter(|p| pod_image(p, &container) == image)
                .cloned()
                .collect();
            let now = crate::observe::now_seconds();
            assess(
                name,
                &health::new_pods(&new, now),
                None,
                &req.failure.thresholds,
            )
        };
        let state = waits::until(ctx, name, req.min_ready_seconds, &goal, |state| {
            signal(state).is_some()
                || (waits::all_available(state)
                    && state.pods.iter().all(|p| pod_image(p, &container) == image))
        })
        .await?;
        if let Some(signal) = signal(&state) {
            return Err(match req.failure.on_failure {
                OnFailure::Rollback if previous != image => {
                    ctx.line(format!("{signal}: recreating {name} with {previous}"));
                    let back = Recreate {
                        change: ImageChange {
                            image: previous.clone(),
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
            });
        }
        ops::update_rc(ctx, name, |rc| {
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

/// Live pods of the RC whose container runs another image.
async fn stale_pods(
    ctx: &Ctx,
    rc: &ReplicationController,
    container: &str,
    image: &str,
) -> Result<Vec<Pod>> {
    let pods = ops::list_pods(ctx, &rc_selector(rc)).await?;
    Ok(live_owned_pods(rc, pods)
        .into_iter()
        .filter(|p| pod_image(p, container) != image)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::PullPolicy;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    #[test]
    fn template_and_pod_images() {
        let rc = crate::derive::tests::tutorial_rc();
        let v1 = ImageChange {
            image: "luksa/kubia:v1".into(),
            container: None,
            pull_policy: None,
        };
        assert!(template_done(&rc, 0, &v1));
        let v2 = ImageChange {
            image: "luksa/kubia:v2".into(),
            ..v1.clone()
        };
        assert!(!template_done(&rc, 0, &v2));
        let always = ImageChange {
            pull_policy: Some(PullPolicy::Always),
            ..v1
        };
        assert!(!template_done(&rc, 0, &always));
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "nodejs".into(),
                    image: Some("luksa/kubia:v1".into()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            ..Pod::default()
        };
        assert_eq!(pod_image(&pod, "nodejs"), "luksa/kubia:v1");
        assert_eq!(pod_image(&pod, "other"), "");
    }
}
