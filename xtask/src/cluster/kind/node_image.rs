//! `cargo xtask kind-node-image`: a kind node image for Kubernetes v1.34.4 assembled on this
//! machine with no registry.
//!
//! `kind build node-image` fetches etcd, CoreDNS, pause and kindnetd from registries and
//! aborts without them, so the image is put together here from parts that all come from
//! reachable sources:
//! - a Debian bookworm rootfs made with `debootstrap` from the mirror apt uses (systemd,
//!   containerd, runc, CNI plugins, iptables/nftables, conntrack);
//! - kubeadm, kubelet, kubectl and crictl built from the Go module proxy (`build.rs`);
//! - the control-plane images kubeadm runs (apiserver, controller-manager, scheduler,
//!   kube-proxy, etcd, pause), built here from the same binaries and imported pinned into
//!   the node's containerd store, under exactly the names `kubeadm config images list`
//!   prints (etcd under the tag of the etcd we build, which the kind config passes on);
//! - our entrypoint, systemd units and configs from `images/kind-node/files`.
//!
//! The result is tagged with a hash of every input, so a second run is a no-op and a
//! changed input rebuilds. The Debian rootfs (the slow part) is cached separately.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use xshell::cmd;

use crate::cluster::build::{self, ETCD_VERSION, KUBERNETES_VERSION};
use crate::{docker, images, util};

/// Repository of the node images we build (never pushed anywhere).
pub const REPOSITORY: &str = "kubia-lab/kind-node";
/// The etcd image tag kubeadm is told to use (kind config: `etcd.local.imageTag`).
pub fn etcd_image_tag() -> String {
    format!("{}-0", ETCD_VERSION.trim_start_matches('v'))
}
/// kubeadm 1.34's sandbox image; containerd's `sandbox_image` names the same.
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10.1";
/// Debian packages of the node's rootfs (debootstrap `--include`, minbase variant).
const PACKAGES: [&str; 19] = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "nftables",
    "conntrack",
    "iproute2",
    "ethtool",
    "socat",
    "kmod",
    "mount",
    "util-linux",
    "procps",
    "ca-certificates",
    "libseccomp2",
    "bash",
];
/// Bumped when the recipe below changes in a way the hashed inputs do not show.
const RECIPE: &str = "kubia-lab kind node recipe 1";

/// Builds the node image unless an identical one exists; returns its reference.
pub fn ensure() -> Result<String> {
    crate::docker::ensure_engine()?;
    build::ensure_binaries()?;
    let key = input_key()?;
    let reference = format!("{REPOSITORY}:{KUBERNETES_VERSION}-{key}");
    if image_exists(&reference) {
        eprintln!("kind node image {reference} is up to date");
        return Ok(reference);
    }
    let start = Instant::now();
    let _p = util::Phase::start(format!("kind node image {reference}"));
    crate::packages::ensure(&["debootstrap", "containerd", "gcc", "libc6-dev"])?;
    let work = util::root().join("target/kind-node");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    let rootfs = ensure_rootfs()?;
    let base = ensure_base_image(&rootfs)?;
    let ctx = work.join("context");
    std::fs::create_dir_all(ctx.join("bin"))?;
    copy_tree(
        &util::root().join("images/kind-node/files"),
        &ctx.join("files"),
    )?;
    std::fs::create_dir_all(ctx.join("files/kind"))?;
    std::fs::write(
        ctx.join("files/kind/version"),
        format!("{KUBERNETES_VERSION}\n"),
    )?;
    for b in ["kubeadm", "kubelet", "kubectl", "crictl"] {
        link_or_copy(&build::bin(b), &ctx.join("bin").join(b))?;
    }
    let control_plane = control_plane_images(&rootfs, &work)?;
    import_into_store(&control_plane, &ctx.join("containerd"))?;

    {
        let _p = util::Phase::start("docker build (classic builder) of the node image");
        let sh = util::shell()?;
        let _bk = sh.push_env("DOCKER_BUILDKIT", "0");
        let dockerfile = util::root().join("images/kind-node/Dockerfile");
        let base_arg = format!("BASE={base}");
        cmd!(
            sh,
            "docker build --quiet --build-arg {base_arg} -t {reference} -f {dockerfile} {ctx}"
        )
        .quiet()
        .ignore_stdout()
        .run()
        .context("building the kind node image")?;
    }
    let _ = std::fs::remove_dir_all(&work);
    let size = docker::image_size(&reference)?;
    eprintln!(
        "kind node image {reference}: built in {:.0}s, {:.0} MB",
        start.elapsed().as_secs_f64(),
        size as f64 / 1e6
    );
    Ok(reference)
}

/// A short hash of everything the image is made of.
fn input_key() -> Result<String> {
    let mut ctx = md5::Context::new();
    for part in [
        RECIPE,
        KUBERNETES_VERSION,
        ETCD_VERSION,
        build::CRICTL_VERSION,
        PAUSE_IMAGE,
    ] {
        ctx.consume(part.as_bytes());
        ctx.consume(b"\0");
    }
    ctx.consume(PACKAGES.join(",").as_bytes());
    let dir = util::root().join("images/kind-node");
    let mut files = Vec::new();
    walk(&dir, &mut files)?;
    files.push(util::root().join("images/pause/pause.c"));
    files.sort();
    for f in files {
        ctx.consume(
            f.strip_prefix(util::root())
                .unwrap_or(&f)
                .to_string_lossy()
                .as_bytes(),
        );
        ctx.consume(b"\0");
        ctx.consume(std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?);
        ctx.consume(b"\0");
    }
    Ok(format!("{:x}", ctx.finalize())[..12].to_owned())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn image_exists(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The Debian mirror apt is configured with (deb822 `URIs:` or a one-line `deb` entry).
fn debian_mirror() -> Result<String> {
    let mut texts = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let name = p.to_string_lossy();
            if name.ends_with(".list") || name.ends_with(".sources") {
                texts.push(std::fs::read_to_string(&p).unwrap_or_default());
            }
        }
    }
    mirror_from_sources(&texts.join("\n")).context(
        "no Debian mirror found in /etc/apt/sources.list*; debootstrap needs the one apt uses",
    )
}

/// The first mirror of the main archive (not security) in apt's sources.
fn mirror_from_sources(text: &str) -> Option<String> {
    let is_main_archive = |uri: &str| !uri.contains("security");
    for line in text.lines().map(str::trim) {
        if let Some(uris) = line.strip_prefix("URIs:") {
            if let Some(u) = uris.split_whitespace().find(|u| is_main_archive(u)) {
                return Some(u.to_owned());
            }
        } else if let Some(rest) = line.strip_prefix("deb ") {
            // `deb [options] URI suite components`
            let rest = match rest.trim_start().strip_prefix('[') {
                Some(r) => r.split_once(']').map(|(_, r)| r)?,
                None => rest,
            };
            if let Some(u) = rest
                .split_whitespace()
                .next()
                .filter(|u| is_main_archive(u))
            {
                return Some(u.to_owned());
            }
        }
    }
    None
}

/// The trimmed Debian rootfs, made once per package list and cached.
fn ensure_rootfs() -> Result<PathBuf> {
    let key = {
        let digest = md5::compute(format!("{RECIPE}\0{}", PACKAGES.join(",")));
        format!("{digest:x}")[..12].to_owned()
    };
    let dir = util::cache_dir().join(format!("kind-node/rootfs-bookworm-{key}"));
    let done = dir.join(".kubia-complete");
    if done.is_file() {
        return Ok(dir);
    }
    let mirror = debian_mirror()?;
    let _p = util::Phase::start(format!("debootstrap bookworm from {mirror}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let include = format!("--include={}", PACKAGES.join(","));
    let sh = util::shell()?;
    cmd!(
        sh,
        "debootstrap --variant=minbase {include} bookworm {dir} {mirror}"
    )
    .quiet()
    .ignore_stdout()
    .run()
    .context("debootstrap failed (see its log in the rootfs' debootstrap/ directory)")?;
    // What a node never reads: package caches and lists, documentation, locales.
    for sub in [
        "var/cache/apt/archives",
        "var/lib/apt/lists",
        "usr/share/doc",
        "usr/share/man",
        "usr/share/info",
        "usr/share/locale",
    ] {
        let p = dir.join(sub);
        if p.exists() {
            std::fs::remove_dir_all(&p)?;
            std::fs::create_dir_all(&p)?;
        }
    }
    std::fs::write(&done, "")?;
    Ok(dir)
}

/// The rootfs as a Docker image (`docker import`), cached by the rootfs' key.
fn ensure_base_image(rootfs: &Path) -> Result<String> {
    let key = rootfs
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit('-').next())
        .context("rootfs directory name")?;
    let reference = format!("kubia-lab/kind-node-base:bookworm-{key}");
    if image_exists(&reference) {
        return Ok(reference);
    }
    let _p = util::Phase::start(format!("docker import {reference}"));
    import_dir(rootfs, &reference, &[], &[".kubia-complete"])?;
    Ok(reference)
}

/// `tar -C dir . | docker import - reference`, with Dockerfile-like `changes`.
fn import_dir(dir: &Path, reference: &str, changes: &[&str], exclude: &[&str]) -> Result<()> {
    let mut tar = Command::new("tar");
    tar.arg("-C").arg(dir).args(["--numeric-owner", "-cf", "-"]);
    for e in exclude {
        tar.arg(format!("--exclude=./{e}"));
    }
    let mut tar = tar
        .arg(".")
        .stdout(Stdio::piped())
        .spawn()
        .context("starting tar")?;
    let stdout = tar.stdout.take().context("tar's stdout")?;
    let mut import = Command::new("docker");
    import.arg("import");
    for c in changes {
        import.args(["--change", c]);
    }
    let out = import
        .args(["-", reference])
        .stdin(stdout)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .context("running docker import")?;
    let tar_status = tar.wait()?;
    ensure!(tar_status.success(), "tar of {} failed", dir.display());
    ensure!(
        out.status.success(),
        "docker import {reference}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// The images kubeadm runs, built from our binaries; returns a `docker save` tarball.
fn control_plane_images(rootfs: &Path, work: &Path) -> Result<PathBuf> {
    let _p = util::Phase::start(
        "control-plane images (apiserver, controller-manager, scheduler, kube-proxy, etcd, pause)",
    );
    let mut refs = Vec::new();
    let staging = work.join("images");
    for (component, binary, tag) in [
        (
            "kube-apiserver",
            "kube-apiserver",
            KUBERNETES_VERSION.to_owned(),
        ),
        (
            "kube-controller-manager",
            "kube-controller-manager",
            KUBERNETES_VERSION.to_owned(),
        ),
        (
            "kube-scheduler",
            "kube-scheduler",
            KUBERNETES_VERSION.to_owned(),
        ),
        ("kube-proxy", "kube-proxy", KUBERNETES_VERSION.to_owned()),
        ("etcd", "etcd", etcd_image_tag()),
    ] {
        let dir = staging.join(component);
        std::fs::create_dir_all(dir.join("usr/local/bin"))?;
        link_or_copy(&build::bin(binary), &dir.join("usr/local/bin").join(binary))?;
        if component == "kube-proxy" {
            // kube-proxy's iptables mode runs iptables-restore and friends.
            add_iptables(rootfs, &dir)?;
        }
        let reference = format!("registry.k8s.io/{component}:{tag}");
        let entrypoint = format!("ENTRYPOINT [\"/usr/local/bin/{binary}\"]");
        import_dir(
            &dir,
            &reference,
            &["ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin", &entrypoint],
            &[],
        )
        .with_context(|| format!("building {reference}"))?;
        refs.push(reference);
    }
    // The sandbox image: the local cluster's pause, under the tag kubeadm 1.34 names.
    images::pause_image(&work.join("pause"))?;
    let sh = util::shell()?;
    let local_pause = images::PAUSE_IMAGE;
    cmd!(sh, "docker tag {local_pause} {PAUSE_IMAGE}")
        .quiet()
        .run()?;
    refs.push(PAUSE_IMAGE.to_owned());
    let tarball = work.join("control-plane.tar");
    cmd!(sh, "docker save -o {tarball} {refs...}")
        .quiet()
        .run()?;
    Ok(tarball)
}

/// Copies iptables (the nft backend, Debian's default) with every library it loads from the
/// rootfs into an image directory, normalised to Debian's merged /usr.
fn add_iptables(rootfs: &Path, image: &Path) -> Result<()> {
    let multi = "/usr/sbin/xtables-nft-multi";
    let xtables_dir = std::fs::read_dir(rootfs.join("usr/lib"))?
        .flatten()
        .map(|e| e.path().join("xtables"))
        .find(|p| p.is_dir())
        .context("no xtables modules directory in the rootfs")?;
    let mut objects = vec![multi.to_owned()];
    for m in std::fs::read_dir(&xtables_dir)?.flatten() {
        let p = m.path();
        objects.push(format!("/{}", p.strip_prefix(rootfs)?.display()));
    }
    let mut files: Vec<String> = objects.clone();
    for chunk in objects.chunks(64) {
        let out = Command::new("chroot")
            .arg(rootfs)
            .arg("ldd")
            .args(chunk)
            .output()
            .context("running ldd in the rootfs")?;
        ensure!(
            out.status.success(),
            "ldd in the rootfs: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        files.extend(shared_libraries(&String::from_utf8_lossy(&out.stdout)));
    }
    files.sort();
    files.dedup();
    for f in &files {
        let dest = image.join(merged_usr(f).trim_start_matches('/'));
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(rootfs.join(f.trim_start_matches('/')), &dest)
            .with_context(|| format!("copying {f} from the rootfs"))?;
    }
    for name in [
        "iptables",
        "iptables-save",
        "iptables-restore",
        "ip6tables",
        "ip6tables-save",
        "ip6tables-restore",
        "iptables-nft",
        "iptables-nft-save",
        "iptables-nft-restore",
        "ip6tables-nft",
        "ip6tables-nft-save",
        "ip6tables-nft-restore",
    ] {
        std::os::unix::fs::symlink("xtables-nft-multi", image.join("usr/sbin").join(name))?;
    }
    for (link, target) in [
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("sbin", "usr/sbin"),
        ("bin", "usr/bin"),
    ] {
        std::os::unix::fs::symlink(target, image.join(link))?;
    }
    std::fs::create_dir_all(image.join("run"))?;
    std::fs::create_dir_all(image.join("tmp"))?;
    Ok(())
}

/// The absolute paths `ldd` resolved (`libx.so => /path (0x…)` and `/lib64/ld-… (0x…)`).
fn shared_libraries(ldd: &str) -> Vec<String> {
    ldd.lines()
        .filter_map(|l| {
            let l = l.trim();
            // With several files, ldd heads each one's list with `file:`.
            if l.ends_with(':') {
                return None;
            }
            let path = match l.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| path.to_owned())
        })
        .collect()
}

/// `/lib/…` → `/usr/lib/…` and so on: where the file really lives on a merged-/usr system.
fn merged_usr(path: &str) -> String {
    for top in ["/lib/", "/lib64/", "/sbin/", "/bin/"] {
        if let Some(rest) = path.strip_prefix(top) {
            return format!("/usr{top}{rest}");
        }
    }
    path.to_owned()
}

/// Imports the images into a containerd store at `root` (the node's /var/lib/containerd),
/// pinned so the kubelet's image garbage collection never removes them. Runs Debian's
/// containerd (the node's own version) on a private socket with the CRI plugin off; with
/// `--no-unpack` only the content store and metadata are written, which the node's
/// containerd unpacks on first use.
fn import_into_store(tarball: &Path, root: &Path) -> Result<()> {
    let _p = util::Phase::start("import the control-plane images into the node's containerd store");
    std::fs::create_dir_all(root)?;
    let run = std::env::temp_dir().join(format!("kubia-kind-import-{}", std::process::id()));
    std::fs::create_dir_all(&run)?;
    let sock = run.join("containerd.sock");
    let config = run.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.devmapper\", \"io.containerd.snapshotter.v1.aufs\"]\n[grpc]\n  address = \"{}\"\n",
            root.display(),
            run.join("state").display(),
            sock.display()
        ),
    )?;
    let log = std::fs::File::create(run.join("containerd.log"))?;
    let mut containerd = Command::new("containerd")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting containerd for the import")?;
    let result = (|| -> Result<()> {
        let sock = sock.to_string_lossy().into_owned();
        let ctr = |args: &[&str]| -> Result<String> {
            let out = Command::new("ctr")
                .args(["--address", &sock, "--namespace", "k8s.io"])
                .args(args)
                .output()
                .context("running ctr")?;
            if !out.status.success() {
                bail!(
                    "ctr {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        util::wait_for(
            "containerd (import) to answer",
            Duration::from_secs(30),
            Duration::from_millis(200),
            || Ok(ctr(&["version"]).is_ok().then_some(())),
        )?;
        let tar = tarball.to_string_lossy().into_owned();
        ctr(&["images", "import", "--no-unpack", "--all-platforms", &tar])?;
        let listed = ctr(&["images", "list", "--quiet"])?;
        let names: Vec<&str> = listed
            .lines()
            .filter(|l| !l.starts_with("sha256:"))
            .collect();
        ensure!(
            names.len() >= 6,
            "expected 6 images in the store, found {names:?}"
        );
        for name in &names {
            ctr(&["images", "label", name, "io.cri-containerd.pinned=pinned"])?;
        }
        eprintln!("imported and pinned: {}", names.join(", "));
        Ok(())
    })();
    let _ = Command::new("kill")
        .arg(containerd.id().to_string())
        .status();
    let _ = containerd.wait();
    // containerd leaves its state (sockets, shim dirs) under `run`; the store stays in `root`.
    let _ = std::fs::remove_dir_all(&run);
    result
}

fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).with_context(|| format!("copying {}", from.display()))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
