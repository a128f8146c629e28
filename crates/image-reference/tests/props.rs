//! Property tests: references built from the grammar parse back into their parts and print
//! as they were written; no input makes the parser panic.

use image_reference::{ImageRef, PullPolicy};
use proptest::prelude::*;

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,6}((\\.|_|__|-{1,3})[a-z0-9]{1,6}){0,2}"
}

fn domain() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("localhost".to_owned())),
        (
            "[a-z][a-z0-9-]{0,5}[a-z0-9]\\.[a-z]{2,4}",
            proptest::option::of(1u16..)
        )
            .prop_map(|(host, port)| Some(match port {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })),
    ]
}

proptest! {
    #[test]
    fn built_references_round_trip(
        domain in domain(),
        path in proptest::collection::vec(component(), 1..4),
        tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        digest in proptest::option::of("[0-9a-f]{64}"),
    ) {
        // Without a registry, a first component with a dot would be read as one (Docker's rule).
        prop_assume!(domain.is_some() || path.len() == 1 || !path[0].contains('.'));
        let path = path.join("/");
        let mut text = match &domain {
            Some(d) => format!("{d}/{path}"),
            None => path.clone(),
        };
        if let Some(t) = &tag {
            text.push(':');
            text.push_str(t);
        }
        let digest = digest.map(|hex| format!("sha256:{hex}"));
        if let Some(d) = &digest {
            text.push('@');
            text.push_str(d);
        }
        let parsed = ImageRef::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(&parsed.domain, &domain);
        prop_assert_eq!(&parsed.path, &path);
        prop_assert_eq!(&parsed.tag, &tag);
        prop_assert_eq!(&parsed.digest, &digest);
        prop_assert_eq!(parsed.to_string(), text);
        let mutable = digest.is_none() && matches!(tag.as_deref(), None | Some("latest"));
        prop_assert_eq!(
            PullPolicy::default_for(&parsed),
            if mutable { PullPolicy::Always } else { PullPolicy::IfNotPresent }
        );
    }

    #[test]
    fn any_input_is_answered_without_panicking(s in "\\PC{0,40}") {
        if let Ok(parsed) = ImageRef::parse(&s) {
            // Whatever is accepted prints back to the same text.
            prop_assert_eq!(parsed.to_string(), s);
        }
    }

    #[test]
    fn upper_case_in_the_path_is_refused(
        user in "[a-z]{1,5}[A-Z][a-z]{0,5}",
        repo in "[a-z]{1,10}",
    ) {
        let reference = format!("{user}/{repo}:v1");
        prop_assert!(ImageRef::parse(&reference).is_err());
    }
}
