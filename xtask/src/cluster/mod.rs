//! `cargo xtask cluster up|down|status|kubeconfig [--provider kind|local]`: a real cluster
//! for the end-to-end tests.

pub mod build;
mod host;
pub mod kind;
pub mod local;
mod pki;

use anyhow::Result;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    /// Which cluster: `kind` (default where kind and Docker exist) or `local` (upstream
    /// components as processes on this machine; the fallback and what CI uses).
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
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Kind,
    Local,
}

impl Provider {
    /// kind where it can run, else the local cluster.
    pub fn detect() -> Provider {
        if kind::available() {
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

/// Brings up a cluster of the given provider and returns its kubeconfig.
/// Whether `up` created the cluster or found one running (which is then not ours to
/// take down).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Created {
    New,
    Reused,
}

/// Brings up a cluster of the given provider; returns its kubeconfig and whether it is new.
pub fn up(provider: Provider) -> Result<(std::path::PathBuf, Created)> {
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
