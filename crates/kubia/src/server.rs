//! The HTTP server: accept loop, request routing and graceful shutdown.
//!
//! Shutdown happens in three phases, because a pod that stops answering the moment it gets
//! SIGTERM still receives traffic until every node has removed it from the Service:
//! 1. serve normally until the shutdown future resolves (SIGTERM/SIGINT in the binary);
//! 2. keep accepting and serving for `shutdown_delay`, answering with `Connection: close`
//!    so keep-alive clients move to other pods;
//! 3. close the listener (new connections are refused), let in-flight requests finish
//!    within `drain_timeout`, and return.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::{Config, Log, Responder};

/// Longest delay a client may ask for with `?sleep_ms=`.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// The configuration is unusable (e.g. an invalid `KUBIA_PORT`); the message says why.
    #[error("{0}")]
    Config(String),
    /// Binding the port failed (e.g. it is already in use).
    #[error("cannot listen on port {port}: {source}")]
    Listen {
        /// The port that could not be bound.
        port: u16,
        /// The error from `bind`/`listen`.
        #[source]
        source: std::io::Error,
    },
}

/// State shared by every connection.
struct Shared {
    responder: Responder,
    log: Log,
    draining: AtomicBool,
    answered: Answered,
}

/// Application requests answered, by status code: what `/metrics` exposes so that a rollout
/// can judge a new version by its error rate without any other component.
#[derive(Debug, Default)]
struct Answered(std::sync::Mutex<std::collections::BTreeMap<u16, u64>>);

/// The counter's name in `/metrics` (Prometheus text format), with a `code` label.
pub const REQUESTS_METRIC: &str = "kubia_http_requests_total";
/// Log lines dropped because stdout was not being read (see [`crate::log`]).
pub const LOG_DROPPED_METRIC: &str = "kubia_log_lines_dropped_total";

impl Answered {
    fn count(&self, status: StatusCode) {
        if let Ok(mut m) = self.0.lock() {
            *m.entry(status.as_u16()).or_default() += 1;
        }
    }

    /// The Prometheus text exposition: 200 and 500 always, other codes once seen.
    fn exposition(&self) -> String {
        let mut counts = self.0.lock().map(|m| m.clone()).unwrap_or_default();
        counts.entry(200).or_default();
        counts.entry(500).or_default();
        let mut out = format!(
            "# HELP {REQUESTS_METRIC} Application requests answered, by status code (not /healthz or /metrics).\n# TYPE {REQUESTS_METRIC} counter\n"
        );
        for (code, n) in counts {
            out.push_str(&format!("{REQUESTS_METRIC}{{code=\"{code}\"}} {n}\n"));
        }
        out
    }
}

/// A bound, not yet serving, kubia server.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    config: Config,
}

/// `[::]:port` with `IPV6_V6ONLY` off, set explicitly: the kernel's default
/// (`net.ipv6.bindv6only`) may be 1, which would leave IPv4 clients refused.
fn dual_stack(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

impl Server {
    /// Binds the port on all interfaces: one IPv6 socket that also takes IPv4 (mapped)
    /// connections, else IPv4 only (containers often have IPv6 disabled).
    pub async fn bind(config: Config, log: Log) -> Result<Self, BindError> {
        let port = config.listen_port().map_err(BindError::Config)?;
        let listener = match dual_stack(port) {
            Ok(l) => l,
            Err(_) => TcpListener::bind(SocketAddr::from(([0, 0, 0, 0], port)))
                .await
                .map_err(|source| BindError::Listen { port, source })?,
        };
        Ok(Self::from_listener(listener, config, log))
    }

    /// Serves on an already bound listener (tests bind 127.0.0.1:0).
    pub fn from_listener(listener: TcpListener, config: Config, log: Log) -> Self {
        let responder = Responder::new(config.variant, config.resolved_pod_name());
        Self {
            listener,
            shared: Arc::new(Shared {
                responder,
                log,
                draining: AtomicBool::new(false),
                answered: Answered::default(),
            }),
            config,
        }
    }

    /// The address actually bound, e.g. to learn the port after binding port 0.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then shuts down gracefully (see the module docs).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            listener,
            shared,
            config,
        } = self;
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .keep_alive(true);
        let graceful = GracefulShutdown::new();

        tokio::pin!(shutdown);
        accept_until(&listener, &http, &graceful, &shared, &mut shutdown).await;

        shared.draining.store(true, Ordering::Relaxed);
        if !config.shutdown_delay.is_zero() {
            shared.log.line(format_args!(
                "Shutting down: still serving for {}",
                humantime::format_duration(config.shutdown_delay)
            ));
            let delay = tokio::time::sleep(config.shutdown_delay);
            tokio::pin!(delay);
            accept_until(&listener, &http, &graceful, &shared, &mut delay).await;
        }
        drop(listener);
        shared.log.line(format_args!(
            "Shutting down: no longer accepting connections"
        ));
        if tokio::time::timeout(config.drain_timeout, graceful.shutdown())
            .await
            .is_err()
        {
            shared.log.line(format_args!(
                "Shutting down: gave up on in-flight requests after {}",
                humantime::format_duration(config.drain_timeout)
            ));
        }
        let dropped = shared.log.dropped();
        if dropped > 0 {
            shared.log.line(format_args!(
                "Kubia log: {dropped} lines dropped because stdout was not being read"
            ));
        }
        shared.log.line(format_args!("Kubia server stopped"));
        shared.log.drain(crate::log::DRAIN_TIMEOUT);
    }
}

/// Accepts connections until `stop` resolves.
async fn accept_until<F: Future<Output = ()>>(
    listener: &TcpListener,
    http: &http1::Builder,
    graceful: &GracefulShutdown,
    shared: &Arc<Shared>,
    stop: &mut std::pin::Pin<&mut F>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(shared);
                    let remote = peer.ip().to_canonical();
                    let service = service_fn(move |req| handle(Arc::clone(&shared), remote, req));
                    let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                    tokio::spawn(async move {
                        // Client resets and header timeouts end here; they concern one
                        // connection only.
                        let _ = conn.await;
                    });
                }
                // Out of file descriptors and similar: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            () = stop.as_mut() => return,
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    remote: IpAddr,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = route(&shared, remote, &req).await;
    if shared.draining.load(Ordering::Relaxed) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response)
}

async fn route(shared: &Shared, remote: IpAddr, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    // Probes and scrapes are neither counted nor logged (v3 fails from its 5th application
    // request; a probe once a second per pod would flood the log).
    match req.uri().path() {
        "/healthz" => return text(StatusCode::OK, "ok\n".into()),
        "/metrics" => {
            let mut r = text(
                StatusCode::OK,
                format!(
                    "{}# HELP {LOG_DROPPED_METRIC} Log lines dropped because stdout was not being read.\n# TYPE {LOG_DROPPED_METRIC} counter\n{LOG_DROPPED_METRIC} {}\n",
                    shared.answered.exposition(),
                    shared.log.dropped()
                ),
            );
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            return r;
        }
        _ => {}
    }
    let response = answer(shared, remote, req).await;
    shared.answered.count(response.status());
    response
}

async fn answer(shared: &Shared, remote: IpAddr, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed\n".into(),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let sleep = match requested_sleep(req.uri().query()) {
        Ok(d) => d,
        Err(msg) => return text(StatusCode::BAD_REQUEST, msg),
    };
    shared
        .log
        .line(format_args!("Received request from {remote}"));
    if let Some(d) = sleep {
        tokio::time::sleep(d).await;
    }
    let answer = shared.responder.answer();
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, answer.body)
}

/// `?sleep_ms=N` delays the answer by N milliseconds (at most [`MAX_SLEEP`]): a slow
/// request on demand, used to show that shutdown lets in-flight requests finish.
fn requested_sleep(query: Option<&str>) -> Result<Option<Duration>, String> {
    let Some(query) = query else { return Ok(None) };
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("sleep_ms=") {
            let ms: u64 = value
                .parse()
                .map_err(|_| format!("Bad sleep_ms value {value:?}: expected milliseconds\n"))?;
            let d = Duration::from_millis(ms);
            if d > MAX_SLEEP {
                return Err(format!(
                    "sleep_ms must be at most {}\n",
                    MAX_SLEEP.as_millis()
                ));
            }
            return Ok(Some(d));
        }
    }
    Ok(None)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_answers_by_code() {
        let a = Answered::default();
        assert!(a.exposition().ends_with(
            "kubia_http_requests_total{code=\"200\"} 0\nkubia_http_requests_total{code=\"500\"} 0\n"
        ));
        a.count(StatusCode::OK);
        a.count(StatusCode::OK);
        a.count(StatusCode::INTERNAL_SERVER_ERROR);
        a.count(StatusCode::METHOD_NOT_ALLOWED);
        let text = a.exposition();
        assert!(text.contains("# TYPE kubia_http_requests_total counter\n"));
        assert!(text.contains("kubia_http_requests_total{code=\"200\"} 2\n"));
        assert!(text.contains("kubia_http_requests_total{code=\"405\"} 1\n"));
        assert!(text.contains("kubia_http_requests_total{code=\"500\"} 1\n"));
    }

    #[test]
    fn sleep_query() {
        assert_eq!(requested_sleep(None), Ok(None));
        assert_eq!(requested_sleep(Some("a=b")), Ok(None));
        assert_eq!(
            requested_sleep(Some("a=b&sleep_ms=20")),
            Ok(Some(Duration::from_millis(20)))
        );
        assert!(requested_sleep(Some("sleep_ms=x")).is_err());
        assert!(requested_sleep(Some("sleep_ms=30001")).is_err());
    }

    /// Dual stack whatever `net.ipv6.bindv6only` says: the option is set on the socket, and
    /// both loopback families connect.
    #[tokio::test]
    async fn the_listener_takes_ipv4_and_ipv6() {
        let Ok(listener) = dual_stack(0) else {
            // No IPv6 in this environment: `bind` falls back to IPv4 only.
            return;
        };
        assert!(!socket2::SockRef::from(&listener).only_v6().unwrap());
        let port = listener.local_addr().unwrap().port();
        for client in [
            SocketAddr::from(([127, 0, 0, 1], port)),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ] {
            let connect = tokio::net::TcpStream::connect(client);
            let (connected, accepted) = tokio::join!(connect, listener.accept());
            assert!(connected.is_ok() && accepted.is_ok(), "{client}");
        }
    }
}
