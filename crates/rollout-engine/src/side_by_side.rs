//! What blue-green and canary share: a second RC beside the old one, derived from the old
//! RC's template with a new image, both running until the method decides which one stays.
//! One request type, one set of checks before anything is read, one read of the old RC.

use k8s_openapi::api::core::v1::ReplicationController;

use crate::api;
use crate::context::Ctx;
use crate::error::Result;
use crate::health::FailurePolicy;
use crate::model::annotations::{self, SourceId};
use crate::model::labels;
use crate::model::new_rc::{self, ImageChange, source_id};
use crate::names::{self, RC};

/// The two RCs of a blue-green or canary update and how the new one is made and judged.
#[derive(Debug, Clone, PartialEq)]
pub struct SideBySide {
    /// The RC serving now (blue-green's "blue", the canary's stable RC).
    pub old_name: String,
    /// The RC to create beside it.
    pub new_name: String,
    /// Its image.
    pub change: ImageChange,
    /// The label that tells the two RCs' pods apart.
    pub deployment_label_key: String,
    /// Seconds a pod must be Ready to count.
    pub min_ready_seconds: u32,
    /// Failure signals, the error-rate analysis, and `--on-failure`.
    pub failure: FailurePolicy,
    /// The pods' port serving `/` and `/metrics`.
    pub metrics_port: u16,
    /// Update an old RC that another controller owns.
    pub force: bool,
}

impl SideBySide {
    /// What needs no cluster: names the API server would accept, the label key, two names.
    pub(crate) fn check(&self) -> Result<()> {
        names::objects(RC, [&self.old_name, &self.new_name])?;
        new_rc::check_deployment_key(&self.deployment_label_key)?;
        if self.old_name == self.new_name {
            return Err(new_rc::same_name(&self.new_name));
        }
        Ok(())
    }

    /// The old RC, refused if its selector does not match its template or another
    /// controller owns it (unless `force`).
    pub(crate) async fn old(&self, ctx: &Ctx) -> Result<ReplicationController> {
        let old = api::get_rc(ctx, &self.old_name).await?;
        labels::check_selector_matches_template(&old)?;
        labels::check_not_owned(&old, self.force)?;
        Ok(old)
    }

    /// The two names, for the Leases.
    pub(crate) fn names(&self) -> [&str; 2] {
        [&self.old_name, &self.new_name]
    }
}

/// Whether `new` records in `annotation` that it was made from `old` (its name and uid), so
/// that an RC of the same name left by something else is never taken over.
pub(crate) fn made_from(
    new: &ReplicationController,
    old: &ReplicationController,
    annotation: &str,
) -> bool {
    let recorded = annotations::get(new.metadata.annotations.as_ref(), annotation);
    recorded.and_then(SourceId::parse).as_ref() == Some(&source_id(old))
}

/// The image `existing` runs, when it is not the one `change` asks for.
pub(crate) fn other_image(
    existing: &ReplicationController,
    change: &ImageChange,
) -> Option<String> {
    let image = new_rc::target_image(existing, change.container.as_deref());
    (image != change.image.to_string()).then(|| image.to_owned())
}
