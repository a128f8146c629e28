//! Behaviour of the generated objects: labels and selectors, pull policies and warnings,
//! hardening, and refusal of bad input.

mod common;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use kubia_manifests::{
    BlueGreenOptions, CanaryOptions, Color, DeploymentOptions, Error, Manifest, Object, Params,
    PullPolicy, Warning, Workload, blue_green, canary, checked_in_manifests, deployment, rc,
    replicaset, service, tutorial,
};

fn template(o: &Object) -> &PodTemplateSpec {
    match o {
        Object::ReplicationController(rc) => rc.spec.as_ref().unwrap().template.as_ref().unwrap(),
        Object::ReplicaSet(rs) => rs.spec.as_ref().unwrap().template.as_ref().unwrap(),
        Object::Deployment(d) => &d.spec.as_ref().unwrap().template,
        Object::Service(_) => panic!("a Service has no pod template"),
    }
}

fn pod_labels(o: &Object) -> BTreeMap<String, String> {
    template(o)
        .metadata
        .as_ref()
        .unwrap()
        .labels
        .clone()
        .unwrap()
}

fn pod_spec(o: &Object) -> &PodSpec {
    template(o).spec.as_ref().unwrap()
}

fn container(o: &Object) -> &Container {
    &pod_spec(o).containers[0]
}

/// The workload's selector; for an RC without one, the template labels (API defaulting).
fn selector(o: &Object) -> BTreeMap<String, String> {
    match o {
        Object::ReplicationController(rc) => rc
            .spec
            .as_ref()
            .unwrap()
            .selector
            .clone()
            .unwrap_or_else(|| pod_labels(o)),
        Object::ReplicaSet(rs) => rs
            .spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .clone()
            .unwrap(),
        Object::Deployment(d) => d
            .spec
            .as_ref()
            .unwrap()
            .selector
            .match_labels
            .clone()
            .unwrap(),
        Object::Service(s) => s.spec.as_ref().unwrap().selector.clone().unwrap(),
    }
}

fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn workloads(m: &Manifest) -> Vec<&Object> {
    m.objects
        .iter()
        .filter(|o| !matches!(o, Object::Service(_)))
        .collect()
}

fn the_service(m: &Manifest) -> &Object {
    m.objects
        .iter()
        .find(|o| matches!(o, Object::Service(_)))
        .unwrap()
}

#[test]
fn every_workload_selects_its_own_pods() {
    for m in common::all_manifests() {
        for w in workloads(&m) {
            assert!(
                matches(&selector(w), &pod_labels(w)),
                "{}: {:?}",
                m.file_name,
                w.name()
            );
        }
    }
}

#[test]
fn blue_green_service_selects_exactly_the_active_colour() {
    for active in [Color::Blue, Color::Green] {
        for workload in [
            Workload::ReplicationController,
            Workload::ReplicaSet,
            Workload::Deployment,
        ] {
            let o = BlueGreenOptions {
                active,
                workload,
                ..BlueGreenOptions::default()
            };
            let m = blue_green(&Params::default(), &o).unwrap();
            let svc = selector(the_service(&m));
            let ws = workloads(&m);
            assert_eq!(ws.len(), 2);
            for w in ws {
                let colour = pod_labels(w)["color"].clone();
                assert_eq!(matches(&svc, &pod_labels(w)), colour == active.as_str());
                // The sets must not claim each other's pods.
                assert!(!matches(
                    &selector(w),
                    &BTreeMap::from([("app".into(), "kubia".into())])
                ));
            }
        }
    }
}

#[test]
fn blue_runs_v1_and_green_runs_v2() {
    let m = blue_green(&Params::default(), &BlueGreenOptions::default()).unwrap();
    let images: Vec<_> = workloads(&m)
        .iter()
        .map(|w| container(w).image.clone().unwrap())
        .collect();
    assert_eq!(images, ["luksa/kubia:v1", "luksa/kubia:v2"]);
    let names: Vec<_> = m
        .objects
        .iter()
        .map(|o| o.name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["kubia-blue", "kubia-green", "kubia"]);
}

#[test]
fn canary_service_selects_both_tracks() {
    let p = Params {
        replicas: 9,
        ..Params::default()
    };
    let o = CanaryOptions {
        canary_replicas: 1,
        ..CanaryOptions::default()
    };
    let m = canary(&p, &o).unwrap();
    let svc = selector(the_service(&m));
    let ws = workloads(&m);
    assert_eq!(ws.len(), 2);
    let mut tracks = Vec::new();
    for w in &ws {
        let l = pod_labels(w);
        assert!(matches(&svc, &l));
        assert_eq!(l["app"], "kubia");
        tracks.push(l["track"].clone());
    }
    assert_eq!(tracks, ["stable", "canary"]);
    let replicas: Vec<_> = m
        .objects
        .iter()
        .filter_map(|o| match o {
            Object::ReplicationController(rc) => rc.spec.as_ref().unwrap().replicas,
            _ => None,
        })
        .collect();
    assert_eq!(replicas, [9, 1]);
    // Each track's selector excludes the other track's pods.
    assert!(!matches(&selector(ws[0]), &pod_labels(ws[1])));
    assert!(!matches(&selector(ws[1]), &pod_labels(ws[0])));
}

#[test]
fn pull_policy_defaults_follow_the_tag() {
    let policy = |tag: Option<&str>| {
        let m = rc(&Params {
            tag: tag.map(str::to_owned),
            ..Params::default()
        })
        .unwrap();
        assert!(m.warnings.is_empty());
        container(&m.objects[0]).image_pull_policy.clone().unwrap()
    };
    assert_eq!(policy(Some("v2")), "IfNotPresent");
    assert_eq!(policy(Some("latest")), "Always");
    assert_eq!(policy(None), "Always");
}

#[test]
fn explicit_pull_policy_wins_and_mutable_if_not_present_warns() {
    let p = Params {
        tag: Some("latest".into()),
        image_pull_policy: Some(PullPolicy::IfNotPresent),
        ..Params::default()
    };
    for m in [
        tutorial(&p).unwrap(),
        rc(&p).unwrap(),
        replicaset(&p).unwrap(),
        deployment(&p, &DeploymentOptions::default()).unwrap(),
    ] {
        assert_eq!(
            container(&m.objects[0]).image_pull_policy.as_deref(),
            Some("IfNotPresent")
        );
        assert!(matches!(
            m.warnings.as_slice(),
            [Warning::MutableTagWithIfNotPresent { image, .. }] if image == "luksa/kubia:latest"
        ));
        assert_eq!(
            m.warnings[0].to_string(),
            "image luksa/kubia:latest has a mutable tag but imagePullPolicy is IfNotPresent: nodes that already have it will not pull a newer push (use Always, or a new tag per build)"
        );
        assert!(!m.warnings[0].to_string().contains('\n'));
    }
    let never = Params {
        image_pull_policy: Some(PullPolicy::Never),
        ..Params::default()
    };
    let m = rc(&never).unwrap();
    assert_eq!(
        container(&m.objects[0]).image_pull_policy.as_deref(),
        Some("Never")
    );
    assert!(m.warnings.is_empty());
}

#[test]
fn only_the_verbatim_tutorial_omits_the_pull_policy() {
    for m in checked_in_manifests().unwrap() {
        assert!(m.warnings.is_empty(), "{}", m.file_name);
        for w in workloads(&m) {
            let policy = container(w).image_pull_policy.as_deref();
            if m.file_name == "kubia-v1.yaml" {
                assert_eq!(policy, None);
            } else {
                assert_eq!(policy, Some("IfNotPresent"), "{}", m.file_name);
            }
        }
    }
}

/// The checks of the `restricted` Pod Security Standard that apply to these pods.
fn assert_restricted(spec: &PodSpec, what: &str) {
    let pod = spec.security_context.as_ref().expect("pod securityContext");
    for c in &spec.containers {
        let sc = c
            .security_context
            .as_ref()
            .expect("container securityContext");
        assert_eq!(sc.allow_privilege_escalation, Some(false), "{what}");
        assert_ne!(sc.privileged, Some(true), "{what}");
        let caps = sc.capabilities.as_ref().unwrap();
        assert_eq!(
            caps.drop.as_deref(),
            Some(&["ALL".to_owned()][..]),
            "{what}"
        );
        assert!(
            caps.add
                .as_ref()
                .is_none_or(|a| a.iter().all(|c| c == "NET_BIND_SERVICE"))
        );
        let non_root = sc.run_as_non_root.or(pod.run_as_non_root);
        assert_eq!(non_root, Some(true), "{what}");
        let uid = sc.run_as_user.or(pod.run_as_user);
        assert_ne!(uid, Some(0), "{what}");
        let seccomp = sc.seccomp_profile.as_ref().or(pod.seccomp_profile.as_ref());
        assert!(
            matches!(
                seccomp.map(|s| s.type_.as_str()),
                Some("RuntimeDefault" | "Localhost")
            ),
            "{what}"
        );
        assert_eq!(sc.read_only_root_filesystem, Some(true), "{what}");
    }
    assert!(spec.volumes.is_none() && spec.host_network.is_none() && spec.host_pid.is_none());
}

#[test]
fn hardened_pods_are_production_grade() {
    let hardened: Vec<_> = common::all_manifests()
        .into_iter()
        .filter(|m| m.file_name.starts_with("hardened/"))
        .collect();
    assert!(hardened.len() >= 8);
    for m in hardened {
        for w in workloads(&m) {
            let spec = pod_spec(w);
            assert_restricted(spec, &m.file_name);
            let c = container(w);
            let res = c.resources.as_ref().unwrap();
            assert_eq!(res.requests.as_ref().unwrap()["cpu"].0, "10m");
            assert_eq!(res.requests.as_ref().unwrap()["memory"].0, "16Mi");
            assert_eq!(res.limits.as_ref().unwrap()["cpu"].0, "200m");
            assert_eq!(res.limits.as_ref().unwrap()["memory"].0, "64Mi");
            let live = c
                .liveness_probe
                .as_ref()
                .unwrap()
                .http_get
                .as_ref()
                .unwrap();
            assert_eq!(live.path.as_deref(), Some("/healthz"));
            assert!(c.readiness_probe.is_some());
            let env = c.env.as_ref().unwrap();
            let delay = env
                .iter()
                .find(|e| e.name == "KUBIA_SHUTDOWN_DELAY")
                .unwrap();
            assert_eq!(delay.value.as_deref(), Some("15s"));
            // Comfortably more than the 5 s delay plus the server's 10 s drain timeout.
            assert!(spec.termination_grace_period_seconds.unwrap() >= 5 + 10 + 10);
            assert!(c.image_pull_policy.is_some());
        }
    }
}

#[test]
fn hardened_readiness_defaults_to_healthz_but_an_explicit_probe_is_kept() {
    let m = deployment(
        &Params {
            hardened: true,
            ..Params::default()
        },
        &DeploymentOptions::default(),
    )
    .unwrap();
    let ready = container(&m.objects[0]).readiness_probe.clone().unwrap();
    assert_eq!(ready.http_get.unwrap().path.as_deref(), Some("/healthz"));
    let v3 = checked_in_manifests()
        .unwrap()
        .into_iter()
        .find(|m| m.file_name == "hardened/kubia-deployment-v3-with-readinesscheck.yaml")
        .unwrap();
    let ready = container(&v3.objects[0]).readiness_probe.clone().unwrap();
    assert_eq!(ready.http_get.unwrap().path.as_deref(), Some("/"));
    assert_eq!(ready.period_seconds, Some(1));
}

#[test]
fn book_v3_deployment_matches_the_book() {
    let m = checked_in_manifests()
        .unwrap()
        .into_iter()
        .find(|m| m.file_name == "kubia-deployment-v3-with-readinesscheck.yaml")
        .unwrap();
    let Object::Deployment(d) = &m.objects[0] else {
        panic!("not a Deployment")
    };
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.min_ready_seconds, Some(10));
    let strategy = spec.strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    let ru = strategy.rolling_update.as_ref().unwrap();
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    assert_eq!(ru.max_surge, Some(IntOrString::Int(1)));
    assert_eq!(ru.max_unavailable, Some(IntOrString::Int(0)));
    let c = container(&m.objects[0]);
    assert_eq!(c.image.as_deref(), Some("luksa/kubia:v3"));
    let probe = c.readiness_probe.as_ref().unwrap();
    assert_eq!(probe.period_seconds, Some(1));
    let get = probe.http_get.as_ref().unwrap();
    assert_eq!(get.path.as_deref(), Some("/"));
    assert_eq!(get.port, IntOrString::Int(8080));
}

fn refused(r: Result<Manifest, Error>) -> String {
    let msg = r.expect_err("accepted").to_string();
    assert!(!msg.contains('\n'), "multi-line: {msg}");
    msg
}

#[test]
fn bad_input_is_refused_with_one_line() {
    let d = DeploymentOptions::default();
    let with = |f: fn(&mut Params)| {
        let mut p = Params::default();
        f(&mut p);
        p
    };
    let cases = [
        (with(|p| p.replicas = -1), "replicas"),
        (with(|p| p.node_port = 30001 - 2), "node port"),
        (with(|p| p.node_port = 32768), "node port"),
        (with(|p| p.name = "Kubia".into()), "name"),
        (with(|p| p.name = "1kubia".into()), "name"),
        (with(|p| p.name = "kubia\nx".into()), "name"),
        (with(|p| p.name = "a".repeat(64)), "name"),
        (with(|p| p.namespace = Some("my_ns".into())), "namespace"),
        (
            with(|p| p.image_repo = "luksa/Kubia".into()),
            "image repository",
        ),
        (
            with(|p| p.image_repo = "luksa/kubia:v1".into()),
            "image repository",
        ),
        (with(|p| p.tag = Some("-v1".into())), "image tag"),
        (with(|p| p.tag = Some("v1_".into())), "version label"),
        (with(|p| p.tag = Some("1.0".into())), "object name"),
    ];
    for (p, needle) in cases {
        let msg = refused(tutorial(&p));
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        refused(rc(&p));
        // A Deployment's name does not contain the version, so a dotted tag is fine there.
        if needle == "object name" {
            assert!(deployment(&p, &d).is_ok());
        } else {
            refused(deployment(&p, &d));
        }
    }
    let p = Params::default();
    let msg = refused(canary(
        &p,
        &CanaryOptions {
            canary_replicas: -1,
            ..CanaryOptions::default()
        },
    ));
    assert!(msg.contains("canary replicas"));
    let msg = refused(blue_green(
        &p,
        &BlueGreenOptions {
            green_tag: Some("v2!".into()),
            ..BlueGreenOptions::default()
        },
    ));
    assert!(msg.contains("image tag"));
    let msg = refused(service(&p, &[("Bad Key".into(), "x".into())]));
    assert!(msg.contains("selector key"));
    let msg = refused(deployment(
        &p,
        &DeploymentOptions {
            min_ready_seconds: Some(-1),
            ..DeploymentOptions::default()
        },
    ));
    assert!(msg.contains("min ready seconds"));
}

#[test]
fn enumerations_parse_with_one_line_errors() {
    use kubia_manifests::{ReadinessProbe, StrategyType, parse_max_surge, parse_max_unavailable};
    assert!("bogus".parse::<StrategyType>().is_err());
    assert!("bogus".parse::<PullPolicy>().is_err());
    assert!("bogus".parse::<ReadinessProbe>().is_err());
    assert!("bogus".parse::<Workload>().is_err());
    assert!("red".parse::<Color>().is_err());
    assert!(parse_max_surge("abc%").is_err());
    assert!(parse_max_unavailable("101%").is_err());
    let e = "Rolling".parse::<StrategyType>().unwrap_err().to_string();
    assert_eq!(
        e,
        "invalid strategy \"Rolling\": must be one of RollingUpdate or Recreate"
    );
}
