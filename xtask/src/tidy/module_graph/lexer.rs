//! The paths a Rust file writes, found without a parser: enough lexing to skip string and
//! char literals (text, not names) and to tell comments from code, then every `a::b…` path
//! with its `use` groups expanded.

/// Where a path was written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Item {
    /// In code or a comment.
    Code,
    /// In a private `use` item: its name is in scope in the file.
    Use,
    /// In a `pub use` (any visibility): a re-export.
    PubUse,
}

/// One path as written, a `use` group yielding one per leaf.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Written {
    /// `crate::a::b` → `["crate", "a", "b"]`; a leading or trailing `self` is dropped.
    pub(super) segments: Vec<String>,
    /// The name after `as`.
    pub(super) rename: Option<String>,
    pub(super) item: Item,
}

/// `text` up to its first `#[cfg(test)]` in code (not in a comment or string), with the
/// contents of string and char literals blanked; comments stay, since doc links are edges.
pub(super) fn non_test_code(text: &str) -> String {
    let code = blank(text, false);
    let end = blank(text, true).find("#[cfg(test)]").unwrap_or(code.len());
    code.get(..end).unwrap_or(&code).to_owned()
}

/// `text` with the contents of string and char literals blanked: what the code names,
/// comments (doc links, doc tests) included.
pub(in crate::tidy) fn without_literals(text: &str) -> String {
    blank(text, false)
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Replaces the contents of literals (and comments when `comments`) by spaces, keeping the
/// byte offsets and line breaks, so a quoted `"super::"` or a `'"'` names nothing.
fn blank(text: &str, comments: bool) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut wipe = |from: usize, to: usize| {
        for c in &mut out[from.min(b.len())..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let find = |from: usize, what: &[u8]| {
        (from..b.len())
            .find(|&k| b[k..].starts_with(what))
            .map_or(b.len(), |k| k + what.len())
    };
    let mut i = 0;
    while i < b.len() {
        let after_ident = i > 0 && is_ident(b[i - 1]);
        let end = match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = find(i, b"\n");
                if comments {
                    wipe(i, end);
                }
                end
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                let mut k = i;
                while k < b.len() {
                    if b[k..].starts_with(b"/*") {
                        depth += 1;
                        k += 2;
                    } else if b[k..].starts_with(b"*/") {
                        depth -= 1;
                        k += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        k += 1;
                    }
                }
                if comments {
                    wipe(i, k);
                }
                k
            }
            b'"' => {
                let mut k = i + 1;
                while k < b.len() && b[k] != b'"' {
                    k += if b[k] == b'\\' { 2 } else { 1 };
                }
                wipe(i + 1, k);
                k + 1
            }
            b'r' | b'b' if !after_ident => {
                // r"…", r#"…"#, br"…" (b"…" goes through the plain string arm next round).
                let raw = b[i] == b'r' || b.get(i + 1) == Some(&b'r');
                let start = if b[i] == b'b' { i + 2 } else { i + 1 };
                let hashes = b[start.min(b.len())..]
                    .iter()
                    .take_while(|c| **c == b'#')
                    .count();
                if raw && b.get(start + hashes) == Some(&b'"') {
                    let close: Vec<u8> = std::iter::once(b'"')
                        .chain(std::iter::repeat_n(b'#', hashes))
                        .collect();
                    let end = find(start + hashes + 1, &close);
                    wipe(start + hashes + 1, end.saturating_sub(close.len()));
                    end
                } else {
                    i + 1
                }
            }
            b'\'' => char_literal_end(text, i).map_or(i + 1, |end| {
                wipe(i + 1, end - 1);
                end
            }),
            _ => i + 1,
        };
        i = end.max(i + 1);
    }
    // Only ASCII bytes were written over whole characters, so this is still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Where the char literal opening at `i` ends (past its closing quote); `None` for a
/// lifetime or label (`'a`, `'static`).
fn char_literal_end(text: &str, i: usize) -> Option<usize> {
    let b = text.as_bytes();
    if b.get(i + 1) == Some(&b'\\') {
        let close = (i + 3..b.len()).find(|&k| b[k] == b'\'')?;
        return Some(close + 1);
    }
    let c = text.get(i + 1..)?.chars().next()?;
    let close = i + 1 + c.len_utf8();
    (b.get(close) == Some(&b'\'')).then_some(close + 1)
}

/// Every path of two or more segments in `code` (`a::b`, `crate::{a, b::c}`), each with
/// where it was written. A path continuing another (`::b` in `a::b`) is part of that one,
/// and `::x` (an extern crate) is no path of this crate.
pub(super) fn written(code: &str) -> Vec<Written> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = is_ident(b[i]) && !b[i].is_ascii_digit() && (i == 0 || !is_ident(b[i - 1]));
        if !starts {
            i += 1;
            continue;
        }
        let len = b[i..].iter().take_while(|c| is_ident(**c)).count();
        let continued = i >= 2 && &b[i - 2..i] == b"::";
        if continued || !code[i + len..].starts_with("::") {
            i += len;
            continue;
        }
        let item = item_before(&code[..i]);
        let mut leaves = Vec::new();
        let used = tree(&code[i..], Vec::new(), &mut leaves);
        // `pub(in crate::a)` says who may see an item: it depends on nothing.
        if !is_visibility(&code[..i]) {
            out.extend(leaves.into_iter().map(|(segments, rename)| Written {
                segments,
                rename,
                item,
            }));
        }
        i += used.max(len);
    }
    out
}

/// Whether the path starting after `before` is the one of `pub(in …)`.
fn is_visibility(before: &str) -> bool {
    before
        .trim_end()
        .strip_suffix("in")
        .and_then(|b| b.trim_end().strip_suffix('('))
        .is_some_and(|b| b.trim_end().ends_with("pub"))
}

/// Whether the path starting after `before` is the tree of a `use` item, and a `pub` one.
fn item_before(before: &str) -> Item {
    let t = before.trim_end();
    let Some(head) = t.strip_suffix("use") else {
        return Item::Code;
    };
    if t.len() == before.len() || head.bytes().last().is_some_and(is_ident) {
        return Item::Code;
    }
    let start = head.rfind(['\n', ';', '{', '}']).map_or(0, |k| k + 1);
    if head[start..].trim_start().starts_with("pub") {
        Item::PubUse
    } else {
        Item::Use
    }
}

/// A path leaf: its segments and its `as` name.
type Leaf = (Vec<String>, Option<String>);

/// Parses a use tree (or a plain path) at the start of `text` below `prefix`, pushing each
/// leaf; returns the bytes it used.
fn tree(text: &str, prefix: Vec<String>, out: &mut Vec<Leaf>) -> usize {
    let trimmed = text.trim_start();
    let skipped = text.len() - trimmed.len();
    if let Some(inner) = trimmed.strip_prefix('{') {
        let mut pos = 0;
        loop {
            let t = inner[pos..].trim_start();
            pos = inner.len() - t.len();
            if t.is_empty() {
                return text.len();
            }
            if t.starts_with('}') {
                return skipped + 1 + pos + 1;
            }
            let used = tree(&inner[pos..], prefix.clone(), out);
            pos += used;
            let t = inner[pos..].trim_start();
            pos = inner.len() - t.len();
            if let Some(after) = t.strip_prefix(',') {
                pos = inner.len() - after.len();
            } else if used == 0 && !t.starts_with('}') {
                // Something this lexer does not know; step over it rather than stall.
                pos += t.chars().next().map_or(1, char::len_utf8);
            }
        }
    }
    if let Some(after) = trimmed.strip_prefix('*') {
        out.push((prefix, None));
        return text.len() - after.len();
    }
    let ident: String = trimmed
        .bytes()
        .take_while(|c| is_ident(*c))
        .map(char::from)
        .collect();
    if ident.is_empty() {
        // `f::<T>()` names `f`; a bare `crate::` (in prose, say) names nothing.
        if trimmed.starts_with('<') {
            out.push((prefix, None));
        }
        return skipped;
    }
    let mut path = prefix;
    let after = &trimmed[ident.len()..];
    if ident != "self" {
        path.push(ident);
    }
    if let Some(more) = after.strip_prefix("::") {
        let used = tree(more, path, out);
        return text.len() - more.len() + used;
    }
    // `x as y`
    let rename = after
        .trim_start()
        .strip_prefix("as")
        .filter(|r| r.starts_with(char::is_whitespace))
        .map(str::trim_start)
        .map(|r| {
            let name: String = r
                .bytes()
                .take_while(|c| is_ident(*c))
                .map(char::from)
                .collect();
            let end = text.len() - r.len() + name.len();
            (name, end)
        })
        .filter(|(name, _)| !name.is_empty());
    match rename {
        Some((name, end)) => {
            out.push((path, Some(name)));
            end
        }
        None => {
            out.push((path, None));
            text.len() - after.len()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(code: &str) -> Vec<(String, Option<String>, Item)> {
        written(&non_test_code(code))
            .into_iter()
            .map(|w| (w.segments.join("::"), w.rename, w.item))
            .collect()
    }

    #[test]
    fn literals_name_nothing_and_comments_do() {
        let code = "let s = \"super::a\"; let r = r#\"crate::b\"#; let q = '\"'; let l: &'static str;\n\
                    /// [`crate::c::f`] and \"quotes\" in a comment\n\
                    // #[cfg(test)] in a comment cuts nothing\n\
                    fn f<'a>() { crate::d::g() }\n#[cfg(test)]\nmod tests { use crate::e; }\n";
        let found: Vec<String> = paths(code).into_iter().map(|p| p.0).collect();
        assert_eq!(found, ["crate::c::f", "crate::d::g"]);
    }

    #[test]
    fn use_trees_expand_with_renames_globs_and_visibility() {
        assert_eq!(
            paths(
                "use crate::{a, b::{self as bb, *}, c as cc};\npub(crate) use x::Y;\nlet n = crate::N as u64;\n"
            ),
            [
                ("crate::a".to_owned(), None, Item::Use),
                ("crate::b".to_owned(), Some("bb".to_owned()), Item::Use),
                ("crate::b".to_owned(), None, Item::Use),
                ("crate::c".to_owned(), Some("cc".to_owned()), Item::Use),
                ("x::Y".to_owned(), None, Item::PubUse),
                ("crate::N".to_owned(), Some("u64".to_owned()), Item::Code),
            ]
        );
        assert!(
            paths("pub user: a::B, ::ext::C, a::b::c")
                .iter()
                .all(|p| p.2 == Item::Code)
        );
        assert_eq!(paths("::ext::C; x::y::z").len(), 1);
        assert!(
            paths("pub(in crate::tidy) fn f() {}\npub( in super::x ) use a::B;\n")
                .iter()
                .all(|p| p.0 == "a::B")
        );
    }
}
