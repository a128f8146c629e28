//! A toy cluster with two ReplicationControllers, enough to exercise the planner:
//! - a scale bumps `generation`; the RC controller notices it only when it syncs (a tick
//!   later or more), then records `observedGeneration` and `status.replicas`;
//! - a sync creates at most `burst` missing pods, so catching up can take several syncs;
//! - a sync deletes surplus pods at once, not-available ones first (as the RC controller
//!   ranks not-ready and recently-ready pods first for deletion);
//! - each created pod becomes available a given number of ticks after creation, or never
//!   (a bad image); pods never die on their own.

use rollout_plan::{Observed, Side, Step};

/// Readiness of a pod: available `Some(n)` ticks after creation, or never (`None`).
pub type Delay = Option<u32>;

#[derive(Debug, Clone)]
struct Pod {
    age: u32,
    ready_after: Delay,
}

impl Pod {
    fn available(&self) -> bool {
        self.ready_after.is_some_and(|d| self.age >= d)
    }
    fn may_still_change(&self) -> bool {
        self.ready_after.is_some_and(|d| self.age < d)
    }
}

#[derive(Debug, Clone)]
pub struct Rc {
    pub spec: u32,
    generation: u64,
    observed_generation: u64,
    status_replicas: u32,
    pods: Vec<Pod>,
    /// Readiness of the pods this RC will create, in creation order.
    delays: Vec<Delay>,
    /// Readiness once `delays` is used up.
    default_delay: Delay,
    created: usize,
    /// The `desired-replicas` annotation the executor wrote when this RC became the
    /// target: all a restarted executor knows of the update's size.
    pub desired_annotation: Option<u32>,
}

impl Rc {
    /// An RC at rest with `pods` pods, of which `broken` never become available.
    pub fn running(pods: u32, broken: u32) -> Rc {
        let pods: Vec<Pod> = (0..pods)
            .map(|i| Pod {
                age: 1000,
                ready_after: if i < broken { None } else { Some(0) },
            })
            .collect();
        Rc {
            spec: pods.len() as u32,
            generation: 1,
            observed_generation: 1,
            status_replicas: pods.len() as u32,
            pods,
            delays: Vec::new(),
            default_delay: Some(0),
            created: 0,
            desired_annotation: None,
        }
    }

    /// Sets the readiness of the pods this RC creates from now on.
    pub fn with_delays(mut self, delays: Vec<Delay>, default_delay: Delay) -> Rc {
        self.set_delays(delays, default_delay);
        self
    }

    pub fn set_delays(&mut self, delays: Vec<Delay>, default_delay: Delay) {
        self.delays = delays;
        self.default_delay = default_delay;
        self.created = 0;
    }

    pub fn scale(&mut self, to: u32) {
        self.spec = to;
        self.generation += 1;
    }

    /// One run of the RC controller.
    fn sync(&mut self, burst: u32) {
        let have = self.pods.len() as u32;
        if have < self.spec {
            for _ in 0..burst.min(self.spec - have) {
                let ready_after = self
                    .delays
                    .get(self.created)
                    .copied()
                    .unwrap_or(self.default_delay);
                self.created += 1;
                self.pods.push(Pod {
                    age: 0,
                    ready_after,
                });
            }
        }
        while self.pods.len() as u32 > self.spec {
            let victim = self
                .pods
                .iter()
                .rposition(|p| !p.available())
                .unwrap_or(self.pods.len() - 1);
            self.pods.remove(victim);
        }
        self.status_replicas = self.pods.len() as u32;
        self.observed_generation = self.generation;
    }

    pub fn available(&self) -> u32 {
        self.pods.iter().filter(|p| p.available()).count() as u32
    }

    pub fn pod_count(&self) -> u32 {
        self.pods.len() as u32
    }

    /// Pods that exist and will never become available.
    pub fn broken(&self) -> u32 {
        self.pods.iter().filter(|p| p.ready_after.is_none()).count() as u32
    }

    pub fn side(&self) -> Side {
        Side {
            spec: self.spec,
            current: self.status_replicas,
            available: self.available(),
            spec_observed: self.observed_generation >= self.generation,
        }
    }

    /// Nothing about this RC can change without a new scale.
    fn quiescent(&self) -> bool {
        self.observed_generation >= self.generation
            && self.pods.len() as u32 == self.spec
            && !self.pods.iter().any(Pod::may_still_change)
    }
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub old: Rc,
    pub new: Rc,
}

impl Cluster {
    pub fn observe(&self) -> Observed {
        Observed {
            old: self.old.side(),
            new: self.new.side(),
        }
    }

    /// Time passes: pods age, then the controllers chosen sync.
    pub fn tick(&mut self, sync_old: bool, sync_new: bool, burst: u32) {
        for pod in self.old.pods.iter_mut().chain(self.new.pods.iter_mut()) {
            pod.age = pod.age.saturating_add(1);
        }
        if sync_old {
            self.old.sync(burst);
        }
        if sync_new {
            self.new.sync(burst);
        }
    }

    /// What the executor does with an action: write the RC's `spec.replicas`.
    pub fn apply(&mut self, step: &Step) {
        match *step {
            Step::ScaleNew { to, .. } => self.new.scale(to),
            Step::ScaleOld { to, .. } => self.old.scale(to),
            Step::Wait(_) | Step::Done => {}
        }
    }

    /// Rollback: the drained RC becomes the target and vice versa.
    pub fn swap(&mut self) {
        std::mem::swap(&mut self.old, &mut self.new);
    }

    pub fn spec_sum(&self) -> u32 {
        self.old.spec + self.new.spec
    }
    pub fn pods(&self) -> u32 {
        self.old.pod_count() + self.new.pod_count()
    }
    pub fn available(&self) -> u32 {
        self.old.available() + self.new.available()
    }
    pub fn quiescent(&self) -> bool {
        self.old.quiescent() && self.new.quiescent()
    }
}
