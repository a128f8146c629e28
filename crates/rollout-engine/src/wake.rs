//! Waking up when something changes instead of sleeping a fixed period.
//!
//! Why: kubectl polled every `--poll-interval` (3 s), so each step of an update lost on
//! average half an interval after the pods were already ready. The Deployment controller
//! reacts to events; so do we. A [`Wake`] watches the RCs a wait loop looks at (field
//! selector `metadata.name`) and their pods (the RC's label selector) in background tasks,
//! and [`Wake::wait`] returns as soon as one of them changes in a way that matters to the
//! planner (counts, generations, a pod becoming ready, terminating, adopted or released), or
//! when the interval passes. The loops still observe with a fresh GET + LIST after waking:
//! the watch only says *when* to look, never *what* to decide, so a stale or broken watch
//! cannot make a wrong decision, only a late one.
//!
//! Fallback: `--poll-interval` stays the upper bound between observations. A watch that
//! breaks is re-established from its last resourceVersion with backoff; one that cannot be
//! established at all (403 from RBAC, 404/405 from an odd server) is given up, leaving plain
//! polling. Timers the cluster does not announce (a pod reaching `minReadySeconds`) are
//! computed from the observed pods ([`next_available_in`]).

use std::collections::BTreeMap;
use std::pin::pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::api::{Api, WatchEvent, WatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::context::Ctx;
use crate::error::Result;
use crate::model::labels::{name_of, rc_selector, selector_string};
use crate::model::new_rc::spec_replicas;
use crate::model::side::{RcState, is_owned_by, is_terminating};
use crate::retry::{Class, classify};

/// After a change, how long to let related changes arrive before observing (a pod turning
/// ready and the RC's status update come within milliseconds of each other).
const SETTLE: Duration = Duration::from_millis(20);

/// Longest pause between attempts to re-establish a broken watch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What about an RC matters to the wait loops; a change of it is worth an observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RcKey {
    uid: Option<String>,
    generation: Option<i64>,
    spec: u32,
    current: Option<i32>,
    observed_generation: Option<i64>,
    selector: BTreeMap<String, String>,
    deleting: bool,
}

/// The key of an RC.
pub(crate) fn rc_key(rc: &ReplicationController) -> RcKey {
    let status = rc.status.as_ref();
    RcKey {
        uid: rc.metadata.uid.clone(),
        generation: rc.metadata.generation,
        spec: spec_replicas(rc),
        current: status.map(|s| s.replicas),
        observed_generation: status.and_then(|s| s.observed_generation),
        selector: rc_selector(rc),
        deleting: rc.metadata.deletion_timestamp.is_some(),
    }
}

/// What about a pod matters: `None` if it does not count for the RC with `rc_uid` (not owned
/// by it, or terminating); else when its Ready condition last became true (`Some(None)`: not
/// ready). Other status churn (scheduling, IPs, container states) wakes nobody.
pub(crate) fn pod_key(pod: &Pod, rc_uid: &str) -> Option<Option<i64>> {
    if !is_owned_by(pod, rc_uid) || is_terminating(pod) {
        return None;
    }
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready" && c.status == "True"))
        .map(|c| {
            c.last_transition_time
                .as_ref()
                .map_or(0, |t| t.0.as_second())
        });
    Some(ready)
}

/// The last key seen for each object of one watch, to tell changes that matter from churn.
#[derive(Debug)]
pub(crate) struct Seen<K> {
    keys: BTreeMap<String, K>,
}

impl<K> Default for Seen<K> {
    fn default() -> Self {
        Seen {
            keys: BTreeMap::new(),
        }
    }
}

impl<K: PartialEq> Seen<K> {
    /// Records `key` for `name` (`None`: gone or irrelevant); whether that is a change.
    pub(crate) fn note(&mut self, name: &str, key: Option<K>) -> bool {
        match key {
            Some(key) => {
                let changed = self.keys.get(name) != Some(&key);
                self.keys.insert(name.to_owned(), key);
                changed
            }
            None => self.keys.remove(name).is_some(),
        }
    }
}

/// Pause before the `failures`-th consecutive attempt to re-establish a watch: 200 ms
/// doubling, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(10);
    (Duration::from_millis(200) * (1u32 << shift)).min(MAX_BACKOFF)
}

/// How long until the next of `pods` (Ready, not terminating) has been Ready for
/// `min_ready_seconds`, counted from `now` (time since the epoch); `None` if none is pending.
/// Availability is judged in whole seconds (see `side::is_available`), so this is exact.
pub(crate) fn next_available_in(
    pods: &[Pod],
    min_ready_seconds: u32,
    now: Duration,
) -> Option<Duration> {
    if min_ready_seconds == 0 {
        return None;
    }
    pods.iter()
        .filter_map(|pod| pod_key(pod, owner_uid(pod)?).flatten())
        .filter_map(|since| u64::try_from(since + i64::from(min_ready_seconds)).ok())
        .map(Duration::from_secs)
        .filter(|at| *at > now)
        .map(|at| at - now)
        .min()
}

fn owner_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
}

/// The longest a wait loop should sleep given what it observed: `--poll-interval`, or less
/// if a pod of `states` becomes available sooner (plus a few ms so it has, when we look).
pub(crate) fn interval(ctx: &Ctx, states: &[&RcState], min_ready_seconds: u32) -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    states
        .iter()
        .filter_map(|s| next_available_in(&s.pods, min_ready_seconds, now))
        .map(|d| d + Duration::from_millis(5))
        .fold(ctx.timing.poll_interval, Duration::min)
}

/// Watches on some RCs and their pods, and the signal they raise.
pub(crate) struct Wake {
    tx: watch::Sender<u64>,
    rx: watch::Receiver<u64>,
    /// Per RC name: what the watches were started for, and the tasks.
    followed: BTreeMap<String, (RcKey, Vec<AbortHandle>)>,
}

impl Default for Wake {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        for (_, tasks) in self.followed.values() {
            tasks.iter().for_each(AbortHandle::abort);
        }
    }
}

impl Wake {
    /// Nothing watched yet: [`Wake::wait`] only sleeps.
    pub(crate) fn new() -> Self {
        let (tx, rx) = watch::channel(0);
        Wake {
            tx,
            rx,
            followed: BTreeMap::new(),
        }
    }

    /// Watches the RC of `state` and its pods, from the RC's resourceVersion, unless that is
    /// already done (a new UID or selector restarts the watches). What `state` shows is
    /// already known, so only later changes wake.
    pub(crate) fn follow(&mut self, ctx: &Ctx, state: &RcState) {
        let name = name_of(&state.rc).to_owned();
        let key = rc_key(&state.rc);
        let same = |k: &RcKey| k.uid == key.uid && k.selector == key.selector;
        if self.followed.get(&name).is_some_and(|(k, _)| same(k)) {
            return;
        }
        let rv = state.rc.resource_version().unwrap_or_default();
        let mut tasks = Vec::new();
        let mut rcs = Seen::default();
        rcs.note(&name, Some(key.clone()));
        let wp = WatchParams::default().fields(&format!("metadata.name={name}"));
        tasks.push(spawn(
            ctx.rcs(),
            wp,
            rv.clone(),
            rcs,
            |rc| Some(rc_key(rc)),
            &self.tx,
        ));
        if !key.selector.is_empty() {
            let uid = key.uid.clone().unwrap_or_default();
            let mut pods = Seen::default();
            for pod in &state.pods {
                pods.note(&pod.name_any(), pod_key(pod, &uid));
            }
            let wp = WatchParams::default().labels(&selector_string(&key.selector));
            let pod_key = move |pod: &Pod| pod_key(pod, &uid);
            tasks.push(spawn(ctx.pods(), wp, rv, pods, pod_key, &self.tx));
        }
        if let Some((_, old)) = self.followed.insert(name, (key, tasks)) {
            old.iter().for_each(AbortHandle::abort);
        }
    }

    /// Watches RC `rc` alone (its existence and counts), from its resourceVersion.
    pub(crate) fn follow_rc(&mut self, ctx: &Ctx, rc: &ReplicationController) {
        let name = name_of(rc).to_owned();
        if self.followed.contains_key(&name) {
            return;
        }
        let mut rcs = Seen::default();
        rcs.note(&name, Some(rc_key(rc)));
        let wp = WatchParams::default().fields(&format!("metadata.name={name}"));
        let rv = rc.resource_version().unwrap_or_default();
        let task = spawn(ctx.rcs(), wp, rv, rcs, |rc| Some(rc_key(rc)), &self.tx);
        self.followed.insert(name, (rc_key(rc), vec![task]));
    }

    /// Returns when a followed object changed since the previous return (after letting
    /// related changes arrive), or after `max`; fails on Ctrl-C.
    pub(crate) async fn wait(&mut self, ctx: &Ctx, max: Duration) -> Result<()> {
        tokio::select! {
            changed = self.rx.changed() => {
                if changed.is_ok() {
                    ctx.sleep(SETTLE.min(max)).await?;
                }
            }
            slept = ctx.sleep(max) => slept?,
        }
        self.rx.borrow_and_update();
        ctx.check_cancel()
    }
}

/// Starts a task that watches `api` with `wp` from `rv` and signals `tx` whenever `key` of
/// an object changes. It re-establishes the watch after errors and ends only on a definitive
/// refusal (polling then carries on alone) or when aborted.
fn spawn<K, Key>(
    api: Api<K>,
    wp: WatchParams,
    rv: String,
    seen: Seen<Key>,
    key: impl Fn(&K) -> Option<Key> + Send + 'static,
    tx: &watch::Sender<u64>,
) -> AbortHandle
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    Key: PartialEq + Send + 'static,
{
    let tx = tx.clone();
    tokio::spawn(follow(api, wp, rv, seen, key, tx)).abort_handle()
}

async fn follow<K, Key>(
    api: Api<K>,
    wp: WatchParams,
    mut rv: String,
    mut seen: Seen<Key>,
    key: impl Fn(&K) -> Option<Key>,
    tx: watch::Sender<u64>,
) where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
    Key: PartialEq,
{
    let poke = || tx.send_modify(|n| *n = n.wrapping_add(1));
    let mut failures = 0u32;
    loop {
        if failures > 0 {
            tokio::time::sleep(backoff(failures)).await;
        }
        let stream = match api.watch(&wp, &rv).await {
            Ok(stream) => stream,
            Err(kube::Error::Api(status)) if status.code == 410 => {
                // Our resourceVersion is too old: start from now and look once, since
                // changes may have been missed.
                rv.clear();
                poke();
                continue;
            }
            Err(error) => {
                if classify(&error) == Class::Final {
                    tracing::debug!("watch refused, polling instead: {error}");
                    return;
                }
                failures += 1;
                continue;
            }
        };
        let mut stream = pin!(stream);
        let mut events = 0u32;
        while let Some(item) = stream.next().await {
            let (name, key) = match item {
                Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)) => {
                    rv = o.resource_version().unwrap_or_default();
                    (o.name_any(), key(&o))
                }
                Ok(WatchEvent::Deleted(o)) => {
                    rv = o.resource_version().unwrap_or_default();
                    (o.name_any(), None)
                }
                Ok(WatchEvent::Bookmark(b)) => {
                    rv = b.metadata.resource_version;
                    continue;
                }
                Ok(WatchEvent::Error(status)) => {
                    if status.code == 410 {
                        rv.clear();
                        poke();
                    }
                    break;
                }
                Err(error) => {
                    tracing::debug!("watch interrupted: {error}");
                    break;
                }
            };
            events += 1;
            if seen.note(&name, key) {
                poke();
            }
        }
        // A watch that ended without delivering anything counts as a failure, so that a
        // server closing watches at once is not hammered.
        failures = if events == 0 { failures + 1 } else { 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::side::tests::pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn only_changes_that_matter_are_noticed() {
        let mut seen = Seen::default();
        let ready = pod("a", "u", Some(100));
        assert!(seen.note("a", pod_key(&ready, "u")), "a new pod");
        assert!(!seen.note("a", pod_key(&ready, "u")), "churn");
        let mut relisted = ready.clone();
        relisted.metadata.resource_version = Some("9".into());
        assert!(!seen.note("a", pod_key(&relisted, "u")), "same facts again");
        let unready = pod("a", "u", None);
        assert!(seen.note("a", pod_key(&unready, "u")), "readiness lost");
        let mut dying = unready.clone();
        dying.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(seen.note("a", pod_key(&dying, "u")), "terminating");
        assert!(!seen.note("a", None), "already gone for us");
        assert!(
            !seen.note("b", pod_key(&pod("b", "other", None), "u")),
            "not ours"
        );
        assert!(
            seen.note("b", pod_key(&pod("b", "u", None), "u")),
            "adopted"
        );
        assert!(seen.note("b", None), "deleted");
    }

    #[test]
    fn rc_counts_and_generations_matter_but_not_ready_counts() {
        let mut rc = crate::model::new_rc::tests::tutorial_rc();
        let mut seen = Seen::default();
        assert!(seen.note("kubia-v1", Some(rc_key(&rc))));
        rc.status = Some(k8s_openapi::api::core::v1::ReplicationControllerStatus {
            replicas: 3,
            observed_generation: Some(1),
            ..Default::default()
        });
        assert!(seen.note("kubia-v1", Some(rc_key(&rc))), "status");
        if let Some(s) = rc.status.as_mut() {
            s.ready_replicas = Some(2);
        }
        assert!(!seen.note("kubia-v1", Some(rc_key(&rc))), "ready count");
        if let Some(s) = rc.spec.as_mut() {
            s.replicas = Some(4);
        }
        rc.metadata.generation = Some(2);
        assert!(seen.note("kubia-v1", Some(rc_key(&rc))), "our scale");
        assert!(seen.note("kubia-v1", None), "deleted");
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(4), Duration::from_millis(1600));
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn min_ready_seconds_needs_a_timer() {
        let now = Duration::from_millis(1_005_250);
        let pods = vec![
            pod("a", "u", Some(1_000)), // available at 1010 s
            pod("b", "u", Some(1_003)), // at 1013 s
            pod("c", "u", None),        // not ready: no timer
            pod("d", "u", Some(900)),   // long available
        ];
        assert_eq!(
            next_available_in(&pods, 10, now),
            Some(Duration::from_millis(4_750))
        );
        assert_eq!(next_available_in(&pods, 0, now), None);
        assert_eq!(next_available_in(&pods[2..], 10, now), None);
    }
}
