//! The table's vocabulary: Go types and struct fields as `encoding/json` sees them. A leaf
//! of its own, so the generated table (`types`) and the encoder that walks it (the parent)
//! both depend on it and not on each other.

/// The Go type of a struct field, as `encoding/json` sees it.
#[derive(Debug)]
pub(super) enum Ty {
    /// A Go string, or a named string type.
    String,
    /// Any Go integer type.
    Int,
    /// A Go bool.
    Bool,
    /// `metav1.Time`: RFC 3339 in UTC to the second; `null` when zero.
    Time,
    /// `resource.Quantity`: a string; `"0"` when zero.
    Quantity,
    /// `intstr.IntOrString`: a number or a string; `0` when zero.
    IntOrString,
    /// `metav1.FieldsV1`: raw JSON; `null` when zero.
    RawJson,
    /// `*T`: `null` when nil, else `T`.
    Ptr(&'static Ty),
    /// `[]T`: `null` when nil.
    Slice(&'static Ty),
    /// `map[string]T`: `null` when nil, keys sorted.
    Map(&'static Ty),
    /// A struct: its fields in Go order.
    Struct(&'static [Field]),
}

/// A Go struct field: its JSON name, tag options and type.
#[derive(Debug)]
pub(super) struct Field {
    pub(super) name: &'static str,
    pub(super) omitempty: bool,
    pub(super) omitzero: bool,
    pub(super) ty: &'static Ty,
}
