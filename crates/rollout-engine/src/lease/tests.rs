//! The Lease decisions, pure: who may take a Lease, when an unrenewed one counts as gone.

use super::*;

fn lease(holder: &str, renewed_secs_ago: i64, now: Timestamp) -> Lease {
    let renewed =
        Timestamp::from_second(now.as_second() - renewed_secs_ago).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut l = fresh("rolling-update.kubia-v1", holder, renewed, 0, None);
    if holder.is_empty() {
        l.spec = Some(LeaseSpec::default());
    }
    l.metadata.resource_version = Some("7".into());
    l
}

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

const ALIVE: fn(&str) -> bool = |_| false;

#[test]
fn a_fresh_lease_of_another_engine_is_refused_naming_it() {
    let v = decide(&lease("laptop/42", 5, now()), "ci/7", now(), ALIVE);
    let Verdict::Held(why) = v else {
        panic!("not refused: {v:?}")
    };
    assert!(why.contains("laptop/42"), "{why}");
    assert!(why.contains("rolling-update.kubia-v1"), "{why}");
    assert!(why.contains("renewed 5s ago"), "{why}");
    assert!(why.contains("unrenewed for 30s"), "{why}");
}

/// The clocks only ever refuse: a Lease that looks expired by them, or renewed in our
/// future, is watched, never taken on their word.
#[test]
fn the_clocks_never_take_a_lease() {
    let d = DURATION.as_secs() as i64;
    for age in [d, d + 1, 3600, -CLOCK_SLACK_SECS - 1, -86_400] {
        assert_eq!(
            decide(&lease("laptop/42", age, now()), "ci/7", now(), ALIVE),
            Verdict::Watch,
            "renewed {age}s ago"
        );
    }
    for age in [d - 1, 0, -CLOCK_SLACK_SECS] {
        assert!(matches!(
            decide(&lease("laptop/42", age, now()), "ci/7", now(), ALIVE),
            Verdict::Held(_)
        ));
    }
}

#[test]
fn a_lease_is_free_after_it_stayed_unchanged_for_its_duration_by_our_clock() {
    let first = lease("laptop/42", 3600, now());
    let t0 = Instant::now();
    let seen = Sighting::new(&first, t0);
    assert_eq!(
        seen.see(&first, t0 + DURATION - Duration::from_millis(1)),
        Seen::Unchanged
    );
    assert_eq!(seen.see(&first, t0 + DURATION), Seen::Expired);
    let mut renewed = first.clone();
    renewed.metadata.resource_version = Some("8".into());
    assert_eq!(
        seen.see(&renewed, t0 + Duration::from_secs(1)),
        Seen::Changed
    );
    assert_eq!(seen.see(&renewed, t0 + DURATION * 2), Seen::Changed);
    // A holder that wrote a huge duration is watched for at most five minutes.
    let mut long = first.clone();
    long.spec
        .get_or_insert_with(Default::default)
        .lease_duration_seconds = Some(i32::MAX);
    let seen = Sighting::new(&long, t0);
    assert_eq!(seen.see(&long, t0 + WATCH_AT_MOST), Seen::Expired);
}

#[test]
fn our_own_or_a_released_lease_is_taken() {
    assert_eq!(
        decide(&lease("ci/7", 1, now()), "ci/7", now(), ALIVE),
        Verdict::Take
    );
    assert_eq!(
        decide(&lease("", 1, now()), "ci/7", now(), ALIVE),
        Verdict::Take
    );
}

#[test]
fn a_holder_known_to_be_gone_is_taken_over_at_once() {
    let here = lease("ci/42/1a2b3c4d.1.2", 1, now());
    assert_eq!(
        decide(&here, "ci/7", now(), |h| h == "ci/42/1a2b3c4d.1.2"),
        Verdict::Take
    );
    assert!(matches!(
        decide(&here, "ci/7", now(), ALIVE),
        Verdict::Held(_)
    ));
}
