//! The engine's one error type.
//!
//! Every variant renders as a single line (the CLI prints it as `error: ...`), names the objects
//! involved and, where the cluster is left half-way, says how to continue or roll back: a user
//! who hits an error mid-update must never be left guessing what state the cluster is in.

use rollout_plan::PlanError;
use thiserror::Error;

/// Why an engine operation failed.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The named ReplicationController does not exist (kubectl's wording, so scripts that
    /// matched kubectl's message keep working).
    #[error("replicationcontrollers \"{0}\" not found")]
    RcNotFound(String),

    /// The named Service does not exist.
    #[error("services \"{0}\" not found")]
    ServiceNotFound(String),

    /// Bad input, found before anything was changed: flags, names, images, RC shapes, or an
    /// existing controller that belongs to a different update.
    #[error("{0}")]
    Invalid(String),

    /// A combination of arguments kubectl refused as a usage error (`UsageErrorf`): the CLI
    /// adds kubectl's pointer to the help after it.
    #[error("{0}")]
    Usage(String),

    /// A strategy or canary value that the planner refuses.
    #[error(transparent)]
    Plan(#[from] PlanError),

    /// The kubeconfig could not be loaded or names no usable cluster.
    #[error("{0}")]
    Config(String),

    /// The API server could not be reached (connection refused, reset, timed out) for longer
    /// than the retry budget.
    #[error("cannot reach the Kubernetes API server at {server}: {cause}")]
    Unreachable {
        /// The cluster URL from the kubeconfig.
        server: String,
        /// The last connection error.
        cause: String,
    },

    /// The API server refused a request for a reason that retrying cannot fix.
    #[error("{what}: {message}")]
    Api {
        /// What we were doing, e.g. `updating replicationcontroller kubia-v1`.
        what: String,
        /// The server's message.
        message: String,
        /// The HTTP status code, for callers that need to tell cases apart.
        code: u16,
        /// The machine-readable reason (`NotFound`, `Conflict`, `AlreadyExists`...).
        reason: String,
    },

    /// No progress for `--timeout`; the message names what is stuck and how to roll back.
    #[error("{0}")]
    Stuck(String),

    /// A failure signal fired for the new version: the message quotes it with its numbers,
    /// then says what was done (stopped, with the commands to resume or roll back; or
    /// rolled back).
    #[error("{0}")]
    BadVersion(String),

    /// The user pressed Ctrl-C; the message says how to resume or roll back.
    #[error("interrupted; {0}")]
    Interrupted(String),

    /// Another engine took over a Lease this one held; the message says how to resume.
    #[error("{0}")]
    LeaseLost(String),

    /// A cluster object does not look the way this tool left it (e.g. an unparsable
    /// annotation), so continuing could do harm.
    #[error("{0}")]
    Inconsistent(String),

    /// A context made by [`crate::Ctx::checking_only`] reached the first change: everything
    /// was checked and nothing was changed (not a failure: `--detach` goes on from here).
    #[error("checked; nothing was changed")]
    CheckedOnly,
}

impl EngineError {
    /// Whether this is a Ctrl-C interruption (the CLI exits with 130 for it).
    pub fn is_interrupted(&self) -> bool {
        matches!(self, EngineError::Interrupted(_))
    }

    /// Whether kubectl reported this as a usage error (the CLI adds a pointer to `-h`).
    pub fn is_usage(&self) -> bool {
        matches!(self, EngineError::Usage(_))
    }

    /// Shorthand for [`EngineError::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        EngineError::Invalid(message.into())
    }
}

/// Result alias of the crate.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// An error and its causes on one line (`a: b: c`), without repeating a cause that the
/// outer message already contains.
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(Inner);
    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Connection refused\n(os error 111)")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    impl std::error::Error for Inner {}

    #[test]
    fn one_line_joins_causes() {
        assert_eq!(
            one_line(&Outer(Inner)),
            "client error (Connect): Connection refused (os error 111)"
        );
    }

    #[test]
    fn messages_are_single_lines_in_kubectl_wording() {
        assert_eq!(
            EngineError::RcNotFound("kubia-v1".into()).to_string(),
            "replicationcontrollers \"kubia-v1\" not found"
        );
        let e = EngineError::Unreachable {
            server: "https://127.0.0.1:6443/".into(),
            cause: "connection refused".into(),
        };
        assert_eq!(
            e.to_string(),
            "cannot reach the Kubernetes API server at https://127.0.0.1:6443/: connection refused"
        );
        assert!(EngineError::Interrupted("x".into()).is_interrupted());
    }
}
