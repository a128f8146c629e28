//! `cargo xtask e2e`: builds the images and binaries, brings a cluster up (or uses the
//! current kubeconfig), runs every scenario in its own namespace, tears down, and fails if
//! any assertion failed. The report lands in `target/e2e/`.

use std::path::PathBuf;

use anyhow::{Result, bail};
use xshell::cmd;

use crate::cluster::{self, Provider};
use crate::util;

#[derive(clap::Args, Clone, Default)]
pub struct Args {
    /// `kind`, `local`, or `current` (the cluster of the current kubeconfig, with the demo
    /// images already available to it). Default: kind where it runs, else local.
    #[arg(long)]
    provider: Option<String>,
    /// Keep the cluster running afterwards.
    #[arg(long)]
    keep: bool,
    /// Run only this scenario (repeatable).
    #[arg(long)]
    only: Vec<String>,
    /// How many scenarios run side by side (the e2e binary's default when not given);
    /// those that disturb the whole cluster always run alone.
    #[arg(long)]
    jobs: Option<u16>,
    /// Run the tutorial's command with this `--update-period` instead of verbatim (1m).
    #[arg(long)]
    tutorial_update_period: Option<String>,
    /// With `--provider current`: the repository the cluster pulls the demo images from
    /// (push them first: `cargo xtask images --push --repo R`). Default `luksa/kubia`.
    #[arg(long)]
    image_repo: Option<String>,
    /// With `--provider current`: the cluster's kubeconfig (default: $KUBECONFIG, else
    /// ~/.kube/config).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

impl Args {
    /// `--provider current` on the cluster of `kubeconfig`, with the demo images from `repo`.
    pub fn current(kubeconfig: &std::path::Path, repo: &str, only: &[&str]) -> Self {
        Self {
            provider: Some("current".into()),
            kubeconfig: Some(kubeconfig.to_owned()),
            image_repo: Some(repo.into()),
            only: only.iter().map(|s| s.to_string()).collect(),
            tutorial_update_period: Some("5s".into()),
            ..Default::default()
        }
    }

    /// What `cargo xtask test` runs on one provider: every scenario.
    pub fn for_ci(provider: Provider) -> Self {
        Self {
            provider: Some(provider.name().into()),
            // The verbatim command (1m between steps) is the main job (`cargo xtask e2e`);
            // CI runs the same scenario with a shorter period to stay within its budget.
            tutorial_update_period: Some("5s".into()),
            ..Default::default()
        }
    }
}

pub fn run(args: &Args) -> Result<()> {
    let provider = match args.provider.as_deref() {
        None => Some(Provider::detect()),
        Some("kind") => Some(Provider::Kind),
        Some("local") => Some(Provider::Local),
        Some("current") => None,
        Some(other) => bail!("unknown provider {other:?} (kind, local, current)"),
    };
    crate::docker::ensure_engine()?;
    let sh = util::shell()?;
    {
        let _p = util::Phase::start("cargo build -p rollout-cli -p e2e");
        cmd!(sh, "cargo build --quiet --locked -p rollout-cli -p e2e").run()?;
    }
    // The local registry, with the demo images, for the clusters we bring up (the
    // pull-policy scenario pushes to it; `imagePullPolicy: Always` resolves through it).
    if provider.is_some() {
        crate::registry::up()?;
        crate::images::run(&crate::images::Args {
            repo: "luksa/kubia".into(),
            save: None,
            push: true,
        })?;
    }
    // A cluster this run creates is taken down afterwards; one it found running is not.
    let mut created_here = None;
    let (kubeconfig, kubectl) = match provider {
        Some(p) => {
            let (kc, created) = cluster::up(p)?;
            if created == cluster::Created::New {
                created_here = Some(p);
            }
            (kc, cluster::kubectl_binary())
        }
        None => (
            args.kubeconfig
                .clone()
                .or_else(|| std::env::var_os("KUBECONFIG").map(PathBuf::from))
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
                .ok_or_else(|| anyhow::anyhow!("no KUBECONFIG and no HOME"))?,
            PathBuf::from("kubectl"),
        ),
    };
    let provider_name = provider.map_or("current", Provider::name);
    let bin_dir = util::root().join("target/debug");
    let report_dir = util::root().join("target/e2e").join(provider_name);
    let mut only = Vec::new();
    for o in &args.only {
        only.push("--only".to_owned());
        only.push(o.clone());
    }
    if let Some(j) = args.jobs {
        only.push(format!("--jobs={j}"));
    }
    if let Some(p) = &args.tutorial_update_period {
        only.push(format!("--tutorial-update-period={p}"));
    }
    if let Some(r) = &args.image_repo {
        if provider.is_some() {
            bail!(
                "--image-repo is for --provider current; kind and local load luksa/kubia themselves"
            );
        }
        only.push(format!("--image-repo={r}"));
    }
    // The local provider owns its components' processes: the fault scenarios stop and
    // start them through this binary (`cluster stop|start COMPONENT`).
    if provider == Some(Provider::Local) {
        only.push(format!(
            "--cluster-hooks={}",
            std::env::current_exe()?.display()
        ));
    }
    // kubectl 1.17's own rolling-update, for the side-by-side scenario.
    let kubectl_117 = cluster::build::ensure_kubectl_117()?;
    only.push(format!("--kubectl-117={}", kubectl_117.display()));
    let e2e = bin_dir.join("e2e");
    let result = {
        let _p = util::Phase::start("end-to-end scenarios");
        cmd!(
            sh,
            "{e2e} --kubeconfig {kubeconfig} --bin-dir {bin_dir} --kubectl {kubectl} --report-dir {report_dir} --root . --provider {provider_name} {only...}"
        )
        .run()
    };
    // The HTML report in a real browser, whatever the scenarios' result.
    let html = report_dir.join("report.html");
    let browser = if html.exists() {
        crate::browser::check_report(&html).map(drop)
    } else {
        Ok(())
    };
    if let Err(e) = &browser {
        eprintln!("error: report.html in Chromium: {e:#}");
    }
    let teardown = match created_here {
        Some(p) if !args.keep => cluster::down(p),
        _ => Ok(()),
    };
    let result = result.map_err(anyhow::Error::from).and(browser);
    match (result, teardown) {
        (Ok(()), t) => t,
        (Err(_), t) => {
            if let Err(e) = t {
                eprintln!("error: tearing the cluster down: {e:#}");
            }
            // The e2e binary lists why each scenario failed; repeated here, at the end of
            // the log, where CI's cut keeps it.
            let why = std::fs::read_to_string(report_dir.join("failures.txt")).unwrap_or_default();
            bail!(
                "end-to-end scenarios failed on {provider_name}; see {}\n{}",
                report_dir.join("report.md").display(),
                why.trim_end()
            )
        }
    }
}
