//! Pure validation rules for names, labels, ports and counts, as the API server applies them.
//!
//! Checking them here means a bad flag is refused before anything is written or sent to a
//! cluster, with a message that says which rule was broken.

use crate::error::ValidationError;

/// The NodePort range of a default cluster (`--service-node-port-range`).
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<i32> = 30000..=32767;

/// Longest DNS-1123/DNS-1035 label, label value and label-key name part.
pub const MAX_LABEL_LEN: usize = 63;

/// Longest DNS-1123 subdomain (object names of most kinds, label-key prefixes).
pub const MAX_SUBDOMAIN_LEN: usize = 253;

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn check_len(s: &str, max: usize) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::Empty);
    }
    if s.len() > max {
        return Err(ValidationError::TooLong { max, len: s.len() });
    }
    Ok(())
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?` without the length check.
fn is_dns_label_shape(s: &str) -> bool {
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    is_lower_alnum(first)
        && is_lower_alnum(last)
        && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

/// A DNS-1123 label (RFC 1123): namespaces, and the names this crate gives workloads.
pub fn validate_dns1123_label(s: &str) -> Result<(), ValidationError> {
    check_len(s, MAX_LABEL_LEN)?;
    if is_dns_label_shape(s) {
        Ok(())
    } else {
        Err(ValidationError::NotDns1123Label)
    }
}

/// A DNS-1035 label (RFC 1035): a DNS-1123 label that starts with a letter. Service
/// names must be one, so the app name (which names the Service) is checked with it.
pub fn validate_dns1035_label(s: &str) -> Result<(), ValidationError> {
    check_len(s, MAX_LABEL_LEN)?;
    if is_dns_label_shape(s) && s.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(ValidationError::NotDns1035Label)
    }
}

/// A DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
pub fn validate_dns1123_subdomain(s: &str) -> Result<(), ValidationError> {
    check_len(s, MAX_SUBDOMAIN_LEN)?;
    if s.split('.').all(is_dns_label_shape) {
        Ok(())
    } else {
        Err(ValidationError::NotDns1123Subdomain)
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, the shape of label values and key names.
fn is_qualified_shape(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    alnum(first) && alnum(last) && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// A label value: empty, or at most 63 characters of `[A-Za-z0-9_.-]` starting and ending
/// alphanumeric. Image tags become `version` label values, so they must also pass this.
pub fn validate_label_value(s: &str) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Ok(());
    }
    check_len(s, MAX_LABEL_LEN)?;
    if is_qualified_shape(s) {
        Ok(())
    } else {
        Err(ValidationError::NotQualifiedName)
    }
}

/// A label key: `[prefix/]name`, the prefix a DNS-1123 subdomain, the name like a
/// non-empty label value.
pub fn validate_label_key(s: &str) -> Result<(), ValidationError> {
    let name = match s.split_once('/') {
        Some((prefix, name)) => {
            validate_dns1123_subdomain(prefix)?;
            name
        }
        None => s,
    };
    check_len(name, MAX_LABEL_LEN)?;
    if is_qualified_shape(name) {
        Ok(())
    } else {
        Err(ValidationError::NotQualifiedName)
    }
}

/// A Service node port: inside the cluster's NodePort range (the default one).
pub fn validate_node_port(port: i32) -> Result<(), ValidationError> {
    if NODE_PORT_RANGE.contains(&port) {
        Ok(())
    } else {
        Err(ValidationError::NotNodePort {
            min: *NODE_PORT_RANGE.start(),
            max: *NODE_PORT_RANGE.end(),
        })
    }
}

/// A replica count (or any count of seconds): zero or more.
pub fn validate_replicas(replicas: i32) -> Result<(), ValidationError> {
    validate_non_negative(replicas)
}

/// Zero or more, as the API requires for counts and durations in seconds.
pub fn validate_non_negative(n: i32) -> Result<(), ValidationError> {
    if n < 0 {
        Err(ValidationError::Negative)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert!(validate_dns1123_label("kubia-v1").is_ok());
        assert!(validate_dns1123_label("1kubia").is_ok());
        assert!(validate_dns1035_label("1kubia").is_err());
        assert!(validate_dns1123_label("Kubia").is_err());
        assert!(validate_dns1123_label("kubia-").is_err());
        assert!(validate_dns1123_label("").is_err());
        assert!(validate_dns1123_label(&"a".repeat(64)).is_err());
        assert!(validate_dns1123_subdomain("example.com").is_ok());
        assert!(validate_dns1123_subdomain("example..com").is_err());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(validate_label_value("").is_ok());
        assert!(validate_label_value("v1.2_3").is_ok());
        assert!(validate_label_value("v1_").is_err());
        assert!(validate_label_key("app").is_ok());
        assert!(validate_label_key("example.com/track").is_ok());
        assert!(validate_label_key("Example.com/track").is_err());
        assert!(validate_label_key("").is_err());
        assert!(validate_label_key("a/").is_err());
    }
}
