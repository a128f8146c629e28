//! `e2e`: runs the end-to-end scenarios against a cluster (normally via `cargo xtask e2e`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use e2e::{Env, report, scenarios, schedule};

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
    /// How many scenarios run side by side (those that disturb the whole cluster always run
    /// alone). 4 by default: measured on a 2-core machine, see the e2e README.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=e2e::schedule::MAX_JOBS as i64))]
    jobs: u16,
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
    /// kubectl 1.17.17 with its own `rolling-update` (`tools/kubectl-1.17`, built by `cargo
    /// xtask e2e`): the scenario `kubectl-1.17` runs it side by side with our plugin.
    #[arg(long)]
    kubectl_117: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    for o in &args.only {
        if scenarios::by_name(o).is_none() {
            let names: Vec<&str> = scenarios::ALL.iter().map(|s| s.name).collect();
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
        kubectl_117: args.kubectl_117.clone(),
    })
    .await
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // An interrupted earlier run's namespaces would hold the NodePorts.
    if let Err(e) = env.delete_scenario_namespaces().await {
        eprintln!("error: removing an earlier run's namespaces: {e:#}");
        return ExitCode::FAILURE;
    }
    let chosen: Vec<&'static scenarios::Scenario> = scenarios::ALL
        .iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s.name))
        .collect();
    let mut run = match run_all(&env, &chosen, usize::from(args.jobs)).await {
        Ok(run) => run,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    // Every scenario's picture must be readable: no label over another, none cut.
    for o in &mut run.outcomes {
        if o.samples.is_empty() {
            continue;
        }
        let picture = timeline::render(&report::timeline_of(o));
        let problems = picture.problems();
        println!(
            "[{}] timeline: {} labels checked, {} problem(s)",
            o.name,
            picture.texts.len(),
            problems.len()
        );
        if !problems.is_empty() && o.error.is_none() {
            o.error = Some(format!(
                "its timeline has unreadable labels: {}",
                problems.join("; ")
            ));
        }
    }
    let outcomes = &run.outcomes;
    match report::write(&args.report_dir, &args.provider, &run) {
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
    if let Err(e) = e2e::html::write(&args.report_dir, &args.provider, &run) {
        eprintln!("error: cannot write report.html: {e}");
    }
    if outcomes.iter().all(|o| o.passed()) {
        let _ = std::fs::remove_file(args.report_dir.join("failures.txt"));
        ExitCode::SUCCESS
    } else {
        // Last, so that a log cut to its tail (CI's) still says why; `cargo xtask e2e`
        // repeats `failures.txt` at its very end.
        let why: String = outcomes
            .iter()
            .filter_map(|o| {
                o.error
                    .as_ref()
                    .map(|e| format!("FAILED {}: {e}\n", o.name))
            })
            .collect();
        eprint!("{why}");
        let _ = std::fs::write(args.report_dir.join("failures.txt"), why);
        ExitCode::FAILURE
    }
}

/// Runs the scenarios as [`schedule::Queue`] decides, each in its own task with its own
/// environment and NodePort, and collects their outcomes in `chosen`'s order.
async fn run_all(
    env: &Env,
    chosen: &[&'static scenarios::Scenario],
    jobs: usize,
) -> anyhow::Result<report::Run> {
    let needs: Vec<schedule::Needs> = chosen.iter().map(|s| s.needs).collect();
    let mut queue = schedule::Queue::new(&needs, jobs);
    let mut ports = schedule::PortPool::new();
    let mut running: Vec<usize> = Vec::new();
    let mut outcomes: Vec<Option<report::Outcome>> = chosen.iter().map(|_| None).collect();
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let env = env.for_run(start);
    // When the scenario next in line became so (its wait for a slot starts then).
    let mut next_in_line_since = Duration::ZERO;
    println!(
        "=== {} scenarios, up to {jobs} side by side; the parts that disturb the whole cluster alone",
        chosen.len()
    );
    // The tutorial's NodePort is one port: the scenarios that need it take turns.
    let mut tutorial_port_taken = false;
    loop {
        let fits = |i: usize| !(chosen[i].tutorial_port && tutorial_port_taken);
        if let Some(i) = queue.next_fitting(running.len(), fits) {
            let scenario = chosen[i];
            let port = if scenario.tutorial_port {
                tutorial_port_taken = true;
                schedule::TUTORIAL_NODE_PORT
            } else {
                ports
                    .take()
                    .context("no free NodePort in the pool (more jobs than ports)")?
            };
            let scenario_env = env.for_scenario(scenario.name, port)?;
            let started = start.elapsed();
            let waited = started.saturating_sub(next_in_line_since);
            next_in_line_since = started;
            running.push(i);
            tasks.spawn(async move {
                let mut outcome = scenarios::run(&scenario_env, scenario).await;
                outcome.started = started;
                outcome.waited = waited;
                outcome.alone = scenario.needs.alone();
                outcome.node_port = port;
                (i, outcome)
            });
            continue;
        }
        let Some(done) = tasks.join_next().await else {
            break;
        };
        let (i, outcome) = done.context("a scenario's task panicked")?;
        ports.give_back(outcome.node_port);
        if chosen[i].tutorial_port {
            tutorial_port_taken = false;
        }
        running.retain(|r| *r != i);
        outcomes[i] = Some(outcome);
    }
    Ok(report::Run {
        jobs,
        wall: start.elapsed(),
        outcomes: outcomes.into_iter().flatten().collect(),
    })
}
