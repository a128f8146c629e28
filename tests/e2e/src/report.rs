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
    /// Failure signals and errors of the commands run, for the timeline (label, time).
    pub signals: Vec<(String, Duration)>,
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

/// The columns of the report's table.
pub const COLUMNS: [&str; 12] = [
    "scenario",
    "result",
    "requests sent",
    "failed",
    "duration",
    "outage window",
    "canary share",
    "shared the cluster",
    "start",
    "waited for a slot",
    "end",
    "NodePort",
];

/// One scenario's row of the table.
pub fn cells(o: &Outcome) -> [String; 12] {
    [
        o.name.clone(),
        match (&o.not_applicable, o.passed()) {
            (Some(_), _) => "not applicable",
            (None, true) => "pass",
            (None, false) => "FAIL",
        }
        .to_owned(),
        o.sent.to_string(),
        o.failed.to_string(),
        format!("{:.1}s", o.duration.as_secs_f64()),
        o.outage
            .map_or("-".into(), |d| format!("{:.2}s", d.as_secs_f64())),
        o.canary_share.map_or("-".into(), |(share, n)| {
            format!("{:.1}% of {n}", share * 100.0)
        }),
        alone_column(o),
        format!("{:.1}s", o.started.as_secs_f64()),
        format!("{:.1}s", o.waited.as_secs_f64()),
        format!("{:.1}s", (o.started + o.duration).as_secs_f64()),
        o.node_port.to_string(),
    ]
}

/// Writes `report.md`, the run chart `run.svg`, and a timeline SVG (and
/// its data as JSON) for each scenario with samples, into `dir`; returns the Markdown.
pub fn write(dir: &Path, provider: &str, run: &Run) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let outcomes = &run.outcomes;
    let serial: Duration = outcomes.iter().map(|o| o.duration).sum();
    let mut md = format!(
        "# End-to-end report\n\nProvider: **{provider}**. {} scenarios in **{:.1}s** wall time, up to {} side by side ({:.1}s if run one after another).\n\n| {} |\n|{}\n",
        outcomes.len(),
        run.wall.as_secs_f64(),
        run.jobs,
        serial.as_secs_f64(),
        COLUMNS.join(" | "),
        "---|".repeat(COLUMNS.len()),
    );
    for o in outcomes {
        let _ = writeln!(md, "| {} |", cells(o).join(" | "));
    }
    let chart = run_chart(run);
    std::fs::write(dir.join("run.svg"), &chart)?;
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
            let observed = timeline_of(o);
            let svg = timeline::render(&observed).svg;
            std::fs::write(dir.join(&file), &svg)?;
            let json = serde_json::to_string(&observed)?;
            std::fs::write(dir.join(format!("{}.timeline.json", o.name)), json)?;
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

/// What the scenario observed, as a timeline: the probe's answers, the pod monitor's
/// snapshots (ready and live pods per version), the steps and the failure signals.
pub fn timeline_of(o: &Outcome) -> timeline::Timeline {
    use timeline::{Answer, Mark, MarkKind, PodCount, PodSnapshot};
    let marks = o.marks.iter().map(|m| (m, MarkKind::Step));
    let signals = o.signals.iter().map(|m| (m, MarkKind::Signal));
    timeline::Timeline {
        title: format!(
            "{}: which version answered, {} requests",
            o.name,
            o.samples.len()
        ),
        answers: o
            .samples
            .iter()
            .map(|s| Answer {
                at: s.at.as_secs_f64(),
                outcome: timeline::Outcome::of(s.status, s.version.as_deref()),
            })
            .collect(),
        pods: o
            .snapshots
            .iter()
            .map(|s| PodSnapshot {
                at: s.at.as_secs_f64(),
                groups: s
                    .by_version
                    .iter()
                    .map(|(v, live)| {
                        let ready = s.ready_by_version.get(v).copied().unwrap_or(0);
                        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
                        let pods = PodCount {
                            ready: count(ready),
                            live: count(*live),
                        };
                        (v.clone(), pods)
                    })
                    .collect(),
            })
            .collect(),
        marks: marks
            .chain(signals)
            .map(|((label, at), kind)| Mark {
                at: at.as_secs_f64(),
                label: label.clone(),
                kind,
            })
            .collect(),
    }
}

/// A round tick spacing giving at most about 12 ticks over `end` seconds.
fn tick_step(end: f64) -> f64 {
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0]
        .into_iter()
        .find(|s| end / s <= 12.0)
        .unwrap_or(1200.0)
}
