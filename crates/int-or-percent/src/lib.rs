//! `IntOrPercent`: a pod count given either absolutely (`3`) or relative to a replica count
//! (`25%`), as Kubernetes' `maxSurge`/`maxUnavailable` are. One type for every place that
//! reads such a value: the rollout planner's bounds and canary steps, the CLI's flags and
//! the manifest generator's Deployment strategy.

#![forbid(unsafe_code)]

use std::fmt;
use std::str::FromStr;

/// An absolute count or a percentage, like the `IntOrString` fields `maxSurge` and
/// `maxUnavailable` of a Deployment. Kept unresolved because a percentage only becomes a
/// pod count once the replica count is known, and the rounding direction depends on the
/// field (see `rollout_plan::Limits::resolve`).
///
/// Text form: `"3"` or `"25%"`; [`Display`](fmt::Display) writes the same form, so values
/// round-trip through flags and annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntOrPercent {
    /// An absolute number of pods.
    Count(u32),
    /// A percentage of a replica count: `25%` is `Percent(25)`.
    Percent(u32),
}

/// Text that is neither a non-negative integer nor a percentage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {input:?}: expected a non-negative integer or a percentage such as \"25%\"")]
pub struct InvalidIntOrPercent {
    /// The rejected text, as given.
    pub input: String,
}

/// Which way a fractional pod count goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// Towards more pods (`maxSurge`, canary steps: a non-zero share is at least one pod).
    Up,
    /// Towards fewer pods (`maxUnavailable`: never remove more than asked).
    Down,
}

impl IntOrPercent {
    /// The pod count for `total` replicas. Returned as `u64` so that large percentages cannot
    /// overflow; callers decide what is too large.
    pub fn resolve(self, total: u32, rounding: Rounding) -> u64 {
        match self {
            IntOrPercent::Count(n) => u64::from(n),
            IntOrPercent::Percent(p) => {
                let scaled = u64::from(total) * u64::from(p);
                match rounding {
                    Rounding::Up => scaled.div_ceil(100),
                    Rounding::Down => scaled / 100,
                }
            }
        }
    }
}

impl FromStr for IntOrPercent {
    type Err = InvalidIntOrPercent;

    /// Accepts only ASCII digits with an optional trailing `%`: a sign, spaces or a decimal
    /// point are rejected rather than guessed at, since these values bound how many pods may
    /// be removed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidIntOrPercent {
            input: s.to_owned(),
        };
        let (digits, percent) = match s.strip_suffix('%') {
            Some(digits) => (digits, true),
            None => (s, false),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let n: u32 = digits.parse().map_err(|_| invalid())?;
        Ok(if percent {
            IntOrPercent::Percent(n)
        } else {
            IntOrPercent::Count(n)
        })
    }
}

impl fmt::Display for IntOrPercent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrPercent::Count(n) => write!(f, "{n}"),
            IntOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_counts_and_percentages() {
        assert_eq!("0".parse(), Ok(IntOrPercent::Count(0)));
        assert_eq!("1".parse(), Ok(IntOrPercent::Count(1)));
        assert_eq!("25%".parse(), Ok(IntOrPercent::Percent(25)));
        assert_eq!("0%".parse(), Ok(IntOrPercent::Percent(0)));
        assert_eq!("150%".parse(), Ok(IntOrPercent::Percent(150)));
        assert_eq!("007".parse(), Ok(IntOrPercent::Count(7)));
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "%",
            "-1",
            "-5%",
            "+1",
            " 1",
            "1 ",
            "25 %",
            "1.5",
            "1.5%",
            "%25",
            "25%%",
            "x",
            "4294967296",
            "99999999999%",
        ] {
            assert_eq!(
                bad.parse::<IntOrPercent>(),
                Err(InvalidIntOrPercent {
                    input: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn displays_canonical_form() {
        assert_eq!(IntOrPercent::Count(3).to_string(), "3");
        assert_eq!(IntOrPercent::Percent(25).to_string(), "25%");
    }

    #[test]
    fn resolves_with_rounding() {
        assert_eq!(IntOrPercent::Percent(25).resolve(10, Rounding::Up), 3);
        assert_eq!(IntOrPercent::Percent(25).resolve(10, Rounding::Down), 2);
        assert_eq!(IntOrPercent::Percent(100).resolve(7, Rounding::Down), 7);
        assert_eq!(IntOrPercent::Count(5).resolve(0, Rounding::Down), 5);
        assert_eq!(
            IntOrPercent::Percent(u32::MAX).resolve(u32::MAX, Rounding::Up),
            (u64::from(u32::MAX) * u64::from(u32::MAX)).div_ceil(100)
        );
    }

    fn any_value() -> impl Strategy<Value = IntOrPercent> {
        prop_oneof![
            any::<u32>().prop_map(IntOrPercent::Count),
            any::<u32>().prop_map(IntOrPercent::Percent),
        ]
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(value in any_value()) {
            prop_assert_eq!(value.to_string().parse::<IntOrPercent>(), Ok(value));
        }

        #[test]
        fn parse_never_panics_and_accepted_text_is_canonical_up_to_leading_zeros(s in "\\PC{0,12}") {
            if let Ok(value) = s.parse::<IntOrPercent>() {
                let shown = value.to_string();
                let trimmed = s.trim_start_matches('0');
                let expected = if trimmed.is_empty() || trimmed.starts_with('%') {
                    format!("0{trimmed}")
                } else {
                    trimmed.to_owned()
                };
                prop_assert_eq!(shown, expected);
            }
        }

        #[test]
        fn digit_strings_parse(n in any::<u32>(), percent in any::<bool>()) {
            let text = if percent { format!("{n}%") } else { n.to_string() };
            let expected = if percent { IntOrPercent::Percent(n) } else { IntOrPercent::Count(n) };
            prop_assert_eq!(text.parse::<IntOrPercent>(), Ok(expected));
        }

        #[test]
        fn rounding_up_and_down_differ_by_at_most_one(p in 0u32..=1000, total in 0u32..=10_000) {
            let v = IntOrPercent::Percent(p);
            let up = v.resolve(total, Rounding::Up);
            let down = v.resolve(total, Rounding::Down);
            prop_assert!(up == down || up == down + 1);
            prop_assert!(down * 100 <= u64::from(p) * u64::from(total));
            prop_assert!(up * 100 >= u64::from(p) * u64::from(total));
        }
    }
}
