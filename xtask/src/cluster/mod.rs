//! `cargo xtask cluster up|down|status|kubeconfig [--provider kind|local]`: a real cluster
//! for the end-to-end tests.

pub mod build;
mod checks;
mod command;
mod created;
pub mod host;
pub mod kind;
mod kubectl;
pub mod local;
mod pki;
mod registry_hosting;

use std::path::PathBuf;

use anyhow::Result;

pub use checks::pull_always_check;
pub use created::Created;
pub use kubectl::{kubectl, kubectl_binary};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// Which cluster: `kind` (default where kind is installed, or where the local provider
    /// cannot run: not Linux, or not root) or `local` (upstream components as processes on
    /// this machine). CI runs both.
    #[arg(long, global = true, value_enum)]
    provider: Option<Provider>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create (or reuse) the cluster and load the demo images.
    Up,
    /// Delete the cluster and everything it left on the machine.
    Down,
    /// Show what runs.
    Status,
    /// Print the path of the cluster's kubeconfig.
    Kubeconfig,
    /// Stop one component of the local cluster (kube-apiserver, etcd, kubelet, …), leaving
    /// the rest running: the fault scenarios' hook.
    Stop { component: String },
    /// Start a component stopped with `stop` again, with the flags `up` gave it.
    Start { component: String },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Kind,
    Local,
}

impl Provider {
    /// kind where it is installed or the local cluster cannot run, else the local cluster.
    pub fn detect() -> Provider {
        if kind::preferred() {
            Provider::Kind
        } else {
            Provider::Local
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let provider = args.provider.unwrap_or_else(Provider::detect);
    match (args.action_ref(), provider) {
        (Action::Up, Provider::Local) => local::up().map(drop),
        (Action::Down, Provider::Local) => local::down(),
        (Action::Status, Provider::Local) => local::status(),
        (Action::Kubeconfig, Provider::Local) => {
            println!("{}", local::kubeconfig().display());
            Ok(())
        }
        (Action::Stop { component }, Provider::Local) => local::stop_component(component),
        (Action::Start { component }, Provider::Local) => local::start_component(component),
        (Action::Stop { .. } | Action::Start { .. }, Provider::Kind) => anyhow::bail!(
            "stop and start are offered by the local provider only: kind's control plane runs \
             as static pods inside its node containers, which the kubelet restarts at once"
        ),
        (Action::Up, Provider::Kind) => kind::up().map(drop),
        (Action::Down, Provider::Kind) => kind::down(),
        (Action::Status, Provider::Kind) => kind::status(),
        (Action::Kubeconfig, Provider::Kind) => {
            println!("{}", kind::kubeconfig()?.display());
            Ok(())
        }
    }
}

impl Args {
    fn action_ref(&self) -> &Action {
        &self.action
    }
}

/// Brings up a cluster of the given provider; returns its kubeconfig and whether it is new.
pub fn up(provider: Provider) -> Result<(PathBuf, Created)> {
    match provider {
        Provider::Local => {
            let created = local::up()?;
            Ok((local::kubeconfig(), created))
        }
        Provider::Kind => {
            let created = kind::up()?;
            Ok((kind::kubeconfig()?, created))
        }
    }
}

pub fn down(provider: Provider) -> Result<()> {
    match provider {
        Provider::Local => local::down(),
        Provider::Kind => kind::down(),
    }
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Kind => "kind",
            Provider::Local => "local",
        }
    }
}

/// Connects the clusters that run to the local registry: kind's node gets the forwarder
/// and the `hosts.toml` files, and both clusters the KEP-1755 ConfigMap. A cluster brought
/// up later connects itself; this is for the registry started under a running one
/// (`registry up`, `images --push`, which `main` follows with it: the registry module
/// knows no cluster, since the clusters build on it).
pub fn connect_registry() -> Result<()> {
    if kind::node_running() {
        kind::connect_registry(&kind::running_kubeconfig()?)?;
    }
    if local::healthy() {
        local::connect_registry()?;
    }
    Ok(())
}
