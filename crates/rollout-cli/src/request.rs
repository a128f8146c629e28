//! From parsed flags to engine requests. Parsing only: a value that does not parse is
//! refused here; whether the request makes sense is the engine's to decide, once (for a
//! rolling update, [`rollout_engine::rolling::validate`] and the server-side check of a
//! `-f` file).

use std::io::Read;

use k8s_openapi::api::core::v1::ReplicationController;
use rollout_engine::side_by_side::SideBySide;
use rollout_engine::validate::Validation;
use rollout_engine::{EngineError, ImageChange, NewSource, PullPolicy, RollingUpdate};
use rollout_plan::Strategy;

use crate::args::{ClusterArgs, ImageArgs, RollingUpdateArgs, SideBySideArgs};
use crate::output::OutputFormat;

/// `RC`, `rc/RC` or `replicationcontroller/RC` → `RC` (kubectl accepted the typed forms).
pub fn strip_kind(name: &str) -> &str {
    for prefix in [
        "rc/",
        "replicationcontroller/",
        "replicationcontrollers/",
        "replicationcontroller.v1/",
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return rest;
        }
    }
    name
}

fn pull_policy(text: Option<&str>) -> Result<Option<PullPolicy>, EngineError> {
    text.map(rollout_engine::model::image::parse_pull_policy)
        .transpose()
}

/// `--dry-run[=client|true|false|none|server]` → whether to dry-run.
pub fn dry_run(mode: Option<&str>) -> Result<bool, EngineError> {
    match mode {
        None | Some("none" | "false") => Ok(false),
        Some("client" | "true") => Ok(true),
        Some("server") => Err(EngineError::Invalid(
            "--dry-run=server is not supported by rolling-update; use --dry-run=client".into(),
        )),
        Some(other) => Err(EngineError::Invalid(format!(
            "invalid --dry-run value {other:?}: must be client, none, true or false"
        ))),
    }
}

/// Parses a file's text as one ReplicationController (YAML or JSON).
pub fn parse_rc(text: &str, origin: &str) -> Result<ReplicationController, EngineError> {
    parse_rc_raw(text, origin).map(|(rc, _)| rc)
}

/// Parses a file's text as one ReplicationController, also returning it as written.
fn parse_rc_raw(
    text: &str,
    origin: &str,
) -> Result<(ReplicationController, serde_json::Value), EngineError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text)
        .map_err(|e| EngineError::Invalid(format!("cannot parse {origin}: {e}")))?;
    let raw = serde_json::to_value(&value)
        .map_err(|e| EngineError::Invalid(format!("cannot parse {origin}: {e}")))?;
    let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    if kind != "ReplicationController" {
        return Err(EngineError::Invalid(format!(
            "{origin} must contain one ReplicationController, found {}",
            if kind.is_empty() { "no kind" } else { kind }
        )));
    }
    let rc = serde_yaml::from_value(value).map_err(|e| {
        EngineError::Invalid(format!(
            "{origin} is not a valid ReplicationController: {e}"
        ))
    })?;
    Ok((rc, raw))
}

fn read_file(path: &str) -> Result<(ReplicationController, serde_json::Value), EngineError> {
    let (text, origin) = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| EngineError::Invalid(format!("cannot read stdin: {e}")))?;
        (text, "stdin".to_owned())
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EngineError::Invalid(format!("cannot read {path}: {e}")))?;
        (text, path.to_owned())
    };
    parse_rc_raw(&text, &origin)
}

/// Builds the rolling-update request and the output format.
pub fn rolling_update(
    args: &RollingUpdateArgs,
) -> Result<(RollingUpdate, OutputFormat), EngineError> {
    let output = OutputFormat::from_flags(
        args.output.as_deref(),
        args.template.as_deref(),
        args.allow_missing_template_keys,
    )?;
    let dry_run = dry_run(args.dry_run.as_deref())?;
    let validation: Validation = args.validate.parse()?;
    let source = match (&args.image, &args.filename) {
        // The one combination a request cannot hold.
        (Some(_), Some(_)) => {
            return Err(EngineError::Usage(
                "--filename and --image can not both be specified".into(),
            ));
        }
        (None, None) => None,
        (Some(image), None) => Some(NewSource::Image(ImageChange {
            image: rollout_engine::model::image::parse_reference(image)?,
            container: args.container.clone(),
            pull_policy: pull_policy(args.image_pull_policy.as_deref())?,
        })),
        (None, Some(path)) => {
            let (rc, raw) = read_file(path)?;
            Some(NewSource::File {
                rc: Box::new(rc),
                raw,
                path: path.clone(),
            })
        }
    };
    let request = RollingUpdate {
        old_name: strip_kind(&args.old).to_owned(),
        new_name: args.new.as_deref().map(strip_kind).map(str::to_owned),
        source,
        deployment_label_key: args.deployment_label_key.clone(),
        strategy: Strategy {
            max_surge: args.max_surge,
            max_unavailable: args.max_unavailable,
            min_ready_seconds: args.min_ready_seconds,
        },
        update_period: args.update_period,
        rollback: args.rollback,
        dry_run,
        failure: args.failure.policy(None),
        force: args.force,
        validation,
    };
    Ok((request, output))
}

/// RC names as given (`kubia-v1`, `rc/kubia-v1`, `replicationcontroller/kubia-v1`), bare.
pub fn rc_names(names: &[String]) -> Vec<String> {
    names.iter().map(|n| strip_kind(n).to_owned()).collect()
}

/// The image change of recreate, blue-green and canary.
pub fn image_change(image: &str, args: &ImageArgs) -> Result<ImageChange, EngineError> {
    Ok(ImageChange {
        image: rollout_engine::model::image::parse_reference(image)?,
        container: args.container.clone(),
        pull_policy: pull_policy(args.image_pull_policy.as_deref())?,
    })
}

/// The request part blue-green and canary share.
pub fn side_by_side(args: &SideBySideArgs) -> Result<SideBySide, EngineError> {
    // clap requires OLD, NEW and --image unless an action is given.
    let (Some(old), Some(new), Some(image)) = (&args.old, &args.new, &args.image) else {
        return Err(EngineError::Usage(
            "OLD, NEW and --image must be given".into(),
        ));
    };
    Ok(SideBySide {
        old_name: strip_kind(old).to_owned(),
        new_name: strip_kind(new).to_owned(),
        change: image_change(image, &args.update.image_args)?,
        deployment_label_key: args.deployment_label_key.clone(),
        min_ready_seconds: args.update.image_args.min_ready_seconds,
        failure: args.update.failure.policy(Some(&args.analysis)),
        metrics_port: args.analysis.metrics_port,
        force: args.update.force,
    })
}

/// The cluster flags to repeat in suggested commands (` -n dev --context c`).
pub fn cluster_flags(cluster: &ClusterArgs) -> String {
    let mut flags = String::new();
    if let Some(ns) = &cluster.options.namespace {
        flags.push_str(&format!(" -n {}", rollout_engine::shell_quote(ns)));
    }
    if let Some(context) = &cluster.options.context {
        flags.push_str(&format!(
            " --context {}",
            rollout_engine::shell_quote(context)
        ));
    }
    if let Some(path) = &cluster.options.kubeconfig {
        flags.push_str(&format!(
            " --kubeconfig {}",
            rollout_engine::shell_quote(&path.to_string_lossy())
        ));
    }
    for (flag, value) in [
        ("--cluster", cluster.options.cluster.clone()),
        ("--user", cluster.options.user.clone()),
        ("--server", cluster.options.server.clone()),
        (
            "--certificate-authority",
            cluster
                .options
                .certificate_authority
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned()),
        ),
    ] {
        if let Some(v) = value {
            flags.push_str(&format!(" {flag} {}", rollout_engine::shell_quote(&v)));
        }
    }
    if cluster.options.insecure_skip_tls_verify {
        flags.push_str(" --insecure-skip-tls-verify");
    }
    if cluster.options.token.is_some() {
        // Never print the secret itself.
        flags.push_str(" --token <TOKEN>");
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::PluginCli;
    use clap::Parser;
    use rollout_engine::ClusterOptions;

    fn build(args: &[&str]) -> Result<(RollingUpdate, OutputFormat), String> {
        let mut argv = vec!["p"];
        argv.extend_from_slice(args);
        let cli = PluginCli::try_parse_from(argv).map_err(|e| e.to_string())?;
        // What the program does before the cluster: parse, then the engine's checks.
        let (request, output) = rolling_update(&cli.update).map_err(|e| e.to_string())?;
        rollout_engine::rolling::validate(&request).map_err(|e| e.to_string())?;
        Ok((request, output))
    }

    #[test]
    fn flag_combinations() {
        assert!(build(&["kubia-v1", "kubia-v2", "--image=luksa/kubia:v2"]).is_ok());
        assert_eq!(
            build(&["kubia-v1", "--image=x:v2", "-f", "rc.yaml"])
                .err()
                .as_deref(),
            Some("--filename and --image can not both be specified")
        );
        assert_eq!(
            build(&["kubia-v1", "kubia-v2"]).err().as_deref(),
            Some("Must specify --filename or --image for new controller")
        );
        assert!(build(&["kubia-v1", "kubia-v2", "--rollback"]).is_ok());
        assert_eq!(
            build(&["kubia-v1", "kubia-v2", "--rollback", "--image=x:v2"])
                .err()
                .as_deref(),
            Some("Don't specify --filename or --image on rollback")
        );
        assert!(
            build(&["kubia-v1", "--image=x:v2", "--image-pull-policy=sometimes"])
                .err()
                .is_some_and(|e| e.contains("--image-pull-policy"))
        );
        assert!(
            build(&["kubia-v1", "--image=x:v2", "-o", "wide"])
                .err()
                .is_some_and(|e| e.contains("output format"))
        );
        assert!(build(&["kubia-v1", "--image=x:v2", "--dry-run=server"]).is_err());
        assert!(build(&["kubia-v1", "--image=x:v2", "--deployment-label-key="]).is_err());
        assert!(
            build(&["kubia-v1", "--image=not an image"])
                .err()
                .is_some_and(|e| e.starts_with("invalid image reference"))
        );
        assert!(build(&["kubia-v1", "--image=x:v2", "--max-unavailable=101%"]).is_err());
        let Ok((req, out)) = build(&[
            "rc/kubia-v1",
            "replicationcontroller/kubia-v2",
            "--image=x:v2",
            "--dry-run",
            "-o",
            "yaml",
        ]) else {
            panic!("build")
        };
        assert_eq!(
            (req.old_name.as_str(), req.new_name.as_deref()),
            ("kubia-v1", Some("kubia-v2"))
        );
        assert!(req.dry_run);
        assert_eq!(out, OutputFormat::Yaml);
    }

    #[test]
    fn files() {
        let yaml = "apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: kubia-v2\nspec:\n  replicas: 3\n  template:\n    metadata:\n      labels: {app: kubia}\n    spec:\n      containers:\n      - name: nodejs\n        image: luksa/kubia:v2\n";
        let rc = parse_rc(yaml, "f.yaml");
        assert_eq!(
            rc.ok().and_then(|rc| rc.metadata.name).as_deref(),
            Some("kubia-v2")
        );
        assert!(
            parse_rc("kind: Service\n", "f.yaml")
                .err()
                .is_some_and(|e| e.to_string().contains("found Service"))
        );
        assert!(parse_rc("{", "f.yaml").is_err());
        assert!(
            build(&["kubia-v1", "-f", "/nonexistent.yaml"])
                .err()
                .is_some_and(|e| e.contains("cannot read"))
        );
    }

    #[test]
    fn kubectl_global_flags_parse() {
        let cli = PluginCli::try_parse_from([
            "p",
            "kubia-v1",
            "--image=x:v2",
            "--cluster=c",
            "--user=u",
            "-s",
            "https://h:6443",
            "--token=t",
            "--certificate-authority=/ca.crt",
            "--insecure-skip-tls-verify",
            "--request-timeout=30",
            "-v=6",
        ]);
        let Ok(cli) = cli else { panic!("{cli:?}") };
        let verbosity = cli.cluster.verbosity;
        let c = cli.cluster.options;
        assert_eq!(
            (c.cluster.as_deref(), c.user.as_deref(), c.server.as_deref()),
            (Some("c"), Some("u"), Some("https://h:6443"))
        );
        assert_eq!(c.token.as_deref(), Some("t"));
        assert!(c.insecure_skip_tls_verify);
        assert_eq!(c.request_timeout, Some(std::time::Duration::from_secs(30)));
        assert_eq!(verbosity, Some(6));
        let two_minutes =
            PluginCli::try_parse_from(["p", "a", "--image=x:v2", "--request-timeout=2m"]);
        assert_eq!(
            two_minutes
                .ok()
                .and_then(|c| c.cluster.options.request_timeout),
            Some(std::time::Duration::from_secs(120))
        );
        let unknown = PluginCli::try_parse_from(["p", "a", "--image=x:v2", "--bogus"]);
        assert_eq!(
            unknown.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::UnknownArgument)
        );
    }

    #[test]
    fn names_and_flags() {
        assert_eq!(strip_kind("rc/a"), "a");
        assert_eq!(strip_kind("a"), "a");
        let cluster = ClusterArgs {
            options: ClusterOptions {
                namespace: Some("dev".into()),
                kubeconfig: Some("/tmp/k config".into()),
                ..ClusterOptions::default()
            },
            ..ClusterArgs::default()
        };
        assert_eq!(
            cluster_flags(&cluster),
            " -n dev --kubeconfig '/tmp/k config'"
        );
        let flags = ClusterArgs {
            options: ClusterOptions {
                server: Some("https://h:6443".into()),
                token: Some("s3cret".into()),
                insecure_skip_tls_verify: true,
                ..ClusterOptions::default()
            },
            ..ClusterArgs::default()
        };
        let shown = cluster_flags(&flags);
        assert_eq!(
            shown,
            " --server https://h:6443 --insecure-skip-tls-verify --token <TOKEN>"
        );
        assert!(!shown.contains("s3cret"));
        assert_eq!(dry_run(Some("true")).ok(), Some(true));
        assert_eq!(dry_run(None).ok(), Some(false));
    }
}
