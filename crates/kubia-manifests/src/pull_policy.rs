//! `imagePullPolicy`: which one Kubernetes would pick, and when a choice is risky.
//!
//! The tutorial's pitfall: an image pushed again under the same tag is not pulled again by
//! nodes that already have it when the policy is `IfNotPresent`, so two versions end up
//! running. Generated manifests set the policy explicitly so that nobody relies on the
//! defaulting rule, and a risky override is reported as a [`Warning`].

use std::fmt;

pub use image_reference::PullPolicy;
use image_reference::{ImageRef, UnknownPullPolicy};

use crate::error::{Error, ValidationError};

impl From<UnknownPullPolicy> for Error {
    fn from(e: UnknownPullPolicy) -> Self {
        Error::invalid_str(
            "image pull policy",
            &e.0,
            ValidationError::UnknownValue {
                expected: "Always, IfNotPresent or Never",
            },
        )
    }
}

/// Something worth telling the user that does not stop generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A mutable reference with `IfNotPresent`: nodes keep whatever they pulled first.
    MutableTagWithIfNotPresent {
        /// The image reference.
        image: String,
        /// The one wording shared with the engine.
        text: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::MutableTagWithIfNotPresent { text, .. } => f.write_str(text),
        }
    }
}

/// The warning for running `image` with `policy`, if any, worded as the engine words it
/// (`image_reference::pull_policy_warning`).
pub fn pull_policy_warning(image: &ImageRef, policy: PullPolicy) -> Option<Warning> {
    image_reference::pull_policy_warning(image, policy, None).map(|text| {
        Warning::MutableTagWithIfNotPresent {
            image: image.to_string(),
            text,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_image_ref(s: &str) -> Result<ImageRef, image_reference::ReferenceError> {
        ImageRef::parse(s)
    }

    #[test]
    fn defaults_follow_kubernetes() {
        let p = |s| PullPolicy::default_for(&parse_image_ref(s).unwrap());
        assert_eq!(p("luksa/kubia:v1"), PullPolicy::IfNotPresent);
        assert_eq!(p("luksa/kubia:latest"), PullPolicy::Always);
        assert_eq!(p("luksa/kubia"), PullPolicy::Always);
    }

    #[test]
    fn warns_only_for_mutable_if_not_present() {
        let latest = parse_image_ref("luksa/kubia").unwrap();
        let v1 = parse_image_ref("luksa/kubia:v1").unwrap();
        assert!(pull_policy_warning(&latest, PullPolicy::IfNotPresent).is_some());
        assert!(pull_policy_warning(&latest, PullPolicy::Always).is_none());
        assert!(pull_policy_warning(&v1, PullPolicy::IfNotPresent).is_none());
    }

    #[test]
    fn parses_case_insensitively() {
        assert_eq!(
            "ifnotpresent".parse::<PullPolicy>().ok(),
            Some(PullPolicy::IfNotPresent)
        );
        assert_eq!(
            "Always".parse::<PullPolicy>().ok(),
            Some(PullPolicy::Always)
        );
        let e: Error = "sometimes".parse::<PullPolicy>().unwrap_err().into();
        assert_eq!(
            e.to_string(),
            "invalid image pull policy \"sometimes\": must be one of Always, IfNotPresent or Never"
        );
    }
}
