//! `report.html`: the report's table and every picture inline, one file to open in a
//! browser (or to look at as the PNG `cargo xtask e2e` makes of it with headless Chromium).
//!
//! The page checks itself when it loads: a script counts the pictures that have a size
//! (were laid out) and writes the result, or the first script error, into the title, which
//! `cargo xtask e2e` reads back from Chromium's DOM dump.

use std::fmt::Write;
use std::path::Path;

use crate::report::{COLUMNS, Outcome, Run, cells, run_chart, timeline_of};

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG document as an element to inline (no XML declaration).
fn inline(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

const STYLE: &str = "body{font-family:'DejaVu Sans',sans-serif;margin:24px;color:#222}\
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
td:first-child,th:first-child{text-align:left}tr.fail td{background:#fde0e0}\
section{margin-top:28px}svg{display:block;max-width:100%;height:auto}ul{font-size:13px}";

const CHECK: &str = "<script>\
window.onerror=function(m){document.title='report error: '+m;};\
window.addEventListener('load',function(){\
var all=document.querySelectorAll('svg');var drawn=0;\
all.forEach(function(s){var r=s.getBoundingClientRect();if(r.width>0&&r.height>0){drawn++;}});\
if(document.title.indexOf('report error')!==0){document.title='report loaded: '+drawn+' of '+all.length+' pictures drawn; '+document.documentElement.scrollHeight+'px high';}\
});</script>";

/// Writes `report.html` into `dir`: the table, the run chart, and each scenario's notes and
/// timeline (for those with samples).
pub fn write(dir: &Path, provider: &str, run: &Run) -> std::io::Result<()> {
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>End-to-end report</title><style>{STYLE}</style>{CHECK}</head><body>\n<h1>End-to-end report: {}</h1>\n<p>{} scenarios in {:.1}s wall time, up to {} side by side.</p>\n<table><tr>",
        escape(provider),
        run.outcomes.len(),
        run.wall.as_secs_f64(),
        run.jobs
    );
    for c in COLUMNS {
        let _ = write!(h, "<th>{}</th>", escape(c));
    }
    h.push_str("</tr>\n");
    for o in &run.outcomes {
        let class = if o.passed() { "" } else { " class=\"fail\"" };
        let _ = write!(h, "<tr{class}>");
        for (i, cell) in cells(o).iter().enumerate() {
            if i == 0 {
                let _ = write!(h, "<td><a href=\"#{0}\">{0}</a></td>", escape(cell));
            } else {
                let _ = write!(h, "<td>{}</td>", escape(cell));
            }
        }
        h.push_str("</tr>\n");
    }
    let chart = run_chart(run);
    let _ = writeln!(h, "</table>\n<section>{}</section>", inline(&chart));
    for o in &run.outcomes {
        let picture = (!o.samples.is_empty()).then(|| timeline::render(&timeline_of(o)).svg);
        section(&mut h, provider, o, picture.as_deref());
    }
    h.push_str("</body></html>\n");
    std::fs::write(dir.join("report.html"), h)
}

fn section(h: &mut String, provider: &str, o: &Outcome, picture: Option<&str>) {
    let _ = writeln!(h, "<section id=\"{0}\"><h2>{0}</h2>", escape(&o.name));
    if let Some(e) = &o.error {
        let _ = writeln!(h, "<p><strong>FAILED</strong>: {}</p>", escape(e));
    }
    if let Some(why) = &o.not_applicable {
        let _ = writeln!(
            h,
            "<p>Not applicable on {}: {}</p>",
            escape(provider),
            escape(why)
        );
    }
    if !o.notes.is_empty() {
        h.push_str("<ul>");
        for n in &o.notes {
            let _ = write!(h, "<li>{}</li>", escape(n));
        }
        h.push_str("</ul>\n");
    }
    if let Some(svg) = picture {
        h.push_str(inline(svg));
    }
    h.push_str("</section>\n");
}
