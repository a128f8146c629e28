//! Blue-green's resume decision: which phase an update is in, read from the switch state
//! the Service records (`blue-green-active`, `-standby`), so any command can be rerun or
//! continued from any machine.

/// The switch a Service records: the RC it selects and the other one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Recorded<'a> {
    /// The RC whose pods the Service selects.
    pub active: &'a str,
    /// The other RC, kept for an instant switch back.
    pub standby: &'a str,
}

/// Where a `blue-green OLD NEW` finds itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase<'a> {
    /// No update recorded on the Service: start one.
    Fresh,
    /// This update was started and not switched yet: continue before the switch (pin,
    /// create or continue the new RC, wait, switch).
    BeforeSwitch,
    /// This update has switched: only what follows the switch is left.
    Switched,
    /// The Service is in another update: refuse, naming it.
    Other(Recorded<'a>),
}

/// The phase of the update from `old` to `new`, given what the Service records.
pub fn phase<'a>(recorded: Option<Recorded<'a>>, old: &str, new: &str) -> Phase<'a> {
    let Some(r) = recorded else {
        return Phase::Fresh;
    };
    if r.active == new && r.standby == old {
        Phase::Switched
    } else if r.active == old && r.standby == new {
        Phase::BeforeSwitch
    } else {
        Phase::Other(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_tutorials_update_through_its_phases() {
        let (old, new) = ("kubia-v1", "kubia-v2");
        assert_eq!(phase(None, old, new), Phase::Fresh);
        let pinned = Recorded {
            active: old,
            standby: new,
        };
        assert_eq!(phase(Some(pinned), old, new), Phase::BeforeSwitch);
        let switched = Recorded {
            active: new,
            standby: old,
        };
        assert_eq!(phase(Some(switched), old, new), Phase::Switched);
        let other = Recorded {
            active: "kubia-v2",
            standby: "kubia-v3",
        };
        assert_eq!(phase(Some(other), old, new), Phase::Other(other));
    }

    proptest! {
        /// Only this update's own record is continued, and it is switched exactly when the
        /// Service's active RC is the new one.
        #[test]
        fn only_this_updates_record_is_continued(
            active in "[abc]", standby in "[abc]", old in "[abc]", new in "[abc]",
        ) {
            prop_assume!(old != new);
            let r = Recorded { active: &active, standby: &standby };
            let ours = (active == old && standby == new) || (active == new && standby == old);
            match phase(Some(r), &old, &new) {
                Phase::Switched => prop_assert!(ours && active == new),
                Phase::BeforeSwitch => prop_assert!(ours && active == old),
                Phase::Other(got) => { prop_assert!(!ours); prop_assert_eq!(got, r); }
                Phase::Fresh => prop_assert!(false, "a record is never fresh"),
            }
        }
    }
}
