//! The Job, Role and RoleBinding a detached update creates, checked field by field.

use super::*;
use crate::access::{ANALYSIS, ROLLING};

fn detach() -> Detach {
    Detach {
        image: "kubia-lab/kubia-rollout:0.1.0".into(),
        program: "/kubectl-rolling_update".into(),
        args: vec![
            "kubia-v1".into(),
            "kubia-v2".into(),
            "--image=luksa/kubia:v2".into(),
        ],
        command: "kubectl rolling-update kubia-v1 kubia-v2 --image=luksa/kubia:v2 --detach".into(),
        ttl: Duration::from_secs(600),
        timeout: Duration::from_secs(300),
        deadline: None,
    }
}

#[test]
fn limits_follow_the_timeout() {
    // 10+20+40+80 = 150 <= 300 < 310: four crashed pods replaced within kubectl's 5m.
    assert_eq!(backoff_limit(Duration::from_secs(300)), 4);
    assert_eq!(backoff_limit(Duration::from_secs(30)), 2);
    assert_eq!(backoff_limit(Duration::from_secs(5)), 1);
    // 10+20+40+80+160+320 = 630, then 6 min each: 630 + 8 x 360 <= 3600.
    assert_eq!(backoff_limit(Duration::from_secs(3600)), 14);
    assert_eq!(
        deadline(Duration::from_secs(300)),
        Duration::from_secs(3600)
    );
    assert_eq!(deadline(Duration::from_secs(10)), Duration::from_secs(600));
}

#[test]
fn job_names_fit_a_label_value() {
    assert_eq!(
        job_name("kubia-v1", "b2c4d"),
        "kubia-rollout-kubia-v1-b2c4d"
    );
    let long = "a".repeat(253);
    let name = job_name(&long, "b2c4d");
    assert_eq!(name.len(), 63);
    assert!(name.ends_with("-b2c4d"));
    // A dotted RC name (valid for RCs, not for labels' leading parts) loses its dots.
    assert_eq!(job_name("web.v1", "xxxxx"), "kubia-rollout-web-v1-xxxxx");
}

#[test]
fn the_job_runs_the_same_command_as_its_own_account() {
    let rcs = vec!["kubia-v1".to_owned()];
    let job = job("kubia-rollout-kubia-v1-b2c4d", "demo", &rcs, &detach());
    let spec = job.spec.as_ref().expect("spec");
    assert_eq!(spec.suspend, Some(true));
    assert_eq!(spec.backoff_limit, Some(4));
    assert_eq!(spec.active_deadline_seconds, Some(3600));
    assert_eq!(spec.ttl_seconds_after_finished, Some(600));
    assert_eq!(spec.pod_replacement_policy.as_deref(), Some("Failed"));
    let rules = &spec.pod_failure_policy.as_ref().expect("policy").rules;
    assert_eq!(rules[0].action, "FailJob");
    assert_eq!(
        rules[0].on_exit_codes.as_ref().map(|e| e.values.clone()),
        Some(vec![1, 2])
    );
    assert_eq!(rules[1].action, "Ignore");
    let pod = spec.template.spec.as_ref().expect("pod spec");
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("kubia-rollout-kubia-v1-b2c4d")
    );
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    let c = &pod.containers[0];
    assert_eq!(
        c.command.as_deref(),
        Some(&["/kubectl-rolling_update".to_owned()][..])
    );
    assert_eq!(
        c.args.as_deref().map(|a| a.join(" ")).as_deref(),
        Some(
            "kubia-v1 kubia-v2 --image=luksa/kubia:v2 --namespace=demo --detached-job=kubia-rollout-kubia-v1-b2c4d"
        )
    );
    let sc = c.security_context.as_ref().expect("security context");
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    let annotations = job.metadata.annotations.as_ref().expect("annotations");
    assert_eq!(annotations[RCS_ANNOTATION], "kubia-v1");
    // The pods are not the demo's: the Service (app=kubia) never selects them.
    let labels = spec
        .template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone());
    assert!(labels.is_some_and(|l| !l.contains_key("app")));
}

/// A rule as `verbs group/resource [names]`, for comparison.
fn show(rules: &[PolicyRule]) -> Vec<String> {
    rules
        .iter()
        .map(|r| {
            format!(
                "{} {}/{}{}",
                r.verbs.join(","),
                r.api_groups.as_deref().unwrap_or_default().join(","),
                r.resources.as_deref().unwrap_or_default().join(","),
                r.resource_names
                    .as_ref()
                    .map(|n| format!(" [{}]", n.join(",")))
                    .unwrap_or_default()
            )
        })
        .collect()
}

#[test]
fn the_role_grants_what_the_method_declared_and_nothing_else() {
    assert_eq!(
        show(&rules("job-x", ROLLING)),
        [
            "create /events",
            "list,patch,watch /pods",
            "create,delete,get,list,update,watch /replicationcontrollers",
            "create,delete,get,update coordination.k8s.io/leases",
            "delete rbac.authorization.k8s.io/roles [job-x]",
        ]
    );
    // A subresource stays one: `pods/proxy`, not `pods`.
    let with_analysis = [ROLLING, ANALYSIS].concat();
    assert!(show(&rules("job-x", &with_analysis)).contains(&"get /pods/proxy".to_owned()));
}

#[test]
fn ownership_chains_to_the_job() {
    let role = role("j", "demo", "job-uid", ROLLING);
    let owner = &role.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("Job", "job-uid")
    );
    let account = service_account("j", "demo", "role-uid");
    let binding = role_binding("j", "demo", "role-uid");
    for owners in [
        account.metadata.owner_references,
        binding.metadata.owner_references.clone(),
    ] {
        let owner = &owners.expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Role", "role-uid")
        );
    }
    assert_eq!(binding.role_ref.name, "j");
    assert_eq!(binding.subjects.expect("subjects")[0].name, "j");
}
