//! Hand-checked sequences of non-wait steps.

use rollout_plan::IntOrPercent::Count;
use rollout_plan::{IntOrPercent, Limits, Step, Strategy, describe_start};

use crate::cluster::{Cluster, Delay, Rc};
use crate::driver::{End, Run, run};

fn new(from: u32, to: u32) -> Step {
    Step::ScaleNew { from, to }
}
fn old(from: u32, to: u32) -> Step {
    Step::ScaleOld { from, to }
}

fn strategy(surge: IntOrPercent, unavailable: IntOrPercent) -> Strategy {
    Strategy {
        max_surge: surge,
        max_unavailable: unavailable,
        min_ready_seconds: 0,
    }
}

fn limits(desired: u32, strategy: &Strategy) -> Limits {
    Limits::resolve(desired, strategy).expect("valid strategy")
}

/// Runs a fresh update: an old RC with `old_pods` healthy pods, a new RC at 0 whose pods
/// become available `delay` ticks after creation.
fn update(old_pods: u32, limits: &Limits, delay: Delay) -> (Run, Cluster) {
    let mut cluster = Cluster {
        old: Rc::running(old_pods, 0),
        new: Rc::running(0, 0).with_delays(Vec::new(), delay),
    };
    let run = run(&mut cluster, limits, &[], None, 10_000).expect("bounds hold");
    (run, cluster)
}

#[test]
fn tutorial_sequence_exactly() {
    let l = limits(3, &Strategy::kubectl());
    for delay in [Some(0), Some(1), Some(5)] {
        let (run, _) = update(3, &l, delay);
        assert_eq!(
            run.actions,
            [
                new(0, 1),
                old(3, 2),
                new(1, 2),
                old(2, 1),
                new(2, 3),
                old(1, 0),
                Step::Done
            ],
            "delay {delay:?}"
        );
    }
}

#[test]
fn tutorial_transcript() {
    let l = limits(3, &Strategy::kubectl());
    let mut cluster = Cluster {
        old: Rc::running(3, 0),
        new: Rc::running(0, 0),
    };
    let start = describe_start("kubia-v1", "kubia-v2", &l, &cluster.observe());
    let run = run(&mut cluster, &l, &[], None, 10_000).expect("bounds hold");
    let mut lines = vec![start];
    lines.extend(
        run.actions
            .iter()
            .filter_map(|s| s.describe("kubia-v1", "kubia-v2")),
    );
    assert_eq!(lines, tutorial_oracle::planner_lines());
}

#[test]
fn no_surge_one_unavailable_goes_down_first() {
    let l = limits(3, &strategy(Count(0), Count(1)));
    assert_eq!((l.min_available(), l.max_total()), (2, 3));
    let (run, _) = update(3, &l, Some(2));
    assert_eq!(
        run.actions,
        [
            old(3, 2),
            new(0, 1),
            old(2, 1),
            new(1, 2),
            old(1, 0),
            new(2, 3),
            Step::Done
        ]
    );
}

#[test]
fn desired_one() {
    let l = limits(1, &Strategy::kubectl());
    let (run, _) = update(1, &l, Some(1));
    assert_eq!(run.actions, [new(0, 1), old(1, 0), Step::Done]);
}

#[test]
fn desired_zero() {
    for s in [Strategy::kubectl(), Strategy::deployment_default()] {
        let (run, _) = update(3, &limits(0, &s), Some(0));
        assert_eq!(run.actions, [old(3, 0), Step::Done]);
        let (run, _) = update(0, &limits(0, &s), Some(0));
        assert_eq!(run.actions, [Step::Done]);
    }
}

#[test]
fn from_nothing_scales_up_at_once() {
    let (run, _) = update(0, &limits(3, &Strategy::kubectl()), Some(3));
    assert_eq!(run.actions, [new(0, 3), Step::Done]);
}

#[test]
fn old_larger_than_desired_shrinks_first() {
    let (run, _) = update(5, &limits(3, &Strategy::kubectl()), Some(1));
    assert_eq!(
        run.actions,
        [
            old(5, 3),
            new(0, 1),
            old(3, 2),
            new(1, 2),
            old(2, 1),
            new(2, 3),
            old(1, 0),
            Step::Done
        ]
    );
}

#[test]
fn old_smaller_than_desired() {
    let (run, _) = update(1, &limits(3, &Strategy::kubectl()), Some(1));
    assert_eq!(run.actions, [new(0, 3), old(1, 0), Step::Done]);
}

#[test]
fn deployment_defaults_with_ten_replicas() {
    let l = limits(10, &Strategy::deployment_default());
    assert_eq!((l.surge, l.unavailable), (3, 2));
    let (run, _) = update(10, &l, Some(0));
    assert_eq!(
        run.actions,
        [
            new(0, 3),
            old(10, 5),
            new(3, 8),
            old(5, 0),
            new(8, 10),
            Step::Done
        ]
    );
}

#[test]
fn bad_image_stops_at_the_safety_bound() {
    // kubernetes#4140: a bad image must not take the good pods down.
    let (run, cluster) = update(3, &limits(3, &Strategy::kubectl()), None);
    assert_eq!(run.actions, [new(0, 1)]);
    assert_eq!(run.end, End::Stuck { waiting: 1 });
    assert_eq!((cluster.old.spec, cluster.old.available()), (3, 3));

    let l = limits(4, &Strategy::deployment_default());
    let (run, cluster) = update(4, &l, None);
    assert_eq!(run.actions, [new(0, 1), old(4, 3), new(1, 2)]);
    assert_eq!(run.end, End::Stuck { waiting: 2 });
    assert_eq!(cluster.available(), l.min_available());
}

#[test]
fn rollback_from_the_middle_of_the_tutorial() {
    // kubia-v1 at 2, kubia-v2 at 2: roll back to kubia-v1's original 3 replicas.
    let l = limits(3, &Strategy::kubectl());
    let mut cluster = Cluster {
        old: Rc::running(2, 0), // kubia-v2, now drained
        new: Rc::running(2, 0), // kubia-v1, the target
    };
    let run = run(&mut cluster, &l, &[], None, 10_000).expect("bounds hold");
    assert_eq!(run.actions, [old(2, 1), new(2, 3), old(1, 0), Step::Done]);
    let lines: Vec<String> = run
        .actions
        .iter()
        .filter_map(|s| s.describe("kubia-v2", "kubia-v1"))
        .collect();
    assert_eq!(
        lines,
        [
            "Scaling kubia-v2 down to 1",
            "Scaling kubia-v1 up to 3",
            "Scaling kubia-v2 down to 0"
        ]
    );
}

#[test]
fn rollback_of_a_stuck_bad_image() {
    // Forward run stuck with v2 at 1 broken pod, v1 at 3; roll back.
    let l = limits(3, &Strategy::kubectl());
    let (_, mut cluster) = update(3, &l, None);
    cluster.swap();
    let run = run(&mut cluster, &l, &[], None, 10_000).expect("bounds hold");
    assert_eq!(run.actions, [old(1, 0), Step::Done]);
    assert_eq!(cluster.new.available(), 3);
}

#[test]
fn percentages_as_given_on_the_command_line() {
    let s = strategy("50%".parse().expect("valid"), "0".parse().expect("valid"));
    let l = limits(4, &s);
    assert_eq!((l.surge, l.unavailable), (2, 0));
    // Pods available at once: with slower pods the scale-downs are smaller and more numerous.
    let (run, _) = update(4, &l, Some(0));
    assert_eq!(
        run.actions,
        [new(0, 2), old(4, 2), new(2, 4), old(2, 0), Step::Done]
    );
}
