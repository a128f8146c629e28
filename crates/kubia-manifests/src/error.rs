//! The crate's error type.
//!
//! Every message fits on one line and names the offending value, because the CLI prints it
//! verbatim after `error: ` and exits 2: a user must see at once what to fix.

use thiserror::Error;

/// Why a single value is invalid, independent of which field it was given for.
///
/// Returned by the pure `validate_*` and `parse_*` functions so that other crates (the
/// rollout engine) can reuse the rules and wrap the reason with their own context.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// An empty string where a name or key is required.
    #[error("must not be empty")]
    Empty,
    /// Longer than the rule allows.
    #[error("must be at most {max} characters (is {len})")]
    TooLong {
        /// The limit, in characters.
        max: usize,
        /// The value's length, in characters.
        len: usize,
    },
    /// Not a DNS-1123 label (namespaces, workload names).
    #[error(
        "must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character (DNS-1123 label)"
    )]
    NotDns1123Label,
    /// Not a DNS-1035 label (Service names, hence the app name).
    #[error(
        "must consist of lower case alphanumeric characters or '-', start with a letter and end with an alphanumeric character (DNS-1035 label)"
    )]
    NotDns1035Label,
    /// Not a DNS-1123 subdomain (e.g. a label-key prefix).
    #[error(
        "must consist of lower case alphanumeric characters, '-' or '.', and each dot-separated part must start and end with an alphanumeric character (DNS-1123 subdomain)"
    )]
    NotDns1123Subdomain,
    /// Not shaped like a label value or label-key name.
    #[error(
        "must consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character"
    )]
    NotQualifiedName,
    /// A node port outside the cluster's NodePort range.
    #[error("must be in the NodePort range {min}-{max}")]
    NotNodePort {
        /// Lowest allowed port.
        min: i32,
        /// Highest allowed port (inclusive).
        max: i32,
    },
    /// Does not have the expected shape, given as e.g. `KEY=VALUE`.
    #[error("must have the form {0}")]
    Form(&'static str),
    /// A count or number of seconds below zero.
    #[error("must not be negative")]
    Negative,
    /// A percentage above 100% where the value is a share of the pods (`maxUnavailable`).
    #[error("must not be more than 100%")]
    MoreThan100Percent,
    /// Neither a non-negative integer nor a percentage (`maxSurge`, `maxUnavailable`).
    #[error("must be a non-negative integer or a percentage like 25%")]
    NotIntOrPercent,
    /// Not one of a fixed set of names (strategy, workload kind, colour, …).
    #[error("must be one of {expected}")]
    UnknownValue {
        /// The accepted values, for the message, e.g. `blue or green`.
        expected: &'static str,
    },
    /// An invalid image reference or tag.
    #[error("{0}")]
    Image(#[from] image_reference::ReferenceError),
}

/// Everything the generator can refuse.
#[derive(Debug, Error)]
pub enum Error {
    /// One value failed validation; `value` is already quoted for display.
    #[error("invalid {field} {value}: {reason}")]
    Invalid {
        /// What the value was given for, in words (`node port`, `image tag`).
        field: &'static str,
        /// The offending value, as displayed.
        value: String,
        /// Which rule it broke.
        reason: ValidationError,
    },
    /// Values that are fine alone but contradict each other.
    #[error("{0}")]
    Conflict(String),
    /// serde_yaml could not render an object (not expected for k8s-openapi types).
    #[error("could not render YAML: {0}")]
    Render(#[from] serde_yaml::Error),
}

impl Error {
    /// An invalid text value, shown quoted (Debug escapes control characters, so the
    /// message stays on one line whatever the input).
    pub fn invalid_str(field: &'static str, value: &str, reason: ValidationError) -> Self {
        Error::Invalid {
            field,
            value: format!("{value:?}"),
            reason,
        }
    }

    /// An invalid number, shown as is.
    pub fn invalid_num(field: &'static str, value: i64, reason: ValidationError) -> Self {
        Error::Invalid {
            field,
            value: value.to_string(),
            reason,
        }
    }
}
