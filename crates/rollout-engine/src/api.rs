//! The engine's API calls, each retried through transient failures (see `retry`) and each
//! write guarded by optimistic concurrency.
//!
//! Why replace-with-the-read-object: the object we send carries the `resourceVersion` we
//! read, so a concurrent change (another client, or the controller's own status writes) makes
//! the server answer 409 instead of silently losing one of the writes; we then re-read and
//! re-apply our change to the fresh object. Changes are expressed as closures over the object
//! so that re-applying is natural and idempotent.

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, ReplicationController, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::model::labels::{pod_name, selector_string};
use crate::retry::call;

/// How many 409s in a row we accept on one object before suspecting a fight with another
/// writer (each retry re-reads, so a normal race resolves in one or two).
const MAX_CONFLICTS: u32 = 25;

/// Gets an RC; `None` if it does not exist.
pub(crate) async fn get_rc_opt(ctx: &Ctx, name: &str) -> Result<Option<ReplicationController>> {
    // The entry points check their names; this is the last line before a name becomes a path.
    crate::names::object(crate::names::RC, name)?;
    let api = ctx.rcs();
    call(
        ctx,
        &format!("getting replicationcontroller {name}"),
        || api.get_opt(name),
    )
    .await
}

/// Gets an RC; kubectl's NotFound message if it does not exist.
pub(crate) async fn get_rc(ctx: &Ctx, name: &str) -> Result<ReplicationController> {
    get_rc_opt(ctx, name)
        .await?
        .ok_or_else(|| EngineError::RcNotFound(name.to_owned()))
}

/// Gets a Service; `None` if it does not exist.
pub(crate) async fn get_service_opt(ctx: &Ctx, name: &str) -> Result<Option<Service>> {
    crate::names::object(crate::names::SERVICE, name)?;
    let api = ctx.services();
    call(ctx, &format!("getting service {name}"), || {
        api.get_opt(name)
    })
    .await
}

/// Lists all RCs of the namespace.
pub(crate) async fn list_rcs(ctx: &Ctx) -> Result<Vec<ReplicationController>> {
    let api = ctx.rcs();
    let lp = ListParams::default();
    call(ctx, "listing replicationcontrollers", || api.list(&lp))
        .await
        .map(|list| list.items)
}

/// Lists all Services of the namespace.
pub(crate) async fn list_services(ctx: &Ctx) -> Result<Vec<Service>> {
    let api = ctx.services();
    let lp = ListParams::default();
    call(ctx, "listing services", || api.list(&lp))
        .await
        .map(|list| list.items)
}

/// Lists all Leases of the namespace.
pub(crate) async fn list_leases(ctx: &Ctx) -> Result<Vec<Lease>> {
    let api: Api<Lease> = Api::namespaced(ctx.cluster.client.clone(), ctx.namespace());
    let lp = ListParams::default();
    call(ctx, "listing leases", || api.list(&lp))
        .await
        .map(|list| list.items)
}

/// Lists the pods matching `selector` (none for an empty selector).
pub(crate) async fn list_pods(ctx: &Ctx, selector: &BTreeMap<String, String>) -> Result<Vec<Pod>> {
    if selector.is_empty() {
        return Ok(Vec::new());
    }
    let api = ctx.pods();
    let lp = ListParams::default().labels(&selector_string(selector));
    call(ctx, "listing pods", || api.list(&lp))
        .await
        .map(|list| list.items)
}

/// Read-modify-write of one object with conflict retries. `change` edits the fresh object
/// and returns whether it changed anything (if not, nothing is written). Returns the object
/// as stored afterwards; `Ok(None)` if it does not exist.
pub(crate) async fn update<K, F>(
    ctx: &Ctx,
    api: &Api<K>,
    kind: &str,
    name: &str,
    change: F,
) -> Result<Option<K>>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
    F: FnMut(&mut K) -> Result<bool>,
{
    update_from(ctx, api, kind, name, None, change).await
}

/// [`update`] starting from `known`, a copy read moments ago, instead of reading it again:
/// the write carries its resourceVersion, so if it is outdated the server refuses (409) and
/// the loop reads afresh. A known copy that needs no change is checked against a fresh read
/// (it may be outdated the other way).
async fn update_from<K, F>(
    ctx: &Ctx,
    api: &Api<K>,
    kind: &str,
    name: &str,
    mut known: Option<K>,
    mut change: F,
) -> Result<Option<K>>
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
    F: FnMut(&mut K) -> Result<bool>,
{
    let mut conflicts = 0;
    loop {
        let (mut object, fresh) = match known.take() {
            Some(object) => (object, false),
            None => {
                let what = format!("getting {kind} {name}");
                let Some(object) = call(ctx, &what, || api.get_opt(name)).await? else {
                    return Ok(None);
                };
                (object, true)
            }
        };
        if !change(&mut object)? {
            if fresh {
                return Ok(Some(object));
            }
            continue;
        }
        let pp = PostParams::default();
        match call(ctx, &format!("updating {kind} {name}"), || {
            api.replace(name, &pp, &object)
        })
        .await
        {
            Ok(stored) => return Ok(Some(stored)),
            Err(e) if e.is_conflict() && conflicts < MAX_CONFLICTS => {
                conflicts += 1;
                tracing::debug!(kind, name, conflicts, "conflict, re-reading");
            }
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

/// [`update`] for an RC that must exist.
pub(crate) async fn update_rc<F>(ctx: &Ctx, name: &str, change: F) -> Result<ReplicationController>
where
    F: FnMut(&mut ReplicationController) -> Result<bool>,
{
    update(ctx, &ctx.rcs(), "replicationcontroller", name, change)
        .await?
        .ok_or_else(|| EngineError::RcNotFound(name.to_owned()))
}

/// [`update_rc`] starting from `rc` as observed moments ago (see [`update_from`]).
pub(crate) async fn update_observed_rc<F>(
    ctx: &Ctx,
    rc: &ReplicationController,
    change: F,
) -> Result<ReplicationController>
where
    F: FnMut(&mut ReplicationController) -> Result<bool>,
{
    let name = crate::model::labels::name_of(rc);
    update_from(
        ctx,
        &ctx.rcs(),
        "replicationcontroller",
        name,
        Some(rc.clone()),
        change,
    )
    .await?
    .ok_or_else(|| EngineError::RcNotFound(name.to_owned()))
}

/// [`update`] for a Service that must exist.
pub(crate) async fn update_service<F>(ctx: &Ctx, name: &str, change: F) -> Result<Service>
where
    F: FnMut(&mut Service) -> Result<bool>,
{
    update(ctx, &ctx.services(), "service", name, change)
        .await?
        .ok_or_else(|| EngineError::ServiceNotFound(name.to_owned()))
}

/// Sets an annotation map entry; returns whether it changed.
pub(crate) fn set_annotation(meta: &mut kube::core::ObjectMeta, key: &str, value: &str) -> bool {
    let annotations = meta.annotations.get_or_insert_with(BTreeMap::new);
    if annotations.get(key).map(String::as_str) == Some(value) {
        return false;
    }
    annotations.insert(key.to_owned(), value.to_owned());
    true
}

/// Removes annotations; returns whether any was present.
pub(crate) fn remove_annotations(meta: &mut kube::core::ObjectMeta, keys: &[&str]) -> bool {
    let Some(annotations) = meta.annotations.as_mut() else {
        return false;
    };
    let before = annotations.len();
    annotations.retain(|k, _| !keys.contains(&k.as_str()));
    annotations.len() != before
}

/// Outcome of a conditional scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scaled {
    /// `spec.replicas` was `from` and is now `to`; the RC's generation after the write.
    Applied { generation: Option<i64> },
    /// `spec.replicas` was no longer `from` (someone else changed it, or an earlier attempt
    /// of ours landed): nothing written, the caller re-plans.
    Moved,
}

impl Scaled {
    /// Whether the write happened.
    pub(crate) fn is_applied(self) -> bool {
        matches!(self, Scaled::Applied { .. })
    }
}

/// Sets the RC's `spec.replicas` from `from` to `to`, only if it is still `from` (a GET, then
/// a PUT guarded by the resourceVersion read).
pub(crate) async fn scale_rc(ctx: &Ctx, name: &str, from: u32, to: u32) -> Result<Scaled> {
    let mut applied = false;
    let stored = update_rc(ctx, name, |rc| {
        let current = crate::model::new_rc::spec_replicas(rc);
        if current == to && applied {
            // Our own write landed although its response was lost; the retry re-read it.
            return Ok(false);
        }
        applied = current == from;
        if applied {
            rc.spec.get_or_insert_with(Default::default).replicas =
                Some(i32::try_from(to).unwrap_or(i32::MAX));
        }
        Ok(applied)
    })
    .await?;
    Ok(if applied {
        Scaled::Applied {
            generation: stored.metadata.generation,
        }
    } else {
        Scaled::Moved
    })
}

/// [`scale_rc`] starting from `rc` as observed (from a watch cache, say): one PUT guarded by
/// its resourceVersion, without reading it again; only if that write conflicts is the RC
/// re-read, as [`scale_rc`] does.
pub(crate) async fn scale_observed(
    ctx: &Ctx,
    rc: &ReplicationController,
    from: u32,
    to: u32,
) -> Result<Scaled> {
    let name = crate::model::labels::name_of(rc);
    if crate::model::new_rc::spec_replicas(rc) != from {
        return Ok(Scaled::Moved);
    }
    let mut scaled = rc.clone();
    scaled.spec.get_or_insert_with(Default::default).replicas =
        Some(i32::try_from(to).unwrap_or(i32::MAX));
    let api = ctx.rcs();
    let pp = PostParams::default();
    match call(
        ctx,
        &format!("updating replicationcontroller {name}"),
        || api.replace(name, &pp, &scaled),
    )
    .await
    {
        Ok(stored) => Ok(Scaled::Applied {
            generation: stored.metadata.generation,
        }),
        Err(e) if e.is_conflict() => scale_rc(ctx, name, from, to).await,
        Err(e) if e.is_not_found() => Err(EngineError::RcNotFound(name.to_owned())),
        Err(e) => Err(e),
    }
}

/// Creates an RC.
pub(crate) async fn create_rc(
    ctx: &Ctx,
    rc: &ReplicationController,
) -> Result<ReplicationController> {
    let api = ctx.rcs();
    let pp = PostParams::default();
    let name = crate::model::labels::name_of(rc).to_owned();
    call(
        ctx,
        &format!("creating replicationcontroller {name}"),
        || api.create(&pp, rc),
    )
    .await
}

/// Creates `rc`, printing `Created NAME`. When it already exists (an earlier attempt's
/// create landed although its answer was lost, or a rerun), the existing RC is continued
/// only if `check` accepts it, printing `CONTINUING with existing controller NAME.`
/// (`Continuing update`, `Continuing canary`, `Continuing` for blue-green, as each method
/// has always said).
pub(crate) async fn create_or_continue(
    ctx: &Ctx,
    rc: &ReplicationController,
    continuing: &str,
    check: impl FnOnce(&ReplicationController) -> Result<()>,
) -> Result<()> {
    let name = crate::model::labels::name_of(rc).to_owned();
    match create_rc(ctx, rc).await {
        Ok(_) => ctx.line(format!("Created {name}")),
        Err(e) if e.is_already_exists() => {
            check(&get_rc(ctx, &name).await?)?;
            ctx.line(format!("{continuing} with existing controller {name}."));
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Deletes an RC; a missing RC is fine (an earlier attempt may have deleted it).
pub(crate) async fn delete_rc(ctx: &Ctx, name: &str, policy: PropagationPolicy) -> Result<()> {
    let dp = DeleteParams {
        propagation_policy: Some(policy),
        ..DeleteParams::default()
    };
    delete_if_present(ctx, &ctx.rcs(), "replicationcontroller", name, &dp).await
}

/// Deletes a pod; a missing pod is fine.
pub(crate) async fn delete_pod(ctx: &Ctx, name: &str) -> Result<()> {
    delete_if_present(ctx, &ctx.pods(), "pod", name, &DeleteParams::default()).await
}

/// Deletes a Service; a missing one is fine.
pub(crate) async fn delete_service(ctx: &Ctx, name: &str) -> Result<()> {
    delete_if_present(
        ctx,
        &ctx.services(),
        "service",
        name,
        &DeleteParams::default(),
    )
    .await
}

async fn delete_if_present<K>(
    ctx: &Ctx,
    api: &Api<K>,
    kind: &str,
    name: &str,
    dp: &DeleteParams,
) -> Result<()>
where
    K: Clone + DeserializeOwned + Debug,
{
    match call(ctx, &format!("deleting {kind} {name}"), || {
        api.delete(name, dp)
    })
    .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Adds `key=value` to a pod's labels, guarded by its resourceVersion; on conflict re-reads
/// and retries while `still_wanted` holds for the fresh pod. A pod that disappeared is fine.
pub(crate) async fn label_pod<F>(
    ctx: &Ctx,
    pod: &Pod,
    key: &str,
    value: &str,
    still_wanted: F,
) -> Result<()>
where
    F: Fn(&Pod) -> bool,
{
    let api = ctx.pods();
    let name = pod_name(pod).to_owned();
    let mut current = pod.clone();
    let mut conflicts = 0;
    loop {
        if !still_wanted(&current)
            || current
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(key))
                .map(String::as_str)
                == Some(value)
        {
            return Ok(());
        }
        let patch = serde_json::json!({
            "metadata": {
                "resourceVersion": current.metadata.resource_version,
                "labels": { key: value },
            }
        });
        let pp = PatchParams::default();
        let patch = Patch::Merge(&patch);
        match call(ctx, &format!("labelling pod {name}"), || {
            api.patch(&name, &pp, &patch)
        })
        .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) if e.is_conflict() && conflicts < MAX_CONFLICTS => {
                conflicts += 1;
                match call(ctx, &format!("getting pod {name}"), || api.get_opt(&name)).await? {
                    Some(fresh) => current = fresh,
                    None => return Ok(()),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Removes kubectl's four annotations from an RC that is no longer part of an update.
pub(crate) async fn clear_update_annotations(
    ctx: &Ctx,
    name: &str,
) -> Result<ReplicationController> {
    update_rc(ctx, name, |rc| {
        Ok(remove_annotations(
            &mut rc.metadata,
            &[
                crate::model::annotations::DESIRED_REPLICAS,
                crate::model::annotations::UPDATE_SOURCE_ID,
                crate::model::annotations::NEXT_CONTROLLER_ID,
                crate::model::annotations::ORIGINAL_REPLICAS,
            ],
        ))
    })
    .await
}
