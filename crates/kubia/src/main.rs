//! The `kubia` binary: parses flags ([`Config`]), binds the port, and serves until
//! SIGTERM or SIGINT, then shuts down gracefully.

use std::process::ExitCode;

use clap::Parser;
use kubia::{Config, Log, Server};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    let log = Log::new();
    log.line(format_args!("Kubia server starting..."));
    let server = match Server::bind(config, log.clone()).await {
        Ok(s) => s,
        Err(e) => {
            log.drain(kubia::log::DRAIN_TIMEOUT);
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The handlers go in before the port is announced: a signal sent as soon as the port is
    // known must reach them, not the default action (which ends the process at once).
    let shutdown = shutdown_signal();
    if let Ok(addr) = server.local_addr() {
        log.line(format_args!("Listening on port {}", addr.port()));
    }
    log.flush();
    log.spawn_flusher();
    server.run(shutdown).await;
    ExitCode::SUCCESS
}

/// Installs the handlers now; the future resolves on the first SIGTERM (what the kubelet
/// sends) or SIGINT (Ctrl-C).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // Without signal handlers the process dies on the default action anyway.
            _ => std::future::pending().await,
        }
    }
}
