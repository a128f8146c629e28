//! Canary release: a stable set and a small canary set of the new version behind one
//! Service that selects both, so a fraction of the traffic (about M/(N+M)) reaches the
//! canary. Promoting is scaling the canary up and the stable set down, step by step.

use crate::blue_green::DEFAULT_NEW_TAG;
use crate::error::Error;
use crate::manifest::{Builder, Manifest};
use crate::params::Params;
use crate::pod::labels;
use crate::service::nodeport_service;
use crate::workload::Workload;

/// The canary's replica count by default: one pod next to the tutorial's three.
pub const DEFAULT_CANARY_REPLICAS: i32 = 1;

/// Canary settings; the stable set runs [`Params::tag`] with [`Params::replicas`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryOptions {
    /// The canary's image tag; `None` means no tag (the runtime's `latest`).
    pub canary_tag: Option<String>,
    /// Pods in the canary set, next to the stable set's [`Params::replicas`].
    pub canary_replicas: i32,
    /// The controller kind of both sets.
    pub workload: Workload,
}

impl Default for CanaryOptions {
    fn default() -> Self {
        CanaryOptions {
            canary_tag: Some(DEFAULT_NEW_TAG.to_owned()),
            canary_replicas: DEFAULT_CANARY_REPLICAS,
            workload: Workload::ReplicationController,
        }
    }
}

/// `<name>-canary.yaml`: `<name>-stable` and `<name>-canary` (labels `app`, `track`,
/// `version`) and Service `<name>` selecting only `app=<name>`, i.e. both tracks.
pub fn canary(p: &Params, o: &CanaryOptions) -> Result<Manifest, Error> {
    let stable = p.checked()?;
    let canary = stable
        .with_tag(o.canary_tag.as_deref())?
        .with_replicas("canary replicas", o.canary_replicas)?;
    let mut b = Builder::new(&stable, format!("{}-canary", stable.name));
    for (c, track) in [(&stable, "stable"), (&canary, "canary")] {
        b.push_set(c, ("track", track), o.workload)?;
    }
    let selector = labels([("app", &stable.name)]);
    b.push(nodeport_service(
        &stable.name,
        stable.namespace.as_deref(),
        selector,
        stable.node_port,
    ));
    Ok(b.finish())
}
