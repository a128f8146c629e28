//! Image references and pull policies, checked before anything is changed.
//!
//! Why validate locally: the API server accepts almost any string as an image, and a typo
//! would only show up as pods stuck in `InvalidImageName` half-way through an update.

use std::fmt;
use std::str::FromStr;

use crate::error::EngineError;

/// A container's `imagePullPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PullPolicy {
    /// Pull on every container start.
    Always,
    /// Pull only if the node lacks the image.
    IfNotPresent,
    /// Never pull.
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

    /// The policy Kubernetes applies when none is set: `Always` for `:latest` or an untagged
    /// image, else `IfNotPresent` (the tutorial's pitfall about re-pushed tags).
    pub fn default_for(image: &str) -> PullPolicy {
        let without_digest = image.split('@').next().unwrap_or(image);
        let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
        if image.contains('@') {
            return PullPolicy::IfNotPresent;
        }
        match last.split_once(':') {
            Some((_, "latest")) | None => PullPolicy::Always,
            Some(_) => PullPolicy::IfNotPresent,
        }
    }
}

impl FromStr for PullPolicy {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Always" => Ok(PullPolicy::Always),
            "IfNotPresent" => Ok(PullPolicy::IfNotPresent),
            "Never" => Ok(PullPolicy::Never),
            other => Err(EngineError::invalid(format!(
                "invalid --image-pull-policy {other:?}: must be Always, IfNotPresent or Never"
            ))),
        }
    }
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks `image` against the Docker reference grammar
/// (`[domain[:port]/]path[:tag][@algorithm:hex]`, lowercase path components).
pub fn validate_reference(image: &str) -> Result<(), EngineError> {
    reference_problem(image).map_or(Ok(()), |problem| {
        Err(EngineError::invalid(format!(
            "invalid image reference {image:?}: {problem}"
        )))
    })
}

fn reference_problem(image: &str) -> Option<&'static str> {
    if image.is_empty() {
        return Some("empty");
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("contains whitespace");
    }
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest
        && !valid_digest(digest)
    {
        return Some("invalid digest");
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag
        && !valid_tag(tag)
    {
        return Some("invalid tag");
    }
    if name.is_empty() {
        return Some("missing repository name");
    }
    if name.len() > 255 {
        return Some("repository name longer than 255 characters");
    }
    let mut components: Vec<&str> = name.split('/').collect();
    if components.len() > 1 && looks_like_domain(components[0]) {
        if !valid_domain(components[0]) {
            return Some("invalid registry host");
        }
        components.remove(0);
    }
    if components
        .iter()
        .any(|c| c.chars().any(|ch| ch.is_ascii_uppercase()))
    {
        return Some("repository name must be lowercase");
    }
    if !components.iter().all(|c| valid_path_component(c)) {
        return Some("invalid repository name");
    }
    None
}

/// Docker's rule: the first component is a registry if it has a dot or a port, is
/// `localhost`, or has uppercase letters (which a path component cannot).
fn looks_like_domain(component: &str) -> bool {
    component.contains('.')
        || component.contains(':')
        || component == "localhost"
        || component.chars().any(|c| c.is_ascii_uppercase())
}

fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or any number of `-`.
fn valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = separator == "."
            || separator == "_"
            || separator == "__"
            || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphanumeric() || first == b'_' => {}
        _ => return false,
    }
    tag.len() <= 128 && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn valid_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    !algorithm.is_empty()
        && algorithm.starts_with(|c: char| c.is_ascii_alphabetic())
        && algorithm
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b))
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_references() {
        for ok in [
            "luksa/kubia:v2",
            "luksa/kubia",
            "nginx",
            "nginx:1.27-alpine",
            "registry.k8s.io/pause:3.10",
            "localhost:5000/team/app_x:latest",
            "my-registry.example.com:443/a/b/c",
            "a__b.c---d:TAG_1.0",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Registry.Example.com/app:v1",
        ] {
            assert!(validate_reference(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_broken_references() {
        for bad in [
            "",
            "luksa/kubia:",
            "luksa/Kubia:v2",
            "luksa kubia",
            "luksa/kubia:v2 ",
            ":v2",
            "luksa//kubia",
            "luksa/kubia:-v2",
            "-luksa/kubia",
            "luksa/kubia@sha256:12",
            "luksa/kubia:v2:v3",
            "host:port/app",
        ] {
            assert!(validate_reference(bad).is_err(), "{bad:?}");
        }
        let msg = validate_reference("luksa/Kubia")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            msg.as_deref(),
            Some("invalid image reference \"luksa/Kubia\": repository name must be lowercase")
        );
    }

    #[test]
    fn pull_policies() {
        assert_eq!(
            "Always".parse::<PullPolicy>().ok(),
            Some(PullPolicy::Always)
        );
        assert!("always".parse::<PullPolicy>().is_err());
        assert_eq!(
            PullPolicy::default_for("luksa/kubia:v1"),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::default_for("luksa/kubia:latest"),
            PullPolicy::Always
        );
        assert_eq!(PullPolicy::default_for("luksa/kubia"), PullPolicy::Always);
        assert_eq!(
            PullPolicy::default_for("localhost:5000/kubia"),
            PullPolicy::Always
        );
        assert_eq!(
            PullPolicy::default_for("localhost:5000/kubia:v1"),
            PullPolicy::IfNotPresent
        );
        assert_eq!(
            PullPolicy::default_for("a@sha256:00"),
            PullPolicy::IfNotPresent
        );
        assert_eq!(PullPolicy::IfNotPresent.to_string(), "IfNotPresent");
    }
}
