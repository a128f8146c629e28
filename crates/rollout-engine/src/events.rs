//! Progress reporting: the engine says what happens, the caller decides how to show it.
//!
//! Why a trait and not `println!`: the CLI must put exactly kubectl's lines on stdout while a
//! terminal may also get a live progress bar on stderr, and tests must capture the lines to
//! compare them with the tutorial's transcript. The engine therefore never prints; it emits
//! [`Event`]s to an [`EventSink`].

use std::sync::Mutex;
use std::time::Duration;

use rollout_plan::Side;

/// Something worth telling the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// One line of the command's output, for stdout: for `rolling-update` exactly kubectl's
    /// lines (`Created kubia-v2`, `Scaling kubia-v2 up to 1`, ...).
    Line(String),
    /// The counts after an observation of the two controllers, for a live display.
    Progress(Progress),
    /// What the engine is waiting for right now (a live display may show it; not for stdout).
    Waiting(String),
    /// Something the user should know that does not stop the command, for stderr (kubectl
    /// prints such lines as `Warning: ...`).
    Warning(String),
    /// A transient API failure that will be retried after `delay`.
    Retrying {
        /// The operation, e.g. `getting replicationcontroller kubia-v1`.
        what: String,
        /// The error, one line.
        error: String,
        /// How long until the next attempt.
        delay: Duration,
    },
}

/// Counts of both controllers of an update, as last observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// The controller being drained.
    pub old_name: String,
    /// The controller being filled.
    pub new_name: String,
    /// The drained controller's counts.
    pub old: Side,
    /// The filled controller's counts.
    pub new: Side,
    /// Replicas the filled controller must end with.
    pub desired: u32,
}

/// Receives the engine's events. Implementations must be cheap and must not block: the
/// engine calls them between API calls.
pub trait EventSink: Send + Sync {
    /// Handles one event.
    fn emit(&self, event: Event);
}

/// Discards everything (for callers that only want the result).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _event: Event) {}
}

/// Keeps every event, for tests and for callers that print at the end.
#[derive(Debug, Default)]
pub struct RecordingSink {
    events: Mutex<Vec<Event>>,
}

impl RecordingSink {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// All events so far, in order.
    pub fn events(&self) -> Vec<Event> {
        match self.events.lock() {
            Ok(events) => events.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Only the stdout lines, in order.
    pub fn lines(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Line(line) => Some(line),
                _ => None,
            })
            .collect()
    }
}

impl EventSink for RecordingSink {
    fn emit(&self, event: Event) {
        match self.events.lock() {
            Ok(mut events) => events.push(event),
            Err(poisoned) => poisoned.into_inner().push(event),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_sink_keeps_lines_in_order() {
        let sink = RecordingSink::new();
        sink.emit(Event::Line("a".into()));
        sink.emit(Event::Waiting("w".into()));
        sink.emit(Event::Line("b".into()));
        assert_eq!(sink.lines(), vec!["a".to_string(), "b".to_string()]);
        assert_eq!(sink.events().len(), 3);
    }
}
