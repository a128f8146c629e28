//! `cargo xtask dist`: the plugin shipped the way kubectl plugins ship. Per target, a
//! static release archive (`kubectl-rolling_update`, `kubectl_complete-rolling_update`,
//! `kubia-rollout`, LICENSE, README, completion scripts, man pages), its SHA-256, and a krew
//! manifest naming them all; then each archive is checked as far as this machine can run it.
//!
//! Archives are reproducible: entries sorted, owner 0, mtime the commit's time, gzip without
//! a timestamp. Cross-building uses zig through cargo-zigbuild (see `zig`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use crate::util;

mod archive;
pub mod krew;
mod target;
mod zig;

use archive::{BINARIES, file_name, sha256_hex};
pub use target::host_triple;
use target::{MACOS_SDK_MISSING, TARGETS, Target};

/// The krew manifest's `uri` prefix when `--base-url` is not given: a reserved name that
/// cannot resolve, so a manifest nobody pointed anywhere cannot download anything.
const DEFAULT_BASE_URL: &str = "https://releases.invalid/rolling-update";

#[derive(clap::Args, Clone)]
pub struct Args {
    /// A target triple to build (repeatable; `host` is this machine's Linux musl target).
    /// Default: the two Linux targets, and the two macOS ones when SDKROOT is set.
    #[arg(long = "target", value_name = "TRIPLE")]
    pub targets: Vec<String>,
    /// Where the archives will be published: the krew manifest's uri is BASE_URL/v<version>/<archive>.
    #[arg(long, value_name = "URL", default_value = DEFAULT_BASE_URL)]
    pub base_url: String,
    /// Then install the archive with krew (built from the Go module proxy) into a temporary
    /// KREW_ROOT, run it through kubectl's plugin lookup, and uninstall it.
    #[arg(long)]
    pub krew_test: bool,
}

impl Args {
    /// What CI runs: the host's archive, then the krew test.
    pub fn for_ci() -> Args {
        Args {
            targets: vec!["host".into()],
            base_url: DEFAULT_BASE_URL.into(),
            krew_test: true,
        }
    }
}

/// What `dist` wrote.
pub struct Dist {
    pub dir: PathBuf,
    pub version: String,
    pub manifest: PathBuf,
    /// (target, archive) pairs.
    pub archives: Vec<(&'static Target, PathBuf)>,
}

impl Dist {
    /// The archive this machine can run.
    pub fn host_archive(&self) -> Option<&Path> {
        let host = host_triple();
        self.archives
            .iter()
            .find(|(t, _)| t.triple == host)
            .map(|(_, a)| a.as_path())
    }
}

pub fn run(args: &Args) -> Result<()> {
    let dist = build_archives(args)?;
    if args.krew_test {
        let archive = dist
            .host_archive()
            .context("--krew-test needs the host's archive: add --target host")?;
        krew::test(&dist.manifest, archive, &dist.version)?;
    }
    Ok(())
}

fn targets(asked: &[String]) -> Result<Vec<&'static Target>> {
    let host = host_triple();
    if asked.is_empty() {
        let with_macos = std::env::var_os("SDKROOT").is_some();
        return Ok(TARGETS
            .iter()
            .filter(|t| t.os == "linux" || with_macos)
            .collect());
    }
    asked
        .iter()
        .map(|a| {
            let triple = if a == "host" {
                host.as_str()
            } else {
                a.as_str()
            };
            TARGETS
                .iter()
                .find(|t| t.triple == triple)
                .with_context(|| {
                    let known: Vec<&str> = TARGETS.iter().map(|t| t.triple).collect();
                    format!("unknown target {a:?}: known are host, {}", known.join(", "))
                })
        })
        .collect()
}

/// The workspace version `rollout-cli` carries.
pub fn version(sh: &Shell) -> Result<String> {
    let json = cmd!(sh, "cargo metadata --format-version 1 --no-deps --locked")
        .quiet()
        .read()?;
    let meta: serde_json::Value = serde_json::from_str(&json)?;
    meta["packages"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "rollout-cli"))
        .and_then(|p| p["version"].as_str())
        .map(str::to_owned)
        .context("cargo metadata lists no rollout-cli version")
}

/// Builds the release binaries of `rollout-cli` for `triple` (static), returning where they are.
pub fn build(triple: &str) -> Result<PathBuf> {
    let sh = util::shell()?;
    if triple.ends_with("apple-darwin") && std::env::var_os("SDKROOT").is_none() {
        bail!("{triple}: {MACOS_SDK_MISSING}");
    }
    let zig_bin = zig::ensure()?;
    cmd!(sh, "rustup target add {triple}")
        .quiet()
        .ignore_stderr()
        .run()
        .with_context(|| format!("rustup target add {triple}"))?;
    let path = std::env::join_paths(std::iter::once(zig_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    let _path = sh.push_env("PATH", path);
    let _p = util::Phase::start(format!(
        "cargo zigbuild --release -p rollout-cli --target {triple}"
    ));
    cmd!(
        sh,
        "cargo zigbuild --quiet --release --locked -p rollout-cli --target {triple}"
    )
    .run()
    .with_context(|| format!("building rollout-cli for {triple}"))?;
    Ok(util::root().join("target").join(triple).join("release"))
}

/// Builds every asked target and writes archives, sums and the krew manifest.
pub fn build_archives(args: &Args) -> Result<Dist> {
    let sh = util::shell()?;
    let targets = targets(&args.targets)?;
    let version = version(&sh)?;
    let dir = util::root().join("target/dist");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    // The completion scripts and man pages come from a binary this machine runs.
    let host_bins = build(&host_triple())?;
    let share = dir.join("share");
    generate_share(&sh, &host_bins, &share)?;
    let epoch = cmd!(sh, "git log -1 --format=%ct")
        .quiet()
        .read()
        .unwrap_or_else(|_| "0".into());

    let mut archives = Vec::new();
    for target in targets {
        let bins = build(target.triple)?;
        let stage = dir.join("stage").join(target.triple);
        stage_files(&sh, &bins, &share, &stage)?;
        let name = format!("kubectl-rolling_update-v{version}-{}.tar.gz", target.triple);
        let archive = dir.join(&name);
        let entries = [
            "LICENSE",
            "README.md",
            "completions",
            "man",
            BINARIES[0],
            BINARIES[1],
            BINARIES[2],
        ];
        let mtime = format!("--mtime=@{}", epoch.trim());
        cmd!(
            sh,
            "tar --sort=name --owner=0 --group=0 --numeric-owner {mtime} -I 'gzip -n -9' -cf {archive} -C {stage} {entries...}"
        )
        .quiet()
        .run()
        .with_context(|| format!("writing {name}"))?;
        let sum = sha256_hex(&std::fs::read(&archive)?);
        std::fs::write(
            dir.join(format!("{name}.sha256")),
            format!("{sum}  {name}\n"),
        )?;
        archives.push((target, archive));
    }
    let manifest = dir.join("rolling-update.yaml");
    std::fs::write(
        &manifest,
        krew::manifest(&version, &args.base_url, &archives)?,
    )?;
    let mut sums = String::new();
    for (_, archive) in &archives {
        let name = file_name(archive);
        sums.push_str(&format!(
            "{}  {name}\n",
            sha256_hex(&std::fs::read(archive)?)
        ));
    }
    std::fs::write(dir.join("SHA256SUMS"), &sums)?;

    let dist = Dist {
        dir,
        version,
        manifest,
        archives,
    };
    report(&sh, &dist)?;
    Ok(dist)
}

/// Completion scripts (kubia-rollout) and man pages (both commands), from the host binary.
fn generate_share(sh: &Shell, bins: &Path, share: &Path) -> Result<()> {
    let rollout = bins.join("kubia-rollout");
    let completions = share.join("completions");
    std::fs::create_dir_all(&completions)?;
    for (shell, file) in [
        ("bash", "kubia-rollout.bash"),
        ("zsh", "_kubia-rollout"),
        ("fish", "kubia-rollout.fish"),
    ] {
        let script = cmd!(sh, "{rollout} completion {shell}").quiet().read()?;
        std::fs::write(completions.join(file), script + "\n")?;
    }
    let man = share.join("man/man1");
    cmd!(sh, "{rollout} generate-man {man}")
        .quiet()
        .ignore_stdout()
        .run()?;
    Ok(())
}

/// One target's files, laid out as in the archive.
fn stage_files(sh: &Shell, bins: &Path, share: &Path, stage: &Path) -> Result<()> {
    std::fs::create_dir_all(stage)?;
    for bin in BINARIES {
        sh.copy_file(bins.join(bin), stage.join(bin))?;
    }
    sh.copy_file(util::root().join("LICENSE"), stage.join("LICENSE"))?;
    sh.copy_file(
        util::root().join("crates/rollout-cli/README.md"),
        stage.join("README.md"),
    )?;
    let (from, to) = (share.join("completions"), share.join("man"));
    cmd!(sh, "cp -r {from} {to} {stage}").quiet().run()?;
    Ok(())
}

/// Per archive: its size, the binaries' size, and what was run to check it.
fn report(sh: &Shell, dist: &Dist) -> Result<()> {
    println!(
        "{:<30} {:>10} {:>12}  checked",
        "target", "archive", "plugin bin"
    );
    for (target, archive) in &dist.archives {
        let unpacked = dist.dir.join("check").join(target.triple);
        if unpacked.exists() {
            std::fs::remove_dir_all(&unpacked)?;
        }
        std::fs::create_dir_all(&unpacked)?;
        cmd!(sh, "tar -xzf {archive} -C {unpacked}").quiet().run()?;
        let plugin = unpacked.join(BINARIES[0]);
        let checked = check_binary(sh, target, &plugin, &dist.version)
            .with_context(|| format!("checking the {} archive", target.triple))?;
        println!(
            "{:<30} {:>10} {:>12}  {checked}",
            target.triple,
            std::fs::metadata(archive)?.len(),
            std::fs::metadata(&plugin)?.len(),
        );
    }
    println!("wrote {}", dist.dir.display());
    Ok(())
}

/// Runs the unpacked plugin where this machine can (natively, or under qemu-user), and
/// otherwise checks what `file` says it is.
fn check_binary(sh: &Shell, target: &Target, plugin: &Path, version: &str) -> Result<String> {
    let described = cmd!(sh, "file -b {plugin}").quiet().read()?;
    let expected_arch = match (target.os, target.arch) {
        ("linux", "amd64") => "x86-64",
        ("linux", "arm64") => "ARM aarch64",
        ("darwin", "amd64") => "Mach-O 64-bit x86_64",
        _ => "Mach-O 64-bit arm64",
    };
    if !described.contains(expected_arch) {
        bail!("`file` says {plugin:?} is {described:?}, not {expected_arch}");
    }
    if target.os != "linux" {
        return Ok(format!("file: {described}"));
    }
    if !described.contains("statically linked") && !described.contains("static-pie") {
        bail!("{plugin:?} is not static: {described}");
    }
    let runner = if target.triple == host_triple() {
        None
    } else {
        let qemu = format!(
            "qemu-{}-static",
            target.triple.split('-').next().unwrap_or("")
        );
        if !util::have(&qemu) && crate::packages::ensure(&["qemu-user-static"]).is_err() {
            return Ok(format!(
                "file: static {expected_arch} (qemu-user-static did not install; not run)"
            ));
        }
        Some(qemu)
    };
    let out = match &runner {
        Some(qemu) => cmd!(sh, "{qemu} {plugin} --version").quiet().read()?,
        None => cmd!(sh, "{plugin} --version").quiet().read()?,
    };
    let want = format!("kubectl rolling-update {version} (");
    if !out.starts_with(&want) {
        bail!("{plugin:?} --version printed {out:?}, expected it to start with {want:?}");
    }
    Ok(match runner {
        Some(qemu) => format!("static {expected_arch}; `{qemu} … --version`: {out}"),
        None => format!("static {expected_arch}; `--version`: {out}"),
    })
}
