//! The benchmark's ceiling: the plainest hyper 1 server that answers like kubia v1, with the
//! same one-line-per-request log (`println!`), and nothing else (no timeouts, no graceful
//! shutdown, no routing). `cargo xtask bench server` compares kubia against it.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let host = hostname::get()?.to_string_lossy().into_owned();
    println!("Kubia server starting...");
    let listener = TcpListener::bind(("0.0.0.0", port)).await?;
    loop {
        let (stream, peer) = listener.accept().await?;
        let body = format!("This is v1 running in pod {host}\n");
        tokio::spawn(async move {
            let service = service_fn(move |_req: Request<hyper::body::Incoming>| {
                println!("Received request from {}", peer.ip());
                let body = body.clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
