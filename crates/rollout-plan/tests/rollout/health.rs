//! The failure verdict (`rollout_plan::health::assess`) over random observations.

use std::time::Duration;

use proptest::prelude::*;
use rollout_plan::health::{NewPod, PULL_FAILURES, Signal, Thresholds, Traffic, assess};

fn waiting_reason() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some("ContainerCreating".to_owned())),
        1 => Just(Some("CrashLoopBackOff".to_owned())),
        1 => prop::sample::select(PULL_FAILURES.to_vec()).prop_map(|r| Some(r.to_owned())),
    ]
}

fn new_pod() -> impl Strategy<Value = NewPod> {
    (any::<bool>(), 0u64..1200, 0u32..6, waiting_reason()).prop_map(
        |(ready, secs, restarts, waiting_reason)| NewPod {
            name: format!("p-{secs}-{restarts}"),
            ready,
            not_ready_for: if ready {
                Duration::ZERO
            } else {
                Duration::from_secs(secs)
            },
            restarts,
            waiting_message: waiting_reason.as_ref().map(|r| format!("because {r}")),
            waiting_reason,
        },
    )
}

fn thresholds() -> impl Strategy<Value = Thresholds> {
    (1u64..900, 0u32..5, prop::option::of(0u32..=100), 1u64..200).prop_map(
        |(deadline, max_restarts, rate, min_requests)| Thresholds {
            progress_deadline: Duration::from_secs(deadline),
            max_restarts,
            max_error_rate: rate.map(|r| f64::from(r) / 100.0),
            min_requests,
        },
    )
}

fn traffic() -> impl Strategy<Value = Option<Traffic>> {
    prop::option::of((0u64..1000, 0u64..1000).prop_map(|(a, b)| Traffic {
        requests: a.max(b),
        errors: a.min(b),
    }))
}

fn is_pull_failure(p: &NewPod) -> bool {
    p.waiting_reason
        .as_deref()
        .is_some_and(|r| PULL_FAILURES.contains(&r))
}

proptest! {
    /// Nothing fires while every signal is within its limit.
    #[test]
    fn healthy_versions_pass(pods in prop::collection::vec(new_pod(), 0..8), t in thresholds(), traffic in traffic()) {
        let healthy = pods.iter().all(|p| !is_pull_failure(p) && p.restarts <= t.max_restarts && (p.ready || p.not_ready_for <= t.progress_deadline));
        let rate_ok = match (t.max_error_rate, traffic) {
            (Some(max), Some(tr)) => tr.requests < t.min_requests || (tr.errors as f64) <= max * tr.requests as f64,
            _ => true,
        };
        prop_assert_eq!(assess("v", &pods, traffic, &t).is_none(), healthy && rate_ok);
    }

    /// A pull failure is reported whatever else is true, and names a failing pod.
    #[test]
    fn pull_failures_always_win(pods in prop::collection::vec(new_pod(), 1..8), t in thresholds(), traffic in traffic()) {
        let verdict = assess("v", &pods, traffic, &t);
        match pods.iter().find(|p| is_pull_failure(p)) {
            Some(first) => {
                let named = matches!(&verdict, Some(Signal::ImagePull { pod, .. }) if *pod == first.name);
                prop_assert!(named, "expected the pull failure of {}, got {:?}", first.name, verdict);
            }
            None => {
                let pull = matches!(verdict, Some(Signal::ImagePull { .. }));
                prop_assert!(!pull, "a pull failure without one: {:?}", verdict);
            }
        }
    }

    /// The error rate is judged only on enough answers (tried right around the minimum),
    /// fires exactly above the limit, and more errors never clear it.
    #[test]
    fn error_rate_needs_evidence_and_is_monotonic(t in thresholds(), around in -5i64..5, share in 0u64..=100, extra in 0u64..100) {
        let pods = [NewPod { name: "p".into(), ready: true, ..NewPod::default() }];
        let requests = u64::try_from(t.min_requests as i64 + around).unwrap_or(0);
        let tr = Traffic { requests, errors: requests * share / 100 };
        let v = assess("v", &pods, Some(tr), &t);
        let expected = match t.max_error_rate {
            Some(max) => requests >= t.min_requests && tr.errors as f64 > max * requests as f64,
            None => false,
        };
        prop_assert_eq!(v.is_some(), expected, "{:?} with {:?}", tr, t);
        if expected {
            let worse = Traffic { requests: tr.requests + extra, errors: tr.errors + extra };
            prop_assert!(assess("v", &pods, Some(worse), &t).is_some());
        }
    }

    /// The verdict's kind does not depend on the order the pods were listed in.
    #[test]
    fn order_does_not_matter(mut pods in prop::collection::vec(new_pod(), 0..8), t in thresholds(), traffic in traffic()) {
        let kind = |s: Option<Signal>| s.map(|s| std::mem::discriminant(&s));
        let a = kind(assess("v", &pods, traffic, &t));
        pods.reverse();
        prop_assert_eq!(a, kind(assess("v", &pods, traffic, &t)));
    }
}
