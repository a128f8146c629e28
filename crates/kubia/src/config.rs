//! Command-line flags and their environment variables.

use std::time::Duration;

use clap::Parser;

use crate::Variant;

/// The kubia demo server of the "upgrading applications" tutorial.
#[derive(Debug, Clone, Parser)]
#[command(name = "kubia", version, about)]
pub struct Config {
    /// TCP port to listen on (all interfaces, IPv4 and IPv6 where available).
    #[arg(long, env = "KUBIA_PORT", default_value_t = 8080)]
    pub port: u16,

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

fn parse_variant(s: &str) -> Result<Variant, String> {
    s.parse()
        .map_err(|e: crate::variant::UnknownVariant| e.to_string())
}

impl Config {
    /// A configuration for tests and embedding: the given variant on an ephemeral port.
    pub fn ephemeral(variant: Variant, pod_name: &str) -> Self {
        Self {
            port: 0,
            variant,
            shutdown_delay: Duration::ZERO,
            drain_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            pod_name: Some(pod_name.to_owned()),
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
