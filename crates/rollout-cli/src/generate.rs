//! What `cargo xtask dist` ships beside the binaries, generated from the same clap
//! definitions the binaries parse with, so they cannot drift: shell completion scripts for
//! `kubia-rollout` (clap_complete) and man pages for both commands (clap_mangen).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::args::{KubiaRolloutCli, PluginCli};

/// Writes `kubia-rollout`'s completion script for `shell` to `out`.
pub fn completion(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = without_hidden_subcommands(KubiaRolloutCli::command());
    clap_complete::generate(shell, &mut cmd, "kubia-rollout", out);
}

/// The command as completion sees it: clap_complete's bash script would offer hidden
/// subcommands (`generate-man`) with the visible ones.
fn without_hidden_subcommands(cmd: clap::Command) -> clap::Command {
    let visible: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new("kubia-rollout")
        .version(crate::args::VERSION)
        .args(cmd.get_arguments().cloned())
        .subcommands(visible)
}

/// Writes the man pages into `dir`: `kubectl-rolling_update.1`, `kubia-rollout.1` and one
/// page per subcommand (`kubia-rollout-canary.1`, `kubia-rollout-canary-promote.1`, …).
/// Returns the files written.
pub fn man_pages(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    // The plugin's clap name is what users type, `kubectl rolling-update`; its page is named
    // after the executable, as `man kubectl-rolling_update` finds it.
    let plugin = PluginCli::command();
    let path = dir.join("kubectl-rolling_update.1");
    let mut page = Vec::new();
    clap_mangen::Man::new(plugin).render(&mut page)?;
    std::fs::write(&path, page)?;
    written.push(path);

    // One page per visible subcommand, named as clap_mangen names them (`kubia-rollout-canary.1`).
    clap_mangen::generate_to(KubiaRolloutCli::command(), dir)?;
    let mut pages: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "1")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("kubia-rollout"))
        })
        .collect();
    pages.sort();
    written.extend(pages);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_completion_knows_every_subcommand() {
        let mut out = Vec::new();
        completion(clap_complete::Shell::Bash, &mut out);
        let script = String::from_utf8(out).unwrap();
        for sub in [
            "rolling-update",
            "recreate",
            "blue-green",
            "canary",
            "status",
        ] {
            assert!(script.contains(sub), "{sub} missing from the bash script");
        }
        assert!(
            !script.contains("generate-man"),
            "a hidden command is offered"
        );
    }

    #[test]
    fn man_pages_cover_both_commands_and_each_subcommand() {
        let dir = std::env::temp_dir().join(format!("rollout-man-{}", std::process::id()));
        let written = man_pages(&dir).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for page in [
            "kubectl-rolling_update.1",
            "kubia-rollout.1",
            "kubia-rollout-canary.1",
            "kubia-rollout-canary-promote.1",
            "kubia-rollout-blue-green-switch-back.1",
        ] {
            assert!(names.contains(&page.to_owned()), "{page} not in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("generate-man")));
        let plugin = std::fs::read_to_string(dir.join("kubectl-rolling_update.1")).unwrap();
        assert!(
            plugin.contains("\\-\\-image"),
            "the plugin's page lists --image"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
