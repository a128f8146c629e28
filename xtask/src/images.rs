//! `cargo xtask images`: the demo images, built with the real Docker engine.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::cmd;

use crate::{docker, registry, util};

/// The variants and the tags the book published them under.
pub const VARIANTS: [(&str, &str); 5] = [
    ("v1", "v1"),
    ("v2", "v2"),
    ("v3", "v3"),
    ("v4", "v4"),
    ("classic", "latest"),
];

/// The pause image the local cluster's containerd uses as its sandbox.
pub const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Image repository to tag the images with.
    #[arg(long, default_value = "luksa/kubia")]
    pub repo: String,
    /// Also write each image as a `docker save` tarball into this directory.
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Push the images: to the registry `--repo` names (`ghcr.io/me/kubia`), or, when it
    /// names none (`luksa/kubia`), to the local registry on 127.0.0.1:5000 (started if
    /// needed), where both clusters' containerd find `luksa/kubia:*`.
    #[arg(long)]
    pub push: bool,
}

impl Args {
    /// `--push` into the local registry (which `push` starts if needed).
    pub fn pushes_to_local_registry(&self) -> bool {
        self.push && pushes_locally(&self.repo)
    }
}

/// Whether [`registry::push_repository`] puts `repo` into the local registry.
fn pushes_locally(repo: &str) -> bool {
    registry::push_repository(repo).starts_with(registry::ADDRESS)
}

/// A built image and, with `--save`, its tarball.
pub struct Built {
    pub reference: String,
    pub tarball: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<Vec<Built>> {
    docker::require_engine()?;
    let sh = util::shell()?;
    let binary = static_binary(&sh, "kubia")?;
    let ctx = util::root().join("target/images/kubia");
    sh.create_dir(&ctx)?;
    sh.copy_file(&binary, ctx.join("kubia"))?;
    let dockerfile = util::root().join("images/kubia/Dockerfile");

    let mut built = Vec::new();
    for (variant, tag) in VARIANTS {
        let reference = format!("{}:{tag}", args.repo);
        let _p = util::Phase::start(format!("docker build {reference}"));
        cmd!(
            sh,
            "docker build --quiet --build-arg VARIANT={variant} -t {reference} -f {dockerfile} {ctx}"
        )
        .quiet()
        .ignore_stdout()
        .run()
        .with_context(|| format!("building {reference}"))?;
        built.push(Built {
            tarball: save(args.save.as_deref(), &reference)?,
            reference,
        });
    }
    built.push(rollout_image(&sh, args.save.as_deref())?);
    for b in &built {
        println!(
            "{}\t{} bytes",
            b.reference,
            docker::image_size(&b.reference)?
        );
    }
    if args.push {
        push(&sh, &args.repo)?;
    }
    Ok(built)
}

/// The plugin's image: the repository, tagged with the workspace version and `latest`.
pub const ROLLOUT_REPO: &str = "kubia-lab/kubia-rollout";

/// Builds the plugin's image from the host's release binaries (`cargo xtask dist`'s).
fn rollout_image(sh: &xshell::Shell, save_dir: Option<&Path>) -> Result<Built> {
    let bins = crate::dist::build(&crate::dist::host_triple())?;
    let ctx = util::root().join("target/images/kubia-rollout");
    sh.create_dir(&ctx)?;
    for bin in ["kubia-rollout", "kubectl-rolling_update"] {
        sh.copy_file(bins.join(bin), ctx.join(bin))?;
    }
    let version = crate::dist::version(sh)?;
    let reference = format!("{ROLLOUT_REPO}:{version}");
    let latest = format!("{ROLLOUT_REPO}:latest");
    let dockerfile = util::root().join("images/kubia-rollout/Dockerfile");
    let _p = util::Phase::start(format!("docker build {reference}"));
    cmd!(
        sh,
        "docker build --quiet -t {reference} -t {latest} -f {dockerfile} {ctx}"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .with_context(|| format!("building {reference}"))?;
    Ok(Built {
        tarball: save(save_dir, &reference)?,
        reference,
    })
}

/// Pushes every tag of `repo` to where [`registry::push_repository`] says.
fn push(sh: &xshell::Shell, repo: &str) -> Result<()> {
    let target = registry::push_repository(repo);
    if pushes_locally(repo) {
        registry::up()?;
    }
    let _p = util::Phase::start(format!("docker push {target}:{{v1,v2,v3,v4,latest}}"));
    for (_, tag) in VARIANTS {
        let from = format!("{repo}:{tag}");
        let to = format!("{target}:{tag}");
        if from != to {
            cmd!(sh, "docker tag {from} {to}").quiet().run()?;
        }
        cmd!(sh, "docker push --quiet {to}")
            .quiet()
            .ignore_stdout()
            .run()
            .with_context(|| format!("pushing {to}"))?;
        println!("pushed {to}");
    }
    Ok(())
}

/// Builds the sandbox (pause) image from `images/pause` and returns its tarball path.
pub fn pause_image(save_dir: &Path) -> Result<PathBuf> {
    docker::require_engine()?;
    let sh = util::shell()?;
    let ctx = util::root().join("target/images/pause");
    sh.create_dir(&ctx)?;
    let src = util::root().join("images/pause/pause.c");
    let out = ctx.join("pause");
    cmd!(sh, "gcc -static -Os -o {out} {src}").quiet().run()?;
    let dockerfile = util::root().join("images/pause/Dockerfile");
    cmd!(
        sh,
        "docker build --quiet -t {PAUSE_IMAGE} -f {dockerfile} {ctx}"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .context("building the pause image")?;
    save(Some(save_dir), PAUSE_IMAGE)?.context("no tarball")
}

fn save(dir: Option<&Path>, reference: &str) -> Result<Option<PathBuf>> {
    let Some(dir) = dir else { return Ok(None) };
    std::fs::create_dir_all(dir)?;
    let file = dir.join(format!("{}.tar", reference.replace(['/', ':'], "_")));
    let sh = util::shell()?;
    cmd!(sh, "docker save -o {file} {reference}")
        .quiet()
        .run()?;
    Ok(Some(file))
}

/// Builds a statically linked release binary of a workspace package, so it runs in a
/// `FROM scratch` image.
pub fn static_binary(sh: &xshell::Shell, package: &str) -> Result<PathBuf> {
    let _p = util::Phase::start(format!("cargo build --release -p {package} (static)"));
    // The host's own glibc target (x86_64 or aarch64): static glibc binaries run on any
    // Linux of that architecture, and the images are for the machine that builds them.
    let target = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    // With an explicit --target, RUSTFLAGS apply to the target only, not to build scripts.
    let _env = sh.push_env("RUSTFLAGS", "-C target-feature=+crt-static");
    cmd!(
        sh,
        "cargo build --quiet --release --locked -p {package} --target {target}"
    )
    .run()?;
    Ok(util::root().join(format!("target/{target}/release/{package}")))
}
