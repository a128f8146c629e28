//! Runs the built `kubia-manifests` binary.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kubia-manifests");

/// The tutorial's `kubia-v1.yaml` (the one oracle).
const SEED_KUBIA_V1_YAML: &str = tutorial_oracle::KUBIA_V1_YAML;

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running kubia-manifests")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A fresh, not yet existing directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("kubia-manifests-cli-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

#[test]
fn tutorial_prints_the_books_file() {
    let o = run(&["tutorial"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), SEED_KUBIA_V1_YAML);
    assert_eq!(stderr(&o), "");
}

#[test]
fn common_flags_change_the_tutorial() {
    let o = run(&[
        "tutorial",
        "--tag",
        "v2",
        "--replicas",
        "5",
        "--node-port",
        "31000",
        "-n",
        "demo",
        "--name",
        "shop",
        "--image-repo",
        "registry.example.com:5000/team/shop",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for expected in [
        "  name: shop-v2\n  namespace: demo\n",
        "  replicas: 5\n",
        "      - image: registry.example.com:5000/team/shop:v2\n",
        "  name: shop\n  namespace: demo\n",
        "    nodePort: 31000\n",
        "        app: shop\n",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from\n{out}");
    }
    assert!(!out.contains("imagePullPolicy"));
}

#[test]
fn hardened_tutorial_is_the_checked_in_one() {
    let o = run(&["tutorial", "--hardened"]);
    assert!(o.status.success());
    let expected = kubia_manifests::checked_in()
        .into_iter()
        .find(|(name, _)| name == "hardened/kubia-v1.yaml")
        .unwrap()
        .1;
    assert_eq!(stdout(&o), expected);
    assert!(stdout(&o).contains("runAsNonRoot: true"));
}

#[test]
fn every_kind_prints_yaml() {
    for kind in [
        "tutorial",
        "rc",
        "replicaset",
        "deployment",
        "blue-green",
        "canary",
        "service",
        "all",
    ] {
        let o = run(&[kind]);
        assert!(o.status.success(), "{kind}: {}", stderr(&o));
        assert!(stdout(&o).contains("apiVersion: "), "{kind}");
        assert_eq!(stderr(&o), "", "{kind}");
    }
}

#[test]
fn all_prints_every_checked_in_file() {
    let o = run(&["all"]);
    let out = stdout(&o);
    for (name, text) in kubia_manifests::checked_in() {
        assert!(out.contains(&format!("# {name}\n{text}")), "{name} missing");
    }
}

#[test]
fn kinds_take_their_flags() {
    let o = run(&[
        "deployment",
        "--tag",
        "v3",
        "--readiness-probe",
        "root",
        "--strategy",
        "RollingUpdate",
        "--max-surge",
        "1",
        "--max-unavailable",
        "0",
        "--min-ready-seconds",
        "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = kubia_manifests::checked_in()
        .into_iter()
        .find(|(name, _)| name == "kubia-deployment-v3-with-readinesscheck.yaml")
        .unwrap()
        .1;
    assert_eq!(stdout(&o), expected);

    let o = run(&[
        "blue-green",
        "--active",
        "green",
        "--workload",
        "deployment",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("kind: Deployment"));
    assert!(stdout(&o).contains("  selector:\n    app: kubia\n    color: green\n"));

    let o = run(&["canary", "--canary-replicas", "2", "--canary-tag", "v4"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("image: luksa/kubia:v4"));
    assert!(stdout(&o).contains("  replicas: 2\n"));

    let o = run(&["service", "--select", "color=green"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("    color: green\n"));

    let o = run(&["rc", "--tag", "", "--image-pull-policy", "Always"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("- image: luksa/kubia\n"));
    assert!(stdout(&o).contains("imagePullPolicy: Always\n"));
}

#[test]
fn mutable_tag_with_if_not_present_warns_on_stderr() {
    let o = run(&[
        "rc",
        "--tag",
        "latest",
        "--image-pull-policy",
        "IfNotPresent",
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("imagePullPolicy: IfNotPresent"));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("warning: image luksa/kubia:latest has a mutable tag"),
        "{err}"
    );
    // The default for latest is Always: no warning.
    let o = run(&["rc", "--tag", "latest"]);
    assert_eq!(stderr(&o), "");
    assert!(stdout(&o).contains("imagePullPolicy: Always"));
}

const BAD_INPUTS: &[&[&str]] = &[
    &["tutorial", "--replicas", "-1"],
    &["tutorial", "--replicas=-1"],
    &["rc", "--replicas", "-3"],
    &["tutorial", "--node-port", "80"],
    &["tutorial", "--node-port", "29999"],
    &["tutorial", "--node-port", "32768"],
    &["service", "--node-port", "-1"],
    &["tutorial", "--name", "Kubia"],
    &["tutorial", "--name", "kubia_app"],
    &["tutorial", "--name", "kubia\nsecond-line"],
    &["deployment", "-n", "Demo"],
    &["tutorial", "--image-repo", "Luksa/kubia"],
    &["tutorial", "--image-repo", "luksa/kubia:v1"],
    &["tutorial", "--tag", "v1:v2"],
    &["tutorial", "--tag", "1.0"],
    &["tutorial", "--image-pull-policy", "Sometimes"],
    &["deployment", "--strategy", "BlueGreen"],
    &["deployment", "--max-surge", "1.5%"],
    &["deployment", "--max-surge", "-1"],
    &["deployment", "--max-unavailable", "-5%"],
    &["tutorial", "--tag", "-v1"],
    &["deployment", "--max-unavailable", "150%"],
    &["deployment", "--max-surge", "0", "--max-unavailable", "0%"],
    &["deployment", "--strategy", "Recreate", "--max-surge", "1"],
    &["deployment", "--min-ready-seconds", "-5"],
    &["deployment", "--readiness-probe", "tcp"],
    &["blue-green", "--active", "red"],
    &["blue-green", "--workload", "pod"],
    &["blue-green", "--green-tag", "-v2"],
    &["canary", "--canary-replicas", "-1"],
    &["service", "--select", "color"],
    &["service", "--select", "Bad Key=x"],
];

#[test]
fn bad_input_exits_2_with_one_error_line() {
    for args in BAD_INPUTS {
        let o = run(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err:?}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(stdout(&o), "", "{args:?}");
    }
}

#[test]
fn bad_input_writes_nothing() {
    for (i, args) in BAD_INPUTS.iter().enumerate() {
        let dir = temp_dir(&format!("bad-{i}"));
        let mut with_output = args.to_vec();
        let dir_str = dir.to_str().unwrap().to_owned();
        with_output.extend(["-o", &dir_str]);
        let o = run(&with_output);
        assert_eq!(o.status.code(), Some(2), "{with_output:?}: {}", stderr(&o));
        assert!(!dir.exists(), "{with_output:?} created {}", dir.display());
    }
}

#[test]
fn all_writes_the_checked_in_tree() {
    let dir = temp_dir("all");
    let o = run(&["all", "-o", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let expected = kubia_manifests::checked_in();
    assert_eq!(stdout(&o).lines().count(), expected.len());
    for (name, text) in expected {
        assert_eq!(fs::read_to_string(dir.join(&name)).unwrap(), text, "{name}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn single_kind_writes_its_file() {
    let dir = temp_dir("rc");
    let o = run(&[
        "rc",
        "--tag",
        "v2",
        "--hardened",
        "-o",
        dir.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(dir.join("hardened/kubia-v2-rc.yaml")).unwrap();
    assert!(text.contains("name: kubia-v2"));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn clap_usage_errors_also_exit_2() {
    let o = run(&["tutorial", "--replicas", "many"]);
    assert_eq!(o.status.code(), Some(2));
    let o = run(&["no-such-kind"]);
    assert_eq!(o.status.code(), Some(2));
}
