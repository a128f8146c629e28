//! The data plane around a fault: how long kube-proxy kept sending requests to pods after
//! their deletion, and the longer shutdown delay the API server restart needs for that.
//!
//! A restarted API server breaks every client's watches at once. client-go's reflectors
//! (kube-proxy's, the controller manager's) retry with an exponential backoff of 0.8 s
//! doubling to 30 s, jittered up to twice that, and after the restart a watch from a
//! resource version older than the new watch cache fails (410 Gone), costing a relist after
//! one more backoff. So kube-proxy can go on routing to a deleted pod for up to two minutes
//! (seen here: 67 s and 102 s), whoever deleted it: the lag is kube-proxy's, not the
//! engine's. What keeps requests from failing meanwhile is the pod's own shutdown delay (it
//! serves on after SIGTERM), so that scenario's pods get one covering that worst case.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{EnvVar, PodSpec};
use kubia_manifests::hardening::SHUTDOWN_DELAY_ENV;
use traffic_probe::Sample;

/// Two maximal reflector backoffs (60 s each, see the module docs) and some headroom.
pub(super) const API_RESTART_SHUTDOWN_DELAY: Duration = Duration::from_secs(150);

/// Gives the pods [`API_RESTART_SHUTDOWN_DELAY`], and the grace period it needs (plus the
/// server's 10 s drain and some headroom).
pub(super) fn long_shutdown(spec: &mut PodSpec) {
    let delay = API_RESTART_SHUTDOWN_DELAY.as_secs();
    spec.termination_grace_period_seconds = Some(delay as i64 + 20);
    for c in &mut spec.containers {
        c.env.get_or_insert_with(Vec::new).push(EnvVar {
            name: SHUTDOWN_DELAY_ENV.to_owned(),
            value: Some(format!("{delay}s")),
            ..EnvVar::default()
        });
    }
}

/// The pod that answered longest after it was seen terminating, with how long after.
pub(super) fn longest_after_deletion(
    samples: &[Sample],
    terminating_since: &BTreeMap<String, Duration>,
) -> Option<(String, Duration)> {
    samples
        .iter()
        .filter(|s| s.ok())
        .filter_map(|s| {
            let pod = s.pod.as_ref()?;
            let since = terminating_since.get(pod)?;
            Some((pod.clone(), s.at.checked_sub(*since)?))
        })
        .max_by_key(|(_, after)| *after)
}

/// One line for the report.
pub(super) fn describe(longest: Option<(String, Duration)>) -> String {
    match longest {
        Some((pod, after)) => format!(
            "the Service sent requests to terminating pods up to {:.1}s after their deletion ({pod})",
            after.as_secs_f64()
        ),
        None => "no request reached a terminating pod".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(at_ms: u64, pod: &str) -> Sample {
        Sample {
            at: Duration::from_millis(at_ms),
            latency: Duration::from_millis(1),
            status: Some(200),
            version: Some("v1".into()),
            pod: Some(pod.into()),
            error: None,
        }
    }

    #[test]
    fn the_latest_answer_after_a_deletion_counts() {
        let since = BTreeMap::from([
            ("a".to_owned(), Duration::from_secs(10)),
            ("b".to_owned(), Duration::from_secs(20)),
        ]);
        let samples = [
            answer(5_000, "a"),
            answer(12_000, "a"),
            answer(21_000, "b"),
            answer(30_000, "c"),
        ];
        assert_eq!(
            longest_after_deletion(&samples, &since),
            Some(("a".to_owned(), Duration::from_secs(2)))
        );
        assert_eq!(longest_after_deletion(&samples[..1], &since), None);
        let mut failed = answer(40_000, "b");
        failed.status = None;
        assert_eq!(
            longest_after_deletion(&[failed], &since),
            None,
            "only answers count"
        );
    }

    #[test]
    fn the_long_shutdown_covers_its_delay() {
        let mut spec = PodSpec {
            containers: vec![Default::default()],
            ..PodSpec::default()
        };
        long_shutdown(&mut spec);
        let env = spec.containers[0].env.as_ref().expect("env");
        assert_eq!(env[0].value.as_deref(), Some("150s"));
        assert!(spec.termination_grace_period_seconds > Some(150));
    }
}
