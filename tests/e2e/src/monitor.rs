//! Watches the pods of a scenario and records, after every change, how many exist and how
//! many are ready — the numbers the update's bounds are about.
//!
//! A watch (not polling) sees every intermediate state the API server reports, so a bound
//! that is crossed even briefly is caught.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tokio::sync::watch;

/// Ready condition true.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The image of the pod's first container (`luksa/kubia:v2` → `v2`).
pub fn version(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.as_deref())
        .and_then(|i| i.rsplit_once(':').map(|(_, t)| t.to_owned()))
        .unwrap_or_else(|| "?".into())
}

/// The pods at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// When, from the `origin` given to [`Monitor::start`].
    pub at: Duration,
    /// Pods not being deleted.
    pub live: usize,
    /// Of those, Ready.
    pub ready: usize,
    /// Live pods by version.
    pub by_version: BTreeMap<String, usize>,
    /// Ready pods by version.
    pub ready_by_version: BTreeMap<String, usize>,
}

impl Snapshot {
    /// A test fixture: `live` pods of which `ready` are Ready, `ms` after the origin.
    #[cfg(test)]
    pub fn at_ms(ms: u64, live: usize, ready: usize) -> Snapshot {
        Snapshot {
            at: Duration::from_millis(ms),
            live,
            ready,
            by_version: BTreeMap::new(),
            ready_by_version: BTreeMap::new(),
        }
    }
}

/// What a monitor saw: the states, and every watch error and relist (a relist means the
/// watch restarted, so a state between the two lists may have been missed).
#[derive(Debug, Clone, Default)]
pub struct Watched {
    /// The states in order, one per change of the pod counts.
    pub snapshots: Vec<Snapshot>,
    /// Watch errors, each with when it happened.
    pub errors: Vec<(Duration, String)>,
    /// Initial lists after the first one.
    pub relists: usize,
    /// Each terminating pod's name, with when its deletion was requested.
    pub terminating_since: BTreeMap<String, Duration>,
}

impl Watched {
    /// One line for the report.
    pub fn summary(&self) -> String {
        let errors = match self.errors.first() {
            None => "no watch errors".to_owned(),
            Some((at, e)) => format!(
                "{} watch error(s), the first at {:.1}s: {e}",
                self.errors.len(),
                at.as_secs_f64()
            ),
        };
        format!(
            "pod monitor: {} states, {errors}, {} relist(s)",
            self.snapshots.len(),
            self.relists
        )
    }
}

/// A running monitor; `stop` returns what it saw.
pub struct Monitor {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Watched>,
}

impl Monitor {
    /// Starts watching the pods that match the label `selector`, timing states from
    /// `origin`.
    pub fn start(api: Api<Pod>, selector: &str, origin: Instant) -> Monitor {
        let (stop, mut stopped) = watch::channel(false);
        let cfg = watcher::Config::default().labels(selector);
        // The wall clock at `origin`, to place the server's timestamps on the scenario clock.
        let origin_wall = k8s_openapi::jiff::Timestamp::now() - origin.elapsed();
        let task = tokio::spawn(async move {
            let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
            let mut init: BTreeMap<String, Pod> = BTreeMap::new();
            let mut seen = Watched::default();
            let mut lists = 0;
            // Backoff on errors: a tight relist loop would also blind the monitor.
            let stream = watcher(api, cfg).default_backoff();
            futures::pin_mut!(stream);
            loop {
                let ev = tokio::select! {
                    ev = stream.next() => ev,
                    _ = stopped.changed() => break,
                };
                let Some(ev) = ev else { break };
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(e) => {
                        seen.errors.push((origin.elapsed(), e.to_string()));
                        continue;
                    }
                };
                if let watcher::Event::Apply(p) | watcher::Event::InitApply(p) = &ev
                    && p.metadata.deletion_timestamp.is_some()
                    && let Some(name) = &p.metadata.name
                {
                    seen.terminating_since
                        .entry(name.clone())
                        .or_insert_with(|| deletion_requested(p, origin_wall, origin.elapsed()));
                }
                match ev {
                    watcher::Event::Apply(p) => {
                        pods.insert(key(&p), p);
                    }
                    watcher::Event::Delete(p) => {
                        pods.remove(&key(&p));
                    }
                    // Nothing is known until the initial list is complete.
                    watcher::Event::Init => {
                        lists += 1;
                        if lists > 1 {
                            seen.relists += 1;
                        }
                        init.clear();
                        continue;
                    }
                    watcher::Event::InitApply(p) => {
                        init.insert(key(&p), p);
                        continue;
                    }
                    watcher::Event::InitDone => pods = std::mem::take(&mut init),
                }
                let snap = snapshot(&pods, origin.elapsed());
                if seen.snapshots.last().is_none_or(|l| {
                    (l.live, &l.by_version, &l.ready_by_version)
                        != (snap.live, &snap.by_version, &snap.ready_by_version)
                }) {
                    seen.snapshots.push(snap);
                }
            }
            seen
        });
        Monitor { stop, task }
    }

    /// Stops watching and returns what was seen.
    pub async fn stop(self) -> Watched {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }

    /// Stops, notes the summary in the outcome, keeps the states for its timeline, and
    /// returns them.
    pub async fn stop_into(self, o: &mut crate::Outcome) -> Vec<Snapshot> {
        let watched = self.stop().await;
        o.note(watched.summary());
        o.snapshots.extend(watched.snapshots.iter().cloned());
        watched.snapshots
    }
}

/// When the pod's deletion was requested, on the scenario clock: its `deletionTimestamp`
/// (a second's precision, the request's time plus the grace period) less the grace period.
/// This does not depend on when the watch delivered the change, which after an outage may
/// be late; `seen` (when the watch did) is the fallback.
fn deletion_requested(
    p: &Pod,
    origin_wall: k8s_openapi::jiff::Timestamp,
    seen: Duration,
) -> Duration {
    let Some(at) = &p.metadata.deletion_timestamp else {
        return seen;
    };
    let grace = p.metadata.deletion_grace_period_seconds.unwrap_or(0);
    let requested = at.0 - k8s_openapi::jiff::SignedDuration::from_secs(grace);
    Duration::try_from(requested.duration_since(origin_wall))
        .map_or(Duration::ZERO, |d| d.min(seen))
}

fn key(p: &Pod) -> String {
    p.metadata.uid.clone().unwrap_or_default()
}

fn snapshot(pods: &BTreeMap<String, Pod>, at: Duration) -> Snapshot {
    let live: Vec<&Pod> = pods
        .values()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let mut by_version = BTreeMap::new();
    let mut ready_by_version = BTreeMap::new();
    for p in &live {
        *by_version.entry(version(p)).or_insert(0) += 1;
        if is_ready(p) {
            *ready_by_version.entry(version(p)).or_insert(0) += 1;
        }
    }
    Snapshot {
        at,
        live: live.len(),
        ready: live.iter().filter(|p| is_ready(p)).count(),
        by_version,
        ready_by_version,
    }
}

/// Checks that, once the update began (`from`), live pods never exceeded `max_live` and
/// ready pods never fell below `min_ready`. Returns the extremes seen.
pub fn check_bounds(
    snaps: &[Snapshot],
    from: Duration,
    min_ready: usize,
    max_live: usize,
) -> anyhow::Result<(usize, usize)> {
    // The state in effect when the update began counts too.
    let first = snaps.iter().rposition(|s| s.at < from).unwrap_or(0);
    let during: Vec<&Snapshot> = snaps[first..].iter().collect();
    anyhow::ensure!(
        !during.is_empty(),
        "the pod monitor saw nothing during the update"
    );
    let max = during.iter().map(|s| s.live).max().unwrap_or(0);
    let min = during.iter().map(|s| s.ready).min().unwrap_or(0);
    if let Some(bad) = during
        .iter()
        .find(|s| s.live > max_live || s.ready < min_ready)
    {
        anyhow::bail!(
            "pod bounds broken at {:.1}s: {} live, {} ready (bounds: at most {max_live} live, at least {min_ready} ready); live by version: {}",
            bad.at.as_secs_f64(),
            bad.live,
            bad.ready,
            bad.by_version
                .iter()
                .map(|(v, n)| format!("{v} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok((min, max))
}
