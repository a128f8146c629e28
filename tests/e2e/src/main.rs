//! `e2e`: runs the end-to-end scenarios against a cluster (normally via `cargo xtask e2e`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use e2e::{Env, report, scenarios};

#[derive(Parser)]
#[command(about = "The tutorial's scenarios on a real cluster, with live traffic")]
struct Args {
    /// Kubeconfig of the cluster under test.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: PathBuf,
    /// Directory with the engine's binaries (kubectl-rolling_update, kubia-rollout).
    #[arg(long)]
    bin_dir: PathBuf,
    /// The kubectl to drive (its plugin lookup finds kubectl-rolling_update in --bin-dir).
    #[arg(long, default_value = "kubectl")]
    kubectl: PathBuf,
    /// Where report.md and the timelines go.
    #[arg(long, default_value = "target/e2e")]
    report_dir: PathBuf,
    /// The repository root (for manifests/).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Run only these scenarios (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// Which cluster this is: `local`, `kind` or `current`. Named in the report; scenarios
    /// that assert one provider's host behaviour say "not applicable" on the others.
    #[arg(long, default_value = "current")]
    provider: String,
    /// Run the tutorial's command with this `--update-period` instead of verbatim (kubectl's
    /// default of 1m), to save time where the verbatim run is proven elsewhere.
    #[arg(long)]
    tutorial_update_period: Option<String>,
    /// Repository the cluster pulls the demo images from (`registry.example/me/kubia`); the
    /// manifests and commands name it instead of `luksa/kubia`. Push them there first with
    /// `cargo xtask images --push --repo R`.
    #[arg(long, default_value = e2e::env::TUTORIAL_REPO)]
    image_repo: String,
    /// A program that stops and starts the cluster's components
    /// (`PROGRAM cluster stop|start COMPONENT --provider local`: `cargo xtask`'s binary).
    /// Without it the fault scenarios that need it say "not applicable".
    #[arg(long)]
    cluster_hooks: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    for o in &args.only {
        if !scenarios::ALL.iter().any(|(n, _)| n == o) {
            let names: Vec<&str> = scenarios::ALL.iter().map(|(n, _)| *n).collect();
            eprintln!(
                "error: unknown scenario {o:?}; scenarios: {}",
                names.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    let env = match Env::new(e2e::env::Settings {
        kubeconfig: args.kubeconfig,
        bin_dir: args.bin_dir,
        kubectl: args.kubectl,
        report_dir: args.report_dir.clone(),
        root: args.root,
        provider: args.provider.clone(),
        tutorial_update_period: args.tutorial_update_period.clone(),
        image_repo: args.image_repo.clone(),
        cluster_hooks: args.cluster_hooks.clone(),
    })
    .await
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut outcomes = Vec::new();
    for (name, f) in scenarios::ALL {
        if args.only.is_empty() || args.only.iter().any(|o| o == name) {
            outcomes.push(scenarios::run(&env, name, f).await);
        }
    }
    match report::write(&args.report_dir, &args.provider, &outcomes) {
        Ok(md) => {
            let table: String = md
                .lines()
                .take_while(|l| !l.starts_with("## "))
                .collect::<Vec<_>>()
                .join("\n");
            println!(
                "\n{table}\nReport: {}",
                args.report_dir.join("report.md").display()
            );
        }
        Err(e) => eprintln!("error: cannot write the report: {e}"),
    }
    if outcomes.iter().all(|o| o.passed()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
