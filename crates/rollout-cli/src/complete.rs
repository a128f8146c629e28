//! `kubectl_complete-rolling_update`: the arguments of `kubectl rolling-update` completed by
//! kubectl itself. kubectl (>= 1.26) runs `kubectl_complete-<plugin> WORD… PARTIAL` for a
//! plugin and passes what it prints to the shell: one candidate per line (`value<TAB>help`),
//! then `:<directive>` (cobra's `ShellCompDirective` bits). See kubectl's
//! `pkg/cmd/plugin_completion.go`.
//!
//! The decision (what the words typed so far ask for) is pure and works on any clap
//! command, subcommands included ([`query`]); only [`resolve`] talks to the cluster (RC
//! names, an RC's image and containers, namespaces) or reads the kubeconfig (contexts).

use clap::{Arg, ArgAction, Args, Command, CommandFactory, Parser};

use crate::args::{ClusterArgs, PluginCli};

pub mod resolve;
#[cfg(test)]
mod tests;

/// Cobra's directives: what the shell does besides offering the candidates.
pub mod directive {
    /// Also offer file names when there is no candidate.
    pub const DEFAULT: u32 = 0;
    /// Do not add a space after the completion (a value still to be typed after `=`).
    pub const NO_SPACE: u32 = 2;
    /// Never offer file names.
    pub const NO_FILE_COMP: u32 = 4;
    /// The candidates are file extensions to filter file names by.
    pub const FILTER_FILE_EXT: u32 = 8;
}

/// One completion and the help the shell may show beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// What the shell inserts.
    pub value: String,
    /// A short description (first line of the flag's help, say).
    pub help: String,
}

impl Candidate {
    fn new(value: impl Into<String>, help: impl Into<String>) -> Candidate {
        Candidate {
            value: value.into(),
            help: help.into(),
        }
    }
}

/// What has to be looked up for the word being completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing beyond the fixed candidates.
    None,
    /// The replication controllers in the namespace.
    RcNames,
    /// The current images of RC `rc` (of its container `container`, when given).
    RcImage {
        /// The RC (`OLD`).
        rc: String,
        /// `--container`, if typed.
        container: Option<String>,
    },
    /// The container names of RC `rc`.
    RcContainers {
        /// The RC (`OLD`).
        rc: String,
    },
    /// The cluster's namespaces.
    Namespaces,
    /// The kubeconfig's contexts.
    Contexts,
    /// File names, with these extensions (empty: any file).
    Files(Vec<&'static str>),
}

/// The answer to compute: fixed candidates, something to look up, the prefix typed so far
/// (candidates not starting with it are dropped), and the cluster flags typed (where to look).
#[derive(Debug, Clone)]
pub struct Query {
    /// Candidates known without asking anyone (flags, subcommands, enumerated values).
    pub fixed: Vec<Candidate>,
    /// What to look up besides.
    pub lookup: Lookup,
    /// The partial word.
    pub prefix: String,
    /// `-n`, `--context`, `--kubeconfig`, … as typed.
    pub cluster: ClusterArgs,
}

/// The values some flags take, offered as they are (the flags parse them as strings).
fn enumerated(long: &str) -> Option<&'static [&'static str]> {
    Some(match long {
        "image-pull-policy" => &["Always", "IfNotPresent", "Never"],
        "output" => &["name", "yaml", "json", "jsonpath=", "jsonpath-file="],
        "dry-run" => &["client", "none"],
        "on-failure" => &["stop", "rollback"],
        "validate" => &["strict", "warn", "ignore"],
        "insecure-skip-tls-verify" | "allow-missing-template-keys" => &["true", "false"],
        _ => return None,
    })
}

/// Positionals that name an existing replication controller (by their value name).
const RC_POSITIONALS: [&str; 2] = ["OLD", "RC"];

/// What `words` (complete, as typed after the command) and the partial word `partial` ask
/// for, on `command`.
pub fn query(command: &Command, words: &[String], partial: &str) -> Query {
    let mut root = command.clone();
    root.build();
    let mut cmd = &root;
    let mut positionals: Vec<String> = Vec::new();
    let mut given: Vec<(String, String)> = Vec::new();
    let mut pending: Option<&Arg> = None;
    let mut only_positionals = false;

    for word in words {
        if let Some(arg) = pending.take() {
            given.push((arg.get_id().to_string(), word.clone()));
            continue;
        }
        if only_positionals || !word.starts_with('-') || word == "-" {
            if positionals.is_empty()
                && let Some(sub) = cmd.find_subcommand(word)
            {
                cmd = sub;
                continue;
            }
            positionals.push(word.clone());
            continue;
        }
        if word == "--" {
            only_positionals = true;
            continue;
        }
        let (arg, inline) = flag_of(cmd, word);
        let Some(arg) = arg else { continue };
        match inline {
            Some(value) => given.push((arg.get_id().to_string(), value)),
            None if takes_required_value(arg) => pending = Some(arg),
            None => given.push((arg.get_id().to_string(), String::new())),
        }
    }

    let cluster = cluster_args(&given);
    let mut q = Query {
        fixed: Vec::new(),
        lookup: Lookup::None,
        prefix: partial.to_owned(),
        cluster,
    };
    if let Some(arg) = pending {
        values_of(arg, &positionals, &given, &mut q);
        return q;
    }
    if !only_positionals && partial.starts_with('-') {
        if let Some((name, value)) = partial.strip_prefix("--").and_then(|p| p.split_once('=')) {
            // `--flag=partial`: the value, bare, as cobra completes its own flags.
            q.prefix = value.to_owned();
            if let Some(arg) = cmd.get_arguments().find(|a| a.get_long() == Some(name)) {
                values_of(arg, &positionals, &given, &mut q);
            }
            return q;
        }
        q.fixed = flags(cmd, &given);
        return q;
    }
    if positionals.is_empty() {
        q.fixed.extend(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .map(|s| {
                    Candidate::new(
                        s.get_name(),
                        s.get_about().map(first_line).unwrap_or_default(),
                    )
                }),
        );
    }
    if let Some(arg) = positional_at(cmd, positionals.len()) {
        if arg
            .get_value_names()
            .is_some_and(|names| names.iter().any(|n| RC_POSITIONALS.contains(&n.as_str())))
        {
            q.lookup = Lookup::RcNames;
        }
        q.fixed.extend(possible_values(arg));
    }
    q
}

/// The flag a word names, and its value when written `--flag=value`, `-nvalue` or `-n=value`.
fn flag_of<'c>(cmd: &'c Command, word: &str) -> (Option<&'c Arg>, Option<String>) {
    if let Some(long) = word.strip_prefix("--") {
        let (name, value) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (long, None),
        };
        let arg = cmd.get_arguments().find(|a| {
            a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
        });
        return (arg, value);
    }
    let mut chars = word[1..].chars();
    let Some(short) = chars.next() else {
        return (None, None);
    };
    let arg = cmd.get_arguments().find(|a| a.get_short() == Some(short));
    let rest = chars.as_str();
    let rest = rest.strip_prefix('=').unwrap_or(rest);
    let value =
        (arg.is_some_and(takes_required_value) && !rest.is_empty()).then(|| rest.to_owned());
    (arg, value)
}

/// Whether the flag needs a value in the next word when none is attached.
fn takes_required_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
        && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
        && !arg.is_require_equals_set()
}

/// The positional taking the `index`-th positional word (a last positional taking several
/// words takes all the rest).
fn positional_at(cmd: &Command, index: usize) -> Option<&Arg> {
    let mut seen = 0;
    for arg in cmd.get_positionals() {
        let takes = arg.get_num_args().map_or(1, |n| n.max_values());
        if index < seen + takes {
            return Some(arg);
        }
        seen = seen.saturating_add(takes);
    }
    None
}

/// The visible long flags of `cmd` not given yet (repeatable ones always).
fn flags(cmd: &Command, given: &[(String, String)]) -> Vec<Candidate> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_positional())
        .filter(|a| {
            matches!(a.get_action(), ArgAction::Append | ArgAction::Count)
                || !given.iter().any(|(id, _)| id == a.get_id().as_str())
        })
        .filter_map(|a| {
            let long = a.get_long()?;
            Some(Candidate::new(
                format!("--{long}"),
                a.get_help().map(first_line).unwrap_or_default(),
            ))
        })
        .collect()
}

/// The values of flag `arg`.
fn values_of(arg: &Arg, positionals: &[String], given: &[(String, String)], q: &mut Query) {
    let long = arg.get_long().unwrap_or_default();
    let rc = positionals
        .first()
        .map(|rc| crate::request::strip_kind(rc).to_owned());
    let value = |id: &str| {
        given
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, v)| v.clone())
    };
    if let Some(values) = enumerated(long) {
        q.fixed = values.iter().map(|v| Candidate::new(*v, "")).collect();
        return;
    }
    let possible = possible_values(arg);
    if !possible.is_empty() {
        q.fixed = possible;
        return;
    }
    q.lookup = match long {
        "image" => rc.map_or(Lookup::None, |rc| Lookup::RcImage {
            rc,
            container: value("container"),
        }),
        "container" => rc.map_or(Lookup::None, |rc| Lookup::RcContainers { rc }),
        "namespace" => Lookup::Namespaces,
        "context" => Lookup::Contexts,
        "filename" => Lookup::Files(vec!["yaml", "yml", "json"]),
        "kubeconfig"
        | "certificate-authority"
        | "client-certificate"
        | "client-key"
        | "template" => Lookup::Files(Vec::new()),
        _ => Lookup::None,
    };
}

/// The values clap itself enumerates for `arg` (a `ValueEnum`, say).
fn possible_values(arg: &Arg) -> Vec<Candidate> {
    arg.get_possible_values()
        .iter()
        .filter(|p| !p.is_hide_set())
        .map(|p| {
            Candidate::new(
                p.get_name(),
                p.get_help().map(first_line).unwrap_or_default(),
            )
        })
        .collect()
}

/// The cluster flags among those given, parsed by clap as the command itself would.
fn cluster_args(given: &[(String, String)]) -> ClusterArgs {
    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        cluster: ClusterArgs,
    }
    let ids: Vec<String> = ClusterArgs::augment_args(Command::new("only"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    let only = Only::command();
    let mut argv = vec!["only".to_owned()];
    for (id, value) in given.iter().filter(|(id, _)| ids.contains(id)) {
        if let Some(long) = only
            .get_arguments()
            .find(|a| a.get_id().as_str() == id)
            .and_then(Arg::get_long)
        {
            argv.push(format!("--{long}={value}"));
        }
    }
    Only::try_parse_from(argv)
        .map(|o| o.cluster)
        .unwrap_or_default()
}

/// The first sentence of a help text: what a shell has room for beside a candidate.
fn first_line(text: &clap::builder::StyledStr) -> String {
    let text = text.to_string();
    let line = text.lines().next().unwrap_or_default();
    match line.find(". ") {
        Some(end) => line[..=end].to_owned(),
        None => line.to_owned(),
    }
}

/// The lines kubectl expects: the candidates starting with `prefix`, then the directive.
pub fn render(candidates: &[Candidate], prefix: &str, mut directive: u32) -> String {
    let mut out = String::new();
    let kept: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.value.starts_with(prefix))
        .collect();
    if !kept.is_empty() && kept.iter().all(|c| c.value.ends_with('=')) {
        directive |= directive::NO_SPACE;
    }
    for c in kept {
        out.push_str(&c.value);
        if !c.help.is_empty() {
            out.push('\t');
            out.push_str(&c.help);
        }
        out.push('\n');
    }
    out.push_str(&format!(":{directive}\n"));
    out
}

/// `kubectl_complete-rolling_update WORD… PARTIAL`.
pub fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let partial = args.pop().unwrap_or_default();
    let q = query(&PluginCli::command(), &args, &partial);
    print!("{}", resolve::answer(q));
    std::process::ExitCode::SUCCESS
}
