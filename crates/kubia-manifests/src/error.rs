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
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters (is {len})")]
    TooLong { max: usize, len: usize },
    #[error(
        "must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character (DNS-1123 label)"
    )]
    NotDns1123Label,
    #[error(
        "must consist of lower case alphanumeric characters or '-', start with a letter and end with an alphanumeric character (DNS-1035 label)"
    )]
    NotDns1035Label,
    #[error(
        "must consist of lower case alphanumeric characters, '-' or '.', and each dot-separated part must start and end with an alphanumeric character (DNS-1123 subdomain)"
    )]
    NotDns1123Subdomain,
    #[error(
        "must consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character"
    )]
    NotQualifiedName,
    #[error("must be in the NodePort range {min}-{max}")]
    NotNodePort { min: i32, max: i32 },
    #[error("must have the form {0}")]
    Form(&'static str),
    #[error("must not be negative")]
    Negative,
    #[error("must not be more than 100%")]
    MoreThan100Percent,
    #[error("must be a non-negative integer or a percentage like 25%")]
    NotIntOrPercent,
    #[error("must be one of {expected}")]
    UnknownValue { expected: &'static str },
    #[error("{0}")]
    Image(#[from] image_reference::ReferenceError),
}

/// Everything the generator can refuse.
#[derive(Debug, Error)]
pub enum Error {
    /// One value failed validation; `value` is already quoted for display.
    #[error("invalid {field} {value}: {reason}")]
    Invalid {
        field: &'static str,
        value: String,
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
