//! The `kind` provider, for users' machines: a named kind cluster whose NodePort 30002 is
//! mapped to 127.0.0.1:30002, with the demo images loaded by `kind load image-archive`.
//! Kept thin on purpose: kind cannot run on our CI machines (no node image can be pulled),
//! so everything that does not need kind lives in code the local provider also runs.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::cmd;

use crate::{images, setup, util};

pub const CLUSTER_NAME: &str = "kubia-lab";

pub fn available() -> bool {
    util::have("kind") && crate::docker::engine_version().is_some()
}

fn config() -> String {
    "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 30002, hostPort: 30002, listenAddress: \"127.0.0.1\"}\n".into()
}

pub fn kubeconfig() -> Result<PathBuf> {
    Ok(util::root().join("target/kind/kubeconfig"))
}

pub fn up() -> Result<super::Created> {
    setup::ensure_docker()?;
    let sh = util::shell()?;
    let dir = util::root().join("target/kind");
    sh.create_dir(&dir)?;
    let kc = kubeconfig()?;
    let existing = cmd!(sh, "kind get clusters")
        .quiet()
        .read()
        .unwrap_or_default();
    let created = if existing.lines().any(|l| l.trim() == CLUSTER_NAME) {
        super::Created::Reused
    } else {
        super::Created::New
    };
    if created == super::Created::New {
        let cfg = dir.join("config.yaml");
        sh.write_file(&cfg, config())?;
        let _p = util::Phase::start("kind create cluster");
        cmd!(
            sh,
            "kind create cluster --name {CLUSTER_NAME} --config {cfg} --kubeconfig {kc} --wait 120s"
        )
        .run()
        .context("kind create cluster")?;
    } else {
        cmd!(
            sh,
            "kind export kubeconfig --name {CLUSTER_NAME} --kubeconfig {kc}"
        )
        .run()?;
    }
    let built = images::run(&images::Args {
        repo: "luksa/kubia".into(),
        save: Some(dir.join("images")),
    })?;
    for b in built {
        if let Some(tar) = b.tarball {
            cmd!(sh, "kind load image-archive --name {CLUSTER_NAME} {tar}").run()?;
        }
    }
    Ok(created)
}

pub fn down() -> Result<()> {
    let sh = util::shell()?;
    cmd!(sh, "kind delete cluster --name {CLUSTER_NAME}").run()?;
    Ok(())
}

pub fn status() -> Result<()> {
    let sh = util::shell()?;
    let kc = kubeconfig()?;
    cmd!(sh, "kubectl --kubeconfig {kc} get nodes -o wide").run()?;
    Ok(())
}
