//! Fresh TLS material for one local cluster: a CA, the API server's serving certificate, a
//! client certificate per identity ([`CLIENTS`]: the admin, each component, the benchmark's
//! two clients and kwok), the kubelet's serving certificate and the service-account
//! signing key.
//!
//! Why one identity per component: the API server's audit log names the user of every
//! request, so `cargo xtask bench rollout` can attribute each request to the engine, to
//! `kubectl`, to a controller or to the kubelet. Every client certificate is also in
//! `system:masters` (authorization stays as simple as one admin certificate was, enough for
//! a single-node test cluster); only the user names differ.

use std::net::IpAddr;
use std::path::Path;

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// File names inside the PKI directory.
pub const CA_CRT: &str = "ca.crt";
pub const API_CRT: &str = "apiserver.crt";
pub const API_KEY: &str = "apiserver.key";
pub const ADMIN_CRT: &str = "admin.crt";
pub const ADMIN_KEY: &str = "admin.key";

/// A client identity: its files are `<file>.crt` and `<file>.key`, its kubeconfig
/// `kubeconfigs/<file>.conf`.
pub struct Client {
    /// File stem.
    pub file: &'static str,
    /// The user name the API server sees (the certificate's common name); `{node}` stands
    /// for the node's name.
    pub user: &'static str,
}

/// Every client identity but the admin's (`admin.crt`, user `kubernetes-admin`).
pub const CLIENTS: [Client; 8] = [
    Client {
        file: "kube-controller-manager",
        user: "system:kube-controller-manager",
    },
    Client {
        file: "kube-scheduler",
        user: "system:kube-scheduler",
    },
    Client {
        file: "kubelet-client",
        user: "system:node:{node}",
    },
    Client {
        file: "kube-proxy",
        user: "system:kube-proxy",
    },
    Client {
        file: "apiserver-kubelet-client",
        user: "kube-apiserver-kubelet-client",
    },
    Client {
        file: "bench-engine",
        user: "kubia-bench:engine",
    },
    Client {
        file: "bench-kubectl",
        user: "kubia-bench:kubectl",
    },
    Client {
        file: "kwok",
        user: "kwok-controller",
    },
];

impl Client {
    /// The user name on `node`.
    pub fn user_on(&self, node: &str) -> String {
        self.user.replace("{node}", node)
    }
}
pub const KUBELET_CRT: &str = "kubelet.crt";
pub const KUBELET_KEY: &str = "kubelet.key";
pub const SA_KEY: &str = "sa.key";
pub const SA_PUB: &str = "sa.pub";

/// Writes every file into `dir`.
pub fn generate(
    dir: &Path,
    node_name: &str,
    host_ips: &[IpAddr],
    kubernetes_service_ip: std::net::Ipv4Addr,
) -> Result<()> {
    private_dir(dir)?;
    let write = |name: &str, content: &str| -> Result<()> {
        write_file(&dir.join(name), content).with_context(|| format!("writing {name}"))
    };

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "kubia-lab-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    write(CA_CRT, &ca.self_signed(&ca_key)?.pem())?;
    let issuer = Issuer::new(ca, ca_key);

    let mut sans: Vec<String> = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The `kubernetes` Service's address, which in-cluster clients connect to.
    sans.push(kubernetes_service_ip.to_string());
    sans.push(node_name.to_owned());
    sans.extend(host_ips.iter().map(IpAddr::to_string));
    leaf(
        dir,
        &issuer,
        "kube-apiserver",
        None,
        sans.clone(),
        ExtendedKeyUsagePurpose::ServerAuth,
        (API_CRT, API_KEY),
    )?;
    leaf(
        dir,
        &issuer,
        "kubernetes-admin",
        Some("system:masters"),
        vec![],
        ExtendedKeyUsagePurpose::ClientAuth,
        (ADMIN_CRT, ADMIN_KEY),
    )?;
    for client in &CLIENTS {
        let (crt, key) = (
            format!("{}.crt", client.file),
            format!("{}.key", client.file),
        );
        leaf(
            dir,
            &issuer,
            &client.user_on(node_name),
            Some("system:masters"),
            vec![],
            ExtendedKeyUsagePurpose::ClientAuth,
            (&crt, &key),
        )?;
    }
    leaf(
        dir,
        &issuer,
        node_name,
        None,
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
        (KUBELET_CRT, KUBELET_KEY),
    )?;

    let sa = KeyPair::generate()?;
    write(SA_KEY, &sa.serialize_pem())?;
    write(SA_PUB, &sa.public_key_pem())?;
    Ok(())
}

fn leaf(
    dir: &Path,
    issuer: &Issuer<'_, KeyPair>,
    common_name: &str,
    organization: Option<&str>,
    sans: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
    (crt, key): (&str, &str),
) -> Result<()> {
    let pair = KeyPair::generate()?;
    let mut p = CertificateParams::new(sans)?;
    p.distinguished_name.push(DnType::CommonName, common_name);
    if let Some(o) = organization {
        p.distinguished_name.push(DnType::OrganizationName, o);
    }
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![usage];
    let cert = p.signed_by(&pair, issuer)?;
    std::fs::write(dir.join(crt), cert.pem())?;
    write_file(&dir.join(key), &pair.serialize_pem())?;
    Ok(())
}

/// Readable by root only: the directories holding keys and kubeconfigs.
const PRIVATE_DIR_MODE: u32 = 0o700;
/// Readable by root only: private keys and kubeconfigs.
const PRIVATE_FILE_MODE: u32 = 0o600;

/// Creates `dir` (and its parents) readable by root only, or makes it so.
pub fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR_MODE)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(PRIVATE_DIR_MODE))
        .with_context(|| format!("restricting {}", dir.display()))
}

/// Writes `path` as a private file: a key is never readable by others, even for a moment.
/// Certificates and public keys are written as they are; keys and kubeconfigs through this.
pub fn write_file(path: &Path, content: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    // An existing file keeps its mode on open: set it.
    file.set_permissions(std::fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
    file.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Repairs a state directory written before keys were private (or loosened by hand): the
/// PKI and kubeconfig directories 0700, every private key and kubeconfig 0600. `cluster up`
/// runs it on the state directory it starts or reuses.
pub fn secure(state: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let restrict = |path: &Path, mode: u32| -> Result<()> {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("restricting {}", path.display()))
    };
    for (dir, secret) in [
        (
            "pki",
            (|name: &str| name.ends_with(".key")) as fn(&str) -> bool,
        ),
        ("kubeconfigs", |name: &str| name.ends_with(".conf")),
    ] {
        let dir = state.join(dir);
        if !dir.is_dir() {
            continue;
        }
        restrict(&dir, PRIVATE_DIR_MODE)?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path
                .file_name()
                .is_some_and(|n| secret(&n.to_string_lossy()))
            {
                restrict(&path, PRIVATE_FILE_MODE)?;
            }
        }
    }
    let admin = state.join("kubeconfig");
    if admin.is_file() {
        restrict(&admin, PRIVATE_FILE_MODE)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn set_mode(path: &Path, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    #[test]
    fn keys_are_private_from_the_start_and_repaired_later() {
        let state = std::env::temp_dir().join(format!("kubia-pki-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&state);
        let pki = state.join("pki");
        let ip: IpAddr = [127, 0, 0, 1].into();
        generate(&pki, "node", &[ip], [10, 0, 0, 1].into()).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(mode(&pki), 0o700);
        let keys: Vec<_> = std::fs::read_dir(&pki)
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "key"))
            .collect();
        assert!(keys.len() > 5, "{keys:?}");
        for key in &keys {
            assert_eq!(mode(key), 0o600, "{}", key.display());
        }

        // A state directory an older version wrote: everything readable by all.
        let kubeconfigs = state.join("kubeconfigs");
        std::fs::create_dir_all(&kubeconfigs).unwrap_or_else(|e| panic!("{e}"));
        let confs = [kubeconfigs.join("admin.conf"), state.join("kubeconfig")];
        for c in &confs {
            std::fs::write(c, "x").unwrap_or_else(|e| panic!("{e}"));
        }
        for d in [&pki, &kubeconfigs] {
            set_mode(d, 0o755);
        }
        for f in keys.iter().chain(&confs) {
            set_mode(f, 0o644);
        }
        secure(&state).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(mode(&pki), 0o700);
        assert_eq!(mode(&kubeconfigs), 0o700);
        for f in keys.iter().chain(&confs) {
            assert_eq!(mode(f), 0o600, "{}", f.display());
        }
        let _ = std::fs::remove_dir_all(&state);
    }
}
