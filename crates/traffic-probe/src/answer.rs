//! Reading the demo app's answers: which version, which pod.

/// What one answer says about who served it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// `v1`…`v4`, `classic` for `You've hit …`, or `error` for v3's HTTP 500 body.
    pub version: String,
    /// The name of the pod that answered, as the body gives it.
    pub pod: String,
}

/// Parses the bodies of every kubia variant; None for anything else.
pub fn parse(body: &str) -> Option<Parsed> {
    let body = body.trim_end_matches('\n');
    if let Some(rest) = body.strip_prefix("This is ") {
        let (version, pod) = rest.split_once(" running in pod ")?;
        return Some(Parsed {
            version: version.to_owned(),
            pod: pod.to_owned(),
        });
    }
    if let Some(pod) = body.strip_prefix("You've hit ") {
        return Some(Parsed {
            version: "classic".into(),
            pod: pod.to_owned(),
        });
    }
    if let Some(pod) = body.strip_prefix("Some internal error has occurred! This is pod ") {
        return Some(Parsed {
            version: "error".into(),
            pod: pod.to_owned(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_variant() {
        assert_eq!(
            parse("This is v1 running in pod kubia-v1-9ql94\n"),
            Some(Parsed {
                version: "v1".into(),
                pod: "kubia-v1-9ql94".into()
            })
        );
        assert_eq!(
            parse("You've hit kubia-k2l4p\n").unwrap().version,
            "classic"
        );
        assert_eq!(
            parse("Some internal error has occurred! This is pod kubia-v3-x\n").unwrap(),
            Parsed {
                version: "error".into(),
                pod: "kubia-v3-x".into()
            }
        );
        assert_eq!(parse("hello"), None);
    }
}
