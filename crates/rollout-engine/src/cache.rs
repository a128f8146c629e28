//! What the engine knows of one RC and its pods between observations: watch caches (kube's
//! runtime `watcher` + `reflector` stores) that the wait loops read instead of a GET of the
//! RC and a LIST of its pods after every wake-up.
//!
//! Why: at 1000 replicas a LIST of the pods is megabytes and a rolling update observes
//! thousands of times; the Deployment controller reads its informers' caches, so do we.
//!
//! The rules that keep a cached view from deciding anything a fresh one would not ([`view`],
//! unit-tested):
//! - the stores are used only while their watches are live (listed, and not broken since);
//! - our own writes must be visible: the cached RC's `metadata.generation` is at least the
//!   generation our last write to it returned;
//! - the pod store must agree with the RC controller: as many live owned pods as
//!   `status.replicas`. While it does not (the pod events and the RC's status update arrive
//!   on different watches), the view says "not settled", so the planner waits for the next
//!   event instead of deciding;
//! - the controller must have observed the RC's generation (the planner's `settled`, as for
//!   a fresh view).
//!
//! A view that stays inconsistent, a broken watch, or a wait that ended without any event
//! sends the caller back to a fresh GET + LIST (`wake`), so a stalled watch costs at most one
//! `--poll-interval`, never a wrong decision.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use crate::model::side::{RcState, is_owned_by, is_terminating, live_owned_pods, side_of};
use crate::retry::{Class, classify};

/// A cached view, judged by the rules above.
#[derive(Debug, Clone)]
pub(crate) enum View {
    /// Consistent: decide on it.
    Usable(RcState),
    /// Behind in a way the next event fixes: the state, marked not settled so that nothing
    /// is decided on it.
    Settling(RcState),
    /// Not usable (RC absent, a watch not live): observe afresh.
    Unusable,
}

/// Judges the cached `rc` and `pods` (all pods the selector matched): see the module docs.
/// `written` is the generation our last write to the RC returned, if any.
pub(crate) fn view(
    rc: Option<&ReplicationController>,
    pods: Vec<Pod>,
    written: Option<i64>,
    min_ready_seconds: u32,
    now: i64,
) -> View {
    let Some(rc) = rc else {
        return View::Unusable;
    };
    let pods = live_owned_pods(rc, pods);
    let side = side_of(rc, &pods, min_ready_seconds, now);
    let ours_visible = written.is_none_or(|w| rc.metadata.generation.unwrap_or(0) >= w);
    let counted = rc
        .status
        .as_ref()
        .is_some_and(|s| usize::try_from(s.replicas).ok() == Some(pods.len()));
    let state = RcState {
        rc: rc.clone(),
        side,
        pods,
    };
    if ours_visible && counted {
        View::Usable(state)
    } else {
        let mut state = state;
        state.side.settled = false;
        View::Settling(state)
    }
}

/// The watch caches of one RC (by name) and, if it has a selector, of its pods, kept by
/// background tasks that also signal `poke` whenever `on_rc`/`on_pod` say a change matters.
pub(crate) struct RcCache {
    rcs: Cached<ReplicationController>,
    pods: Option<Cached<Pod>>,
}

/// One watch cache and its task.
struct Cached<K: Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store: Store<K>,
    /// Listed and not broken since.
    live: Arc<AtomicBool>,
    task: AbortHandle,
}

impl<K: Resource + 'static> Drop for Cached<K>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RcCache {
    /// Starts caching RC `name` and, for a non-empty `selector`, the pods it matches.
    pub(crate) fn start(
        rcs: Api<ReplicationController>,
        pods: Api<Pod>,
        name: &str,
        selector: &str,
        on_rc: impl FnMut(&str, Option<&ReplicationController>) -> bool + Send + 'static,
        on_pod: impl FnMut(&str, Option<&Pod>) -> bool + Send + 'static,
        poke: &watch::Sender<u64>,
    ) -> RcCache {
        let by_name = watcher::Config::default().fields(&format!("metadata.name={name}"));
        RcCache {
            rcs: spawn(rcs, by_name, on_rc, poke.clone()),
            pods: (!selector.is_empty()).then(|| {
                let by_selector = watcher::Config::default().labels(selector);
                spawn(pods, by_selector, on_pod, poke.clone())
            }),
        }
    }

    /// The cached view of RC `name`, judged by [`view`]; [`View::Unusable`] while a watch is
    /// not live.
    pub(crate) fn view(
        &self,
        name: &str,
        written: Option<i64>,
        min_ready_seconds: u32,
        now: i64,
    ) -> View {
        let Some(pods) = &self.pods else {
            return View::Unusable;
        };
        if !self.rcs.live.load(Ordering::Acquire) || !pods.live.load(Ordering::Acquire) {
            return View::Unusable;
        }
        let rc = self
            .rcs
            .store
            .state()
            .into_iter()
            .find(|rc| crate::model::labels::name_of(rc) == name);
        let Some(rc) = rc else {
            return View::Unusable;
        };
        // Only the pods that count are copied out of the store: this runs on every look, and
        // at 1000 replicas copying terminating or unowned pods as well is wasted work.
        let uid = rc.metadata.uid.as_deref().unwrap_or_default();
        let pods = pods
            .store
            .state()
            .iter()
            .filter(|p| is_owned_by(p, uid) && !is_terminating(p))
            .map(|p| Pod::clone(p))
            .collect();
        view(Some(&rc), pods, written, min_ready_seconds, now)
    }
}

/// Starts a task that keeps a store of what `api` with `config` lists and watches, marks it
/// live once listed (not live while re-listing after a break), and pokes `poke` when
/// `on_change` says a change matters (and after every re-list). A definitive refusal (RBAC
/// without `list`/`watch`) ends the task: the cache never becomes live and the loops observe
/// afresh, as they do without watches.
fn spawn<K>(
    api: Api<K>,
    config: watcher::Config,
    mut on_change: impl FnMut(&str, Option<&K>) -> bool + Send + 'static,
    poke: watch::Sender<u64>,
) -> Cached<K>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: std::hash::Hash + Eq + Clone + Default + Send + Sync,
{
    let (store, writer) = reflector::store();
    let live = Arc::new(AtomicBool::new(false));
    let flag = live.clone();
    let task = tokio::spawn(async move {
        let poke = || poke.send_modify(|n| *n = n.wrapping_add(1));
        let mut stream = pin!(watcher::watcher(api, config).reflect(writer));
        let mut failures = 0u32;
        while let Some(item) = stream.next().await {
            match item {
                Ok(Event::Init) => flag.store(false, Ordering::Release),
                Ok(Event::InitApply(object)) => {
                    on_change(&name_any(&object), Some(&object));
                }
                Ok(Event::InitDone) => {
                    flag.store(true, Ordering::Release);
                    failures = 0;
                    poke();
                }
                Ok(Event::Apply(object)) => {
                    if on_change(&name_any(&object), Some(&object)) {
                        poke();
                    }
                }
                Ok(Event::Delete(object)) => {
                    if on_change(&name_any(&object), None) {
                        poke();
                    }
                }
                Err(error) => {
                    flag.store(false, Ordering::Release);
                    if refused(&error) {
                        tracing::debug!("watch refused, observing afresh instead: {error}");
                        return;
                    }
                    tracing::debug!("watch interrupted: {error}");
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    })
    .abort_handle();
    Cached { store, live, task }
}

fn name_any<K: Resource>(object: &K) -> String {
    object.meta().name.clone().unwrap_or_default()
}

/// Whether a watcher error is a definitive refusal (the same errors a single call would
/// not retry).
fn refused(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => classify(e) == Class::Final,
        watcher::Error::WatchError(status) => matches!(status.code, 401 | 403 | 404 | 405),
        watcher::Error::NoResourceVersion => true,
    }
}

/// Longest pause between attempts to re-establish a broken watch.
const MAX_BACKOFF: std::time::Duration = std::time::Duration::from_secs(5);

/// Pause before the `failures`-th consecutive attempt to re-establish a watch: 200 ms
/// doubling, at most [`MAX_BACKOFF`].
pub(crate) fn backoff(failures: u32) -> std::time::Duration {
    let shift = failures.saturating_sub(1).min(10);
    (std::time::Duration::from_millis(200) * (1u32 << shift)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::side::tests::pod;
    use k8s_fixtures::RcFixture;

    fn rc(spec: i32, generation: i64, status: Option<(i32, i64)>) -> ReplicationController {
        let mut rc = ReplicationController::test().uid("u").replicas(spec);
        rc.metadata.generation = Some(generation);
        if let Some((replicas, observed)) = status {
            rc = rc.with_status(replicas, 0);
            if let Some(s) = rc.status.as_mut() {
                s.observed_generation = Some(observed);
            }
        }
        rc
    }

    fn settled(v: &View) -> Option<bool> {
        match v {
            View::Usable(s) => Some(s.side.settled),
            View::Settling(s) => {
                assert!(!s.side.settled, "a settling view is never settled");
                Some(false)
            }
            View::Unusable => None,
        }
    }

    #[test]
    fn a_consistent_cache_is_decided_on() {
        let pods = vec![
            pod("a", "u", Some(0)),
            pod("b", "u", None),
            pod("x", "other", Some(0)),
        ];
        let v = view(Some(&rc(2, 3, Some((2, 3)))), pods, Some(3), 0, 100);
        assert!(matches!(&v, View::Usable(s) if s.side.available == 1 && s.pods.len() == 2));
        assert_eq!(settled(&v), Some(true));
    }

    #[test]
    fn our_write_must_be_visible() {
        let pods = vec![pod("a", "u", Some(0)), pod("b", "u", Some(0))];
        // We scaled to 3 (generation 4); the cache still shows generation 3.
        let v = view(Some(&rc(2, 3, Some((2, 3)))), pods, Some(4), 0, 100);
        assert!(matches!(v, View::Settling(_)), "{v:?}");
    }

    #[test]
    fn pods_must_agree_with_the_controllers_count() {
        // The RC controller counts 3 pods; the pod cache has seen only 2 of them yet.
        let two = vec![pod("a", "u", Some(0)), pod("b", "u", Some(0))];
        let v = view(Some(&rc(3, 2, Some((3, 2)))), two.clone(), None, 0, 100);
        assert!(matches!(v, View::Settling(_)), "{v:?}");
        // A deleted pod still cached while the controller already counts it gone.
        let mut three = two;
        three.push(pod("c", "u", Some(0)));
        let v = view(Some(&rc(2, 2, Some((2, 2)))), three, None, 0, 100);
        assert!(matches!(v, View::Settling(_)), "{v:?}");
        // No status yet: the controller has not looked.
        let v = view(Some(&rc(0, 1, None)), vec![], None, 0, 100);
        assert!(matches!(v, View::Settling(_)), "{v:?}");
    }

    #[test]
    fn backoff_doubles_up_to_a_cap() {
        assert_eq!(backoff(1), std::time::Duration::from_millis(200));
        assert_eq!(backoff(2), std::time::Duration::from_millis(400));
        assert_eq!(backoff(4), std::time::Duration::from_millis(1600));
        assert_eq!(backoff(6), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn an_absent_rc_is_looked_up_afresh() {
        assert!(matches!(view(None, vec![], None, 0, 0), View::Unusable));
    }
}
