//! Giving the old RC a distinguishing `deployment` label, in kubectl's safe order.
//!
//! Why the order matters: the old RC's selector (e.g. `app=kubia`) would also match the new
//! RC's pods, so it gets an extra key. If the selector changed first, the RC would see none
//! of its pods (they lack the key), release them and create replacements. So: (1) the label
//! goes into the template, so pods the controller creates from now on have it; (2) we wait
//! until the controller has seen that template, then label the existing pods; (3) once the
//! controller has seen those labels too, the selector gets the key. Every step is
//! idempotent, so an interrupted run simply redoes the remaining ones.

use k8s_openapi::api::core::v1::ReplicationController;

use crate::api;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::model::labels::{self, rc_selector, template_labels};
use crate::model::new_rc::set_template_label;
use crate::model::side::{is_orphan, is_owned_by};
use crate::waiting::wait::{self, Look};
use crate::waiting::wake::Wake;
use futures::TryStreamExt;

/// Applies `annotate` to the old RC (`old`, as read moments ago: written back with its
/// resourceVersion, re-read only on a conflict) and makes sure its selector contains `key`
/// (with the template's value if the template already has one, else `orig_value`),
/// relabelling its pods in between. Returns the RC as stored.
pub(crate) async fn prepare_old<F>(
    ctx: &Ctx,
    old: &ReplicationController,
    key: &str,
    orig_value: &str,
    annotate: F,
) -> Result<ReplicationController>
where
    F: Fn(&mut ReplicationController) -> bool,
{
    let old_name = labels::name_of(old);
    let rc = api::update_observed_rc(ctx, old, |rc| {
        let mut changed = annotate(rc);
        if !rc_selector(rc).contains_key(key) && !template_labels(rc).contains_key(key) {
            set_template_label(rc, key, orig_value);
            changed = true;
        }
        Ok(changed)
    })
    .await?;
    if rc_selector(&rc).contains_key(key) {
        return Ok(rc);
    }
    let Some(value) = template_labels(&rc).get(key).cloned() else {
        return Err(EngineError::Inconsistent(format!(
            "replicationcontroller {old_name} lost its {key} template label while being prepared"
        )));
    };
    let rc = wait_template_observed(ctx, old_name).await?;

    let uid = rc.metadata.uid.clone().unwrap_or_default();
    let selector = rc_selector(&rc);
    let pods = api::list_pods(ctx, &selector).await?;
    // One PATCH per pod (the API has no batch label), a few at a time: at 1000 replicas one
    // after the other is most of the update's first seconds.
    futures::stream::iter(
        pods.iter()
            .filter(|pod| is_owned_by(pod, &uid) || is_orphan(pod))
            .map(Ok),
    )
    .try_for_each_concurrent(LABEL_CONCURRENCY, |pod| {
        api::label_pod(ctx, pod, key, &value, |fresh| {
            labels::matches(&selector, fresh.metadata.labels.as_ref())
                && (is_owned_by(fresh, &uid) || is_orphan(fresh))
        })
    })
    .await?;
    let rc = wait_labels_observed(ctx, old_name).await?;

    api::update_observed_rc(ctx, &rc, |rc| {
        if rc_selector(rc).contains_key(key) {
            return Ok(false);
        }
        rc.spec
            .get_or_insert_with(Default::default)
            .selector
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value.clone());
        Ok(true)
    })
    .await
}

/// Pod label PATCHes in flight at once.
const LABEL_CONCURRENCY: usize = 8;

/// Waits until the RC controller has observed the RC's latest generation; the RC as read
/// then.
async fn wait_template_observed(ctx: &Ctx, name: &str) -> Result<ReplicationController> {
    wait_for_controller(ctx, name, template_observed, |name| {
        (
            format!("waiting for the controller to observe replicationcontroller {name}"),
            format!(
                "timed out waiting for the replication controller manager to observe {name} (is kube-controller-manager running?)"
            ),
        )
    })
    .await
}

/// Waits until the RC controller counts every pod of RC `name` as carrying the template's
/// labels (`status.fullyLabeledReplicas == status.replicas` at the latest generation): its
/// pod cache has then seen the relabelling. A selector changed before that is matched
/// against pods the controller still sees without the key: it counts too few and creates
/// extras (seen on kind: 6 live pods for a 4-replica canary). kubectl 1.17 did not wait here;
/// it deleted, afterwards, pods created without the key.
async fn wait_labels_observed(ctx: &Ctx, name: &str) -> Result<ReplicationController> {
    wait_for_controller(ctx, name, labels_observed, |name| {
        (
            format!("waiting for the controller to see the relabelled pods of replicationcontroller {name}"),
            format!(
                "timed out waiting for the replication controller manager to count the relabelled pods of {name} (is kube-controller-manager running?)"
            ),
        )
    })
    .await
}

/// Reads RC `name` (woken by its changes) until `done` holds for what the controller wrote
/// into its status; `messages` gives the progress line and the timeout error.
async fn wait_for_controller(
    ctx: &Ctx,
    name: &str,
    done: fn(&ReplicationController) -> bool,
    messages: fn(&str) -> (String, String),
) -> Result<ReplicationController> {
    wait::until(ctx, async |wake: &mut Wake| {
        let rc = api::get_rc(ctx, name).await?;
        wake.follow_rc(ctx, &rc);
        if done(&rc) {
            return Ok(Look::Done(rc));
        }
        let (waiting, timed_out) = messages(name);
        Ok(Look::pending(waiting, timed_out, wait::short_pause(ctx)))
    })
    .await
}

/// The controller's status is of the RC's latest generation.
fn template_observed(rc: &ReplicationController) -> bool {
    let generation = rc.metadata.generation.unwrap_or(0);
    let observed = rc
        .status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0);
    observed >= generation
}

/// The controller's status is of the RC's latest generation and counts all its pods as
/// carrying the template's labels.
fn labels_observed(rc: &ReplicationController) -> bool {
    template_observed(rc)
        && rc
            .status
            .as_ref()
            .is_some_and(|s| s.fully_labeled_replicas.unwrap_or(0) >= s.replicas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ReplicationControllerStatus;

    fn rc(
        generation: i64,
        observed: i64,
        replicas: i32,
        fully: Option<i32>,
    ) -> ReplicationController {
        ReplicationController {
            metadata: kube::api::ObjectMeta {
                generation: Some(generation),
                ..Default::default()
            },
            status: Some(ReplicationControllerStatus {
                observed_generation: Some(observed),
                replicas,
                fully_labeled_replicas: fully,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn relabelled_pods_count_once_the_controller_has_seen_them_all() {
        assert!(labels_observed(&rc(2, 2, 4, Some(4))));
        assert!(
            labels_observed(&rc(2, 2, 0, None)),
            "no pods: nothing to see"
        );
        assert!(
            !labels_observed(&rc(2, 2, 4, Some(3))),
            "one pod still seen unlabelled"
        );
        assert!(
            !labels_observed(&rc(2, 2, 4, None)),
            "Go omits a zero count"
        );
        assert!(
            !labels_observed(&rc(3, 2, 4, Some(4))),
            "a status of an older generation"
        );
        assert!(
            !labels_observed(&ReplicationController::default()),
            "no status yet"
        );
    }
}
