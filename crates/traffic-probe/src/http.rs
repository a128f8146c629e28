//! One HTTP/1.1 request over a fresh connection (as `curl` does) or over a kept-alive one.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

/// What a request brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// The whole body, as UTF-8 (invalid bytes replaced).
    pub body: String,
    /// Whether the server asked to close the connection (`Connection: close`).
    pub close: bool,
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let Some(source) = crate::source::for_target(addr) else {
        return TcpStream::connect(addr).await;
    };
    let socket = TcpSocket::new_v4()?;
    socket.bind(source)?;
    socket.connect(addr).await
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The TCP connection could not be opened (refused, unreachable, …).
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The target.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// No complete answer within the given time, which it carries.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The HTTP exchange failed, e.g. the connection closed before the whole answer came.
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built, e.g. the path is not a valid URI.
    #[error("bad request: {0}")]
    Request(#[from] hyper::http::Error),
}

/// A single HTTP/1.1 connection that can carry several requests.
pub struct Connection {
    addr: SocketAddr,
    sender: SendRequest<Empty<Bytes>>,
}

impl Connection {
    /// Opens a TCP connection and completes the HTTP/1.1 handshake. A loopback target is
    /// reached from a fresh loopback source address (see [`crate::source`]).
    pub async fn open(addr: SocketAddr) -> Result<Self, FetchError> {
        let stream = connect(addr)
            .await
            .map_err(|source| FetchError::Connect { addr, source })?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { addr, sender })
    }

    /// Whether the connection can carry another request.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Sends `GET path` and reads the whole answer.
    pub async fn get(&mut self, path: &str) -> Result<Reply, FetchError> {
        self.request("GET", path).await
    }

    /// Sends a request with an empty body and reads the whole answer.
    pub async fn request(&mut self, method: &str, path: &str) -> Result<Reply, FetchError> {
        let uri: Uri = path.parse().map_err(hyper::http::Error::from)?;
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::HOST, self.addr.to_string())
            .body(Empty::new())?;
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let close = resp
            .headers()
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            close,
        })
    }
}

/// `GET path` over a new connection, the whole exchange bounded by `timeout`.
pub async fn fetch(addr: SocketAddr, path: &str, timeout: Duration) -> Result<Reply, FetchError> {
    tokio::time::timeout(timeout, async {
        Connection::open(addr).await?.get(path).await
    })
    .await
    .map_err(|_| FetchError::Timeout(timeout))?
}

/// Like [`fetch`], also returning how long the exchange took.
pub async fn timed_fetch(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> (Duration, Result<Reply, FetchError>) {
    let start = Instant::now();
    let r = fetch(addr, path, timeout).await;
    (start.elapsed(), r)
}
