//! Where the engine's events go: stdout gets exactly the output lines; a terminal on stderr
//! also gets a live spinner with the counts and what is being waited for. Without a
//! terminal (a CI log), a request that keeps failing is reported on stderr once it has
//! failed for [`QUIET_RETRIES`], then every [`RETRY_NOTE_EVERY`], so an API server outage is
//! visible in the log, while the short retries of a healthy run (and the fast failure of an
//! unreachable cluster, which gives up sooner) stay silent.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long requests may fail before a log without a terminal hears of it.
pub const QUIET_RETRIES: Duration = Duration::from_secs(10);
/// How often a continuing failure is reported again.
pub const RETRY_NOTE_EVERY: Duration = Duration::from_secs(30);

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rollout_engine::{Event, EventSink, Progress};

use crate::record::Recording;

/// The CLI's sink.
pub struct TerminalSink {
    bar: Option<ProgressBar>,
    state: Mutex<Display>,
    /// `--timeline`: every event is also recorded.
    recording: Option<Arc<Recording>>,
}

#[derive(Default)]
struct Display {
    counts: String,
    waiting: String,
    /// Since when requests fail (cleared by any sign of success).
    failing_since: Option<Instant>,
    /// When the failure was last reported.
    last_note: Option<Instant>,
    /// The last line written to stdout (a detached update's Event quotes it).
    last_line: Option<String>,
}

/// The spinner's text for the counts of both controllers.
pub fn describe_progress(p: &Progress) -> String {
    format!(
        "{} {} pods ({} ready) -> {} {}/{} pods ({} ready)",
        p.old_name, p.old.spec, p.old.available, p.new_name, p.new.spec, p.desired, p.new.available
    )
}

impl TerminalSink {
    /// A sink with a spinner if stderr is a terminal and `spinner` (not for a display of
    /// its own, as `status -w`), recording for `--timeline` if asked.
    pub fn new(recording: Option<Arc<Recording>>, spinner: bool) -> Self {
        let bar = (spinner && std::io::stderr().is_terminal()).then(|| {
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
            recording,
        }
    }

    fn redraw(&self, change: impl FnOnce(&mut Display)) {
        let Some(bar) = &self.bar else { return };
        let mut state = self.state();
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
        if let Some(line) = text.lines().rfind(|l| !l.trim().is_empty()) {
            self.state().last_line = Some(line.to_owned());
        }
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

    /// The last line written to stdout, if any.
    pub fn last_line(&self) -> Option<String> {
        self.state().last_line.clone()
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
        Self::new(None, true)
    }
}

impl TerminalSink {
    fn state(&self) -> std::sync::MutexGuard<'_, Display> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Any answer from the cluster ends a run of failures.
    fn succeeded(&self) {
        let mut state = self.state();
        state.failing_since = None;
        state.last_note = None;
    }

    /// Without a terminal: the note for a failure that has lasted long enough, if one is due.
    fn retry_note(&self, what: &str, error: &str, now: Instant) -> Option<String> {
        let mut state = self.state();
        let since = *state.failing_since.get_or_insert(now);
        let failing = now.duration_since(since);
        let due = failing >= QUIET_RETRIES
            && state
                .last_note
                .is_none_or(|t| now.duration_since(t) >= RETRY_NOTE_EVERY);
        due.then(|| {
            state.last_note = Some(now);
            format!(
                "requests have failed for {}s ({what}: {error}); still retrying",
                failing.as_secs()
            )
        })
    }
}

impl EventSink for TerminalSink {
    fn emit(&self, event: Event) {
        if let Some(recording) = &self.recording {
            recording.record(&event);
        }
        if !matches!(event, Event::Retrying { .. } | Event::Warning(_)) {
            self.succeeded();
        }
        match event {
            Event::Line(line) => self.print(&format!("{line}\n")),
            Event::Progress(progress) => {
                let counts = describe_progress(&progress);
                self.redraw(|s| s.counts = counts);
            }
            Event::Waiting(what) => self.redraw(|s| s.waiting = what),
            Event::Warning(text) => self.warn(&text),
            Event::Retrying { what, error, delay } => {
                if self.bar.is_none() {
                    if let Some(note) = self.retry_note(&what, &error, Instant::now()) {
                        self.warn(&note);
                    }
                    return;
                }
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
    fn a_lasting_failure_is_reported_after_the_quiet_period_then_rarely() {
        let sink = TerminalSink {
            bar: None,
            state: Mutex::new(Display::default()),
            recording: None,
        };
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(sink.retry_note("getting rc", "refused", at(0)), None);
        assert_eq!(sink.retry_note("getting rc", "refused", at(9)), None);
        let note = sink.retry_note("getting rc", "refused", at(10));
        assert_eq!(
            note.as_deref(),
            Some("requests have failed for 10s (getting rc: refused); still retrying")
        );
        assert_eq!(sink.retry_note("getting rc", "refused", at(39)), None);
        assert!(sink.retry_note("getting rc", "refused", at(40)).is_some());
        // Success ends the run: the next failure starts a new quiet period.
        sink.succeeded();
        assert_eq!(sink.retry_note("getting rc", "refused", at(41)), None);
    }

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
                spec_observed: true,
            },
            desired: 3,
        };
        assert_eq!(
            describe_progress(&p),
            "kubia-v1 2 pods (2 ready) -> kubia-v2 2/3 pods (1 ready)"
        );
    }
}
