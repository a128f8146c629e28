//! The local cluster's address ranges: pods and Services.
//!
//! Both are configurable (`KUBIA_POD_CIDR`, `KUBIA_SERVICE_CIDR`) and default to ranges a
//! home or office network rarely uses (10.233.x, as kubespray's defaults; not 10.0.0.0/24,
//! whose 10.0.0.1 is a common gateway, nor Docker's 172.17.0.0/16). `up` refuses ranges that
//! overlap each other or an address of this host, and records the ranges it used so that
//! `down` removes exactly the iptables rules that name them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;
use std::str::FromStr;

use anyhow::{Context, Result, bail};

use super::settings::BRIDGE;

/// Default pod range (one node: a /24 is 254 pods).
pub const DEFAULT_POD_CIDR: &str = "10.233.64.0/24";
/// Default Service range.
pub const DEFAULT_SERVICE_CIDR: &str = "10.233.0.0/24";

/// An IPv4 network, `a.b.c.d/n` with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl FromStr for Cidr {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Cidr> {
        let (addr, prefix) = s
            .split_once('/')
            .with_context(|| format!("{s:?} is not a CIDR (a.b.c.d/n)"))?;
        let network: Ipv4Addr = addr
            .parse()
            .with_context(|| format!("{addr:?} in {s:?} is not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| (8..=28).contains(p))
            .with_context(|| format!("the prefix of {s:?} must be between /8 and /28"))?;
        let cidr = Cidr { network, prefix };
        if u32::from(network) & !cidr.mask() != 0 {
            bail!(
                "{s:?} has host bits set; the network is {}/{prefix}",
                Ipv4Addr::from(u32::from(network) & cidr.mask())
            );
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Cidr {
    fn mask(self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    /// Whether `ip` lies in this network.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }

    /// Whether the two networks share an address.
    pub fn overlaps(self, other: Cidr) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The first host address (the `kubernetes` Service's IP in a Service range).
    pub fn first_host(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }
}

/// The ranges of one local cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Networks {
    pub pods: Cidr,
    pub services: Cidr,
}

impl Networks {
    /// From `KUBIA_POD_CIDR` and `KUBIA_SERVICE_CIDR`, else the defaults; checked against
    /// each other and against this host's addresses.
    pub fn from_env(host_ips: &[IpAddr]) -> Result<Networks> {
        let get = |var: &str, default: &str| -> Result<Cidr> {
            let value = std::env::var(var).unwrap_or_else(|_| default.to_owned());
            value.parse().with_context(|| format!("${var}"))
        };
        let nets = Networks {
            pods: get("KUBIA_POD_CIDR", DEFAULT_POD_CIDR)?,
            services: get("KUBIA_SERVICE_CIDR", DEFAULT_SERVICE_CIDR)?,
        };
        nets.check(host_ips)?;
        Ok(nets)
    }

    /// Refuses overlapping ranges, or a range holding an address of this host (its LAN
    /// would become unreachable from the pods, or its traffic would be NATed away).
    pub fn check(&self, host_ips: &[IpAddr]) -> Result<()> {
        if self.pods.overlaps(self.services) {
            bail!(
                "the pod range {} and the Service range {} overlap; set KUBIA_POD_CIDR or KUBIA_SERVICE_CIDR",
                self.pods,
                self.services
            );
        }
        for ip in host_ips {
            let IpAddr::V4(v4) = ip else { continue };
            for (what, var, cidr) in [
                ("pod", "KUBIA_POD_CIDR", self.pods),
                ("Service", "KUBIA_SERVICE_CIDR", self.services),
            ] {
                if cidr.contains(*v4) {
                    bail!(
                        "this host's address {v4} lies in the {what} range {cidr}; choose another range with {var}=a.b.c.d/n"
                    );
                }
            }
        }
        Ok(())
    }

    /// Records the ranges in the state directory for `down`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::write(
            dir.join("networks"),
            format!("{}\n{}\n", self.pods, self.services),
        )
        .context("recording the cluster's address ranges")
    }

    /// The ranges `up` recorded, if any.
    pub fn load(dir: &Path) -> Option<Networks> {
        let text = std::fs::read_to_string(dir.join("networks")).ok()?;
        let mut lines = text.lines();
        Some(Networks {
            pods: lines.next()?.parse().ok()?,
            services: lines.next()?.parse().ok()?,
        })
    }
}

/// This host's addresses, except those on our own bridge: a cluster already running (or a
/// bridge left by a crashed one) holds the pod range's first address, which is ours, not the
/// host's LAN.
pub(super) fn host_ips() -> Vec<IpAddr> {
    let out = Command::new("ip").args(["-o", "addr", "show"]).output();
    out.map(|o| addresses_except(&String::from_utf8_lossy(&o.stdout), BRIDGE))
        .unwrap_or_default()
}

/// The addresses in `ip -o addr show` output, as `hostname -I` lists them (no loopback, no
/// IPv6 link-local), skipping interface `skip`.
pub(super) fn addresses_except(ip_o_addr: &str, skip: &str) -> Vec<IpAddr> {
    ip_o_addr
        .lines()
        .filter_map(|line| {
            // "3: kubia0    inet 10.233.64.1/24 brd 10.233.64.255 scope global kubia0"
            let mut words = line.split_whitespace();
            let iface = words.nth(1)?;
            let _family = words.next()?;
            let addr = words.next()?.split('/').next()?;
            (iface != skip).then(|| addr.parse().ok()).flatten()
        })
        .filter(|ip: &IpAddr| match ip {
            IpAddr::V4(v4) => !v4.is_loopback(),
            IpAddr::V6(v6) => !v6.is_loopback() && (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e:#}"))
    }

    #[test]
    fn parses_contains_and_first_host() {
        let c = cidr("10.233.0.0/24");
        assert_eq!(c.to_string(), "10.233.0.0/24");
        assert!(c.contains(Ipv4Addr::new(10, 233, 0, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 233, 1, 0)));
        assert_eq!(c.first_host(), Ipv4Addr::new(10, 233, 0, 1));
    }

    #[test]
    fn refuses_bad_ranges_with_the_reason() {
        for (bad, why) in [
            ("10.233.0.0", "not a CIDR"),
            (
                "10.233.0.1/24",
                "host bits set; the network is 10.233.0.0/24",
            ),
            ("10.233.0.0/30", "between /8 and /28"),
            ("fd00::/64", "not an IPv4 address"),
        ] {
            let err = bad.parse::<Cidr>().map(drop).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{bad}: {err:#}");
        }
    }

    #[test]
    fn overlapping_ranges_or_a_host_address_inside_are_refused() {
        let nets = Networks {
            pods: cidr(DEFAULT_POD_CIDR),
            services: cidr(DEFAULT_SERVICE_CIDR),
        };
        assert!(nets.check(&[IpAddr::from([192, 168, 1, 20])]).is_ok());
        let inside = nets.check(&[IpAddr::from([10, 233, 64, 7])]);
        assert!(
            format!("{:#}", inside.unwrap_err()).contains("lies in the pod range 10.233.64.0/24")
        );
        let overlapping = Networks {
            pods: cidr("10.0.0.0/16"),
            services: cidr("10.0.3.0/24"),
        };
        assert!(overlapping.check(&[]).is_err());
    }

    #[test]
    fn host_addresses_leave_out_our_bridge() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n\
                   2: eth0    inet 192.168.1.20/24 brd 192.168.1.255 scope global eth0\n\
                   2: eth0    inet6 fe80::1/64 scope link \\       valid_lft forever\n\
                   2: eth0    inet6 2001:db8::7/64 scope global \\       valid_lft forever\n\
                   5: kubia0    inet 10.233.64.1/24 brd 10.233.64.255 scope global kubia0\n";
        let ips = addresses_except(out, BRIDGE);
        assert_eq!(
            ips,
            ["192.168.1.20", "2001:db8::7"]
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect::<Vec<IpAddr>>()
        );
        // A cluster running beside itself passes the range check; another bridge would not.
        let nets = Networks {
            pods: "10.233.64.0/24".parse().unwrap_or_else(|e| panic!("{e:#}")),
            services: "10.233.0.0/24".parse().unwrap_or_else(|e| panic!("{e:#}")),
        };
        assert!(nets.check(&ips).is_ok());
        assert!(nets.check(&addresses_except(out, "eth0")).is_err());
    }
}
