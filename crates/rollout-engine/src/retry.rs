//! Calling the API server through its bad moments.
//!
//! Why: the tutorial's stated weakness is that a client-driven update stops half-way when the
//! connection drops. Every call therefore goes through [`call`], which retries what can
//! succeed later (connection refused or reset, timeouts, 429, 5xx: an API server restarting
//! shows all of these) with exponential backoff until the context's budget runs out, and
//! checks for Ctrl-C before each attempt. Anything else (404, 409, 422, 403...) is returned
//! at once as [`EngineError::Api`] for the caller to interpret; conflicts are re-read and
//! retried by the update helpers in `api`.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use kube::core::Status;
use tokio::time::Instant;

use crate::context::Ctx;
use crate::error::one_line;
use crate::error::{EngineError, Result};
use crate::events::Event;

/// How an API failure should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Worth retrying; `connection` when the server could not be talked to at all.
    Transient {
        /// The server was not reached (as opposed to answering with an error).
        connection: bool,
    },
    /// A definitive answer for the caller.
    Final,
}

/// Whether an HTTP status from the API server is worth retrying.
pub(crate) fn status_is_transient(code: u16, reason: &str) -> bool {
    matches!(code, 429 | 500 | 502 | 503 | 504)
        || matches!(
            reason,
            "ServerTimeout" | "Timeout" | "TooManyRequests" | "ServiceUnavailable"
        )
}

/// Classifies a kube error.
pub(crate) fn classify(error: &kube::Error) -> Class {
    match error {
        kube::Error::Api(status) if status_is_transient(status.code, &status.reason) => {
            Class::Transient { connection: false }
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            Class::Transient { connection: true }
        }
        _ => Class::Final,
    }
}

/// The message of an API status, without kube's debug dump.
fn status_message(status: &Status) -> String {
    if status.message.is_empty() {
        format!("{} (HTTP {})", status.reason, status.code)
    } else {
        status.message.replace('\n', " ")
    }
}

/// Turns a final kube error into an [`EngineError`] about `what`.
pub(crate) fn to_engine_error(ctx: &Ctx, what: &str, error: &kube::Error) -> EngineError {
    match error {
        kube::Error::Api(status) => EngineError::Api {
            what: what.to_owned(),
            message: status_message(status),
            code: status.code,
            reason: status.reason.clone(),
        },
        kube::Error::HyperError(_) | kube::Error::Service(_) => EngineError::Unreachable {
            server: ctx.cluster.server.clone(),
            cause: one_line(error),
        },
        other => EngineError::Api {
            what: what.to_owned(),
            message: one_line(other),
            code: 0,
            reason: String::new(),
        },
    }
}

/// The delays between attempts: 200 ms doubling to 5 s, with jitter so that several clients
/// do not hammer a recovering server in lockstep.
fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times()
        .build()
}

/// Runs `request` until it succeeds, fails definitively, or transient failures have lasted
/// longer than the context's retry budget. `what` describes the request for messages.
pub(crate) async fn call<T, F, Fut>(ctx: &Ctx, what: &str, mut request: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let deadline = Instant::now() + ctx.retry_budget;
    let mut delays = backoff();
    loop {
        ctx.check_cancel()?;
        ctx.until_leases_confirmed(deadline.into_std()).await?;
        let error = match request().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        match classify(&error) {
            Class::Final => return Err(to_engine_error(ctx, what, &error)),
            Class::Transient { .. } => {
                let delay = delays.next().unwrap_or(Duration::from_secs(5));
                if Instant::now() + delay > deadline {
                    return Err(to_engine_error(ctx, what, &error));
                }
                tracing::info!(what, error = %one_line(&error), ?delay, "retrying");
                ctx.emit(Event::Retrying {
                    what: what.to_owned(),
                    error: one_line(&error),
                    delay,
                });
                ctx.sleep(delay).await?;
            }
        }
    }
}

impl EngineError {
    fn api_parts(&self) -> Option<(u16, &str)> {
        match self {
            EngineError::Api { code, reason, .. } => Some((*code, reason.as_str())),
            _ => None,
        }
    }

    /// A 404 from the API server.
    pub(crate) fn is_not_found(&self) -> bool {
        self.api_parts()
            .is_some_and(|(code, reason)| code == 404 || reason == "NotFound")
    }

    /// A 409 caused by a stale resourceVersion.
    pub(crate) fn is_conflict(&self) -> bool {
        self.api_parts().is_some_and(|(code, reason)| {
            reason == "Conflict" || (code == 409 && reason.is_empty())
        })
    }

    /// A 409 from creating an object whose name is taken.
    pub(crate) fn is_already_exists(&self) -> bool {
        self.api_parts()
            .is_some_and(|(_, reason)| reason == "AlreadyExists")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(Box::new(Status {
            code,
            reason: reason.into(),
            message: format!("{reason} happened"),
            ..Status::default()
        }))
    }

    #[test]
    fn classification() {
        for (code, reason) in [
            (429, "TooManyRequests"),
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
            (504, "Timeout"),
            (0, "ServerTimeout"),
        ] {
            assert_eq!(
                classify(&api(code, reason)),
                Class::Transient { connection: false },
                "{code} {reason}"
            );
        }
        for (code, reason) in [
            (404, "NotFound"),
            (409, "Conflict"),
            (409, "AlreadyExists"),
            (422, "Invalid"),
            (403, "Forbidden"),
        ] {
            assert_eq!(
                classify(&api(code, reason)),
                Class::Final,
                "{code} {reason}"
            );
        }
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            classify(&kube::Error::Service(Box::new(io))),
            Class::Transient { connection: true }
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let delays: Vec<Duration> = backoff().take(12).collect();
        assert_eq!(delays.len(), 12);
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(10)));
        assert!(delays[11] >= Duration::from_secs(5));
    }

    #[test]
    fn error_predicates() {
        let err = |code, reason: &str| EngineError::Api {
            what: "x".into(),
            message: "m".into(),
            code,
            reason: reason.into(),
        };
        assert!(err(404, "NotFound").is_not_found());
        assert!(err(409, "Conflict").is_conflict());
        assert!(!err(409, "AlreadyExists").is_conflict());
        assert!(err(409, "AlreadyExists").is_already_exists());
        assert!(!EngineError::RcNotFound("a".into()).is_not_found());
    }
}
