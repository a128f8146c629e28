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
//! - the controller must have observed the RC's generation (the planner's `spec_observed`, as for
//!   a fresh view), and the pods are counted from the pod store (`side::side_of`): a pod the
//!   controller created or deleted for that generation but whose event has not arrived yet
//!   leaves the count off the spec, so the planner waits for the next event instead of
//!   deciding (the RC's events and the pods' arrive on different watches).
//!
//! A view that stays inconsistent, a broken watch, or a wait that ended without any event
//! sends the caller back to a fresh GET + LIST (`wake`), so a stalled watch costs at most one
//! `--poll-interval`, never a wrong decision.

use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

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

use crate::model::labels::{rc_selector, selector_string};
use crate::model::side::{RcState, live_owned_pods, side_of};
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
    pods: Vec<Arc<Pod>>,
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
    let state = RcState {
        rc: rc.clone(),
        side,
        pods,
    };
    if ours_visible {
        View::Usable(state)
    } else {
        let mut state = state;
        state.side.spec_observed = false;
        View::Settling(state)
    }
}

/// The watch caches of one RC and, once its selector is known, of its pods, kept by
/// background tasks that also signal `poke` whenever their `on_change` says a change
/// matters. Either cache may be shared with the other RC of an update ([`watch_rcs`] of the
/// namespace, [`watch_pods`] by the selectors' common part): one LIST and WATCH each instead
/// of two.
pub(crate) struct RcCache {
    rcs: Arc<Cached<ReplicationController>>,
    /// The pods' cache and the selector it was started with (the RC's own, or a part of it).
    pods: Option<PodWatch>,
}

/// A pod watch and the selector it was started with.
pub(crate) type PodWatch = (BTreeMap<String, String>, Arc<Cached<Pod>>);

/// Where a watch cache stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// Listing (first, or again after the watch broke): the store may be incomplete.
    Pending,
    /// Listed and not broken since.
    Live,
    /// Refused for good (RBAC without `list`/`watch`, an odd server): never usable.
    Refused,
}

/// One watch cache and its task (stopped when the last holder drops it).
pub(crate) struct Cached<K: Resource + 'static>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store: Store<K>,
    listing: watch::Receiver<Listing>,
    task: AbortHandle,
}

impl<K: Resource + 'static> Cached<K>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    fn is_live(&self) -> bool {
        *self.listing.borrow() == Listing::Live
    }

    /// Waits until the first listing is done (or refused), at most `max`; whether live.
    pub(crate) async fn until_listed(&self, max: Duration) -> bool {
        let mut listing = self.listing.clone();
        let done = listing.wait_for(|l| *l != Listing::Pending);
        matches!(tokio::time::timeout(max, done).await, Ok(Ok(l)) if *l == Listing::Live)
    }
}

impl Cached<ReplicationController> {
    /// RC `name`, if the watch is live and has it.
    pub(crate) fn named(&self, name: &str) -> Option<Arc<ReplicationController>> {
        if !self.is_live() {
            return None;
        }
        self.store
            .state()
            .into_iter()
            .find(|rc| crate::model::labels::name_of(rc) == name)
    }
}

impl<K: Resource + 'static> Drop for Cached<K>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches RCs: the one named `name`, or all of the namespace (`None`).
pub(crate) fn watch_rcs(
    api: Api<ReplicationController>,
    name: Option<&str>,
    on_rc: impl FnMut(&str, Option<&ReplicationController>) -> bool + Send + 'static,
    poke: &watch::Sender<u64>,
) -> Arc<Cached<ReplicationController>> {
    let config = match name {
        Some(name) => watcher::Config::default().fields(&format!("metadata.name={name}")),
        None => watcher::Config::default(),
    };
    Arc::new(spawn(api, config, on_rc, poke.clone()))
}

/// Watches the pods `selector` matches (non-empty: an empty selector would be every pod).
pub(crate) fn watch_pods(
    api: Api<Pod>,
    selector: &BTreeMap<String, String>,
    on_pod: impl FnMut(&str, Option<&Pod>) -> bool + Send + 'static,
    poke: &watch::Sender<u64>,
) -> Option<Arc<Cached<Pod>>> {
    if selector.is_empty() {
        return None;
    }
    let config = watcher::Config::default().labels(&selector_string(selector));
    Some(Arc::new(spawn(api, config, on_pod, poke.clone())))
}

impl RcCache {
    /// An RC's caches: `rcs` has it, `pods` (if any) was started with `selector`.
    pub(crate) fn new(rcs: Arc<Cached<ReplicationController>>, pods: Option<PodWatch>) -> RcCache {
        RcCache { rcs, pods }
    }

    /// Waits until every started watch has listed (or was refused), at most `max` each;
    /// whether all are live.
    pub(crate) async fn until_listed(&self, max: Duration) -> bool {
        let rcs = self.rcs.until_listed(max).await;
        match &self.pods {
            Some((_, pods)) => pods.until_listed(max).await && rcs,
            None => rcs,
        }
    }

    /// RC `name` as cached, if the watch is live and has it.
    pub(crate) fn rc(&self, name: &str) -> Option<Arc<ReplicationController>> {
        self.rcs.named(name)
    }

    /// The cached view of RC `name`, judged by [`view`]; [`View::Unusable`] while a watch is
    /// not live, or when the pods are watched by a selector that is no longer part of the
    /// RC's.
    pub(crate) fn view(
        &self,
        name: &str,
        written: Option<i64>,
        min_ready_seconds: u32,
        now: i64,
    ) -> View {
        let Some((selector, pods)) = &self.pods else {
            return View::Unusable;
        };
        if !pods.is_live() {
            return View::Unusable;
        }
        let Some(rc) = self.rc(name) else {
            return View::Unusable;
        };
        // The watch must see every pod the RC may own: its selector, or a part of it.
        if !crate::model::labels::matches(selector, Some(&rc_selector(&rc))) {
            return View::Unusable;
        }
        // The store's pods are shared, not copied: this runs on every look.
        let pods = pods.store.state();
        view(Some(&rc), pods, written, min_ready_seconds, now)
    }
}

/// Starts a task that keeps a store of what `api` with `config` lists and watches, marks it
/// live once listed (pending while re-listing after a break), and pokes `poke` when
/// `on_change` says a change matters (and after every listing). A definitive refusal (RBAC
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
    let (state, listing) = watch::channel(Listing::Pending);
    let task = tokio::spawn(async move {
        let poke = || poke.send_modify(|n| *n = n.wrapping_add(1));
        // managedFields are most of a pod's bytes and nothing here reads them; an RC written
        // back without them keeps its own (an update only resets them when told to).
        let stream = watcher::watcher(api, config).modify(|o| o.meta_mut().managed_fields = None);
        let mut stream = pin!(stream.reflect(writer));
        let mut failures = 0u32;
        while let Some(item) = stream.next().await {
            match item {
                Ok(Event::Init) => {
                    state.send_replace(Listing::Pending);
                }
                Ok(Event::InitApply(object)) => {
                    on_change(&name_any(&object), Some(&object));
                }
                Ok(Event::InitDone) => {
                    state.send_replace(Listing::Live);
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
                    if refused(&error) {
                        tracing::debug!("watch refused, observing afresh instead: {error}");
                        state.send_replace(Listing::Refused);
                        return;
                    }
                    state.send_replace(Listing::Pending);
                    tracing::debug!("watch interrupted: {error}");
                    failures += 1;
                    tokio::time::sleep(backoff(failures)).await;
                }
            }
        }
    })
    .abort_handle();
    Cached {
        store,
        listing,
        task,
    }
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

    fn arcs(pods: Vec<Pod>) -> Vec<Arc<Pod>> {
        pods.into_iter().map(Arc::new).collect()
    }

    fn spec_observed(v: &View) -> Option<bool> {
        match v {
            View::Usable(s) => Some(s.side.spec_observed),
            View::Settling(s) => {
                assert!(
                    !s.side.spec_observed,
                    "a settling view never has its spec observed"
                );
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
        let v = view(Some(&rc(2, 3, Some((2, 3)))), arcs(pods), Some(3), 0, 100);
        assert!(matches!(&v, View::Usable(s) if s.side.available == 1 && s.pods.len() == 2));
        assert_eq!(spec_observed(&v), Some(true));
    }

    #[test]
    fn our_write_must_be_visible() {
        let pods = vec![pod("a", "u", Some(0)), pod("b", "u", Some(0))];
        // We scaled to 3 (generation 4); the cache still shows generation 3.
        let v = view(Some(&rc(2, 3, Some((2, 3)))), arcs(pods), Some(4), 0, 100);
        assert!(matches!(v, View::Settling(_)), "{v:?}");
    }

    /// Whether the planner would decide on `v` (`Side::is_settled`).
    fn decidable(v: &View) -> bool {
        matches!(v, View::Usable(s) if s.side.is_settled())
    }

    #[test]
    fn the_pods_not_the_controllers_status_are_counted() {
        // Scaled to 3 (generation 2, observed): the controller's status still says 2 (it
        // reports the count it listed before creating), the pod cache has all 3.
        let two = vec![pod("a", "u", Some(0)), pod("b", "u", Some(0))];
        let mut three = two.clone();
        three.push(pod("c", "u", Some(0)));
        let v = view(
            Some(&rc(3, 2, Some((2, 2)))),
            arcs(three.clone()),
            None,
            0,
            100,
        );
        assert!(decidable(&v), "{v:?}");
        // The pod cache has seen only 2 of them yet, whatever the status says.
        let v = view(Some(&rc(3, 2, Some((3, 2)))), arcs(two), None, 0, 100);
        assert!(!decidable(&v), "{v:?}");
        // A deleted pod not yet seen going: 3 cached for a spec of 2.
        let v = view(
            Some(&rc(2, 2, Some((2, 2)))),
            arcs(three.clone()),
            None,
            0,
            100,
        );
        assert!(!decidable(&v), "{v:?}");
        // The controller has not observed the latest spec: its pods say nothing about it.
        let v = view(Some(&rc(3, 3, Some((3, 2)))), arcs(three), None, 0, 100);
        assert!(!decidable(&v), "{v:?}");
        // No status yet: the controller has not looked.
        let v = view(Some(&rc(0, 1, None)), vec![], None, 0, 100);
        assert!(!decidable(&v), "{v:?}");
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
