//! One permission the engine needs (a verb on a resource), a leaf that the context records
//! and `access` checks.

/// One permission: a verb on a resource (with its API group and subresource).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// `get`, `list`, `create`, `update`, `patch`, `delete`.
    pub verb: &'static str,
    /// The API group (`""` for the core group).
    pub group: &'static str,
    /// The resource, plural.
    pub resource: &'static str,
    /// A subresource (`proxy`), if any.
    pub subresource: &'static str,
}

pub(crate) const fn need(verb: &'static str, group: &'static str, resource: &'static str) -> Need {
    Need {
        verb,
        group,
        resource,
        subresource: "",
    }
}
