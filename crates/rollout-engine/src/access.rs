//! Permissions checked before the first write: one SelfSubjectAccessReview per verb and
//! resource a method needs, so that a user whose RBAC lacks one gets a single error naming
//! every missing permission, and a cluster left exactly as it was, instead of a half-done
//! update that fails at its first forbidden call.
//!
//! Watches are not required (the waits fall back to polling), so they are not checked. An
//! API server that cannot answer the reviews (none do by default: every authenticated user
//! may create them) skips the check; the calls themselves still fail cleanly.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use crate::context::Ctx;
use crate::error::{EngineError, Result};

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

const fn need(verb: &'static str, group: &'static str, resource: &'static str) -> Need {
    Need {
        verb,
        group,
        resource,
        subresource: "",
    }
}

const RC: &str = "replicationcontrollers";
const COORDINATION: &str = "coordination.k8s.io";

/// A rolling update (and its rollback, rename and canary): RCs created, scaled, deleted;
/// the old RC's pods relabelled; the Lease that keeps a second engine away (see `lease`).
pub const ROLLING: &[Need] = &[
    need("get", "", RC),
    need("list", "", RC),
    need("create", "", RC),
    need("update", "", RC),
    need("delete", "", RC),
    need("list", "", "pods"),
    need("patch", "", "pods"),
    need("get", COORDINATION, "leases"),
    need("create", COORDINATION, "leases"),
    need("update", COORDINATION, "leases"),
    need("delete", COORDINATION, "leases"),
];

/// Recreate: the template updated in place, the old pods deleted.
pub const RECREATE: &[Need] = &[
    need("get", "", RC),
    need("update", "", RC),
    need("list", "", "pods"),
    need("delete", "", "pods"),
    need("get", COORDINATION, "leases"),
    need("create", COORDINATION, "leases"),
    need("update", COORDINATION, "leases"),
    need("delete", COORDINATION, "leases"),
];

/// What blue-green adds to [`ROLLING`]: the Service switched, the selector witness.
pub const BLUE_GREEN_EXTRA: &[Need] = &[
    need("get", "", "services"),
    need("list", "", "services"),
    need("update", "", "services"),
    need("create", "", "services"),
    need("delete", "", "services"),
    need("list", "discovery.k8s.io", "endpointslices"),
];

/// The error-rate analysis: the pods' `/metrics` (and, for blue-green, `/`) through the
/// API server's pod proxy.
pub const ANALYSIS: &[Need] = &[Need {
    verb: "get",
    group: "",
    resource: "pods",
    subresource: "proxy",
}];

impl Need {
    fn describe(&self) -> String {
        let mut r = self.resource.to_owned();
        if !self.subresource.is_empty() {
            r = format!("{r}/{}", self.subresource);
        }
        if !self.group.is_empty() {
            r = format!("{r}.{}", self.group);
        }
        format!("{} {r}", self.verb)
    }
}

/// Fails with one error naming every permission of `needs` the user lacks in the
/// namespace; `Ok` when all are granted or the reviews cannot be made.
pub(crate) async fn check(ctx: &Ctx, needs: &[Need]) -> Result<()> {
    let api: Api<SelfSubjectAccessReview> = Api::all(ctx.cluster.client.clone());
    let mut missing = Vec::new();
    for n in needs {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(ctx.namespace().to_owned()),
                    verb: Some(n.verb.to_owned()),
                    group: Some(n.group.to_owned()),
                    resource: Some(n.resource.to_owned()),
                    subresource: (!n.subresource.is_empty()).then(|| n.subresource.to_owned()),
                    ..ResourceAttributes::default()
                }),
                ..SelfSubjectAccessReviewSpec::default()
            },
            ..SelfSubjectAccessReview::default()
        };
        match api.create(&PostParams::default(), &review).await {
            Ok(answer) => {
                if !answer.status.is_some_and(|s| s.allowed) {
                    missing.push(n.describe());
                }
            }
            // Reviews unavailable: leave the verdict to the calls themselves.
            Err(_) => return Ok(()),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(EngineError::invalid(format!(
        "missing permissions in namespace {}: {}; nothing was changed",
        ctx.namespace(),
        missing.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_read_as_kubectl_auth_can_i() {
        assert_eq!(ROLLING[6].describe(), "patch pods");
        assert_eq!(ANALYSIS[0].describe(), "get pods/proxy");
        assert_eq!(
            BLUE_GREEN_EXTRA[5].describe(),
            "list endpointslices.discovery.k8s.io"
        );
    }
}
