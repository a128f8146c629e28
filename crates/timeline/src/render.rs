//! The picture, top to bottom: the title; a legend (what the pod lines and the marks mean);
//! the band of mark labels, in as many rows as they need; one lane per outcome of a request
//! (each version, each HTTP error, "failed") with a tick per request; the pods panel (ready
//! solid, live dashed, per group) with its count axis; the time axis. Vertical lines join
//! each mark's label to the moment it stands for.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::layout::{Anchor, Rows, TextBox, text_width};
use crate::model::{MarkKind, Outcome, Timeline};

/// The picture's width; its height follows from what it holds.
const WIDTH: f64 = 1000.0;
/// The plot's right edge (room for the last time label).
const RIGHT: f64 = WIDTH - 28.0;
/// Height of one answer lane.
const LANE_H: f64 = 22.0;
/// Height of the pods panel.
const PODS_H: f64 = 140.0;
/// Height of one row of mark labels.
const MARK_ROW_H: f64 = 14.0;
/// Room kept free at the picture's edges.
const EDGE: f64 = 4.0;

/// A rendered timeline.
#[derive(Debug, Clone)]
pub struct Picture {
    /// The SVG document.
    pub svg: String,
    /// The box of every text in it.
    pub texts: Vec<TextBox>,
    /// Its width.
    pub width: f64,
    /// Its height.
    pub height: f64,
}

impl Picture {
    /// What is wrong with the labels: texts that overlap, texts not wholly inside.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for b in &self.texts {
            if b.x0 < 0.0 || b.y0 < 0.0 || b.x1 > self.width || b.y1 > self.height {
                out.push(format!(
                    "{:?} is cut: [{:.1}, {:.1}] x [{:.1}, {:.1}] outside {}x{}",
                    b.text, b.x0, b.x1, b.y0, b.y1, self.width, self.height
                ));
            }
        }
        for (i, a) in self.texts.iter().enumerate() {
            for b in &self.texts[i + 1..] {
                if a.intersects(b) {
                    out.push(format!("{:?} overlaps {:?}", a.text, b.text));
                }
            }
        }
        out
    }
}

/// The SVG being written, and the boxes of its texts.
struct Canvas {
    body: String,
    texts: Vec<TextBox>,
}

impl Canvas {
    fn text(&mut self, text: &str, x: f64, y: f64, size: f64, anchor: Anchor, fill: &str) {
        self.texts.push(TextBox::of(text, size, x, y, anchor));
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size}\" text-anchor=\"{}\" fill=\"{fill}\">{}</text>",
            anchor.svg(),
            escape(text)
        );
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, dash: &str) {
        let dash = if dash.is_empty() {
            String::new()
        } else {
            format!(" stroke-dasharray=\"{dash}\"")
        };
        let _ = writeln!(
            self.body,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"{stroke}\"{dash}/>"
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The colour of a version or of an RC named after one (`v2`, `kubia-v2`); other names get
/// a colour of their own by their place among `others`.
fn color(name: &str, others: &[&str]) -> &'static str {
    const PALETTE: [&str; 6] = [
        "#17becf", "#bcbd22", "#e377c2", "#7f7f7f", "#8c564b", "#aec7e8",
    ];
    let version = name.rsplit('-').next().unwrap_or(name);
    match version {
        "v1" => "#1f77b4",
        "v2" => "#2ca02c",
        "v3" => "#9467bd",
        "v4" => "#ff7f0e",
        _ => {
            let i = others.iter().position(|o| *o == name).unwrap_or(0);
            PALETTE[i % PALETTE.len()]
        }
    }
}

const ERROR_RED: &str = "#d62728";

/// How a line of the pods panel (and its legend swatch) is drawn: ready pods wide and
/// translucent, live pods (`dash`) thin and dashed, so that where the two counts are equal
/// both stay visible, the dashes over the band.
fn pod_line_style(dash: &str) -> String {
    match dash {
        "" => " stroke-width=\"3.5\" stroke-opacity=\"0.45\"".to_owned(),
        dash => format!(" stroke-width=\"1.3\" stroke-dasharray=\"{dash}\""),
    }
}
const STEP_GREY: &str = "#777777";

fn lane_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Version(v) => v.clone(),
        Outcome::Status(code) => format!("HTTP {code}"),
        Outcome::Failed => "failed".to_owned(),
    }
}

/// A round spacing for about `most` ticks over `0..=max`.
fn nice_step(max: f64, most: f64) -> f64 {
    let raw = (max / most).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

/// `text`, shortened with `…` to fit `width` at `size`.
fn fit(text: &str, size: f64, width: f64) -> String {
    if text_width(text, size) <= width {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let cut: String = chars.iter().collect::<String>() + "…";
        if text_width(&cut, size) <= width {
            return cut;
        }
    }
    String::new()
}

/// Draws `t`.
pub fn render(t: &Timeline) -> Picture {
    let end = t.end();
    let lanes: Vec<Outcome> = t
        .answers
        .iter()
        .map(|a| a.outcome.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let groups: Vec<&str> = t
        .pods
        .iter()
        .flat_map(|p| p.groups.keys().map(String::as_str))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let max_pods = t
        .pods
        .iter()
        .flat_map(|p| p.groups.values())
        .map(|c| c.live.max(c.ready))
        .max()
        .unwrap_or(0)
        .max(1);
    let pod_step = nice_step(f64::from(max_pods), 5.0).max(1.0);
    let pod_top = (f64::from(max_pods) / pod_step).ceil() * pod_step;

    // Left: the lane labels and "pods", then the pod counts, then the plot.
    let label_w = lanes
        .iter()
        .map(|l| text_width(&lane_name(l), 12.0))
        .chain([text_width("pods", 12.0)])
        .fold(0.0, f64::max);
    let tick_w = text_width(&format!("{pod_top:.0}"), 10.0);
    let left = (10.0 + label_w + 8.0 + tick_w + 8.0).max(80.0).ceil();
    let x = |at: f64| left + (RIGHT - left) * at.clamp(0.0, end) / end;

    let mut c = Canvas {
        body: String::new(),
        texts: Vec::new(),
    };
    let title = fit(&t.title, 14.0, WIDTH - 20.0);
    c.text(&title, 10.0, 22.0, 14.0, Anchor::Start, "#000");

    // The legend, wrapped.
    // (colour, line style, label)
    let mut legend: Vec<(&str, String, String)> = Vec::new();
    for g in &groups {
        legend.push((color(g, &groups), pod_line_style(""), format!("{g} ready")));
        legend.push((
            color(g, &groups),
            pod_line_style("4,3"),
            format!("{g} live"),
        ));
    }
    if t.marks.iter().any(|m| m.kind == MarkKind::Step) {
        let dashed = " stroke-dasharray=\"3,3\"".to_owned();
        legend.push((STEP_GREY, dashed, "step".to_owned()));
    }
    if t.marks.iter().any(|m| m.kind == MarkKind::Signal) {
        legend.push((ERROR_RED, String::new(), "failure signal".to_owned()));
    }
    let (mut lx, mut ly) = (10.0, 44.0);
    for (stroke, style, label) in &legend {
        let w = 20.0 + text_width(label, 11.0);
        if lx + w > WIDTH - 10.0 && lx > 10.0 {
            lx = 10.0;
            ly += 18.0;
        }
        let _ = writeln!(
            c.body,
            "<line x1=\"{lx:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{stroke}\"{}/>",
            lx + 16.0,
            style,
            y = ly - 4.0
        );
        c.text(label, lx + 20.0, ly, 11.0, Anchor::Start, "#000");
        lx += w + 16.0;
    }
    let legend_bottom = if legend.is_empty() { 30.0 } else { ly + 6.0 };

    // The marks' labels, in rows.
    let band_top = legend_bottom + 4.0;
    let mut marks: Vec<&crate::model::Mark> = t.marks.iter().collect();
    marks.sort_by(|a, b| a.at.total_cmp(&b.at));
    let mut rows = Rows::default();
    let mut placed = Vec::new();
    for m in &marks {
        let mx = x(m.at);
        let label = fit(&m.label, 10.0, WIDTH - 2.0 * EDGE - 6.0);
        let w = text_width(&label, 10.0);
        let (x0, anchor, tx) = if mx + 3.0 + w <= WIDTH - EDGE {
            (mx + 3.0, Anchor::Start, mx + 3.0)
        } else if mx - 3.0 - w >= EDGE {
            (mx - 3.0 - w, Anchor::End, mx - 3.0)
        } else {
            (EDGE, Anchor::Start, EDGE)
        };
        let row = rows.place(x0, x0 + w);
        placed.push((m, mx, row, label, anchor, tx));
    }
    let band_bottom = band_top + MARK_ROW_H * rows.len() as f64 + 4.0;

    // The answer lanes.
    let lanes_top = band_bottom + 4.0;
    for (i, lane) in lanes.iter().enumerate() {
        let y0 = lanes_top + LANE_H * i as f64;
        c.text(
            &lane_name(lane),
            10.0,
            y0 + 15.0,
            12.0,
            Anchor::Start,
            "#000",
        );
        c.line(
            (left, y0 + LANE_H - 1.0),
            (RIGHT, y0 + LANE_H - 1.0),
            "#e0e0e0",
            "",
        );
        let fill = match lane {
            Outcome::Version(v) => color(v, &groups),
            Outcome::Status(_) => ERROR_RED,
            Outcome::Failed => "#000000",
        };
        for a in t.answers.iter().filter(|a| a.outcome == *lane) {
            let _ = writeln!(
                c.body,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"1.5\" height=\"{}\" fill=\"{fill}\"/>",
                x(a.at),
                y0 + 4.0,
                LANE_H - 9.0
            );
        }
    }
    let lanes_bottom = lanes_top + LANE_H * lanes.len() as f64;

    // The pods panel.
    let plot_bottom = if t.pods.is_empty() {
        lanes_bottom
    } else {
        let top = lanes_bottom + 12.0;
        let bottom = top + PODS_H;
        let y = |n: f64| bottom - PODS_H * n / pod_top;
        c.text("pods", 10.0, top + 12.0, 12.0, Anchor::Start, "#000");
        let mut v = 0.0;
        while v <= pod_top + 1e-9 {
            c.line((left, y(v)), (RIGHT, y(v)), "#f0f0f0", "");
            c.line((left - 4.0, y(v)), (left, y(v)), "#333", "");
            c.text(
                &format!("{v:.0}"),
                left - 6.0,
                y(v) + 3.5,
                10.0,
                Anchor::End,
                "#333",
            );
            v += pod_step;
        }
        c.line((left, top), (left, bottom), "#333", "");
        for g in &groups {
            for (dash, live) in [("", false), ("4,3", true)] {
                let mut points = String::new();
                let mut prev: Option<f64> = None;
                for p in &t.pods {
                    let n = p
                        .groups
                        .get(*g)
                        .map_or(0, |c| if live { c.live } else { c.ready });
                    let xs = x(p.at);
                    if let Some(prev) = prev {
                        let _ = write!(points, "{xs:.1},{:.1} ", y(prev));
                    }
                    let _ = write!(points, "{xs:.1},{:.1} ", y(f64::from(n)));
                    prev = Some(f64::from(n));
                }
                if let Some(prev) = prev {
                    let _ = write!(points, "{RIGHT:.1},{:.1}", y(prev));
                }
                let _ = writeln!(
                    c.body,
                    "<polyline points=\"{points}\" fill=\"none\" stroke=\"{}\"{}/>",
                    color(g, &groups),
                    pod_line_style(dash)
                );
            }
        }
        bottom
    };

    // The marks: a line from each label's row down to the plot's bottom.
    for (m, mx, row, label, anchor, tx) in &placed {
        let (stroke, dash) = match m.kind {
            MarkKind::Step => (STEP_GREY, "3,3"),
            MarkKind::Signal => (ERROR_RED, ""),
        };
        let baseline = band_top + MARK_ROW_H * (*row as f64 + 1.0) - 3.0;
        c.line((*mx, baseline - 9.0), (*mx, plot_bottom), stroke, dash);
        c.text(label, *tx, baseline, 10.0, *anchor, stroke);
    }

    // The time axis.
    c.line((left, plot_bottom), (RIGHT, plot_bottom), "#333", "");
    let step = nice_step(end, 10.0).max(1.0);
    let mut at = 0.0;
    while at <= end + 1e-9 {
        let xt = x(at);
        c.line((xt, plot_bottom), (xt, plot_bottom + 4.0), "#333", "");
        c.text(
            &format!("{at:.0}s"),
            xt,
            plot_bottom + 18.0,
            10.0,
            Anchor::Middle,
            "#333",
        );
        at += step;
    }
    let height = (plot_bottom + 28.0).ceil();
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"DejaVu Sans, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
        c.body
    );
    Picture {
        svg,
        texts: c.texts,
        width: WIDTH,
        height,
    }
}

#[cfg(test)]
mod tests;
