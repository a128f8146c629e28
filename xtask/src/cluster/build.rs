//! Building the cluster's binaries from the Go module proxy, into a cache outside the work
//! tree (`~/.cache/kubia-lab`) that later runs on the same machine reuse.
//!
//! `go install k8s.io/kubernetes/cmd/...@v1.34.x` is refused because kubernetes' go.mod
//! replaces its staging modules with `./staging/...`, which the module zip lacks. A wrapper
//! module that requires k8s.io/kubernetes and replaces each staging module with its
//! published `v0.34.x` twin builds the real components.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::util;

pub const KUBERNETES_VERSION: &str = "v1.34.4";
pub const ETCD_VERSION: &str = "v3.6.16";
pub const CRICTL_VERSION: &str = "v1.34.0";
/// kind, pinned: the last release that still supports cgroup v1 hosts such as ours.
pub const KIND_VERSION: &str = "v0.33.0";
/// kwok (fake nodes for `cargo xtask bench rollout --fake-nodes`), from the Go module proxy.
pub const KWOK_VERSION: &str = "v0.8.0";

/// kubectl whose `rolling-update` the plugin reproduces: built from `tools/kubectl-1.17`.
pub const KUBECTL_117_VERSION: &str = "v1.17.17";

/// Kubernetes components built from k8s.io/kubernetes (kubeadm for the kind node image).
pub const KUBERNETES_COMPONENTS: [&str; 7] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "kubeadm",
];

/// The staging modules of Kubernetes 1.34, each replaced by its published version.
const STAGING: [&str; 31] = [
    "api",
    "apiextensions-apiserver",
    "apimachinery",
    "apiserver",
    "cli-runtime",
    "client-go",
    "cloud-provider",
    "cluster-bootstrap",
    "code-generator",
    "component-base",
    "component-helpers",
    "controller-manager",
    "cri-api",
    "cri-client",
    "csi-translation-lib",
    "dynamic-resource-allocation",
    "endpointslice",
    "externaljwt",
    "kms",
    "kube-aggregator",
    "kube-controller-manager",
    "kube-proxy",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "metrics",
    "mount-utils",
    "pod-security-admission",
    "sample-apiserver",
    "sample-cli-plugin",
    "sample-controller",
];

/// Where the binaries of this pinned set live.
pub fn bin_dir() -> PathBuf {
    util::cache_dir().join(format!(
        "bin-k8s-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}-crictl-{CRICTL_VERSION}"
    ))
}

pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// Builds whatever is missing; a warm cache makes this a no-op.
pub fn ensure_binaries() -> Result<()> {
    let dir = bin_dir();
    std::fs::create_dir_all(&dir)?;
    let sh = util::shell()?;
    // Never let the go command fetch another toolchain: the machine's Go builds these.
    let _tc = sh.push_env("GOTOOLCHAIN", "local");
    let _cgo = sh.push_env("CGO_ENABLED", "0");

    let missing: Vec<&str> = KUBERNETES_COMPONENTS
        .iter()
        .copied()
        .filter(|c| !dir.join(c).is_file())
        .collect();
    if !missing.is_empty() {
        build_kubernetes(&sh, &dir, &missing)?;
    }
    if !dir.join("etcd").is_file() {
        build_etcd(&sh, &dir)?;
    }
    if !dir.join("crictl").is_file() {
        go_install(
            &sh,
            &format!("sigs.k8s.io/cri-tools/cmd/crictl@{CRICTL_VERSION}"),
            "crictl",
            &dir,
        )?;
    }
    Ok(())
}

/// `go install PACKAGE@VERSION` (stripped, trimmed paths) into a scratch GOBIN, then the
/// binary moved into `dir`: a half-built binary never sits where a cache check would find it.
pub fn go_install(sh: &Shell, package: &str, binary: &str, dir: &Path) -> Result<PathBuf> {
    let _p = util::Phase::start(format!("go install {package}"));
    let tmp = dir.join(format!(".{binary}-build"));
    let _gobin = sh.push_env("GOBIN", &tmp);
    let ld = "-s -w";
    cmd!(sh, "go install -trimpath -ldflags {ld} {package}")
        .run()
        .with_context(|| format!("building {binary}"))?;
    let dest = dir.join(binary);
    std::fs::rename(tmp.join(binary), &dest)?;
    Ok(dest)
}

/// kind from the Go module proxy (`go install sigs.k8s.io/kind@KIND_VERSION`, kind's own
/// documented install), into the same cache as the Kubernetes binaries.
pub fn ensure_kind() -> Result<PathBuf> {
    let dir = util::cache_dir().join(format!("bin-kind-{KIND_VERSION}"));
    let kind = dir.join("kind");
    if kind.is_file() {
        return Ok(kind);
    }
    std::fs::create_dir_all(&dir)?;
    let sh = util::shell()?;
    let _tc = sh.push_env("GOTOOLCHAIN", "local");
    let _cgo = sh.push_env("CGO_ENABLED", "0");
    go_install(
        &sh,
        &format!("sigs.k8s.io/kind@{KIND_VERSION}"),
        "kind",
        &dir,
    )
}

/// kwok from the Go module proxy (`go install sigs.k8s.io/kwok/cmd/kwok@KWOK_VERSION`), into
/// the same cache; also returns the module's source directory, whose stage definitions the
/// benchmark uses.
pub fn ensure_kwok() -> Result<(PathBuf, PathBuf)> {
    let dir = util::cache_dir().join(format!("bin-kwok-{KWOK_VERSION}"));
    let kwok = dir.join("kwok");
    let sh = util::shell()?;
    let _tc = sh.push_env("GOTOOLCHAIN", "local");
    let _cgo = sh.push_env("CGO_ENABLED", "0");
    if !kwok.is_file() {
        std::fs::create_dir_all(&dir)?;
        go_install(
            &sh,
            &format!("sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"),
            "kwok",
            &dir,
        )?;
    }
    // The module's sources (the stages) are in the module cache once downloaded.
    let module = format!("sigs.k8s.io/kwok@{KWOK_VERSION}");
    let json = cmd!(sh, "go mod download -json {module}")
        .read()
        .with_context(|| format!("downloading {module}"))?;
    let source: serde_json::Value = serde_json::from_str(&json)?;
    let source = source["Dir"]
        .as_str()
        .map(PathBuf::from)
        .with_context(|| format!("`go mod download -json {module}` names no Dir"))?;
    Ok((kwok, source))
}

/// kubectl 1.17.17 reduced to `rolling-update` (`tools/kubectl-1.17/cmd/kubectl`: its modules
/// pinned in that go.mod), into the cache. The cache entry is named by the md5 of the tool's
/// go.mod, go.sum and main.go, so an edit rebuilds it and an unchanged tree never does.
pub fn ensure_kubectl_117() -> Result<PathBuf> {
    let src = util::root().join("tools/kubectl-1.17");
    let mut sources = Vec::new();
    for f in ["go.mod", "go.sum", "cmd/kubectl/main.go"] {
        let path = src.join(f);
        sources
            .extend(std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    let digest = format!("{:x}", md5::compute(&sources));
    let dir = util::cache_dir().join(format!(
        "bin-kubectl-{KUBECTL_117_VERSION}-{}",
        &digest[..12]
    ));
    let kubectl = dir.join("kubectl");
    if kubectl.is_file() {
        return Ok(kubectl);
    }
    std::fs::create_dir_all(&dir)?;
    let sh = util::shell()?;
    let _tc = sh.push_env("GOTOOLCHAIN", "local");
    let _cgo = sh.push_env("CGO_ENABLED", "0");
    let _d = sh.push_dir(&src);
    let _p = util::Phase::start(format!(
        "go build kubectl {KUBECTL_117_VERSION} (rolling-update)"
    ));
    let tmp = dir.join(".kubectl.tmp");
    let ld = "-s -w";
    cmd!(
        sh,
        "go build -mod=readonly -trimpath -ldflags {ld} -o {tmp} ./cmd/kubectl"
    )
    .run()
    .context("building kubectl 1.17 from tools/kubectl-1.17")?;
    std::fs::rename(&tmp, &kubectl)?;
    Ok(kubectl)
}

fn build_kubernetes(sh: &Shell, dir: &Path, components: &[&str]) -> Result<()> {
    let src = util::cache_dir().join(format!("src/kubernetes-{KUBERNETES_VERSION}"));
    std::fs::create_dir_all(&src)?;
    let staging_version = KUBERNETES_VERSION.replacen("v1.", "v0.", 1);
    let mut gomod = format!(
        "module kubia.local/k8sbuild\n\ngo 1.24.0\n\n// Copied from kubernetes' own go.mod.\ngodebug default=go1.24\n\nrequire k8s.io/kubernetes {KUBERNETES_VERSION}\n\n"
    );
    for m in STAGING {
        gomod.push_str(&format!(
            "replace k8s.io/{m} => k8s.io/{m} {staging_version}\n"
        ));
    }
    let mut tools = String::from("//go:build tools\n\npackage tools\n\nimport (\n");
    for c in KUBERNETES_COMPONENTS {
        tools.push_str(&format!("\t_ \"k8s.io/kubernetes/cmd/{c}\"\n"));
    }
    tools.push_str(")\n");
    write_if_changed(&src.join("go.mod"), &gomod)?;
    write_if_changed(&src.join("tools.go"), &tools)?;
    let _d = sh.push_dir(&src);
    {
        let _p = util::Phase::start(format!(
            "go mod tidy (k8s.io/kubernetes {KUBERNETES_VERSION}; a cold cache downloads several hundred MB)"
        ));
        cmd!(sh, "go mod tidy").quiet().run()?;
    }
    let (major, minor) = KUBERNETES_VERSION
        .trim_start_matches('v')
        .split_once('.')
        .map(|(a, b)| (a.to_owned(), b.split('.').next().unwrap_or("0").to_owned()))
        .context("bad version")?;
    let mut ldflags = String::from("-s -w");
    for pkg in [
        "k8s.io/component-base/version",
        "k8s.io/client-go/pkg/version",
    ] {
        for (k, v) in [
            ("gitVersion", KUBERNETES_VERSION),
            ("gitMajor", &major),
            ("gitMinor", &minor),
            ("gitTreeState", "clean"),
            ("buildDate", "1970-01-01T00:00:00Z"),
        ] {
            ldflags.push_str(&format!(" -X {pkg}.{k}={v}"));
        }
    }
    for c in components {
        let _p = util::Phase::start(format!("go build {c} {KUBERNETES_VERSION}"));
        let tmp = dir.join(format!(".{c}.tmp"));
        cmd!(
            sh,
            "go build -trimpath -ldflags {ldflags} -o {tmp} k8s.io/kubernetes/cmd/{c}"
        )
        .run()
        .with_context(|| format!("building {c}"))?;
        std::fs::rename(&tmp, dir.join(c))?;
    }
    Ok(())
}

fn build_etcd(sh: &Shell, dir: &Path) -> Result<()> {
    let _p = util::Phase::start(format!("go build etcd {ETCD_VERSION}"));
    let src = util::cache_dir().join(format!("src/etcd-{ETCD_VERSION}"));
    std::fs::create_dir_all(&src)?;
    write_if_changed(
        &src.join("go.mod"),
        &format!(
            "module kubia.local/etcdbuild\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 {ETCD_VERSION}\n"
        ),
    )?;
    write_if_changed(
        &src.join("tools.go"),
        "//go:build tools\n\npackage tools\n\nimport _ \"go.etcd.io/etcd/server/v3\"\n",
    )?;
    let _d = sh.push_dir(&src);
    cmd!(sh, "go mod tidy").quiet().run()?;
    let tmp = dir.join(".etcd.tmp");
    let ld = "-s -w";
    cmd!(
        sh,
        "go build -trimpath -ldflags {ld} -o {tmp} go.etcd.io/etcd/server/v3"
    )
    .run()?;
    std::fs::rename(&tmp, dir.join("etcd"))?;
    Ok(())
}

fn write_if_changed(path: &Path, content: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(content) {
        std::fs::write(path, content)?;
    }
    Ok(())
}
