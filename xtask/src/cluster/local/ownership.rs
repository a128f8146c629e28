//! What on this host is the local cluster's to remove.
//!
//! `down` deletes a whole directory and tears down host networking, so it needs proof before
//! it acts. A state directory is ours only when it holds the [`MARKER`] file `up` writes
//! first; `down` refuses any other directory (`KUBIA_STATE_DIR` may name anything).
//!
//! The host-wide parts (the `kubia0` bridge, kube-proxy's and CNI's iptables chains, the
//! `kubepods` cgroups) are the same names whichever state directory started the cluster, so
//! they belong to the one state directory that claimed them: `up` writes its path to
//! [`CLAIM`] (under `/run`, which a reboot clears along with chains, bridge and cgroups),
//! and `down` of any other state directory (a stale second one) leaves them alone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The file `up` writes first into a state directory it creates.
pub const MARKER: &str = ".kubia-lab-state";

/// Which state directory owns the host's bridge, chains and cgroups.
const CLAIM: &str = "/run/kubia-lab/host-claim";

/// Marks `dir` as a state directory of ours (created if missing).
pub fn mark(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "A local cluster's state, written by `cargo xtask cluster up`; \
         `cargo xtask cluster down` removes this directory.\n",
    )
    .with_context(|| format!("marking {}", dir.display()))
}

/// Refuses a directory `up` did not create.
pub fn check_ours(dir: &Path) -> Result<()> {
    if dir.join(MARKER).is_file() {
        return Ok(());
    }
    bail!(
        "refusing to clean up {}: it has no {MARKER} file, so `cargo xtask cluster up` did not \
         create it (KUBIA_STATE_DIR must name a directory of its own); nothing was changed",
        dir.display()
    )
}

/// Records that `dir`'s cluster owns the host-wide parts from now on.
pub fn claim_host(dir: &Path) -> Result<()> {
    let claim = Path::new(CLAIM);
    if let Some(parent) = claim.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(claim, canonical(dir).to_string_lossy().as_bytes())
        .with_context(|| format!("writing {CLAIM}"))
}

/// Whether `dir`'s cluster owns the host-wide parts.
pub fn owns_host(dir: &Path) -> bool {
    claimed_by(std::fs::read_to_string(CLAIM).ok().as_deref(), dir)
}

/// Gives up the claim, if `dir` holds it.
pub fn release_host(dir: &Path) {
    if owns_host(dir) {
        let _ = std::fs::remove_file(CLAIM);
    }
}

/// Whether the claim's content names `dir` (no claim: nobody's, so not `dir`'s).
fn claimed_by(claim: Option<&str>, dir: &Path) -> bool {
    claim.is_some_and(|c| Path::new(c.trim()) == canonical(dir))
}

fn canonical(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_marked_directory_is_ours() {
        let dir = std::env::temp_dir().join(format!("kubia-ownership-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let err = check_ours(&dir).expect_err("no marker");
        assert!(
            err.to_string().contains("has no .kubia-lab-state file"),
            "{err}"
        );
        mark(&dir).expect("marked");
        check_ours(&dir).expect("marked now");
        std::fs::remove_dir_all(&dir).expect("removed");
    }

    #[test]
    fn the_host_belongs_to_the_claiming_directory_only() {
        let dir = std::env::temp_dir();
        let here = canonical(&dir).to_string_lossy().into_owned();
        assert!(claimed_by(Some(&here), &dir));
        assert!(claimed_by(Some(&format!("{here}\n")), &dir));
        assert!(!claimed_by(None, &dir), "no claim: not ours");
        assert!(!claimed_by(Some("/var/lib/kubia-lab"), &dir.join("other")));
        assert!(!claimed_by(Some(""), &dir));
    }
}
