//! The kubeconfig as kubectl reads it, before kube builds a client from it: found where
//! kubectl looks, refused without quoting it, and every server given a scheme.

use kube::config::Kubeconfig;

use crate::error::one_line;
use crate::error::{EngineError, Result};

/// The kubeconfig kubectl would use: `path`, else `$KUBECONFIG` (its files merged), else
/// `~/.kube/config`; None when there is none (then the in-cluster service account).
///
/// A file that does not parse is refused with where it fails, never with its content: kube's
/// parser quotes the neighbouring lines, and a kubeconfig holds tokens and private keys.
pub(super) fn read_kubeconfig(path: Option<&std::path::Path>) -> Result<Option<Kubeconfig>> {
    use kube::config::KubeconfigError;
    let read = match path {
        Some(p) => Kubeconfig::read_from(p),
        None => Kubeconfig::read(),
    };
    match read {
        Ok(kc) => Ok(Some(kc)),
        Err(KubeconfigError::FindPath) if path.is_none() => Ok(None),
        Err(KubeconfigError::ReadConfig(e, _))
            if path.is_none()
                && e.kind() == std::io::ErrorKind::NotFound
                && std::env::var_os("KUBECONFIG").is_none() =>
        {
            Ok(None)
        }
        Err(e) => {
            let which = path.map_or_else(
                || match std::env::var_os("KUBECONFIG") {
                    Some(v) => format!("$KUBECONFIG ({})", v.to_string_lossy()),
                    None => "~/.kube/config".to_owned(),
                },
                |p| p.display().to_string(),
            );
            Err(EngineError::Config(format!(
                "cannot read kubeconfig {which}: {}",
                kubeconfig_error(&e)
            )))
        }
    }
}

/// A kubeconfig error in words that never quote the file.
fn kubeconfig_error(e: &kube::config::KubeconfigError) -> String {
    use kube::config::KubeconfigError;
    match e {
        KubeconfigError::Parse(parse) => format!(
            "not a valid kubeconfig{} (its content is not shown: it may hold credentials)",
            parse
                .location()
                .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
                .unwrap_or_default()
        ),
        KubeconfigError::ReadConfig(io, _) => io.to_string(),
        other => one_line(other),
    }
}

/// Gives every cluster's `server` a scheme where it has none, as kubectl does (`host:port`
/// and `host` mean https), and refuses what cannot be an API server's URL. kube's client
/// would otherwise panic on a URL without a scheme.
pub(super) fn with_schemes(kc: &mut Kubeconfig) -> Result<()> {
    for named in &mut kc.clusters {
        let Some(cluster) = named.cluster.as_mut() else {
            continue;
        };
        let Some(server) = cluster.server.as_mut() else {
            continue;
        };
        *server = server_url(server).map_err(|why| {
            EngineError::Config(format!(
                "invalid server address {server:?} (cluster {:?}): {why}",
                named.name
            ))
        })?;
    }
    Ok(())
}

/// `server` as an http(s) URL: as it is when it has a scheme, else with `https://`.
fn server_url(server: &str) -> std::result::Result<String, String> {
    let url = if server.contains("://") {
        server.to_owned()
    } else {
        format!("https://{server}")
    };
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| format!("not a URL ({e})"))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err("the scheme must be https or http".to_owned()),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("no host".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::super::{ClusterOptions, connect};
    use super::*;

    /// A kubeconfig file of this test process (removed by the OS's temp cleanup).
    fn temp_kubeconfig(name: &str, yaml: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("rollout-engine-client-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join(name);
        std::fs::write(&path, yaml).unwrap_or_else(|e| panic!("{e}"));
        path
    }

    #[test]
    fn servers_without_a_scheme_mean_https_and_non_urls_are_refused() {
        for (given, url) in [
            ("127.0.0.1:6443", "https://127.0.0.1:6443"),
            ("localhost", "https://localhost"),
            ("kube.example:443/prefix", "https://kube.example:443/prefix"),
            ("https://127.0.0.1:6443", "https://127.0.0.1:6443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ] {
            assert_eq!(server_url(given).as_deref(), Ok(url), "{given}");
        }
        for bad in ["", "ftp://x", "https://", "a b", "https://[::1"] {
            assert!(server_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[tokio::test]
    async fn a_server_without_scheme_builds_a_client() {
        for (flag, server) in [
            (Some("127.0.0.1:6443"), "https://127.0.0.1:6443/"),
            (Some("localhost"), "https://localhost/"),
            (None, "https://10.0.0.9:6443/"),
        ] {
            let yaml = "apiVersion: v1\nkind: Config\ncurrent-context: lab\nclusters:\n- name: lab\n  cluster: {server: '10.0.0.9:6443', insecure-skip-tls-verify: true}\nusers:\n- name: admin\n  user: {token: 't'}\ncontexts:\n- name: lab\n  context: {cluster: lab, user: admin}\n";
            let path = temp_kubeconfig(&format!("scheme-{}", server.len()), yaml);
            let options = ClusterOptions {
                kubeconfig: Some(path),
                server: flag.map(str::to_owned),
                ..ClusterOptions::default()
            };
            let cluster = connect(&options).await.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cluster.server, server);
        }
        let options = ClusterOptions {
            server: Some("ftp://127.0.0.1".into()),
            token: Some("t".into()),
            ..ClusterOptions::default()
        };
        let err = connect(&options).await.err().map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("invalid server address")
                    && e.contains("ftp://127.0.0.1")
                    && !e.contains('\n')),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_malformed_kubeconfig_is_refused_without_its_content() {
        let secret = "c2VjcmV0LXRva2VuLTEyMzQ1Njc4OTA";
        let key = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t";
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: admin\n  user:\n    token: {secret}\n    client-key-data: {key}\n  : broken: [\nclusters: {{\n"
        );
        let path = temp_kubeconfig("malformed", &yaml);
        let options = ClusterOptions {
            kubeconfig: Some(path.clone()),
            ..ClusterOptions::default()
        };
        let err = connect(&options).await.err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("not a valid kubeconfig"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(!err.contains(secret) && !err.contains(key), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
}
