//! Waking up when something changes instead of sleeping a fixed period, and looking at
//! what changed through watch caches instead of reading it again.
//!
//! Why: kubectl polled every `--poll-interval` (3 s), so each step of an update lost on
//! average half an interval after the pods were already ready, and re-read the RCs and
//! re-listed their pods every time. The Deployment controller reacts to events and reads its
//! informers' caches; so do we. A [`Wake`] keeps watch caches (`cache`: kube's runtime
//! watcher and reflector) of the RCs a wait loop looks at (field selector `metadata.name`)
//! and of their pods (the RC's label selector); [`Wake::wait`] returns as soon as one of
//! them changes in a way that matters to the planner (counts, generations, a pod becoming
//! ready, terminating, adopted or released), or when the interval passes; and
//! [`Wake::observe`] answers from the caches when `cache`'s rules say they are consistent
//! (our writes visible, the pods agreeing with the controller's count), else with a fresh
//! GET + LIST.
//!
//! Fallback: `--poll-interval` stays the upper bound between observations, and a wait that
//! ends without any event makes the next observation fresh. A watch that breaks is
//! re-listed with backoff; one that cannot be established at all (403 from RBAC, 404/405
//! from an odd server) is given up, leaving fresh observations and plain polling. Timers the
//! cluster does not announce (a pod reaching `minReadySeconds`) are computed from the
//! observed pods ([`next_available_in`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{Pod, ReplicationController};
use kube::ResourceExt;
use tokio::sync::watch;

use crate::context::Ctx;
use crate::error::Result;
use crate::model::labels::{matches, name_of, rc_selector};
use crate::model::new_rc::spec_replicas;
use crate::model::side::{RcState, is_active, is_owned_by, now_seconds};
use crate::waiting::cache::{Cached, PodWatch, RcCache, View, watch_pods, watch_rcs};
use crate::waiting::observe;

/// After a change, how long to let related changes arrive before observing (a pod deleted
/// by the RC controller and the RC's status update come within a millisecond or two of each
/// other). Short, because it is paid on every wake-up: a look that comes too early only finds
/// the view not settled and waits again.
const SETTLE: Duration = Duration::from_millis(3);

/// What about an RC matters to the wait loops; a change of it is worth an observation.
/// Not `status.replicas`: the loops count the pods themselves (`side::side_of`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RcKey {
    uid: Option<String>,
    generation: Option<i64>,
    spec: u32,
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
        observed_generation: status.and_then(|s| s.observed_generation),
        selector: rc_selector(rc),
        deleting: rc.metadata.deletion_timestamp.is_some(),
    }
}

/// What about a pod matters: `None` if it does not count for the RC with `rc_uid` (not owned
/// by it, or not active: terminating or finished); else when its Ready condition last became
/// true (`Some(None)`: not ready). Other status churn (scheduling, IPs, container states)
/// wakes nobody.
pub(crate) fn pod_key(pod: &Pod, rc_uid: &str) -> Option<Option<i64>> {
    if !is_owned_by(pod, rc_uid) || !is_active(pod) {
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

/// What about a pod of a watch shared by several RCs matters: which RC owns it and its
/// [`pod_key`] for that RC (`None`: not active or owned by none).
pub(crate) fn any_pod_key(pod: &Pod) -> Option<(String, Option<i64>)> {
    let owner = owner_uid(pod)?;
    pod_key(pod, owner).map(|ready| (owner.to_owned(), ready))
}

/// A watch's `on_change` for RCs: whether an RC's [`rc_key`] changed since `seen`.
fn rc_changes(
    mut seen: Seen<RcKey>,
) -> impl FnMut(&str, Option<&ReplicationController>) -> bool + Send + 'static {
    move |name, rc| seen.note(name, rc.map(rc_key))
}

/// A watch's `on_change` for the pods of the RC with `rc_uid`: whether a pod's [`pod_key`]
/// changed since `seen`.
fn pod_changes(
    mut seen: Seen<Option<i64>>,
    rc_uid: String,
) -> impl FnMut(&str, Option<&Pod>) -> bool + Send + 'static {
    move |name, pod| seen.note(name, pod.and_then(|p| pod_key(p, &rc_uid)))
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

/// How long until the next of `pods` (Ready, not terminating) has been Ready for
/// `min_ready_seconds`, counted from `now` (time since the epoch); `None` if none is pending.
/// Availability is judged in whole seconds (see `side::is_available`), so this is exact.
pub(crate) fn next_available_in(
    pods: &[Arc<Pod>],
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

/// Watch caches of some RCs and their pods ([`RcCache`]), the signal their changes raise,
/// and what the loop wrote, so that a look can use the caches safely.
pub(crate) struct Wake {
    tx: watch::Sender<u64>,
    rx: watch::Receiver<u64>,
    /// Per RC name: what the caches were started for, and the caches.
    followed: BTreeMap<String, (RcKey, RcCache)>,
    /// Per RC name: the generation our last write returned.
    written: BTreeMap<String, i64>,
    /// RC names [`Wake::start`] was tried for (once each: if it gave up, the RC is followed
    /// from a fresh observation instead).
    started: BTreeSet<String>,
    /// RCs looked at together ([`Wake::together`]), and their shared watches once started.
    together: Vec<String>,
    shared_rcs: Option<Arc<Cached<ReplicationController>>>,
    shared_pods: Option<PodWatch>,
    /// Whether the last wait ended without any followed change (then the next look is
    /// fresh: a watch may have stalled).
    quiet: bool,
}

impl Default for Wake {
    fn default() -> Self {
        Self::new()
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
            written: BTreeMap::new(),
            started: BTreeSet::new(),
            together: Vec::new(),
            shared_rcs: None,
            shared_pods: None,
            quiet: false,
        }
    }

    /// RC `name` and its pods: from the caches when they are live and consistent (see
    /// `cache`), else a fresh GET + LIST, after which the RC and its pods are followed.
    /// `None` if the RC does not exist. The first look at an RC starts its caches and reads
    /// their first listing, instead of a GET + LIST that the watches would then repeat.
    pub(crate) async fn observe(
        &mut self,
        ctx: &Ctx,
        name: &str,
        min_ready_seconds: u32,
    ) -> Result<Option<RcState>> {
        if !self.quiet && !self.followed.contains_key(name) && self.started.insert(name.to_owned())
        {
            self.start(ctx, name).await;
        }
        if !self.quiet
            && let Some((_, cache)) = self.followed.get(name)
        {
            let written = self.written.get(name).copied();
            match cache.view(name, written, min_ready_seconds, now_seconds()) {
                View::Usable(state) | View::Settling(state) => return Ok(Some(state)),
                View::Unusable => {}
            }
        }
        self.quiet = false;
        let state = observe::observe(ctx, name, min_ready_seconds).await?;
        if let Some(state) = &state {
            self.follow(ctx, state);
        }
        Ok(state)
    }

    /// [`Wake::observe`] of an RC the update needs (see `observe::required`).
    pub(crate) async fn required(
        &mut self,
        ctx: &Ctx,
        name: &str,
        min_ready_seconds: u32,
    ) -> Result<RcState> {
        match self.observe(ctx, name, min_ready_seconds).await? {
            Some(state) => Ok(state),
            None => Err(observe::disappeared(ctx, name)),
        }
    }

    /// Records that our write to RC `name` returned it at `generation`: cached views of it
    /// are not used until they show that generation.
    pub(crate) fn wrote(&mut self, name: &str, generation: Option<i64>) {
        if let Some(g) = generation {
            self.written.insert(name.to_owned(), g);
        }
    }

    /// Makes the next [`Wake::observe`] fresh (a write found the cached view outdated).
    pub(crate) fn refresh(&mut self) {
        self.quiet = true;
    }

    /// Declares RCs looked at together (an update's old and new): their caches share one
    /// watch of the namespace's RCs and one of the pods their selectors have in common,
    /// halving the LISTs and WATCHes (and the connections they hold).
    pub(crate) fn together(&mut self, names: &[&str]) {
        if self.together.is_empty() {
            self.together = names.iter().map(|n| (*n).to_owned()).collect();
        }
    }

    /// Starts following RC `name` from nothing: its watch first (shared for RCs declared
    /// [`Wake::together`]), then, with the selector and UID the RC's listing shows, its
    /// pods' watch, each awaited until listed (at most a `--poll-interval`). Gives up
    /// quietly if the RC is absent or a watch cannot list: the caller then observes afresh,
    /// which says so or follows from the fresh state.
    async fn start(&mut self, ctx: &Ctx, name: &str) {
        let max = ctx.timing.poll_interval;
        let shared = self.together.iter().any(|n| n == name);
        let rcs = match (&self.shared_rcs, shared) {
            (Some(rcs), true) => rcs.clone(),
            (None, true) => {
                let names = self.together.clone();
                let mut noting = rc_changes(Seen::default());
                let on_rc = move |n: &str, rc: Option<&ReplicationController>| {
                    names.iter().any(|x| x == n) && noting(n, rc)
                };
                let rcs = watch_rcs(ctx.watched_rcs(), None, on_rc, &self.tx);
                self.shared_rcs = Some(rcs.clone());
                rcs
            }
            (_, false) => watch_rcs(
                ctx.watched_rcs(),
                Some(name),
                rc_changes(Seen::default()),
                &self.tx,
            ),
        };
        if !rcs.until_listed(max).await {
            return;
        }
        let Some(rc) = rcs.named(name) else {
            return;
        };
        let key = rc_key(&rc);
        let pods = match shared.then(|| self.shared_pods(ctx, &rcs, &key.selector)) {
            Some(Some(pods)) => Some(pods),
            _ => {
                let uid = key.uid.clone().unwrap_or_default();
                let on_pod = pod_changes(Seen::default(), uid);
                watch_pods(ctx.watched_pods(), &key.selector, on_pod, &self.tx)
                    .map(|pods| (key.selector.clone(), pods))
            }
        };
        let cache = RcCache::new(rcs, pods);
        if !cache.until_listed(max).await {
            return;
        }
        // What the listings showed is what the caller is about to look at: no wake-up for it.
        self.rx.borrow_and_update();
        self.followed.insert(name.to_owned(), (key, cache));
    }

    /// The pod watch shared by the RCs declared [`Wake::together`], if it covers `selector`:
    /// started on first use with the pairs all their selectors have in common (`None` if
    /// one of them is not in `rcs` yet, or they have nothing in common).
    fn shared_pods(
        &mut self,
        ctx: &Ctx,
        rcs: &Arc<Cached<ReplicationController>>,
        selector: &BTreeMap<String, String>,
    ) -> Option<PodWatch> {
        if self.shared_pods.is_none() {
            let mut common: Option<BTreeMap<String, String>> = None;
            for name in &self.together {
                let theirs = rc_selector(&*rcs.named(name)?);
                common = Some(match common {
                    None => theirs,
                    Some(c) => c
                        .into_iter()
                        .filter(|(k, v)| theirs.get(k) == Some(v))
                        .collect(),
                });
            }
            let common = common?;
            let mut seen = Seen::default();
            let on_pod = move |n: &str, pod: Option<&Pod>| seen.note(n, pod.and_then(any_pod_key));
            let pods = watch_pods(ctx.watched_pods(), &common, on_pod, &self.tx)?;
            self.shared_pods = Some((common, pods));
        }
        self.shared_pods
            .clone()
            .filter(|(common, _)| matches(common, Some(selector)))
    }

    /// Caches (and watches) the RC of `state` and its pods, unless that is already done (a
    /// new UID or selector restarts them). What `state` shows is already known, so only
    /// later changes wake.
    pub(crate) fn follow(&mut self, ctx: &Ctx, state: &RcState) {
        let name = name_of(&state.rc).to_owned();
        let key = rc_key(&state.rc);
        let same = |k: &RcKey| k.uid == key.uid && k.selector == key.selector;
        if self.followed.get(&name).is_some_and(|(k, _)| same(k)) {
            return;
        }
        let mut rcs = Seen::default();
        rcs.note(&name, Some(key.clone()));
        let uid = key.uid.clone().unwrap_or_default();
        let mut pods = Seen::default();
        for pod in &state.pods {
            pods.note(&pod.name_any(), pod_key(pod, &uid));
        }
        let rc_cache = watch_rcs(ctx.watched_rcs(), Some(&name), rc_changes(rcs), &self.tx);
        let pod_cache = watch_pods(
            ctx.watched_pods(),
            &key.selector,
            pod_changes(pods, uid),
            &self.tx,
        );
        let cache = RcCache::new(rc_cache, pod_cache.map(|p| (key.selector.clone(), p)));
        self.followed.insert(name, (key, cache));
    }

    /// Watches RC `rc` alone (its existence and counts).
    pub(crate) fn follow_rc(&mut self, ctx: &Ctx, rc: &ReplicationController) {
        let name = name_of(rc).to_owned();
        if self.followed.contains_key(&name) {
            return;
        }
        let mut rcs = Seen::default();
        rcs.note(&name, Some(rc_key(rc)));
        let rc_cache = watch_rcs(ctx.watched_rcs(), Some(&name), rc_changes(rcs), &self.tx);
        self.followed
            .insert(name, (rc_key(rc), RcCache::new(rc_cache, None)));
    }

    /// Returns when a followed object changed since the previous return (after letting
    /// related changes arrive), or after `max`; fails on Ctrl-C.
    pub(crate) async fn wait(&mut self, ctx: &Ctx, max: Duration) -> Result<()> {
        self.quiet = tokio::select! {
            changed = self.rx.changed() => {
                if changed.is_ok() {
                    ctx.sleep(SETTLE.min(max)).await?;
                }
                false
            }
            slept = ctx.sleep(max) => {
                slept?;
                true
            }
        };
        self.rx.borrow_and_update();
        ctx.check_cancel()
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
    fn min_ready_seconds_needs_a_timer() {
        let now = Duration::from_millis(1_005_250);
        let pods = vec![
            Arc::new(pod("a", "u", Some(1_000))), // available at 1010 s
            Arc::new(pod("b", "u", Some(1_003))), // at 1013 s
            Arc::new(pod("c", "u", None)),        // not ready: no timer
            Arc::new(pod("d", "u", Some(900))),   // long available
        ];
        assert_eq!(
            next_available_in(&pods, 10, now),
            Some(Duration::from_millis(4_750))
        );
        assert_eq!(next_available_in(&pods, 0, now), None);
        assert_eq!(next_available_in(&pods[2..], 10, now), None);
    }
}
