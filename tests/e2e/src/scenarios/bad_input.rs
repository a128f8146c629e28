//! Every input the engine must refuse: a non-zero exit, an `error:` line, and not a single
//! object changed (every resourceVersion in the namespace is the same afterwards).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Result, ensure};
use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use kube::api::ListParams;

use super::steps::setup_v1;
use crate::objects::{Mode, create_all};
use crate::{Env, Namespace, Outcome, process};

pub async fn run(env: &Env, o: &mut Outcome) -> Result<()> {
    let ns = setup_v1(env, "e2e-bad-input", 3).await?;
    // Extra objects for the cases: a Service that selects nothing of kubia's, and an RC
    // with two containers (0 replicas: it needs no pods to be refused).
    create_all(
        &ns,
        r#"apiVersion: v1
kind: Service
metadata: {name: other}
spec:
  selector: {app: other}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ReplicationController
metadata: {name: kubia-two}
spec:
  replicas: 0
  selector: {app: two}
  template:
    metadata: {labels: {app: two}}
    spec:
      containers:
      - {name: a, image: "luksa/kubia:v1", imagePullPolicy: IfNotPresent}
      - {name: b, image: "luksa/kubia:v1", imagePullPolicy: IfNotPresent}
"#,
        Mode::Create,
    )
    .await?;
    // A ServiceAccount whose Role lacks `patch` on pods (the relabelling step needs it).
    create_all(
        &ns,
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: limited}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: limited}
rules:
- {apiGroups: [""], resources: [replicationcontrollers], verbs: [get, list, watch, create, update, patch, delete]}
- {apiGroups: [""], resources: [pods], verbs: [get, list, watch, delete]}
- {apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, create, update, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: limited}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: limited}
subjects:
- {kind: ServiceAccount, name: limited}
"#,
        Mode::Create,
    )
    .await?;
    let token = process::run(
        ns.kubectl(env, &["create", "token", "limited", "--duration=1h"]),
        Duration::from_secs(30),
    )
    .await?
    .ok("kubectl create token")?
    .stdout
    .trim()
    .to_owned();
    let token_arg = format!("--token={token}");
    // An RC owned by another object (a ConfigMap standing in for an operator's resource).
    let owner: k8s_openapi::api::core::v1::ConfigMap = ns
        .api()
        .create(
            &Default::default(),
            &serde_json::from_value(serde_json::json!({"metadata": {"name": "owner"}}))?,
        )
        .await?;
    let owned: k8s_openapi::api::core::v1::ReplicationController =
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kubia-owned", "ownerReferences": [{
                "apiVersion": "v1", "kind": "ConfigMap", "name": "owner",
                "uid": owner.metadata.uid.unwrap_or_default()
            }]},
            "spec": {"replicas": 0, "selector": {"app": "owned"}, "template": {
                "metadata": {"labels": {"app": "owned"}},
                "spec": {"containers": [{"name": "nodejs", "image": env.image("v1")}]}
            }}
        }))?;
    ns.api::<k8s_openapi::api::core::v1::ReplicationController>()
        .create(&Default::default(), &owned)
        .await?;
    let same_name = env.settings.report_dir.join("bad-input-same-name.yaml");
    std::fs::write(
        &same_name,
        "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: kubia-v1}\nspec:\n  replicas: 3\n  selector: {app: kubia}\n  template:\n    metadata: {labels: {app: kubia}}\n    spec:\n      containers: [{name: nodejs, image: \"luksa/kubia:v2\"}]\n",
    )?;
    // A file with a misspelled field (kept by --validate, dropped by typed decoding), one in
    // another namespace, and one whose selector does not differ from kubia-v1's.
    let typo = env.settings.report_dir.join("bad-input-typo.yaml");
    std::fs::write(
        &typo,
        format!(
            "apiVersion: v1\nkind: ReplicationController\nmetadata: {{name: kubia-v2}}\nspec:\n  replicas: 3\n  selector: {{app: kubia, version: v2}}\n  template:\n    metadata: {{labels: {{app: kubia, version: v2}}}}\n    spec:\n      containers: [{{name: nodejs, image: \"{}\", imagePullPolicey: Always}}]\n",
            env.image("v2")
        ),
    )?;
    let elsewhere = env.settings.report_dir.join("bad-input-namespace.yaml");
    std::fs::write(
        &elsewhere,
        format!(
            "apiVersion: v1\nkind: ReplicationController\nmetadata: {{name: kubia-v2, namespace: elsewhere}}\nspec:\n  replicas: 3\n  selector: {{app: kubia, version: v2}}\n  template:\n    metadata: {{labels: {{app: kubia, version: v2}}}}\n    spec:\n      containers: [{{name: nodejs, image: \"{}\"}}]\n",
            env.image("v2")
        ),
    )?;
    let same_selector = env.settings.report_dir.join("bad-input-same-selector.yaml");
    std::fs::write(
        &same_selector,
        format!(
            "apiVersion: v1\nkind: ReplicationController\nmetadata: {{name: kubia-v2}}\nspec:\n  replicas: 3\n  selector: {{app: kubia}}\n  template:\n    metadata: {{labels: {{app: kubia}}}}\n    spec:\n      containers: [{{name: nodejs, image: \"{}\"}}]\n",
            env.image("v2")
        ),
    )?;
    // The scenario's kubeconfig, with its cluster's server moved to a closed port.
    let unreachable = env.settings.report_dir.join("kubeconfig-unreachable");
    std::fs::copy(&ns.kubeconfig, &unreachable)?;
    let kc = kube::config::Kubeconfig::read_from(&unreachable)?;
    let context = kc.current_context.clone().unwrap_or_default();
    let cluster = kc
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .unwrap_or_default();
    let set = process::run(
        process::command(
            &env.settings.kubectl,
            &[
                "config",
                "set-cluster",
                &cluster,
                "--server=https://127.0.0.1:1",
            ],
            &env.settings.bin_dir,
            &unreachable,
        ),
        Duration::from_secs(30),
    )
    .await?;
    anyhow::ensure!(set.success(), "kubectl config set-cluster: {}", set.stderr);
    // Controllers update fresh objects' status for a moment; start from a quiet state.
    let before = settled_versions(&ns).await?;

    let plugin = |args: &[&str]| {
        let mut a = vec!["rolling-update"];
        a.extend_from_slice(args);
        (
            env.settings.kubectl.clone(),
            a.into_iter().map(String::from).collect::<Vec<_>>(),
        )
    };
    let rollout = |args: &[&str]| {
        (
            env.settings.bin_dir.join("kubia-rollout"),
            args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    let cases: Vec<Case> = vec![
        (
            "missing RC",
            plugin(&["kubia-nope", "kubia-v2", &env.image_arg("v2")]),
            None,
        ),
        (
            "no image change",
            plugin(&["kubia-v1", "kubia-v2", &env.image_arg("v1")]),
            None,
        ),
        (
            "invalid image",
            plugin(&["kubia-v1", "kubia-v2", "--image=Luksa/Kubia:v2!"]),
            None,
        ),
        (
            "several containers without --container",
            plugin(&["kubia-two", "kubia-two-v2", &env.image_arg("v2")]),
            None,
        ),
        (
            "--container naming no container",
            plugin(&[
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--container=nope",
            ]),
            None,
        ),
        (
            "new name equal to the old one",
            plugin(&["kubia-v1", "kubia-v1", &env.image_arg("v2")]),
            None,
        ),
        (
            "--image together with -f",
            plugin(&[
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "-f",
                &same_name.display().to_string(),
            ]),
            None,
        ),
        (
            "empty --deployment-label-key",
            plugin(&[
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--deployment-label-key=",
            ]),
            None,
        ),
        (
            "an RC name that is a subresource path",
            plugin(&["kubia-v1/status", "kubia-v2", &env.image_arg("v2")]),
            None,
        ),
        (
            "an RC name that climbs out of the namespace",
            rollout(&[
                "canary",
                "kubia-v1",
                "../../../apis/apps/v1/namespaces/e2e-bad-input/deployments/x",
                &env.image_arg("v2"),
                "--steps=1",
            ]),
            None,
        ),
        (
            "an RC name the API server refuses",
            plugin(&["kubia-v1", "Kubia_V2", &env.image_arg("v2")]),
            None,
        ),
        (
            "an empty namespace",
            plugin(&["kubia-v1", "kubia-v2", &env.image_arg("v2"), "-n", ""]),
            None,
        ),
        (
            "a label key the API server refuses",
            plugin(&[
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--deployment-label-key=Bad.Prefix/track",
            ]),
            None,
        ),
        (
            "bad --max-surge",
            plugin(&[
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--max-surge=-1",
            ]),
            None,
        ),
        (
            "Service selector that does not match the RC",
            rollout(&[
                "blue-green",
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--service=other",
            ]),
            None,
        ),
        (
            "canary step larger than the RC",
            rollout(&[
                "canary",
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--steps=9",
            ]),
            None,
        ),
        (
            "unreachable cluster",
            plugin(&["kubia-v1", "kubia-v2", &env.image_arg("v2")]),
            Some(unreachable.as_path()),
        ),
        (
            "misspelled field in -f (server-side --validate)",
            plugin(&["kubia-v1", "-f", &typo.display().to_string()]),
            None,
        ),
        (
            "-f file in another namespace",
            plugin(&["kubia-v1", "-f", &elsewhere.display().to_string()]),
            None,
        ),
        (
            "-f file whose selector does not differ",
            plugin(&["kubia-v1", "-f", &same_selector.display().to_string()]),
            None,
        ),
        (
            "--rollback with --image",
            plugin(&["kubia-v1", "kubia-v2", "--rollback", &env.image_arg("v2")]),
            None,
        ),
        (
            "duration without a unit",
            plugin(&[
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--update-period=30",
            ]),
            None,
        ),
        (
            "unknown flag",
            plugin(&["kubia-v1", "kubia-v2", &env.image_arg("v2"), "--bogus"]),
            None,
        ),
        (
            "a ServiceAccount without patch on pods",
            plugin(&["kubia-v1", "kubia-v2", &env.image_arg("v2"), &token_arg]),
            None,
        ),
        (
            "zero --poll-interval",
            plugin(&[
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--poll-interval=0s",
            ]),
            None,
        ),
        (
            "RC owned by another controller",
            plugin(&["kubia-owned", "kubia-owned-v2", &env.image_arg("v2")]),
            None,
        ),
        (
            "another engine holds the RC's Lease",
            plugin(&["kubia-v1", "kubia-v3", &env.image_arg("v3")]),
            None,
        ),
        (
            "--as a user without rights",
            plugin(&[
                "kubia-v1",
                "kubia-v2",
                &env.image_arg("v2"),
                "--as=e2e-nobody",
                "--as-group=e2e-nobodies",
            ]),
            None,
        ),
    ];
    // What each refusal must name: the cause, in our plugin's words (a missing plugin, or
    // kubectl refusing for another reason, fails here).
    let causes: BTreeMap<&str, &str> = [
        ("missing RC", "\"kubia-nope\" not found"),
        ("no image change", "--image-pull-policy"),
        ("invalid image", "invalid image reference"),
        ("several containers without --container", "use --container"),
        (
            "--container naming no container",
            "container \"nope\" not found",
        ),
        ("new name equal to the old one", "cannot have the same name"),
        (
            "--image together with -f",
            "--filename and --image can not both be specified",
        ),
        (
            "empty --deployment-label-key",
            "--deployment-label-key can not be empty",
        ),
        (
            "an RC name that is a subresource path",
            "invalid resource name \"kubia-v1/status\": [may not contain '/']",
        ),
        (
            "an RC name that climbs out of the namespace",
            "[may not contain '/']",
        ),
        (
            "an RC name the API server refuses",
            "replicationcontroller \"Kubia_V2\" is invalid: metadata.name: Invalid value",
        ),
        ("an empty namespace", "a namespace must not be empty"),
        (
            "a label key the API server refuses",
            "\"Bad.Prefix/track\" is not a valid label key: prefix part a lowercase RFC 1123",
        ),
        ("bad --max-surge", "--max-surge"),
        (
            "Service selector that does not match the RC",
            "does not select the pods of kubia-v1",
        ),
        ("canary step larger than the RC", "more than the total of 3"),
        (
            "unreachable cluster",
            "cannot reach the Kubernetes API server",
        ),
        (
            "misspelled field in -f (server-side --validate)",
            "unknown field \"spec.template.spec.containers[0].imagePullPolicey\"",
        ),
        (
            "-f file in another namespace",
            "does not match the namespace",
        ),
        (
            "-f file whose selector does not differ",
            "must specify a matching key with non-equal value in Selector for kubia-v1",
        ),
        (
            "--rollback with --image",
            "Don't specify --filename or --image on rollback",
        ),
        ("duration without a unit", "missing unit in duration"),
        ("unknown flag", "unknown flag: --bogus"),
        ("--as a user without rights", "User \"e2e-nobody\" cannot"),
        ("zero --poll-interval", "\"0s\" must be greater than 0"),
        (
            "a ServiceAccount without patch on pods",
            "missing permissions in namespace e2e-bad-input: patch pods; nothing was changed",
        ),
        (
            "RC owned by another controller",
            "is owned by ConfigMap/owner, which may undo this update; pass --force",
        ),
        (
            "another engine holds the RC's Lease",
            "replicationcontroller kubia-v1 is being updated by another engine: held by laptop.example/4242 (Lease rolling-update.kubia-v1",
        ),
    ]
    .into_iter()
    .collect();
    let mut failures = Vec::new();
    for (what, (program, args), kubeconfig) in cases {
        if what == "another engine holds the RC's Lease" {
            hold_lease(&ns, "laptop.example/4242").await?;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let cmd = process::command(
            &program,
            &args,
            &env.settings.bin_dir,
            kubeconfig.unwrap_or(&ns.kubeconfig),
        );
        let out = process::run(cmd, Duration::from_secs(120)).await?;
        let first = out.stderr.lines().next().unwrap_or_default().to_owned();
        let lines = out.stderr.trim().lines().count();
        let cause = causes
            .get(what)
            .copied()
            .unwrap_or("(no expected cause listed)");
        if out.success()
            || !(first.starts_with("error: ") || first.starts_with("Error from server ("))
            || !first.contains(cause)
            || !out.stdout.trim().is_empty()
        {
            failures.push(format!(
                "{what}: {}, stdout {:?}, stderr {:?} (expected an error naming {cause:?})",
                out.exit(),
                out.stdout,
                out.stderr
            ));
        } else {
            o.note(format!("{what}: {}, {lines} line(s): {first}", out.exit()));
        }
    }
    let after = versions(&ns).await?;
    ensure!(
        failures.is_empty(),
        "not refused cleanly:\n{}",
        failures.join("\n")
    );
    ensure!(
        before == after,
        "objects changed although every command was refused:\nbefore {before:?}\nafter {after:?}"
    );
    o.note(format!(
        "all {} objects (RCs, Services, pods) kept their resourceVersion",
        before.len()
    ));
    ns.delete().await
}

/// A Lease on kubia-v1 as another engine (on another host) holds it, renewed now.
async fn hold_lease(ns: &Namespace, holder: &str) -> Result<()> {
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
    let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
    let lease = Lease {
        metadata: kube::api::ObjectMeta {
            name: Some("rolling-update.kubia-v1".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(3600),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..Default::default()
        }),
    };
    ns.api::<Lease>()
        .create(&kube::api::PostParams::default(), &lease)
        .await?;
    Ok(())
}

/// [`versions`] once two reads a second apart agree.
async fn settled_versions(ns: &Namespace) -> Result<BTreeMap<String, String>> {
    let mut last = versions(ns).await?;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = versions(ns).await?;
        if now == last {
            return Ok(now);
        }
        last = now;
    }
    anyhow::bail!("the namespace's objects kept changing for 30s before the test")
}

/// A refused command: what it tests, program and arguments, and an optional kubeconfig.
type Case<'a> = (
    &'a str,
    (std::path::PathBuf, Vec<String>),
    Option<&'a std::path::Path>,
);

/// kind/name → resourceVersion of every RC, Service and pod in the namespace.
async fn versions(ns: &Namespace) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    let lp = ListParams::default();
    for o in ns.api::<ReplicationController>().list(&lp).await?.items {
        m.insert(
            format!("rc/{}", o.metadata.name.unwrap_or_default()),
            o.metadata.resource_version.unwrap_or_default(),
        );
    }
    for o in ns.api::<Service>().list(&lp).await?.items {
        m.insert(
            format!("svc/{}", o.metadata.name.unwrap_or_default()),
            o.metadata.resource_version.unwrap_or_default(),
        );
    }
    for o in ns.api::<Pod>().list(&lp).await?.items {
        m.insert(
            format!("pod/{}", o.metadata.name.unwrap_or_default()),
            o.metadata.resource_version.unwrap_or_default(),
        );
    }
    Ok(m)
}
