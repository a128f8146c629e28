//! Conventions checked by a test, as rust-analyzer's `tidy.rs` does: every module says what
//! it is for, no source file grows past what a reader takes in at once, every crate has a
//! README and takes its dependencies and lints from the workspace, and no crate's modules
//! import each other in a loop.

use std::path::{Path, PathBuf};

mod module_graph;

/// Longest source file, in lines; generated code (Go's `Code generated … DO NOT EDIT.`
/// header) is exempt.
const MAX_LINES: usize = 600;

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Every file under `dir` whose name ends with `suffix`, skipping build output.
fn files(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if name != "target" && !name.to_string_lossy().starts_with('.') {
                files(&path, suffix, out);
            }
        } else if name.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
}

/// The Rust sources of the workspace's crates, sorted.
fn sources() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in ["crates", "xtask", "tests"] {
        files(&root().join(dir), ".rs", &mut out);
    }
    out.sort();
    out
}

/// The directories holding a crate's `Cargo.toml` (not the workspace's), sorted.
fn crates() -> Vec<PathBuf> {
    let mut manifests = Vec::new();
    for dir in ["crates", "xtask", "tests"] {
        files(&root().join(dir), "Cargo.toml", &mut manifests);
    }
    let mut dirs: Vec<PathBuf> = manifests
        .iter()
        .filter_map(|m| m.parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn shown(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn is_generated(text: &str) -> bool {
    let head: Vec<&str> = text.lines().take(10).collect();
    let head = head.join(" ");
    head.contains("Code generated") && head.contains("DO NOT EDIT")
}

/// The offences against `check` in `items`, one line each.
fn offences<T>(items: &[T], check: impl Fn(&T) -> Option<String>) -> Vec<String> {
    items.iter().filter_map(check).collect()
}

#[test]
fn every_module_starts_with_a_doc_comment() {
    let sources = sources();
    assert!(sources.len() > 50, "found only {} sources", sources.len());
    let bad = offences(&sources, |f| {
        (!read(f).trim_start().starts_with("//!")).then(|| {
            format!(
                "{}: no `//!` comment saying what the module is for",
                shown(f)
            )
        })
    });
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn no_source_file_is_longer_than_600_lines() {
    let bad = offences(&sources(), |f| {
        let text = read(f);
        let lines = text.lines().count();
        (lines > MAX_LINES && !is_generated(&text)).then(|| {
            format!(
                "{}: {lines} lines (at most {MAX_LINES}; split it by concept)",
                shown(f)
            )
        })
    });
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

#[test]
fn no_module_imports_loop_back_to_itself() {
    let mut offences = Vec::new();
    for dir in crates() {
        let src = dir.join("src");
        let mut paths = Vec::new();
        files(&src, ".rs", &mut paths);
        let modules: Vec<(String, String)> = paths
            .iter()
            .filter_map(|p| {
                let module = module_graph::module_of(p.strip_prefix(&src).ok()?)?;
                Some((module, read(p)))
            })
            .collect();
        for cycle in module_graph::cycles(&module_graph::graph(&modules)) {
            offences.push(format!("{}: {cycle}", shown(&dir)));
        }
    }
    assert!(
        offences.is_empty(),
        "import cycles:\n{}",
        offences.join("\n")
    );
}

#[test]
fn every_crate_has_a_readme_and_inherits_the_workspace() {
    let crates = crates();
    assert!(crates.len() >= 10, "found only {} crates", crates.len());
    let bad = offences(&crates, |dir| {
        let mut why = Vec::new();
        if !dir.join("README.md").exists() {
            why.push("no README.md".to_owned());
        }
        let manifest = read(&dir.join("Cargo.toml"));
        if !manifest.contains("[lints]\nworkspace = true") {
            why.push("no `[lints] workspace = true`".to_owned());
        }
        why.extend(own_dependencies(&manifest));
        (!why.is_empty()).then(|| format!("{}: {}", shown(dir), why.join("; ")))
    });
    assert!(bad.is_empty(), "\n{}", bad.join("\n"));
}

/// Dependencies declared with their own version instead of `name.workspace = true`.
fn own_dependencies(manifest: &str) -> Vec<String> {
    let mut section = "";
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section.ends_with("dependencies]")
            && !line.is_empty()
            && !line.starts_with('#')
            && !line.contains("workspace = true")
            && !line.contains(".workspace")
        {
            out.push(format!(
                "{section} `{line}` is not from [workspace.dependencies]"
            ));
        }
    }
    out
}

#[test]
fn the_checks_catch_what_they_look_for() {
    assert!(is_generated(
        "//! Types.\n//!\n//! Code generated by a tool from k8s.io/api and\n//! apimachinery; DO NOT EDIT.\n"
    ));
    assert!(!is_generated("//! Types, hand-written.\n"));
    let manifest = "[dependencies]\nkube.workspace = true\nhttp = \"1\"\n\n[dev-dependencies]\nbytes = { workspace = true }\n";
    assert_eq!(
        own_dependencies(manifest),
        ["[dependencies] `http = \"1\"` is not from [workspace.dependencies]"]
    );
}
