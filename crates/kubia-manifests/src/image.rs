//! Container image references, parsed with the grammar of the distribution project
//! (`[domain[:port]/]path[:tag][@digest]`), so that a typo in `--image-repo` or `--tag`
//! is refused here instead of as an `ErrImagePull` minutes later.

use std::fmt;

use crate::error::ValidationError;

/// Longest repository name (domain and path) a registry accepts.
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag.
pub const MAX_TAG_LEN: usize = 128;

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (and port), if the reference names one.
    pub domain: Option<String>,
    /// Repository path, e.g. `luksa/kubia`.
    pub path: String,
    /// Tag, e.g. `v1`; `None` means the runtime uses `latest`.
    pub tag: Option<String>,
    /// Content digest, e.g. `sha256:…`; pins the image whatever the tag says.
    pub digest: Option<String>,
}

impl ImageRef {
    /// `domain/path` (or `path`): the reference without tag and digest.
    pub fn repository(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}/{}", self.path),
            None => self.path.clone(),
        }
    }

    /// Whether the same reference may name different images over time: no digest, and the
    /// tag is `latest` or missing. Kubernetes defaults `imagePullPolicy` to `Always` exactly
    /// for these (the tutorial's pull-policy pitfall).
    pub fn is_mutable(&self) -> bool {
        self.digest.is_none() && matches!(self.tag.as_deref(), None | Some("latest"))
    }

    /// The tag as the runtime sees it: `latest` when none is given.
    pub fn effective_tag(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Parses `[domain[:port]/]path[:tag][@digest]`.
///
/// The first `/`-separated component is a registry domain when it contains `.` or `:`, or is
/// `localhost`, as Docker decides (Docker also takes an upper-case first component for a
/// registry; here it is refused, as it is almost always a typo). Path components are lower case alphanumerics joined by
/// `.`, `_`, `__` or runs of `-`.
pub fn parse_image_ref(s: &str) -> Result<ImageRef, ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty);
    }
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => {
            validate_digest(d)?;
            (r, Some(d.to_owned()))
        }
        None => (s, None),
    };
    // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].find(':') {
        Some(i) => {
            let (n, t) = rest.split_at(last_slash + i);
            let t = &t[1..];
            validate_tag(t)?;
            (n, Some(t.to_owned()))
        }
        None => (rest, None),
    };
    if name.len() > MAX_NAME_LEN {
        return Err(ValidationError::TooLong {
            max: MAX_NAME_LEN,
            len: name.len(),
        });
    }
    let (domain, path) = match name.split_once('/') {
        Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
            validate_domain(first)?;
            (Some(first.to_owned()), path)
        }
        _ => (None, name),
    };
    if path.is_empty() {
        return Err(ValidationError::Image("the repository path is empty"));
    }
    for component in path.split('/') {
        validate_path_component(component)?;
    }
    Ok(ImageRef {
        domain,
        path: path.to_owned(),
        tag,
        digest,
    })
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ValidationError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let Some(first) = tag.chars().next() else {
        return Err(ValidationError::Image("the tag is empty"));
    };
    if tag.len() > MAX_TAG_LEN {
        return Err(ValidationError::TooLong {
            max: MAX_TAG_LEN,
            len: tag.len(),
        });
    }
    if word(first) && tag.chars().all(|c| word(c) || c == '.' || c == '-') {
        Ok(())
    } else {
        Err(ValidationError::Image(
            "a tag must consist of letters, digits, '_', '.' or '-' and not start with '.' or '-'",
        ))
    }
}

/// `host[:port]`, host being dot-separated `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`.
fn validate_domain(domain: &str) -> Result<(), ValidationError> {
    const BAD: ValidationError = ValidationError::Image("invalid registry domain");
    let (host, port) = match domain.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(BAD);
    }
    let component_ok = |c: &str| {
        let alnum = |ch: char| ch.is_ascii_alphanumeric();
        c.starts_with(alnum) && c.ends_with(alnum) && c.chars().all(|ch| alnum(ch) || ch == '-')
    };
    if host.split('.').all(component_ok) {
        Ok(())
    } else {
        Err(BAD)
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn validate_path_component(c: &str) -> Result<(), ValidationError> {
    const BAD: ValidationError = ValidationError::Image(
        "repository path components must be lower case alphanumerics joined by '.', '_', '__' or '-'",
    );
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    if !c.starts_with(alnum) || !c.ends_with(alnum) {
        return Err(BAD);
    }
    // Every maximal run of separators must be one of the allowed ones.
    let mut run = String::new();
    for ch in c.chars() {
        if alnum(ch) {
            let ok = run.is_empty()
                || run == "."
                || run == "_"
                || run == "__"
                || run.chars().all(|s| s == '-');
            if !ok {
                return Err(BAD);
            }
            run.clear();
        } else if matches!(ch, '.' | '_' | '-') {
            run.push(ch);
        } else {
            return Err(BAD);
        }
    }
    Ok(())
}

/// `algorithm:hex`, e.g. `sha256:` and 64 hex digits (at least 32 for other algorithms).
fn validate_digest(d: &str) -> Result<(), ValidationError> {
    const BAD: ValidationError =
        ValidationError::Image("a digest must look like sha256:<64 hex digits>");
    let Some((alg, hex)) = d.split_once(':') else {
        return Err(BAD);
    };
    let alg_ok = !alg.is_empty()
        && alg.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && alg.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    let hex_ok = hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
    let sha256_ok = alg != "sha256" || hex.len() == 64;
    if alg_ok && hex_ok && sha256_ok {
        Ok(())
    } else {
        Err(BAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tutorial_image() {
        let r = parse_image_ref("luksa/kubia:v1").unwrap();
        assert_eq!(r.domain, None);
        assert_eq!(r.path, "luksa/kubia");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert!(!r.is_mutable());
        assert_eq!(r.to_string(), "luksa/kubia:v1");
    }

    #[test]
    fn registry_port_is_not_a_tag() {
        let r = parse_image_ref("localhost:5000/kubia").unwrap();
        assert_eq!(r.domain.as_deref(), Some("localhost:5000"));
        assert_eq!(r.tag, None);
        assert!(r.is_mutable());
        let r = parse_image_ref("registry.example.com:443/a/b:latest").unwrap();
        assert_eq!(r.repository(), "registry.example.com:443/a/b");
        assert!(r.is_mutable());
    }

    #[test]
    fn digest_pins() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse_image_ref(&format!("luksa/kubia@{d}")).unwrap();
        assert!(!r.is_mutable());
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Luksa/kubia",
            "luksa/kubia:",
            "luksa/kubia:-v1",
            "luksa//kubia",
            "luksa/kubia@sha256:abc",
            "luksa/ku..bia",
            "luksa/kubia:v1 ",
            "luksa/kubia:v1:v2",
        ] {
            assert!(parse_image_ref(bad).is_err(), "{bad:?} accepted");
        }
    }
}
