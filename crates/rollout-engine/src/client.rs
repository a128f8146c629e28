//! Building a kube client the way kubectl picks its cluster: `--kubeconfig` or `$KUBECONFIG`
//! or `~/.kube/config`, `--context` or the current context, `-n` or the context's namespace.
//!
//! Nothing here talks to the server: an unreachable cluster is reported by the first API call,
//! with the URL found here.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::ConfigExt;
use kube::client::retry::RetryPolicy;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};

use crate::error::{EngineError, Result, one_line};

mod kubeconfig;

use kubeconfig::{read_kubeconfig, with_schemes};

/// Where to find the cluster; all optional, as with kubectl.
///
/// With the `clap` feature these are also kubectl's global connection flags (one
/// declaration for the engine and every front end); the `help` texts are what users read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct ClusterOptions {
    /// A kubeconfig file (`--kubeconfig`); default `$KUBECONFIG`, then `~/.kube/config`, then
    /// the in-cluster service account.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "FILE",
            help = "Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)"
        )
    )]
    pub kubeconfig: Option<PathBuf>,
    /// A context name (`--context`); default the kubeconfig's current context.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "CONTEXT",
            help = "The kubeconfig context to use"
        )
    )]
    pub context: Option<String>,
    /// The namespace (`-n`); default the context's namespace, then `default`.
    #[cfg_attr(
        feature = "clap",
        arg(
            short = 'n',
            long,
            global = true,
            value_name = "NAMESPACE",
            help = "Namespace to work in (default: the context's namespace, then \"default\")"
        )
    )]
    pub namespace: Option<String>,
    /// kubectl's `--cluster`: the kubeconfig cluster to use instead of the context's.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "CLUSTER",
            help = "The kubeconfig cluster to use (instead of the context's)"
        )
    )]
    pub cluster: Option<String>,
    /// kubectl's `--user`: the kubeconfig user to use instead of the context's.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "USER",
            help = "The kubeconfig user to use (instead of the context's)"
        )
    )]
    pub user: Option<String>,
    /// kubectl's `--server`: the API server's URL, overriding the kubeconfig's.
    #[cfg_attr(
        feature = "clap",
        arg(
            short = 's',
            long,
            global = true,
            value_name = "URL",
            help = "The address and port of the Kubernetes API server"
        )
    )]
    pub server: Option<String>,
    /// kubectl's `--token`: a bearer token, overriding the kubeconfig user's credentials.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "TOKEN",
            help = "Bearer token for authentication to the API server"
        )
    )]
    pub token: Option<String>,
    /// kubectl's `--certificate-authority`: a CA bundle file for the server's certificate.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "FILE",
            help = "Path to a cert file for the certificate authority"
        )
    )]
    pub certificate_authority: Option<PathBuf>,
    /// kubectl's `--client-certificate`: a client certificate file for TLS.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "FILE",
            help = "Path to a client certificate file for TLS"
        )
    )]
    pub client_certificate: Option<PathBuf>,
    /// kubectl's `--client-key`: the client certificate's key file.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "FILE",
            help = "Path to a client key file for TLS"
        )
    )]
    pub client_key: Option<PathBuf>,
    /// kubectl's `--as`: the user to impersonate.
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "as",
            global = true,
            value_name = "USER",
            help = "Username to impersonate for the operation"
        )
    )]
    pub impersonate: Option<String>,
    /// kubectl's `--as-group` (repeatable): the groups to impersonate.
    #[cfg_attr(
        feature = "clap",
        arg(
            long = "as-group",
            global = true,
            value_name = "GROUP",
            help = "Group to impersonate for the operation (repeat for several)"
        )
    )]
    pub impersonate_groups: Vec<String>,
    /// kubectl's `--insecure-skip-tls-verify`.
    #[cfg_attr(feature = "clap", arg(long, global = true, num_args = 0..=1,
        default_value_t = false, default_missing_value = "true",
        action = clap::ArgAction::Set, hide_default_value = true, value_name = "BOOL",
        help = "If true, the server's certificate will not be checked for validity (insecure)"))]
    pub insecure_skip_tls_verify: bool,
    /// kubectl's `--request-timeout`: the limit for one request; `Some(ZERO)` means none.
    #[cfg_attr(feature = "clap", arg(long, global = true,
        value_parser = go_duration::parse_request_timeout, value_name = "DURATION",
        help = "The length of time to wait before giving up on a single server request (e.g. 1s, 2m, 3h; a bare number is seconds, as in kubectl; 0 means no limit)"))]
    pub request_timeout: Option<Duration>,
}

impl ClusterOptions {
    /// Whether a flag overrides part of the kubeconfig.
    fn overrides(&self) -> bool {
        self.cluster.is_some()
            || self.user.is_some()
            || self.server.is_some()
            || self.token.is_some()
            || self.certificate_authority.is_some()
            || self.insecure_skip_tls_verify
            || self.client_certificate.is_some()
            || self.client_key.is_some()
            || self.impersonate.is_some()
            || !self.impersonate_groups.is_empty()
    }
}

/// Name of the kubeconfig entries made up for flags that name no existing one.
const FLAGS_ENTRY: &str = "kubia-rollout-flags";

/// The kubeconfig with kubectl's override flags applied, and the options that select the
/// overridden context, cluster and user (as clientcmd's overrides do).
fn apply_overrides(
    mut kc: Kubeconfig,
    options: &ClusterOptions,
) -> Result<(Kubeconfig, KubeConfigOptions)> {
    use kube::config::{AuthInfo, Context, NamedAuthInfo, NamedCluster, NamedContext};
    let context_name = options.context.clone().or(kc.current_context.clone());
    let context = context_name
        .as_ref()
        .and_then(|n| kc.contexts.iter().find(|c| &c.name == n))
        .and_then(|c| c.context.clone());
    let cluster_name = options
        .cluster
        .clone()
        .or_else(|| context.as_ref().map(|c| c.cluster.clone()))
        .unwrap_or_else(|| FLAGS_ENTRY.to_owned());
    let user_name = options
        .user
        .clone()
        .or_else(|| context.as_ref().and_then(|c| c.user.clone()))
        .unwrap_or_else(|| FLAGS_ENTRY.to_owned());
    if options.server.is_some()
        || options.certificate_authority.is_some()
        || options.insecure_skip_tls_verify
    {
        if !kc.clusters.iter().any(|c| c.name == cluster_name) {
            kc.clusters.push(NamedCluster {
                name: cluster_name.clone(),
                cluster: Some(Default::default()),
                ..Default::default()
            });
        }
        for named in kc.clusters.iter_mut().filter(|c| c.name == cluster_name) {
            let cluster = named.cluster.get_or_insert_with(Default::default);
            if let Some(server) = &options.server {
                cluster.server = Some(server.clone());
            }
            if let Some(ca) = &options.certificate_authority {
                cluster.certificate_authority = Some(ca.display().to_string());
                cluster.certificate_authority_data = None;
            }
            if options.insecure_skip_tls_verify {
                cluster.insecure_skip_tls_verify = Some(true);
                cluster.certificate_authority = None;
                cluster.certificate_authority_data = None;
            }
        }
    }
    if let Some(token) = &options.token {
        // The token replaces whatever credentials the user had, as kubectl's flag does.
        let auth: AuthInfo = serde_json::from_value(serde_json::json!({ "token": token }))
            .map_err(|e| EngineError::Config(format!("--token: {e}")))?;
        kc.auth_infos.retain(|a| a.name != user_name);
        kc.auth_infos.push(NamedAuthInfo {
            name: user_name.clone(),
            auth_info: Some(auth),
            ..Default::default()
        });
    }
    if options.client_certificate.is_some()
        || options.client_key.is_some()
        || options.impersonate.is_some()
        || !options.impersonate_groups.is_empty()
    {
        if !kc.auth_infos.iter().any(|a| a.name == user_name) {
            kc.auth_infos.push(NamedAuthInfo {
                name: user_name.clone(),
                auth_info: Some(AuthInfo::default()),
                ..Default::default()
            });
        }
        for named in kc.auth_infos.iter_mut().filter(|a| a.name == user_name) {
            let auth = named.auth_info.get_or_insert_with(AuthInfo::default);
            if let Some(cert) = &options.client_certificate {
                auth.client_certificate = Some(cert.display().to_string());
                auth.client_certificate_data = None;
            }
            if let Some(key) = &options.client_key {
                auth.client_key = Some(key.display().to_string());
                auth.client_key_data = None;
            }
            if let Some(user) = &options.impersonate {
                auth.impersonate = Some(user.clone());
            }
            if !options.impersonate_groups.is_empty() {
                auth.impersonate_groups = Some(options.impersonate_groups.clone());
            }
        }
    }
    let context_name = match context {
        Some(_) => context_name,
        None => {
            kc.contexts.push(NamedContext {
                name: FLAGS_ENTRY.to_owned(),
                context: Some(Context {
                    cluster: cluster_name.clone(),
                    user: Some(user_name.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            });
            Some(FLAGS_ENTRY.to_owned())
        }
    };
    Ok((
        kc,
        KubeConfigOptions {
            context: context_name,
            cluster: Some(cluster_name),
            user: Some(user_name),
        },
    ))
}

/// A connected (well, configured) cluster.
#[derive(Clone)]
pub struct Cluster {
    /// The client for requests, with the read timeout.
    pub client: Client,
    /// The client for watches: the same cluster and credentials, without a read timeout (a
    /// watch is quiet for as long as nothing changes; the server ends it after
    /// `timeoutSeconds`), and with its own connections, so that a watch never takes the
    /// requests' warm connection.
    pub watch_client: Client,
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
/// How long a response may take. No request but a watch (which has its own client) should
/// legitimately take long, and without a limit a wedged API server would hang the update
/// instead of being retried.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Loads the configuration and builds a client.
pub async fn connect(options: &ClusterOptions) -> Result<Cluster> {
    let kube_options = KubeConfigOptions {
        context: options.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match read_kubeconfig(options.kubeconfig.as_deref())? {
        Some(kc) => {
            let (mut kc, kube_options) = if options.overrides() {
                apply_overrides(kc, options)?
            } else {
                (kc, kube_options)
            };
            with_schemes(&mut kc)?;
            Config::from_custom_kubeconfig(kc, &kube_options)
                .await
                .map_err(|e| {
                    EngineError::Config(format!(
                        "invalid {}kubeconfig{}: {}",
                        if options.overrides() {
                            "cluster flags or "
                        } else {
                            ""
                        },
                        options
                            .kubeconfig
                            .as_ref()
                            .map(|p| format!(" {}", p.display()))
                            .unwrap_or_default(),
                        one_line(&e)
                    ))
                })?
        }
        // Only flags (`--server`, `--token`): no kubeconfig needed, as with kubectl.
        None if options.overrides() => {
            let (mut kc, kube_options) = apply_overrides(Kubeconfig::default(), options)?;
            with_schemes(&mut kc)?;
            Config::from_custom_kubeconfig(kc, &kube_options)
                .await
                .map_err(|e| {
                    EngineError::Config(format!("invalid cluster flags: {}", one_line(&e)))
                })?
        }
        None => Config::incluster().map_err(|e| {
            EngineError::Config(format!(
                "no kubeconfig (set --kubeconfig or KUBECONFIG) and not inside a cluster: {}",
                one_line(&e)
            ))
        })?,
    };
    let mut config = config;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = match options.request_timeout {
        Some(t) if t.is_zero() => None,
        Some(t) => Some(t),
        None => Some(READ_TIMEOUT),
    };
    let server = config.cluster_url.to_string();
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    crate::names::namespace(&namespace)?;
    let cannot = |e: kube::Error| {
        EngineError::Config(format!(
            "cannot build a client for {server}: {}",
            one_line(&e)
        ))
    };
    let watch_client = build(&config, None).map_err(cannot)?;
    let client = build(&config, config.read_timeout).map_err(cannot)?;
    Ok(Cluster {
        client,
        watch_client,
        namespace,
        server,
    })
}

/// kube's default client stack (TLS from the kubeconfig, timeouts, base URL, credentials,
/// extra headers such as impersonation, retries of 429/503), built here for two reasons:
/// `read_timeout` differs between requests and watches, and the sockets get `TCP_NODELAY`.
///
/// Why `TCP_NODELAY`: without it (hyper's default), Nagle's algorithm holds a TLS record
/// written right after another until the server acknowledges the first, and the server delays
/// that acknowledgement by up to 40 ms. Every new connection paid that once after its
/// handshake (measured: 43-47 ms between a watch's listing and the next request on a fresh
/// connection); Go's clients, kubectl and the controllers among them, set it by default.
fn build(config: &Config, read_timeout: Option<Duration>) -> kube::Result<Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    let https = config.rustls_https_connector_with_connector(http)?;
    let mut timed = hyper_timeout::TimeoutConnector::new(https);
    timed.set_connect_timeout(config.connect_timeout);
    timed.set_read_timeout(read_timeout);
    timed.set_write_timeout(config.write_timeout);
    timed.set_reset_reader_on_write(config.reset_reader_on_write);
    let hyper = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(timed);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(Client::new(service, config.default_namespace.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig() -> Kubeconfig {
        let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  cluster: {server: 'https://127.0.0.1:6443', certificate-authority-data: 'eA=='}\n- name: other\n  cluster: {server: 'https://10.0.0.9:6443'}\nusers:\n- name: admin\n  user: {token: 'old'}\ncontexts:\n- name: lab\n  context: {cluster: lab, user: admin, namespace: dev}\n";
        Kubeconfig::from_yaml(yaml).unwrap_or_default()
    }

    #[tokio::test]
    async fn kubectl_override_flags_change_what_the_client_uses() {
        let options = ClusterOptions {
            server: Some("https://192.0.2.7:443".into()),
            token: Some("t0ken".into()),
            insecure_skip_tls_verify: true,
            ..ClusterOptions::default()
        };
        let (kc, opts) = apply_overrides(kubeconfig(), &options).unwrap_or_default();
        let config = Config::from_custom_kubeconfig(kc, &opts).await;
        let config = config.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.cluster_url.to_string(), "https://192.0.2.7:443/");
        assert!(config.accept_invalid_certs);
        assert_eq!(config.default_namespace, "dev");
        let token = config.auth_info.token.as_ref().map(|t| {
            use secrecy::ExposeSecret;
            t.expose_secret().to_owned()
        });
        assert_eq!(token.as_deref(), Some("t0ken"));

        let acting = ClusterOptions {
            impersonate: Some("jane".into()),
            impersonate_groups: vec!["devs".into(), "ops".into()],
            client_certificate: Some("/tmp/c.crt".into()),
            client_key: Some("/tmp/c.key".into()),
            ..ClusterOptions::default()
        };
        let (kc, _) = apply_overrides(kubeconfig(), &acting).unwrap_or_default();
        let admin = kc
            .auth_infos
            .iter()
            .find(|a| a.name == "admin")
            .and_then(|a| a.auth_info.clone())
            .unwrap_or_default();
        assert_eq!(admin.impersonate.as_deref(), Some("jane"));
        assert_eq!(
            admin.impersonate_groups,
            Some(vec!["devs".to_owned(), "ops".to_owned()])
        );
        assert_eq!(admin.client_certificate.as_deref(), Some("/tmp/c.crt"));
        assert_eq!(admin.client_key.as_deref(), Some("/tmp/c.key"));
        assert!(admin.token.is_some(), "the user's own credentials stay");

        let other = ClusterOptions {
            cluster: Some("other".into()),
            ..ClusterOptions::default()
        };
        let (kc, opts) = apply_overrides(kubeconfig(), &other).unwrap_or_default();
        let config = Config::from_custom_kubeconfig(kc, &opts).await;
        assert_eq!(
            config.map(|c| c.cluster_url.to_string()).ok().as_deref(),
            Some("https://10.0.0.9:6443/")
        );
    }

    #[tokio::test]
    async fn server_and_token_work_without_any_kubeconfig() {
        let options = ClusterOptions {
            server: Some("https://192.0.2.7:6443".into()),
            token: Some("t".into()),
            ..ClusterOptions::default()
        };
        let (kc, opts) = apply_overrides(Kubeconfig::default(), &options).unwrap_or_default();
        let config = Config::from_custom_kubeconfig(kc, &opts).await;
        assert_eq!(
            config.map(|c| c.cluster_url.to_string()).ok().as_deref(),
            Some("https://192.0.2.7:6443/")
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
