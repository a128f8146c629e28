//! Objects to multi-document YAML text, deterministically.
//!
//! k8s-openapi serialises fields alphabetically; people (and the tutorial) write
//! `apiVersion, kind, metadata, spec`, a Service's `type, selector, ports`, a port's
//! `port, targetPort, nodePort`. Keys are therefore re-ordered by [`KEY_ORDER`] before
//! printing, which makes `kubia-manifests tutorial` print the book's file byte for byte and
//! keeps diffs against hand-written manifests small. The order depends only on key names,
//! so the output is a pure function of the objects.

use serde_yaml::{Mapping, Value};

use crate::error::Error;
use crate::object::Object;

/// Keys that come first in any mapping, in this order; other keys follow in the
/// serialiser's (alphabetical) order. One global list works because the keys that must be
/// ordered differently never meet in one mapping (`image` precedes `name` only in
/// containers).
pub const KEY_ORDER: &[&str] = &[
    // Objects.
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "status",
    // Containers: the tutorial writes the image first.
    "image",
    // Metadata, env vars, ports.
    "name",
    "namespace",
    "labels",
    "annotations",
    // Specs: what it is, how many, which pods, what they look like.
    "type",
    "replicas",
    "minReadySeconds",
    "progressDeadlineSeconds",
    "revisionHistoryLimit",
    "strategy",
    "selector",
    "template",
    // Pod specs and containers.
    "containers",
    "imagePullPolicy",
    "ports",
    "env",
    "resources",
    "readinessProbe",
    "livenessProbe",
    "securityContext",
    "terminationGracePeriodSeconds",
    "automountServiceAccountToken",
    // Probes and ports.
    "httpGet",
    "path",
    "port",
    "targetPort",
    "nodePort",
    "containerPort",
    // Resources.
    "requests",
    "limits",
];

fn rank(key: &Value) -> usize {
    key.as_str()
        .and_then(|k| KEY_ORDER.iter().position(|o| *o == k))
        .unwrap_or(KEY_ORDER.len())
}

/// Re-orders every mapping in `v` by [`KEY_ORDER`] (stable for unlisted keys).
pub fn reorder(v: Value) -> Value {
    match v {
        Value::Mapping(m) => {
            let mut entries: Vec<(Value, Value)> =
                m.into_iter().map(|(k, v)| (k, reorder(v))).collect();
            entries.sort_by_key(|(k, _)| rank(k));
            Value::Mapping(entries.into_iter().collect::<Mapping>())
        }
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(reorder).collect()),
        other => other,
    }
}

/// Renders objects as YAML documents separated by `---` lines (no leading `---`, as in
/// the tutorial's file).
pub fn to_yaml(objects: &[Object]) -> Result<String, Error> {
    let docs = objects
        .iter()
        .map(|o| Ok(serde_yaml::to_string(&reorder(serde_yaml::to_value(o)?))?))
        .collect::<Result<Vec<String>, Error>>()?;
    Ok(docs.join("---\n"))
}
