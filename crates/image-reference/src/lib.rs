//! Container image references and Kubernetes' `imagePullPolicy` defaulting.
//!
//! Why parse locally: the API server accepts almost any string as an image, so a typo in a
//! manifest or a `--image` flag would only show up as pods stuck in `InvalidImageName`. The
//! grammar is the distribution project's (`[domain[:port]/]path[:tag][@algorithm:hex]`).

#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

/// Longest repository name (domain and path) a registry accepts.
pub const MAX_NAME_LEN: usize = 255;
/// Longest tag.
pub const MAX_TAG_LEN: usize = 128;

/// Why a reference (or a tag) is invalid. Messages are short phrases, for callers to put
/// after their own context (`invalid image reference "x": <reason>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The reference is the empty string.
    #[error("empty")]
    Empty,
    /// The reference contains whitespace or control characters.
    #[error("contains whitespace or control characters")]
    Whitespace,
    /// Domain and path together are longer than [`MAX_NAME_LEN`]; carries the actual length.
    #[error("repository name longer than {MAX_NAME_LEN} characters ({0})")]
    NameTooLong(usize),
    /// The tag is empty, e.g. a reference ending in `:`.
    #[error("the tag is empty")]
    EmptyTag,
    /// The tag is longer than [`MAX_TAG_LEN`]; carries the actual length.
    #[error("tag longer than {MAX_TAG_LEN} characters ({0})")]
    TagTooLong(usize),
    /// The tag has a character outside `[A-Za-z0-9_.-]` or starts with `.` or `-`.
    #[error(
        "invalid tag: a tag must consist of letters, digits, '_', '.' or '-' and not start with '.' or '-'"
    )]
    InvalidTag,
    /// The part after `@` is not `algorithm:hex` (for `sha256`, exactly 64 hex digits).
    #[error("invalid digest: a digest must look like sha256:<64 hex digits>")]
    InvalidDigest,
    /// The registry component is not a valid `host[:port]`.
    #[error("invalid registry host")]
    InvalidDomain,
    /// Nothing follows the registry, as in `example.com/`.
    #[error("the repository path is empty")]
    EmptyPath,
    /// The repository path has upper-case letters (refused, not normalised: usually a typo).
    #[error("repository name must be lowercase")]
    Uppercase,
    /// A path component is not lower-case alphanumerics joined by `.`, `_`, `__` or `-`.
    #[error(
        "invalid repository name: path components must be lower case alphanumerics joined by '.', '_', '__' or '-'"
    )]
    InvalidPath,
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
    /// Parses `[domain[:port]/]path[:tag][@digest]`.
    ///
    /// The first `/`-separated component is a registry when it contains `.` or `:` or is
    /// `localhost`, as Docker decides. Docker also takes a first component with upper-case
    /// letters for a registry; here that is refused, as it is almost always a typo
    /// (`Luksa/kubia`).
    pub fn parse(s: &str) -> Result<ImageRef, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ReferenceError::Whitespace);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest)?;
                (rest, Some(digest.to_owned()))
            }
            None => (s, None),
        };
        // A ':' after the last '/' starts the tag; one before it belongs to a registry port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                validate_tag(tag)?;
                (&rest[..last_slash + i], Some(tag.to_owned()))
            }
            None => (rest, None),
        };
        if name.len() > MAX_NAME_LEN {
            return Err(ReferenceError::NameTooLong(name.len()));
        }
        let (domain, path) = match name.split_once('/') {
            Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
                validate_domain(first)?;
                (Some(first.to_owned()), path)
            }
            _ => (None, name),
        };
        if path.is_empty() {
            return Err(ReferenceError::EmptyPath);
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase);
        }
        if !path.split('/').all(valid_path_component) {
            return Err(ReferenceError::InvalidPath);
        }
        Ok(ImageRef {
            domain,
            path: path.to_owned(),
            tag,
            digest,
        })
    }

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

    /// The fully qualified form the runtime pulls: Docker Hub made explicit
    /// (`nginx` → `docker.io/library/nginx:latest`, `luksa/kubia:v1` →
    /// `docker.io/luksa/kubia:v1`), `latest` added when neither tag nor digest is given.
    pub fn normalized(&self) -> ImageRef {
        let domain = match self.domain.as_deref() {
            None | Some("index.docker.io") => "docker.io".to_owned(),
            Some(d) => d.to_owned(),
        };
        let path = if domain == "docker.io" && !self.path.contains('/') {
            format!("library/{}", self.path)
        } else {
            self.path.clone()
        };
        let tag = match (&self.tag, &self.digest) {
            (None, None) => Some("latest".to_owned()),
            (t, _) => t.clone(),
        };
        ImageRef {
            domain: Some(domain),
            path,
            tag,
            digest: self.digest.clone(),
        }
    }

    /// Whether two references name the same image as the runtime resolves them.
    pub fn same_image(&self, other: &ImageRef) -> bool {
        self.normalized() == other.normalized()
    }
}

/// Whether `a` and `b` name the same image (`luksa/kubia:v1` = `docker.io/luksa/kubia:v1`);
/// strings that do not parse are compared as they are.
pub fn same_image(a: &str, b: &str) -> bool {
    match (ImageRef::parse(a), ImageRef::parse(b)) {
        (Ok(a), Ok(b)) => a.same_image(&b),
        _ => a == b,
    }
}

/// The tutorial's pull-policy pitfall, worded once for every tool that warns about it: a
/// tag that can be pushed again (`latest`, or the tag the running pods already use) with
/// `IfNotPresent` means nodes that have the image never pull the new push, and versions mix.
/// `running` is the image the pods run now, if any.
pub fn pull_policy_warning(
    image: &ImageRef,
    policy: PullPolicy,
    running: Option<&ImageRef>,
) -> Option<String> {
    if policy != PullPolicy::IfNotPresent || image.digest.is_some() {
        return None;
    }
    let reused = running.is_some_and(|r| {
        let (r, i) = (r.normalized(), image.normalized());
        r.repository() == i.repository() && r.tag == i.tag
    });
    let why = if image.is_mutable() {
        "has a mutable tag"
    } else if reused {
        "reuses the tag the running pods have"
    } else {
        return None;
    };
    Some(format!(
        "image {image} {why} but imagePullPolicy is IfNotPresent: nodes that already have it will not pull a newer push (use Always, or a new tag per build)"
    ))
}

impl FromStr for ImageRef {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
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

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let Some(first) = tag.chars().next() else {
        return Err(ReferenceError::EmptyTag);
    };
    if tag.len() > MAX_TAG_LEN {
        return Err(ReferenceError::TagTooLong(tag.len()));
    }
    if word(first) && tag.chars().all(|c| word(c) || c == '.' || c == '-') {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag)
    }
}

/// `host[:port]`, host being dot-separated `[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?`.
fn validate_domain(domain: &str) -> Result<(), ReferenceError> {
    let (host, port) = match domain.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (domain, None),
    };
    if let Some(p) = port
        && (p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(ReferenceError::InvalidDomain);
    }
    let label_ok = |label: &str| {
        let alnum = |c: char| c.is_ascii_alphanumeric();
        label.starts_with(alnum)
            && label.ends_with(alnum)
            && label.chars().all(|c| alnum(c) || c == '-')
    };
    if host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(ReferenceError::InvalidDomain)
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn valid_path_component(component: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !component.starts_with(alnum) || !component.ends_with(alnum) {
        return false;
    }
    // Every maximal run of separators must be one of the allowed ones.
    component
        .split(alnum)
        .filter(|run| !run.is_empty())
        .all(|run| matches!(run, "." | "_" | "__") || run.chars().all(|c| c == '-'))
        && component
            .chars()
            .all(|c| alnum(c) || matches!(c, '.' | '_' | '-'))
}

/// `algorithm:hex`: `sha256:` and 64 hex digits, or another algorithm with at least 32.
fn validate_digest(d: &str) -> Result<(), ReferenceError> {
    let Some((alg, hex)) = d.split_once(':') else {
        return Err(ReferenceError::InvalidDigest);
    };
    let alg_ok = alg.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && alg.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    let hex_ok = hex.len() >= 32 && hex.chars().all(|c| c.is_ascii_hexdigit());
    let sha256_ok = alg != "sha256" || hex.len() == 64;
    if alg_ok && hex_ok && sha256_ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidDigest)
    }
}

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

/// A pull policy other than `Always`, `IfNotPresent` or `Never`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown image pull policy {0:?}: must be Always, IfNotPresent or Never")]
pub struct UnknownPullPolicy(pub String);

impl PullPolicy {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }

    /// What the API server defaults to when a container sets none (SetDefaults_Container):
    /// `Always` when the tag is exactly `latest`, or when there is neither tag nor digest;
    /// `IfNotPresent` otherwise. Note that `x:latest@sha256:…` gets `Always` although the
    /// digest pins it, and `x:LATEST` gets `IfNotPresent`: the rule looks at the tag only.
    pub fn default_for(image: &ImageRef) -> Self {
        match (image.tag.as_deref(), &image.digest) {
            (Some("latest"), _) | (None, None) => PullPolicy::Always,
            _ => PullPolicy::IfNotPresent,
        }
    }
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PullPolicy {
    type Err = UnknownPullPolicy;

    /// Accepts the API spelling, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(PullPolicy::Always),
            "ifnotpresent" => Ok(PullPolicy::IfNotPresent),
            "never" => Ok(PullPolicy::Never),
            _ => Err(UnknownPullPolicy(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ImageRef {
        ImageRef::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn parses_the_tutorial_image() {
        let r = parse("luksa/kubia:v1");
        assert_eq!(r.domain, None);
        assert_eq!(r.path, "luksa/kubia");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert!(!r.is_mutable());
        assert_eq!(r.to_string(), "luksa/kubia:v1");
    }

    #[test]
    fn a_registry_port_is_not_a_tag() {
        let r = parse("localhost:5000/kubia");
        assert_eq!(r.domain.as_deref(), Some("localhost:5000"));
        assert_eq!(r.tag, None);
        assert!(r.is_mutable());
        let r = parse("registry.example.com:443/a/b:latest");
        assert_eq!(r.repository(), "registry.example.com:443/a/b");
        assert!(r.is_mutable());
        assert_eq!(r.effective_tag(), "latest");
    }

    #[test]
    fn a_digest_pins() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("luksa/kubia@{d}"));
        assert!(!r.is_mutable());
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(PullPolicy::default_for(&r), PullPolicy::IfNotPresent);
    }

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
            parse(ok);
        }
    }

    #[test]
    fn refuses_broken_references_with_the_reason() {
        use ReferenceError::*;
        for (bad, why) in [
            ("", Empty),
            ("luksa/kubia:v2 ", Whitespace),
            ("luksa kubia", Whitespace),
            ("luksa/kubia:", EmptyTag),
            ("luksa/kubia:-v2", InvalidTag),
            ("luksa/kubia:v2:v3", InvalidTag),
            ("Luksa/Kubia:v2!", InvalidTag),
            ("luksa/kubia@sha256:12", InvalidDigest),
            ("luksa/Kubia:v2", Uppercase),
            ("Luksa/kubia", Uppercase),
            (":v2", EmptyPath),
            ("luksa//kubia", InvalidPath),
            ("-luksa/kubia", InvalidPath),
            ("luksa/ku..bia", InvalidPath),
            ("host:port/app", InvalidDomain),
            ("-bad.example.com/app", InvalidDomain),
        ] {
            assert_eq!(ImageRef::parse(bad), Err(why), "{bad:?}");
        }
        let long = format!("a/{}", "b".repeat(MAX_NAME_LEN));
        assert_eq!(ImageRef::parse(&long), Err(NameTooLong(MAX_NAME_LEN + 2)));
        assert_eq!(
            validate_tag(&"t".repeat(MAX_TAG_LEN + 1)),
            Err(TagTooLong(MAX_TAG_LEN + 1))
        );
    }

    #[test]
    fn defaults_as_the_api_server_assigns_them() {
        let d = "a".repeat(64);
        let policy = |image: String| PullPolicy::default_for(&parse(&image));
        for (image, expected) in [
            ("nginx".to_owned(), PullPolicy::Always),
            ("nginx:latest".to_owned(), PullPolicy::Always),
            ("nginx:LATEST".to_owned(), PullPolicy::IfNotPresent),
            (format!("nginx@sha256:{d}"), PullPolicy::IfNotPresent),
            (format!("nginx:latest@sha256:{d}"), PullPolicy::Always),
            (format!("nginx:1.27@sha256:{d}"), PullPolicy::IfNotPresent),
            ("localhost:5000/kubia".to_owned(), PullPolicy::Always),
        ] {
            assert_eq!(policy(image.clone()), expected, "{image}");
        }
    }

    #[test]
    fn normalized_references_compare_as_the_runtime_resolves_them() {
        assert!(same_image("luksa/kubia:v1", "docker.io/luksa/kubia:v1"));
        assert!(same_image(
            "luksa/kubia:v1",
            "index.docker.io/luksa/kubia:v1"
        ));
        assert!(same_image("nginx", "docker.io/library/nginx:latest"));
        assert!(same_image("nginx:latest", "library/nginx"));
        assert!(!same_image("luksa/kubia:v1", "luksa/kubia:v2"));
        assert!(!same_image("luksa/kubia:v1", "quay.io/luksa/kubia:v1"));
        assert!(!same_image("localhost:5000/nginx", "nginx"));
        assert_eq!(
            parse("nginx").normalized().to_string(),
            "docker.io/library/nginx:latest"
        );
    }

    #[test]
    fn one_warning_for_tags_that_can_be_pushed_again() {
        let d = "a".repeat(64);
        let warn = |image: &str, policy, running: Option<&str>| {
            pull_policy_warning(&parse(image), policy, running.map(parse).as_ref())
        };
        let latest = warn("luksa/kubia:latest", PullPolicy::IfNotPresent, None);
        assert!(latest.is_some_and(|w| w.contains("has a mutable tag")));
        assert!(warn("luksa/kubia:latest", PullPolicy::Always, None).is_none());
        assert!(warn("luksa/kubia:v2", PullPolicy::IfNotPresent, None).is_none());
        assert!(
            warn(
                "luksa/kubia:v2",
                PullPolicy::IfNotPresent,
                Some("luksa/kubia:v1")
            )
            .is_none()
        );
        let reused = warn(
            "docker.io/luksa/kubia:v1",
            PullPolicy::IfNotPresent,
            Some("luksa/kubia:v1"),
        );
        assert!(reused.is_some_and(|w| w.contains("reuses the tag the running pods have")));
        let pinned = format!("luksa/kubia:latest@sha256:{d}");
        assert!(warn(&pinned, PullPolicy::IfNotPresent, None).is_none());
    }

    #[test]
    fn pull_policies() {
        let policy = |image: &str| PullPolicy::default_for(&parse(image));
        assert_eq!(policy("luksa/kubia:v1"), PullPolicy::IfNotPresent);
        assert_eq!(policy("luksa/kubia:latest"), PullPolicy::Always);
        assert_eq!(policy("luksa/kubia"), PullPolicy::Always);
        assert_eq!(policy("localhost:5000/kubia"), PullPolicy::Always);
        assert_eq!(policy("localhost:5000/kubia:v1"), PullPolicy::IfNotPresent);
        assert_eq!("Always".parse(), Ok(PullPolicy::Always));
        assert_eq!("ifnotpresent".parse(), Ok(PullPolicy::IfNotPresent));
        assert_eq!(
            "Sometimes".parse::<PullPolicy>().map_err(|e| e.to_string()),
            Err(
                "unknown image pull policy \"Sometimes\": must be Always, IfNotPresent or Never"
                    .to_owned()
            )
        );
        assert_eq!(PullPolicy::IfNotPresent.to_string(), "IfNotPresent");
    }
}
