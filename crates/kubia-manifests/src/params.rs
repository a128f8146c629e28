//! The options every kind shares, and their validation.
//!
//! Generation always starts with [`Params::check`], so a manifest is either built from
//! values the API server will accept or not built at all (nothing half-written).

use crate::error::Error;
use crate::probe::ReadinessProbe;
use crate::pull_policy::{PullPolicy, Warning, pull_policy_warning};
use crate::validate::{
    validate_dns1035_label, validate_dns1123_label, validate_label_value, validate_node_port,
    validate_replicas,
};
use image_reference::{ImageRef, validate_tag};

/// The tutorial's app name: Service name, `app` label, prefix of workload names.
pub const DEFAULT_NAME: &str = "kubia";
/// The tutorial's image repository.
pub const DEFAULT_IMAGE_REPO: &str = "luksa/kubia";
/// The tutorial's first version.
pub const DEFAULT_TAG: &str = "v1";
/// The tutorial's replica count.
pub const DEFAULT_REPLICAS: i32 = 3;
/// The tutorial's node port.
pub const DEFAULT_NODE_PORT: i32 = 30002;

/// What the user chose; the defaults reproduce the tutorial's `kubia-v1.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// App name: the Service's name, the `app` label, the pod template's name and the prefix
    /// of workload names (`kubia-v1`). A DNS-1035 label, as Service names must be.
    pub name: String,
    /// Namespace written into every object's metadata; `None` leaves it to kubectl.
    pub namespace: Option<String>,
    /// Image repository without tag, e.g. `luksa/kubia` or `localhost:5000/kubia`.
    pub image_repo: String,
    /// Image tag; also the version in names and the `version` label. `None` means no tag
    /// (the runtime's `latest`).
    pub tag: Option<String>,
    /// Desired pods.
    pub replicas: i32,
    /// The Service's node port.
    pub node_port: i32,
    /// Explicit `imagePullPolicy`; `None` picks Kubernetes' default for the tag (and leaves
    /// the field out of the verbatim tutorial output).
    pub image_pull_policy: Option<PullPolicy>,
    /// An optional readiness probe (hardened pods get one on `/healthz` when this is `None`).
    pub readiness_probe: Option<ReadinessProbe>,
    /// Production-grade pods (see [`crate::hardening`]).
    pub hardened: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            name: DEFAULT_NAME.to_owned(),
            namespace: None,
            image_repo: DEFAULT_IMAGE_REPO.to_owned(),
            tag: Some(DEFAULT_TAG.to_owned()),
            replicas: DEFAULT_REPLICAS,
            node_port: DEFAULT_NODE_PORT,
            image_pull_policy: None,
            readiness_probe: None,
            hardened: false,
        }
    }
}

/// [`Params`] after validation, with the derived values builders need.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub name: String,
    pub namespace: Option<String>,
    pub image: ImageRef,
    pub replicas: i32,
    pub node_port: i32,
    pub explicit_pull_policy: Option<PullPolicy>,
    pub readiness: Option<ReadinessProbe>,
    pub hardened: bool,
}

impl Params {
    /// Validates every field; the first problem found is returned.
    pub fn check(&self) -> Result<(), Error> {
        self.checked().map(|_| ())
    }

    pub(crate) fn checked(&self) -> Result<Checked, Error> {
        validate_dns1035_label(&self.name)
            .map_err(|e| Error::invalid_str("name", &self.name, e))?;
        if let Some(ns) = &self.namespace {
            validate_dns1123_label(ns).map_err(|e| Error::invalid_str("namespace", ns, e))?;
        }
        let image = image_ref(&self.image_repo, self.tag.as_deref())?;
        validate_replicas(self.replicas)
            .map_err(|e| Error::invalid_num("replicas", self.replicas.into(), e))?;
        validate_node_port(self.node_port)
            .map_err(|e| Error::invalid_num("node port", self.node_port.into(), e))?;
        Ok(Checked {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            image,
            replicas: self.replicas,
            node_port: self.node_port,
            explicit_pull_policy: self.image_pull_policy,
            readiness: self.readiness_probe,
            hardened: self.hardened,
        })
    }
}

/// Builds and validates `repo[:tag]`. The repository must not carry its own tag or digest
/// (the tag is a separate option because it also names objects), and the tag must be a
/// valid label value because it becomes the `version` label.
pub(crate) fn image_ref(repo: &str, tag: Option<&str>) -> Result<ImageRef, Error> {
    let mut image = ImageRef::parse(repo)
        .map_err(|e| Error::invalid_str("image repository", repo, e.into()))?;
    if image.tag.is_some() || image.digest.is_some() {
        return Err(Error::Conflict(format!(
            "invalid image repository {repo:?}: give the tag with --tag, not in the repository"
        )));
    }
    if let Some(t) = tag {
        validate_tag(t).map_err(|e| Error::invalid_str("image tag", t, e.into()))?;
        validate_label_value(t)
            .map_err(|e| Error::invalid_str("image tag (used as the version label)", t, e))?;
        image.tag = Some(t.to_owned());
    }
    // The full reference has its own length limit; re-parse to apply every rule at once.
    ImageRef::parse(&image.to_string())
        .map_err(|e| Error::invalid_str("image", &image.to_string(), e.into()))
}

impl Checked {
    /// The version used in names and the `version` label: the tag, or `latest`.
    pub fn version(&self) -> &str {
        self.image.effective_tag()
    }

    /// `<name>-<suffix>`, checked as a DNS-1123 label (workload names end up in pod
    /// names and labels, so the stricter rule is used).
    pub fn object_name(&self, suffix: &str) -> Result<String, Error> {
        let n = format!("{}-{suffix}", self.name);
        validate_dns1123_label(&n)
            .map_err(|e| Error::invalid_str("object name (from name and tag)", &n, e))?;
        Ok(n)
    }

    /// The pull policy to write: explicit, else Kubernetes' default for the image.
    pub fn pull_policy(&self) -> PullPolicy {
        self.explicit_pull_policy
            .unwrap_or_else(|| PullPolicy::default_for(&self.image))
    }

    /// The same parameters for another tag (blue/green, stable/canary).
    pub fn with_tag(&self, tag: Option<&str>) -> Result<Checked, Error> {
        Ok(Checked {
            image: image_ref(&self.image.repository(), tag)?,
            ..self.clone()
        })
    }

    /// The same parameters with another replica count.
    pub fn with_replicas(&self, field: &'static str, replicas: i32) -> Result<Checked, Error> {
        validate_replicas(replicas).map_err(|e| Error::invalid_num(field, replicas.into(), e))?;
        Ok(Checked {
            replicas,
            ..self.clone()
        })
    }

    /// The warning for the image and pull policy actually used, if any.
    pub fn warning(&self, policy: PullPolicy) -> Option<Warning> {
        pull_policy_warning(&self.image, policy)
    }
}
