//! Deployment-only settings: the rollout strategy and its pacing.
//!
//! These are what turn the tutorial's client-driven `kubectl rolling-update` into a
//! server-side rollout: how many extra or missing pods are allowed, how long a new pod must
//! be ready before it counts, and when a stuck rollout is reported.

use std::str::FromStr;

use k8s_openapi::api::apps::v1::{DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::error::{Error, ValidationError};
use crate::int_or_percent::{is_zero, parse_int_or_percent, percent};
use crate::validate::validate_non_negative;

/// The API server's default `progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;

/// `spec.strategy.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyType {
    /// Replace pods gradually within `maxSurge` / `maxUnavailable`.
    RollingUpdate,
    /// Delete every old pod before creating new ones (downtime, never two versions).
    Recreate,
}

impl StrategyType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyType::RollingUpdate => "RollingUpdate",
            StrategyType::Recreate => "Recreate",
        }
    }
}

impl FromStr for StrategyType {
    type Err = Error;

    /// Accepts the API spelling or the kebab-case one, case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rollingupdate" | "rolling-update" => Ok(StrategyType::RollingUpdate),
            "recreate" => Ok(StrategyType::Recreate),
            _ => Err(Error::invalid_str(
                "strategy",
                s,
                ValidationError::UnknownValue {
                    expected: "RollingUpdate or Recreate",
                },
            )),
        }
    }
}

/// Parses a `maxSurge` value (count or percentage).
pub fn parse_max_surge(s: &str) -> Result<IntOrString, Error> {
    parse_int_or_percent(s).map_err(|e| Error::invalid_str("max surge", s, e))
}

/// Parses a `maxUnavailable` value (count, or percentage up to 100%).
pub fn parse_max_unavailable(s: &str) -> Result<IntOrString, Error> {
    let v = parse_int_or_percent(s).map_err(|e| Error::invalid_str("max unavailable", s, e))?;
    if percent(&v).is_some_and(|p| p > 100) {
        return Err(Error::invalid_str(
            "max unavailable",
            s,
            ValidationError::MoreThan100Percent,
        ));
    }
    Ok(v)
}

/// Deployment settings; `None` leaves a field to the API server's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentOptions {
    /// `None` with `max_surge`/`max_unavailable` set means RollingUpdate.
    pub strategy: Option<StrategyType>,
    /// `maxSurge`: pods allowed above the desired count during a rollout (count or %).
    pub max_surge: Option<IntOrString>,
    /// `maxUnavailable`: ready pods allowed below the desired count (count or up to 100%).
    pub max_unavailable: Option<IntOrString>,
    /// `minReadySeconds`: how long, in seconds, a new pod must be ready before it counts
    /// as available.
    pub min_ready_seconds: Option<i32>,
    /// `revisionHistoryLimit`: old ReplicaSets kept for rollback.
    pub revision_history_limit: Option<i32>,
    /// `progressDeadlineSeconds`: seconds without progress before the rollout is reported
    /// as failed (it is not rolled back).
    pub progress_deadline_seconds: Option<i32>,
}

impl DeploymentOptions {
    /// The book's `kubia-deployment-v3-with-readinesscheck.yaml` pacing: a new pod must be
    /// ready for 10 s before the next step, one extra pod at a time, none missing.
    pub fn book_readiness_check() -> Self {
        DeploymentOptions {
            strategy: Some(StrategyType::RollingUpdate),
            max_surge: Some(IntOrString::Int(1)),
            max_unavailable: Some(IntOrString::Int(0)),
            min_ready_seconds: Some(10),
            ..DeploymentOptions::default()
        }
    }

    /// Applies the API server's rules, so a refused Deployment is caught here.
    pub fn check(&self) -> Result<(), Error> {
        let non_negative = |field, v: Option<i32>| match v {
            Some(n) => validate_non_negative(n).map_err(|e| Error::invalid_num(field, n.into(), e)),
            None => Ok(()),
        };
        non_negative("min ready seconds", self.min_ready_seconds)?;
        non_negative("revision history limit", self.revision_history_limit)?;
        non_negative("progress deadline seconds", self.progress_deadline_seconds)?;
        let deadline = self
            .progress_deadline_seconds
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS);
        let min_ready = self.min_ready_seconds.unwrap_or(0);
        if deadline <= min_ready {
            return Err(Error::Conflict(format!(
                "progress deadline seconds ({deadline}) must be greater than min ready seconds ({min_ready})"
            )));
        }
        // The fields are public, so values may not have come through the parse functions:
        // re-apply them (an `Int` is checked through its decimal text).
        let text = |v: &IntOrString| match v {
            IntOrString::Int(n) => n.to_string(),
            IntOrString::String(s) => s.clone(),
        };
        if let Some(v) = &self.max_surge {
            parse_max_surge(&text(v))?;
        }
        if let Some(v) = &self.max_unavailable {
            parse_max_unavailable(&text(v))?;
        }
        let rolling_params = self.max_surge.is_some() || self.max_unavailable.is_some();
        if self.strategy == Some(StrategyType::Recreate) && rolling_params {
            return Err(Error::Conflict(
                "max surge and max unavailable only apply to the RollingUpdate strategy, not Recreate".to_owned(),
            ));
        }
        if let (Some(s), Some(u)) = (&self.max_surge, &self.max_unavailable)
            && is_zero(s)
            && is_zero(u)
        {
            return Err(Error::Conflict(
                "max surge and max unavailable must not both be 0: the rollout could never make progress"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// `spec.strategy`, or `None` when nothing was chosen.
    pub fn strategy(&self) -> Option<DeploymentStrategy> {
        let rolling_params = self.max_surge.is_some() || self.max_unavailable.is_some();
        let ty = self
            .strategy
            .or(rolling_params.then_some(StrategyType::RollingUpdate))?;
        Some(DeploymentStrategy {
            type_: Some(ty.as_str().to_owned()),
            rolling_update: rolling_params.then(|| RollingUpdateDeployment {
                max_surge: self.max_surge.clone(),
                max_unavailable: self.max_unavailable.clone(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategy_names() {
        assert_eq!(
            "rolling-update".parse::<StrategyType>().ok(),
            Some(StrategyType::RollingUpdate)
        );
        assert_eq!(
            "Recreate".parse::<StrategyType>().ok(),
            Some(StrategyType::Recreate)
        );
        assert!("blue-green".parse::<StrategyType>().is_err());
    }

    #[test]
    fn refuses_contradictions() {
        let both_zero = DeploymentOptions {
            max_surge: Some(IntOrString::Int(0)),
            max_unavailable: Some(IntOrString::String("0%".into())),
            ..DeploymentOptions::default()
        };
        assert!(both_zero.check().is_err());
        let recreate_with_surge = DeploymentOptions {
            strategy: Some(StrategyType::Recreate),
            max_surge: Some(IntOrString::Int(1)),
            ..DeploymentOptions::default()
        };
        assert!(recreate_with_surge.check().is_err());
        let deadline = DeploymentOptions {
            min_ready_seconds: Some(10),
            progress_deadline_seconds: Some(10),
            ..DeploymentOptions::default()
        };
        assert!(deadline.check().is_err());
        assert!(DeploymentOptions::book_readiness_check().check().is_ok());
        assert!(parse_max_unavailable("101%").is_err());
        assert!(parse_max_surge("150%").is_ok());
    }
}
