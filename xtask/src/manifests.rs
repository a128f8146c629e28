//! `cargo xtask manifests`: regenerates the checked-in `manifests/` from the generator.

use anyhow::Result;
use xshell::cmd;

use crate::util;

pub fn run() -> Result<()> {
    let sh = util::shell()?;
    cmd!(
        sh,
        "cargo run --quiet -p kubia-manifests-cli -- all -o manifests"
    )
    .run()?;
    eprintln!("manifests/ regenerated; review with `git diff manifests/`");
    Ok(())
}
