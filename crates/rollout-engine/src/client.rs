//! Building a kube client the way kubectl picks its cluster: `--kubeconfig` or `$KUBECONFIG`
//! or `~/.kube/config`, `--context` or the current context, `-n` or the context's namespace.
//!
//! Nothing here talks to the server: an unreachable cluster is reported by the first API call,
//! with the URL found here.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{EngineError, Result};

/// Where to find the cluster; all optional, as with kubectl.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterOptions {
    /// A kubeconfig file (`--kubeconfig`); default `$KUBECONFIG`, then `~/.kube/config`, then
    /// the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// A context name (`--context`); default the kubeconfig's current context.
    pub context: Option<String>,
    /// The namespace (`-n`); default the context's namespace, then `default`.
    pub namespace: Option<String>,
}

/// A connected (well, configured) cluster.
#[derive(Clone)]
pub struct Cluster {
    /// The client.
    pub client: Client,
    /// The namespace every operation works in.
    pub namespace: String,
    /// The API server URL, for error messages.
    pub server: String,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// How long one connection attempt may take. kube's default (30 s) would make an unroutable
/// server look like a hang; retries cover slow starts.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may take. We never watch, so no request should legitimately take long,
/// and without a limit a wedged API server would hang the update instead of being retried.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the configuration and builds a client.
pub async fn connect(options: &ClusterOptions) -> Result<Cluster> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|e| {
                EngineError::Config(format!(
                    "cannot read kubeconfig {}: {}",
                    path.display(),
                    one_line(&e)
                ))
            })?;
            Config::from_custom_kubeconfig(kubeconfig, &kube_options)
                .await
                .map_err(|e| {
                    EngineError::Config(format!(
                        "invalid kubeconfig {}: {}",
                        path.display(),
                        one_line(&e)
                    ))
                })?
        }
        None if options.context.is_some() => Config::from_kubeconfig(&kube_options)
            .await
            .map_err(|e| EngineError::Config(format!("invalid kubeconfig: {}", one_line(&e))))?,
        None => Config::infer().await.map_err(|e| {
            EngineError::Config(format!(
                "no usable kubeconfig (set --kubeconfig or KUBECONFIG): {}",
                one_line(&e)
            ))
        })?,
    };
    let mut config = config;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    let server = config.cluster_url.to_string();
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| {
        EngineError::Config(format!(
            "cannot build a client for {server}: {}",
            one_line(&e)
        ))
    })?;
    Ok(Cluster {
        client,
        namespace,
        server,
    })
}

/// An error and its causes on one line (`a: b: c`), without repeating a cause that the
/// outer message already contains.
pub(crate) fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text.replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(Inner);
    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Connection refused\n(os error 111)")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    impl std::error::Error for Inner {}

    #[test]
    fn one_line_joins_causes() {
        assert_eq!(
            one_line(&Outer(Inner)),
            "client error (Connect): Connection refused (os error 111)"
        );
    }

    #[tokio::test]
    async fn missing_kubeconfig_file_is_a_config_error() {
        let options = ClusterOptions {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            ..ClusterOptions::default()
        };
        let err = connect(&options).await.err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("/nonexistent/kubeconfig")),
            "{err:?}"
        );
    }
}
