//! A ReplicationController encoded as kubectl 1.17's apimachinery JSON serializer encoded it:
//! the bytes kubectl's `HashObject` hashed (see `new_rc::rc_hash`, the one caller). kubectl
//! 1.17 is the last kubectl with `rolling-update`; it decoded the RC into its own v1.17 types
//! before hashing, so the shapes are those of k8s.io/api v0.17.17, whatever the server's
//! version.
//!
//! kubectl ran `runtime.Encode(scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion), rc)`: the
//! versioning codec sets TypeMeta (`"kind":"ReplicationController","apiVersion":"v1"`), then
//! `encoding/json`'s `Encoder.Encode` writes the Go struct. That differs from `serde_json` of
//! k8s-openapi's types in:
//!
//! - field order: Go declaration order (TypeMeta first), not k8s-openapi's;
//! - Go's zero values: a field k8s-openapi leaves out (`None`) is still written when its Go
//!   tag has no `omitempty` (`""`, `0`, `false`, `null` for a nil pointer, slice or map), and
//!   a Go struct is never left out by `omitempty` (`"resources":{}`, `"status":{"replicas":0}`,
//!   a template's `"creationTimestamp":null`; `omitzero` came with later API versions);
//! - `omitempty` drops `""`, `0`, `false`, `[]` and `{}` (maps) that k8s-openapi keeps;
//! - strings: `<`, `>`, `&`, U+2028 and U+2029 as `\u003c`-style escapes, `\b` and `\f`
//!   short (Go 1.22+), other control characters as `\u00XX`;
//! - a trailing `"\n"` (`json.Encoder`).
//!
//! Map keys are sorted in both. The shapes come from [`types`], generated from the Go types
//! by `tools/kubectl-1.17/cmd/fieldorder` (k8s.io/api v0.17.17); this file only walks them.
//!
//! Deterministic fallbacks where the Rust value cannot say what Go would hold:
//!
//! - A key the table does not know (a field newer than k8s.io/api v0.17.17, such as a pod
//!   spec's `setHostnameAsFQDN` or a container's `resizePolicy` from a newer server) is left
//!   out, as kubectl 1.17's decoder left it out of its Go structs.
//! - A value of another JSON shape than the table expects is encoded generically.
//! - Leaf types with their own `MarshalJSON` are written as k8s-openapi serialises them:
//!   `metav1.Time` as RFC 3339 to the second in UTC (the same bytes as Go), `Quantity` as
//!   its string (Go re-canonicalises it; API servers return canonical quantities),
//!   `IntOrString` as a number or a string, `FieldsV1` with its keys sorted: Go writes the
//!   server's bytes as they came, in structured-merge-diff's order, which is byte order for
//!   the usual `f:`/`k:`/`v:` entries (`tools/kubectl-1.17/cmd/kubectl-hash` warns when a fixture's is not);
//!   k8s-openapi keeps `FieldsV1` as a `serde_json::Value`, whose objects are sorted.
//! - A required k8s-openapi `Vec` (`containers`) is written `[]` when empty, where Go would
//!   write `null` for a missing one; a server never returns an RC without containers.

use k8s_openapi::api::core::v1::ReplicationController;
use serde_json::{Map, Value};

mod shape;
#[rustfmt::skip]
mod types;

use shape::{Field, Ty};

/// `rc` as kubectl's codec encoded it, trailing newline included.
pub fn replication_controller(rc: &ReplicationController) -> Vec<u8> {
    let mut value = serde_json::to_value(rc).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        // The codec sets TypeMeta to the version it encodes (client-go leaves it empty).
        map.insert("kind".into(), "ReplicationController".into());
        map.insert("apiVersion".into(), "v1".into());
    }
    let mut out = Vec::new();
    encode(&Ty::Struct(types::ROOT), Some(&value), &mut out);
    out.push(b'\n');
    out
}

/// Writes `value` (`None`: the field is absent, Go holds its zero value) as Go writes a `ty`.
fn encode(ty: &Ty, value: Option<&Value>, out: &mut Vec<u8>) {
    // Go decodes `null` into a field as its zero value.
    let value = value.filter(|v| !v.is_null());
    match (ty, value) {
        (Ty::Ptr(inner), Some(v)) => encode(inner, Some(v), out),
        (Ty::Ptr(_) | Ty::Slice(_) | Ty::Map(_) | Ty::Time | Ty::RawJson, None) => {
            out.extend_from_slice(b"null");
        }
        (Ty::String, None) => out.extend_from_slice(b"\"\""),
        (Ty::Int | Ty::IntOrString, None) => out.push(b'0'),
        (Ty::Bool, None) => out.extend_from_slice(b"false"),
        (Ty::Quantity, None) => out.extend_from_slice(b"\"0\""),
        (Ty::Slice(elem), Some(Value::Array(items))) => {
            array(items, out, |item, out| encode(elem, Some(item), out));
        }
        (Ty::Map(elem), Some(Value::Object(map))) => {
            sorted_map(map, out, |v, out| encode(elem, Some(v), out));
        }
        (Ty::Struct(fields), Some(Value::Object(map))) => encode_struct(fields, map, out),
        (Ty::Struct(fields), None) => encode_struct(fields, &Map::new(), out),
        // Present leaves, and shapes the table does not expect.
        (_, Some(v)) => generic(v, out),
    }
}

/// A struct: the table's fields in order (minus those `omitempty`/`omitzero` drop); keys the
/// table does not know are left out (kubectl 1.17's Go structs had no place for them).
fn encode_struct(fields: &[Field], map: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut first = true;
    let mut sep = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    for field in fields {
        let value = map.get(field.name).filter(|v| !v.is_null());
        if (field.omitempty && is_empty(field.ty, value))
            || (field.omitzero && is_zero(field.ty, value))
        {
            continue;
        }
        sep(out);
        string(field.name, out);
        out.push(b':');
        encode(field.ty, value, out);
    }
    out.push(b'}');
}

/// Go's `isEmptyValue` (`omitempty`): false, 0, "", nil pointers, and empty slices and maps.
/// Structs (Time, Quantity, IntOrString, FieldsV1 among them) are never empty.
fn is_empty(ty: &Ty, value: Option<&Value>) -> bool {
    match (ty, value) {
        (Ty::String | Ty::Int | Ty::Bool | Ty::Ptr(_) | Ty::Slice(_) | Ty::Map(_), None) => true,
        (Ty::String, Some(v)) => v.as_str() == Some(""),
        (Ty::Int, Some(v)) => v.as_i64() == Some(0),
        (Ty::Bool, Some(v)) => v.as_bool() == Some(false),
        (Ty::Slice(_), Some(v)) => v.as_array().is_some_and(Vec::is_empty),
        (Ty::Map(_), Some(v)) => v.as_object().is_some_and(Map::is_empty),
        _ => false,
    }
}

/// Go's `omitzero`: the type's `IsZero` (`metav1.Time`), else every bit zero. A present
/// pointer, slice or map is not nil, so not zero.
fn is_zero(ty: &Ty, value: Option<&Value>) -> bool {
    match (ty, value) {
        (_, None) => true,
        (Ty::Time, Some(v)) => v.as_str() == Some("0001-01-01T00:00:00Z"),
        (Ty::IntOrString, Some(v)) => is_empty(&Ty::Int, Some(v)),
        (Ty::Struct(fields), Some(Value::Object(map))) => fields
            .iter()
            .all(|f| is_zero(f.ty, map.get(f.name).filter(|v| !v.is_null()))),
        (Ty::String | Ty::Int | Ty::Bool, Some(v)) => is_empty(ty, Some(v)),
        _ => false,
    }
}

/// Any JSON value, Go style: object keys sorted, strings escaped as Go escapes them.
fn generic(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => string(s, out),
        Value::Array(items) => array(items, out, generic),
        Value::Object(map) => sorted_map(map, out, generic),
    }
}

/// A JSON array, each item written by `item`.
fn array(items: &[Value], out: &mut Vec<u8>, item: impl Fn(&Value, &mut Vec<u8>)) {
    out.push(b'[');
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(v, out);
    }
    out.push(b']');
}

/// A Go map as `encoding/json` writes it: keys sorted, each value written by `value`.
fn sorted_map(map: &Map<String, Value>, out: &mut Vec<u8>, value: impl Fn(&Value, &mut Vec<u8>)) {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (key, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(key, out);
        out.push(b':');
        value(v, out);
    }
    out.push(b'}');
}

/// A JSON string as Go's `encoding/json` writes it with HTML escaping on (its default).
fn string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' => {
                out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
            }
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go(rc: &ReplicationController) -> String {
        String::from_utf8(replication_controller(rc)).unwrap_or_default()
    }

    /// The Go rules on a tiny RC (fixture `tiny-rc.json`): field order, zero values
    /// (`"resources":{}`, `"status":{"replicas":0}`, a template's `"creationTimestamp":null`),
    /// `omitempty` dropping `""`, `0` and `false`, sorted map keys, HTML
    /// and control-character escaping, the trailing newline. The expected bytes were printed
    /// by the Go program, not by this encoder:
    ///
    /// ```text
    /// cd tools/kubectl-1.17
    /// go run ./cmd/kubectl-hash -print-json ../../crates/rollout-engine/tests/fixtures/tiny-rc.json
    /// ```
    #[test]
    fn go_encoding_rules_on_a_tiny_rc() {
        let json = include_str!("../../tests/fixtures/tiny-rc.json");
        let rc: ReplicationController = match serde_json::from_str(json) {
            Ok(rc) => rc,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(go(&rc), TINY_FROM_GO);
    }

    const TINY_FROM_GO: &str = concat!(
        r#"{"kind":"ReplicationController","apiVersion":"v1","metadata":{"name":"tiny","creationTimestamp":null,"#,
        r#""annotations":{"a":"","b":"\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e\u2028\t\b\u0001é"}},"#,
        r#""spec":{"template":{"metadata":{"creationTimestamp":null},"spec":{"containers":[{"name":"c","resources":{}}]}}},"#,
        r#""status":{"replicas":0}}"#,
        "\n"
    );

    #[test]
    fn unknown_keys_are_left_out() {
        let mut out = Vec::new();
        let map: Map<String, Value> = serde_json::from_str(
            r#"{"zeta":{"y":1,"x":"<"},"replicas":2,"alpha":[true],"fullyLabeledReplicas":0}"#,
        )
        .unwrap_or_default();
        encode_struct(types::REPLICATION_CONTROLLER_STATUS, &map, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#"{"replicas":2}"#
        );
    }
}
