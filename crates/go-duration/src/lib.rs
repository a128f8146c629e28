//! Durations exactly as kubectl read them: Go's `time.ParseDuration` (`1m0s`, `3s`, `1.5h`,
//! `300ms`, `2h45m`). As in Go, a number needs a unit (`30` is an error, only `0` stands
//! alone) and nothing else is accepted (`1min` is an error), so a command that works here
//! works with kubectl and back. Negative durations, which Go parses, mean nothing for these
//! flags and are refused.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::time::Duration;

/// kubectl's `--request-timeout`: a duration, or a bare integer meaning seconds.
pub fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => parse(text),
    }
}

/// Parses a duration flag value.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Some(duration) = parse_go(text) {
        return Ok(duration);
    }
    if text.starts_with('-') {
        return Err(format!("invalid duration {text:?}: must not be negative"));
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Go's own wording for a bare number.
        return Err(format!(
            "time: missing unit in duration {text:?} (e.g. {text}s)"
        ));
    }
    Err(format!(
        "time: invalid duration {text:?} (Go syntax, e.g. 1m30s, 30s, 500ms, 1.5h)"
    ))
}

/// Go's `time.ParseDuration` for non-negative values: one or more `<number><unit>` with
/// units ns, us (µs), ms, s, m, h; `0` alone is allowed.
fn parse_go(text: &str) -> Option<Duration> {
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_nanos += value * scale;
        rest = after;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total_nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax() {
        assert_eq!(parse("1m0s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse("5m0s"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse("2h45m"), Ok(Duration::from_secs(9900)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("10us"), Ok(Duration::from_micros(10)));
    }

    #[test]
    fn only_go_syntax_is_accepted() {
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(
            parse("10"),
            Err("time: missing unit in duration \"10\" (e.g. 10s)".into())
        );
        assert!(parse("1min").is_err());
        assert!(parse("1 m").is_err());
        assert!(parse("1M").is_err());
        assert!(
            parse("-1s")
                .err()
                .is_some_and(|e| e.contains("must not be negative"))
        );
        assert!(parse("").is_err());
        assert!(parse("-1s").is_err());
        assert!(parse("1x").is_err());
        assert!(parse("s").is_err());
        assert!(parse("1..5s").is_err());
    }
}
