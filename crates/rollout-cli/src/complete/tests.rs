//! The completion decisions, on the plugin's and on kubia-rollout's clap commands.

use clap::CommandFactory;

use super::*;
use crate::args::KubiaRolloutCli;

fn plugin(line: &str, partial: &str) -> Query {
    let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    query(&PluginCli::command(), &words, partial)
}

fn values(q: &Query) -> Vec<String> {
    q.fixed
        .iter()
        .filter(|c| c.value.starts_with(&q.prefix))
        .map(|c| c.value.clone())
        .collect()
}

#[test]
fn the_first_word_is_an_rc_name() {
    let q = plugin("", "kub");
    assert_eq!(q.lookup, Lookup::RcNames);
    assert_eq!(q.prefix, "kub");
    // After the cluster flags too, which are not positionals.
    let q = plugin("-n dev --context=lab", "");
    assert_eq!(q.lookup, Lookup::RcNames);
    assert_eq!(q.cluster.options.namespace.as_deref(), Some("dev"));
    assert_eq!(q.cluster.options.context.as_deref(), Some("lab"));
}

#[test]
fn the_second_word_is_a_new_name_with_nothing_to_offer() {
    let q = plugin("kubia-v1", "");
    assert_eq!(q.lookup, Lookup::None);
    assert!(q.fixed.is_empty());
}

#[test]
fn image_is_completed_from_the_old_rcs_image_in_both_spellings() {
    let expected = Lookup::RcImage {
        rc: "kubia-v1".into(),
        container: None,
    };
    assert_eq!(plugin("kubia-v1 kubia-v2 --image", "").lookup, expected);
    let q = plugin("rc/kubia-v1 kubia-v2", "--image=luk");
    assert_eq!(q.lookup, expected);
    assert_eq!(
        q.prefix, "luk",
        "the value is completed bare, as cobra does"
    );
    let q = plugin("kubia-v1 --container=web --image", "");
    assert_eq!(
        q.lookup,
        Lookup::RcImage {
            rc: "kubia-v1".into(),
            container: Some("web".into())
        }
    );
    // No RC typed yet: nothing to look at.
    assert_eq!(plugin("--image", "").lookup, Lookup::None);
}

#[test]
fn flags_are_offered_once_with_their_help() {
    let q = plugin("kubia-v1 --image=x", "--");
    let flags = values(&q);
    assert!(flags.contains(&"--update-period".to_owned()), "{flags:?}");
    assert!(flags.contains(&"--namespace".to_owned()));
    assert!(
        !flags.contains(&"--image".to_owned()),
        "--image was given already"
    );
    let help = q.fixed.iter().find(|c| c.value == "--rollback").unwrap();
    assert!(
        help.help.starts_with("Abort an existing rollout"),
        "{help:?}"
    );
    let q = plugin("", "--roll");
    assert_eq!(values(&q), ["--rollback"]);
}

#[test]
fn enumerated_values_and_files() {
    assert_eq!(
        values(&plugin("kubia-v1 --image-pull-policy", "")),
        ["Always", "IfNotPresent", "Never"]
    );
    assert_eq!(
        values(&plugin("kubia-v1", "--output=j")),
        ["json", "jsonpath=", "jsonpath-file="]
    );
    assert_eq!(
        plugin("kubia-v1 -f", "").lookup,
        Lookup::Files(vec!["yaml", "yml", "json"])
    );
    assert_eq!(plugin("--kubeconfig", "").lookup, Lookup::Files(vec![]));
    assert_eq!(plugin("-n", "ku").lookup, Lookup::Namespaces);
    assert_eq!(plugin("--context", "").lookup, Lookup::Contexts);
}

#[test]
fn a_value_given_as_the_next_word_is_not_a_positional() {
    // `--update-period 1s` takes "1s"; kubia-v2 is still the second positional.
    let q = plugin("kubia-v1 --update-period 1s kubia-v2 --image", "");
    assert!(matches!(q.lookup, Lookup::RcImage { ref rc, .. } if rc == "kubia-v1"));
    // `--dry-run` takes its value only after `=`: the next word is a positional.
    let q = plugin("--dry-run", "");
    assert_eq!(q.lookup, Lookup::RcNames);
}

#[test]
fn subcommands_and_their_arguments() {
    let cmd = KubiaRolloutCli::command();
    let q = query(&cmd, &[], "ca");
    assert_eq!(values(&q), ["canary"]);
    assert!(!values(&query(&cmd, &[], "")).contains(&"generate-man".to_owned()));
    // `canary <TAB>`: an action or the stable RC.
    let q = query(&cmd, &["canary".into()], "");
    assert_eq!(values(&q), ["promote", "abort"]);
    assert_eq!(q.lookup, Lookup::RcNames);
    let q = query(
        &cmd,
        &["recreate".into(), "kubia".into(), "--image".into()],
        "",
    );
    assert!(matches!(q.lookup, Lookup::RcImage { ref rc, .. } if rc == "kubia"));
    let q = query(&cmd, &["completion".into()], "");
    assert!(values(&q).contains(&"zsh".to_owned()));
}

#[test]
fn render_is_cobras_format() {
    let c = [
        Candidate::new("kubia-v1", "ReplicationController"),
        Candidate::new("other", ""),
    ];
    assert_eq!(
        render(&c, "", directive::NO_FILE_COMP),
        "kubia-v1\tReplicationController\nother\n:4\n"
    );
    assert_eq!(
        render(&c, "kub", 4),
        "kubia-v1\tReplicationController\n:4\n"
    );
    // A value still to be typed after `=`: no space.
    let c = [Candidate::new("jsonpath=", "")];
    assert_eq!(render(&c, "", 4), "jsonpath=\n:6\n");
}
