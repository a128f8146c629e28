//! Names checked as the API server checks them, before they reach a request path.
//!
//! kube puts a name into the URL as it is: `kubia-v1/status` would address the status
//! subresource, `../../apis/...` another API, and an empty namespace a path with `//`. So every
//! RC or Service name, the namespace and the deployment label key are checked here first, with
//! the API server's (and client-go's) wording, and a bad one is refused before any request.

use crate::error::{EngineError, Result};

/// kubectl's name of a ReplicationController, in messages.
pub const RC: &str = "replicationcontroller";
/// kubectl's name of a Service, in messages.
pub const SERVICE: &str = "service";

/// The longest DNS-1123 label (a namespace, a label's name part).
const LABEL_MAX: usize = 63;
/// The longest DNS-1123 subdomain (an object's name, a label key's prefix).
const SUBDOMAIN_MAX: usize = 253;

/// An object's name (`kind` as kubectl names it: `replicationcontroller`, `service`): a
/// path segment first (client-go's check, so `a/b` gets kubectl's message), then a
/// lowercase RFC 1123 subdomain, as `ValidateReplicationControllerName` checks it.
pub fn object(kind: &str, name: &str) -> Result<()> {
    if let Some(problem) = path_segment_problem(name) {
        return Err(EngineError::invalid(format!(
            "invalid resource name {name:?}: [{problem}]"
        )));
    }
    if let Some(problem) = subdomain_problem(name) {
        return Err(EngineError::invalid(format!(
            "{kind} {name:?} is invalid: metadata.name: Invalid value: {name:?}: {problem}"
        )));
    }
    Ok(())
}

/// Each of `names` as [`object`] checks it.
pub fn objects<'a>(kind: &str, names: impl IntoIterator<Item = &'a String>) -> Result<()> {
    names.into_iter().try_for_each(|name| object(kind, name))
}

/// A namespace: a lowercase RFC 1123 label. An empty one is refused rather than read as
/// "the context's namespace" (kubectl's reading): `-n "$NS"` with `NS` unset must not act on
/// another namespace.
pub fn namespace(ns: &str) -> Result<()> {
    if ns.is_empty() {
        return Err(EngineError::invalid(
            "a namespace must not be empty (-n '')",
        ));
    }
    if let Some(problem) = path_segment_problem(ns).or_else(|| label_problem(ns)) {
        return Err(EngineError::invalid(format!(
            "invalid namespace {ns:?}: {problem}"
        )));
    }
    Ok(())
}

/// A label key: an optional DNS subdomain prefix and `/`, then a name part of at most 63
/// alphanumerics, `-`, `_` or `.` that starts and ends alphanumeric (`IsQualifiedName`).
pub fn label_key(flag: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(EngineError::Usage(format!("{flag} can not be empty")));
    }
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let problem = match prefix {
        Some("") => Some("prefix part must be non-empty".to_owned()),
        Some(p) => subdomain_problem(p).map(|e| format!("prefix part {e}")),
        None => None,
    }
    .or_else(|| qualified_name_part_problem(name));
    match problem {
        Some(problem) => Err(EngineError::invalid(format!(
            "{flag} {key:?} is not a valid label key: {problem}"
        ))),
        None => Ok(()),
    }
}

/// client-go's `IsValidPathSegmentName` and `IsValidPathSegmentPrefix`.
fn path_segment_problem(name: &str) -> Option<String> {
    if name == "." || name == ".." {
        return Some(format!("may not be '{name}'"));
    }
    ["/", "%"]
        .iter()
        .find(|bad| name.contains(*bad))
        .map(|bad| format!("may not contain '{bad}'"))
}

fn subdomain_problem(name: &str) -> Option<String> {
    if name.len() > SUBDOMAIN_MAX {
        return Some(format!("must be no more than {SUBDOMAIN_MAX} characters"));
    }
    let ok = !name.is_empty() && name.split('.').all(is_label);
    (!ok).then(|| {
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' \
         or '.', and must start and end with an alphanumeric character (e.g. 'example.com')"
            .to_owned()
    })
}

fn label_problem(name: &str) -> Option<String> {
    if name.len() > LABEL_MAX {
        return Some(format!("must be no more than {LABEL_MAX} characters"));
    }
    (!is_label(name)).then(|| {
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
         and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')"
            .to_owned()
    })
}

fn qualified_name_part_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("name part must be non-empty".to_owned());
    }
    if name.len() > LABEL_MAX {
        return Some(format!(
            "name part must be no more than {LABEL_MAX} characters"
        ));
    }
    let edge = |c: char| c.is_ascii_alphanumeric();
    let inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let ok = name.starts_with(edge) && name.ends_with(edge) && name.chars().all(inner);
    (!ok).then(|| {
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and \
         end with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc')"
            .to_owned()
    })
}

/// One DNS-1123 label's characters: `[a-z0-9]([-a-z0-9]*[a-z0-9])?` (the length is checked
/// apart: a subdomain's labels have no limit of their own, only its total).
fn is_label(s: &str) -> bool {
    let edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.starts_with(edge)
        && s.ends_with(edge)
        && s.chars().all(|c| edge(c) || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn message(r: Result<()>) -> String {
        r.expect_err("refused").to_string()
    }

    #[test]
    fn the_tutorials_names_pass() {
        for name in [
            "kubia-v1",
            "kubia-v2",
            "kubia-v1-7d5f",
            "a",
            "kubia.v1",
            "0",
        ] {
            object("replicationcontroller", name).expect(name);
        }
        for ns in ["default", "kubia-lab-e2e-3", "kube-system"] {
            namespace(ns).expect(ns);
        }
        for key in [
            "deployment",
            "kubia.dev/track",
            "app.kubernetes.io/name",
            "A_b.c",
        ] {
            label_key("--deployment-label-key", key).expect(key);
        }
    }

    #[test]
    fn a_name_that_would_change_the_request_path_gets_client_gos_message() {
        let m = message(object("replicationcontroller", "kubia-v1/status"));
        assert_eq!(
            m,
            r#"invalid resource name "kubia-v1/status": [may not contain '/']"#
        );
        let m = message(object("replicationcontroller", "../../apis/apps"));
        assert!(m.contains("may not contain '/'"), "{m}");
        assert!(message(object("service", "..")).contains("may not be '..'"));
        assert!(message(object("service", "a%2Fb")).contains("may not contain '%'"));
    }

    #[test]
    fn a_name_the_api_server_would_refuse_is_refused_first() {
        for bad in ["Kubia", "kubia_v1", "-kubia", "kubia-", "", "a..b", "ü"] {
            let m = message(object("replicationcontroller", bad));
            assert!(m.contains("metadata.name: Invalid value"), "{bad}: {m}");
        }
        assert!(message(object("service", &"a".repeat(254))).contains("no more than 253"));
        object("service", &["a".repeat(63), "b".repeat(63)].join(".")).expect("two labels");
    }

    #[test]
    fn a_namespace_is_one_label_and_never_empty() {
        assert_eq!(
            message(namespace("")),
            "a namespace must not be empty (-n '')"
        );
        for bad in ["a.b", "Default", "a/b", "..", &"n".repeat(64)] {
            assert!(
                message(namespace(bad)).starts_with("invalid namespace"),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_label_key_is_a_qualified_name() {
        assert_eq!(
            message(label_key("--deployment-label-key", "")),
            "--deployment-label-key can not be empty"
        );
        for bad in [
            "/x",
            "x/",
            "a/b/c",
            "Bad.Prefix/x",
            "-x",
            "x-",
            "a b",
            &"k".repeat(64),
        ] {
            assert!(
                message(label_key("--deployment-label-key", bad)).contains("not a valid label key"),
                "{bad}"
            );
        }
    }

    /// The same language as the API server's regular expression, by another construction.
    fn subdomain_by_regex_rules(s: &str) -> bool {
        let bytes = s.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        !s.is_empty()
            && s.len() <= SUBDOMAIN_MAX
            && alnum(bytes[0])
            && alnum(bytes[bytes.len() - 1])
            && bytes.iter().all(|&b| alnum(b) || b == b'-' || b == b'.')
            && !s.contains("..")
            && !s.contains(".-")
            && !s.contains("-.")
    }

    proptest! {
        #[test]
        fn object_names_agree_with_the_api_servers_grammar(s in "[a-z0-9./%-]{0,12}") {
            let accepted = object("replicationcontroller", &s).is_ok();
            prop_assert_eq!(accepted, subdomain_by_regex_rules(&s));
        }
    }
}
