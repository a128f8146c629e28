//! What a timeline holds: answers, pod counts and marked moments, each at a time in seconds
//! since the observation started.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything observed during one update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// What was updated (`tutorial-rolling-update`, `kubia-v1 -> kubia-v2`).
    pub title: String,
    /// One per request sent to the application.
    pub answers: Vec<Answer>,
    /// The pods as seen, each time they changed.
    pub pods: Vec<PodSnapshot>,
    /// The update's steps and the failure signals.
    pub marks: Vec<Mark>,
}

/// One request and what came back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// When it was sent, in seconds.
    pub at: f64,
    /// What came back.
    pub outcome: Outcome,
}

/// What a request got.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Outcome {
    /// A good answer from this version (`v1`, `v2`).
    Version(String),
    /// An HTTP error status (the tutorial's v3 answers 500).
    Status(u16),
    /// No answer: refused, reset, timed out.
    Failed,
}

/// The pods of each group (a version, or an RC) at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PodSnapshot {
    /// When, in seconds.
    pub at: f64,
    /// Group name → its pods.
    pub groups: BTreeMap<String, PodCount>,
}

/// Pods of one group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodCount {
    /// Ready (for the engine: available, ready for `minReadySeconds`).
    pub ready: u32,
    /// Live: created and not terminating, ready or not.
    pub live: u32,
}

/// A moment worth a vertical line and a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// When, in seconds.
    pub at: f64,
    /// Its label (`kubia-v2 ↑1`, `crash loop: kubia-v3-x restarted 3 times`).
    pub label: String,
    /// A step or a signal.
    pub kind: MarkKind,
}

/// Steps are drawn grey, signals red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkKind {
    /// Something the update did (a scale, a switch).
    Step,
    /// Something that went wrong or stopped it (a failure signal, an error, Ctrl-C).
    Signal,
}

impl Outcome {
    /// What a request got, from its HTTP status (`None`: no answer) and the version its
    /// body named: a version for a 200 that named one, else the status, else failed.
    pub fn of(status: Option<u16>, version: Option<&str>) -> Outcome {
        match (status, version) {
            (Some(200), Some(v)) if v != "error" => Outcome::Version(v.to_owned()),
            (Some(code), _) => Outcome::Status(code),
            (None, _) => Outcome::Failed,
        }
    }
}

impl Timeline {
    /// The last moment anything was observed, at least one second.
    pub fn end(&self) -> f64 {
        let answers = self.answers.iter().map(|a| a.at);
        let pods = self.pods.iter().map(|p| p.at);
        let marks = self.marks.iter().map(|m| m.at);
        answers
            .chain(pods)
            .chain(marks)
            .filter(|t| t.is_finite())
            .fold(1.0, f64::max)
    }
}

/// The short label of one of the engine's step lines (`Scaling kubia-v2 up to 1` →
/// `kubia-v2 ↑1`, `Created kubia-v2` → `created kubia-v2`); `None` for other lines.
pub fn step_label(line: &str) -> Option<String> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("Scaling ") {
        let (name, rest) = rest.split_once(' ')?;
        if let Some(n) = rest.strip_prefix("up to ") {
            return Some(format!("{name} ↑{n}"));
        }
        if let Some(n) = rest.strip_prefix("down to ") {
            return Some(format!("{name} ↓{n}"));
        }
        return None;
    }
    if let Some(name) = line.strip_prefix("Created ") {
        return Some(format!("created {name}"));
    }
    if let Some(rest) = line.strip_prefix("Renaming ") {
        return Some(format!("renaming {rest}"));
    }
    if line.starts_with("service/") && line.contains("now selects") {
        return line.split(" the pods of ").nth(1).map(|rc| {
            let rc = rc.split(';').next().unwrap_or(rc);
            format!("service → {rc}")
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_lines_become_short_labels() {
        assert_eq!(
            step_label("Scaling kubia-v2 up to 1").as_deref(),
            Some("kubia-v2 ↑1")
        );
        assert_eq!(
            step_label("Scaling kubia-v1 down to 0").as_deref(),
            Some("kubia-v1 ↓0")
        );
        assert_eq!(
            step_label("Created kubia-v2").as_deref(),
            Some("created kubia-v2")
        );
        assert_eq!(
            step_label("service/kubia now selects the pods of kubia-v2; kubia-v1 stays scaled")
                .as_deref(),
            Some("service → kubia-v2")
        );
        assert_eq!(step_label("Update succeeded. Deleting kubia-v1"), None);
    }

    #[test]
    fn an_answer_is_a_version_a_status_or_a_failure() {
        assert_eq!(
            Outcome::of(Some(200), Some("v2")),
            Outcome::Version("v2".into())
        );
        assert_eq!(Outcome::of(Some(500), Some("error")), Outcome::Status(500));
        assert_eq!(Outcome::of(Some(200), None), Outcome::Status(200));
        assert_eq!(Outcome::of(None, None), Outcome::Failed);
    }

    #[test]
    fn the_end_is_the_last_moment_seen() {
        let mut t = Timeline::default();
        assert_eq!(t.end(), 1.0);
        t.marks.push(Mark {
            at: 42.5,
            label: "x".into(),
            kind: MarkKind::Step,
        });
        t.answers.push(Answer {
            at: 12.0,
            outcome: Outcome::Failed,
        });
        assert_eq!(t.end(), 42.5);
    }
}
