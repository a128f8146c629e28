//! Why the probe gives every connection its own loopback source address
//! (`traffic_probe::source`), shown on the real cluster.
//!
//! A connection to a Service without endpoints is refused by kube-proxy's REJECT rule, and
//! the kernel keeps that SYN's conntrack entry, without the Service's DNAT, for up to two
//! minutes. A later connection from the same source address and port matches the stale
//! entry and is refused although the Service has endpoints again. Before the probe used
//! fresh sources, this failed about one request in a few thousand in these scenarios
//! (a wait loop's refused polls were inherited by the probe).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use k8s_openapi::api::core::v1::ReplicationController;
use kube::api::{Patch, PatchParams};
use tokio::net::TcpSocket;

use super::steps::{setup_v1, wait_serving};
use crate::{Env, Outcome};

/// How long the demonstration may wait for each state of the Service.
const WAIT: Duration = Duration::from_secs(90);

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-stale-conntrack", 1).await?;
    let rcs = ns.api::<ReplicationController>();

    scale(&rcs, 0).await?;
    let since = Instant::now();
    // Once the pod is gone, a refusal can only come from kube-proxy's REJECT rule (before,
    // the pod itself refuses in the moment between closing its listener and exiting).
    ns.wait_ready("app=kubia", 0, WAIT).await?;
    wait_refused_from_fresh_source(env.node_port).await?;
    o.note(format!(
        "scaled to 0: the pod gone and the NodePort refusing connections after {:.1}s",
        since.elapsed().as_secs_f64()
    ));
    let fixed = refused_from_kernel_chosen_port(env.node_port).await?;

    scale(&rcs, 1).await?;
    ns.wait_ready("app=kubia", 1, WAIT).await?;
    wait_serving(env, "v1", WAIT).await?;
    let reused = connect_from(fixed, env.node_port).await;
    let fresh = fresh_source_answers(env.node_port, 20).await;
    o.note(format!(
        "scaled back to 1 and serving again: a connection from {fixed} (the source of a refused one) was {}; \
         {fresh} of 20 connections from fresh loopback sources were answered",
        match &reused {
            Ok(()) => "accepted".to_owned(),
            Err(e) => format!("refused again ({e})"),
        }
    ));
    ensure!(
        fresh == 20,
        "only {fresh} of 20 requests from fresh sources were answered"
    );
    ensure!(
        matches!(&reused, Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "the connection reusing the source of a refused one was not refused ({reused:?}): the stale conntrack entry this scenario demonstrates did not show"
    );
    ns.delete().await
}

async fn scale(rcs: &kube::Api<ReplicationController>, replicas: i32) -> Result<()> {
    rcs.patch(
        "kubia-v1",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({ "spec": { "replicas": replicas } })),
    )
    .await
    .with_context(|| format!("scaling kubia-v1 to {replicas}"))?;
    Ok(())
}

async fn wait_refused_from_fresh_source(target: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    loop {
        match traffic_probe::fetch(target, "/", Duration::from_secs(1)).await {
            Err(traffic_probe::FetchError::Connect { source, .. })
                if source.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                return Ok(());
            }
            _ if Instant::now() > deadline => {
                bail!("{target} still accepted connections {WAIT:?} after scaling to 0")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Connects from 127.0.0.1 and a port the kernel picks, expecting a refusal; returns that
/// source address.
async fn refused_from_kernel_chosen_port(target: SocketAddr) -> Result<SocketAddr> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let source = socket.local_addr()?;
    match socket.connect(target).await {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(source),
        Err(e) => bail!("connecting from {source} failed but was not refused: {e}"),
        Ok(_) => bail!("the Service without endpoints accepted a connection from {source}"),
    }
}

async fn connect_from(source: SocketAddr, target: SocketAddr) -> std::io::Result<()> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(source)?;
    tokio::time::timeout(Duration::from_secs(2), socket.connect(target))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
        .map(drop)
}

async fn fresh_source_answers(target: SocketAddr, n: usize) -> usize {
    let mut ok = 0;
    for _ in 0..n {
        if traffic_probe::fetch(target, "/", Duration::from_secs(2))
            .await
            .is_ok_and(|r| r.status == 200)
        {
            ok += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ok
}
