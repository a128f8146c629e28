//! The krew manifest, and the proof with real krew: built from the Go module proxy (pinned),
//! it validates the manifest with krew's own validator, installs the archive offline into a
//! temporary KREW_ROOT, and kubectl then finds and runs the plugin (`--version`, `--help`,
//! completion through `kubectl_complete-rolling_update`) before it is uninstalled.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use xshell::cmd;

use super::archive::{BINARIES, file_name, sha256_hex};
use super::target::Target;
use crate::{cluster, util};

/// krew, pinned (the newest the Go module proxy serves here).
pub const KREW_VERSION: &str = "v0.4.3";

const SHORT_DESCRIPTION: &str =
    "Rolling update of a ReplicationController, as kubectl rolling-update did";

const DESCRIPTION: &str = "\
kubectl rolling-update was removed from kubectl in 1.18. This plugin brings it back with
kubectl 1.17's arguments, output and temporary names, checked side by side against kubectl
1.17 itself, and goes beyond it: every step is recorded in the cluster, so an interrupted
update resumes where it stopped; --max-surge/--max-unavailable bound the pods; an image that
cannot be pulled or a crash-looping version stops the update.

  kubectl rolling-update kubia-v1 kubia-v2 --image=luksa/kubia:v2
";

/// The krew manifest (`rolling-update.yaml`) for `archives`, published under `base_url`.
pub fn manifest(version: &str, base_url: &str, archives: &[(&Target, PathBuf)]) -> Result<String> {
    let base = base_url.trim_end_matches('/');
    let mut platforms = Vec::new();
    for (target, archive) in archives {
        let name = file_name(archive);
        platforms.push(serde_json::json!({
            "selector": {"matchLabels": {"os": target.os, "arch": target.arch}},
            "uri": format!("{base}/v{version}/{name}"),
            "sha256": sha256_hex(&std::fs::read(archive)?),
            "bin": BINARIES[0],
            "files": [{"from": "*", "to": "."}],
        }));
    }
    let caveats = format!(
        "Completion (kubectl >= 1.26) runs kubectl_complete-rolling_update from PATH; krew links\n\
         only the plugin itself, so link it once:\n  \
         ln -sf \"${{KREW_ROOT:-$HOME/.krew}}/store/rolling-update/v{version}/kubectl_complete-rolling_update\" \"${{KREW_ROOT:-$HOME/.krew}}/bin/\"\n"
    );
    let plugin = serde_json::json!({
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "rolling-update"},
        "spec": {
            "version": format!("v{version}"),
            "shortDescription": SHORT_DESCRIPTION,
            "description": DESCRIPTION,
            "caveats": caveats,
            "platforms": platforms,
        },
    });
    Ok(serde_yaml::to_string(&plugin)?)
}

/// `kubectl-krew` and krew's `validate-krew-manifest`, built once into the cache.
fn ensure_krew() -> Result<(PathBuf, PathBuf)> {
    let dir = util::cache_dir().join(format!("bin-krew-{KREW_VERSION}"));
    let krew = dir.join("kubectl-krew");
    let validate = dir.join("validate-krew-manifest");
    let sh = util::shell()?;
    let _tc = sh.push_env("GOTOOLCHAIN", "local");
    let _cgo = sh.push_env("CGO_ENABLED", "0");
    std::fs::create_dir_all(&dir)?;
    if !krew.is_file() {
        let built = cluster::build::go_install(
            &sh,
            &format!("sigs.k8s.io/krew/cmd/krew@{KREW_VERSION}"),
            "krew",
            &dir,
        )?;
        // kubectl finds krew as a plugin by this name.
        std::fs::rename(built, &krew)?;
    }
    if !validate.is_file() {
        cluster::build::go_install(
            &sh,
            &format!("sigs.k8s.io/krew/cmd/validate-krew-manifest@{KREW_VERSION}"),
            "validate-krew-manifest",
            &dir,
        )?;
    }
    Ok((krew, validate))
}

/// A kubectl that completes plugins (>= 1.26): the machine's, else the one the cluster uses.
fn kubectl() -> Result<PathBuf> {
    match util::which("kubectl") {
        Some(k) => Ok(k),
        None => {
            cluster::build::ensure_binaries()?;
            Ok(cluster::build::bin("kubectl"))
        }
    }
}

/// Installs `archive` with krew from `manifest` into a fresh KREW_ROOT and runs it through
/// kubectl; then uninstalls it and checks kubectl no longer finds it.
pub fn test(manifest: &Path, archive: &Path, version: &str) -> Result<()> {
    let _p = util::Phase::start("krew: validate, install offline, run through kubectl, uninstall");
    let (krew, validate) = ensure_krew()?;
    let kubectl = kubectl()?;
    let sh = util::shell()?;
    // Its own install step would download the uri; the install below uses --archive.
    cmd!(sh, "{validate} --manifest {manifest} --skip-install")
        .quiet()
        .run()
        .context("krew's validate-krew-manifest refused the manifest")?;

    let root = util::root().join("target/dist/krew-root");
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    // `krew uninstall` insists on a plugin index; this machine cannot clone krew-index, so
    // an empty local git repository stands in for it (`--manifest` installs need none).
    let index = root.join("index/default");
    std::fs::create_dir_all(&index)?;
    cmd!(sh, "git init -q {index}").quiet().run()?;
    // Only krew's bin directory, krew itself and kubectl: no other kubectl-rolling_update.
    let bin = root.join("bin");
    let path = std::env::join_paths([
        bin.clone(),
        dir_of(&krew),
        dir_of(&kubectl),
        PathBuf::from("/usr/bin"),
        PathBuf::from("/bin"),
    ])?;
    let _env = [
        sh.push_env("KREW_ROOT", &root),
        sh.push_env("KREW_NO_UPGRADE_CHECK", "1"),
        sh.push_env("PATH", path),
        // No cluster is needed for any of this; a stray KUBECONFIG must not matter.
        sh.push_env("KUBECONFIG", root.join("no-kubeconfig")),
    ];

    cmd!(
        sh,
        "kubectl krew install --manifest={manifest} --archive={archive}"
    )
    .quiet()
    .run()
    .context("kubectl krew install --manifest --archive")?;
    let plugins = cmd!(sh, "kubectl plugin list --name-only").quiet().read()?;
    ensure!(
        plugins
            .lines()
            .any(|l| l.trim() == "kubectl-rolling_update"),
        "kubectl plugin list does not show kubectl-rolling_update after the install: {plugins}"
    );
    let out = cmd!(sh, "kubectl rolling-update --version")
        .quiet()
        .read()?;
    let want = format!("kubectl rolling-update {version} (");
    ensure!(
        out.starts_with(&want),
        "`kubectl rolling-update --version` printed {out:?}"
    );
    let help = cmd!(sh, "kubectl rolling-update --help").quiet().read()?;
    ensure!(
        help.contains("Perform a rolling update of the given ReplicationController")
            && help.contains("--image"),
        "`kubectl rolling-update --help` is not the plugin's help: {help}"
    );
    eprintln!("krew installed it; through kubectl: {out}");

    // Completion, as the caveats tell krew users to enable it.
    let store = root.join(format!(
        "store/rolling-update/v{version}/kubectl_complete-rolling_update"
    ));
    ensure!(store.is_file(), "krew did not install {}", store.display());
    let license = store.with_file_name("LICENSE");
    ensure!(
        license.is_file(),
        "krew did not install {}",
        license.display()
    );
    std::os::unix::fs::symlink(&store, bin.join("kubectl_complete-rolling_update"))?;
    let completed = cmd!(sh, "kubectl __complete rolling-update kubia-v1 --roll")
        .quiet()
        .read()?;
    ensure!(
        completed
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("--rollback\t"))
            && completed.lines().last() == Some(":4"),
        "kubectl's completion of `rolling-update kubia-v1 --roll` was {completed:?}"
    );
    eprintln!("kubectl completes through kubectl_complete-rolling_update: {completed:?}");

    cmd!(sh, "kubectl krew uninstall rolling-update")
        .quiet()
        .run()
        .context("kubectl krew uninstall rolling-update")?;
    let plugins = cmd!(sh, "kubectl plugin list --name-only")
        .quiet()
        .ignore_status()
        .read()?;
    if plugins
        .lines()
        .any(|l| l.trim() == "kubectl-rolling_update")
    {
        bail!("kubectl still finds kubectl-rolling_update after the uninstall: {plugins}");
    }
    eprintln!("uninstalled: kubectl no longer finds it");
    Ok(())
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}
