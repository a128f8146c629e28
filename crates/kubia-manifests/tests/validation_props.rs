//! Property tests for the validation rules.

use kubia_manifests::{
    Params, parse_int_or_percent, parse_max_unavailable, tutorial, validate_dns1035_label,
    validate_dns1123_label, validate_label_value, validate_node_port, validate_replicas,
};
use proptest::prelude::*;

/// DNS-1123 labels as the RFC defines them: 1-63 of `[a-z0-9-]`, alphanumeric at both ends.
fn dns1123_label() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9]", "[a-z0-9][a-z0-9-]{0,61}[a-z0-9]",]
}

proptest! {
    #[test]
    fn node_ports_in_range_are_accepted(port in 30000i32..=32767) {
        prop_assert!(validate_node_port(port).is_ok());
    }

    #[test]
    fn node_ports_below_range_are_rejected(port in i32::MIN..30000) {
        prop_assert!(validate_node_port(port).is_err());
    }

    #[test]
    fn node_ports_above_range_are_rejected(port in 32768i32..=i32::MAX) {
        prop_assert!(validate_node_port(port).is_err());
    }

    #[test]
    fn generated_dns1123_labels_are_accepted(s in dns1123_label()) {
        prop_assert!(validate_dns1123_label(&s).is_ok());
    }

    #[test]
    fn dns1035_is_dns1123_starting_with_a_letter(s in dns1123_label()) {
        let starts_with_letter = s.starts_with(|c: char| c.is_ascii_lowercase());
        prop_assert_eq!(validate_dns1035_label(&s).is_ok(), starts_with_letter);
    }

    #[test]
    fn labels_with_an_uppercase_letter_are_rejected(
        (s, i) in dns1123_label().prop_flat_map(|s| { let n = s.len(); (Just(s), 0..n) }),
        upper in "[A-Z]",
    ) {
        let mut bad = s.clone();
        bad.replace_range(i..=i, &upper);
        prop_assert!(validate_dns1123_label(&bad).is_err());
        prop_assert!(validate_dns1035_label(&bad).is_err());
    }

    #[test]
    fn labels_with_an_invalid_character_are_rejected(
        (s, i) in dns1123_label().prop_flat_map(|s| { let n = s.len(); (Just(s), 0..n) }),
        c in "[_.:/ @!A-Z\u{e9}]",
    ) {
        let mut bad = s.clone();
        bad.replace_range(i..=i, &c);
        prop_assert!(validate_dns1123_label(&bad).is_err());
    }

    #[test]
    fn labels_with_a_dash_at_an_end_are_rejected(s in dns1123_label()) {
        let leading = format!("-{s}");
        let trailing = format!("{s}-");
        prop_assert!(validate_dns1123_label(&leading).is_err());
        prop_assert!(validate_dns1123_label(&trailing).is_err());
    }

    #[test]
    fn labels_longer_than_63_are_rejected(s in "[a-z][a-z0-9]{63,100}") {
        prop_assert!(validate_dns1123_label(&s).is_err());
        prop_assert!(validate_dns1035_label(&s).is_err());
        prop_assert!(validate_label_value(&s).is_err());
    }

    #[test]
    fn replicas_are_accepted_iff_non_negative(n in any::<i32>()) {
        prop_assert_eq!(validate_replicas(n).is_ok(), n >= 0);
        let p = Params { replicas: n, ..Params::default() };
        prop_assert_eq!(tutorial(&p).is_ok(), n >= 0);
    }

    #[test]
    fn counts_and_percentages_parse(n in 0i32..=i32::MAX, pct in 0i32..=1000) {
        let percentage = format!("{pct}%");
        prop_assert!(parse_int_or_percent(&n.to_string()).is_ok());
        prop_assert!(parse_int_or_percent(&percentage).is_ok());
        prop_assert_eq!(parse_max_unavailable(&percentage).is_ok(), pct <= 100);
    }

    #[test]
    fn negative_or_fractional_percentages_are_rejected(n in 1i32..1000, frac in 1u32..100) {
        let negative = format!("-{n}%");
        let fractional = format!("{n}.{frac}%");
        let negative_count = format!("-{n}");
        prop_assert!(parse_int_or_percent(&negative).is_err());
        prop_assert!(parse_int_or_percent(&fractional).is_err());
        prop_assert!(parse_int_or_percent(&negative_count).is_err());
    }
}

/// Exhaustive over every possible TCP port, beyond the sampled properties above.
#[test]
fn node_port_rule_holds_for_every_tcp_port() {
    for port in 0..=65535 {
        assert_eq!(
            validate_node_port(port).is_ok(),
            (30000..=32767).contains(&port),
            "{port}"
        );
    }
}
