//! The differences from kubectl 1.17.17 that the scenario `kubectl-1.17` allows, and the
//! README's table generated from them.

/// A difference from kubectl 1.17 that we keep on purpose.
pub struct Deviation {
    /// What the row is about.
    pub topic: &'static str,
    /// What kubectl 1.17 does.
    pub kubectl: &'static str,
    /// What we do.
    pub ours: &'static str,
    /// Why.
    pub why: &'static str,
}

/// The complete list of differences from kubectl 1.17.17 that the scenario allows; the README's
/// table is generated from it (`readme_lists_every_deviation` checks they agree).
pub const DEVIATIONS: [Deviation; 10] = [
    Deviation {
        topic: "`--dry-run`",
        kubectl: "relabels the old RC for real: `deployment=<hash>-orig` in its selector and template, a `next-controller-id` annotation",
        ours: "changes nothing",
        why: "a dry run that writes is a bug; its relabel also changes what the next real run hashes",
    },
    Deviation {
        topic: "`--dry-run -o yaml`",
        kubectl: "prints the old RC as read back after that relabel, and the new RC as a copy of the old carrying its uid, managedFields, status and full replica count",
        ours: "prints both as they would be written (the old with the annotations the update adds; the new with 0 replicas, its annotations, no server fields)",
        why: "follows from the row above; the new RC's name, selector, labels and template (so the hash) are the same",
    },
    Deviation {
        topic: "stderr of every run",
        kubectl: "`Command \"rolling-update\" is deprecated, use \"rollout\" instead`",
        ours: "nothing",
        why: "the plugin is maintained, and `rollout` has no equivalent for RCs",
    },
    Deviation {
        topic: "Ctrl-C",
        kubectl: "dies by the signal wherever it is",
        ours: "finishes the write in flight, prints how to resume and how to roll back, exits 130",
        why: "an interrupted update loses nothing; either side resumes the other's",
    },
    Deviation {
        topic: "`--rollback`, last line",
        kubectl: "`replicationcontroller/<new> rolling updated to \"<new>\"`, naming the RC it has just deleted",
        ours: "`replicationcontroller/<old> rolled back`",
        why: "the line should say what happened",
    },
    Deviation {
        topic: "`--rollback`, annotations",
        kubectl: "leaves `next-controller-id` (naming the deleted RC) and `original-replicas` on the old RC",
        ours: "removes them",
        why: "kubectl's next same-name update would take the stale `next-controller-id` as its new RC's name",
    },
    Deviation {
        topic: "the new RC's annotations",
        kubectl: "copies every annotation of the old RC, `last-applied-configuration` (which then describes the old RC) and a stale `next-controller-id` included",
        ours: "copies the user's annotations only",
        why: "`kubectl apply` would diff the new RC against the old RC's configuration; a stale `next-controller-id` misleads the next update",
    },
    Deviation {
        topic: "`--timeout`",
        kubectl: "ignored: waits 5 minutes without progress, whatever is asked",
        ours: "honoured; the error starts with kubectl's sentence `timed out waiting for any update progress to be made` and adds what is stuck",
        why: "a flag that is accepted should work",
    },
    Deviation {
        topic: "an unknown RC without NEW",
        kubectl: "`error: couldn't find a replication controller with source id == <ns>/<old>` (it looks for an interrupted rename first)",
        ours: "`Error from server (NotFound): replicationcontrollers \"<old>\" not found`, as kubectl says with NEW",
        why: "the message should name what is missing; an interrupted rename is still found and finished",
    },
    Deviation {
        topic: "`-n ''`",
        kubectl: "takes the kubeconfig's namespace",
        ours: "refused: `error: a namespace must not be empty (-n '')`, exit 1",
        why: "an empty value is a mistake in a script, not a request for the default",
    },
];

/// The README's table of deviations, as generated from [`DEVIATIONS`].
pub fn deviations_table() -> String {
    let mut s = String::from("| | kubectl 1.17 | ours | why |\n|---|---|---|---|\n");
    for d in &DEVIATIONS {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            d.topic, d.kubectl, d.ours, d.why
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn readme_lists_every_deviation() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
        assert!(
            readme.contains(&deviations_table()),
            "README.md must hold the deviations table exactly as generated:\n{}",
            deviations_table()
        );
    }
}
