//! The bounded, rate-limited probe loop.
//!
//! Requests start on a fixed schedule (not one after the other), so a slow or hanging
//! answer does not lower the rate and every outage shows up as failed requests at the time
//! it happened. Each request has its own timeout; the loop ends at `max_duration`, after
//! `max_requests`, or when the stop signal fires, whichever comes first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, watch};

use crate::answer;
use crate::http::{Connection, fetch};

/// How the probe connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionMode {
    /// A new TCP connection per request, like `curl` in the tutorial's loop.
    PerRequest,
    /// One kept-alive connection, reopened when the server closes it.
    KeepAlive,
}

/// Probe settings.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Where to send requests, e.g. a node's address and the Service's node port.
    pub target: SocketAddr,
    /// The request path, e.g. `/`.
    pub path: String,
    /// Requests per second.
    pub rate: f64,
    /// Limit for each request, connecting included; a slower one is recorded as failed.
    pub request_timeout: Duration,
    /// No request starts after this long from the start of the probe.
    pub max_duration: Duration,
    /// No request starts after this many have.
    pub max_requests: u64,
    /// A new connection per request, or one kept alive.
    pub mode: ConnectionMode,
    /// Print one answer in this many as the tutorial's loop did (`This is v1 running in
    /// pod …`); 0 prints nothing. At 20 requests/s, 20 prints one line a second, as the
    /// tutorial's `sleep 1` loop did.
    pub echo_every: u64,
}

impl ProbeConfig {
    /// `GET /` on `target` at 20 requests/s, a new connection each, 2 s timeout, for up to
    /// 10 minutes, echoing nothing.
    pub fn new(target: SocketAddr) -> Self {
        Self {
            target,
            path: "/".into(),
            rate: 20.0,
            request_timeout: Duration::from_secs(2),
            max_duration: Duration::from_secs(600),
            max_requests: 20 * 600,
            mode: ConnectionMode::PerRequest,
            echo_every: 0,
        }
    }
}

/// One request's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// When the request was sent, from the start of the probe.
    pub at: Duration,
    /// How long the request took, to the whole answer or to the failure.
    pub latency: Duration,
    /// The HTTP status; None when no answer came (connect error, timeout).
    pub status: Option<u16>,
    /// `v1`…`v4`, `classic`, `error` (v3's 500 body); None when nothing was parsed.
    pub version: Option<String>,
    /// The pod that answered, from the body; None when nothing was parsed.
    pub pod: Option<String>,
    /// Why no answer came; None when one did (whatever its status).
    pub error: Option<String>,
}

impl Sample {
    /// A 200 answer with a recognised body.
    pub fn ok(&self) -> bool {
        self.status == Some(200) && self.version.is_some()
    }
}

/// A handle to stop a running probe early.
#[derive(Clone)]
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    /// Starts no more requests; those in flight still finish and are recorded.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

/// Starts the probe in the background; await the join handle for the samples, in order.
pub fn start(config: ProbeConfig) -> (StopHandle, tokio::task::JoinHandle<Vec<Sample>>) {
    let (tx, rx) = watch::channel(false);
    (StopHandle(tx), tokio::spawn(run(config, rx)))
}

async fn run(config: ProbeConfig, mut stop: watch::Receiver<bool>) -> Vec<Sample> {
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / config.rate.max(0.001));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let keepalive: Arc<Mutex<Option<Connection>>> = Arc::new(Mutex::new(None));
    let mut tasks = Vec::new();
    let config = Arc::new(config);
    while (tasks.len() as u64) < config.max_requests && start.elapsed() < config.max_duration {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        let at = start.elapsed();
        let index = tasks.len() as u64;
        let config = Arc::clone(&config);
        let keepalive = Arc::clone(&keepalive);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let result = match config.mode {
                ConnectionMode::PerRequest => {
                    fetch(config.target, &config.path, config.request_timeout).await
                }
                ConnectionMode::KeepAlive => keep_alive_get(&keepalive, &config).await,
            };
            let latency = sent.elapsed();
            let sample = match result {
                Ok(reply) => {
                    let parsed = answer::parse(&reply.body);
                    Sample {
                        at,
                        latency,
                        status: Some(reply.status),
                        version: parsed.as_ref().map(|p| p.version.clone()),
                        pod: parsed.map(|p| p.pod),
                        error: None,
                    }
                }
                Err(e) => Sample {
                    at,
                    latency,
                    status: None,
                    version: None,
                    pod: None,
                    error: Some(e.to_string()),
                },
            };
            if config.echo_every > 0 && index.is_multiple_of(config.echo_every) {
                echo(&sample);
            }
            sample
        }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok(s) = t.await {
            samples.push(s);
        }
    }
    samples.sort_by_key(|s| s.at);
    samples
}

/// Requests over the shared connection serialise on its lock; if the connection is busy
/// past the timeout, that shows up as a timed-out sample, as it would for a real client.
async fn keep_alive_get(
    slot: &Mutex<Option<Connection>>,
    config: &ProbeConfig,
) -> Result<crate::Reply, crate::FetchError> {
    tokio::time::timeout(config.request_timeout, async {
        let mut guard = slot.lock().await;
        if !guard.as_ref().is_some_and(Connection::is_open) {
            *guard = Some(Connection::open(config.target).await?);
        }
        let conn = guard.as_mut().expect("just opened");
        let r = conn.get(&config.path).await;
        if r.as_ref().map_or(true, |reply| reply.close) {
            *guard = None;
        }
        r
    })
    .await
    .map_err(|_| crate::FetchError::Timeout(config.request_timeout))?
}

fn echo(s: &Sample) {
    match (&s.status, &s.version, &s.pod, &s.error) {
        (_, Some(v), Some(pod), _) if v == "classic" => println!("You've hit {pod}"),
        (_, Some(v), Some(pod), _) if v == "error" => {
            println!("Some internal error has occurred! This is pod {pod}")
        }
        (_, Some(v), Some(pod), _) => println!("This is {v} running in pod {pod}"),
        (Some(code), None, _, _) => println!("HTTP {code} with an unknown body"),
        (_, _, _, Some(e)) => println!("curl: ({e})"),
        _ => println!("no answer"),
    }
}

/// Summary numbers over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Requests sent.
    pub sent: usize,
    /// Requests without a 200 and a recognised body (see [`Sample::ok`]).
    pub failed: usize,
    /// From the first to the last failed request (0 when none failed).
    pub outage: Duration,
}

/// Counts the failures and measures the outage; `samples` must be in time order, as the
/// probe returns them.
pub fn summarize(samples: &[Sample]) -> Summary {
    let failed: Vec<&Sample> = samples.iter().filter(|s| !s.ok()).collect();
    let outage = match (failed.first(), failed.last()) {
        (Some(a), Some(b)) => b.at + b.latency - a.at,
        _ => Duration::ZERO,
    };
    Summary {
        sent: samples.len(),
        failed: failed.len(),
        outage,
    }
}
