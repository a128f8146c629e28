//! Which RC a pod belongs to and whether it counts: one RC and the pods it owns as the
//! planner's [`Side`].
//!
//! Availability is counted from the pods themselves (Ready for `minReadySeconds`, not
//! terminating), as kubectl did, rather than from RC status, because `--min-ready-seconds` is
//! ours and not the RC's. Only pods *owned* by the RC count: the tutorial's namespace also has
//! pods of an older `kubia` app that match `app=kubia`, and they must not be mistaken for
//! progress.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use rollout_plan::Side;

use crate::model::labels::{name_of, pod_name};
use crate::model::new_rc::spec_replicas;

/// One RC as observed, with its live pods.
#[derive(Debug, Clone)]
pub struct RcState {
    /// The object as read.
    pub rc: ReplicationController,
    /// The planner's view.
    pub side: Side,
    /// Pods owned by the RC and active. Shared with the watch caches' stores (no copy per
    /// look: at 1000 replicas the loops look after every event).
    pub pods: Vec<Arc<Pod>>,
}

/// Seconds since the epoch, for comparing with Ready transition times.
pub(crate) fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether `pod`'s controlling owner is the object with `uid`.
pub fn is_owned_by(pod: &Pod, uid: &str) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == uid)
}

/// Whether `pod` has no controlling owner (an RC whose selector matches would adopt it).
pub fn is_orphan(pod: &Pod) -> bool {
    !pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true))
}

/// Whether `pod` is being deleted.
pub fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// Whether `pod` counts as one of its controller's replicas: not terminating and not
/// finished (`Succeeded`/`Failed`, e.g. evicted). The RC controller counts exactly these in
/// `status.replicas` and replaces the others.
pub fn is_active(pod: &Pod) -> bool {
    let finished = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_some_and(|phase| phase == "Succeeded" || phase == "Failed");
    !is_terminating(pod) && !finished
}

/// Ready condition true for at least `min_ready_seconds` (at `now`), and not terminating.
pub fn is_available(pod: &Pod, min_ready_seconds: u32, now: i64) -> bool {
    if is_terminating(pod) {
        return false;
    }
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(condition) if condition.status == "True" => {
            if min_ready_seconds == 0 {
                return true;
            }
            condition
                .last_transition_time
                .as_ref()
                .is_some_and(|t| t.0.as_second() + i64::from(min_ready_seconds) <= now)
        }
        _ => false,
    }
}

/// Why a pod is not available, briefly (`ImagePullBackOff`, `not ready`, `Pending`...), for the
/// message that names stuck pods.
pub fn pod_problem(pod: &Pod, min_ready_seconds: u32, now: i64) -> String {
    if is_terminating(pod) {
        return "terminating".into();
    }
    let status = pod.status.as_ref();
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .find_map(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone())
        });
    if let Some(reason) = waiting {
        return reason;
    }
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) if c.status == "True" && !is_available(pod, min_ready_seconds, now) => {
            format!("ready for less than {min_ready_seconds}s")
        }
        Some(c) if c.status == "True" => "available".into(),
        _ => match status.and_then(|s| s.phase.as_deref()) {
            Some("Running") | None => "not ready".into(),
            Some(phase) => phase.to_owned(),
        },
    }
}

/// The planner's view of one RC and its live owned pods (see [`live_owned_pods`]).
///
/// `current` is the number of those pods, not `status.replicas`: the RC controller counts
/// the same pods, but its status reaches us a second sync later (the sync that deletes a
/// pod reports the count it listed before deleting). kubectl waited for the status; the
/// pods themselves tell the same thing one round trip earlier, which at 1000 one-pod steps
/// is most of the difference to the Deployment controller's pace. `spec_observed` needs the
/// controller to have observed the latest spec, so a count is never judged against a spec
/// the controller has not acted on.
pub fn side_of(
    rc: &ReplicationController,
    pods: &[Arc<Pod>],
    min_ready_seconds: u32,
    now: i64,
) -> Side {
    let status = rc.status.as_ref();
    let observed = status.and_then(|s| s.observed_generation).unwrap_or(0);
    let generation = rc.metadata.generation.unwrap_or(0);
    let available = pods
        .iter()
        .filter(|p| is_available(p, min_ready_seconds, now))
        .count();
    Side {
        spec: spec_replicas(rc),
        current: u32::try_from(pods.len()).unwrap_or(u32::MAX),
        available: u32::try_from(available).unwrap_or(u32::MAX),
        spec_observed: status.is_some() && observed >= generation,
    }
}

/// Pods matching the RC's selector that it owns and that are active ([`is_active`]).
pub fn live_owned_pods(rc: &ReplicationController, pods: Vec<Arc<Pod>>) -> Vec<Arc<Pod>> {
    let uid = rc.metadata.uid.clone().unwrap_or_default();
    pods.into_iter()
        .filter(|p| is_owned_by(p, &uid) && is_active(p))
        .collect()
}

/// `kubia-v3-abcde (not ready), ...` for the pods of `state` that are not available.
pub fn describe_unavailable(state: &RcState, min_ready_seconds: u32) -> String {
    let now = now_seconds();
    let stuck: Vec<String> = state
        .pods
        .iter()
        .filter(|p| !is_available(p, min_ready_seconds, now))
        .map(|p| {
            format!(
                "{} ({})",
                pod_name(p),
                pod_problem(p, min_ready_seconds, now)
            )
        })
        .collect();
    if stuck.is_empty() {
        format!(
            "{} has {} of {} pods",
            name_of(&state.rc),
            state.side.current,
            state.side.spec
        )
    } else {
        stuck.join(", ")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use k8s_fixtures::PodFixture;
    use k8s_openapi::api::core::v1::ReplicationControllerStatus;

    /// A pod of the RC with `owner_uid`, ready since `ready_since` or not ready.
    pub(crate) fn pod(name: &str, owner_uid: &str, ready_since: Option<i64>) -> Pod {
        let pod = Pod::test().named(name).owned_by(owner_uid);
        match ready_since {
            Some(t) => pod.ready_since(t),
            None => pod,
        }
    }

    #[test]
    fn availability_respects_min_ready_seconds_and_termination() {
        let p = pod("a", "u", Some(1000));
        assert!(is_available(&p, 0, 1000));
        assert!(!is_available(&p, 10, 1005));
        assert!(is_available(&p, 10, 1010));
        assert_eq!(pod_problem(&p, 10, 1005), "ready for less than 10s");
        let t = p.clone().terminating();
        assert!(!is_available(&t, 0, 2000));
        assert_eq!(pod_problem(&t, 0, 2000), "terminating");
        let unready = pod("b", "u", None);
        assert!(!is_available(&unready, 0, 2000));
        assert_eq!(pod_problem(&unready, 0, 2000), "not ready");
    }

    #[test]
    fn waiting_reason_is_reported() {
        let p = pod("c", "u", None).waiting("ErrImageNeverPull");
        assert_eq!(pod_problem(&p, 0, 0), "ErrImageNeverPull");
    }

    #[test]
    fn side_counts_only_owned_live_pods() {
        let mut rc = crate::model::new_rc::tests::tutorial_rc();
        rc.metadata.generation = Some(2);
        rc.status = Some(ReplicationControllerStatus {
            replicas: 3,
            observed_generation: Some(2),
            ..ReplicationControllerStatus::default()
        });
        let dying = pod("d", "uid-1", Some(0)).terminating();
        let mut evicted = pod("e", "uid-1", None);
        if let Some(status) = evicted.status.as_mut() {
            status.phase = Some("Failed".into());
        }
        let pods = vec![
            pod("a", "uid-1", Some(0)),
            pod("b", "uid-1", None),
            pod("stray", "other-uid", Some(0)),
            dying,
            evicted,
        ];
        let pods = live_owned_pods(&rc, pods.into_iter().map(Arc::new).collect());
        assert_eq!(pods.len(), 2);
        let side = side_of(&rc, &pods, 0, 100);
        // The pods are counted, not `status.replicas` (3: the controller's status lags).
        assert_eq!(
            side,
            Side {
                spec: 3,
                current: 2,
                available: 1,
                spec_observed: true
            }
        );
        assert!(!side.is_settled());
        rc.metadata.generation = Some(3);
        assert!(!side_of(&rc, &pods, 0, 100).spec_observed);
        rc.status = None;
        assert!(!side_of(&rc, &pods, 0, 100).spec_observed);
    }

    #[test]
    fn orphans() {
        let mut p = pod("a", "u", None);
        assert!(!is_orphan(&p));
        p.metadata.owner_references = None;
        assert!(is_orphan(&p));
    }
}
