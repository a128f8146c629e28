//! kubectl's `-o` printing of the final object and of `--dry-run`.

use std::str::FromStr;

use k8s_openapi::api::core::v1::ReplicationController;

use crate::error::EngineError;
use crate::labels::name_of;
use crate::rolling::Outcome;

/// `-o`: how to print the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// kubectl's default: `replicationcontroller/NAME <operation>`; for `--dry-run` YAML.
    #[default]
    Default,
    /// `replicationcontroller/NAME`.
    Name,
    /// The object as YAML.
    Yaml,
    /// The object as JSON.
    Json,
}

impl FromStr for OutputFormat {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" => Ok(OutputFormat::Default),
            "name" => Ok(OutputFormat::Name),
            "yaml" => Ok(OutputFormat::Yaml),
            "json" => Ok(OutputFormat::Json),
            other => Err(EngineError::invalid(format!(
                "unable to match a printer suitable for the output format {other:?}, allowed formats are: json,name,yaml"
            ))),
        }
    }
}

/// The object without server bookkeeping that kubectl hides by default (managedFields).
fn printable(rc: &ReplicationController) -> ReplicationController {
    let mut rc = rc.clone();
    rc.metadata.managed_fields = None;
    rc
}

/// One object in `format`, ending with a newline.
fn object(rc: &ReplicationController, format: OutputFormat) -> Result<String, EngineError> {
    let encode_error = |e: &dyn std::fmt::Display| {
        EngineError::Inconsistent(format!("cannot print {}: {e}", name_of(rc)))
    };
    match format {
        OutputFormat::Name => Ok(format!("replicationcontroller/{}\n", name_of(rc))),
        OutputFormat::Json => serde_json::to_string_pretty(&printable(rc))
            .map(|s| s + "\n")
            .map_err(|e| encode_error(&e)),
        OutputFormat::Default | OutputFormat::Yaml => {
            serde_yaml::to_string(&printable(rc)).map_err(|e| encode_error(&e))
        }
    }
}

/// What the CLI prints on stdout after the progress lines.
pub fn render(outcome: &Outcome, format: OutputFormat) -> Result<String, EngineError> {
    match outcome {
        Outcome::DryRun { old, new } => Ok(format!(
            "Rolling from:\n{}To:\n{}",
            object(old, format)?,
            object(new, format)?
        )),
        Outcome::Done { rc, message } => match format {
            OutputFormat::Default => {
                Ok(format!("replicationcontroller/{} {message}\n", name_of(rc)))
            }
            other => object(rc, other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!("".parse::<OutputFormat>().ok(), Some(OutputFormat::Default));
        assert_eq!(
            "name".parse::<OutputFormat>().ok(),
            Some(OutputFormat::Name)
        );
        assert!("wide".parse::<OutputFormat>().is_err());
        let mut rc = crate::derive::tests::tutorial_rc();
        rc.metadata.name = Some("kubia-v2".into());
        let done = Outcome::Done {
            rc: Box::new(rc.clone()),
            message: "rolling updated to \"kubia-v2\"".into(),
        };
        assert_eq!(
            render(&done, OutputFormat::Default).ok().as_deref(),
            Some("replicationcontroller/kubia-v2 rolling updated to \"kubia-v2\"\n")
        );
        assert_eq!(
            render(&done, OutputFormat::Name).ok().as_deref(),
            Some("replicationcontroller/kubia-v2\n")
        );
        let yaml = render(&done, OutputFormat::Yaml).unwrap_or_default();
        assert!(
            yaml.starts_with("apiVersion: v1\nkind: ReplicationController\n"),
            "{yaml}"
        );
        assert!(yaml.contains("image: luksa/kubia:v1"));
        let json = render(&done, OutputFormat::Json).unwrap_or_default();
        assert!(json.contains("\"kind\": \"ReplicationController\""));

        let dry = Outcome::DryRun {
            old: Box::new(crate::derive::tests::tutorial_rc()),
            new: Box::new(rc),
        };
        let text = render(&dry, OutputFormat::Default).unwrap_or_default();
        assert!(
            text.starts_with("Rolling from:\napiVersion: v1\n"),
            "{text}"
        );
        assert!(text.contains("\nTo:\napiVersion: v1\n"));
        assert_eq!(
            render(&dry, OutputFormat::Name).ok().as_deref(),
            Some(
                "Rolling from:\nreplicationcontroller/kubia-v1\nTo:\nreplicationcontroller/kubia-v2\n"
            )
        );
    }
}
