//! The run's report: `report.md` with one row per scenario, and per scenario an SVG
//! timeline of which version answered over time.

use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use traffic_probe::Sample;

/// What a scenario measured and concluded.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The scenario's name.
    pub name: String,
    /// Why the scenario failed; None when it passed or did not apply.
    pub error: Option<String>,
    /// How long the scenario took, cleanup included.
    pub duration: Duration,
    /// Probe requests sent.
    pub sent: usize,
    /// Probe requests without a good answer (see [`Sample::ok`]).
    pub failed: usize,
    /// First to last failed request, where failures were expected (recreate).
    pub outage: Option<Duration>,
    /// Share of canary answers while the canary ran, with its sample size.
    pub canary_share: Option<(f64, usize)>,
    /// Facts worth reading (measured values, what was asserted).
    pub notes: Vec<String>,
    /// Every probe answer, for the timeline.
    pub samples: Vec<Sample>,
    /// Moments worth marking on the timeline (label, time).
    pub marks: Vec<(String, Duration)>,
    /// What the pod monitor saw, drawn under the answers.
    pub snapshots: Vec<crate::monitor::Snapshot>,
    /// Why the scenario does not apply to this provider (it then neither ran nor failed).
    pub not_applicable: Option<String>,
}

impl Outcome {
    /// Whether the scenario had no error (one that did not apply counts as passed).
    pub fn passed(&self) -> bool {
        self.error.is_none()
    }
    /// Records a note for the report and prints it at once.
    pub fn note(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("    {s}");
        self.notes.push(s);
    }
    /// Adds a probe's samples, counting them in `sent` and `failed`.
    pub fn add_samples(&mut self, samples: &[Sample]) {
        let s = traffic_probe::summarize(samples);
        self.sent += s.sent;
        self.failed += s.failed;
        self.samples.extend_from_slice(samples);
    }
}

/// Writes `report.md`, and a timeline SVG for each scenario with samples, into `dir`;
/// returns the Markdown.
pub fn write(dir: &Path, provider: &str, outcomes: &[Outcome]) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let mut md = format!(
        "# End-to-end report\n\nProvider: **{provider}**\n\n| scenario | result | requests sent | failed | duration | outage window | canary share |\n|---|---|---|---|---|---|---|\n",
    );
    for o in outcomes {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1}s | {} | {} |",
            o.name,
            match (&o.not_applicable, o.passed()) {
                (Some(_), _) => "not applicable",
                (None, true) => "pass",
                (None, false) => "FAIL",
            },
            o.sent,
            o.failed,
            o.duration.as_secs_f64(),
            o.outage
                .map_or("-".into(), |d| format!("{:.2}s", d.as_secs_f64())),
            o.canary_share.map_or("-".into(), |(share, n)| format!(
                "{:.1}% of {n}",
                share * 100.0
            )),
        );
    }
    for o in outcomes {
        let _ = writeln!(md, "\n## {}\n", o.name);
        if let Some(e) = &o.error {
            let _ = writeln!(md, "**FAILED**: {e}\n");
        }
        if let Some(why) = &o.not_applicable {
            let _ = writeln!(md, "Not applicable on {provider}: {why}\n");
        }
        for n in &o.notes {
            let _ = writeln!(md, "- {n}");
        }
        if !o.samples.is_empty() {
            let file = format!("{}.svg", o.name);
            std::fs::write(dir.join(&file), timeline(o))?;
            let _ = writeln!(md, "\n![{} timeline]({file})", o.name);
        }
    }
    std::fs::write(dir.join("report.md"), &md)?;
    Ok(md)
}

fn color(version: Option<&str>) -> &'static str {
    match version {
        Some("v1") => "#1f77b4",
        Some("v2") => "#2ca02c",
        Some("v3") => "#9467bd",
        Some("v4") => "#ff7f0e",
        Some("classic") => "#8c564b",
        Some("error") => "#d62728",
        _ => "#000000",
    }
}

/// One lane per version (plus one for failures), a tick per answer at the time it was sent;
/// under them, the pods the monitor saw (ready pods per version, live pods in all), the
/// marked moments across both, and a time axis with ticks.
pub fn timeline(o: &Outcome) -> String {
    let mut lanes: Vec<String> = Vec::new();
    for s in &o.samples {
        let lane = lane_of(s);
        if !lanes.contains(&lane) {
            lanes.push(lane);
        }
    }
    lanes.sort();
    let end = o
        .samples
        .iter()
        .map(|s| s.at + s.latency)
        .chain(o.snapshots.iter().map(|s| s.at))
        .max()
        .unwrap_or_default()
        .as_secs_f64()
        .max(1.0);
    let (left, width, lane_h) = (110.0, 900.0, 28.0);
    let pods_top = 40.0 + lane_h * lanes.len() as f64 + 10.0;
    let max_pods = o.snapshots.iter().map(|s| s.live).max().unwrap_or(0).max(1);
    let pods_h = if o.snapshots.is_empty() { 0.0 } else { 120.0 };
    let pods_bottom = pods_top + pods_h;
    let axis_y = pods_bottom + 16.0;
    let height = axis_y + 20.0;
    let x = |t: f64| left + width * t / end;
    let y_pods = |n: usize| pods_bottom - pods_h * n as f64 / max_pods as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<text x=\"10\" y=\"18\" font-size=\"14\">{}: which version answered, {} requests</text>\n",
        left + width + 20.0,
        o.name,
        o.samples.len()
    );
    for (i, lane) in lanes.iter().enumerate() {
        let y = 40.0 + lane_h * i as f64;
        let _ = writeln!(svg, "<text x=\"10\" y=\"{}\">{lane}</text>", y + 16.0);
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>",
            y + lane_h - 2.0,
            left + width,
            y + lane_h - 2.0
        );
    }
    for s in &o.samples {
        let lane = lanes.iter().position(|l| *l == lane_of(s)).unwrap_or(0);
        let y = 40.0 + lane_h * lane as f64 + 4.0;
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{y}\" width=\"2\" height=\"{}\" fill=\"{}\"/>",
            x(s.at.as_secs_f64()),
            lane_h - 10.0,
            color(if s.ok() {
                s.version.as_deref()
            } else {
                s.version.as_deref().filter(|v| *v == "error")
            })
        );
    }
    if !o.snapshots.is_empty() {
        let _ = writeln!(
            svg,
            "<text x=\"10\" y=\"{}\">pods</text><text x=\"10\" y=\"{}\" font-size=\"10\">ready per version,</text><text x=\"10\" y=\"{}\" font-size=\"10\">live (dashed)</text><text x=\"{}\" y=\"{}\" font-size=\"10\">{max_pods}</text><text x=\"{}\" y=\"{pods_bottom}\" font-size=\"10\">0</text>",
            pods_top + 14.0,
            pods_top + 28.0,
            pods_top + 40.0,
            left - 14.0,
            pods_top + 8.0,
            left - 14.0,
        );
        let mut versions: Vec<&String> = o
            .snapshots
            .iter()
            .flat_map(|s| s.by_version.keys())
            .collect();
        versions.sort();
        versions.dedup();
        let mut series: Vec<(String, &'static str, &'static str, Vec<usize>)> = versions
            .iter()
            .map(|v| {
                let counts = o
                    .snapshots
                    .iter()
                    .map(|s| s.ready_by_version.get(*v).copied().unwrap_or(0))
                    .collect();
                (format!("{v} ready"), color(Some(v)), "", counts)
            })
            .collect();
        series.push((
            "live".into(),
            "#555555",
            " stroke-dasharray=\"4,3\"",
            o.snapshots.iter().map(|s| s.live).collect(),
        ));
        for (_, stroke, dash, counts) in &series {
            let mut points = String::new();
            let mut prev: Option<usize> = None;
            for (s, n) in o.snapshots.iter().zip(counts) {
                let xs = x(s.at.as_secs_f64());
                if let Some(p) = prev {
                    let _ = write!(points, "{xs:.1},{:.1} ", y_pods(p));
                }
                let _ = write!(points, "{xs:.1},{:.1} ", y_pods(*n));
                prev = Some(*n);
            }
            if let Some(p) = prev {
                let _ = write!(points, "{:.1},{:.1}", left + width, y_pods(p));
            }
            let _ = writeln!(
                svg,
                "<polyline points=\"{points}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"1.5\"{dash}/>"
            );
        }
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" y1=\"{pods_bottom}\" x2=\"{}\" y2=\"{pods_bottom}\" stroke=\"#ddd\"/>",
            left + width
        );
    }
    for (label, t) in &o.marks {
        let xm = x(t.as_secs_f64());
        let _ = writeln!(
            svg,
            "<line x1=\"{xm:.1}\" y1=\"30\" x2=\"{xm:.1}\" y2=\"{pods_bottom}\" stroke=\"#999\" stroke-dasharray=\"3,3\"/><text x=\"{:.1}\" y=\"34\" font-size=\"10\">{label}</text>",
            xm + 2.0
        );
    }
    let step = tick_step(end);
    let mut t = 0.0;
    while t <= end + 1e-9 {
        let xt = x(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{xt:.1}\" y1=\"{}\" x2=\"{xt:.1}\" y2=\"{}\" stroke=\"#333\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{t:.0}s</text>",
            pods_bottom + 1.0,
            pods_bottom + 5.0,
            xt - 6.0,
            axis_y
        );
        t += step;
    }
    svg.push_str("</svg>\n");
    svg
}

/// A round tick spacing giving at most about 12 ticks over `end` seconds.
fn tick_step(end: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|s| end / s <= 12.0)
        .unwrap_or(1200.0)
}

fn lane_of(s: &Sample) -> String {
    match (&s.version, s.ok()) {
        (Some(v), true) => v.clone(),
        (Some(v), false) if v == "error" => "HTTP 500".into(),
        _ => "failed".into(),
    }
}
