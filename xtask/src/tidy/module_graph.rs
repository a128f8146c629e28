//! No import cycles between the modules of a crate: the layers a README describes (model →
//! primitives → methods) only hold if dependencies point one way.
//!
//! Each source file is a node (`a/b.rs` and `a/b/mod.rs` are `a::b`); an edge is any path
//! that names another module, in code or in a doc link (a doc link is a dependency for the
//! reader): through `crate::`, `super::` or `self::`, through a name a `use` gave a module
//! (`use crate::cluster;` makes `cluster::kind::up()` a path to `cluster::kind`), or through a
//! child module's name (`kind::up()` in `cluster`). Strings name no module and are skipped.
//! A `use` that only names a module is no edge by itself: the paths through the name are, so
//! `cluster::build::f()` ties its module to `cluster::build`, not to all of `cluster`.
//!
//! Declaring a child (`mod kind;`) or re-exporting from it (`pub use kind::up;`) is not an
//! edge: the child is part of its parent, and a parent that only exposes it does not depend
//! on it in the layered sense; for the same reason the crate root, which only declares
//! modules and re-exports, is left out. So is test code (`tests.rs` files and what follows
//! `#[cfg(test)]`), which may look anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod lexer;

pub(super) use lexer::without_literals;
use lexer::{Item, Written};

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
        let here = Scope {
            module: module.split("::").collect(),
            modules: &modules,
            aliases: BTreeMap::new(),
            importing: BTreeSet::new(),
        };
        let written = lexer::written(lexer::non_test_code(text).as_str());
        let here = here.with_aliases(&written);
        let inside = format!("{module}::");
        let edges = graph.entry(module.clone()).or_default();
        for (i, w) in written.iter().enumerate() {
            // `use crate::cluster;` depends on nothing yet; `cluster::build::f()` then
            // depends on `cluster::build`, not on what `cluster` itself holds.
            if w.item == Item::Use && here.importing.contains(&i) {
                continue;
            }
            let Some(target) = here
                .resolve(&w.segments)
                .and_then(|p| here.longest_module(&p))
            else {
                continue;
            };
            // A parent re-exporting its child's items does not depend on the child.
            let child_reexport = w.item == Item::PubUse && target.starts_with(&inside);
            if target != *module && !child_reexport {
                edges.insert(target);
            }
        }
    }
    graph
}

/// What a path written in one module can start with.
struct Scope<'a> {
    /// The module's path, split.
    module: Vec<&'a str>,
    /// Every module of the crate.
    modules: &'a BTreeSet<&'a str>,
    /// Names a `use` gave a module in this file → that module's path.
    aliases: BTreeMap<String, Vec<String>>,
    /// The `use` leaves (indices into the file's paths) that gave those names.
    importing: BTreeSet<usize>,
}

impl Scope<'_> {
    /// Adds the module aliases of the file's `use` items. A `use` may start from another
    /// alias (`use crate::cluster; use cluster::kind;`), so it repeats until nothing new.
    fn with_aliases(mut self, written: &[Written]) -> Self {
        loop {
            let before = self.aliases.len();
            for (i, w) in written.iter().enumerate() {
                if w.item == Item::Code {
                    continue;
                }
                let name = w.rename.as_ref().or(w.segments.last());
                let Some(name) = name.filter(|n| *n != "_" && !self.aliases.contains_key(*n))
                else {
                    continue;
                };
                if let Some(full) = self.resolve(&w.segments)
                    && self.modules.contains(full.join("::").as_str())
                {
                    self.aliases.insert(name.clone(), full);
                    self.importing.insert(i);
                }
            }
            if self.aliases.len() == before {
                return self;
            }
        }
    }

    /// The crate-absolute path `segments` names, if it starts at a module of this crate.
    fn resolve(&self, segments: &[String]) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        let owned = |parts: &[&str]| parts.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut full = match first.as_str() {
            "crate" | "$crate" => Vec::new(),
            "super" => {
                let ups = segments.iter().take_while(|s| *s == "super").count();
                let keep = self.module.len().saturating_sub(ups);
                let mut full = owned(&self.module[..keep]);
                full.extend(segments[ups..].iter().cloned());
                return Some(full);
            }
            name => {
                if let Some(target) = self.aliases.get(name) {
                    target.clone()
                } else {
                    let mut child = owned(&self.module);
                    child.push(name.to_owned());
                    if !self.modules.contains(child.join("::").as_str()) {
                        return None;
                    }
                    child
                }
            }
        };
        full.extend(rest.iter().cloned());
        Some(full)
    }

    /// The longest prefix of `full` that is a module of this crate.
    fn longest_module(&self, full: &[String]) -> Option<String> {
        (1..=full.len())
            .rev()
            .map(|n| full[..n].join("::"))
            .find(|m| self.modules.contains(m.as_str()))
    }
}
/// The cycles of `graph` as real loops `a → b → … → a`: per strongly connected component,
/// each pair of modules naming each other, then shortest loops until every module of it
/// is on a listed loop.
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
    // Each component as real loops, edge by edge, each line a loop the reader can cut:
    // every pair of modules that name each other, then the shortest loops through the
    // modules no line passes yet.
    let mut out = Vec::new();
    let names = |a: &str, b: &str| graph.get(a).is_some_and(|e| e.contains(b));
    for component in &s.found {
        let members: BTreeSet<&str> = component.iter().copied().collect();
        let mut covered = BTreeSet::new();
        for (i, &a) in component.iter().enumerate() {
            for &b in &component[i + 1..] {
                if names(a, b) && names(b, a) {
                    covered.extend([a, b]);
                    out.push(format!("{a} → {b} → {a}"));
                }
            }
        }
        let mut longer: Vec<Vec<&str>> = component
            .iter()
            .filter(|m| !covered.contains(*m))
            .map(|m| shortest_loop(graph, &members, m))
            .collect();
        longer.sort_by_key(|path| path.len());
        for path in longer {
            if path.iter().any(|m| !covered.contains(m)) {
                covered.extend(path.iter().copied());
                out.push(path.join(" → "));
            }
        }
    }
    out
}

/// A shortest loop from `start` back to itself through `members` only, as the modules it
/// passes (`start` first and last): a loop that exists, edge by edge, for the reader to cut.
fn shortest_loop<'g>(
    graph: &'g Graph,
    members: &BTreeSet<&'g str>,
    start: &'g str,
) -> Vec<&'g str> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        let next = graph.get(v).into_iter().flatten().map(String::as_str);
        for w in next.filter(|w| members.contains(w)) {
            if w == start {
                let mut path = vec![start, v];
                let mut at = v;
                while let Some(&before) = came_from.get(at) {
                    path.push(before);
                    at = before;
                }
                path.reverse();
                return path;
            }
            if w != start && !came_from.contains_key(w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(m, t)| ((*m).to_owned(), (*t).to_owned()))
            .collect()
    }

    fn edges(g: &Graph, m: &str) -> Vec<String> {
        g[m].iter().cloned().collect()
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
            ("a", "use crate::{b, c::{self, X}};\nfn f() { b::g() }\n"),
            ("b", "//! See [`crate::c::d::f`].\n"),
            ("c", ""),
            ("c::d", "use super::super::a::Y;\nfn f() { super::X }\n"),
            (
                "e",
                "fn f() {}\n#[cfg(test)]\nmod tests { use crate::a; }\n",
            ),
        ]));
        assert_eq!(edges(&g, "a"), ["b", "c"]);
        assert_eq!(edges(&g, "b"), ["c::d"]);
        assert_eq!(edges(&g, "c::d"), ["a", "c"]);
        assert!(edges(&g, "e").is_empty());
    }

    #[test]
    fn a_module_imported_by_name_is_followed_through_that_name() {
        let g = graph(&files(&[
            (
                "registry",
                "use crate::{cluster, util::{self as u}};\nuse crate::cluster::local as l;\n\
                 use cluster::kind;\nuse crate::util::Phase;\n\
                 fn up() { kind::node_running(); l::http_get(); u::x(); Phase::start(); }\n\
                 /// [`cluster::host::ip`]\nfn f() { anyhow::bail!(\"cluster::pki::x\") }\n",
            ),
            ("cluster", ""),
            ("cluster::host", ""),
            ("cluster::kind", "fn f() { crate::registry::up() }\n"),
            ("cluster::local", ""),
            ("cluster::pki", ""),
            ("util", ""),
        ]));
        assert_eq!(
            edges(&g, "registry"),
            ["cluster::host", "cluster::kind", "cluster::local", "util"]
        );
        assert_eq!(cycles(&g), ["cluster::kind → registry → cluster::kind"]);
        // Naming a module in a `use` and not using it is no edge.
        let g = graph(&files(&[
            ("a", "use crate::{b, c};\nfn f() { c::d::g() }\n"),
            ("b", ""),
            ("c", ""),
            ("c::d", ""),
        ]));
        assert_eq!(edges(&g, "a"), ["c::d"]);
    }

    #[test]
    fn a_child_module_is_followed_by_its_name_but_declaring_or_re_exporting_is_no_edge() {
        let g = graph(&files(&[
            (
                "cluster",
                "pub mod kind;\nmod local;\nmod pki;\npub use local::down;\n\
                 pub(crate) use self::pki::Ca;\n/// [`self::host::Ip`]\nfn up() { kind::up() }\n",
            ),
            ("cluster::host", ""),
            (
                "cluster::kind",
                "fn up() { local::up(); super::kubectl() }\n",
            ),
            ("cluster::local", ""),
            ("cluster::pki", ""),
            ("local", ""),
        ]));
        assert_eq!(edges(&g, "cluster"), ["cluster::host", "cluster::kind"]);
        // `local::up()` in `cluster::kind` names no child of it: no edge.
        assert_eq!(edges(&g, "cluster::kind"), ["cluster"]);
        assert_eq!(cycles(&g), ["cluster → cluster::kind → cluster"]);
    }

    #[test]
    fn a_loop_is_reported_and_a_chain_is_not() {
        let chain = graph(&files(&[
            ("observe", "use crate::api::Api;"),
            ("api", "use crate::retry::Retry;"),
            ("retry", ""),
        ]));
        assert!(cycles(&chain).is_empty());
        let looped = graph(&files(&[
            ("observe", "use crate::api::Api;"),
            ("api", "use crate::wake::Wake;"),
            ("wake", "use crate::observe::RcState;"),
            ("retry", ""),
        ]));
        assert_eq!(cycles(&looped), ["api → wake → observe → api"]);
        let two = graph(&files(&[
            ("a", "use crate::b::B;"),
            ("b", "use crate::{a::A, c::C};"),
            ("c", "use crate::b::B;"),
        ]));
        assert_eq!(cycles(&two), ["a → b → a", "b → c → b"]);
    }
}
