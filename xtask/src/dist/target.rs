//! The targets `dist` builds archives for: their triples and krew platform labels, the
//! host's own, and why the macOS ones need an SDK this machine lacks. A leaf that both
//! `dist` and its `krew` manifest read.

/// A target the archives can be built for, and its krew platform labels.
pub struct Target {
    pub triple: &'static str,
    pub os: &'static str,
    pub arch: &'static str,
}

/// Every target `dist` knows. The Apple ones link against the macOS SDK (see
/// [`MACOS_SDK_MISSING`]).
pub const TARGETS: [Target; 4] = [
    Target {
        triple: "x86_64-unknown-linux-musl",
        os: "linux",
        arch: "amd64",
    },
    Target {
        triple: "aarch64-unknown-linux-musl",
        os: "linux",
        arch: "arm64",
    },
    Target {
        triple: "x86_64-apple-darwin",
        os: "darwin",
        arch: "amd64",
    },
    Target {
        triple: "aarch64-apple-darwin",
        os: "darwin",
        arch: "arm64",
    },
];

/// Why the macOS archives are not built here (seen: every crate compiles for both Apple
/// targets; the link fails).
pub const MACOS_SDK_MISSING: &str = "the macOS archives need Apple's SDK to link: kube's \
rustls-tls (rustls-native-certs, rustls-platform-verifier) links the Security and \
CoreFoundation frameworks, whose stubs only the macOS SDK carries, and no registry this \
machine reaches serves it (zig ships libSystem, not the frameworks). Set SDKROOT to a \
MacOSX.sdk to build them";

/// This machine's Linux musl target (`x86_64-unknown-linux-musl` here).
pub fn host_triple() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}
