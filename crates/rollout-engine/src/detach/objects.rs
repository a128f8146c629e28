//! The objects `--detach` creates, as pure functions of the update: a Job that runs the
//! same command in the plugin's image, and the ServiceAccount, Role and RoleBinding it runs
//! as, the Role granting exactly the permissions the method declared (its RBAC preflight's
//! needs) and what the pod adds (its Event; deleting its own Role).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, PodSpec, PodTemplateSpec, ResourceRequirements, SeccompProfile,
    SecurityContext, ServiceAccount, Toleration,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::access::{IN_JOB, Need};

/// The label every object of a detached update carries (`app.kubernetes.io/managed-by`).
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kubia-rollout");
/// The label that marks a detached update's Job (listed to find one running).
pub const DETACHED_LABEL: &str = "rollout.kubia.dev/detached";
/// The annotation listing the RCs a detached update changes (comma-separated).
pub const RCS_ANNOTATION: &str = "rollout.kubia.dev/rcs";
/// The annotation with the user's command, as typed.
pub const COMMAND_ANNOTATION: &str = "rollout.kubia.dev/command";
/// The container's name in the Job's pod.
pub const CONTAINER: &str = "rollout";
/// The exit codes of a definitive outcome that failed (an error: 1; a usage error: 2): the
/// Job fails at once, as the client would have, instead of running the update again.
pub const FAIL_JOB_EXIT_CODES: [i32; 2] = [1, 2];
/// The exit codes of a clean interruption (SIGINT 130, SIGTERM 143: the pod deleted or its
/// node drained, the Lease released): a new pod resumes, not counted as a failure.
pub const INTERRUPTED_EXIT_CODES: [i32; 2] = [130, 143];

/// What runs in the Job, and how long it may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detach {
    /// The plugin's image (`kubia-lab/kubia-rollout:<version>` by default).
    pub image: String,
    /// The program in the image: `/kubectl-rolling_update` or `/kubia-rollout`.
    pub program: String,
    /// Its arguments: the user's command without `--detach*` and the connection flags
    /// (the pod connects as its ServiceAccount; `--namespace` is added).
    pub args: Vec<String>,
    /// The user's command as typed (the Job's annotation).
    pub command: String,
    /// How long the finished Job stays for its log (`ttlSecondsAfterFinished`).
    pub ttl: Duration,
    /// `--timeout`, which the Job's limits derive from.
    pub timeout: Duration,
    /// How long the whole update may run (`activeDeadlineSeconds`); default
    /// [`deadline`] of the timeout.
    pub deadline: Option<Duration>,
}

/// How many crashed pods the Job replaces (`backoffLimit`): as many as the Job
/// controller's back-off delays (10 s, doubling, at most 6 min) fit in `timeout`, at least
/// one. A pod stopped cleanly or disrupted is replaced without counting (see [`job`]).
pub fn backoff_limit(timeout: Duration) -> i32 {
    let (mut delay, mut total, mut n) = (10u64, 0u64, 0i32);
    loop {
        total += delay;
        if total > timeout.as_secs() || n >= 20 {
            return n.max(1);
        }
        n += 1;
        delay = (delay * 2).min(360);
    }
}

/// The whole update's limit (`activeDeadlineSeconds`) by default: twelve times `timeout`
/// (an hour for kubectl's 5m), at least ten minutes. Every step of an update is bounded by
/// `--timeout` without progress; `--detach-deadline` sets it for longer updates.
pub fn deadline(timeout: Duration) -> Duration {
    (timeout * 12).max(Duration::from_secs(600))
}

/// The Job's name: `kubia-rollout-<rc>-<suffix>`, at most 63 characters (its pods' label
/// `job-name` holds it).
pub fn job_name(rc: &str, suffix: &str) -> String {
    let room = 63 - "kubia-rollout-".len() - 1 - suffix.len();
    let rc: String = rc.chars().take(room).collect();
    let rc = rc.trim_end_matches(['-', '.']).replace('.', "-");
    format!("kubia-rollout-{rc}-{suffix}")
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned()),
        (
            "app.kubernetes.io/name".to_owned(),
            "kubia-rollout".to_owned(),
        ),
    ])
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The Job, created suspended (its pod would fail without its ServiceAccount): released by
/// `detach::submit` once the ServiceAccount, Role and RoleBinding exist.
pub fn job(name: &str, namespace: &str, rcs: &[String], d: &Detach) -> Job {
    let mut job_labels = labels();
    job_labels.insert(DETACHED_LABEL.to_owned(), "true".to_owned());
    let mut args = d.args.clone();
    args.push(format!("--namespace={namespace}"));
    args.push(format!("--detached-job={name}"));
    let exit_codes = |action: &str, values: &[i32]| PodFailurePolicyRule {
        action: action.to_owned(),
        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
            container_name: Some(CONTAINER.to_owned()),
            operator: "In".to_owned(),
            values: values.to_vec(),
        }),
        on_pod_conditions: None,
    };
    let toleration = |key: &str| Toleration {
        key: Some(key.to_owned()),
        operator: Some("Exists".to_owned()),
        effect: Some("NoExecute".to_owned()),
        toleration_seconds: Some(30),
        ..Toleration::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(job_labels),
            annotations: Some(BTreeMap::from([
                (RCS_ANNOTATION.to_owned(), rcs.join(",")),
                (COMMAND_ANNOTATION.to_owned(), d.command.clone()),
            ])),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            suspend: Some(true),
            backoff_limit: Some(backoff_limit(d.timeout)),
            active_deadline_seconds: Some(secs(d.deadline.unwrap_or(deadline(d.timeout)))),
            ttl_seconds_after_finished: Some(i32::try_from(d.ttl.as_secs()).unwrap_or(i32::MAX)),
            // With a failure policy, a new pod starts only once the last one is gone, so
            // two pods never drive the update at once.
            pod_replacement_policy: Some("Failed".to_owned()),
            pod_failure_policy: Some(PodFailurePolicy {
                rules: vec![
                    exit_codes("FailJob", &FAIL_JOB_EXIT_CODES),
                    exit_codes("Ignore", &INTERRUPTED_EXIT_CODES),
                    PodFailurePolicyRule {
                        action: "Ignore".to_owned(),
                        on_exit_codes: None,
                        on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                            type_: "DisruptionTarget".to_owned(),
                            status: "True".to_owned(),
                        }]),
                    },
                ],
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(name.to_owned()),
                    restart_policy: Some("Never".to_owned()),
                    termination_grace_period_seconds: Some(30),
                    // A pod on a lost node is evicted in 30 s instead of 5 min.
                    tolerations: Some(vec![
                        toleration("node.kubernetes.io/not-ready"),
                        toleration("node.kubernetes.io/unreachable"),
                    ]),
                    containers: vec![container(d, args)],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        status: None,
    }
}

fn container(d: &Detach, args: Vec<String>) -> Container {
    let quantity = |q: &str| Quantity(q.to_owned());
    Container {
        name: CONTAINER.to_owned(),
        image: Some(d.image.clone()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        command: Some(vec![d.program.clone()]),
        args: Some(args),
        termination_message_policy: Some("FallbackToLogsOnError".to_owned()),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), quantity("10m")),
                ("memory".to_owned(), quantity("32Mi")),
            ])),
            limits: Some(BTreeMap::from([("memory".to_owned(), quantity("256Mi"))])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }),
        ..Container::default()
    }
}

fn owned_by(kind: &str, api_version: &str, name: &str, uid: &str) -> Vec<OwnerReference> {
    vec![OwnerReference {
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        name: name.to_owned(),
        uid: uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: None,
    }]
}

fn meta(name: &str, namespace: &str, owners: Vec<OwnerReference>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels()),
        owner_references: Some(owners),
        ..ObjectMeta::default()
    }
}

/// The permissions of `needs` and [`IN_JOB`] as RBAC rules, one per API group and resource
/// with its verbs in order; and the right to delete this very Role (`resourceNames`).
pub fn rules(name: &str, needs: &[Need]) -> Vec<PolicyRule> {
    let mut by_resource: BTreeMap<(&str, String), Vec<&str>> = BTreeMap::new();
    for n in needs.iter().chain(IN_JOB) {
        let resource = if n.subresource.is_empty() {
            n.resource.to_owned()
        } else {
            format!("{}/{}", n.resource, n.subresource)
        };
        let verbs = by_resource.entry((n.group, resource)).or_default();
        if !verbs.contains(&n.verb) {
            verbs.push(n.verb);
        }
    }
    let mut rules: Vec<PolicyRule> = by_resource
        .into_iter()
        .map(|((group, resource), mut verbs)| {
            verbs.sort_unstable();
            PolicyRule {
                api_groups: Some(vec![group.to_owned()]),
                resources: Some(vec![resource]),
                verbs: verbs.into_iter().map(str::to_owned).collect(),
                ..PolicyRule::default()
            }
        })
        .collect();
    rules.push(PolicyRule {
        api_groups: Some(vec!["rbac.authorization.k8s.io".to_owned()]),
        resources: Some(vec!["roles".to_owned()]),
        resource_names: Some(vec![name.to_owned()]),
        verbs: vec!["delete".to_owned()],
        ..PolicyRule::default()
    });
    rules
}

/// The Role, owned by the Job (gone with it).
pub fn role(name: &str, namespace: &str, job_uid: &str, needs: &[Need]) -> Role {
    Role {
        metadata: meta(name, namespace, owned_by("Job", "batch/v1", name, job_uid)),
        rules: Some(rules(name, needs)),
    }
}

/// The ServiceAccount, owned by the Role: deleting the Role at the end takes it along.
pub fn service_account(name: &str, namespace: &str, role_uid: &str) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(
            name,
            namespace,
            owned_by("Role", "rbac.authorization.k8s.io/v1", name, role_uid),
        ),
        ..ServiceAccount::default()
    }
}

/// The RoleBinding of the Role to the ServiceAccount, owned by the Role.
pub fn role_binding(name: &str, namespace: &str, role_uid: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(
            name,
            namespace,
            owned_by("Role", "rbac.authorization.k8s.io/v1", name, role_uid),
        ),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: name.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: name.to_owned(),
            namespace: Some(namespace.to_owned()),
            api_group: None,
        }]),
    }
}

#[cfg(test)]
mod tests;
