//! `cargo xtask setup`: installs and starts what the other tasks need, idempotently, and says
//! what it does. Tasks that need something call `packages::ensure` or `docker::ensure_engine`
//! themselves; this task only runs them all.

use anyhow::Result;

use crate::{docker, packages};

#[derive(clap::Args, Clone, Default)]
pub struct Args {
    /// Also build the Kubernetes binaries for the local cluster (tens of minutes when cold).
    #[arg(long)]
    pub cluster: bool,
}

pub fn run(args: &Args) -> Result<()> {
    docker::ensure_engine()?;
    packages::ensure(&["wrk"])?;
    if args.cluster {
        crate::cluster::local::ensure_installed()?;
    }
    Ok(())
}
