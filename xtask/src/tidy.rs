//! Conventions checked by a test, as rust-analyzer's `tidy.rs` does: every module says what
//! it is for, no source file grows past what a reader takes in at once, every crate has a
//! README and takes its dependencies and lints from the workspace, every dependency it
//! declares is used, and no crate's modules import each other in a loop.

use std::path::{Path, PathBuf};

mod module_graph;
mod module_map;

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
fn every_declared_dependency_is_used() {
    let mut unused = Vec::new();
    for dir in crates() {
        let manifest = read(&dir.join("Cargo.toml"));
        // What each kind of dependency is visible to, as one text per kind.
        let code_in = |dirs: &[&str]| {
            let mut paths = Vec::new();
            for d in dirs {
                files(&dir.join(d), ".rs", &mut paths);
            }
            paths.push(dir.join("build.rs"));
            paths
                .iter()
                .filter(|p| p.is_file())
                .map(|p| module_graph::without_literals(&read(p)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let normal = code_in(&["src"]);
        let dev = code_in(&["src", "tests", "benches", "examples"]);
        let build = code_in(&[]);
        for dep in declared_dependencies(&manifest) {
            let (code, where_) = match dep.kind {
                DepKind::Normal => (&normal, "src/ or build.rs"),
                DepKind::Dev => (&dev, "src/, tests/, benches/, examples/ or build.rs"),
                DepKind::Build => (&build, "build.rs"),
            };
            if !dep.exempt && !names_crate(code, &dep.crate_name()) {
                let renamed = dep
                    .package
                    .as_ref()
                    .map(|p| format!(" (package {p})"))
                    .unwrap_or_default();
                unused.push(format!(
                    "{}: {} `{}`{renamed} is named nowhere in {where_} (remove it, or say on \
                     its line what it is for: `# used for: …`)",
                    shown(&dir),
                    dep.kind.section(),
                    dep.key
                ));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "unused dependencies:\n{}",
        unused.join("\n")
    );
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum DepKind {
    Normal,
    Dev,
    Build,
}

impl DepKind {
    fn section(self) -> &'static str {
        match self {
            DepKind::Normal => "[dependencies]",
            DepKind::Dev => "[dev-dependencies]",
            DepKind::Build => "[build-dependencies]",
        }
    }
}

/// One dependency a manifest declares.
#[derive(Debug, PartialEq, Eq)]
struct Dependency {
    kind: DepKind,
    /// The name it is declared under, which is the name code uses: with
    /// `foo = { package = "bar" }` the code writes `foo::`.
    key: String,
    /// The package, when renamed.
    package: Option<String>,
    /// A comment `# used for: …` on its line: needed though no code names it (it switches
    /// on a feature, say), and the comment says why.
    exempt: bool,
}

impl Dependency {
    /// The name code writes: the declared name with `-` as `_`.
    fn crate_name(&self) -> String {
        self.key.replace('-', "_")
    }
}

/// The dependencies of `manifest`, in every form: `name.workspace = true`, `name = { … }`
/// (with `package = "…"`), `[dependencies.name]` tables and `[target.….dependencies]`.
fn declared_dependencies(manifest: &str) -> Vec<Dependency> {
    let mut out: Vec<Dependency> = Vec::new();
    // The kind of the section we are in, and whether it is one dependency's own table.
    let mut section: Option<(DepKind, bool)> = None;
    for line in manifest.lines() {
        let (content, comment) = split_comment(line);
        let content = content.trim();
        let exempt = comment.is_some_and(|c| c.trim_start().starts_with("used for:"));
        if let Some(header) = content.strip_prefix('[') {
            let header = header.trim_end_matches(']').trim();
            section = None;
            for (suffix, kind) in [
                ("dev-dependencies", DepKind::Dev),
                ("build-dependencies", DepKind::Build),
                ("dependencies", DepKind::Normal),
            ] {
                if header == suffix || header.ends_with(&format!(".{suffix}")) {
                    section = Some((kind, false));
                } else if let Some((before, name)) = header.rsplit_once(&format!("{suffix}."))
                    && (before.is_empty() || before.ends_with('.'))
                {
                    section = Some((kind, true));
                    push_dependency(&mut out, kind, name.trim(), exempt);
                }
                if section.is_some() {
                    break;
                }
            }
            continue;
        }
        let Some((kind, own_table)) = section else {
            continue;
        };
        if own_table {
            // `package = "…"` inside `[dependencies.name]`.
            if let Some(last) = out.last_mut()
                && let Some(package) = string_value(content, "package")
            {
                last.package = Some(package);
            }
            continue;
        }
        let key: String = content
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let rest = content[key.len()..].trim_start();
        // Continuation lines of a multi-line array (`"v1_34",`, `] }`) name no dependency.
        if key.is_empty() || !(rest.starts_with('=') || rest.starts_with('.')) {
            continue;
        }
        push_dependency(&mut out, kind, &key, exempt);
        if let Some(package) = string_value(rest, "package")
            && let Some(last) = out.last_mut()
        {
            last.package = Some(package);
        }
    }
    out
}

/// Adds a dependency, or merges a second line of one (`name.features = …`).
fn push_dependency(out: &mut Vec<Dependency>, kind: DepKind, key: &str, exempt: bool) {
    match out.iter_mut().find(|d| d.kind == kind && d.key == key) {
        Some(seen) => seen.exempt |= exempt,
        None => out.push(Dependency {
            kind,
            key: key.to_owned(),
            package: None,
            exempt,
        }),
    }
}

/// A TOML line's content and its comment (after a `#` outside a string).
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return (&line[..i], Some(&line[i + 1..])),
            _ => {}
        }
    }
    (line, None)
}

/// The string value of `key = "…"` somewhere in `text` (an inline table or a line).
fn string_value(text: &str, key: &str) -> Option<String> {
    text.match_indices(key).find_map(|(i, _)| {
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return None;
        }
        let value = text[i + key.len()..].trim_start().strip_prefix('=')?;
        let value = value.trim_start().strip_prefix('"')?;
        value.split_once('"').map(|(v, _)| v.to_owned())
    })
}

/// Whether `code` names crate `name` as a path: `name::…` (not `other::name::…`), `use name`
/// or `extern crate name`.
fn names_crate(code: &str, name: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    code.match_indices(name).any(|(i, _)| {
        let before = &code[..i];
        let after = &code[i + name.len()..];
        if before.chars().next_back().is_some_and(ident) || after.chars().next().is_some_and(ident)
        {
            return false;
        }
        let below_another = before
            .strip_suffix("::")
            .and_then(|b| b.chars().next_back())
            .is_some_and(|c| ident(c) || c == '>');
        // The words before it, which the start test above keeps apart from it.
        let words = before.trim_end();
        let after_use = words
            .strip_suffix("use")
            .is_some_and(|b| !b.chars().next_back().is_some_and(ident));
        let extern_crate = words
            .strip_suffix("crate")
            .is_some_and(|b| b.trim_end().ends_with("extern"));
        (after.starts_with("::") && !below_another) || after_use || extern_crate
    })
}

#[test]
fn the_dependency_check_reads_every_form() {
    let manifest = "[package]\nname = \"x\"\n\n\
        [dependencies]\n\
        kube.workspace = true\n\
        k8s-openapi = { workspace = true, features = [\"v1_34\"] } # used for: the v1_34 API\n\
        tokio = { workspace = true, features = [\n    \"rt\", # the runtime\n] }\n\
        tokio.features = [\"macros\"]\n\
        yaml = { package = \"serde_yaml\", workspace = true }\n\n\
        [dev-dependencies]\nproptest.workspace = true\n\n\
        [build-dependencies]\nclap_mangen.workspace = true\n\n\
        [target.'cfg(unix)'.dependencies]\nsocket2.workspace = true\n\n\
        [dependencies.http-body] # used for: a feature\npackage = \"http-body\"\nworkspace = true\n\n\
        [lints]\nworkspace = true\n";
    let deps = declared_dependencies(manifest);
    let seen: Vec<String> = deps
        .iter()
        .map(|d| {
            format!(
                "{} {} {:?} {}",
                d.kind.section(),
                d.crate_name(),
                d.package,
                d.exempt
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            "[dependencies] kube None false",
            "[dependencies] k8s_openapi None true",
            "[dependencies] tokio None false",
            "[dependencies] yaml Some(\"serde_yaml\") false",
            "[dev-dependencies] proptest None false",
            "[build-dependencies] clap_mangen None false",
            "[dependencies] socket2 None false",
            "[dependencies] http_body Some(\"http-body\") true",
        ]
    );
    let code = "use anyhow::Result;\n#[tokio::main]\nuse clap as c;\nextern crate serde;\n\
                fn f() -> hyper::http::Request { ::kube::x() }\nlet tracing_ok = 1;\n";
    for used in ["anyhow", "tokio", "clap", "serde", "hyper", "kube"] {
        assert!(names_crate(code, used), "{used}");
    }
    // `hyper::http::` names hyper's module, not the `http` crate; a longer name is no use.
    for unused in ["http", "tracing", "use"] {
        assert!(!names_crate(code, unused), "{unused}");
    }
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
