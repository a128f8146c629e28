//! Image references and pull policies, checked before anything is changed.
//!
//! Why validate locally: the API server accepts almost any string as an image, and a typo
//! would only show up as pods stuck in `InvalidImageName` half-way through an update. The
//! grammar and the defaulting rule live in the `image-reference` crate, shared with the
//! manifest generator.

pub use image_reference::{ImageRef, PullPolicy};

use crate::error::EngineError;

/// Parses `image` by the reference grammar (`[domain[:port]/]path[:tag][@algorithm:hex]`,
/// lowercase path components), once, where it enters (the CLI's `--image`): every layer below
/// takes the [`ImageRef`].
pub fn parse_reference(image: &str) -> Result<ImageRef, EngineError> {
    ImageRef::parse(image).map_err(|problem| {
        EngineError::invalid(format!("invalid image reference {image:?}: {problem}"))
    })
}

/// The policy Kubernetes applies to `image` when a container sets none; `None` when the
/// image is not a valid reference.
pub fn default_pull_policy(image: &str) -> Option<PullPolicy> {
    ImageRef::parse(image)
        .ok()
        .map(|r| PullPolicy::default_for(&r))
}

/// Parses `--image-pull-policy` (the API spelling, case-insensitively).
pub fn parse_pull_policy(text: &str) -> Result<PullPolicy, EngineError> {
    text.parse().map_err(|_| {
        EngineError::invalid(format!(
            "invalid --image-pull-policy {text:?}: must be Always, IfNotPresent or Never"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_reference_and_the_reason() {
        let msg = parse_reference("luksa/Kubia").err().map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("invalid image reference \"luksa/Kubia\": repository name must be lowercase")
        );
        assert!(parse_reference("luksa/kubia:v2").is_ok());
    }

    #[test]
    fn pull_policies() {
        assert_eq!(
            default_pull_policy("luksa/kubia:v1"),
            Some(PullPolicy::IfNotPresent)
        );
        assert_eq!(default_pull_policy("luksa/kubia"), Some(PullPolicy::Always));
        assert_eq!(default_pull_policy("luksa/Kubia"), None);
        assert_eq!(parse_pull_policy("Never").ok(), Some(PullPolicy::Never));
        assert_eq!(
            parse_pull_policy("sometimes").err().map(|e| e.to_string()),
            Some(
                "invalid --image-pull-policy \"sometimes\": must be Always, IfNotPresent or Never"
                    .to_owned()
            )
        );
    }
}
