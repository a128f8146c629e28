//! `maxSurge` / `maxUnavailable` values: an absolute pod count or a percentage of the
//! desired replicas, as `IntOrString` in the API.

use int_or_percent::IntOrPercent;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::error::ValidationError;

/// Parses `"1"` into `Int(1)` and `"25%"` into `String("25%")` with the parser the planner
/// and the CLI use ([`IntOrPercent`]); refuses negatives, fractions and anything else, as
/// the API server would.
pub fn parse_int_or_percent(s: &str) -> Result<IntOrString, ValidationError> {
    match s.parse::<IntOrPercent>() {
        Ok(IntOrPercent::Count(n)) => i32::try_from(n)
            .map(IntOrString::Int)
            .map_err(|_| ValidationError::NotIntOrPercent),
        // Canonical text: "025%" renders as "25%", so equal values render equally.
        Ok(p @ IntOrPercent::Percent(n)) if i32::try_from(n).is_ok() => {
            Ok(IntOrString::String(p.to_string()))
        }
        _ => Err(ValidationError::NotIntOrPercent),
    }
}

/// The value as a count when it is one, or `None` for a percentage; `0` and `0%` are both
/// "zero" for the rule that `maxSurge` and `maxUnavailable` must not both be.
pub fn is_zero(v: &IntOrString) -> bool {
    match v {
        IntOrString::Int(n) => *n == 0,
        IntOrString::String(s) => s == "0%",
    }
}

/// The percentage of a `String("N%")` value.
pub fn percent(v: &IntOrString) -> Option<i32> {
    match v {
        IntOrString::Int(_) => None,
        IntOrString::String(s) => s.strip_suffix('%').and_then(|p| p.parse().ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_percentages() {
        assert_eq!(parse_int_or_percent("1"), Ok(IntOrString::Int(1)));
        assert_eq!(
            parse_int_or_percent("25%"),
            Ok(IntOrString::String("25%".into()))
        );
        assert_eq!(
            parse_int_or_percent("025%"),
            Ok(IntOrString::String("25%".into()))
        );
        for bad in [
            "",
            "%",
            "-1",
            "-5%",
            "1.5",
            "5.5%",
            "abc",
            "25 %",
            "99999999999",
        ] {
            assert!(parse_int_or_percent(bad).is_err(), "{bad:?} accepted");
        }
    }
}
