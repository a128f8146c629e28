//! `manifests/` must be exactly what the generator produces: no stale file, no stray file.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use kubia_manifests::{REGENERATE_COMMAND, checked_in};

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

/// Every file under `dir`, as `/`-separated paths relative to it.
fn files_under(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        if entry.file_type().unwrap().is_dir() {
            files_under(&entry.path(), &format!("{rel}/"), out);
        } else {
            out.insert(rel);
        }
    }
}

#[test]
fn checked_in_files_are_up_to_date() {
    let dir = manifests_dir();
    for (name, expected) in checked_in() {
        let path = dir.join(&name);
        let actual = fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("manifests/{name} is missing ({e}); run `{REGENERATE_COMMAND}` to regenerate manifests/")
        });
        assert!(
            actual == expected,
            "manifests/{name} differs from what the generator produces; run `{REGENERATE_COMMAND}` to regenerate manifests/\n--- on disk\n{actual}\n--- generated\n{expected}"
        );
    }
}

#[test]
fn no_stray_files_in_manifests() {
    let mut on_disk = BTreeSet::new();
    files_under(&manifests_dir(), "", &mut on_disk);
    let generated: BTreeSet<String> = checked_in().into_iter().map(|(name, _)| name).collect();
    let stray: Vec<_> = on_disk.difference(&generated).collect();
    assert!(
        stray.is_empty(),
        "manifests/ holds files the generator does not produce: {stray:?}; delete them and run `{REGENERATE_COMMAND}`"
    );
}

#[test]
fn the_required_files_are_listed() {
    let names: BTreeSet<String> = checked_in().into_iter().map(|(name, _)| name).collect();
    for required in [
        "kubia-v1.yaml",
        "kubia-v2-rc.yaml",
        "kubia-deployment-v1.yaml",
        "kubia-deployment-v2.yaml",
        "kubia-deployment-v3-with-readinesscheck.yaml",
        "kubia-blue-green.yaml",
        "kubia-canary.yaml",
        "hardened/kubia-v1.yaml",
        "hardened/kubia-deployment-v1.yaml",
    ] {
        assert!(names.contains(required), "{required} is not generated");
    }
}
