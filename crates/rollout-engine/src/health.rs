//! Observing the new version for the failure signals that `rollout_plan::health` judges:
//! the new pods' readiness, restarts and waiting reasons, and (for the analysis of canary
//! and blue-green) their answers as counted by their own `/metrics`.
//!
//! Why the pods' own counters: they need no extra component (no Prometheus, no mesh), are
//! read through the API server's pod proxy like any other request of ours, and count every
//! answer the version gave, whoever asked. Any pod exposing a Prometheus counter named
//! [`REQUESTS_METRIC`] with a `code` label works, not only kubia.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use rollout_plan::health::{NewPod, OnFailure, Signal, Thresholds, Traffic, assess};

use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::model::side::{self, is_terminating};
use crate::waiting::wait::{self, Look, Pending};
use crate::waiting::wake::Wake;

/// The counter read from each pod's `/metrics`: requests by status `code`.
pub const REQUESTS_METRIC: &str = "kubia_http_requests_total";

/// The failure signals to watch and what to do when one fires.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FailurePolicy {
    /// Limits for the new version.
    pub thresholds: Thresholds,
    /// `--on-failure`.
    pub on_failure: OnFailure,
}

/// The planner's view of the new version's live pods at `now` (seconds since the epoch).
pub(crate) fn new_pods(pods: &[Arc<Pod>], now: i64) -> Vec<NewPod> {
    pods.iter()
        .filter(|p| !is_terminating(p))
        .map(|p| new_pod(p, now))
        .collect()
}

fn new_pod(pod: &Pod, now: i64) -> NewPod {
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    let is_ready = ready.is_some_and(|c| c.status == "True");
    // Not Ready since the condition last changed, or since the pod was created.
    let since = ready
        .filter(|c| c.status != "True")
        .and_then(|c| c.last_transition_time.as_ref())
        .or(pod.metadata.creation_timestamp.as_ref())
        .map(|t| t.0.as_second());
    let not_ready_for = match (is_ready, since) {
        (false, Some(since)) => {
            std::time::Duration::from_secs(u64::try_from(now - since).unwrap_or(0))
        }
        _ => std::time::Duration::ZERO,
    };
    let containers = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let restarts = containers
        .iter()
        .map(|c| u32::try_from(c.restart_count).unwrap_or(0))
        .sum();
    let waiting = containers
        .iter()
        .find_map(|c| c.state.as_ref().and_then(|s| s.waiting.as_ref()));
    NewPod {
        name: pod.metadata.name.clone().unwrap_or_default(),
        ready: is_ready,
        not_ready_for,
        restarts,
        waiting_reason: waiting.and_then(|w| w.reason.clone()),
        waiting_message: waiting.and_then(|w| w.message.clone()),
    }
}

/// The sum of [`REQUESTS_METRIC`] over `pods`, read from each pod's `/metrics` on `port`
/// through the API server's pod proxy. A pod that does not answer (yet) counts as none.
pub(crate) async fn traffic(ctx: &Ctx, pods: &[Arc<Pod>], port: u16) -> Traffic {
    let mut total = Traffic::default();
    for pod in pods.iter().filter(|p| !is_terminating(p)) {
        let Some(name) = pod.metadata.name.as_deref() else {
            continue;
        };
        let path = format!(
            "/api/v1/namespaces/{}/pods/{name}:{port}/proxy/metrics",
            ctx.namespace()
        );
        let Ok(request) = http::Request::get(path).body(Vec::new()) else {
            continue;
        };
        if let Ok(text) = ctx.cluster.client.request_text(request).await {
            let t = parse_metrics(&text);
            total.requests += t.requests;
            total.errors += t.errors;
        }
    }
    total
}

/// Sends `count` requests to `/` of each pod through the pod proxy, so that a version no
/// client reaches yet (blue-green before the switch) has answers to judge.
pub(crate) async fn exercise(ctx: &Ctx, pods: &[Arc<Pod>], port: u16, count: u64) -> Result<()> {
    for pod in pods.iter().filter(|p| !is_terminating(p)) {
        let Some(name) = pod.metadata.name.as_deref() else {
            continue;
        };
        for _ in 0..count {
            ctx.check_cancel()?;
            let path = format!(
                "/api/v1/namespaces/{}/pods/{name}:{port}/proxy/",
                ctx.namespace()
            );
            let request = http::Request::get(path)
                .body(Vec::new())
                .map_err(|e| EngineError::Inconsistent(e.to_string()))?;
            // A 5xx answer is an error here; it is counted by the pod, which is the point.
            let _ = ctx.cluster.client.request_text(request).await;
        }
    }
    Ok(())
}

/// Judges RC `name`'s pods and answers for `window` (each `--poll-interval`), or without a
/// window until `min_requests` answers are in (at most the progress deadline). Returns the
/// first signal that fired, or `None`: the version passed.
pub(crate) async fn analyse(
    ctx: &Ctx,
    name: &str,
    policy: &FailurePolicy,
    port: u16,
    window: Option<std::time::Duration>,
) -> Result<Option<Signal>> {
    let t = &policy.thresholds;
    let started = tokio::time::Instant::now();
    let limit = window.unwrap_or(t.progress_deadline);
    // The window, not `--timeout`, bounds this wait: every look counts as progress.
    wait::until(ctx, async |_: &mut Wake| {
        let Some(state) = crate::waiting::observe::observe(ctx, name, 0).await? else {
            return Err(EngineError::RcNotFound(name.to_owned()));
        };
        let answers = match t.max_error_rate {
            Some(_) => Some(traffic(ctx, &state.pods, port).await),
            None => None,
        };
        let pods = new_pods(&state.pods, side::now_seconds());
        if let Some(signal) = assess(name, &pods, answers, t) {
            return Ok(Look::Done(Some(signal)));
        }
        let enough = answers.is_none_or(|a| a.requests >= t.min_requests);
        if (window.is_none() && enough) || started.elapsed() >= limit {
            if let Some(a) = answers {
                ctx.line(format!(
                    "Analysis of {name}: {} of {} answers were errors, within the limit",
                    a.errors, a.requests
                ));
            }
            return Ok(Look::Done(None));
        }
        Ok(Look::Pending(Pending {
            waiting: format!(
                "analysing {name}: {} answers so far",
                answers.map_or(0, |a| a.requests)
            ),
            stuck: String::new(),
            progressed: true,
            max: ctx.timing.poll_interval.min(limit),
        }))
    })
    .await
}

/// [`REQUESTS_METRIC`] samples of a Prometheus text exposition: all codes, and 5xx ones.
pub fn parse_metrics(text: &str) -> Traffic {
    let mut t = Traffic::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(REQUESTS_METRIC) else {
            continue;
        };
        let (labels, value) = match rest.strip_prefix('{') {
            Some(r) => match r.split_once('}') {
                Some((labels, value)) => (labels, value),
                None => continue,
            },
            None => ("", rest),
        };
        let Some(n) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
        else {
            continue;
        };
        let n = n as u64;
        let code = labels.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim() == "code").then(|| v.trim().trim_matches('"').to_owned())
        });
        t.requests += n;
        if code.is_some_and(|c| c.starts_with('5')) {
            t.errors += n;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubia_metrics_parse() {
        let text = "# HELP kubia_http_requests_total x\n# TYPE kubia_http_requests_total counter\nkubia_http_requests_total{code=\"200\"} 4\nkubia_http_requests_total{code=\"500\"} 36\nkubia_http_requests_total{code=\"405\"} 1\nother_total{code=\"500\"} 9\n";
        assert_eq!(
            parse_metrics(text),
            Traffic {
                requests: 41,
                errors: 36
            }
        );
        assert_eq!(parse_metrics("garbage"), Traffic::default());
        assert_eq!(
            parse_metrics("kubia_http_requests_total{method=\"GET\",code=\"503\"} 2e0\n"),
            Traffic {
                requests: 2,
                errors: 2
            }
        );
    }

    #[test]
    fn pods_are_seen_as_the_planner_needs() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubia-v9-x", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {
                "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-01-01T00:00:10Z"}],
                "containerStatuses": [{
                    "name": "c", "image": "x", "imageID": "", "ready": false, "restartCount": 3,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off"}}
                }]
            }
        }))
        .unwrap_or_default();
        let now = 1_767_225_600 + 70; // 2026-01-01T00:01:10Z
        let seen = new_pods(&[Arc::new(pod)], now);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].name, "kubia-v9-x");
        assert!(!seen[0].ready);
        assert_eq!(seen[0].not_ready_for.as_secs(), 60);
        assert_eq!(seen[0].restarts, 3);
        assert_eq!(seen[0].waiting_reason.as_deref(), Some("ImagePullBackOff"));
    }
}
