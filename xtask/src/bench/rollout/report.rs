//! The benchmark's report: every run, then the medians against the targets, as Markdown.

use super::args::Args;
use super::measured::{Bounds, Run, Sides};
use crate::cluster::local;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub(super) fn render(args: &Args, bounds: &[Bounds], results: &[Sides]) -> String {
    use std::fmt::Write;
    let place = match args.fake_nodes {
        Some(m) => format!(
            "on {m} kwok fake nodes (pods Ready 0.15–0.3 s after scheduling); kube-controller-manager's and kube-scheduler's client QPS raised to {} (burst {}) for the benchmark",
            local::BENCH_QPS,
            local::BENCH_BURST
        ),
        None => "real pods on the local cluster's node".to_owned(),
    };
    let mut s = format!(
        "# bench rollout\n\n{} replicas, v1 → v2, {place}; our engine with `--update-period=0s`; runs alternate \
         sides, each on a quiet cluster (the previous run's namespace deleted first); medians of {} runs.\n\n\
         Both sides start in their steady state: the Deployment's ReplicaSet carries `pod-template-hash`, the engine's \
         old RC carries the `deployment` key (as every RC a rolling update created does). `engine, first update` starts \
         from an RC without it (as `kubectl create` makes it, the tutorial's `kubia-v1`): the engine first relabels its \
         pods one PATCH each, kubectl's step; reported, not compared.\n\n\
         Requests by user name from the audit log: the client (engine; or `kubectl set image` + `kubectl rollout status`; \
         in the namespace and outside it: RBAC reviews, discovery), its watches (each one request; the events they delivered in parentheses), the controllers doing the work (RC manager; \
         or Deployment + ReplicaSet controllers; in parentheses the events their watches delivered), and everyone else \
         (kubelet or kwok, scheduler, …: the same work on both sides, not compared).\n",
        args.replicas, args.runs
    );
    if args.debug_build {
        s.push_str(
            "\n**Debug build of the engine** (`--debug-build`): these numbers only show that the \
             benchmark runs; the engine users get is the release build.\n",
        );
    }
    for (b, sides) in bounds.iter().zip(results) {
        let (engine, deployment, first) = (&sides.engine, &sides.deployment, &sides.first_update);
        let _ = writeln!(
            s,
            "\n## maxSurge {}, maxUnavailable {}\n\n| run | side | time | client | client watches (events) | controllers (events) | total | others | engine peak RSS |\n|---|---|---|---|---|---|---|---|---|",
            b.surge, b.unavailable
        );
        for (i, (e, d)) in engine.iter().zip(deployment).enumerate() {
            row(&mut s, i + 1, "engine", e);
            row(&mut s, i + 1, "Deployment", d);
            if let Some(f) = first.get(i) {
                row(&mut s, i + 1, "engine, first update", f);
            }
        }
        let med = |runs: &[Run], f: &dyn Fn(&Run) -> f64| median(runs.iter().map(f).collect());
        let time = |r: &Run| r.took.as_secs_f64();
        let total = |r: &Run| r.requests.total() as f64;
        let client = |r: &Run| (r.requests.client + r.requests.client_watches) as f64;
        let controllers = |r: &Run| r.requests.controllers as f64;
        let _ = writeln!(
            s,
            "\n| median | engine | Deployment | ratio engine / Deployment | target |\n|---|---|---|---|---|"
        );
        let mut rows: Vec<(&str, &[Run], MedianRow)> = vec![
            (
                "time",
                engine,
                (&time, true, format!("<= {:.1}", b.targets.0)),
            ),
            (
                "API requests, total",
                engine,
                (&total, false, format!("<= {:.1}", b.targets.1)),
            ),
            ("  by the client", engine, (&client, false, "-".into())),
            (
                "  by the controllers",
                engine,
                (&controllers, false, "-".into()),
            ),
        ];
        if !first.is_empty() {
            rows.push((
                "first update: time",
                first,
                (&time, true, "(not compared)".into()),
            ));
            rows.push((
                "first update: API requests, total",
                first,
                (&total, false, "(not compared)".into()),
            ));
        }
        for (what, runs, (f, seconds, target)) in rows {
            let (e, d) = (med(runs, f), med(deployment, f));
            let show = |v: f64| {
                if seconds {
                    format!("{v:.2}s")
                } else {
                    format!("{v:.0}")
                }
            };
            let _ = writeln!(
                s,
                "| {what} | {} | {} | {:.2} | {target} |",
                show(e),
                show(d),
                e / d
            );
        }
        let peak = med(engine, &|r: &Run| r.peak_kib.unwrap_or(0) as f64);
        let _ = writeln!(
            s,
            "\nEngine peak resident memory (median): {:.1} MiB.",
            peak / 1024.0
        );
    }
    s
}

/// A row of the medians table: how to measure a run, in seconds?, the target.
type MedianRow<'a> = (&'a dyn Fn(&Run) -> f64, bool, String);

fn row(s: &mut String, i: usize, side: &str, r: &Run) {
    use std::fmt::Write;
    let q = &r.requests;
    let _ = writeln!(
        s,
        "| {i} | {side} | {:.2}s | {} | {} ({}) | {} ({}) | {} | {} | {} |",
        r.took.as_secs_f64(),
        q.client,
        q.client_watches,
        q.client_watch_events,
        q.controllers,
        q.controller_watch_events,
        q.total(),
        q.others,
        r.peak_kib
            .map_or("-".to_owned(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
    );
}
