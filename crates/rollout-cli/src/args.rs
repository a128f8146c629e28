//! Command-line syntax: kubectl rolling-update's flags and defaults, and the other methods'.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rollout_engine::{ClusterOptions, FailurePolicy};
use rollout_plan::health::{OnFailure, Thresholds};
use rollout_plan::{IntOrPercent, Strategy};

fn parse_duration(text: &str) -> Result<Duration, String> {
    go_duration::parse(text)
}

/// A duration that must be above zero (a zero poll interval would spin on the API server; a
/// zero timeout or deadline would give up before the first observation).
fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = go_duration::parse(text)?;
    if d.is_zero() {
        return Err(format!("{text:?} must be greater than 0"));
    }
    Ok(d)
}

/// The help heading of [`ClusterArgs`].
pub const CONNECTION_HEADING: &str = "Connection options (kubectl's global flags)";

fn parse_int_or_percent(text: &str) -> Result<IntOrPercent, String> {
    text.parse::<IntOrPercent>().map_err(|e| e.to_string())
}

/// Which cluster and namespace (kubectl's global flags, accepted as our own). Listed under
/// their own heading after each command's own flags, as kubectl keeps them apart
/// (`kubectl options`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = CONNECTION_HEADING)]
pub struct ClusterArgs {
    #[command(flatten)]
    /// Where to find the cluster (the engine's options, declared there once).
    pub options: ClusterOptions,
    /// Log level verbosity, as kubectl's -v: 0 quiet, 1-3 info, 4-5 debug, 6 and up also the
    /// HTTP requests (trace).
    #[arg(short = 'v', long = "v", global = true, value_name = "LEVEL")]
    pub verbosity: Option<u8>,
}

/// Polling and patience.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Time delay between polling for replication controller status.
    #[arg(long, default_value = "3s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub poll_interval: Duration,
    /// Max time without progress before giving up (also how long API errors are retried).
    /// kubectl 1.11-1.17 parsed this flag and ignored it; here it is honoured.
    #[arg(long, default_value = "5m0s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

/// `rolling-update OLD [NEW] (--image=IMAGE | -f FILE)`: kubectl's flags and defaults.
#[derive(Debug, Clone, Args)]
pub struct RollingUpdateArgs {
    /// The replication controller to replace.
    #[arg(value_name = "OLD")]
    pub old: String,
    /// The new replication controller's name (default with --image: keep OLD's name).
    #[arg(value_name = "NEW")]
    pub new: Option<String>,
    /// Image to use for upgrading the replication controller.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// File with the new replication controller (JSON or YAML), or - for stdin.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        conflicts_with = "detach"
    )]
    pub filename: Option<String>,
    /// Container name to update (required for multi-container pods).
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Explicit imagePullPolicy (Always, IfNotPresent, Never); required when --image is the
    /// current image.
    #[arg(long, value_name = "POLICY")]
    pub image_pull_policy: Option<String>,
    /// The key of the label that tells the two controllers' pods apart.
    #[arg(long, default_value = "deployment", value_name = "KEY")]
    pub deployment_label_key: String,
    /// Time to wait between updating pods.
    #[arg(long, default_value = "1m0s", value_parser = parse_duration, value_name = "DURATION")]
    pub update_period: Duration,
    #[command(flatten)]
    /// Polling and timeout.
    pub wait: WaitArgs,
    /// Abort an existing rollout that is partially rolled out and go back to OLD.
    /// kubectl's own two-name rollback ended in a NotFound error after succeeding; this one
    /// ends with kubectl's success lines.
    #[arg(long)]
    pub rollback: bool,
    /// Only print the old and new controllers, change nothing (client; also true/false/none).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "client", value_name = "MODE", conflicts_with = "detach")]
    pub dry_run: Option<String>,
    /// Output format of the result: name, yaml, json, jsonpath=TEMPLATE or
    /// jsonpath-file=FILE (Go templates are not supported).
    #[arg(short = 'o', long = "output", value_name = "FORMAT")]
    pub output: Option<String>,
    /// The template (or template file) for -o jsonpath / -o jsonpath-file.
    #[arg(long, value_name = "TEMPLATE")]
    pub template: Option<String>,
    /// If true, a template field that is missing prints nothing instead of failing.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    pub allow_missing_template_keys: bool,
    /// How the API server checks a -f file first (dry-run create, field validation):
    /// strict (also true) refuses unknown or misspelled fields and invalid objects, warn
    /// reports them, ignore (also false) skips the check. kubectl 1.17 checked on the
    /// client; typed decoding here would otherwise drop a misspelled field silently.
    #[arg(long, num_args = 0..=1, require_equals = true, default_value = "strict", default_missing_value = "strict", value_name = "MODE")]
    pub validate: String,
    /// Pods allowed above the desired count during the update (count or percentage).
    #[arg(long, default_value_t = Strategy::kubectl().max_surge, value_parser = parse_int_or_percent, value_name = "N|N%")]
    pub max_surge: IntOrPercent,
    /// Pods allowed below the desired count during the update (count or percentage).
    #[arg(long, default_value_t = Strategy::kubectl().max_unavailable, value_parser = parse_int_or_percent, value_name = "N|N%")]
    pub max_unavailable: IntOrPercent,
    /// Seconds a new pod must be ready before it counts as available.
    #[arg(long, default_value_t = Strategy::kubectl().min_ready_seconds, value_name = "SECONDS")]
    pub min_ready_seconds: u32,
    #[command(flatten)]
    /// Failure signals.
    pub failure: FailureArgs,
    /// Update an old RC even if another controller owns it (ownerReferences); that
    /// controller may undo the update.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    /// --timeline and --probe.
    pub view: TimelineArgs,
    #[command(flatten)]
    /// --detach: run inside the cluster.
    pub detach: DetachArgs,
}

/// `--detach`: the same update run by a Job inside the cluster.
#[derive(Debug, Clone, Default, Args)]
pub struct DetachArgs {
    /// Run the update inside the cluster, in a Job (with its own ServiceAccount and a Role
    /// granting what this update needs), and exit at once; it goes on when this machine
    /// does not. Everything is checked first; follow it with `kubia-rollout status -w`.
    #[arg(long, conflicts_with_all = ["timeline", "probe"])]
    pub detach: bool,
    /// The image the Job runs (the plugin's; default kubia-lab/kubia-rollout:<version>,
    /// which `cargo xtask images` builds and loads into the lab's clusters).
    #[arg(long, requires = "detach", value_name = "IMAGE")]
    pub detach_image: Option<String>,
    /// How long the finished Job (and its log) stays.
    #[arg(long, requires = "detach", default_value = "10m0s", value_parser = parse_duration, value_name = "DURATION")]
    pub detach_ttl: Duration,
    /// How long the whole update may run in the Job (default: 12 x --timeout, at least 10m).
    #[arg(long, requires = "detach", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub detach_deadline: Option<Duration>,
    /// Set by --detach on the command its Job runs: the Job this process runs in.
    #[arg(long, hide = true, conflicts_with = "detach", value_name = "JOB")]
    pub detached_job: Option<String>,
}

/// What `--version` prints after the program's name: the workspace's version and the commit
/// it was built from (`git describe`, see build.rs).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ROLLOUT_GIT_DESCRIBE"),
    ")"
);

/// The kubectl plugin `kubectl-rolling_update`: kubectl rolling-update's arguments directly.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kubectl rolling-update",
    bin_name = "kubectl rolling-update",
    version = VERSION,
    about = "Perform a rolling update of the given ReplicationController (kubectl rolling-update, reimplemented; resumable)"
)]
pub struct PluginCli {
    #[command(flatten)]
    /// The rolling update.
    pub update: RollingUpdateArgs,
    #[command(flatten)]
    /// Cluster selection.
    pub cluster: ClusterArgs,
}

/// How every method stops a bad version, for `--help`.
const BAD_VERSIONS_HELP: &str = "\
Bad versions are stopped automatically, by every method:
  - an image that cannot be pulled (ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
    InvalidImageName) stops the update at once, quoting the kubelet's reason;
  - a new pod restarting more than --max-restarts times (default 2);
  - a new pod not Ready for longer than --progress-deadline (default 10m0s);
  - canary and blue-green with --max-error-rate (e.g. 1%): the new pods' own counter
    kubia_http_requests_total{code=...} on /metrics (Prometheus text format), read through
    the API server's pod proxy, once --min-requests answers are in. Canary judges each step
    by its live traffic; blue-green asks the new pods itself before switching the Service.
    Any image that exposes that counter works.
--on-failure=stop (default, kubectl's behaviour) leaves everything as it is and prints how to
resume or roll back; --on-failure=rollback returns to the old version within the same bounds.
Either way the exit is non-zero with one line naming the signal, e.g. with the book's v3,
which answers 500 from its 5th request on:
  error: kubia-v3 answered 5xx to 23 of 27 requests (85.2%), above 1%; canary aborted, all pods back on kubia-v2";

/// `kubia-rollout`: the four upgrade methods of the tutorial, and status.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kubia-rollout",
    version = VERSION,
    about = "Upgrade apps running in ReplicationControllers: rolling update, recreate, blue-green, canary. Every method is resumable.",
    after_help = BAD_VERSIONS_HELP
)]
pub struct KubiaRolloutCli {
    #[command(subcommand)]
    /// What to do.
    pub command: Command,
    #[command(flatten)]
    /// Cluster selection.
    pub cluster: ClusterArgs,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Replace OLD by NEW one pod at a time (kubectl rolling-update).
    RollingUpdate(RollingUpdateArgs),
    /// Change RC's image and delete all its pods so they are recreated.
    Recreate(RecreateArgs),
    /// Bring up NEW beside OLD, then switch the Service to it.
    BlueGreen(BlueGreenArgs),
    /// Shift a fixed number of pods from OLD to NEW in steps.
    Canary(CanaryArgs),
    /// Show updates in progress.
    Status(StatusArgs),
    /// Print a shell completion script for kubia-rollout (e.g. `source <(kubia-rollout
    /// completion bash)`). The kubectl plugin completes through kubectl itself, with
    /// `kubectl_complete-rolling_update` on PATH.
    Completion(CompletionArgs),
    /// Write the man pages of kubia-rollout (one per subcommand) and kubectl-rolling_update
    /// into DIR (used by `cargo xtask dist`).
    #[command(hide = true)]
    GenerateMan(GenerateManArgs),
}

/// `completion SHELL`.
#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `generate-man DIR`.
#[derive(Debug, Clone, Args)]
pub struct GenerateManArgs {
    /// Where to write the pages (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// The failure signals every method watches in the new version's pods, and what to do when
/// one fires.
#[derive(Debug, Clone, Args)]
pub struct FailureArgs {
    /// A new pod not Ready for this long (since it was created or last became unready) stops
    /// the update: the Deployment controller's progress deadline, per pod. An image that
    /// cannot be pulled (ErrImagePull, ImagePullBackOff, ErrImageNeverPull,
    /// InvalidImageName) stops it at once, with no deadline.
    #[arg(long, default_value = "10m0s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub progress_deadline: Duration,
    /// Container restarts allowed per new pod (crash loops) before the update stops.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub max_restarts: u32,
    /// What to do when a signal fires: stop (kubectl's behaviour: the old version keeps
    /// serving, and the commands to resume or roll back are printed) or rollback (return to
    /// the old version within the same bounds). Either way the exit is non-zero, with one
    /// line naming the signal and its numbers.
    #[arg(long, default_value = "stop", value_parser = parse_on_failure, value_name = "stop|rollback")]
    pub on_failure: OnFailure,
}

impl FailureArgs {
    /// With the error-rate analysis of `analysis`, if any.
    pub fn policy(&self, analysis: Option<&AnalysisArgs>) -> FailurePolicy {
        FailurePolicy {
            thresholds: Thresholds {
                progress_deadline: self.progress_deadline,
                max_restarts: self.max_restarts,
                max_error_rate: analysis.and_then(|a| a.max_error_rate),
                min_requests: analysis
                    .map_or(Thresholds::default().min_requests, |a| a.min_requests),
            },
            on_failure: self.on_failure,
        }
    }
}

/// The error-rate analysis of canary and blue-green.
#[derive(Debug, Clone, Args)]
pub struct AnalysisArgs {
    /// Highest share of 5xx answers the new version may give (e.g. 1%), judged on the
    /// counter `kubia_http_requests_total{code="..."}` that each new pod exposes on
    /// /metrics (Prometheus text format), read through the API server's pod proxy; any
    /// pod exposing that counter works. Example: the tutorial's v3 answers 500 from its 5th
    /// request on, so `--max-error-rate=1%` stops it at the first step. Off when not given.
    #[arg(long, value_parser = parse_rate, value_name = "RATE")]
    pub max_error_rate: Option<f64>,
    /// Answers needed before the error rate is judged.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub min_requests: u64,
    /// The pods' port serving /metrics.
    #[arg(long, default_value_t = 8080, value_name = "PORT")]
    pub metrics_port: u16,
}

fn parse_on_failure(text: &str) -> Result<OnFailure, String> {
    text.parse()
}

fn parse_rate(text: &str) -> Result<f64, String> {
    rollout_plan::health::parse_rate(text)
}

/// The image change of recreate, blue-green and canary.
#[derive(Debug, Clone, Args)]
pub struct ImageArgs {
    /// Container name to update (required for multi-container pods).
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
    /// Explicit imagePullPolicy (Always, IfNotPresent, Never).
    #[arg(long, value_name = "POLICY")]
    pub image_pull_policy: Option<String>,
    /// Seconds a new pod must be ready before it counts as available.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub min_ready_seconds: u32,
}

/// `recreate RC --image=X`.
#[derive(Debug, Clone, Args)]
pub struct RecreateArgs {
    /// The replication controller to update in place.
    #[arg(value_name = "RC")]
    pub rc: String,
    /// The new image.
    #[arg(long, value_name = "IMAGE")]
    pub image: String,
    #[command(flatten)]
    /// Container, pull policy, readiness, waiting, failure signals, --force.
    pub update: UpdateArgs,
}

/// A picture of the update when the command ends, and the tutorial's curl loop run by the
/// command itself.
#[derive(Debug, Clone, Default, Args)]
pub struct TimelineArgs {
    /// When the command ends (done, failed or interrupted), draw the update into this SVG
    /// file: the pods ready and live per controller, the steps, the failure signals, and
    /// with --probe which version answered each request.
    #[arg(long, value_name = "FILE.svg")]
    pub timeline: Option<PathBuf>,
    /// While the command runs, send GET requests to this http:// URL (the Service's
    /// NodePort, e.g. http://127.0.0.1:30002/) and record who answered; stops when the
    /// command ends.
    #[arg(long, value_name = "URL", requires = "timeline")]
    pub probe: Option<String>,
    /// Requests per second of --probe (at most 100).
    #[arg(long, default_value_t = 10.0, value_name = "N")]
    pub probe_rate: f64,
}

/// What recreate, blue-green and canary take besides their names and image.
#[derive(Debug, Clone, Args)]
pub struct UpdateArgs {
    #[command(flatten)]
    /// Container, pull policy, readiness.
    pub image_args: ImageArgs,
    #[command(flatten)]
    /// Polling and timeout.
    pub wait: WaitArgs,
    #[command(flatten)]
    /// Failure signals.
    pub failure: FailureArgs,
    /// Update an old RC even if another controller owns it (ownerReferences); that
    /// controller may undo the update.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    /// --timeline and --probe.
    pub view: TimelineArgs,
    #[command(flatten)]
    /// --detach: run inside the cluster.
    pub detach: DetachArgs,
}

/// `blue-green OLD NEW --image=X [--service SVC] [--cleanup]`, or an action.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BlueGreenArgs {
    #[command(subcommand)]
    /// An action on an update in progress instead of a new one.
    pub action: Option<BlueGreenAction>,
    /// The Service to switch (default: the only one selecting OLD's pods).
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Delete OLD right after the switch.
    #[arg(long)]
    pub cleanup: bool,
    #[command(flatten)]
    /// The two controllers, the image, and what both methods share.
    pub pair: SideBySideArgs,
}

/// What to do with a blue-green update in progress.
#[derive(Debug, Clone, Subcommand)]
pub enum BlueGreenAction {
    /// Point the Service back at the standby controller.
    SwitchBack(BlueGreenRefArgs),
    /// Delete the standby controller and restore the Service's selector.
    Cleanup(BlueGreenRefArgs),
}

/// Which blue-green update.
#[derive(Debug, Clone, Args)]
pub struct BlueGreenRefArgs {
    /// Optional names of the two controllers.
    #[arg(value_name = "RC", num_args = 0..=2)]
    pub names: Vec<String>,
    /// The Service (default: the only one in a blue-green update).
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Seconds a pod must be ready before it counts as available.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub min_ready_seconds: u32,
    #[command(flatten)]
    /// Polling and timeout.
    pub wait: WaitArgs,
    #[command(flatten)]
    /// --timeline and --probe.
    pub view: TimelineArgs,
}

/// `canary OLD NEW --image=X --steps 1,2,3 [--step-period D]`, or an action.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CanaryArgs {
    #[command(subcommand)]
    /// An action on a canary in progress instead of a new one.
    pub action: Option<CanaryAction>,
    /// Canary sizes: counts or percentages of OLD's replicas, e.g. 1,2,3 or 25%,50%.
    #[arg(long, value_delimiter = ',', default_value = "1", value_parser = parse_int_or_percent, value_name = "STEPS")]
    pub steps: Vec<IntOrPercent>,
    /// Go through all steps with this pause between them, then promote; without it, stop
    /// after the first step until `canary promote`.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub step_period: Option<Duration>,
    #[command(flatten)]
    /// The two controllers, the image, and what both methods share.
    pub pair: SideBySideArgs,
}

/// What `blue-green` and `canary` share: OLD, NEW, the image, and how the new controller
/// is made and judged.
#[derive(Debug, Clone, Args)]
pub struct SideBySideArgs {
    /// The replication controller serving now.
    #[arg(value_name = "OLD", required = true)]
    pub old: Option<String>,
    /// The replication controller to create beside it.
    #[arg(value_name = "NEW", required = true)]
    pub new: Option<String>,
    /// The new controller's image.
    #[arg(long, value_name = "IMAGE", required = true)]
    pub image: Option<String>,
    /// The key of the label that tells the two controllers' pods apart.
    #[arg(long, default_value = "deployment", value_name = "KEY")]
    pub deployment_label_key: String,
    #[command(flatten)]
    /// Container, pull policy, readiness, waiting, failure signals, --force.
    pub update: UpdateArgs,
    #[command(flatten)]
    /// Error-rate analysis.
    pub analysis: AnalysisArgs,
}

/// What to do with a canary in progress.
#[derive(Debug, Clone, Subcommand)]
pub enum CanaryAction {
    /// Finish: the remaining steps, then all pods on the canary and the old RC deleted.
    Promote(CanaryRefArgs),
    /// Remove the canary: the old RC back to its full size, the canary RC deleted.
    Abort(CanaryRefArgs),
}

/// Which canary.
#[derive(Debug, Clone, Args)]
pub struct CanaryRefArgs {
    /// OLD NEW, either of them, or nothing if there is only one canary.
    #[arg(value_name = "RC", num_args = 0..=2)]
    pub names: Vec<String>,
    /// Pause between the remaining steps (promote).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub step_period: Option<Duration>,
    /// Seconds a pod must be ready before it counts as available.
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub min_ready_seconds: u32,
    #[command(flatten)]
    /// Polling and timeout.
    pub wait: WaitArgs,
    #[command(flatten)]
    /// --timeline and --probe.
    pub view: TimelineArgs,
}

/// `status [RC]`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Only updates involving this replication controller.
    #[arg(value_name = "RC")]
    pub rc: Option<String>,
    /// Follow the update (started by any process, anywhere) until it ends: redrawn in place
    /// on a terminal, one line per change otherwise. Exits 0 when it completes, 1 when it
    /// is rolled back or stops with no engine driving it.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// With --watch: how often to look.
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration, value_name = "DURATION")]
    pub poll_interval: Duration,
}

#[cfg(test)]
mod tests;
