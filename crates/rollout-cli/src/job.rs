//! What a `kubia-rollout` subcommand asks the engine to do: its request, built from the
//! parsed flags, and the polling and timeout its context gets. Parsing only, like
//! `request`: the engine checks what the request means.

use rollout_engine::EngineError;
use rollout_engine::blue_green::{BlueGreen, BlueGreenRef};
use rollout_engine::canary::{CanaryRef, CanaryStart};
use rollout_engine::recreate::Recreate;

use crate::args::{BlueGreenAction, CanaryAction, Command, DetachArgs, TimelineArgs, WaitArgs};
use crate::request::{image_change, rc_names, side_by_side, strip_kind};

/// One engine call of `kubia-rollout` (`rolling-update` has its own path: it prints an
/// outcome, kubectl's way).
#[derive(Debug)]
pub enum Job {
    /// `recreate RC --image=X`.
    Recreate(Recreate),
    /// `blue-green OLD NEW --image=X`.
    BlueGreen(BlueGreen),
    /// `blue-green switch-back`.
    SwitchBack(BlueGreenRef),
    /// `blue-green cleanup`.
    Cleanup(BlueGreenRef),
    /// `canary OLD NEW --image=X`.
    Canary(CanaryStart),
    /// `canary promote`.
    Promote(CanaryRef),
    /// `canary abort`.
    Abort(CanaryRef),
    /// `status [RC]`.
    Status(Option<String>),
    /// `status --watch [RC]`.
    Watch(Option<String>),
}

/// The `--timeline` flags of `command`, for the commands that update.
pub fn view(command: &Command) -> Option<&TimelineArgs> {
    match command {
        Command::RollingUpdate(args) => Some(&args.view),
        Command::Recreate(args) => Some(&args.update.view),
        Command::BlueGreen(args) => match &args.action {
            Some(BlueGreenAction::SwitchBack(r) | BlueGreenAction::Cleanup(r)) => Some(&r.view),
            None => Some(&args.pair.update.view),
        },
        Command::Canary(args) => match &args.action {
            Some(CanaryAction::Promote(r) | CanaryAction::Abort(r)) => Some(&r.view),
            None => Some(&args.pair.update.view),
        },
        Command::Status(_) | Command::Completion(_) | Command::GenerateMan(_) => None,
    }
}

/// The `--detach` flags of `command`, for the commands that start an update.
pub fn detach(command: &Command) -> Option<&DetachArgs> {
    match command {
        Command::RollingUpdate(args) => Some(&args.detach),
        Command::Recreate(args) => Some(&args.update.detach),
        Command::BlueGreen(args) if args.action.is_none() => Some(&args.pair.update.detach),
        Command::Canary(args) if args.action.is_none() => Some(&args.pair.update.detach),
        _ => None,
    }
}

/// `status` reads only: a short timeout, the default poll interval.
const STATUS_WAIT: WaitArgs = WaitArgs {
    poll_interval: std::time::Duration::from_secs(3),
    timeout: std::time::Duration::from_secs(30),
};

/// The job of `command` and its waiting; `None` for the commands that need no cluster
/// (`completion`, `generate-man`) and for `rolling-update`.
pub fn job(command: &Command) -> Result<Option<(Job, WaitArgs)>, EngineError> {
    Ok(Some(match command {
        Command::Recreate(args) => {
            let job = Job::Recreate(Recreate {
                rc_name: strip_kind(&args.rc).to_owned(),
                change: image_change(&args.image, &args.update.image_args)?,
                min_ready_seconds: args.update.image_args.min_ready_seconds,
                failure: args.update.failure.policy(None),
                force: args.update.force,
            });
            (job, args.update.wait.clone())
        }
        Command::BlueGreen(args) => match &args.action {
            Some(BlueGreenAction::SwitchBack(r) | BlueGreenAction::Cleanup(r)) => {
                let reference = BlueGreenRef {
                    service: r.service.clone(),
                    names: rc_names(&r.names),
                    min_ready_seconds: r.min_ready_seconds,
                };
                let job = match &args.action {
                    Some(BlueGreenAction::SwitchBack(_)) => Job::SwitchBack(reference),
                    _ => Job::Cleanup(reference),
                };
                (job, r.wait.clone())
            }
            None => {
                let job = Job::BlueGreen(BlueGreen {
                    pair: side_by_side(&args.pair)?,
                    service: args.service.clone(),
                    cleanup: args.cleanup,
                });
                (job, args.pair.update.wait.clone())
            }
        },
        Command::Canary(args) => match &args.action {
            Some(CanaryAction::Promote(r) | CanaryAction::Abort(r)) => {
                let reference = CanaryRef {
                    names: rc_names(&r.names),
                    step_period: r.step_period,
                    min_ready_seconds: r.min_ready_seconds,
                };
                let job = match &args.action {
                    Some(CanaryAction::Promote(_)) => Job::Promote(reference),
                    _ => Job::Abort(reference),
                };
                (job, r.wait.clone())
            }
            None => {
                let job = Job::Canary(CanaryStart {
                    pair: side_by_side(&args.pair)?,
                    steps: args.steps.clone(),
                    step_period: args.step_period,
                });
                (job, args.pair.update.wait.clone())
            }
        },
        Command::Status(args) => {
            let rc = args.rc.as_deref().map(strip_kind).map(str::to_owned);
            if args.watch {
                let wait = WaitArgs {
                    poll_interval: args.poll_interval,
                    ..STATUS_WAIT
                };
                (Job::Watch(rc), wait)
            } else {
                (Job::Status(rc), STATUS_WAIT)
            }
        }
        Command::RollingUpdate(_) | Command::Completion(_) | Command::GenerateMan(_) => {
            return Ok(None);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::KubiaRolloutCli;
    use clap::Parser;

    fn job_of(args: &[&str]) -> Option<(Job, WaitArgs)> {
        let mut argv = vec!["kubia-rollout"];
        argv.extend_from_slice(args);
        let cli = KubiaRolloutCli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"));
        job(&cli.command).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn each_subcommand_becomes_its_engine_call() {
        let Some((Job::BlueGreen(bg), wait)) = job_of(&[
            "blue-green",
            "rc/kubia-v1",
            "kubia-v2",
            "--image=luksa/kubia:v2",
            "--service=kubia",
            "--cleanup",
            "--timeout=1m",
        ]) else {
            panic!("not a blue-green deploy")
        };
        assert_eq!(
            (bg.pair.old_name.as_str(), bg.pair.new_name.as_str()),
            ("kubia-v1", "kubia-v2")
        );
        assert_eq!(bg.pair.change.image.to_string(), "luksa/kubia:v2");
        assert!(bg.cleanup && bg.service.as_deref() == Some("kubia"));
        assert_eq!(wait.timeout, std::time::Duration::from_secs(60));

        let Some((Job::Promote(r), _)) = job_of(&[
            "canary",
            "promote",
            "kubia-v1",
            "kubia-v2",
            "--step-period=5s",
        ]) else {
            panic!("not a promote")
        };
        assert_eq!(r.names, ["kubia-v1", "kubia-v2"]);
        assert_eq!(r.step_period, Some(std::time::Duration::from_secs(5)));
        assert!(matches!(
            job_of(&["canary", "abort"]),
            Some((Job::Abort(_), _))
        ));
        assert!(matches!(
            job_of(&["blue-green", "switch-back", "--service=kubia"]),
            Some((Job::SwitchBack(_), _))
        ));
        let Some((Job::Recreate(req), _)) =
            job_of(&["recreate", "kubia", "--image=luksa/kubia:v3", "--force"])
        else {
            panic!("not a recreate")
        };
        assert!(req.force && req.rc_name == "kubia");
        assert!(matches!(
            job_of(&["status", "replicationcontroller/kubia-v1"]),
            Some((Job::Status(Some(rc)), _)) if rc == "kubia-v1"
        ));
        assert!(job_of(&["completion", "bash"]).is_none());
    }
}
