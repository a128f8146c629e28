//! Where the engine's events go: stdout gets exactly the output lines; a terminal on stderr
//! also gets a live spinner with the counts and what is being waited for.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rollout_engine::{Event, EventSink, Progress};

/// The CLI's sink.
pub struct TerminalSink {
    bar: Option<ProgressBar>,
    state: Mutex<Display>,
}

#[derive(Default)]
struct Display {
    counts: String,
    waiting: String,
}

/// The spinner's text for the counts of both controllers.
pub fn describe_progress(p: &Progress) -> String {
    format!(
        "{} {} pods ({} ready) -> {} {}/{} pods ({} ready)",
        p.old_name, p.old.spec, p.old.available, p.new_name, p.new.spec, p.desired, p.new.available
    )
}

impl TerminalSink {
    /// A sink with a spinner if stderr is a terminal.
    pub fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        TerminalSink {
            bar,
            state: Mutex::new(Display::default()),
        }
    }

    fn redraw(&self, change: impl FnOnce(&mut Display)) {
        let Some(bar) = &self.bar else { return };
        let mut state = match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut state);
        let message = match (state.counts.is_empty(), state.waiting.is_empty()) {
            (false, false) => format!("{} | {}", state.counts, state.waiting),
            (false, true) => state.counts.clone(),
            _ => state.waiting.clone(),
        };
        bar.set_message(message);
    }

    /// Writes a line to stdout, above the spinner. Write errors (a closed pipe) are ignored:
    /// the update itself must not fail because nobody reads its output.
    pub fn print(&self, text: &str) {
        let write = || {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Writes `Warning: text` to stderr, above the spinner.
    pub fn warn(&self, text: &str) {
        let write = || {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "Warning: {text}");
        };
        match &self.bar {
            Some(bar) => bar.suspend(write),
            None => write(),
        }
    }

    /// Removes the spinner.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for TerminalSink {
    fn default() -> Self {
        Self::new()
    }
}

impl EventSink for TerminalSink {
    fn emit(&self, event: Event) {
        match event {
            Event::Line(line) => self.print(&format!("{line}\n")),
            Event::Progress(progress) => {
                let counts = describe_progress(&progress);
                self.redraw(|s| s.counts = counts);
            }
            Event::Waiting(what) => self.redraw(|s| s.waiting = what),
            Event::Warning(text) => self.warn(&text),
            Event::Retrying { what, error, delay } => {
                let text = format!(
                    "{what} failed ({error}); retrying in {}ms",
                    delay.as_millis()
                );
                self.redraw(|s| s.waiting = text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_plan::Side;

    #[test]
    fn progress_text() {
        let p = Progress {
            old_name: "kubia-v1".into(),
            new_name: "kubia-v2".into(),
            old: Side::steady(2),
            new: Side {
                spec: 2,
                current: 2,
                available: 1,
                settled: true,
            },
            desired: 3,
        };
        assert_eq!(
            describe_progress(&p),
            "kubia-v1 2 pods (2 ready) -> kubia-v2 2/3 pods (1 ready)"
        );
    }
}
