//! Command-line flags and their environment variables.

use std::time::Duration;

use clap::Parser;

use crate::Variant;

/// The kubia demo server of the "upgrading applications" tutorial.
#[derive(Debug, Clone, Parser)]
#[command(name = "kubia", version, about)]
pub struct Config {
    /// TCP port to listen on (all interfaces, IPv4 and IPv6 where available)
    /// [env: KUBIA_PORT] [default: 8080].
    #[arg(long)]
    pub port: Option<u16>,

    /// Which version of the app to be.
    #[arg(long, env = "KUBIA_VARIANT", default_value = "v1", value_parser = parse_variant)]
    pub variant: Variant,

    /// After SIGTERM/SIGINT, keep serving this long before closing the listener, so that
    /// Kubernetes removes the pod from the Service's endpoints before it stops answering.
    #[arg(long, env = "KUBIA_SHUTDOWN_DELAY", default_value = "0s", value_parser = humantime::parse_duration)]
    pub shutdown_delay: Duration,

    /// Upper bound for finishing in-flight requests once the listener is closed.
    #[arg(long, env = "KUBIA_DRAIN_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,

    /// Close connections whose request headers have not arrived within this time.
    #[arg(long, env = "KUBIA_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub header_read_timeout: Duration,

    /// The name in the answers; defaults to `$HOSTNAME`, else the machine's hostname
    /// (in Kubernetes both are the pod name).
    #[arg(long, env = "KUBIA_POD_NAME")]
    pub pod_name: Option<String>,
}

/// The port of the book's app.
pub const DEFAULT_PORT: u16 = 8080;

/// A Docker-link style value (`tcp://10.0.0.114:80`) as Kubernetes sets for Services.
fn is_service_link(v: &str) -> bool {
    v.starts_with("tcp://") || v.starts_with("udp://") || v.starts_with("sctp://")
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    s.parse()
        .map_err(|e: crate::variant::UnknownVariant| e.to_string())
}

impl Config {
    /// A configuration for tests and embedding: the given variant on an ephemeral port.
    pub fn ephemeral(variant: Variant, pod_name: &str) -> Self {
        Self {
            port: Some(0),
            variant,
            shutdown_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            pod_name: Some(pod_name.to_owned()),
        }
    }

    /// The port to listen on: `--port`, else `KUBIA_PORT`, else 8080.
    ///
    /// Kubernetes injects Docker-link variables for every Service into every pod, and for
    /// the tutorial's Service `kubia` that includes `KUBIA_PORT=tcp://10.0.0.114:80`. Such a
    /// value names the Service, not our port, so it is ignored rather than fatal.
    pub fn listen_port(&self) -> Result<u16, String> {
        if let Some(p) = self.port {
            return Ok(p);
        }
        match std::env::var("KUBIA_PORT") {
            Ok(v) if is_service_link(&v) || v.is_empty() => Ok(DEFAULT_PORT),
            Ok(v) => v
                .parse()
                .map_err(|_| format!("invalid KUBIA_PORT {v:?}: expected a port number")),
            Err(_) => Ok(DEFAULT_PORT),
        }
    }

    /// The pod name to report, following the lookup order documented on `--pod-name`.
    pub fn resolved_pod_name(&self) -> String {
        self.pod_name
            .clone()
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .or_else(|| hostname::get().ok().and_then(|h| h.into_string().ok()))
            .unwrap_or_else(|| "unknown".to_owned())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn service_links_are_not_ports() {
        assert!(super::is_service_link("tcp://10.0.0.114:80"));
        assert!(!super::is_service_link("8080"));
    }
}
