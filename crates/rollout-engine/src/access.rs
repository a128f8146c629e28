//! Permissions checked before the first write: what RBAC grants in the namespace (one
//! SelfSubjectRulesReview), then a SelfSubjectAccessReview for each verb and resource a
//! method needs that the rules do not cover, so that a user whose RBAC lacks one gets a
//! single error naming every missing permission, and a cluster left exactly as it was,
//! instead of a half-done update that fails at its first forbidden call.
//!
//! Watches are not required (the waits fall back to polling), so they are not checked. An
//! API server that cannot answer the reviews (none do by default: every authenticated user
//! may create them) skips the check; the calls themselves still fail cleanly.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, ResourceRule, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use crate::context::Ctx;
use crate::error::{EngineError, Result};

pub use crate::need::Need;
use crate::need::need;

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

const BATCH: &str = "batch";
const RBAC: &str = "rbac.authorization.k8s.io";

/// Handing an update to a Job (`--detach`): the Job (created suspended, released once its
/// ServiceAccount, Role and RoleBinding exist; listed to refuse a second one; suspended and
/// deleted by a rollback), and what the Role grants besides the update's own needs, which
/// RBAC lets only a user who holds them grant: the outcome's Event on the RC, and deleting
/// the Role itself at the end.
pub const DETACH: &[Need] = &[
    need("list", BATCH, "jobs"),
    need("create", BATCH, "jobs"),
    need("patch", BATCH, "jobs"),
    need("delete", BATCH, "jobs"),
    need("create", "", "serviceaccounts"),
    need("create", RBAC, "roles"),
    need("delete", RBAC, "roles"),
    need("create", RBAC, "rolebindings"),
    need("create", "", "events"),
];

/// What the detached update's pod does besides the update: it watches the RCs and pods it
/// waits for (not required of a user, whose waits fall back to polling, but the Job runs
/// unattended and should wake at once), and leaves the outcome as an Event on the RC. (It
/// also deletes its own Role at the end, granted by name: see `detach::objects::rules`.)
pub const IN_JOB: &[Need] = &[
    need("watch", "", RC),
    need("watch", "", "pods"),
    need("create", "", "events"),
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

/// Blue-green's commands: [`ROLLING`] and [`BLUE_GREEN_EXTRA`], plus [`ANALYSIS`] when the
/// new pods' answers are analysed.
pub(crate) fn blue_green(analysis: bool) -> Vec<Need> {
    let mut needs = [ROLLING, BLUE_GREEN_EXTRA].concat();
    if analysis {
        needs.extend_from_slice(ANALYSIS);
    }
    needs
}

/// A canary's commands: [`ROLLING`], plus [`ANALYSIS`] when the new pods' answers are
/// analysed.
pub(crate) fn canary(analysis: bool) -> Vec<Need> {
    let mut needs = ROLLING.to_vec();
    if analysis {
        needs.extend_from_slice(ANALYSIS);
    }
    needs
}

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
///
/// One SelfSubjectRulesReview lists what RBAC grants in the namespace, which settles the
/// usual case (everything granted) in one request instead of one per need. Only the needs it
/// does not grant get a SelfSubjectAccessReview each: the rules are a lower bound (another
/// authorizer, a webhook for one, may allow more, and says so by `incomplete`), so a
/// permission is reported missing only on the review's authoritative answer.
pub(crate) async fn check(ctx: &Ctx, needs: &[Need]) -> Result<()> {
    let client = ctx.cluster.client.clone();
    let ungranted: Vec<&Need> = match rules(&client, ctx.namespace()).await {
        Some(rules) => needs.iter().filter(|n| !granted(&rules, n)).collect(),
        None => needs.iter().collect(),
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client);
    let mut missing = Vec::new();
    for n in ungranted {
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

/// The resource rules RBAC grants the user in `namespace`, or `None` when the review cannot
/// be made (then every need is reviewed on its own).
async fn rules(client: &kube::Client, namespace: &str) -> Option<Vec<ResourceRule>> {
    let api: Api<SelfSubjectRulesReview> = Api::all(client.clone());
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.to_owned()),
        },
        ..SelfSubjectRulesReview::default()
    };
    let answer = api.create(&PostParams::default(), &review).await.ok()?;
    Some(answer.status?.resource_rules)
}

/// Whether one of `rules` grants `need` without naming objects, as RBAC matches a request:
/// `*` stands for any verb, group or resource, and `*/sub` for any resource's subresource.
/// A rule limited to `resourceNames` does not grant a need that names no object.
fn granted(rules: &[ResourceRule], need: &Need) -> bool {
    let combined = if need.subresource.is_empty() {
        need.resource.to_owned()
    } else {
        format!("{}/{}", need.resource, need.subresource)
    };
    let any_sub = format!("*/{}", need.subresource);
    rules.iter().any(|rule| {
        let has = |list: Option<&Vec<String>>, want: &str| {
            list.is_some_and(|l| l.iter().any(|v| v == "*" || v == want))
        };
        rule.resource_names.as_ref().is_none_or(Vec::is_empty)
            && rule.verbs.iter().any(|v| v == "*" || v == need.verb)
            && has(rule.api_groups.as_ref(), need.group)
            && rule.resources.as_ref().is_some_and(|resources| {
                resources.iter().any(|r| {
                    r == "*" || *r == combined || (!need.subresource.is_empty() && *r == any_sub)
                })
            })
    })
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

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> ResourceRule {
        let owned = |l: &[&str]| Some(l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        ResourceRule {
            verbs: verbs.iter().map(|s| (*s).to_owned()).collect(),
            api_groups: owned(groups),
            resources: owned(resources),
            resource_names: (!names.is_empty()).then(|| owned(names)).flatten(),
        }
    }

    #[test]
    fn rules_grant_as_rbac_matches() {
        let patch_pods = ROLLING[6];
        let proxy = ANALYSIS[0];
        let lease = ROLLING[8];
        // Exact, and wildcards for each of verb, group and resource.
        assert!(granted(
            &[rule(&["patch"], &[""], &["pods"], &[])],
            &patch_pods
        ));
        assert!(granted(&[rule(&["*"], &[""], &["pods"], &[])], &patch_pods));
        assert!(granted(
            &[rule(&["patch"], &["*"], &["pods"], &[])],
            &patch_pods
        ));
        assert!(granted(
            &[rule(&["patch"], &[""], &["*"], &[])],
            &patch_pods
        ));
        assert!(granted(
            &[rule(&["create"], &[COORDINATION], &["leases"], &[])],
            &lease
        ));
        // Wrong verb, wrong group, a named object only, a subresource for its resource.
        assert!(!granted(
            &[rule(&["get", "list"], &[""], &["pods"], &[])],
            &patch_pods
        ));
        assert!(!granted(
            &[rule(&["create"], &[""], &["leases"], &[])],
            &lease
        ));
        assert!(!granted(
            &[rule(&["patch"], &[""], &["pods"], &["kubia-abc"])],
            &patch_pods
        ));
        assert!(!granted(
            &[rule(&["get"], &[""], &["pods/proxy"], &[])],
            &ROLLING[0]
        ));
        // Subresources: spelled out, or `*/proxy`; the bare resource does not cover them.
        assert!(granted(
            &[rule(&["get"], &[""], &["pods/proxy"], &[])],
            &proxy
        ));
        assert!(granted(&[rule(&["get"], &[""], &["*/proxy"], &[])], &proxy));
        assert!(!granted(&[rule(&["get"], &[""], &["pods"], &[])], &proxy));
        assert!(!granted(&[rule(&["get"], &[""], &["*/log"], &[])], &proxy));
        // No rules, no grant; any one rule suffices.
        assert!(!granted(&[], &patch_pods));
        let rules = [
            rule(&["get"], &[""], &["services"], &[]),
            rule(&["patch"], &[""], &["pods"], &[]),
        ];
        assert!(granted(&rules, &patch_pods));
    }
}
