//! kubectl's `-o` printing of the final object and of `--dry-run`.

use std::str::FromStr;

use k8s_openapi::api::core::v1::ReplicationController;

use rollout_engine::EngineError;
use rollout_engine::Outcome;
use rollout_engine::model::labels::name_of;

/// `-o`: how to print the result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// kubectl's default: `replicationcontroller/NAME <operation>`; for `--dry-run` the two
    /// controllers' names.
    #[default]
    Default,
    /// `replicationcontroller/NAME`.
    Name,
    /// The object as YAML.
    Yaml,
    /// The object as JSON.
    Json,
    /// `jsonpath=TEMPLATE`: the template rendered against the object (see [`crate::jsonpath`]).
    JsonPath {
        /// The template text.
        template: String,
        /// kubectl's `--allow-missing-template-keys` (default true): a missing field prints
        /// nothing instead of failing.
        allow_missing_keys: bool,
    },
}

impl OutputFormat {
    /// `-o jsonpath` with a template that parses: a bad one is refused with the flags,
    /// before the update writes anything (not after it has run).
    fn json_path(template: &str, allow_missing_keys: bool) -> Result<Self, EngineError> {
        crate::jsonpath::check(template).map_err(|e| EngineError::invalid(e.to_string()))?;
        Ok(OutputFormat::JsonPath {
            template: template.to_owned(),
            allow_missing_keys,
        })
    }

    /// kubectl's printer flags together: `-o`, `--template` and
    /// `--allow-missing-template-keys`. `-o jsonpath` takes its template from `--template`,
    /// `-o jsonpath-file=F` (or `--template F`) from a file. Go templates are refused.
    pub fn from_flags(
        output: Option<&str>,
        template: Option<&str>,
        allow_missing_keys: bool,
    ) -> Result<Self, EngineError> {
        let output = output.unwrap_or("");
        let (kind, inline) = match output.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (output, None),
        };
        let template = inline.filter(|t| !t.is_empty()).or(template);
        let no_template =
            || EngineError::invalid("template format specified but no template given");
        match kind {
            "jsonpath" => {
                OutputFormat::json_path(template.ok_or_else(no_template)?, allow_missing_keys)
            }
            "jsonpath-file" => {
                let file = template.ok_or_else(no_template)?;
                let text = std::fs::read_to_string(file).map_err(|e| {
                    EngineError::invalid(format!("error reading --template {file}: {e}"))
                })?;
                OutputFormat::json_path(text.trim_end_matches('\n'), allow_missing_keys)
            }
            "go-template" | "go-template-file" | "template" | "templatefile" => {
                Err(EngineError::invalid(format!(
                    "-o {kind} is not supported: Go templates need Go's text/template; use -o jsonpath=TEMPLATE"
                )))
            }
            "" if template.is_some() => Err(EngineError::invalid(
                "--template needs -o jsonpath or -o jsonpath-file (kubectl's default there, a Go template, is not supported)",
            )),
            _ => output.parse(),
        }
    }
}

impl FromStr for OutputFormat {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" => Ok(OutputFormat::Default),
            "name" => Ok(OutputFormat::Name),
            "yaml" => Ok(OutputFormat::Yaml),
            "json" => Ok(OutputFormat::Json),
            other => match other.strip_prefix("jsonpath=") {
                Some(t) if !t.is_empty() => OutputFormat::json_path(t, true),
                Some(_) => Err(EngineError::invalid(
                    "template format specified but no template given",
                )),
                None => Err(EngineError::invalid(format!(
                    "unable to match a printer suitable for the output format {other:?}, allowed formats are: json,jsonpath,jsonpath-file,name,yaml"
                ))),
            },
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
fn object(rc: &ReplicationController, format: &OutputFormat) -> Result<String, EngineError> {
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
        OutputFormat::JsonPath {
            template,
            allow_missing_keys,
        } => {
            let value = serde_json::to_value(printable(rc)).map_err(|e| encode_error(&e))?;
            crate::jsonpath::render_with(template, &value, *allow_missing_keys)
                .map_err(|e| EngineError::invalid(e.to_string()))
        }
    }
}

/// What the CLI prints on stdout after the progress lines.
///
/// `--dry-run` prints exactly what kubectl 1.17 printed: `Rolling from:`, the old controller,
/// `To:`, the new one, each followed by a newline; without `-o` the controllers are their
/// names, with `-o` the printed objects (whose own final newline leaves an empty line).
pub fn render(outcome: &Outcome, format: &OutputFormat) -> Result<String, EngineError> {
    match outcome {
        Outcome::DryRun { old, new } => {
            let (old, new) = match format {
                OutputFormat::Default => (name_of(old).to_owned(), name_of(new).to_owned()),
                other => (object(old, other)?, object(new, other)?),
            };
            Ok(format!("Rolling from:\n{old}\nTo:\n{new}\n"))
        }
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
    use k8s_fixtures::RcFixture;

    #[test]
    fn a_bad_template_is_refused_with_the_flags() {
        for (o, t) in [
            (Some("jsonpath={.metadata.name"), None),
            (Some("jsonpath"), Some("{range .items[*]}")),
            (Some("jsonpath={end}"), None),
        ] {
            let err = OutputFormat::from_flags(o, t, true)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains("jsonpath")),
                "{o:?} {t:?}: {err:?}"
            );
        }
        assert!("jsonpath={.metadata.name".parse::<OutputFormat>().is_err());
        assert!(OutputFormat::from_flags(Some("jsonpath={.metadata.name}"), None, true).is_ok());
    }

    #[test]
    fn formats() {
        assert_eq!("".parse::<OutputFormat>().ok(), Some(OutputFormat::Default));
        assert_eq!(
            "name".parse::<OutputFormat>().ok(),
            Some(OutputFormat::Name)
        );
        assert!("wide".parse::<OutputFormat>().is_err());
        let mut rc = ReplicationController::test();
        rc.metadata.name = Some("kubia-v2".into());
        let done = Outcome::Done {
            rc: Box::new(rc.clone()),
            message: "rolling updated to \"kubia-v2\"".into(),
        };
        assert_eq!(
            render(&done, &OutputFormat::Default).ok().as_deref(),
            Some("replicationcontroller/kubia-v2 rolling updated to \"kubia-v2\"\n")
        );
        assert_eq!(
            render(&done, &OutputFormat::Name).ok().as_deref(),
            Some("replicationcontroller/kubia-v2\n")
        );
        let yaml = render(&done, &OutputFormat::Yaml).unwrap_or_default();
        assert!(
            yaml.starts_with("apiVersion: v1\nkind: ReplicationController\n"),
            "{yaml}"
        );
        assert!(yaml.contains("image: luksa/kubia:v1"));
        let json = render(&done, &OutputFormat::Json).unwrap_or_default();
        assert!(json.contains("\"kind\": \"ReplicationController\""));

        let dry = Outcome::DryRun {
            old: Box::new(ReplicationController::test()),
            new: Box::new(rc),
        };
        assert_eq!(
            render(&dry, &OutputFormat::Default).ok().as_deref(),
            Some("Rolling from:\nkubia-v1\nTo:\nkubia-v2\n")
        );
        let text = render(&dry, &OutputFormat::Yaml).unwrap_or_default();
        assert!(
            text.starts_with("Rolling from:\napiVersion: v1\n"),
            "{text}"
        );
        assert!(text.contains("\n\nTo:\napiVersion: v1\n"));
        assert_eq!(
            render(&dry, &OutputFormat::Name).ok().as_deref(),
            Some(
                "Rolling from:\nreplicationcontroller/kubia-v1\n\nTo:\nreplicationcontroller/kubia-v2\n\n"
            )
        );
        assert_eq!(
            render(
                &dry,
                &"jsonpath={.metadata.name}".parse().unwrap_or_default()
            )
            .ok()
            .as_deref(),
            Some("Rolling from:\nkubia-v1\nTo:\nkubia-v2\n")
        );
    }

    #[test]
    fn printer_flags_combine_as_kubectls() {
        let f = |o: Option<&str>, t: Option<&str>| OutputFormat::from_flags(o, t, true);
        let jp = |t: &str| OutputFormat::JsonPath {
            template: t.to_owned(),
            allow_missing_keys: true,
        };
        assert_eq!(f(Some("jsonpath={.a}"), None).ok(), Some(jp("{.a}")));
        assert_eq!(f(Some("jsonpath"), Some("{.b}")).ok(), Some(jp("{.b}")));
        assert_eq!(f(Some("yaml"), None).ok(), Some(OutputFormat::Yaml));
        assert_eq!(f(None, None).ok(), Some(OutputFormat::Default));
        let dir = std::env::temp_dir().join(format!("jsonpath-file-{}", std::process::id()));
        std::fs::write(&dir, "{.c}\n").ok();
        let file = dir.to_string_lossy().into_owned();
        assert_eq!(
            f(Some(&format!("jsonpath-file={file}")), None).ok(),
            Some(jp("{.c}"))
        );
        assert_eq!(f(Some("jsonpath-file"), Some(&file)).ok(), Some(jp("{.c}")));
        std::fs::remove_file(&dir).ok();
        let err = |o: Option<&str>, t: Option<&str>| f(o, t).err().map(|e| e.to_string());
        assert!(err(Some("jsonpath"), None).is_some_and(|e| e.contains("no template given")));
        assert!(err(Some("go-template={{.a}}"), None).is_some_and(|e| e.contains("not supported")));
        assert!(err(None, Some("{.a}")).is_some_and(|e| e.contains("needs -o jsonpath")));
        assert!(
            err(Some("jsonpath-file=/no/such/file"), None)
                .is_some_and(|e| e.contains("error reading"))
        );
        assert!(err(Some("wide"), None).is_some_and(|e| e.contains("allowed formats")));
    }
}
