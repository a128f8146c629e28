//! The nodes' pod networks as the API server reports them, parsed before any of it reaches
//! a shell inside a privileged node container.

use anyhow::{Context, Result, ensure};

/// A node's name, pod CIDR and InternalIP, each parsed.
#[derive(Debug, PartialEq, Eq)]
pub struct NodeNetwork {
    pub name: String,
    pub pod_cidr: Cidr,
    pub address: std::net::IpAddr,
}

/// An address range: an address and a prefix length valid for its family.
#[derive(Debug, PartialEq, Eq)]
pub struct Cidr(std::net::IpAddr, u8);

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.0, self.1)
    }
}

impl std::str::FromStr for Cidr {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        let (addr, len) = s
            .split_once('/')
            .with_context(|| format!("{s:?} is not a CIDR"))?;
        let addr: std::net::IpAddr = addr
            .parse()
            .with_context(|| format!("{s:?} is not a CIDR"))?;
        let len: u8 = len
            .parse()
            .with_context(|| format!("{s:?} is not a CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        ensure!(len <= max, "{s:?} is not a CIDR (prefix longer than {max})");
        Ok(Cidr(addr, len))
    }
}

/// Parses `name podCIDR address` lines (nodes without both yet are left out); any value
/// that is not what it must be is an error, never passed on.
pub fn parse_node_networks(text: &str) -> Result<Vec<NodeNetwork>> {
    let mut nodes = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, cidr, address] = f[..] else {
            continue;
        };
        ensure!(
            !name.is_empty()
                && name.len() <= 253
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'),
            "node name {name:?} is not a Kubernetes node name"
        );
        nodes.push(NodeNetwork {
            name: name.to_owned(),
            pod_cidr: cidr
                .parse()
                .with_context(|| format!("node {name}'s podCIDR"))?,
            address: address.parse().with_context(|| {
                format!("node {name}'s InternalIP {address:?} is not an address")
            })?,
        });
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_networks_are_parsed_and_anything_else_refused() {
        let ok = super::parse_node_networks(
            "kubia-lab-control-plane 10.244.0.0/24 172.18.0.2\nkubia-lab-worker 10.244.1.0/24 172.18.0.3\nnew-node  \n",
        )
        .expect("parsed");
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].pod_cidr.to_string(), "10.244.1.0/24");
        assert_eq!(ok[1].address.to_string(), "172.18.0.3");
        for bad in [
            "n 10.244.0.0/24;reboot 172.18.0.2",
            "n 10.244.0.0/24 172.18.0.2&&reboot",
            "n $(reboot) 172.18.0.2",
            "n 10.244.0.0/33 172.18.0.2",
            "n 10.244.0.0 172.18.0.2",
            "N;x 10.244.0.0/24 172.18.0.2",
        ] {
            assert!(super::parse_node_networks(bad).is_err(), "{bad}");
        }
    }
}
