//! `cargo xtask`: the project's automation in plain Rust (no shell scripts), one function per
//! task, in the style of rust-analyzer's xtask.

mod bench;
mod browser;
mod cluster;
mod dist;
mod docker;
mod e2e;
mod images;
mod manifests;
mod packages;
mod registry;
mod setup;
mod test;
#[cfg(test)]
mod tidy;
mod util;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Automation for the kubia rolling-update project"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Install and start what the tasks need (Docker engine, Debian packages, Kubernetes binaries).
    Setup(setup::Args),
    /// Build the demo images (luksa/kubia:v1…v4, :latest) with the Docker engine.
    Images(images::Args),
    /// Release archives of the plugin (static, per target), SHA-256 sums, a krew manifest,
    /// completion scripts and man pages, into target/dist.
    Dist(dist::Args),
    /// Regenerate the checked-in manifests/ directory.
    Manifests,
    /// Bring a cluster up or down, or show it.
    Cluster(cluster::Args),
    /// A local image registry on 127.0.0.1:5000 that both clusters pull docker.io images through.
    Registry(registry::Args),
    /// Build (or find up to date) the kind node image for Kubernetes v1.34.4, offline.
    KindNodeImage,
    /// The tutorial end to end on a real cluster, with live traffic.
    E2e(e2e::Args),
    /// Benchmarks, each side by side with its reference.
    Bench(bench::Args),
    /// Everything CI checks: format, lints, unit tests, images, cluster smoke test, end to end.
    Test(test::Args),
}

fn main() -> std::process::ExitCode {
    // Started as `docker` by kind on a host that refuses privileged containers.
    if let Some(code) = cluster::kind::docker_shim::intercept() {
        return code;
    }
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable chain of causes, not a backtrace.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    util::chdir_to_root()?;
    match cli.task {
        Task::Setup(a) => setup::run(&a),
        Task::Images(a) => {
            images::run(&a)?;
            // The registry may have been started just now under running clusters; the
            // registry module knows no cluster, so the cluster side connects them here.
            if a.pushes_to_local_registry() {
                cluster::connect_registry()?;
            }
            Ok(())
        }
        Task::Dist(a) => dist::run(&a),
        Task::Manifests => manifests::run(),
        Task::Cluster(a) => cluster::run(&a),
        Task::Registry(a) => {
            registry::run(&a)?;
            // Running clusters learn about the registry from the cluster side (see above).
            if a.is_up() {
                cluster::connect_registry()?;
            }
            Ok(())
        }
        Task::KindNodeImage => cluster::kind::node_image::ensure().map(|r| println!("{r}")),
        Task::E2e(a) => e2e::run(&a),
        Task::Bench(a) => bench::run(&a),
        Task::Test(a) => test::run(&a),
    }
}
