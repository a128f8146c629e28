//! The pictures of crowded and edge-case timelines have no overlapping or cut labels, and
//! the check catches both when they happen.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::model::{Answer, Mark, PodCount, PodSnapshot};

fn mark(at: f64, label: &str, kind: MarkKind) -> Mark {
    Mark {
        at,
        label: label.to_owned(),
        kind,
    }
}

fn pods(at: f64, groups: &[(&str, u32, u32)]) -> PodSnapshot {
    PodSnapshot {
        at,
        groups: groups
            .iter()
            .map(|(g, ready, live)| {
                (
                    (*g).to_owned(),
                    PodCount {
                        ready: *ready,
                        live: *live,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
    }
}

fn assert_clean(t: &Timeline) -> Picture {
    let p = render(t);
    let problems = p.problems();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    p
}

/// The tutorial: each scale-up and the scale-down after it happen within a few ms.
#[test]
fn the_tutorials_simultaneous_steps_do_not_smudge() {
    let mut t = Timeline {
        title: "tutorial-rolling-update: which version answered, 640 requests".into(),
        ..Timeline::default()
    };
    for (i, at) in [1.0, 11.0, 21.0].into_iter().enumerate() {
        let n = i + 1;
        t.marks
            .push(mark(at, &format!("kubia-v2 ↑{n}"), MarkKind::Step));
        t.marks.push(mark(
            at + 0.01,
            &format!("kubia-v1 ↓{}", 3 - n),
            MarkKind::Step,
        ));
    }
    t.marks.push(mark(
        31.9,
        "Update succeeded. Deleting kubia-v1",
        MarkKind::Step,
    ));
    for i in 0..640 {
        let at = f64::from(i) * 0.05;
        let v = if at < 15.0 { "v1" } else { "v2" };
        t.answers.push(Answer {
            at,
            outcome: Outcome::Version(v.into()),
        });
    }
    t.pods.push(pods(0.0, &[("v1", 3, 3)]));
    t.pods.push(pods(12.0, &[("v1", 2, 2), ("v2", 1, 1)]));
    t.pods.push(pods(32.0, &[("v2", 3, 3)]));
    let p = assert_clean(&t);
    assert!(p.svg.contains("kubia-v2 ↑2") && p.svg.contains("kubia-v1 ↓1"));
    assert!(
        p.svg.contains("v1 ready") && p.svg.contains("v2 live"),
        "legend"
    );
}

/// bad-version: eight step labels within a second, and the signal that stopped it.
#[test]
fn eight_labels_in_one_second_take_rows() {
    let mut t = Timeline {
        title: "bad-version".into(),
        ..Timeline::default()
    };
    for i in 0..8 {
        let at = 5.0 + f64::from(i) * 0.1;
        t.marks
            .push(mark(at, &format!("kubia-v3 ↑{i}"), MarkKind::Step));
    }
    t.marks.push(mark(
        5.9,
        "error rate 100% of 24 answers (above 1%): stopped",
        MarkKind::Signal,
    ));
    t.answers.push(Answer {
        at: 6.0,
        outcome: Outcome::Status(500),
    });
    t.answers.push(Answer {
        at: 6.1,
        outcome: Outcome::Failed,
    });
    let p = assert_clean(&t);
    assert!(p.svg.contains("HTTP 500") && p.svg.contains("failed"));
}

/// A label at the very end ends at its mark instead of running off the picture; a label
/// longer than the picture is shortened.
#[test]
fn labels_at_the_edges_stay_inside() {
    let long = "x".repeat(400);
    let t = Timeline {
        title: "t".repeat(300),
        marks: vec![
            mark(0.0, "at the start", MarkKind::Step),
            mark(100.0, "Update succeeded. Deleting kubia-v1", MarkKind::Step),
            mark(100.0, &long, MarkKind::Signal),
        ],
        ..Timeline::default()
    };
    assert_clean(&t);
}

/// The check itself: two texts on top of each other, and one off the edge.
#[test]
fn the_check_sees_overlaps_and_cuts() {
    let mut p = render(&Timeline::default());
    p.texts.push(TextBox {
        x0: 100.0,
        y0: 100.0,
        x1: 160.0,
        y1: 112.0,
        text: "a".into(),
    });
    p.texts.push(TextBox {
        x0: 150.0,
        y0: 105.0,
        x1: 200.0,
        y1: 117.0,
        text: "b".into(),
    });
    p.texts.push(TextBox {
        x0: 990.0,
        y0: 10.0,
        x1: 1010.0,
        y1: 20.0,
        text: "c".into(),
    });
    let problems = p.problems();
    assert!(
        problems.iter().any(|m| m.contains("\"a\" overlaps \"b\"")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|m| m.contains("\"c\" is cut")),
        "{problems:?}"
    );
}

fn any_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        prop::sample::select(vec!["v1", "v2", "v3", "v4", "classic"])
            .prop_map(|v| Outcome::Version(v.to_owned())),
        Just(Outcome::Status(500)),
        Just(Outcome::Status(503)),
        Just(Outcome::Failed),
    ]
}

fn any_timeline() -> impl Strategy<Value = Timeline> {
    let marks = prop::collection::vec(
        (0.0f64..600.0, "[a-zA-Z0-9 ↑↓:%().-]{0,70}", any::<bool>()).prop_map(
            |(at, label, signal)| Mark {
                at,
                label,
                kind: if signal {
                    MarkKind::Signal
                } else {
                    MarkKind::Step
                },
            },
        ),
        0..40,
    );
    let answers = prop::collection::vec(
        (0.0f64..600.0, any_outcome()).prop_map(|(at, outcome)| Answer { at, outcome }),
        0..200,
    );
    let snapshots = prop::collection::vec(
        (
            0.0f64..600.0,
            prop::collection::btree_map(
                prop::sample::select(vec!["v1", "v2", "kubia-v1", "kubia-v2", "kubia-v3-8f2c"]),
                (0u32..1200, 0u32..1200).prop_map(|(ready, live)| PodCount { ready, live }),
                0..4,
            ),
        )
            .prop_map(|(at, groups)| PodSnapshot {
                at,
                groups: groups.into_iter().map(|(g, c)| (g.to_owned(), c)).collect(),
            }),
        0..30,
    );
    (".{0,120}", marks, answers, snapshots).prop_map(|(title, marks, answers, mut pods)| {
        pods.sort_by(|a, b| a.at.total_cmp(&b.at));
        Timeline {
            title,
            answers,
            pods,
            marks,
        }
    })
}

proptest! {
    /// Whatever was observed, no label overlaps another or leaves the picture.
    #[test]
    fn no_timeline_has_overlapping_or_cut_labels(t in any_timeline()) {
        let p = render(&t);
        let problems = p.problems();
        prop_assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
