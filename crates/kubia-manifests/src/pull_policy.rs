//! `imagePullPolicy`: which one Kubernetes would pick, and when a choice is risky.
//!
//! The tutorial's pitfall: an image pushed again under the same tag is not pulled again by
//! nodes that already have it when the policy is `IfNotPresent`, so two versions end up
//! running. Generated manifests set the policy explicitly so that nobody relies on the
//! defaulting rule, and a risky override is reported as a [`Warning`].

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ValidationError};
use crate::image::ImageRef;

/// A container's `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

impl PullPolicy {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }

    /// What the API server would default to: `Always` for a mutable reference (`latest` or
    /// no tag, no digest), `IfNotPresent` otherwise.
    pub fn default_for(image: &ImageRef) -> Self {
        if image.is_mutable() {
            PullPolicy::Always
        } else {
            PullPolicy::IfNotPresent
        }
    }
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PullPolicy {
    type Err = Error;

    /// Accepts the API spelling, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(PullPolicy::Always),
            "ifnotpresent" => Ok(PullPolicy::IfNotPresent),
            "never" => Ok(PullPolicy::Never),
            _ => Err(Error::invalid_str(
                "image pull policy",
                s,
                ValidationError::UnknownValue {
                    expected: "Always, IfNotPresent or Never",
                },
            )),
        }
    }
}

/// Something worth telling the user that does not stop generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// A mutable reference with `IfNotPresent`: nodes keep whatever they pulled first.
    MutableTagWithIfNotPresent { image: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::MutableTagWithIfNotPresent { image } => write!(
                f,
                "image {image} has a mutable tag but imagePullPolicy is IfNotPresent: nodes that already have it will not pull a newer push (use Always, or a new tag per build)"
            ),
        }
    }
}

/// The warning for running `image` with `policy`, if any.
pub fn pull_policy_warning(image: &ImageRef, policy: PullPolicy) -> Option<Warning> {
    (policy == PullPolicy::IfNotPresent && image.is_mutable()).then(|| {
        Warning::MutableTagWithIfNotPresent {
            image: image.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::parse_image_ref;

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
        assert!("sometimes".parse::<PullPolicy>().is_err());
    }
}
