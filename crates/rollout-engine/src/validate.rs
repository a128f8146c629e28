//! `--validate`: the API server checks a `-f` file before anything changes.
//!
//! Deserialising the file into typed objects silently drops fields this program does not
//! know, so a misspelled `replicas` or `imagePullPolicy` would be ignored and the update
//! would run with defaults. kubectl 1.17 validated files against the OpenAPI schema on the
//! client; here the file exactly as written goes to the API server as a dry-run create with
//! `fieldValidation=Strict`, so the server's own schema (including CRD-like unknown-field
//! rules and every validation of the ReplicationController) judges it, and nothing is stored.

use std::str::FromStr;

use serde_json::Value;

use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::events::Event;
use crate::retry::call;

/// How strictly to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validation {
    /// Refuse a file with unknown or duplicate fields, or an invalid object (default).
    #[default]
    Strict,
    /// Report what the server finds as a warning and go on.
    Warn,
    /// Do not ask the server.
    Ignore,
}

impl FromStr for Validation {
    type Err = EngineError;

    /// kubectl's values: `true`/`strict`, `warn`, `false`/`ignore`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "true" | "strict" => Ok(Validation::Strict),
            "warn" => Ok(Validation::Warn),
            "false" | "ignore" => Ok(Validation::Ignore),
            other => Err(EngineError::invalid(format!(
                "invalid --validate value {other:?}: must be strict, warn, ignore, true or false"
            ))),
        }
    }
}

/// Asks the API server to validate `raw` (the file's object as written) as a new
/// ReplicationController in the context's namespace, storing nothing.
pub async fn validate_file(ctx: &Ctx, raw: &Value, origin: &str, mode: Validation) -> Result<()> {
    if mode == Validation::Ignore {
        return Ok(());
    }
    // Nothing has changed yet: an unreachable cluster should fail fast.
    let ctx = &ctx.preflight();
    let mut body = raw.clone();
    // The namespace is checked separately (with kubectl's message); the path decides here.
    if let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("namespace");
    }
    let bytes = serde_json::to_vec(&body)
        .map_err(|e| EngineError::invalid(format!("cannot encode {origin}: {e}")))?;
    let url = format!(
        "/api/v1/namespaces/{}/replicationcontrollers?dryRun=All&fieldValidation={}",
        ctx.namespace(),
        if mode == Validation::Strict {
            "Strict"
        } else {
            "Warn"
        }
    );
    let client = ctx.cluster.client.clone();
    let result = call(ctx, &format!("validating {origin}"), || {
        let request = http::Request::post(url.clone())
            .header("Content-Type", "application/json")
            .body(bytes.clone());
        let client = client.clone();
        async move {
            let request = request.map_err(kube::Error::HttpError)?;
            client.request::<Value>(request).await
        }
    })
    .await;
    match result {
        Ok(_) => Ok(()),
        // The name exists (the file names the old RC): decoding and validation came first.
        Err(EngineError::Api { code: 409, .. }) => Ok(()),
        Err(EngineError::Api {
            code: 400 | 422,
            message,
            ..
        }) => {
            let problem = format!("error validating {origin:?}: {message}");
            if mode == Validation::Strict {
                Err(EngineError::invalid(format!(
                    "{problem}; if you choose to ignore these errors, turn validation off with --validate=false"
                )))
            } else {
                ctx.emit(Event::Warning(problem));
                Ok(())
            }
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_values() {
        assert_eq!("true".parse::<Validation>().ok(), Some(Validation::Strict));
        assert_eq!(
            "strict".parse::<Validation>().ok(),
            Some(Validation::Strict)
        );
        assert_eq!("warn".parse::<Validation>().ok(), Some(Validation::Warn));
        assert_eq!("false".parse::<Validation>().ok(), Some(Validation::Ignore));
        assert!("maybe".parse::<Validation>().is_err());
    }
}
