//! Command-line flags, turned into the library's parameter structs.
//!
//! Enumerated values (strategy, pull policy, …) are taken as plain strings and parsed by
//! the library, so a bad value gets the library's one-line error instead of clap's
//! multi-line usage message; numbers accept a leading '-' and values that may start with
//! one (tags, surge) accept it too, for the same reason.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use kubia_manifests::{
    BlueGreenOptions, CanaryOptions, DEFAULT_IMAGE_REPO, DEFAULT_NAME, DEFAULT_NEW_TAG,
    DEFAULT_NODE_PORT, DEFAULT_REPLICAS, DEFAULT_TAG, DeploymentOptions, Error, Params,
    ValidationError, parse_max_surge, parse_max_unavailable,
};

/// Prints (or writes) the Kubernetes manifests of the kubia upgrade tutorial.
#[derive(Debug, Parser)]
#[command(name = "kubia-manifests", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub kind: Kind,
}

/// What to generate.
#[derive(Debug, Subcommand)]
pub enum Kind {
    /// The tutorial's kubia-v1.yaml (RC + NodePort Service), verbatim with the defaults.
    Tutorial(PodArgs),
    /// One ReplicationController for one version (e.g. kubia-v2-rc.yaml).
    Rc(PodArgs),
    /// One ReplicaSet (apps/v1) for one version.
    Replicaset(PodArgs),
    /// A Deployment (apps/v1) and its Service.
    Deployment {
        #[command(flatten)]
        pod: PodArgs,
        #[command(flatten)]
        deployment: DeploymentArgs,
    },
    /// Blue and green sets (blue runs --tag, green --green-tag) and a Service selecting one.
    BlueGreen {
        #[command(flatten)]
        pod: PodArgs,
        /// Image tag of the green set.
        #[arg(long, default_value = DEFAULT_NEW_TAG, allow_hyphen_values = true)]
        green_tag: String,
        /// The colour the Service selects: blue or green.
        #[arg(long, default_value = "blue")]
        active: String,
        /// Controller kind: rc, replicaset or deployment.
        #[arg(long, default_value = "rc")]
        workload: String,
    },
    /// A stable set (--tag, --replicas) and a canary set behind one Service.
    Canary {
        #[command(flatten)]
        pod: PodArgs,
        /// Image tag of the canary set.
        #[arg(long, default_value = DEFAULT_NEW_TAG, allow_hyphen_values = true)]
        canary_tag: String,
        /// Pods in the canary set.
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
        canary_replicas: i32,
        /// Controller kind: rc, replicaset or deployment.
        #[arg(long, default_value = "rc")]
        workload: String,
    },
    /// The NodePort Service alone.
    Service(ServiceArgs),
    /// Every checked-in manifest; `-o manifests` regenerates the repository's directory.
    All(OutputArgs),
}

/// Where to put the output.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write files into DIR (created if missing) instead of printing to stdout.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: Option<PathBuf>,
}

/// The Service's own flags.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Extra selector label KEY=VALUE next to app=NAME (repeatable), e.g. color=green.
    #[arg(long = "select", value_name = "KEY=VALUE")]
    pub select: Vec<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Flags every kind has.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// App name: Service name, app label, prefix of workload names.
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
    /// Namespace to put in every object's metadata.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// The Service's node port (30000-32767).
    #[arg(long, default_value_t = DEFAULT_NODE_PORT, allow_negative_numbers = true)]
    pub node_port: i32,
}

/// Flags of the kinds that run pods.
#[derive(Debug, Args)]
pub struct PodArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Image repository, without tag.
    #[arg(long, default_value = DEFAULT_IMAGE_REPO)]
    pub image_repo: String,
    /// Image tag, also the version in names and labels; '' for no tag (latest).
    #[arg(long, default_value = DEFAULT_TAG, allow_hyphen_values = true)]
    pub tag: String,
    /// Desired pods.
    #[arg(long, default_value_t = DEFAULT_REPLICAS, allow_negative_numbers = true)]
    pub replicas: i32,
    /// Always, IfNotPresent or Never (default: what Kubernetes picks for the tag).
    #[arg(long)]
    pub image_pull_policy: Option<String>,
    /// Add a readiness probe: root (GET /, the book's) or healthz (GET /healthz).
    #[arg(long)]
    pub readiness_probe: Option<String>,
    /// Production-grade pods: restricted security context, resources, probes, shutdown delay.
    #[arg(long)]
    pub hardened: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Deployment-only flags.
#[derive(Debug, Args)]
pub struct DeploymentArgs {
    /// RollingUpdate or Recreate.
    #[arg(long)]
    pub strategy: Option<String>,
    /// Extra pods during a rolling update: a count or a percentage like 25%.
    #[arg(long, allow_hyphen_values = true)]
    pub max_surge: Option<String>,
    /// Missing pods allowed during a rolling update: a count or a percentage.
    #[arg(long, allow_hyphen_values = true)]
    pub max_unavailable: Option<String>,
    /// Seconds a new pod must be ready before it counts as available.
    #[arg(long, allow_negative_numbers = true)]
    pub min_ready_seconds: Option<i32>,
    /// Old ReplicaSets to keep for rollbacks.
    #[arg(long, allow_negative_numbers = true)]
    pub revision_history_limit: Option<i32>,
    /// Seconds without progress before the rollout is reported as failed.
    #[arg(long, allow_negative_numbers = true)]
    pub progress_deadline_seconds: Option<i32>,
}

/// `''` means "no tag".
fn tag(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl CommonArgs {
    pub fn params(&self) -> Params {
        Params {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            node_port: self.node_port,
            ..Params::default()
        }
    }
}

impl PodArgs {
    pub fn params(&self) -> Result<Params, Error> {
        Ok(Params {
            image_repo: self.image_repo.clone(),
            tag: tag(&self.tag),
            replicas: self.replicas,
            image_pull_policy: self
                .image_pull_policy
                .as_deref()
                .map(str::parse)
                .transpose()?,
            readiness_probe: self
                .readiness_probe
                .as_deref()
                .map(str::parse)
                .transpose()?,
            hardened: self.hardened,
            ..self.common.params()
        })
    }
}

impl DeploymentArgs {
    pub fn options(&self) -> Result<DeploymentOptions, Error> {
        Ok(DeploymentOptions {
            strategy: self.strategy.as_deref().map(str::parse).transpose()?,
            max_surge: self.max_surge.as_deref().map(parse_max_surge).transpose()?,
            max_unavailable: self
                .max_unavailable
                .as_deref()
                .map(parse_max_unavailable)
                .transpose()?,
            min_ready_seconds: self.min_ready_seconds,
            revision_history_limit: self.revision_history_limit,
            progress_deadline_seconds: self.progress_deadline_seconds,
        })
    }
}

pub fn blue_green_options(
    green_tag: &str,
    active: &str,
    workload: &str,
) -> Result<BlueGreenOptions, Error> {
    Ok(BlueGreenOptions {
        green_tag: tag(green_tag),
        active: active.parse()?,
        workload: workload.parse()?,
    })
}

pub fn canary_options(
    canary_tag: &str,
    canary_replicas: i32,
    workload: &str,
) -> Result<CanaryOptions, Error> {
    Ok(CanaryOptions {
        canary_tag: tag(canary_tag),
        canary_replicas,
        workload: workload.parse()?,
    })
}

/// `KEY=VALUE` pairs for `service --select`.
pub fn selector_pairs(select: &[String]) -> Result<Vec<(String, String)>, Error> {
    select
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(Error::invalid_str(
                "selector",
                s,
                ValidationError::Form("KEY=VALUE"),
            )),
        })
        .collect()
}
