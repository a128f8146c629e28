//! What each version of the kubia app answers.
//!
//! The bodies are byte-for-byte those of the book's Node.js apps, because the tutorial's
//! output (and our end-to-end assertions) are written in terms of them.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

/// One of the demo app's versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// `This is v1 running in pod <host>`.
    V1,
    /// `This is v2 running in pod <host>`.
    V2,
    /// Answers like v1 for 4 requests, then HTTP 500 forever: the book's bad release.
    V3,
    /// `This is v4 running in pod <host>`.
    V4,
    /// The older `kubia` app: `You've hit <host>`.
    Classic,
}

impl Variant {
    /// Every variant, in image order.
    pub const ALL: [Variant; 5] = [
        Variant::V1,
        Variant::V2,
        Variant::V3,
        Variant::V4,
        Variant::Classic,
    ];

    /// The name used on the command line, in `KUBIA_VARIANT` and in image tags
    /// (`classic` is published as `latest`, as the book's original image was).
    pub fn name(self) -> &'static str {
        match self {
            Variant::V1 => "v1",
            Variant::V2 => "v2",
            Variant::V3 => "v3",
            Variant::V4 => "v4",
            Variant::Classic => "classic",
        }
    }

    /// The image tag the book published this variant under.
    pub fn image_tag(self) -> &'static str {
        match self {
            Variant::Classic => "latest",
            other => other.name(),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error for an unknown variant name.
#[derive(Debug, thiserror::Error)]
#[error("unknown variant {0:?} (expected one of v1, v2, v3, v4, classic)")]
pub struct UnknownVariant(String);

impl FromStr for Variant {
    type Err = UnknownVariant;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .into_iter()
            .find(|v| v.name() == s || (s == "latest" && *v == Variant::Classic))
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// The answer to one request: status code and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status code: 200, or 500 for v3's failures.
    pub status: u16,
    /// The response body, one line ending in `\n`.
    pub body: String,
}

/// Produces the answers of one server instance. It owns v3's request counter, which is
/// why it is shared (by reference) between all connections rather than copied.
#[derive(Debug)]
pub struct Responder {
    variant: Variant,
    hostname: String,
    requests: AtomicU64,
}

impl Responder {
    /// A responder for `variant` that reports `hostname` (the pod name) in its answers.
    pub fn new(variant: Variant, hostname: impl Into<String>) -> Self {
        Self {
            variant,
            hostname: hostname.into(),
            requests: AtomicU64::new(0),
        }
    }

    /// The version this responder answers as.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The pod name put in the answers.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Answers one application request (not a health check). Counting is atomic, so under
    /// concurrent clients exactly the first four v3 requests succeed.
    pub fn answer(&self) -> Answer {
        let host = &self.hostname;
        match self.variant {
            Variant::Classic => ok(format!("You've hit {host}\n")),
            Variant::V3 => {
                let n = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
                if n >= 5 {
                    Answer {
                        status: 500,
                        body: format!("Some internal error has occurred! This is pod {host}\n"),
                    }
                } else {
                    ok(format!("This is v3 running in pod {host}\n"))
                }
            }
            v => ok(format!("This is {v} running in pod {host}\n")),
        }
    }
}

fn ok(body: String) -> Answer {
    Answer { status: 200, body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_the_book() {
        let r = |v| Responder::new(v, "kubia-abc").answer();
        assert_eq!(r(Variant::V1).body, "This is v1 running in pod kubia-abc\n");
        assert_eq!(r(Variant::V2).body, "This is v2 running in pod kubia-abc\n");
        assert_eq!(r(Variant::V4).body, "This is v4 running in pod kubia-abc\n");
        assert_eq!(r(Variant::Classic).body, "You've hit kubia-abc\n");
    }

    #[test]
    fn v3_fails_from_the_fifth_request_on() {
        let r = Responder::new(Variant::V3, "p");
        let statuses: Vec<u16> = (0..8).map(|_| r.answer().status).collect();
        assert_eq!(statuses, [200, 200, 200, 200, 500, 500, 500, 500]);
        assert_eq!(
            r.answer().body,
            "Some internal error has occurred! This is pod p\n"
        );
    }

    #[test]
    fn names_round_trip() {
        for v in Variant::ALL {
            assert_eq!(v.name().parse::<Variant>().unwrap(), v);
        }
        assert_eq!("latest".parse::<Variant>().unwrap(), Variant::Classic);
        assert!("v5".parse::<Variant>().is_err());
    }
}
