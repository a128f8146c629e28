//! Who holds a Lease: an identity unique to one run of the engine.
//!
//! `host/pid` is not: two containers with the same hostname both run as PID 1, and a PID
//! says nothing about a process in another PID namespace. The identity therefore adds where
//! the PID means something and which process it was: `host/pid/boot.pidns.start`, the
//! kernel's boot id, the PID namespace's inode and the process's start time in clock ticks
//! since boot, and a number for each operation of the process (a program may drive several).
//! Two runs never share all of them, and a holder whose boot and PID namespace are ours, but
//! whose PID now names no process or another one (another start time), is certainly gone.

use std::sync::OnceLock;

/// Where and which process, as `host/pid/token` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The host name (for people; it proves nothing).
    pub host: String,
    /// The process id in its PID namespace.
    pub pid: u32,
    /// `boot.pidns.start`; absent in identities written before it existed.
    pub token: Option<Token>,
    /// Which operation of the process (`.op` after the token).
    pub op: Option<u64>,
}

/// What makes a process unique on one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The first 8 characters of `/proc/sys/kernel/random/boot_id`.
    pub boot: String,
    /// The inode of `/proc/self/ns/pid`.
    pub pid_ns: u64,
    /// Field 22 of `/proc/<pid>/stat`: the process's start time in ticks since boot.
    pub start: u64,
}

impl Holder {
    /// Parses `host/pid[/boot.pidns.start]`; `None` for anything else (another tool's
    /// identity), which is never judged gone.
    pub fn parse(identity: &str) -> Option<Holder> {
        let mut parts = identity.splitn(3, '/');
        let host = parts.next()?.to_owned();
        let pid = parts.next()?.parse().ok()?;
        let mut op = None;
        let token = match parts.next() {
            None => None,
            Some(token) => {
                let mut t = token.split('.');
                let token = Token {
                    boot: t.next()?.to_owned(),
                    pid_ns: t.next()?.parse().ok()?,
                    start: t.next()?.parse().ok()?,
                };
                op = match t.next() {
                    Some(op) => Some(op.parse().ok()?),
                    None => None,
                };
                if t.next().is_some() {
                    return None;
                }
                Some(token)
            }
        };
        Some(Holder {
            host,
            pid,
            token,
            op,
        })
    }

    /// As written into `holderIdentity`.
    pub fn render(&self) -> String {
        let mut s = format!("{}/{}", self.host, self.pid);
        if let Some(t) = &self.token {
            s.push_str(&format!("/{}.{}.{}", t.boot, t.pid_ns, t.start));
            if let Some(op) = self.op {
                s.push_str(&format!(".{op}"));
            }
        }
        s
    }

    /// Whether `self` is certainly a process that no longer runs, judged from `me` (this
    /// run) and `start_of` (the start time of a PID here, `None` when no such process).
    /// Only a holder on our kernel and in our PID namespace can be judged.
    pub fn is_gone(&self, me: &Holder, start_of: impl Fn(u32) -> Option<u64>) -> bool {
        match (&self.token, &me.token) {
            (Some(theirs), Some(ours))
                if theirs.boot == ours.boot && theirs.pid_ns == ours.pid_ns =>
            {
                start_of(self.pid) != Some(theirs.start)
            }
            _ => false,
        }
    }

    /// Whether `self` is an operation of this very process that renews nothing any more
    /// (it ended without releasing, or a program dropped it midway): `live` says whether an
    /// operation number still renews a Lease here.
    pub fn is_ended_operation_of(&self, me: &Holder, live: impl Fn(u64) -> bool) -> bool {
        self.token.is_some()
            && self.token == me.token
            && self.pid == me.pid
            && self.op.is_some_and(|op| !live(op))
    }
}

/// How many Leases each operation of this process renews right now.
static RENEWING: std::sync::Mutex<Vec<(u64, usize)>> = std::sync::Mutex::new(Vec::new());

/// Counts one Lease renewed by `identity`'s operation while the returned guard lives.
pub fn renewing(identity: &str) -> Renewal {
    let op = Holder::parse(identity).and_then(|h| h.op);
    if let (Some(op), Ok(mut live)) = (op, RENEWING.lock()) {
        match live.iter_mut().find(|(o, _)| *o == op) {
            Some((_, n)) => *n += 1,
            None => live.push((op, 1)),
        }
    }
    Renewal(op)
}

/// Whether operation `op` of this process renews a Lease.
pub fn is_live(op: u64) -> bool {
    RENEWING
        .lock()
        .map(|live| live.iter().any(|(o, n)| *o == op && *n > 0))
        // Unknown: never judge our own operation gone.
        .unwrap_or(true)
}

/// See [`renewing`].
pub struct Renewal(Option<u64>);

impl Drop for Renewal {
    fn drop(&mut self) {
        if let (Some(op), Ok(mut live)) = (self.0, RENEWING.lock()) {
            if let Some((_, n)) = live.iter_mut().find(|(o, _)| *o == op) {
                *n = n.saturating_sub(1);
            }
            live.retain(|(_, n)| *n > 0);
        }
    }
}

/// This run's identity, computed once.
pub fn me() -> &'static Holder {
    static ME: OnceLock<Holder> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        let token = (|| {
            let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
            let boot: String = boot.trim().chars().filter(|c| *c != '-').take(8).collect();
            let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
            let pid_ns = link
                .to_str()?
                .strip_prefix("pid:[")?
                .strip_suffix(']')?
                .parse()
                .ok()?;
            let start = start_time("self")?;
            (!boot.is_empty()).then_some(Token {
                boot,
                pid_ns,
                start,
            })
        })();
        Holder {
            host: hostname(),
            pid,
            token,
            op: None,
        }
    })
}

/// The identity of a new operation of this process: [`me`] with the next operation number.
pub fn next_operation() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let op = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let me = me();
    match me.token {
        Some(_) => Holder {
            op: Some(op),
            ..me.clone()
        }
        .render(),
        // Without a token the PID is all there is; the operation still needs telling apart.
        None => format!("{}/{}/{op}", me.host, me.pid),
    }
}

/// The start time of process `pid` here, if one runs.
pub fn start_of(pid: u32) -> Option<u64> {
    start_time(&pid.to_string())
}

fn start_time(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: comm may hold spaces and parentheses, so split after the last
    // `)`; the start time is the 22nd field, the 20th after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().replace('/', "_"))
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str, pid: u32, boot: &str, pid_ns: u64, start: u64) -> Holder {
        Holder {
            host: host.into(),
            pid,
            token: Some(Token {
                boot: boot.into(),
                pid_ns,
                start,
            }),
            op: None,
        }
    }

    #[test]
    fn an_operation_of_this_process_is_ended_once_it_renews_nothing() {
        let me = holder("ci", 7, "1a2b3c4d", 4026531836, 12345);
        let op = |n| Holder {
            op: Some(n),
            ..me.clone()
        };
        assert!(op(3).is_ended_operation_of(&me, |_| false));
        assert!(!op(3).is_ended_operation_of(&me, |o| o == 3));
        let other_pid = Holder { pid: 8, ..op(3) };
        assert!(!other_pid.is_ended_operation_of(&me, |_| false));
        let no_op = me.clone();
        assert!(!no_op.is_ended_operation_of(&me, |_| false));
        // The registry behind `is_live`: counted while a guard lives.
        let id = Holder {
            op: Some(u64::MAX - 1),
            ..super::me().clone()
        }
        .render();
        if super::me().token.is_some() {
            assert!(!is_live(u64::MAX - 1));
            let a = renewing(&id);
            let b = renewing(&id);
            drop(a);
            assert!(is_live(u64::MAX - 1));
            drop(b);
            assert!(!is_live(u64::MAX - 1));
        }
    }

    #[test]
    fn identities_round_trip_and_old_ones_still_parse() {
        let h = holder("ci", 7, "1a2b3c4d", 4026531836, 12345);
        assert_eq!(h.render(), "ci/7/1a2b3c4d.4026531836.12345");
        assert_eq!(Holder::parse(&h.render()), Some(h.clone()));
        let op = Holder { op: Some(3), ..h };
        assert_eq!(op.render(), "ci/7/1a2b3c4d.4026531836.12345.3");
        assert_eq!(Holder::parse(&op.render()), Some(op));
        let old = Holder::parse("laptop.example/4242").expect("old form");
        assert_eq!(
            (old.host.as_str(), old.pid, old.token),
            ("laptop.example", 4242, None)
        );
        for other in [
            "",
            "x",
            "x/y",
            "a/1/b",
            "a/1/b.2",
            "a/1/b.2.3.4.5",
            "a/1/b.x.3",
            "a/1/b.2.3.x",
        ] {
            assert_eq!(Holder::parse(other), None, "{other}");
        }
    }

    #[test]
    fn two_containers_with_the_same_host_name_and_pid_are_two_holders() {
        let a = holder("kubia", 1, "1a2b3c4d", 4026532001, 500);
        let b = holder("kubia", 1, "1a2b3c4d", 4026532002, 500);
        assert_ne!(a.render(), b.render());
        // `b` cannot judge `a`'s PID 1, whatever runs as its own PID 1.
        assert!(!a.is_gone(&b, |_| None));
        assert!(!a.is_gone(&b, |_| Some(1)));
    }

    #[test]
    fn a_holder_in_our_namespace_is_gone_when_its_pid_is_free_or_reused() {
        let me = holder("ci", 7, "1a2b3c4d", 4026531836, 900);
        let them = holder("ci", 42, "1a2b3c4d", 4026531836, 300);
        assert!(them.is_gone(&me, |_| None), "no process 42");
        assert!(
            them.is_gone(&me, |_| Some(301)),
            "42 is another process now"
        );
        assert!(!them.is_gone(&me, |_| Some(300)), "42 still runs");
        // Another boot of the same host: PIDs there say nothing about this one's.
        let rebooted = holder("ci", 42, "99999999", 4026531836, 300);
        assert!(!rebooted.is_gone(&me, |_| None));
        // The old form cannot be judged.
        let old = Holder::parse("ci/42").expect("old form");
        assert!(!old.is_gone(&me, |_| None));
    }

    #[test]
    fn two_operations_of_one_process_are_two_holders_and_both_alive() {
        let (a, b) = (next_operation(), next_operation());
        assert_ne!(a, b);
        let a = Holder::parse(&a).expect("ours parse");
        assert!(!a.is_gone(me(), start_of));
    }

    #[test]
    fn this_process_is_alive_by_its_own_judgement() {
        let me = me();
        assert_eq!(me.pid, std::process::id());
        assert!(
            me.token.is_some(),
            "Linux gives a boot id, PID namespace and start time"
        );
        assert!(!me.is_gone(me, start_of));
        assert_eq!(Holder::parse(&me.render()).as_ref(), Some(me));
    }
}
