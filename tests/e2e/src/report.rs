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
    /// When it started, from the start of the run.
    pub started: Duration,
    /// How long it waited for a slot once it was next in line (see [`crate::schedule`]).
    pub waited: Duration,
    /// Whether it declared that it disturbs the whole cluster.
    pub alone: bool,
    /// When it had the cluster to itself (its disruptive part), from the start of the run.
    pub alone_spans: Vec<(Duration, Duration)>,
    /// Its Service's NodePort.
    pub node_port: u16,
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
        println!("[{}] {s}", self.name);
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

/// A whole run: its scenarios' outcomes, in the order they were declared, and how it ran.
#[derive(Debug, Default)]
pub struct Run {
    /// How many scenarios could run side by side.
    pub jobs: usize,
    /// The run's wall time, first start to last end.
    pub wall: Duration,
    /// Every scenario's outcome.
    pub outcomes: Vec<Outcome>,
}

/// Writes `report.md`, the run chart `run.svg`, and a timeline SVG for each scenario with
/// samples, into `dir`; returns the Markdown.
pub fn write(dir: &Path, provider: &str, run: &Run) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let outcomes = &run.outcomes;
    let serial: Duration = outcomes.iter().map(|o| o.duration).sum();
    let mut md = format!(
        "# End-to-end report\n\nProvider: **{provider}**. {} scenarios in **{:.1}s** wall time, up to {} side by side ({:.1}s if run one after another).\n\n| scenario | result | requests sent | failed | duration | outage window | canary share | shared the cluster | start | waited for a slot | end | NodePort |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        outcomes.len(),
        run.wall.as_secs_f64(),
        run.jobs,
        serial.as_secs_f64(),
    );
    for o in outcomes {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1}s | {} | {} | {} | {:.1}s | {:.1}s | {:.1}s | {} |",
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
            alone_column(o),
            o.started.as_secs_f64(),
            o.waited.as_secs_f64(),
            (o.started + o.duration).as_secs_f64(),
            o.node_port,
        );
    }
    std::fs::write(dir.join("run.svg"), run_chart(run))?;
    let _ = writeln!(md, "\n![the run: which scenario ran when](run.svg)");
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

/// How a scenario shared the cluster: side by side, or alone for its disruptive part(s).
fn alone_column(o: &Outcome) -> String {
    if o.alone_spans.is_empty() {
        return if o.alone {
            "alone (did not run)"
        } else {
            "side by side"
        }
        .to_owned();
    }
    let spans: Vec<String> = o
        .alone_spans
        .iter()
        .map(|(from, to)| format!("{:.1}s-{:.1}s", from.as_secs_f64(), to.as_secs_f64()))
        .collect();
    format!("alone {}", spans.join(", "))
}

/// The whole run in one picture: a row per scenario that ran, in start order, its bar from
/// start to end (green passed, red failed; darker in a black frame while it had the cluster
/// to itself), a thin grey
/// lead-in while it waited for a slot, and a time axis with ticks.
pub fn run_chart(run: &Run) -> String {
    let mut rows: Vec<&Outcome> = run
        .outcomes
        .iter()
        .filter(|o| o.not_applicable.is_none())
        .collect();
    rows.sort_by_key(|o| o.started);
    let end = run
        .wall
        .max(
            rows.iter()
                .map(|o| o.started + o.duration)
                .max()
                .unwrap_or_default(),
        )
        .as_secs_f64()
        .max(1.0);
    let (left, width, row_h, top) = (250.0, 760.0, 20.0, 58.0);
    let x = |t: f64| left + width * t / end;
    let bottom = top + row_h * rows.len() as f64;
    let axis_y = bottom + 18.0;
    let height = axis_y + 40.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"20\" font-size=\"14\">The run: {} scenarios in {:.1}s, up to {} side by side</text>\n",
        left + width + 30.0,
        rows.len(),
        run.wall.as_secs_f64(),
        run.jobs,
    );
    // The legend, on its own line under the title.
    let legend: [(&str, &str, &str); 4] = [
        ("#2ca02c", "", "passed"),
        ("#d62728", "", "failed"),
        (
            "#2ca02c",
            " stroke=\"#000\" stroke-width=\"2\"",
            "ran alone",
        ),
        ("#bbbbbb", "", "waited for a slot"),
    ];
    for (i, (fill, stroke, label)) in legend.iter().enumerate() {
        let lx = 10.0 + 150.0 * i as f64;
        let _ = writeln!(
            svg,
            "<rect x=\"{lx}\" y=\"30\" width=\"14\" height=\"10\" fill=\"{fill}\"{stroke}/><text x=\"{}\" y=\"40\">{label}</text>",
            lx + 20.0
        );
    }
    for (i, o) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(svg, "<text x=\"10\" y=\"{}\">{}</text>", y + 14.0, o.name);
        let from = o.started.saturating_sub(o.waited).as_secs_f64();
        let start = o.started.as_secs_f64();
        if start > from {
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"4\" fill=\"#bbbbbb\"/>",
                x(from),
                y + 8.0,
                x(start) - x(from)
            );
        }
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"><title>{}: {:.1}s to {:.1}s</title></rect>",
            x(start),
            y + 3.0,
            (x(start + o.duration.as_secs_f64()) - x(start)).max(1.0),
            row_h - 6.0,
            if o.passed() { "#2ca02c" } else { "#d62728" },
            o.name,
            start,
            start + o.duration.as_secs_f64()
        );
        for (from, to) in &o.alone_spans {
            let (from, to) = (from.as_secs_f64(), to.as_secs_f64());
            let _ = writeln!(
                svg,
                "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\" stroke=\"#000\" stroke-width=\"2\"><title>{}: the cluster to itself from {from:.1}s to {to:.1}s</title></rect>",
                x(from),
                y + 3.0,
                (x(to) - x(from)).max(1.0),
                row_h - 6.0,
                if o.passed() { "#145214" } else { "#7f1010" },
                o.name,
            );
        }
    }
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{}\" y2=\"{bottom}\" stroke=\"#333\"/>",
        left + width
    );
    let step = tick_step(end);
    let mut t = 0.0;
    while t <= end + 1e-9 {
        let xt = x(t);
        let _ = writeln!(
            svg,
            "<line x1=\"{xt:.1}\" y1=\"{top}\" x2=\"{xt:.1}\" y2=\"{}\" stroke=\"#eee\"/><line x1=\"{xt:.1}\" y1=\"{bottom}\" x2=\"{xt:.1}\" y2=\"{}\" stroke=\"#333\"/><text x=\"{xt:.1}\" y=\"{axis_y}\" font-size=\"10\" text-anchor=\"middle\">{t:.0}s</text>",
            bottom,
            bottom + 5.0,
        );
        t += step;
    }
    let _ = writeln!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds since the first scenario started</text>",
        left + width / 2.0,
        axis_y + 20.0
    );
    svg.push_str("</svg>\n");
    svg
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
