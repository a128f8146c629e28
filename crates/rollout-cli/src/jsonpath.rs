//! `-o jsonpath=TEMPLATE`: kubectl's JSONPath templates, the subset scripts use.
//!
//! A template is literal text with `{…}` expressions: field paths (`{.metadata.name}`),
//! indexes (`{.spec.template.spec.containers[0].image}`), wildcards (`{.items[*].x}`,
//! `{.metadata.labels.*}`), quoted text (`{"\n"}`) and `{range …}…{end}` over a list. As in
//! kubectl, several results of one expression are joined by a space, strings print bare and
//! other values as JSON. A missing field or index prints nothing, as kubectl's default
//! `--allow-missing-template-keys=true` does; with `false` it is an error.

use serde_json::Value;

/// A template that did not parse or an expression that found nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error executing jsonpath {template:?}: {reason}")]
pub struct JsonPathError {
    template: String,
    reason: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Path(Vec<Step>),
    Range(Vec<Step>, Vec<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
}

/// Renders `template` against `value`; a missing field is an error.
pub fn render(template: &str, value: &Value) -> Result<String, JsonPathError> {
    render_with(template, value, false)
}

/// Renders `template` against `value`; `allow_missing_keys` makes a missing field or
/// index print nothing instead of failing.
pub fn render_with(
    template: &str,
    value: &Value,
    allow_missing_keys: bool,
) -> Result<String, JsonPathError> {
    let fail = |reason: String| JsonPathError {
        template: template.to_owned(),
        reason,
    };
    let nodes = parse(template).map_err(fail)?;
    let mut out = String::new();
    Executor { allow_missing_keys }
        .execute(&nodes, value, &mut out)
        .map_err(fail)?;
    Ok(out)
}

/// Whether `template` parses (nothing is rendered): flags are checked before any write.
pub fn check(template: &str) -> Result<(), JsonPathError> {
    parse(template).map(drop).map_err(|reason| JsonPathError {
        template: template.to_owned(),
        reason,
    })
}

/// The deepest `{range}` nesting a template may have. Parsing and rendering recurse once per
/// level: without a limit, a template of thousands of nested ranges overflowed the stack.
const MAX_RANGE_DEPTH: usize = 32;

fn parse(template: &str) -> Result<Vec<Node>, String> {
    let mut tokens = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest.find('}').ok_or("unclosed '{'")?;
                tokens.push(Token::Expr(rest[1..end].trim().to_owned()));
                rest = &rest[end + 1..];
            }
            Some(i) => {
                tokens.push(Token::Text(rest[..i].to_owned()));
                rest = &rest[i..];
            }
            None => {
                tokens.push(Token::Text(rest.to_owned()));
                rest = "";
            }
        }
    }
    let mut iter = tokens.into_iter();
    let nodes = nodes_until_end(&mut iter, 0)?;
    Ok(nodes)
}

enum Token {
    Text(String),
    Expr(String),
}

/// The nodes up to the `{end}` of the range `depth` levels deep (0: the template itself).
fn nodes_until_end(
    tokens: &mut impl Iterator<Item = Token>,
    depth: usize,
) -> Result<Vec<Node>, String> {
    let in_range = depth > 0;
    let mut nodes = Vec::new();
    while let Some(t) = tokens.next() {
        match t {
            Token::Text(s) => nodes.push(Node::Text(s)),
            Token::Expr(e) if e == "end" => {
                return if in_range {
                    Ok(nodes)
                } else {
                    Err("{end} without {range}".into())
                };
            }
            Token::Expr(e) => {
                if let Some(path) = e.strip_prefix("range ") {
                    let steps = steps(path.trim())?;
                    if depth == MAX_RANGE_DEPTH {
                        return Err(format!("{{range}} nested more than {MAX_RANGE_DEPTH} deep"));
                    }
                    let body = nodes_until_end(tokens, depth + 1)?;
                    nodes.push(Node::Range(steps, body));
                } else if let Some(text) = quoted(&e) {
                    nodes.push(Node::Text(text));
                } else {
                    nodes.push(Node::Path(steps(&e)?));
                }
            }
        }
    }
    if in_range {
        Err("{range} without {end}".into())
    } else {
        Ok(nodes)
    }
}

/// `"text"` with `\n`, `\t` and `\"` escapes.
fn quoted(e: &str) -> Option<String> {
    let inner = e.strip_prefix('"')?.strip_suffix('"')?;
    Some(
        inner
            .replace("\\n", "\n")
            .replace("\\t", "\t")
            .replace("\\\"", "\""),
    )
}

fn steps(path: &str) -> Result<Vec<Step>, String> {
    let path = path.strip_prefix('$').unwrap_or(path);
    if !path.starts_with('.') && !path.starts_with('[') && !path.is_empty() {
        return Err(format!("unrecognized expression {path:?}"));
    }
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = &r[..end];
            if name == "*" {
                steps.push(Step::All);
            } else if !name.is_empty() {
                steps.push(Step::Field(name.to_owned()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("unclosed '['")?;
            let inside = r[..end].trim();
            steps.push(match inside {
                "*" => Step::All,
                n => Step::Index(n.parse().map_err(|_| format!("unsupported index [{n}]"))?),
            });
            rest = &r[end + 1..];
        } else {
            return Err(format!("unrecognized expression {rest:?}"));
        }
    }
    Ok(steps)
}

struct Executor {
    allow_missing_keys: bool,
}

impl Executor {
    fn select<'a>(&self, value: &'a Value, steps: &[Step]) -> Result<Vec<&'a Value>, String> {
        let mut current = vec![value];
        for step in steps {
            let mut next = Vec::new();
            for v in current {
                match step {
                    Step::Field(name) => match v.get(name) {
                        Some(x) => next.push(x),
                        None if self.allow_missing_keys => {}
                        None => return Err(format!("{name} is not found")),
                    },
                    Step::Index(i) => {
                        let list = v.as_array().ok_or("index on a value that is not a list")?;
                        let len = list.len() as i64;
                        let at = if *i < 0 { len + i } else { *i };
                        match usize::try_from(at).ok().and_then(|at| list.get(at)) {
                            Some(item) => next.push(item),
                            None if self.allow_missing_keys => {}
                            None => {
                                return Err(format!(
                                    "array index out of bounds: index {i}, length {len}"
                                ));
                            }
                        }
                    }
                    Step::All => match v {
                        Value::Array(items) => next.extend(items.iter()),
                        Value::Object(map) => next.extend(map.values()),
                        _ => {}
                    },
                }
            }
            current = next;
        }
        Ok(current)
    }

    fn execute(&self, nodes: &[Node], value: &Value, out: &mut String) -> Result<(), String> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Path(steps) => {
                    let found = self.select(value, steps)?;
                    let texts: Vec<String> = found.into_iter().map(text_of).collect();
                    out.push_str(&texts.join(" "));
                }
                Node::Range(steps, body) => {
                    for item in self.select(value, steps)? {
                        match item {
                            Value::Array(items) => {
                                for x in items {
                                    self.execute(body, x, out)?;
                                }
                            }
                            other => self.execute(body, other, out)?,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_templates_are_refused_not_a_stack_overflow() {
        let nested = |n: usize| {
            format!(
                "{}{{.metadata.name}}{}",
                "{range .items[*]}".repeat(n),
                "{end}".repeat(n)
            )
        };
        assert!(check(&nested(MAX_RANGE_DEPTH)).is_ok());
        let err = check(&nested(MAX_RANGE_DEPTH + 1))
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("nested more than 32 deep")),
            "{err:?}"
        );
        // Deep enough to overflow any thread's stack when nothing stops it.
        let huge = nested(200_000);
        let err = check(&huge).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("nested more than")));
        assert!(render(&huge, &rc()).is_err());
        assert!(check("{.metadata.name").is_err());
        assert!(check("{end}").is_err());
    }

    fn rc() -> Value {
        json!({
            "kind": "ReplicationController",
            "metadata": {"name": "kubia-v2", "labels": {"app": "kubia"}},
            "spec": {"replicas": 3, "template": {"spec": {"containers": [
                {"name": "nodejs", "image": "luksa/kubia:v2"},
                {"name": "side", "image": "busybox"}
            ]}}}
        })
    }

    #[test]
    fn fields_indexes_wildcards_and_text() {
        let r = |t: &str| render(t, &rc());
        assert_eq!(r("{.metadata.name}").as_deref(), Ok("kubia-v2"));
        assert_eq!(r("{.spec.replicas}").as_deref(), Ok("3"));
        assert_eq!(
            r("{.spec.template.spec.containers[0].image}").as_deref(),
            Ok("luksa/kubia:v2")
        );
        assert_eq!(
            r("{.spec.template.spec.containers[-1].name}").as_deref(),
            Ok("side")
        );
        assert_eq!(
            r("{.spec.template.spec.containers[*].name}").as_deref(),
            Ok("nodejs side")
        );
        assert_eq!(
            r("name={.metadata.name}{\"\\n\"}").as_deref(),
            Ok("name=kubia-v2\n")
        );
        assert_eq!(
            r("{.metadata.labels}").as_deref(),
            Ok("{\"app\":\"kubia\"}")
        );
        assert_eq!(
            r("{range .spec.template.spec.containers[*]}{.name}={.image};{end}").as_deref(),
            Ok("nodejs=luksa/kubia:v2;side=busybox;")
        );
    }

    #[test]
    fn errors_name_the_template() {
        let e = render("{.metadata.nope}", &rc())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("error executing jsonpath \"{.metadata.nope}\": nope is not found")
        );
        assert!(render("{.metadata.name", &rc()).is_err());
        assert!(render("{range .x}", &rc()).is_err());
        assert!(render("{.spec.template.spec.containers[9]}", &rc()).is_err());
    }

    #[test]
    fn missing_keys_print_nothing_when_allowed() {
        let r = |t: &str| render_with(t, &rc(), true);
        assert_eq!(r("[{.metadata.nope}]").as_deref(), Ok("[]"));
        assert_eq!(
            r("{.spec.template.spec.containers[9].name}|{.metadata.name}").as_deref(),
            Ok("|kubia-v2")
        );
        assert!(r("{.metadata.name").is_err(), "syntax errors stay errors");
    }
}
