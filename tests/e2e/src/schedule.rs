//! Which scenario runs when, and on which NodePort.
//!
//! Most scenarios need only their own namespace, their own NodePort and their own traffic
//! probe: they run side by side, up to `--jobs` at a time. Those that disturb what every
//! scenario shares (a component of the cluster stopped or restarted) declare it and run
//! their disruptive part alone, while nothing else runs — the model of Kubernetes' own e2e
//! suite, where Ginkgo runs specs in parallel and those labelled `[Serial]` or
//! `[Disruptive]` alone, after the others.
//!
//! [`Queue`] decides which scenario starts next (the side-by-side ones first, the disruptive
//! ones after them) and [`PortPool`] which NodePort it takes; the [`Gate`] makes "alone"
//! true: every scenario holds the cluster shared while it runs, and a disruptive one takes it
//! whole for its disruptive part only, once every other scenario has let go. Its set-up
//! (namespace, pods) and clean-up run beside the others.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// What a scenario needs from the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Its own namespace, NodePort and probe: it runs beside others.
    Namespace,
    /// It disturbs what every scenario shares (the reason says what): it runs alone.
    Alone(&'static str),
}

impl Needs {
    /// Whether the scenario must run while nothing else does.
    pub fn alone(self) -> bool {
        matches!(self, Needs::Alone(_))
    }
}

/// The tutorial's NodePort: the verbatim scenario keeps it, as the book's `curl` loop uses it.
pub const TUTORIAL_NODE_PORT: u16 = 30002;

/// The NodePorts the other scenarios take, one each while they run. Both providers publish
/// them on 127.0.0.1 (kind: the control-plane node's port mappings; the local cluster:
/// kube-proxy's NodePorts on the host itself).
pub const NODE_PORT_POOL: std::ops::RangeInclusive<u16> = 30010..=30029;

/// The most scenarios that may run at once: one pool port each.
pub const MAX_JOBS: usize = 20;

/// The scenarios still to start, in the order they start.
///
/// Scenarios that run beside others come first, in the order given (put the longest
/// first: the run ends when the last one does); the disruptive ones follow, so that their
/// disruptive parts, which wait for every other scenario to let go of the cluster, come
/// once the others are done.
#[derive(Debug)]
pub struct Queue {
    pending: VecDeque<usize>,
    jobs: usize,
}

impl Queue {
    /// A queue of the scenarios `needs[i]` (by index), at most `jobs` at a time (at least 1).
    pub fn new(needs: &[Needs], jobs: usize) -> Self {
        let side_by_side = needs.iter().enumerate().filter(|(_, n)| !n.alone());
        let alone = needs.iter().enumerate().filter(|(_, n)| n.alone());
        Queue {
            pending: side_by_side.chain(alone).map(|(i, _)| i).collect(),
            jobs: jobs.max(1),
        }
    }

    /// The next scenario to start while `running` scenarios run, if one may start now.
    pub fn next(&mut self, running: usize) -> Option<usize> {
        self.next_fitting(running, |_| true)
    }

    /// [`Queue::next`], among the scenarios `fits` accepts now (one that needs the tutorial's
    /// NodePort while another holds it waits; those behind it start meanwhile).
    pub fn next_fitting(&mut self, running: usize, fits: impl Fn(usize) -> bool) -> Option<usize> {
        if running >= self.jobs {
            return None;
        }
        let at = self.pending.iter().position(|i| fits(*i))?;
        self.pending.remove(at)
    }

    /// Whether every scenario has started.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The cluster as one scenario holds it: shared with the other running scenarios, or whole.
///
/// One lock for the run ([`Gate::new`]); each scenario gets its own handle
/// ([`Gate::for_scenario`]). The lock is fair: once a scenario waits for the whole cluster,
/// scenarios that want to share it wait behind it, so a disruptive part waits only for what
/// already runs.
#[derive(Clone, Debug)]
pub struct Gate {
    lock: Arc<RwLock<()>>,
    held: Arc<Mutex<Held>>,
    run_start: Instant,
}

#[derive(Debug, Default)]
struct Held {
    shared: Option<OwnedRwLockReadGuard<()>>,
    whole: Option<OwnedRwLockWriteGuard<()>>,
    /// When this scenario held the whole cluster, from the start of the run.
    spans: Vec<(Duration, Duration)>,
    since: Duration,
}

impl Gate {
    /// The run's gate; times are measured from `run_start`.
    pub fn new(run_start: Instant) -> Self {
        Gate {
            lock: Arc::new(RwLock::new(())),
            held: Arc::default(),
            run_start,
        }
    }

    /// A handle for one scenario: the run's lock, nothing held yet.
    pub fn for_scenario(&self) -> Self {
        Gate {
            lock: Arc::clone(&self.lock),
            held: Arc::default(),
            run_start: self.run_start,
        }
    }

    /// Holds the cluster shared (giving the whole of it back first, if held).
    pub async fn share(&self) {
        let mut held = self.held.lock().await;
        self.give_back_whole(&mut held);
        if held.shared.is_none() {
            held.shared = Some(Arc::clone(&self.lock).read_owned().await);
        }
    }

    /// Lets go of the cluster, then waits until no other scenario holds it and takes it
    /// whole; returns how long that took.
    pub async fn alone(&self) -> Duration {
        let asked = Instant::now();
        let mut held = self.held.lock().await;
        held.shared = None;
        if held.whole.is_none() {
            held.whole = Some(Arc::clone(&self.lock).write_owned().await);
            held.since = self.run_start.elapsed();
        }
        asked.elapsed()
    }

    /// Holds nothing any more.
    pub async fn release(&self) {
        let mut held = self.held.lock().await;
        self.give_back_whole(&mut held);
        held.shared = None;
    }

    /// When this scenario held the whole cluster, from the start of the run.
    pub async fn alone_spans(&self) -> Vec<(Duration, Duration)> {
        self.held.lock().await.spans.clone()
    }

    fn give_back_whole(&self, held: &mut Held) {
        if held.whole.take().is_some() {
            let since = held.since;
            held.spans.push((since, self.run_start.elapsed()));
        }
    }
}

/// NodePorts free for the next scenario; a scenario gives its port back once its namespaces
/// (and with them its Service) are gone.
#[derive(Debug)]
pub struct PortPool {
    free: BTreeSet<u16>,
}

impl PortPool {
    /// Every port of [`NODE_PORT_POOL`].
    pub fn new() -> Self {
        PortPool {
            free: NODE_PORT_POOL.collect(),
        }
    }

    /// The lowest free port, taken.
    pub fn take(&mut self) -> Option<u16> {
        self.free.pop_first()
    }

    /// Returns a port taken before.
    pub fn give_back(&mut self, port: u16) {
        if NODE_PORT_POOL.contains(&port) {
            self.free.insert(port);
        }
    }
}

impl Default for PortPool {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALONE: Needs = Needs::Alone("test");

    /// Runs the queue to the end, finishing the oldest running scenario whenever nothing
    /// can start; returns the start order and every moment's running set.
    fn simulate(needs: &[Needs], jobs: usize) -> (Vec<usize>, Vec<Vec<usize>>) {
        let mut q = Queue::new(needs, jobs);
        let mut running: Vec<usize> = Vec::new();
        let mut order = Vec::new();
        let mut states = Vec::new();
        while !q.is_empty() || !running.is_empty() {
            match q.next(running.len()) {
                Some(i) => {
                    order.push(i);
                    running.push(i);
                    states.push(running.clone());
                }
                None => {
                    assert!(!running.is_empty(), "nothing runs and nothing may start");
                    running.remove(0);
                }
            }
        }
        (order, states)
    }

    #[test]
    fn side_by_side_first_then_the_disruptive_ones() {
        let needs = [
            Needs::Namespace,
            ALONE,
            Needs::Namespace,
            ALONE,
            Needs::Namespace,
        ];
        let (order, states) = simulate(&needs, 2);
        assert_eq!(order, [0, 2, 4, 1, 3]);
        assert!(states.iter().all(|s| s.len() <= 2));
        let (_, states) = simulate(&needs, 0);
        assert!(states.iter().all(|s| s.len() == 1), "0 jobs means 1");
    }

    /// Scenarios that share the cluster and scenarios that take it whole, each many times, on
    /// a multi-threaded runtime: whenever one holds it whole, no other holds it at all.
    #[test]
    fn a_scenario_that_does_not_fit_waits_and_those_behind_it_start() {
        let needs = [Needs::Namespace; 4];
        let mut q = Queue::new(&needs, 4);
        // 1 needs what 0 holds (the tutorial's NodePort).
        let port_users = [0, 1];
        let mut busy = false;
        let mut started = Vec::new();
        while let Some(i) = q.next_fitting(started.len(), |i| !(busy && port_users.contains(&i))) {
            busy |= port_users.contains(&i);
            started.push(i);
        }
        assert_eq!(started, [0, 2, 3]);
        busy = false;
        assert_eq!(
            q.next_fitting(0, |i| !(busy && port_users.contains(&i))),
            Some(1)
        );
        assert!(q.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_gate_keeps_a_disruptive_part_alone() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let gate = Gate::new(Instant::now());
        let sharing = Arc::new(AtomicUsize::new(0));
        let whole = Arc::new(AtomicUsize::new(0));
        let broken = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..12 {
            let (g, sharing, whole, broken) = (
                gate.for_scenario(),
                Arc::clone(&sharing),
                Arc::clone(&whole),
                Arc::clone(&broken),
            );
            tasks.spawn(async move {
                let pause = || tokio::time::sleep(Duration::from_millis(1 + (i % 3)));
                for _ in 0..20 {
                    g.share().await;
                    sharing.fetch_add(1, SeqCst);
                    if whole.load(SeqCst) > 0 {
                        broken.fetch_add(1, SeqCst);
                    }
                    pause().await;
                    sharing.fetch_sub(1, SeqCst);
                    if i % 4 == 0 {
                        g.alone().await;
                        whole.fetch_add(1, SeqCst);
                        if sharing.load(SeqCst) > 0 || whole.load(SeqCst) > 1 {
                            broken.fetch_add(1, SeqCst);
                        }
                        pause().await;
                        whole.fetch_sub(1, SeqCst);
                    }
                    g.release().await;
                }
                g.alone_spans().await.len()
            });
        }
        let mut spans = 0;
        while let Some(done) = tasks.join_next().await {
            spans += done.unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(
            broken.load(SeqCst),
            0,
            "someone shared the cluster while it was held whole"
        );
        assert_eq!(spans, 3 * 20, "every whole-cluster part recorded");
    }

    #[test]
    fn ports_are_taken_once_and_come_back() {
        let mut pool = PortPool::new();
        let taken: Vec<u16> = std::iter::from_fn(|| pool.take()).collect();
        assert_eq!(taken.len(), MAX_JOBS);
        assert!(!taken.contains(&TUTORIAL_NODE_PORT));
        assert_eq!(pool.take(), None);
        pool.give_back(30012);
        pool.give_back(TUTORIAL_NODE_PORT);
        assert_eq!(pool.take(), Some(30012));
        assert_eq!(pool.take(), None, "the tutorial's port is never pooled");
    }

    proptest! {
        /// Whatever the mix and the number of jobs: every scenario starts exactly once, at
        /// most `jobs` run at a time, and the side-by-side ones start first, in their order.
        #[test]
        fn the_queue_keeps_its_promises(
            alone in proptest::collection::vec(any::<bool>(), 0..30),
            jobs in 1usize..8,
        ) {
            let needs: Vec<Needs> = alone
                .iter()
                .map(|a| if *a { ALONE } else { Needs::Namespace })
                .collect();
            let (order, states) = simulate(&needs, jobs);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..needs.len()).collect::<Vec<_>>());
            prop_assert!(states.iter().all(|s| s.len() <= jobs));
            let side: Vec<usize> = (0..needs.len()).filter(|i| !needs[*i].alone()).collect();
            prop_assert_eq!(&order[..side.len()], &side[..]);
        }
    }
}
