//! What a release archive holds and how it is identified: the binaries every archive
//! carries, an archive's file name and its SHA-256. A leaf that both `dist` (writing the
//! archives and their sums) and its `krew` manifest (naming them) read.

use std::path::Path;

use sha2::Digest;

/// The binaries of `rollout-cli` in every archive.
pub const BINARIES: [&str; 3] = [
    "kubectl-rolling_update",
    "kubectl_complete-rolling_update",
    "kubia-rollout",
];

/// The lowercase hex SHA-256 of `bytes`, as `sha256sum` and krew print it.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The last component of `path` (empty when it has none).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
