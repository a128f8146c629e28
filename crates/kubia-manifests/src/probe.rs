//! HTTP probes against the kubia server.

use std::str::FromStr;

use k8s_openapi::api::core::v1::{HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::error::{Error, ValidationError};

/// The port the kubia server listens on (`KUBIA_PORT`'s default); the Service's
/// `targetPort`.
pub const CONTAINER_PORT: i32 = 8080;

/// Which readiness probe to add to a pod template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadinessProbe {
    /// `GET /` every second: the book's v3-with-readiness-check example. It counts as an
    /// application request, so the failing v3 image turns unready and the rollout stalls.
    Root,
    /// `GET /healthz` every second: readiness without touching the application's counters.
    Healthz,
}

impl ReadinessProbe {
    /// The probe object.
    pub fn probe(self) -> Probe {
        let path = match self {
            ReadinessProbe::Root => "/",
            ReadinessProbe::Healthz => "/healthz",
        };
        Probe {
            http_get: Some(http_get(path)),
            period_seconds: Some(1),
            ..Probe::default()
        }
    }
}

impl FromStr for ReadinessProbe {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "root" | "/" => Ok(ReadinessProbe::Root),
            "healthz" | "/healthz" => Ok(ReadinessProbe::Healthz),
            _ => Err(Error::invalid_str(
                "readiness probe",
                s,
                ValidationError::UnknownValue {
                    expected: "root (GET /) or healthz (GET /healthz)",
                },
            )),
        }
    }
}

/// `httpGet` on the kubia port.
pub fn http_get(path: &str) -> HTTPGetAction {
    HTTPGetAction {
        path: Some(path.to_owned()),
        port: IntOrString::Int(CONTAINER_PORT),
        ..HTTPGetAction::default()
    }
}
