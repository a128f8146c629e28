//! What a rolling update is asked to do and what it ends with, and the checks that need no
//! cluster. Shared by the forward update, its rollback and the same-name rename.

use std::time::Duration;

use k8s_openapi::api::core::v1::ReplicationController;
use rollout_plan::{Limits, Strategy};

use crate::error::{EngineError, Result};
use crate::health::FailurePolicy;
use crate::model::new_rc::{self, ImageChange};
use crate::names::{self, RC};
use crate::validate::Validation;

/// Where the new RC's definition comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum NewSource {
    /// `--image` (with `--container`, `--image-pull-policy`): a copy of the old RC.
    Image(ImageChange),
    /// `-f FILE`: an RC read from a file.
    File {
        /// The RC the file defines.
        rc: Box<ReplicationController>,
        /// The file's object exactly as written, for the API server to validate (typed
        /// deserialisation drops fields this program does not know).
        raw: serde_json::Value,
        /// The file as the user named it (`kubia-v2.yaml`, `-` for stdin): kubectl's refusals
        /// of the file's content name it.
        path: String,
    },
}

/// A rolling update request: kubectl's arguments plus the generalised strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct RollingUpdate {
    /// The RC to replace.
    pub old_name: String,
    /// The new RC's name; when absent with `--image`, the update keeps the old name (the new
    /// RC is `<old>-<hash>` until the final rename).
    pub new_name: Option<String>,
    /// The new definition; optional only for `--rollback`.
    pub source: Option<NewSource>,
    /// The label key that tells the two RCs' pods apart (kubectl's `deployment`).
    pub deployment_label_key: String,
    /// maxSurge, maxUnavailable, minReadySeconds.
    pub strategy: Strategy,
    /// Pause after each scale-up.
    pub update_period: Duration,
    /// Revert to the old RC instead.
    pub rollback: bool,
    /// Compute and return both RCs without changing anything.
    pub dry_run: bool,
    /// The failure signals watched in the new RC's pods, and `--on-failure`.
    pub failure: FailurePolicy,
    /// Update an old RC that another controller owns.
    pub force: bool,
    /// How strictly the API server checks a `-f` file (`--validate`).
    pub validation: Validation,
}

/// What a valid request asks for.
#[derive(Debug)]
pub enum Direction<'a> {
    /// An update to the RC `source` defines.
    Forward(&'a NewSource),
    /// `--rollback`.
    Rollback,
}

/// What a rolling update ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `--dry-run`: the old RC as it would be prepared and the new RC as it would be created.
    DryRun {
        /// The RC being replaced.
        old: Box<ReplicationController>,
        /// The replacement.
        new: Box<ReplicationController>,
    },
    /// The update finished; `rc` is the surviving RC and `message` kubectl's operation text
    /// (`rolling updated to "kubia-v2"`).
    Done {
        /// The surviving RC as stored.
        rc: Box<ReplicationController>,
        /// What happened, for `replicationcontroller/NAME <message>`.
        message: String,
    },
}

/// Checks the request itself (no cluster needed): flag combinations, names, label key,
/// strategy. The one place a rolling update's request is checked: [`super::run`] calls it
/// before anything else.
pub fn validate(req: &RollingUpdate) -> Result<Direction<'_>> {
    new_rc::check_deployment_key(&req.deployment_label_key)?;
    if req.old_name.is_empty() {
        return Err(EngineError::invalid(
            "the old replication controller's name must not be empty",
        ));
    }
    names::object(RC, &req.old_name)?;
    if let Some(new) = &req.new_name {
        names::object(RC, new)?;
    }
    let direction = match (&req.source, req.rollback) {
        (Some(_), true) => {
            return Err(EngineError::Usage(
                "Don't specify --filename or --image on rollback".into(),
            ));
        }
        (None, false) => {
            return Err(EngineError::Usage(
                "Must specify --filename or --image for new controller".into(),
            ));
        }
        (Some(source), false) => Direction::Forward(source),
        (None, true) => Direction::Rollback,
    };
    if let Some(NewSource::File { rc: file, .. }) = &req.source {
        let file_name = file.metadata.name.as_deref().unwrap_or("");
        names::object(RC, file_name)?;
        if let Some(new) = &req.new_name
            && new != file_name
        {
            return Err(EngineError::invalid(format!(
                "the new replicationcontroller's name in the file ({file_name}) differs from the NEW argument ({new})"
            )));
        }
    }
    if req.new_name.as_deref() == Some(req.old_name.as_str()) {
        return Err(new_rc::same_name(&req.old_name));
    }
    Limits::resolve(1, &req.strategy)?;
    Ok(direction)
}
