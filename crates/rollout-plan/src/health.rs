//! Whether the new version is bad: the failure signals every method checks, decided from
//! what was observed of the new pods and (for canary and blue-green) of their answers.
//!
//! Why here: stopping or rolling back a rollout is the most consequential decision the
//! engine makes, so it is a pure function of observations, tested exhaustively, like the
//! scaling plan. The engine only gathers [`NewPod`]s and [`Traffic`] and applies the verdict.

use std::fmt;
use std::time::Duration;

/// Image-pull failures: no deadline is needed to know these pods will not start.
pub const PULL_FAILURES: [&str; 4] = [
    "ErrImagePull",
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
];

/// The limits a new version must stay within.
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// How long a new pod may be not Ready (since it was created, or since it last became
    /// not Ready) before the version counts as failed.
    pub progress_deadline: Duration,
    /// Container restarts allowed per new pod.
    pub max_restarts: u32,
    /// Highest tolerated share of 5xx answers, in `[0, 1]`; `None` disables the analysis.
    pub max_error_rate: Option<f64>,
    /// Answers needed before the error rate is judged.
    pub min_requests: u64,
}

impl Default for Thresholds {
    /// The Deployment controller's progress deadline (600 s), 2 restarts, no rate analysis.
    fn default() -> Self {
        Thresholds {
            progress_deadline: Duration::from_secs(600),
            max_restarts: 2,
            max_error_rate: None,
            min_requests: 20,
        }
    }
}

/// What was observed of one pod of the new version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewPod {
    /// The pod's name.
    pub name: String,
    /// Whether its Ready condition is True.
    pub ready: bool,
    /// How long it has been not Ready (zero when Ready).
    pub not_ready_for: Duration,
    /// Restarts summed over its containers.
    pub restarts: u32,
    /// A container's waiting reason (`ImagePullBackOff`, `CrashLoopBackOff`...), if any.
    pub waiting_reason: Option<String>,
    /// That container's waiting message.
    pub waiting_message: Option<String>,
}

/// Answers of the new version since the analysis started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Answers counted.
    pub requests: u64,
    /// Of which 5xx.
    pub errors: u64,
}

/// A failure signal that fired, with its numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// A new pod's image cannot be pulled.
    ImagePull {
        /// The pod.
        pod: String,
        /// The waiting reason, as the kubelet reports it.
        reason: String,
        /// The kubelet's message.
        message: String,
    },
    /// A new pod restarted more often than allowed.
    Restarts {
        /// The pod.
        pod: String,
        /// Its restarts.
        restarts: u32,
        /// The allowance.
        max: u32,
    },
    /// A new pod stayed not Ready past the progress deadline.
    ProgressDeadline {
        /// The pod.
        pod: String,
        /// How long it has been not Ready.
        not_ready_for: Duration,
        /// The deadline.
        deadline: Duration,
    },
    /// The new version answered too many errors.
    ErrorRate {
        /// The version's name (the new RC).
        version: String,
        /// Its 5xx answers.
        errors: u64,
        /// Its answers.
        requests: u64,
        /// The highest tolerated rate.
        max: f64,
    },
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signal::ImagePull {
                pod,
                reason,
                message,
            } => {
                write!(f, "pod {pod} cannot pull its image ({reason}")?;
                if !message.is_empty() {
                    write!(f, ": {message}")?;
                }
                f.write_str(")")
            }
            Signal::Restarts { pod, restarts, max } => {
                write!(f, "pod {pod} restarted {restarts} times, more than {max}")
            }
            Signal::ProgressDeadline {
                pod,
                not_ready_for,
                deadline,
            } => write!(
                f,
                "pod {pod} has not been Ready for {}s, beyond the progress deadline of {}s",
                not_ready_for.as_secs(),
                deadline.as_secs()
            ),
            Signal::ErrorRate {
                version,
                errors,
                requests,
                max,
            } => write!(
                f,
                "{version} answered 5xx to {errors} of {requests} requests ({}), above {}",
                percent(ratio(*errors, *requests)),
                percent(*max)
            ),
        }
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// `0.71` → `71%`, `0.005` → `0.5%`.
fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("{}%", p.round())
    } else {
        format!("{p:.1}%")
    }
}

/// The first signal that fires, in order of certainty: pull failures (at once), restarts,
/// the error rate (once `min_requests` answers are in), then the progress deadline.
/// `None`: nothing is wrong yet.
pub fn assess(
    version: &str,
    pods: &[NewPod],
    traffic: Option<Traffic>,
    t: &Thresholds,
) -> Option<Signal> {
    if let Some(p) = pods.iter().find(|p| {
        p.waiting_reason
            .as_deref()
            .is_some_and(|r| PULL_FAILURES.contains(&r))
    }) {
        return Some(Signal::ImagePull {
            pod: p.name.clone(),
            reason: p.waiting_reason.clone().unwrap_or_default(),
            message: p.waiting_message.clone().unwrap_or_default(),
        });
    }
    if let Some(p) = pods.iter().find(|p| p.restarts > t.max_restarts) {
        return Some(Signal::Restarts {
            pod: p.name.clone(),
            restarts: p.restarts,
            max: t.max_restarts,
        });
    }
    if let (Some(max), Some(traffic)) = (t.max_error_rate, traffic)
        && traffic.requests >= t.min_requests.max(1)
        && ratio(traffic.errors, traffic.requests) > max
    {
        return Some(Signal::ErrorRate {
            version: version.to_owned(),
            errors: traffic.errors,
            requests: traffic.requests,
            max,
        });
    }
    pods.iter()
        .filter(|p| !p.ready && p.not_ready_for > t.progress_deadline)
        .max_by_key(|p| p.not_ready_for)
        .map(|p| Signal::ProgressDeadline {
            pod: p.name.clone(),
            not_ready_for: p.not_ready_for,
            deadline: t.progress_deadline,
        })
}

/// What to do once a signal fired (`--on-failure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Leave everything as it is; print how to resume or roll back (kubectl's behaviour).
    #[default]
    Stop,
    /// Return to the old version within the same bounds, then fail.
    Rollback,
}

impl std::str::FromStr for OnFailure {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stop" => Ok(OnFailure::Stop),
            "rollback" => Ok(OnFailure::Rollback),
            other => Err(format!(
                "invalid value {other:?}: expected \"stop\" or \"rollback\""
            )),
        }
    }
}

/// `--max-error-rate`: `1%`, `0.5%` or a fraction such as `0.01`.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let rate = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("invalid rate {text:?}: expected a percentage such as \"1%\""))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!(
            "invalid rate {text:?}: must be between 0% and 100%"
        ));
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> NewPod {
        NewPod {
            name: name.into(),
            ready: true,
            ..NewPod::default()
        }
    }

    #[test]
    fn the_tutorial_v3_is_caught_by_its_error_rate() {
        let t = Thresholds {
            max_error_rate: Some(0.01),
            ..Thresholds::default()
        };
        let traffic = Traffic {
            requests: 52,
            errors: 37,
        };
        let s = assess("kubia-v3", &[pod("a")], Some(traffic), &t);
        assert_eq!(
            s.map(|s| s.to_string()).as_deref(),
            Some("kubia-v3 answered 5xx to 37 of 52 requests (71.2%), above 1%")
        );
        // Exactly at the limit is still within it; a 0% limit tolerates no error at all.
        let at_limit = Traffic {
            requests: 100,
            errors: 1,
        };
        assert_eq!(assess("kubia-v3", &[pod("a")], Some(at_limit), &t), None);
        let strict = Thresholds {
            max_error_rate: Some(0.0),
            ..t.clone()
        };
        let clean = Traffic {
            requests: 100,
            errors: 0,
        };
        assert_eq!(assess("kubia-v3", &[pod("a")], Some(clean), &strict), None);
        assert!(assess("kubia-v3", &[pod("a")], Some(at_limit), &strict).is_some());
        // Too few answers to judge.
        let few = Traffic {
            requests: 19,
            errors: 19,
        };
        assert_eq!(assess("kubia-v3", &[pod("a")], Some(few), &t), None);
    }

    #[test]
    fn pull_failures_fire_at_once_and_win() {
        let mut p = pod("kubia-v9-x");
        p.ready = false;
        p.waiting_reason = Some("ImagePullBackOff".into());
        p.waiting_message = Some("Back-off pulling image \"luksa/kubia:v9\"".into());
        p.restarts = 9;
        let s = assess("kubia-v9", &[p], None, &Thresholds::default());
        assert_eq!(
            s.map(|s| s.to_string()).as_deref(),
            Some(
                "pod kubia-v9-x cannot pull its image (ImagePullBackOff: Back-off pulling image \"luksa/kubia:v9\")"
            )
        );
    }

    #[test]
    fn restarts_and_deadline() {
        let t = Thresholds {
            progress_deadline: Duration::from_secs(10),
            ..Thresholds::default()
        };
        let mut p = pod("p");
        p.restarts = 2;
        assert_eq!(assess("v", std::slice::from_ref(&p), None, &t), None);
        p.restarts = 3;
        assert!(matches!(
            assess("v", std::slice::from_ref(&p), None, &t),
            Some(Signal::Restarts { restarts: 3, .. })
        ));
        let mut q = pod("q");
        q.ready = false;
        q.not_ready_for = Duration::from_secs(10);
        assert_eq!(assess("v", std::slice::from_ref(&q), None, &t), None);
        q.not_ready_for = Duration::from_secs(11);
        assert_eq!(
            assess("v", std::slice::from_ref(&q), None, &t).map(|s| s.to_string()),
            Some("pod q has not been Ready for 11s, beyond the progress deadline of 10s".into())
        );
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("1%"), Ok(0.01));
        assert_eq!(parse_rate("0.5%"), Ok(0.005));
        assert_eq!(parse_rate("0.02"), Ok(0.02));
        assert!(parse_rate("101%").is_err());
        assert!(parse_rate("-1%").is_err());
        assert!(parse_rate("x").is_err());
        assert_eq!("rollback".parse(), Ok(OnFailure::Rollback));
        assert!("undo".parse::<OnFailure>().is_err());
    }
}
