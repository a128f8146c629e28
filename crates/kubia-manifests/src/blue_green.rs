//! Blue-green release: two complete sets of pods, one per version, and a Service that
//! selects one colour. Switching is a single selector change (`kubectl set selector` or
//! applying the Service with the other colour); rolling back is the same change reversed.

use std::str::FromStr;

use crate::error::{Error, ValidationError};
use crate::manifest::{Builder, Manifest};
use crate::params::Params;
use crate::pod::labels;
use crate::service::nodeport_service;
use crate::workload::Workload;

/// A colour, i.e. one of the two sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// The set running [`Params::tag`], the current version.
    Blue,
    /// The set running the new version.
    Green,
}

impl Color {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }
}

impl FromStr for Color {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "blue" => Ok(Color::Blue),
            "green" => Ok(Color::Green),
            _ => Err(Error::invalid_str(
                "active colour",
                s,
                ValidationError::UnknownValue {
                    expected: "blue or green",
                },
            )),
        }
    }
}

/// The new version's tag by default: the tutorial upgrades v1 to v2.
pub const DEFAULT_NEW_TAG: &str = "v2";

/// Blue-green settings; blue runs [`Params::tag`], green runs `green_tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlueGreenOptions {
    /// The green set's image tag; `None` means no tag (the runtime's `latest`).
    pub green_tag: Option<String>,
    /// The colour the Service selects.
    pub active: Color,
    /// The controller kind of both sets.
    pub workload: Workload,
}

impl Default for BlueGreenOptions {
    fn default() -> Self {
        BlueGreenOptions {
            green_tag: Some(DEFAULT_NEW_TAG.to_owned()),
            active: Color::Blue,
            workload: Workload::ReplicationController,
        }
    }
}

/// `<name>-blue-green.yaml`: `<name>-blue` and `<name>-green` (labels `app`, `color`,
/// `version`, each with the full replica count) and Service `<name>` selecting
/// `app=<name>, color=<active>`.
pub fn blue_green(p: &Params, o: &BlueGreenOptions) -> Result<Manifest, Error> {
    let blue = p.checked()?;
    let green = blue.with_tag(o.green_tag.as_deref())?;
    let mut b = Builder::new(&blue, format!("{}-blue-green", blue.name));
    for (c, color) in [(&blue, Color::Blue), (&green, Color::Green)] {
        b.push_set(c, ("color", color.as_str()), o.workload)?;
    }
    let selector = labels([("app", &blue.name), ("color", o.active.as_str())]);
    b.push(nodeport_service(
        &blue.name,
        blue.namespace.as_deref(),
        selector,
        blue.node_port,
    ));
    Ok(b.finish())
}
