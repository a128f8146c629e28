//! Puts `git describe` into the binaries' `--version` (`ROLLOUT_GIT_DESCRIBE`), so that an
//! archive or a `cargo install` says which commit it was built from. Outside a git checkout
//! (a source tarball) it says `unknown`; packagers may set `ROLLOUT_GIT_DESCRIBE` themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ROLLOUT_GIT_DESCRIBE");
    let describe = std::env::var("ROLLOUT_GIT_DESCRIBE")
        .ok()
        .filter(|d| !d.is_empty())
        .or_else(|| {
            watch_git_head();
            git(&["describe", "--tags", "--always"])
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=ROLLOUT_GIT_DESCRIBE={describe}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (out.status.success() && !text.is_empty()).then(|| text.to_owned())
}

/// Rebuild when HEAD moves (a commit, a checkout), not on every edit: the files git changes
/// then are HEAD, the branch it points at, and packed-refs.
fn watch_git_head() {
    let (Some(git_dir), Some(common)) = (
        git(&["rev-parse", "--absolute-git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ) else {
        return;
    };
    let git_dir = PathBuf::from(git_dir);
    let common = if Path::new(&common).is_absolute() {
        PathBuf::from(common)
    } else {
        std::env::current_dir()
            .map(|d| d.join(&common))
            .unwrap_or_else(|_| PathBuf::from(&common))
    };
    let head = git_dir.join("HEAD");
    let mut watched = vec![head.clone(), common.join("packed-refs")];
    if let Ok(text) = std::fs::read_to_string(&head)
        && let Some(branch) = text.trim().strip_prefix("ref: ")
    {
        watched.push(common.join(branch));
    }
    // A missing file would make cargo rerun this script on every build.
    for path in watched.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}
