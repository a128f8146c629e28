//! `--detach` in the CLI: the method run once on a context that only checks, then handed to
//! a Job that runs the same command line in the cluster; and, in that Job's pod
//! (`--detached-job`), the outcome reported when the update ends.

use std::future::Future;
use std::sync::Arc;

use rollout_engine::detach::{self, Detach};
use rollout_engine::{Ctx, EngineError, Event, EventSink};

use crate::args::{CONNECTION_HEADING, DetachArgs};
use crate::sink::TerminalSink;

/// The image the Job runs unless `--detach-image` says otherwise: this version's plugin image.
pub const DEFAULT_IMAGE: &str = concat!("kubia-lab/kubia-rollout:", env!("CARGO_PKG_VERSION"));

/// Passes the warnings of a checking run to the terminal and drops its other events (its
/// lines describe changes it does not make).
struct WarningsOnly(Arc<TerminalSink>);

impl EventSink for WarningsOnly {
    fn emit(&self, event: Event) {
        if matches!(event, Event::Warning(_)) {
            self.0.emit(event);
        }
    }
}

/// Which of the two programs runs in the Job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `kubectl-rolling_update`.
    Plugin,
    /// `kubia-rollout`.
    KubiaRollout,
}

impl Program {
    fn path(self) -> &'static str {
        match self {
            Program::Plugin => "/kubectl-rolling_update",
            Program::KubiaRollout => "/kubia-rollout",
        }
    }

    fn command(self) -> clap::Command {
        use clap::CommandFactory;
        match self {
            Program::Plugin => crate::args::PluginCli::command(),
            Program::KubiaRollout => crate::args::KubiaRolloutCli::command(),
        }
    }
}

/// Runs `method` (the whole update of the user's command) in the way `args` says: as a
/// check then handed to a Job (`--detach`), in the Job's pod (`--detached-job`), or right
/// here. `Ok(Some(line))` is the update's outcome line when it ran (here or in the pod).
pub async fn run<F, Fut, T>(
    ctx: &Ctx,
    args: &DetachArgs,
    program: Program,
    command: &str,
    sink: &Arc<TerminalSink>,
    method: F,
) -> Result<Option<T>, EngineError>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    if args.detach {
        hand_over(ctx, args, program, command, sink, method).await?;
        return Ok(None);
    }
    let Some(job) = &args.detached_job else {
        return method(ctx.clone()).await.map(Some);
    };
    let ctx = ctx.in_job(job);
    let result = method(ctx.clone()).await;
    match &result {
        Err(e) if e.is_interrupted() => {}
        Ok(_) => {
            let line = sink
                .last_line()
                .unwrap_or_else(|| "update completed".to_owned());
            detach::report(&ctx, true, &line).await;
        }
        Err(e) => detach::report(&ctx, false, &e.to_string()).await,
    }
    result.map(Some)
}

async fn hand_over<F, Fut, T>(
    ctx: &Ctx,
    args: &DetachArgs,
    program: Program,
    command: &str,
    sink: &Arc<TerminalSink>,
    method: F,
) -> Result<(), EngineError>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    let checking = ctx
        .checking_only()
        .with_sink(Arc::new(WarningsOnly(sink.clone())));
    match method(checking.clone()).await {
        Err(EngineError::CheckedOnly) => {}
        Err(e) => return Err(e),
        Ok(_) => {
            sink.print("the update needs no change; no Job was created\n");
            return Ok(());
        }
    }
    let begun = checking.begun().ok_or_else(|| {
        EngineError::Inconsistent("the update was checked but declared nothing".to_owned())
    })?;
    let argv: Vec<String> = std::env::args().collect();
    let detach = Detach {
        image: args
            .detach_image
            .clone()
            .unwrap_or_else(|| DEFAULT_IMAGE.to_owned()),
        program: program.path().to_owned(),
        args: pod_args(&argv, &program.command()),
        command: command.to_owned(),
        ttl: args.detach_ttl,
        timeout: ctx.timing().timeout,
        deadline: args.detach_deadline,
    };
    let submitted = detach::submit(ctx, &begun, &detach).await?;
    let (job, ns) = (&submitted.job, ctx.namespace());
    let rc = submitted.rcs.first().map_or("", String::as_str);
    sink.print(&format!(
        "job.batch/{job} created: the update runs in the cluster as serviceaccount/{job} (Role and RoleBinding of the same name, removed when it ends)\n\
         Follow it with: kubia-rollout status -w {rc} -n {ns}   or: kubectl logs -f job/{job} -n {ns}\n"
    ));
    Ok(())
}

/// The arguments of `argv` (the user's command line, without the program) for the Job's
/// pod: the connection flags are dropped (the pod connects as its ServiceAccount, in its
/// namespace, which the Job adds), and so are the `--detach` flags; everything else stays as
/// the user typed it. `command` says which flags take a value.
pub fn pod_args(argv: &[String], command: &clap::Command) -> Vec<String> {
    let mut command = command.clone();
    command.build();
    let mut all: Vec<clap::Arg> = command.get_arguments().cloned().collect();
    for sub in command.get_subcommands() {
        all.extend(sub.get_arguments().cloned());
    }
    let drops = |arg: &clap::Arg| {
        let id = arg.get_id().as_str();
        id.starts_with("detach")
            || (arg.get_help_heading() == Some(CONNECTION_HEADING) && id != "verbosity")
    };
    // Whether a flag written without `=` takes the next word as its value.
    let takes_next = |arg: &clap::Arg| {
        arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
    };
    let mut out = Vec::new();
    let mut words = argv.iter().skip(1);
    while let Some(word) = words.next() {
        if word == "--" {
            out.push(word.clone());
            out.extend(words.cloned());
            break;
        }
        let found = if let Some(long) = word.strip_prefix("--") {
            let (name, value) = long
                .split_once('=')
                .map_or((long, None), |(n, v)| (n, Some(v)));
            all.iter()
                .find(|a| {
                    a.get_long() == Some(name)
                        || a.get_all_aliases().is_some_and(|al| al.contains(&name))
                })
                .map(|a| (a, value.is_some()))
        } else if word.len() >= 2 && word.starts_with('-') && !word.starts_with("--") {
            let short = word.chars().nth(1);
            all.iter()
                .find(|a| a.get_short() == short)
                .map(|a| (a, word.len() > 2))
        } else {
            None
        };
        let Some((arg, inline_value)) = found else {
            out.push(word.clone());
            continue;
        };
        let value = if !inline_value && takes_next(arg) {
            words.next().cloned()
        } else {
            None
        };
        if !drops(arg) {
            out.push(word.clone());
            out.extend(value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str, program: Program) -> String {
        let argv: Vec<String> = line.split(' ').map(str::to_owned).collect();
        pod_args(&argv, &program.command()).join(" ")
    }

    #[test]
    fn the_pod_runs_the_users_command_without_connection_and_detach_flags() {
        assert_eq!(
            args(
                "kubectl-rolling_update kubia-v1 kubia-v2 --image=luksa/kubia:v2 --detach --kubeconfig /home/me/.kube/config -n demo --update-period=5s --token=secret --context lab --detach-ttl 5s -v 2",
                Program::Plugin
            ),
            "kubia-v1 kubia-v2 --image=luksa/kubia:v2 --update-period=5s -v 2"
        );
        assert_eq!(
            args(
                "kubia-rollout -ndemo canary kubia-v1 kubia-v2 --image luksa/kubia:v2 --steps 1,2 --detach --detach-image=mirror.example/kubia-rollout:1 --as=someone",
                Program::KubiaRollout
            ),
            "canary kubia-v1 kubia-v2 --image luksa/kubia:v2 --steps 1,2"
        );
        // A value that looks like a name is the flag's, not a positional argument.
        assert_eq!(
            args(
                "kubectl-rolling_update --namespace demo kubia-v1 --server https://127.0.0.1:6443 kubia-v2 --image=x --detach",
                Program::Plugin
            ),
            "kubia-v1 kubia-v2 --image=x"
        );
    }
}
