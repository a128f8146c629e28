//! Shared fixtures: one manifest of every kind and variant the generator offers.

#![allow(dead_code)]

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kubia_manifests::{
    BlueGreenOptions, CanaryOptions, Color, DeploymentOptions, Manifest, Params, PullPolicy,
    ReadinessProbe, StrategyType, Workload, blue_green, canary, checked_in_manifests, deployment,
    rc, replicaset, service, tutorial,
};

/// A name for the snapshot and the manifest.
pub fn named_manifests() -> Vec<(&'static str, Manifest)> {
    let p = Params::default();
    let hard = Params {
        hardened: true,
        ..Params::default()
    };
    let v2 = Params {
        tag: Some("v2".into()),
        ..Params::default()
    };
    let dep = DeploymentOptions::default();
    let mut out = vec![
        ("tutorial", tutorial(&p).unwrap()),
        ("tutorial_hardened", tutorial(&hard).unwrap()),
        (
            "tutorial_custom",
            tutorial(&Params {
                name: "shop".into(),
                namespace: Some("demo".into()),
                image_repo: "localhost:5000/shop".into(),
                tag: Some("v7".into()),
                replicas: 5,
                node_port: 31000,
                ..Params::default()
            })
            .unwrap(),
        ),
        (
            "tutorial_latest_always",
            tutorial(&Params {
                tag: None,
                image_pull_policy: Some(PullPolicy::Always),
                ..Params::default()
            })
            .unwrap(),
        ),
        ("rc_v2", rc(&v2).unwrap()),
        (
            "rc_v2_hardened",
            rc(&Params {
                hardened: true,
                ..v2.clone()
            })
            .unwrap(),
        ),
        (
            "rc_latest",
            rc(&Params {
                tag: None,
                ..Params::default()
            })
            .unwrap(),
        ),
        ("replicaset_v1", replicaset(&p).unwrap()),
        (
            "replicaset_v1_hardened_namespaced",
            replicaset(&Params {
                namespace: Some("demo".into()),
                ..hard.clone()
            })
            .unwrap(),
        ),
        ("deployment_v1", deployment(&p, &dep).unwrap()),
        (
            "deployment_v4_recreate",
            deployment(
                &Params {
                    tag: Some("v4".into()),
                    ..Params::default()
                },
                &DeploymentOptions {
                    strategy: Some(StrategyType::Recreate),
                    revision_history_limit: Some(5),
                    progress_deadline_seconds: Some(120),
                    ..DeploymentOptions::default()
                },
            )
            .unwrap(),
        ),
        (
            "deployment_v2_percentages_healthz",
            deployment(
                &Params {
                    readiness_probe: Some(ReadinessProbe::Healthz),
                    ..v2.clone()
                },
                &DeploymentOptions {
                    max_surge: Some(IntOrString::String("25%".into())),
                    max_unavailable: Some(IntOrString::String("0%".into())),
                    min_ready_seconds: Some(5),
                    ..DeploymentOptions::default()
                },
            )
            .unwrap(),
        ),
        ("service", service(&p, &[]).unwrap()),
        (
            "service_green",
            service(&p, &[("color".into(), "green".into())]).unwrap(),
        ),
        (
            "blue_green_deployments_green_active",
            blue_green(
                &p,
                &BlueGreenOptions {
                    active: Color::Green,
                    workload: Workload::Deployment,
                    ..BlueGreenOptions::default()
                },
            )
            .unwrap(),
        ),
        (
            "canary_replicasets",
            canary(
                &Params {
                    replicas: 4,
                    ..Params::default()
                },
                &CanaryOptions {
                    canary_replicas: 2,
                    workload: Workload::ReplicaSet,
                    ..CanaryOptions::default()
                },
            )
            .unwrap(),
        ),
    ];
    out.extend(
        checked_in_manifests()
            .unwrap()
            .into_iter()
            .map(|m| (checked_in_snapshot_name(&m.file_name), m)),
    );
    out
}

/// `checked_in__hardened__kubia-v1.yaml`-like names, leaked to get `'static` for insta.
fn checked_in_snapshot_name(file: &str) -> &'static str {
    let name = format!(
        "checked_in__{}",
        file.replace('/', "__").trim_end_matches(".yaml")
    );
    Box::leak(name.into_boxed_str())
}

pub fn all_manifests() -> Vec<Manifest> {
    named_manifests().into_iter().map(|(_, m)| m).collect()
}
