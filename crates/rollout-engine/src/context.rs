//! What every operation needs: the cluster, where to report, when to stop, how long to wait,
//! and how to tell the user to resume or undo.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Api;

use crate::cancel::Cancel;
use crate::client::Cluster;
use crate::error::{EngineError, Result};
use crate::events::{Event, EventSink};

/// Polling and patience (kubectl's `--poll-interval` and `--timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How often to look at the cluster while waiting.
    pub poll_interval: Duration,
    /// How long without progress before giving up; also how long transient API errors are
    /// retried once the update has started changing things.
    pub timeout: Duration,
}

impl Default for Timing {
    /// kubectl's defaults: poll every 3 s, give up after 5 min without progress.
    fn default() -> Self {
        Timing {
            poll_interval: Duration::from_secs(3),
            timeout: Duration::from_secs(300),
        }
    }
}

/// How the user invoked us, so messages can print the exact commands to resume or undo.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    /// The program as the user types it: `kubia-rollout` or `kubectl` (for the plugin).
    pub program: String,
    /// Cluster flags to repeat in suggested commands, e.g. ` -n engine-dev` (leading space).
    pub flags: String,
    /// The user's command, verbatim (shell-quoted), to resume after an interruption.
    pub resume: String,
}

impl Hints {
    /// A suggested command: the program, `args` (quoted where needed) and the cluster flags.
    pub fn command(&self, args: &[&str]) -> String {
        let mut text = self.program.clone();
        for arg in args {
            text.push(' ');
            text.push_str(&shell_quote(arg));
        }
        text.push_str(&self.flags);
        text
    }
}

/// Quotes `arg` for a POSIX shell if it contains anything but safe characters.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,%@+".contains(c));
    if safe {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The Leases one operation holds (module `lease`), by namespace and name, shared by every
/// copy of its [`Ctx`] (so a rollback nested in a failed update finds its Lease) and by
/// nothing else: two operations in one process (tests, or a program driving several
/// clusters) are as separate as two processes.
#[derive(Clone)]
pub(crate) struct HeldSet(Arc<Mutex<Leases>>, Arc<str>);

impl Default for HeldSet {
    fn default() -> Self {
        HeldSet(
            Arc::default(),
            crate::lease::identity::next_operation().into(),
        )
    }
}

#[derive(Default)]
pub(crate) struct Leases {
    held: Vec<(String, String)>,
    /// Held, but not renewed for their duration: no change until a renewal confirms them.
    unconfirmed: Vec<(String, String)>,
    /// Why the operation lost a Lease (another engine took it over): it stops writing.
    lost: Option<String>,
}

impl HeldSet {
    /// This operation's `holderIdentity`.
    pub(crate) fn identity(&self) -> &str {
        &self.1
    }

    fn with<R>(&self, f: impl FnOnce(&mut Leases) -> R) -> Option<R> {
        self.0.lock().ok().map(|mut leases| f(&mut leases))
    }

    pub(crate) fn contains(&self, key: &(String, String)) -> bool {
        self.with(|l| l.held.contains(key)).unwrap_or(false)
    }

    pub(crate) fn insert(&self, key: (String, String)) {
        self.with(|l| l.held.push(key));
    }

    pub(crate) fn remove(&self, key: &(String, String)) {
        self.with(|l| {
            l.held.retain(|k| k != key);
            l.unconfirmed.retain(|k| k != key);
        });
    }

    /// Marks a Lease lost; the first reason stands.
    pub(crate) fn lose(&self, why: String) {
        self.with(|l| l.lost.get_or_insert(why).clone());
    }

    /// Why a Lease was lost, if one was.
    pub(crate) fn lost(&self) -> Option<String> {
        self.with(|l| l.lost.clone()).flatten()
    }

    /// Marks a Lease unconfirmed; `true` if it was not already.
    pub(crate) fn unconfirm(&self, key: &(String, String)) -> bool {
        self.with(|l| {
            let new = !l.unconfirmed.contains(key);
            if new {
                l.unconfirmed.push(key.clone());
            }
            new
        })
        .unwrap_or(false)
    }

    /// Marks a Lease confirmed again; `true` if it was unconfirmed.
    pub(crate) fn confirm(&self, key: &(String, String)) -> bool {
        self.with(|l| {
            let before = l.unconfirmed.len();
            l.unconfirmed.retain(|k| k != key);
            before != l.unconfirmed.len()
        })
        .unwrap_or(false)
    }

    /// Whether any held Lease is unconfirmed.
    pub(crate) fn any_unconfirmed(&self) -> bool {
        self.with(|l| !l.unconfirmed.is_empty()).unwrap_or(false)
    }
}

/// Shared state of one engine operation. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub(crate) cluster: Cluster,
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) cancel: Cancel,
    pub(crate) timing: Timing,
    pub(crate) hints: Hints,
    /// How long transient errors are retried; short before the first change (see
    /// [`Ctx::preflight`]), `timing.timeout` afterwards.
    pub(crate) retry_budget: Duration,
    /// How to undo the operation in progress, for interruption and timeout messages.
    pub(crate) undo: Option<String>,
    /// The Leases this operation holds.
    pub(crate) leases: HeldSet,
    /// What the Leases this context takes say about the update (`status -w` shows it).
    pub(crate) lease_note: Option<String>,
    /// Whether the method only checks (`--detach`): `begin` stops before the first
    /// change, after the RBAC preflight and the Lease check.
    pub(crate) check_only: bool,
    /// The Job this process runs in (`--detach`'s pod): it waits for the Lease its previous
    /// pod held instead of refusing, and is not refused for its own Job.
    pub(crate) in_job: Option<Arc<str>>,
    /// What `begin` was called with: the permissions and the RCs of the operation.
    pub(crate) begun: Arc<Mutex<Option<Begun>>>,
}

/// What an operation declared when it began: every permission it will use and the RCs it
/// changes (a detached update's Role and the RCs its Job records, its Event's target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Begun {
    /// The permissions the method needs (its RBAC preflight).
    pub needs: Vec<crate::need::Need>,
    /// The RCs whose Leases it takes.
    pub rcs: Vec<String>,
}

/// Retry budget while only validating: an unreachable cluster should fail fast with a clear
/// message instead of hanging for `--timeout`, since nothing needs finishing yet.
const PREFLIGHT_BUDGET: Duration = Duration::from_secs(8);

impl Ctx {
    /// Everything an operation needs.
    pub fn new(
        cluster: Cluster,
        sink: Arc<dyn EventSink>,
        cancel: Cancel,
        timing: Timing,
        hints: Hints,
    ) -> Self {
        Ctx {
            cluster,
            sink,
            cancel,
            retry_budget: timing.timeout,
            timing,
            hints,
            undo: None,
            leases: HeldSet::default(),
            lease_note: None,
            check_only: false,
            in_job: None,
            begun: Arc::default(),
        }
    }

    /// A copy that only checks: the method reads and refuses as it would, runs its RBAC
    /// preflight and finds its Leases free, then stops before its first change with
    /// [`EngineError::CheckedOnly`]; [`Ctx::begun`] then says what it would have done.
    pub fn checking_only(&self) -> Ctx {
        let mut ctx = self.clone();
        ctx.check_only = true;
        ctx.begun = Arc::default();
        ctx
    }

    /// A copy for the pod of the detached update's Job `job`.
    pub fn in_job(&self, job: &str) -> Ctx {
        let mut ctx = self.clone();
        ctx.in_job = Some(job.into());
        ctx
    }

    /// A copy whose events go to `sink`.
    pub fn with_sink(&self, sink: Arc<dyn EventSink>) -> Ctx {
        let mut ctx = self.clone();
        ctx.sink = sink;
        ctx
    }

    /// Polling and patience.
    pub fn timing(&self) -> Timing {
        self.timing
    }

    /// What the operation declared when it began, once it has.
    pub fn begun(&self) -> Option<Begun> {
        self.begun.lock().ok().and_then(|b| b.clone())
    }

    pub(crate) fn record_begun(&self, needs: &[crate::need::Need], rcs: &[&str]) {
        if let Ok(mut begun) = self.begun.lock() {
            let b = begun.get_or_insert_with(Begun::default);
            for n in needs {
                if !b.needs.contains(n) {
                    b.needs.push(*n);
                }
            }
            for rc in rcs {
                if !b.rcs.iter().any(|r| r == rc) {
                    b.rcs.push((*rc).to_owned());
                }
            }
        }
    }

    /// A copy whose Leases say `note` about the update (its bounds, for `status -w`).
    pub(crate) fn with_lease_note(&self, note: String) -> Ctx {
        let mut ctx = self.clone();
        ctx.lease_note = Some(note);
        ctx
    }

    /// The namespace operations work in.
    pub fn namespace(&self) -> &str {
        &self.cluster.namespace
    }

    /// A copy for the validation phase, with a short retry budget.
    pub(crate) fn preflight(&self) -> Ctx {
        let mut ctx = self.clone();
        ctx.retry_budget = self.timing.timeout.min(PREFLIGHT_BUDGET);
        ctx
    }

    /// A copy whose interruption/timeout messages suggest `undo`.
    pub(crate) fn with_undo(&self, undo: String) -> Ctx {
        let mut ctx = self.clone();
        ctx.undo = Some(undo);
        ctx
    }

    /// Emits a stdout line.
    pub(crate) fn line(&self, line: impl Into<String>) {
        self.sink.emit(Event::Line(line.into()));
    }

    /// Emits `warning`, if there is one (the pull-policy pitfall of a change going ahead).
    pub(crate) fn warn(&self, warning: Option<String>) {
        if let Some(w) = warning {
            self.emit(Event::Warning(w));
        }
    }

    /// Emits any event.
    pub(crate) fn emit(&self, event: Event) {
        self.sink.emit(event);
    }

    pub(crate) fn rcs(&self) -> Api<ReplicationController> {
        Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace)
    }

    pub(crate) fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace)
    }

    /// RCs through the watch client (see [`Cluster::watch_client`]).
    pub(crate) fn watched_rcs(&self) -> Api<ReplicationController> {
        Api::namespaced(self.cluster.watch_client.clone(), &self.cluster.namespace)
    }

    /// Pods through the watch client.
    pub(crate) fn watched_pods(&self) -> Api<Pod> {
        Api::namespaced(self.cluster.watch_client.clone(), &self.cluster.namespace)
    }

    pub(crate) fn services(&self) -> Api<Service> {
        Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace)
    }

    pub(crate) fn endpoint_slices(&self) -> Api<EndpointSlice> {
        Api::namespaced(self.cluster.client.clone(), &self.cluster.namespace)
    }

    /// `how to resume; how to undo`, for messages.
    pub(crate) fn recovery(&self) -> String {
        match &self.undo {
            Some(undo) => format!("resume with: {}; roll back with: {undo}", self.hints.resume),
            None => format!("resume with: {}", self.hints.resume),
        }
    }

    /// Fails with [`EngineError::LeaseLost`] if another engine took a Lease over, and with
    /// [`EngineError::Interrupted`] if Ctrl-C was pressed.
    pub(crate) fn check_cancel(&self) -> Result<()> {
        if let Some(why) = self.leases.lost() {
            return Err(EngineError::LeaseLost(format!(
                "{why}; stopped before the next change; {}",
                self.recovery()
            )));
        }
        if self.cancel.is_cancelled() {
            Err(EngineError::Interrupted(self.recovery()))
        } else {
            Ok(())
        }
    }

    /// Sleeps, or fails with [`EngineError::Interrupted`] on Ctrl-C (or
    /// [`EngineError::LeaseLost`]).
    pub(crate) async fn sleep(&self, duration: Duration) -> Result<()> {
        if self.cancel.sleep(duration).await {
            Ok(())
        } else {
            self.check_cancel()?;
            Err(EngineError::Interrupted(self.recovery()))
        }
    }

    /// Waits while a held Lease is unconfirmed (renewals failed for its duration), until
    /// `deadline`: nothing is sent that could change the cluster under a Lease another engine
    /// may have taken over meanwhile.
    pub(crate) async fn until_leases_confirmed(&self, deadline: std::time::Instant) -> Result<()> {
        while self.leases.any_unconfirmed() {
            if std::time::Instant::now() >= deadline {
                return Err(EngineError::LeaseLost(format!(
                    "renewing a lease kept failing; stopped before the next change; {}",
                    self.recovery()
                )));
            }
            self.sleep(Duration::from_millis(250)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_commands() {
        assert_eq!(shell_quote("kubia-v1"), "kubia-v1");
        assert_eq!(
            shell_quote("--image=luksa/kubia:v2"),
            "--image=luksa/kubia:v2"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        let hints = Hints {
            program: "kubia-rollout".into(),
            flags: " -n engine-dev".into(),
            resume: String::new(),
        };
        assert_eq!(
            hints.command(&["rolling-update", "kubia-v1", "kubia-v2", "--rollback"]),
            "kubia-rollout rolling-update kubia-v1 kubia-v2 --rollback -n engine-dev"
        );
    }
}
