//! `kubia-manifests <kind> [flags]`: prints the generated YAML, or writes it with `-o DIR`.
//!
//! Everything is generated (and so validated) before the first file is written, so bad
//! input leaves the output directory untouched. Invalid input exits 2 with one
//! `error: …` line on stderr; I/O failures exit 1.

mod args;

use std::fs;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use kubia_manifests::{self as km, Error, Manifest};

// Links the crate that enables k8s-openapi's Kubernetes version feature.
use k8s_version as _;

use args::{Cli, Kind, blue_green_options, canary_options, selector_pairs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (manifests, output) = match generate(&cli.kind) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rendered = match render(&manifests) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for w in manifests.iter().flat_map(|m| &m.warnings) {
        eprintln!("warning: {w}");
    }
    let result = match output {
        Some(dir) => write_files(dir, &rendered),
        None => {
            print!("{}", concatenate(&rendered));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The manifests for the chosen kind and the output directory, if any.
fn generate(kind: &Kind) -> Result<(Vec<Manifest>, Option<&Path>), Error> {
    Ok(match kind {
        Kind::Tutorial(p) => (vec![km::tutorial(&p.params()?)?], p.out.output.as_deref()),
        Kind::Rc(p) => (vec![km::rc(&p.params()?)?], p.out.output.as_deref()),
        Kind::Replicaset(p) => (vec![km::replicaset(&p.params()?)?], p.out.output.as_deref()),
        Kind::Deployment { pod, deployment } => (
            vec![km::deployment(&pod.params()?, &deployment.options()?)?],
            pod.out.output.as_deref(),
        ),
        Kind::BlueGreen {
            pod,
            green_tag,
            active,
            workload,
        } => (
            vec![km::blue_green(
                &pod.params()?,
                &blue_green_options(green_tag, active, workload)?,
            )?],
            pod.out.output.as_deref(),
        ),
        Kind::Canary {
            pod,
            canary_tag,
            canary_replicas,
            workload,
        } => (
            vec![km::canary(
                &pod.params()?,
                &canary_options(canary_tag, *canary_replicas, workload)?,
            )?],
            pod.out.output.as_deref(),
        ),
        Kind::Service(s) => (
            vec![km::service(
                &s.common.params(),
                &selector_pairs(&s.select)?,
            )?],
            s.out.output.as_deref(),
        ),
        Kind::All(out) => (km::checked_in_manifests()?, out.output.as_deref()),
    })
}

/// `(file name, text)` for each manifest.
fn render(manifests: &[Manifest]) -> Result<Vec<(String, String)>, Error> {
    manifests
        .iter()
        .map(|m| Ok((m.file_name.clone(), m.to_yaml()?)))
        .collect()
}

/// One manifest prints as is; several are joined as one YAML stream, each file introduced
/// by a comment naming it.
fn concatenate(files: &[(String, String)]) -> String {
    match files {
        [(_, text)] => text.clone(),
        _ => files
            .iter()
            .map(|(name, text)| format!("# {name}\n{text}"))
            .collect::<Vec<_>>()
            .join("---\n"),
    }
}

fn write_files(dir: &Path, files: &[(String, String)]) -> anyhow::Result<()> {
    for (name, text) in files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
