//! No import cycles between the modules of a crate: the layers a README describes (model →
//! primitives → methods) only hold if dependencies point one way.
//!
//! Each source file is a node (`a/b.rs` and `a/b/mod.rs` are `a::b`); an edge is any path
//! through `crate::` or `super::` that names another module, in code or in a doc link (a
//! doc link is a dependency for the reader). The crate root is left out: it only declares
//! modules and re-exports. So is test code (`tests.rs` files and what follows
//! `#[cfg(test)]`), which may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A crate's module graph: module path (`model::side`) → the modules it names.
pub(super) type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module path of `file` relative to the crate's `src/`; `None` for the crate root and
/// test files.
pub(super) fn module_of(relative: &Path) -> Option<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop()?;
    let stem = file.strip_suffix(".rs")?;
    if parts.is_empty() && matches!(stem, "lib" | "main") {
        return None;
    }
    if stem == "tests" || parts.iter().any(|p| p == "tests") {
        return None;
    }
    if stem != "mod" {
        parts.push(stem.to_owned());
    }
    Some(parts.join("::"))
}

/// Builds the graph of one crate from `(module path, source text)` pairs.
pub(super) fn graph(files: &[(String, String)]) -> Graph {
    let modules: BTreeSet<&str> = files.iter().map(|(m, _)| m.as_str()).collect();
    let mut graph = Graph::new();
    for (module, text) in files {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let here: Vec<&str> = module.split("::").collect();
        let edges = graph.entry(module.clone()).or_default();
        for path in paths(code) {
            let (base, rest) = match path.first().map(String::as_str) {
                Some("crate") => (Vec::new(), &path[1..]),
                Some("super") => {
                    let ups = path.iter().take_while(|s| *s == "super").count();
                    let keep = here.len().saturating_sub(ups);
                    (here[..keep].to_vec(), &path[ups..])
                }
                _ => continue,
            };
            let mut full: Vec<&str> = base;
            full.extend(rest.iter().map(String::as_str));
            // The longest prefix that is a module of this crate.
            let target = (1..=full.len())
                .rev()
                .map(|n| full[..n].join("::"))
                .find(|m| modules.contains(m.as_str()));
            if let Some(target) = target
                && target != *module
            {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Every `crate::…`/`super::…` path in `code`, groups (`crate::{a, b::{c, d}}`) expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start).map(|i| i + from) {
            from = i + start.len();
            let boundary =
                i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
            let continued = i >= 2 && &code[i - 2..i] == "::";
            if !boundary || continued {
                continue;
            }
            let head = start.trim_end_matches("::").to_owned();
            let mut head = vec![head];
            let mut rest = &code[from..];
            // `super::super::x`
            while let Some(r) = rest.strip_prefix("super::") {
                head.push("super".to_owned());
                rest = r;
            }
            tree(rest, head, &mut out);
        }
    }
    out
}

/// Parses a use tree at the start of `text` below `prefix`, pushing each full path.
fn tree(text: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let text_trimmed = text.trim_start();
    let skipped = text.len() - text_trimmed.len();
    if let Some(inner) = text_trimmed.strip_prefix('{') {
        let mut pos = 0;
        loop {
            let rest = &inner[pos..];
            let t = rest.trim_start();
            pos += rest.len() - t.len();
            if t.starts_with('}') || t.is_empty() {
                return skipped + 1 + pos + 1;
            }
            pos += tree(&inner[pos..], prefix.clone(), out);
            let t = inner[pos..].trim_start();
            pos = inner.len() - t.len();
            if let Some(after) = t.strip_prefix(',') {
                pos = inner.len() - after.len();
            }
        }
    }
    let ident: String = text_trimmed
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        out.push(prefix);
        return skipped;
    }
    let mut path = prefix;
    let after = &text_trimmed[ident.len()..];
    if ident != "self" {
        path.push(ident.clone());
    }
    match after.strip_prefix("::") {
        Some(more) => skipped + ident.len() + 2 + tree(more, path, out),
        None => {
            out.push(path);
            skipped + ident.len()
        }
    }
}

/// The cycles of `graph`, each as `a → b → … → a`, one per strongly connected component.
pub(super) fn cycles(graph: &Graph) -> Vec<String> {
    // Tarjan's algorithm, iterative enough for a crate's few dozen modules.
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        found: Vec<Vec<&'g str>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.graph.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(lw));
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low[v];
                s.low.insert(v, lv.min(iw));
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
        .iter()
        .map(|c| {
            let mut names: Vec<&str> = c.clone();
            names.push(c[0]);
            names.join(" → ")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(m, t)| ((*m).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn module_paths_follow_the_file_layout() {
        assert_eq!(module_of(Path::new("lib.rs")), None);
        assert_eq!(module_of(Path::new("api.rs")).as_deref(), Some("api"));
        assert_eq!(
            module_of(Path::new("rolling/mod.rs")).as_deref(),
            Some("rolling")
        );
        assert_eq!(
            module_of(Path::new("model/new_rc.rs")).as_deref(),
            Some("model::new_rc")
        );
        assert_eq!(module_of(Path::new("model/new_rc/tests.rs")), None);
    }

    #[test]
    fn groups_super_and_doc_links_are_edges() {
        let g = graph(&files(&[
            ("a", "use crate::{b, c::{self, X}};\n"),
            ("b", "//! See [`crate::c::d::f`].\n"),
            ("c", ""),
            ("c::d", "use super::super::a::Y;\nfn f() { super::X }\n"),
            (
                "e",
                "fn f() {}\n#[cfg(test)]\nmod tests { use crate::a; }\n",
            ),
        ]));
        let edges = |m: &str| g[m].iter().cloned().collect::<Vec<_>>();
        assert_eq!(edges("a"), ["b", "c"]);
        assert_eq!(edges("b"), ["c::d"]);
        assert_eq!(edges("c::d"), ["a", "c"]);
        assert!(edges("e").is_empty());
    }

    #[test]
    fn a_loop_is_reported_and_a_chain_is_not() {
        let chain = graph(&files(&[
            ("observe", "use crate::api;"),
            ("api", "use crate::retry;"),
            ("retry", ""),
        ]));
        assert!(cycles(&chain).is_empty());
        let looped = graph(&files(&[
            ("observe", "use crate::api;"),
            ("api", "use crate::wake::Wake;"),
            ("wake", "use crate::observe::RcState;"),
            ("retry", ""),
        ]));
        assert_eq!(cycles(&looped), ["api → observe → wake → api"]);
    }
}
