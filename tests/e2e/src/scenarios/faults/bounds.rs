//! The pod bounds a fault scenario checks, and the one exception: a pod deleted by hand
//! leaves one ready pod fewer until its replacement is ready.

use std::time::Duration;

use anyhow::{Result, ensure};

use super::fault::Fault;
use crate::monitor::{Snapshot, check_bounds};

/// Checks the bounds; around a hand deletion, one ready pod fewer is allowed until the
/// ready count is back at 3 (the engine must not take away another one meanwhile).
pub(super) fn bounds_around(
    snaps: &[Snapshot],
    fault: Fault,
    at: Duration,
) -> Result<(usize, usize)> {
    if !matches!(fault, Fault::NewPodDeleted | Fault::OldPodDeleted) {
        return check_bounds(snaps, Duration::ZERO, 3, 4);
    }
    // The deficit starts when the monitor first sees it, not when the request was sent: a
    // state observed in between (a pod event just before the deletion lands) still has 3
    // ready pods and must not end the window before it began.
    let deficit = snaps
        .iter()
        .find(|s| s.at >= at && s.ready < 3)
        .map_or(Duration::MAX, |s| s.at);
    let recovered = snaps
        .iter()
        .find(|s| s.at > deficit && s.ready >= 3)
        .map_or(Duration::MAX, |s| s.at);
    let before: Vec<Snapshot> = snaps.iter().filter(|s| s.at < deficit).cloned().collect();
    let window: Vec<Snapshot> = snaps
        .iter()
        .filter(|s| s.at >= deficit && s.at < recovered)
        .cloned()
        .collect();
    let after: Vec<Snapshot> = snaps
        .iter()
        .filter(|s| s.at >= recovered)
        .cloned()
        .collect();
    ensure!(
        deficit == Duration::MAX || !after.is_empty(),
        "the ready count never came back to 3 after the pod was deleted"
    );
    let mut min = usize::MAX;
    let mut max = 0;
    for (part, min_ready) in [(&before, 3), (&window, 2), (&after, 3)] {
        if part.is_empty() {
            continue;
        }
        let (lo, hi) = check_bounds(part, Duration::ZERO, min_ready, 4)?;
        min = min.min(lo);
        max = max.max(hi);
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(ms: u64, live: usize, ready: usize) -> Snapshot {
        Snapshot::at_ms(ms, live, ready)
    }

    /// As seen in CI: the new pod's event arrives between the deletion request and its
    /// effect; the deficit is allowed from when it shows until the replacement is ready.
    #[test]
    fn a_hand_deletion_allows_one_ready_pod_fewer_until_replaced() {
        let at = Duration::from_millis(300);
        let snaps = [
            snap(0, 3, 3),
            snap(350, 4, 3),
            snap(400, 3, 2),
            snap(900, 4, 2),
            snap(1500, 4, 3),
            snap(2500, 3, 3),
        ];
        let got = bounds_around(&snaps, Fault::OldPodDeleted, at);
        assert_eq!(got.ok(), Some((2, 4)));
        // The engine taking away another ready pod meanwhile is caught.
        let mut worse = snaps.clone();
        worse[3] = snap(900, 3, 1);
        assert!(bounds_around(&worse, Fault::OldPodDeleted, at).is_err());
        // And so is a deficit that never ends.
        assert!(bounds_around(&snaps[..4], Fault::OldPodDeleted, at).is_err());
        // Other faults allow no deficit at all.
        assert!(bounds_around(&snaps, Fault::KubeletRestart, at).is_err());
    }
}
