//! Running a parsed command: connect, call the engine, print, map errors to exit codes.

use std::process::ExitCode;
use std::sync::Arc;

use rollout_engine::{Cancel, Ctx, EngineError, Hints, Timing, shell_quote};
use rollout_engine::{blue_green, canary, recreate};

use crate::args::{
    ClusterArgs, Command, KubiaRolloutCli, PluginCli, RollingUpdateArgs, TimelineArgs, WaitArgs,
};
use crate::detach;
use crate::job::{self, Job};
use crate::output;
use crate::record::Recording;
use crate::request;
use crate::sink::TerminalSink;

/// Exit code for Ctrl-C, as shells report a SIGINT death.
const EXIT_INTERRUPTED: u8 = 130;

/// How the program was invoked, for the resume/undo hints.
pub struct Invocation {
    /// The program as users type it (`kubectl` for the plugin, `argv[0]` otherwise).
    pub program: String,
    /// The full command line to rerun (quoted).
    pub command: String,
}

impl Invocation {
    /// From the process arguments. The plugin is run by kubectl as `kubectl rolling-update`.
    pub fn from_args(plugin: bool) -> Invocation {
        let argv: Vec<String> = std::env::args().collect();
        let program = if plugin {
            "kubectl".to_owned()
        } else {
            argv.first()
                .cloned()
                .unwrap_or_else(|| "kubia-rollout".to_owned())
        };
        let mut command = if plugin {
            "kubectl rolling-update".to_owned()
        } else {
            shell_quote(&program)
        };
        // A bearer token is a secret: the hints printed on Ctrl-C show a placeholder.
        let mut after_token = false;
        for arg in argv.iter().skip(1) {
            let shown = if after_token {
                "<TOKEN>".to_owned()
            } else if arg.starts_with("--token=") {
                "--token=<TOKEN>".to_owned()
            } else {
                shell_quote(arg)
            };
            after_token = arg == "--token";
            command.push(' ');
            command.push_str(&shown);
        }
        Invocation { program, command }
    }
}

/// Logging to stderr, off unless `-v` or `RUST_LOG` asks for it: stderr is for errors.
fn init_logging(verbosity: Option<u8>) {
    let level = match verbosity {
        None | Some(0) => None,
        Some(1..=3) => Some("info"),
        Some(4 | 5) => Some("debug"),
        Some(_) => Some("trace"),
    };
    let filter = match level {
        Some(level) => tracing_subscriber::EnvFilter::new(level),
        None => tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Builds the runtime, installs the Ctrl-C handler, runs `work`, and prints an error as one
/// `error: ...` line.
fn execute<F, Fut>(
    verbosity: Option<u8>,
    view: Option<(&TimelineArgs, &str)>,
    spinner: bool,
    work: F,
) -> ExitCode
where
    F: FnOnce(Cancel, Arc<TerminalSink>) -> Fut,
    Fut: std::future::Future<Output = Result<(), EngineError>>,
{
    init_logging(verbosity);
    // `--timeline`'s flags are checked before anything runs.
    let recording = match view.map(|(args, title)| Recording::new(args, title)) {
        Some(Ok(recording)) => recording.map(Arc::new),
        Some(Err(error)) => {
            eprintln!("{}", kubectl_error(&error));
            return ExitCode::from(1);
        }
        None => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let sink = Arc::new(TerminalSink::new(recording.clone(), spinner));
    let cancel = Cancel::new();
    let result = runtime.block_on(async {
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_signal.cancel();
                // A second Ctrl-C means "stop now", even inside a slow API call.
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            }
        });
        // SIGTERM (a detached update's pod deleted, its node drained; `timeout`; systemd)
        // stops like Ctrl-C: before the next change, the Leases released, resumable.
        let on_term = cancel.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut term) = signal(SignalKind::terminate())
                && term.recv().await.is_some()
            {
                on_term.cancel();
                if term.recv().await.is_some() {
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            }
        });
        let result = match &recording {
            Some(r) => match r.start().await {
                Ok(()) => work(cancel, sink.clone()).await,
                Err(e) => Err(e),
            },
            None => work(cancel, sink.clone()).await,
        };
        // However the work ended, the picture is drawn (Ctrl-C ends the work, not this).
        match &recording {
            Some(r) => match r.finish(&result).await {
                Ok(line) => {
                    sink.finish();
                    eprintln!("{line}");
                    result
                }
                Err(e) if result.is_ok() => Err(EngineError::Invalid(e)),
                Err(e) => {
                    eprintln!("error: {e}");
                    result
                }
            },
            None => result,
        }
    });
    sink.finish();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", kubectl_error(&error));
            if error.is_interrupted() {
                ExitCode::from(EXIT_INTERRUPTED)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

async fn context(
    cluster: &ClusterArgs,
    wait: &WaitArgs,
    invocation: &Invocation,
    cancel: Cancel,
    sink: Arc<TerminalSink>,
) -> Result<Ctx, EngineError> {
    let connected = rollout_engine::connect(&cluster.options).await?;
    Ok(Ctx::new(
        connected,
        sink,
        cancel,
        Timing {
            poll_interval: wait.poll_interval,
            timeout: wait.timeout,
        },
        Hints {
            program: invocation.program.clone(),
            flags: request::cluster_flags(cluster),
            resume: invocation.command.clone(),
        },
    ))
}

async fn rolling_update(
    args: &RollingUpdateArgs,
    cluster: &ClusterArgs,
    plugin: bool,
    invocation: &Invocation,
    cancel: Cancel,
    sink: Arc<TerminalSink>,
) -> Result<(), EngineError> {
    let (req, format) = request::rolling_update(args)?;
    let ctx = context(cluster, &args.wait, invocation, cancel, sink.clone()).await?;
    let program = if plugin {
        detach::Program::Plugin
    } else {
        detach::Program::KubiaRollout
    };
    let (req, format) = (&req, &format);
    let printer = sink.clone();
    detach::run(
        &ctx,
        &args.detach,
        program,
        &invocation.command,
        &sink,
        |ctx| async move {
            let outcome = rollout_engine::rolling::run(&ctx, req).await?;
            // Printed here, inside the run, so that a detached pod's Event quotes it.
            printer.print(&output::render(&outcome, format)?);
            Ok(())
        },
    )
    .await
    .map(drop)
}

/// kubectl's answer to an unknown flag (`error: unknown flag: --x`, a pointer to `--help`,
/// exit 1); clap's own handling for everything else (help, version, bad values: exit 2).
fn kubectl_usage_error(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ErrorKind};
    if e.kind() == ErrorKind::UnknownArgument {
        let flag = e
            .get(ContextKind::InvalidArg)
            .map(|v| v.to_string())
            .unwrap_or_default();
        let flag = flag.split('=').next().unwrap_or_default();
        let what = if flag.starts_with("--") || !flag.starts_with('-') {
            format!("unknown flag: {flag}")
        } else {
            format!(
                "unknown shorthand flag: '{}' in {flag}",
                flag.trim_start_matches('-')
            )
        };
        eprintln!("error: {what}\nSee 'kubectl rolling-update --help' for usage.");
        return ExitCode::from(1);
    }
    e.exit()
}

/// `kubectl-rolling_update`.
pub fn plugin_main() -> ExitCode {
    let cli = match <PluginCli as clap::Parser>::try_parse() {
        Ok(cli) => cli,
        Err(e) => return kubectl_usage_error(e),
    };
    let invocation = Invocation::from_args(true);
    let (cli, invocation) = (&cli, &invocation);
    let title = invocation.command.clone();
    let view = Some((&cli.update.view, title.as_str()));
    execute(
        cli.cluster.verbosity,
        view,
        true,
        |cancel, sink| async move {
            rolling_update(&cli.update, &cli.cluster, true, invocation, cancel, sink).await
        },
    )
}

/// `kubia-rollout`.
pub fn kubia_rollout_main() -> ExitCode {
    let cli = <KubiaRolloutCli as clap::Parser>::parse();
    // The two commands that need no cluster.
    match &cli.command {
        Command::Completion(args) => {
            crate::generate::completion(args.shell, &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::GenerateMan(args) => {
            return match crate::generate::man_pages(&args.dir) {
                Ok(pages) => {
                    for page in pages {
                        println!("{}", page.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: writing man pages into {}: {e}", args.dir.display());
                    ExitCode::from(1)
                }
            };
        }
        _ => {}
    }
    let invocation = Invocation::from_args(false);
    let (cli, invocation) = (&cli, &invocation);
    let title = invocation.command.clone();
    let view = job::view(&cli.command).map(|v| (v, title.as_str()));
    // `status` draws its own display.
    let spinner = !matches!(cli.command, Command::Status(_));
    execute(
        cli.cluster.verbosity,
        view,
        spinner,
        |cancel, sink| async move { dispatch(cli, invocation, cancel, sink).await },
    )
}

async fn dispatch(
    cli: &KubiaRolloutCli,
    invocation: &Invocation,
    cancel: Cancel,
    sink: Arc<TerminalSink>,
) -> Result<(), EngineError> {
    let cluster = &cli.cluster;
    if let Command::RollingUpdate(args) = &cli.command {
        return rolling_update(args, cluster, false, invocation, cancel, sink).await;
    }
    let Some((job, wait)) = job::job(&cli.command)? else {
        // Completion and man pages were handled before any runtime (kubia_rollout_main).
        return Ok(());
    };
    let ctx = context(cluster, &wait, invocation, cancel, sink.clone()).await?;
    if let Some(args) = job::detach(&cli.command) {
        let program = detach::Program::KubiaRollout;
        return detach::run(
            &ctx,
            args,
            program,
            &invocation.command,
            &sink,
            |ctx| async move {
                match job {
                    Job::Recreate(req) => recreate::run(&ctx, &req).await,
                    Job::BlueGreen(req) => blue_green::deploy(&ctx, &req).await,
                    Job::Canary(req) => canary::start(&ctx, &req).await,
                    _ => Err(EngineError::Inconsistent(
                        "--detach on a command that does not update".to_owned(),
                    )),
                }
            },
        )
        .await
        .map(drop);
    }
    match job {
        Job::Recreate(req) => recreate::run(&ctx, &req).await,
        Job::BlueGreen(req) => blue_green::deploy(&ctx, &req).await,
        Job::SwitchBack(r) => blue_green::switch_back(&ctx, &r).await,
        Job::Cleanup(r) => blue_green::cleanup(&ctx, &r).await,
        Job::Canary(req) => canary::start(&ctx, &req).await,
        Job::Promote(r) => canary::promote(&ctx, &r).await,
        Job::Abort(r) => canary::abort(&ctx, &r).await,
        Job::Status(rc) => rollout_engine::status::run(&ctx, rc.as_deref())
            .await
            .map(|_| ()),
        Job::Watch(rc) => crate::watch::run(&ctx, rc.as_deref()).await,
    }
}

/// How kubectl 1.17 printed an error (`cmdutil.CheckErr`): an API server's NotFound as
/// `Error from server (NotFound): …`, a usage error followed by its pointer to the help,
/// anything else as `error: …`; the message itself on one line.
fn kubectl_error(error: &EngineError) -> String {
    let message = error.to_string().replace('\n', " ");
    match error {
        EngineError::RcNotFound(_) | EngineError::ServiceNotFound(_) => {
            format!("Error from server (NotFound): {message}")
        }
        EngineError::Usage(_) => {
            format!("error: {message}\nSee 'kubectl rolling-update -h' for help and examples")
        }
        _ => format!("error: {message}"),
    }
}
