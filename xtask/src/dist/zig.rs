//! The cross toolchain: zig as the C compiler and linker (for ring's C and assembly, and
//! the final static link against musl) and cargo-zigbuild driving cargo with it. Both come
//! from PyPI as prebuilt wheels, into a virtualenv in the project's cache.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::util;

/// The `ziglang` wheel (zig itself).
pub const ZIG_VERSION: &str = "0.17.0";
/// The `cargo-zigbuild` wheel.
pub const ZIGBUILD_VERSION: &str = "0.24.0";

/// The virtualenv's `bin` directory, holding `cargo-zigbuild` and a Python that runs zig
/// (`python -m ziglang`, which cargo-zigbuild finds by itself). Put it first on PATH.
pub fn ensure() -> Result<PathBuf> {
    let venv = util::cache_dir().join(format!("zig-{ZIG_VERSION}-zigbuild-{ZIGBUILD_VERSION}"));
    let bin = venv.join("bin");
    if bin.join("cargo-zigbuild").is_file() && bin.join(".complete").is_file() {
        return Ok(bin);
    }
    let _p = util::Phase::start(format!(
        "pip install ziglang=={ZIG_VERSION} cargo-zigbuild=={ZIGBUILD_VERSION} (into the cache)"
    ));
    let sh = util::shell()?;
    if venv.exists() {
        std::fs::remove_dir_all(&venv)?;
    }
    cmd!(sh, "python3 -m venv {venv}")
        .quiet()
        .run()
        .context("creating a Python virtualenv for zig (is python3-venv installed?)")?;
    let pip = bin.join("pip");
    let zig = format!("ziglang=={ZIG_VERSION}");
    let zigbuild = format!("cargo-zigbuild=={ZIGBUILD_VERSION}");
    cmd!(
        sh,
        "{pip} install --quiet --disable-pip-version-check {zig} {zigbuild}"
    )
    .quiet()
    .run()
    .context("installing zig and cargo-zigbuild from PyPI")?;
    // Written last: a half-installed virtualenv is never taken for a complete one.
    std::fs::write(bin.join(".complete"), "")?;
    Ok(bin)
}
