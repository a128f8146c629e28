//! Creating the manifests' objects through the real API (typed, no kubectl).

use anyhow::{Context, Result, bail};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ReplicationController, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::PostParams;
use serde::de::DeserializeOwned;

use crate::Namespace;

/// How to create.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create and store the objects.
    Create,
    /// Server-side dry run: validated and admitted by the API server, stored nowhere.
    DryRun,
}

/// Creates every document of a multi-document YAML file in the namespace; returns
/// `kind/name` of each, in order.
pub async fn create_all(ns: &Namespace, yaml: &str, mode: Mode) -> Result<Vec<String>> {
    let pp = PostParams {
        dry_run: mode == Mode::DryRun,
        ..Default::default()
    };
    // Parsed whole first: the parser is not Send, and scenarios run on any worker thread.
    let values = serde_yaml::Deserializer::from_str(yaml)
        .map(serde_yaml::Value::deserialize_from)
        .collect::<Result<Vec<_>>>()?;
    let mut created = Vec::new();
    for value in values {
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .context("a document without kind")?
            .to_owned();
        let name = match kind.as_str() {
            "ReplicationController" => post::<ReplicationController>(ns, value, &pp).await?,
            "Service" => post::<Service>(ns, value, &pp).await?,
            "Deployment" => post::<Deployment>(ns, value, &pp).await?,
            "ReplicaSet" => post::<ReplicaSet>(ns, value, &pp).await?,
            "ServiceAccount" => post::<ServiceAccount>(ns, value, &pp).await?,
            "Role" => post::<Role>(ns, value, &pp).await?,
            "RoleBinding" => post::<RoleBinding>(ns, value, &pp).await?,
            other => bail!("unsupported kind {other}"),
        };
        created.push(format!("{}/{name}", kind.to_lowercase()));
    }
    Ok(created)
}

trait DeserializeFrom: Sized {
    fn deserialize_from(d: serde_yaml::Deserializer<'_>) -> Result<Self>;
}

impl DeserializeFrom for serde_yaml::Value {
    fn deserialize_from(d: serde_yaml::Deserializer<'_>) -> Result<Self> {
        Ok(serde::Deserialize::deserialize(d)?)
    }
}

async fn post<K>(ns: &Namespace, value: serde_yaml::Value, pp: &PostParams) -> Result<String>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + DeserializeOwned
        + serde::Serialize
        + Clone
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let mut obj: K = serde_yaml::from_value(value)?;
    // Manifests may name a namespace; the scenario's wins.
    obj.meta_mut().namespace = Some(ns.name.clone());
    let created = ns.api::<K>().create(pp, &obj).await.with_context(|| {
        format!(
            "creating {} {}",
            K::kind(&Default::default()),
            obj.meta().name.clone().unwrap_or_default()
        )
    })?;
    Ok(created.meta().name.clone().unwrap_or_default())
}
