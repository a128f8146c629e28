//! `cargo xtask e2e`: placeholder until the scenarios land.

use anyhow::{Result, bail};

#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: &Args) -> Result<()> {
    bail!("the end-to-end scenarios are not implemented yet")
}
