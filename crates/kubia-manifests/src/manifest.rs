//! A generated file: its objects, its name under `manifests/`, and any warnings.

use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::deployment::DeploymentOptions;
use crate::error::Error;
use crate::object::Object;
use crate::params::Checked;
use crate::pod::{Labels, PodInput, labels, pod_template};
use crate::pull_policy::Warning;
use crate::render::to_yaml;
use crate::workload::{Workload, WorkloadInput, workload};

/// Where hardened variants go, so the tutorial's names stay free for the verbatim files.
pub const HARDENED_DIR: &str = "hardened";

/// One output file.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Path relative to the output directory, e.g. `kubia-v1.yaml` or
    /// `hardened/kubia-v1.yaml`.
    pub file_name: String,
    /// The objects, in the order they are written.
    pub objects: Vec<Object>,
    /// Things to tell the user (the CLI prints them on stderr).
    pub warnings: Vec<Warning>,
}

impl Manifest {
    /// The file's text.
    pub fn to_yaml(&self) -> Result<String, Error> {
        to_yaml(&self.objects)
    }
}

/// Collects objects and warnings while a manifest is built.
#[derive(Debug)]
pub(crate) struct Builder {
    file_stem: String,
    hardened: bool,
    objects: Vec<Object>,
    warnings: Vec<Warning>,
}

impl Builder {
    pub fn new(c: &Checked, file_stem: String) -> Self {
        Builder {
            file_stem,
            hardened: c.hardened,
            objects: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// A pod template for `c`'s image. `verbatim` omits `imagePullPolicy` unless it was
    /// given explicitly (the tutorial's file has none) — hardened output always sets it.
    pub fn pod(&mut self, c: &Checked, labels: Labels, verbatim: bool) -> PodTemplateSpec {
        let pull_policy = if verbatim && !c.hardened {
            c.explicit_pull_policy
        } else {
            Some(c.pull_policy())
        };
        if let Some(w) = pull_policy.and_then(|p| c.warning(p))
            && !self.warnings.contains(&w)
        {
            self.warnings.push(w);
        }
        pod_template(&PodInput {
            template_name: &c.name,
            labels,
            image: &c.image,
            pull_policy,
            readiness: c.readiness,
            hardened: c.hardened,
        })
    }

    /// One of two labelled sets (blue/green, stable/canary): `<name>-<value>`, selecting
    /// `app` and `key=value`, pods also labelled with their `version`.
    pub fn push_set(
        &mut self,
        c: &Checked,
        (key, value): (&str, &str),
        kind: Workload,
    ) -> Result<(), Error> {
        let name = c.object_name(value)?;
        let selector = labels([("app", c.name.as_str()), (key, value)]);
        let pod_labels = labels([
            ("app", c.name.as_str()),
            (key, value),
            ("version", c.version()),
        ]);
        let template = self.pod(c, pod_labels, false);
        let w = WorkloadInput {
            name,
            namespace: c.namespace.clone(),
            replicas: c.replicas,
            selector: Some(selector),
            template,
        };
        self.push(workload(kind, &w, &DeploymentOptions::default()));
        Ok(())
    }

    pub fn push(&mut self, o: impl Into<Object>) {
        self.objects.push(o.into());
    }

    pub fn finish(self) -> Manifest {
        let file = format!("{}.yaml", self.file_stem);
        Manifest {
            file_name: if self.hardened {
                format!("{HARDENED_DIR}/{file}")
            } else {
                file
            },
            objects: self.objects,
            warnings: self.warnings,
        }
    }
}
