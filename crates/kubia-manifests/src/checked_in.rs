//! The files checked in under `manifests/`: what the README and the end-to-end tests use.
//!
//! Listing them here (rather than writing them by hand) keeps them in sync with the
//! generator; a test regenerates them and compares with the directory.

use crate::blue_green::{BlueGreenOptions, blue_green};
use crate::canary::{CanaryOptions, canary};
use crate::deployment::DeploymentOptions;
use crate::error::Error;
use crate::manifest::Manifest;
use crate::params::Params;
use crate::probe::ReadinessProbe;
use crate::single::{deployment, rc};
use crate::tutorial::tutorial;

/// The command that regenerates `manifests/`.
pub const REGENERATE_COMMAND: &str = "cargo xtask manifests";

/// Every checked-in manifest: the plain set, then the same set hardened under `hardened/`.
/// Tags are `vN`, so every non-tutorial pod uses `imagePullPolicy: IfNotPresent` and
/// end-to-end runs use exactly the images loaded into the cluster.
pub fn checked_in_manifests() -> Result<Vec<Manifest>, Error> {
    let mut out = Vec::new();
    for hardened in [false, true] {
        let v = |tag: &str| Params {
            tag: Some(tag.to_owned()),
            hardened,
            ..Params::default()
        };
        let v3_ready = Params {
            readiness_probe: Some(ReadinessProbe::Root),
            ..v("v3")
        };
        out.push(tutorial(&v("v1"))?);
        out.push(rc(&v("v2"))?);
        out.push(deployment(&v("v1"), &DeploymentOptions::default())?);
        out.push(deployment(&v("v2"), &DeploymentOptions::default())?);
        out.push(deployment(
            &v3_ready,
            &DeploymentOptions::book_readiness_check(),
        )?);
        out.push(blue_green(&v("v1"), &BlueGreenOptions::default())?);
        out.push(canary(&v("v1"), &CanaryOptions::default())?);
    }
    Ok(out)
}

/// `(path relative to manifests/, YAML text)` for every checked-in file.
pub fn checked_in() -> Vec<(String, String)> {
    // The inputs are constants that the tests show to be valid, so failure here is a bug
    // in this crate, not a user error.
    checked_in_manifests()
        .and_then(|ms| {
            ms.into_iter()
                .map(|m| Ok((m.file_name.clone(), m.to_yaml()?)))
                .collect()
        })
        .expect("the checked-in manifests are generated from valid constants")
}
