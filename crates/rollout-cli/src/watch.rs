//! `status --watch`: the engine follows the update ([`rollout_engine::follow`]); this shows
//! it. On a terminal the frame is redrawn in place every look (counts, bounds, who drives
//! it, the pods' troubles, elapsed time); otherwise one line is printed per change, so a
//! log or a CI job reads like a story. The exit code is the update's outcome.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use rollout_engine::follow::{self, Frame};
use rollout_engine::{Ctx, EngineError};

/// The lines of `frame` after `elapsed` seconds, for a terminal.
pub fn lines(frame: &Frame, elapsed: u64) -> Vec<String> {
    let mut out = vec![frame.update.clone()];
    for rc in &frame.rcs {
        out.push(format!(
            "  {:<24} desired {:>3}  live {:>3}  ready {:>3}  available {:>3}",
            rc.name, rc.desired, rc.live, rc.ready, rc.available
        ));
    }
    if let Some(bounds) = &frame.bounds {
        let bounds = bounds.split_once(": ").map_or(bounds.as_str(), |(_, b)| b);
        out.push(format!("  bounds: {bounds}"));
    }
    for signal in &frame.signals {
        out.push(format!("  signal: {signal}"));
    }
    out.push(format!("  {}; {elapsed}s", frame.engine));
    out
}

/// `frame` on one line, for logs (no elapsed time: it is printed only when this changes).
pub fn one_line(frame: &Frame) -> String {
    let rcs: Vec<String> = frame
        .rcs
        .iter()
        .map(|rc| {
            format!(
                "{} {}/{} live, {} available",
                rc.name, rc.live, rc.desired, rc.available
            )
        })
        .collect();
    let mut line = format!("{}; {}", rcs.join("; "), frame.engine);
    for signal in &frame.signals {
        line.push_str("; signal: ");
        line.push_str(signal);
    }
    line
}

/// Follows and shows the update; `Err` when it did not complete.
pub async fn run(ctx: &Ctx, rc: Option<&str>) -> Result<(), EngineError> {
    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut drawn = 0usize;
    let mut last = String::new();
    let ending = follow::follow(ctx, rc, |frame| {
        let mut out = std::io::stdout().lock();
        if tty {
            let text = lines(frame, started.elapsed().as_secs());
            if drawn > 0 {
                // Up to the frame's first line, and clear everything below it.
                let _ = write!(out, "\x1b[{drawn}A\x1b[J");
            }
            let _ = writeln!(out, "{}", text.join("\n"));
            drawn = text.len();
        } else {
            let line = one_line(frame);
            if line != last {
                let _ = writeln!(out, "{}s {line}", started.elapsed().as_secs());
                last = line;
            }
        }
        let _ = out.flush();
    })
    .await?;
    if ending.is_success() {
        println!("{}", ending.message());
        Ok(())
    } else {
        Err(EngineError::Invalid(ending.message().to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_engine::follow::RcCounts;

    #[test]
    fn a_frame_reads_as_lines_and_as_one_line() {
        let frame = Frame {
            update: "rolling-update kubia-v1 -> kubia-v2: step 2 of 3 replicas".into(),
            rcs: vec![RcCounts {
                name: "kubia-v2".into(),
                desired: 2,
                live: 2,
                ready: 1,
                available: 1,
            }],
            bounds: Some("rolling-update kubia-v1 -> kubia-v2: at most 4 pods".into()),
            engine: "driven by laptop/42".into(),
            signals: vec!["kubia-v2-x: CrashLoopBackOff".into()],
            driven: Some(true),
        };
        let text = lines(&frame, 7);
        assert_eq!(text.len(), 5, "{text:?}");
        assert_eq!(text[2], "  bounds: at most 4 pods");
        assert!(text[4].ends_with("7s"));
        assert_eq!(
            one_line(&frame),
            "kubia-v2 2/2 live, 1 available; driven by laptop/42; signal: kubia-v2-x: CrashLoopBackOff"
        );
    }
}
