//! Unit tests of the command line: kubectl's forms, flags and refusals.

use super::*;
use clap::CommandFactory;

#[test]
fn clap_definitions_are_consistent() {
    KubiaRolloutCli::command().debug_assert();
    PluginCli::command().debug_assert();
}

#[test]
fn tutorial_command_and_defaults() {
    let cli = PluginCli::try_parse_from([
        "kubectl-rolling_update",
        "kubia-v1",
        "kubia-v2",
        "--image=luksa/kubia:v2",
    ]);
    let Ok(cli) = cli else { panic!("{cli:?}") };
    let u = cli.update;
    assert_eq!(
        (u.old.as_str(), u.new.as_deref()),
        ("kubia-v1", Some("kubia-v2"))
    );
    assert_eq!(u.image.as_deref(), Some("luksa/kubia:v2"));
    assert_eq!(u.update_period, Duration::from_secs(60));
    assert_eq!(u.wait.poll_interval, Duration::from_secs(3));
    assert_eq!(u.wait.timeout, Duration::from_secs(300));
    assert_eq!(u.deployment_label_key, "deployment");
    assert_eq!(u.max_surge, IntOrPercent::Count(1));
    assert_eq!(u.max_unavailable, IntOrPercent::Count(0));
    assert_eq!(u.dry_run, None);
    assert!(!u.rollback);
}

#[test]
fn flags_anywhere_and_dry_run_forms() {
    let cli = KubiaRolloutCli::try_parse_from([
        "kubia-rollout",
        "-n",
        "dev",
        "rolling-update",
        "kubia-v1",
        "--dry-run",
        "kubia-v2",
        "--image",
        "x:v2",
        "--max-surge=25%",
        "-o",
        "name",
        "--context",
        "c",
    ]);
    let Ok(cli) = cli else { panic!("{cli:?}") };
    assert_eq!(cli.cluster.options.namespace.as_deref(), Some("dev"));
    assert_eq!(cli.cluster.options.context.as_deref(), Some("c"));
    let Command::RollingUpdate(u) = cli.command else {
        panic!("subcommand")
    };
    assert_eq!(u.new.as_deref(), Some("kubia-v2"));
    assert_eq!(u.dry_run.as_deref(), Some("client"));
    assert_eq!(u.max_surge, IntOrPercent::Percent(25));
    assert_eq!(u.output.as_deref(), Some("name"));
    let cli =
        PluginCli::try_parse_from(["p", "a", "--dry-run=false", "-f", "-", "--update-period=1s"]);
    let Ok(cli) = cli else { panic!("{cli:?}") };
    assert_eq!(cli.update.dry_run.as_deref(), Some("false"));
    assert_eq!(cli.update.filename.as_deref(), Some("-"));
    assert_eq!(cli.update.update_period, Duration::from_secs(1));
    assert!(PluginCli::try_parse_from(["p", "a", "--max-surge=x"]).is_err());
    assert!(PluginCli::try_parse_from(["p"]).is_err());
}

#[test]
fn method_subcommands() {
    let parse = |args: &[&str]| KubiaRolloutCli::try_parse_from(args.iter().copied());
    let bg = parse(&[
        "k",
        "blue-green",
        "kubia-v1",
        "kubia-v2",
        "--image=luksa/kubia:v2",
        "--service",
        "kubia",
    ]);
    assert!(matches!(
        bg.map(|c| c.command),
        Ok(Command::BlueGreen(BlueGreenArgs { action: None, .. }))
    ));
    let back = parse(&["k", "blue-green", "switch-back", "--service", "kubia"]);
    assert!(matches!(
        back.map(|c| c.command),
        Ok(Command::BlueGreen(BlueGreenArgs {
            action: Some(BlueGreenAction::SwitchBack(_)),
            ..
        }))
    ));
    let clean = parse(&["k", "blue-green", "cleanup", "kubia-v1", "kubia-v2"]);
    assert!(matches!(
        clean.map(|c| c.command),
        Ok(Command::BlueGreen(BlueGreenArgs { action: Some(BlueGreenAction::Cleanup(r)), .. })) if r.names.len() == 2
    ));
    assert!(parse(&["k", "blue-green", "kubia-v1", "kubia-v2"]).is_err());
    let canary = parse(&[
        "k",
        "canary",
        "kubia-v1",
        "kubia-v2",
        "--image=x:v2",
        "--steps",
        "25%,50%",
    ]);
    let Ok(KubiaRolloutCli {
        command: Command::Canary(c),
        ..
    }) = canary
    else {
        panic!("canary")
    };
    assert_eq!(
        c.steps,
        vec![IntOrPercent::Percent(25), IntOrPercent::Percent(50)]
    );
    assert!(matches!(
        parse(&["k", "canary", "promote", "kubia-v2"]).map(|c| c.command),
        Ok(Command::Canary(CanaryArgs {
            action: Some(CanaryAction::Promote(_)),
            ..
        }))
    ));
    assert!(matches!(
        parse(&["k", "canary", "abort"]).map(|c| c.command),
        Ok(Command::Canary(CanaryArgs {
            action: Some(CanaryAction::Abort(_)),
            ..
        }))
    ));
    assert!(parse(&["k", "recreate", "kubia-v1"]).is_err());
    assert!(parse(&["k", "recreate", "kubia-v1", "--image=luksa/kubia:v2"]).is_ok());
    assert!(parse(&["k", "status"]).is_ok());
    assert!(parse(&["k", "status", "kubia-v1", "-n", "x"]).is_ok());
}
