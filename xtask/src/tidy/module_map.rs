//! The engine README's module map matches the folders: a newcomer reads the map first, so a
//! module it does not name, or a folder it names that is not one, misleads from the start.
//!
//! The map is the table between `<!-- module map: checked by xtask tidy -->` and
//! `<!-- end module map -->`. Every module of the crate's top level, and every child of a
//! folder module (`x/mod.rs`), must be named in it in backticks; a module that has child
//! modules of its own (not only tests) is written `x/`, and `x/` is written only for those.
//! Children of a `x.rs` + `x/` module (`client/kubeconfig`) are its parent's business.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{files, module_graph, read, root};

/// The modules the map must name: `name` → whether it has non-test children.
fn expected(src: &Path) -> BTreeMap<String, bool> {
    let mut paths = Vec::new();
    files(src, ".rs", &mut paths);
    let modules: BTreeSet<String> = paths
        .iter()
        .filter_map(|p| module_graph::module_of(p.strip_prefix(src).ok()?))
        .collect();
    let folders: BTreeSet<&str> = paths
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "mod.rs"))
        .filter_map(|p| p.parent()?.strip_prefix(src).ok()?.to_str())
        .collect();
    let mut out = BTreeMap::new();
    for module in &modules {
        let parts: Vec<&str> = module.split("::").collect();
        let parent = parts[..parts.len() - 1].join("::");
        let listed = parts.len() == 1 || folders.contains(parent.replace("::", "/").as_str());
        if listed {
            let prefix = format!("{module}::");
            let has_children = modules.iter().any(|m| m.starts_with(&prefix));
            let last = parts.last().copied().unwrap_or_default();
            out.insert(last.to_owned(), has_children);
        }
    }
    out
}

/// What the map names: `name` → written with a trailing `/`.
fn named(readme: &str) -> Option<BTreeMap<String, bool>> {
    let start = readme.find("<!-- module map: checked by xtask tidy -->")?;
    let end = readme[start..].find("<!-- end module map -->")? + start;
    let mut out = BTreeMap::new();
    for (i, chunk) in readme[start..end].split('`').enumerate() {
        let name = chunk.trim_end_matches('/');
        if i % 2 == 1
            && !name.is_empty()
            && name.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            out.insert(name.to_owned(), chunk.ends_with('/'));
        }
    }
    Some(out)
}

/// How the map and the folders differ.
fn differences(expected: &BTreeMap<String, bool>, named: &BTreeMap<String, bool>) -> Vec<String> {
    let mut out = Vec::new();
    for (module, folder) in expected {
        match named.get(module) {
            None => out.push(format!("module `{module}` is not in the map")),
            Some(written) if written != folder => out.push(if *folder {
                format!("`{module}` has child modules: write it `{module}/`")
            } else {
                format!("`{module}/` has no child modules: write it `{module}`")
            }),
            Some(_) => {}
        }
    }
    for (name, folder) in named {
        if *folder && !expected.contains_key(name) {
            out.push(format!("`{name}/` is no module of the crate"));
        }
    }
    out
}

#[test]
fn the_engine_readme_maps_every_module() {
    let dir = root().join("crates/rollout-engine");
    let readme = read(&dir.join("README.md"));
    let Some(named) = named(&readme) else {
        panic!("crates/rollout-engine/README.md has no module map");
    };
    let diff = differences(&expected(&dir.join("src")), &named);
    assert!(
        diff.is_empty(),
        "the module map in crates/rollout-engine/README.md:\n{}",
        diff.join("\n")
    );
}

#[test]
fn a_missing_module_and_a_wrong_folder_are_reported() {
    let expected = BTreeMap::from([
        ("api".to_owned(), false),
        ("rolling".to_owned(), true),
        ("begin".to_owned(), false),
    ]);
    let readme = "x\n<!-- module map: checked by xtask tidy -->\n| a | `api`, `rolling` (`ImageRef`), `gone/` |\n<!-- end module map -->\n";
    let Some(named) = named(readme) else {
        panic!("no map found");
    };
    assert_eq!(
        differences(&expected, &named),
        [
            "module `begin` is not in the map",
            "`rolling` has child modules: write it `rolling/`",
            "`gone/` is no module of the crate",
        ]
    );
}
