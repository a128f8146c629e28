//! A fresh loopback source address for every connection to a loopback target.
//!
//! kube-proxy answers a connection to a Service that has no endpoints yet with an iptables
//! REJECT, but the kernel keeps the rejected SYN's conntrack entry, without any NAT, for up
//! to two minutes (`nf_conntrack_tcp_timeout_syn_sent`). When a later connection happens to
//! get the same source port, its SYN matches that entry, skips the Service's DNAT and is
//! refused although the Service has had endpoints for a while (kubernetes/kubernetes#48719,
//! #101607; kube-proxy clears such entries only for UDP). We saw exactly this: a wait loop
//! polled the NodePort while the pods started, and 13 s and 95 s later a probe request
//! reusing one of its source ports was refused by `127.0.0.1:30002` itself.
//!
//! Every address in 127.0.0.0/8 is local, so giving each connection its own source address
//! makes every connection's conntrack tuple new: no request can inherit another one's
//! refusal, and a refused request means the Service really refused it at that moment.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// 127.64.0.0/10: 4 million addresses, away from 127.0.0.1 and the 127.0.0.x that other
/// tools tend to use.
const BASE: u32 = u32::from_be_bytes([127, 64, 0, 0]);
const SIZE: u32 = 1 << 22;

static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);

/// The source address for a new connection to `target`: a fresh loopback address when the
/// target is an IPv4 loopback address, none (the kernel's choice) otherwise.
pub fn for_target(target: SocketAddr) -> Option<SocketAddr> {
    match target.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => Some(SocketAddr::new(IpAddr::V4(next()), 0)),
        _ => None,
    }
}

/// The next address of the cycle, skipping host parts ending in .0 and .255 out of caution.
fn next() -> Ipv4Addr {
    loop {
        let a = address(next_offset());
        if !matches!(a.octets()[3], 0 | 255) {
            return a;
        }
    }
}

/// The cycle starts at a point that differs per process, so that a run started right after
/// another one does not retrace its addresses.
fn next_offset() -> u32 {
    let mut current = NEXT.load(Ordering::Relaxed);
    loop {
        let offset = if current == u32::MAX {
            start_offset()
        } else {
            current
        };
        let following = (offset + 1) % SIZE;
        match NEXT.compare_exchange_weak(current, following, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return offset,
            Err(seen) => current = seen,
        }
    }
}

fn start_offset() -> u32 {
    let clock = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
        d.subsec_nanos() ^ (d.as_secs() as u32).wrapping_mul(2_654_435_761)
    });
    (clock ^ std::process::id().wrapping_mul(40_503)) % SIZE
}

fn address(offset: u32) -> Ipv4Addr {
    Ipv4Addr::from(BASE + offset % SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_get_distinct_loopback_sources() {
        let target: SocketAddr = "127.0.0.1:30002".parse().unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let source = for_target(target).expect("a source for a loopback target");
            let IpAddr::V4(ip) = source.ip() else {
                panic!("not IPv4: {source}")
            };
            assert!(ip.is_loopback() && ip != Ipv4Addr::LOCALHOST, "{ip}");
            assert_eq!(source.port(), 0);
            seen.insert(ip);
        }
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn other_targets_keep_the_kernels_choice() {
        assert_eq!(for_target("10.0.0.1:80".parse().unwrap()), None);
        assert_eq!(for_target("[::1]:80".parse().unwrap()), None);
    }

    #[test]
    fn addresses_stay_in_the_range() {
        for n in [0, 1, 255, SIZE - 1, SIZE, u32::MAX - 1] {
            let a = u32::from(address(n));
            assert!((BASE..BASE + SIZE).contains(&a), "{n} → {}", address(n));
        }
        for _ in 0..600 {
            assert!(!matches!(next().octets()[3], 0 | 255));
        }
    }
}
