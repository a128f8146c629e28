//! Blue-green: bring up the new RC beside the old one, wait until all its pods are ready,
//! then switch the Service's selector (what `kubectl set selector` does), keeping the old RC
//! for an instant switch back until cleanup.
//!
//! The tutorial's Service selects `app=kubia`, which matches both versions, so first the old
//! RC gets its distinguishing `deployment` label (as in the rolling update) and the Service
//! is pinned to the old RC's full selector; only then is the new RC created. The Service
//! carries the state (`blue-green-active`, `-standby`, `-original-selector`), so every
//! command can be rerun or continued, and cleanup restores the original selector.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ReplicationController, Service};
use kube::api::PropagationPolicy;
use rollout_plan::blue_green::{self as plan, Phase, Recorded};
use rollout_plan::health::{OnFailure, Signal};

use crate::access;
use crate::api::{self, remove_annotations, set_annotation};
use crate::begin::begin;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::health;
use crate::model::annotations::{
    self, BLUE_GREEN_ACTIVE, BLUE_GREEN_OF, BLUE_GREEN_ORIGINAL_SELECTOR, BLUE_GREEN_STANDBY,
};
use crate::model::labels::{self, name_of, rc_selector, selector_string, template_labels};
use crate::model::new_rc::{self, ImageChange, source_id, spec_replicas};
use crate::names::{self, RC, SERVICE};
use crate::relabel;
use crate::selector_witness;
use crate::side_by_side::{self, SideBySide};
use crate::waiting::{observe, settle};

/// `blue-green OLD NEW --image=X [--service SVC] [--cleanup]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BlueGreen {
    /// The old RC ("blue"), the new one ("green") and how it is made and judged.
    pub pair: SideBySide,
    /// The Service to switch; found by its selector when absent.
    pub service: Option<String>,
    /// Delete the old RC right after the switch.
    pub cleanup: bool,
}

/// Which blue-green update `switch-back` or `cleanup` is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlueGreenRef {
    /// The Service; found by its annotations when absent.
    pub service: Option<String>,
    /// Optional RC names, to pick among several updates and to check.
    pub names: Vec<String>,
    /// Seconds a pod must be Ready to count.
    pub min_ready_seconds: u32,
}

/// Names first: nothing is read or written under a name the API server would refuse.
fn check_ref(r: &BlueGreenRef) -> Result<()> {
    names::objects(RC, &r.names)?;
    names::objects(SERVICE, &r.service)
}

/// The switch state recorded on a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchState {
    /// The RC whose pods the Service selects.
    pub active: String,
    /// The other RC.
    pub standby: String,
}

impl SwitchState {
    /// Reads the state from a Service's annotations.
    pub fn of(service: &Service) -> Option<SwitchState> {
        let a = service.metadata.annotations.as_ref();
        Some(SwitchState {
            active: annotations::get(a, BLUE_GREEN_ACTIVE)?.to_owned(),
            standby: annotations::get(a, BLUE_GREEN_STANDBY)?.to_owned(),
        })
    }

    fn involves(&self, name: &str) -> bool {
        self.active == name || self.standby == name
    }
}

fn service_name(service: &Service) -> &str {
    service.metadata.name.as_deref().unwrap_or("")
}

fn service_selector(service: &Service) -> BTreeMap<String, String> {
    service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default()
}

/// Whether a Service (by its selector) sends traffic to the RC's pods.
pub fn service_selects(service: &Service, rc: &ReplicationController) -> bool {
    labels::matches(&service_selector(service), Some(&template_labels(rc)))
}

/// Deploys the new RC and switches the Service to it.
pub async fn deploy(ctx: &Ctx, req: &BlueGreen) -> Result<()> {
    req.pair.check()?;
    names::objects(SERVICE, &req.service)?;
    let pre = ctx.preflight();
    let old = req.pair.old(&pre).await?;
    let service = find_for_deploy(&pre, req, &old).await?;
    let svc = service_name(&service).to_owned();
    let state = SwitchState::of(&service);
    let recorded = state.as_ref().map(|s| Recorded {
        active: &s.active,
        standby: &s.standby,
    });
    match plan::phase(recorded, &req.pair.old_name, &req.pair.new_name) {
        Phase::Other(other) => {
            return Err(EngineError::invalid(format!(
                "service/{svc} is in a blue-green update between {} and {}; finish it with: {}",
                other.active,
                other.standby,
                ctx.hints
                    .command(&["blue-green", "cleanup", "--service", &svc])
            )));
        }
        Phase::Switched => {
            ctx.line(format!(
                "service/{svc} already selects the pods of {}",
                req.pair.new_name
            ));
            return after_switch(ctx, req, &svc).await;
        }
        Phase::Fresh | Phase::BeforeSwitch => {}
    }
    let existing = api::get_rc_opt(&pre, &req.pair.new_name).await?;
    let derived = match &existing {
        Some(existing) => {
            check_existing(existing, &old, &req.pair.change)?;
            None
        }
        None => {
            let derived = new_rc::derive_from_image(
                &old,
                &req.pair.change,
                &req.pair.deployment_label_key,
                Some(&req.pair.new_name),
            )?;
            pre.warn(new_rc::pull_policy_warning(&old, &req.pair.change));
            Some(derived)
        }
    };

    let ctx = &ctx.with_undo(
        ctx.hints
            .command(&["blue-green", "cleanup", "--service", &svc]),
    );
    let orig = new_rc::orig_label_value(&old);
    let analysis = req.pair.failure.thresholds.max_error_rate.is_some();
    let needs = access::blue_green(analysis);
    begin(ctx, &needs, &req.pair.names(), async {
        let old = relabel::prepare_old(ctx, &old, &req.pair.deployment_label_key, &orig, |_| false)
            .await?;
        if service_selector(&service) != rc_selector(&old) {
            selector_witness::until_endpoints_follow(ctx, &service, &rc_selector(&old)).await?;
        }
        pin(ctx, &svc, &old, &req.pair.new_name).await?;

        match derived {
            Some(derived) => {
                let mut rc = derived.rc;
                rc.spec.get_or_insert_with(Default::default).replicas =
                    Some(i32::try_from(spec_replicas(&old)).unwrap_or(i32::MAX));
                set_annotation(
                    &mut rc.metadata,
                    BLUE_GREEN_OF,
                    &source_id(&old).to_string(),
                );
                api::create_or_continue(ctx, &rc, "Continuing", |existing| {
                    check_existing(existing, &old, &req.pair.change)
                })
                .await?;
            }
            None => ctx.line(format!(
                "Continuing with existing controller {}.",
                req.pair.new_name
            )),
        }

        if let Err(signal) = settle::until_available_unless_failed(
            ctx,
            &req.pair.new_name,
            req.pair.min_ready_seconds,
            &req.pair.failure,
        )
        .await?
        {
            return Err(failed(ctx, req, &svc, &signal).await);
        }
        if let Some(signal) = analysis_before_switch(ctx, req).await? {
            return Err(failed(ctx, req, &svc, &signal).await);
        }
        let new = api::get_rc(ctx, &req.pair.new_name).await?;
        switch(ctx, &svc, &new, &req.pair.old_name).await?;
        after_switch(ctx, req, &svc).await
    })
    .await
}

/// With `--max-error-rate`: no client reaches green before the switch, so the engine asks
/// each green pod `--min-requests` times itself (through the pod proxy), then judges the
/// answers green's pods counted.
async fn analysis_before_switch(ctx: &Ctx, req: &BlueGreen) -> Result<Option<Signal>> {
    let t = &req.pair.failure.thresholds;
    if t.max_error_rate.is_none() {
        return Ok(None);
    }
    let Some(state) = observe::observe(ctx, &req.pair.new_name, req.pair.min_ready_seconds).await?
    else {
        return Err(EngineError::RcNotFound(req.pair.new_name.clone()));
    };
    let per_pod = t.min_requests.div_ceil(state.pods.len().max(1) as u64);
    ctx.line(format!(
        "Analysing {} before the switch: {per_pod} requests to each of its {} pods",
        req.pair.new_name,
        state.pods.len()
    ));
    health::exercise(ctx, &state.pods, req.pair.metrics_port, per_pod).await?;
    health::analyse(
        ctx,
        &req.pair.new_name,
        &req.pair.failure,
        req.pair.metrics_port,
        None,
    )
    .await
}

/// `--on-failure` before the switch: the Service still selects blue. Stop leaves green as
/// it is; rollback deletes it.
async fn failed(ctx: &Ctx, req: &BlueGreen, svc: &str, signal: &Signal) -> EngineError {
    let (old, new) = (&req.pair.old_name, &req.pair.new_name);
    match req.pair.failure.on_failure {
        OnFailure::Stop => EngineError::BadVersion(format!(
            "{signal}; not switched: service/{svc} still selects {old}; {}; or remove {new} with: kubectl delete rc {new}",
            ctx.recovery()
        )),
        OnFailure::Rollback => {
            ctx.line(format!("{signal}: deleting {new}"));
            match api::delete_rc(ctx, new, PropagationPolicy::Background).await {
                Ok(()) => {
                    ctx.line(format!("replicationcontroller \"{new}\" deleted"));
                    EngineError::BadVersion(format!(
                        "{signal}; not switched: service/{svc} still selects {old}, and {new} is deleted"
                    ))
                }
                Err(e) => EngineError::BadVersion(format!(
                    "{signal}; not switched: service/{svc} still selects {old}; deleting {new} failed: {e}"
                )),
            }
        }
    }
}

/// After the switch: clean up now, or say how to switch back and clean up later.
async fn after_switch(ctx: &Ctx, req: &BlueGreen, svc: &str) -> Result<()> {
    if req.cleanup {
        return cleanup(
            ctx,
            &BlueGreenRef {
                service: Some(svc.to_owned()),
                names: vec![req.pair.old_name.clone(), req.pair.new_name.clone()],
                min_ready_seconds: req.pair.min_ready_seconds,
            },
        )
        .await;
    }
    ctx.line(format!(
        "{} stays scaled for an instant switch back ({}); delete it with: {}",
        req.pair.old_name,
        ctx.hints
            .command(&["blue-green", "switch-back", "--service", svc]),
        ctx.hints
            .command(&["blue-green", "cleanup", "--service", svc]),
    ));
    Ok(())
}

/// The new RC may be continued only if it was created for this update and has the image.
fn check_existing(
    existing: &ReplicationController,
    old: &ReplicationController,
    change: &ImageChange,
) -> Result<()> {
    if !side_by_side::made_from(existing, old, BLUE_GREEN_OF) {
        return Err(EngineError::invalid(format!(
            "replicationcontroller {} already exists and is not part of a blue-green update from {}; delete it or choose another name",
            name_of(existing),
            name_of(old)
        )));
    }
    if let Some(image) = side_by_side::other_image(existing, change) {
        return Err(EngineError::invalid(format!(
            "Found existing in-progress blue-green update to image ({image}); continue it with --image={image} or remove it with blue-green cleanup"
        )));
    }
    Ok(())
}

/// Points the Service at the old RC's pods only (before the new ones exist), recording the
/// original selector and the two RCs.
async fn pin(ctx: &Ctx, svc: &str, old: &ReplicationController, new_name: &str) -> Result<()> {
    let selector = rc_selector(old);
    let old_name = name_of(old).to_owned();
    let mut changed_selector = false;
    api::update_service(ctx, svc, |service| {
        let current = service_selector(service);
        let mut changed = false;
        if annotations::get(
            service.metadata.annotations.as_ref(),
            BLUE_GREEN_ORIGINAL_SELECTOR,
        )
        .is_none()
        {
            let json = serde_json::to_string(&current).unwrap_or_else(|_| "{}".to_owned());
            changed |= set_annotation(&mut service.metadata, BLUE_GREEN_ORIGINAL_SELECTOR, &json);
        }
        changed |= set_annotation(&mut service.metadata, BLUE_GREEN_ACTIVE, &old_name);
        changed |= set_annotation(&mut service.metadata, BLUE_GREEN_STANDBY, new_name);
        if current != selector {
            service.spec.get_or_insert_with(Default::default).selector = Some(selector.clone());
            changed_selector = true;
            changed = true;
        }
        Ok(changed)
    })
    .await?;
    if changed_selector {
        ctx.line(format!(
            "Pinned service/{svc} to the pods of {old_name} ({})",
            selector_string(&selector)
        ));
    }
    Ok(())
}

/// Points the Service at `to`'s pods and records `from` as standby.
async fn switch(ctx: &Ctx, svc: &str, to: &ReplicationController, from: &str) -> Result<()> {
    let selector = rc_selector(to);
    let to_name = name_of(to).to_owned();
    api::update_service(ctx, svc, |service| {
        let mut changed = set_annotation(&mut service.metadata, BLUE_GREEN_ACTIVE, &to_name);
        changed |= set_annotation(&mut service.metadata, BLUE_GREEN_STANDBY, from);
        if service_selector(service) != selector {
            service.spec.get_or_insert_with(Default::default).selector = Some(selector.clone());
            changed = true;
        }
        Ok(changed)
    })
    .await?;
    ctx.line(format!("service/{svc} selector updated"));
    Ok(())
}

/// `blue-green switch-back`: points the Service at the standby RC again (after checking its
/// pods are all available), so the two swap roles.
pub async fn switch_back(ctx: &Ctx, r: &BlueGreenRef) -> Result<()> {
    on_update(ctx, r, switch_back_held(ctx, r)).await
}

/// How `switch-back` and `cleanup` start: the names checked, the update in progress found,
/// then [`begin`] with both RCs' Leases; `work` reads everything again under them.
async fn on_update(
    ctx: &Ctx,
    r: &BlueGreenRef,
    work: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    check_ref(r)?;
    let pre = ctx.preflight();
    let (_, state) = find_switched(&pre, r).await?;
    let leases = [state.active.as_str(), state.standby.as_str()];
    begin(ctx, &access::blue_green(false), &leases, work).await
}

/// The switch back, reading everything again under the Leases.
async fn switch_back_held(ctx: &Ctx, r: &BlueGreenRef) -> Result<()> {
    let pre = ctx.preflight();
    let (service, state) = find_switched(&pre, r).await?;
    let svc = service_name(&service).to_owned();
    let standby = api::get_rc(&pre, &state.standby).await?;
    settle::until_all_available(ctx, &state.standby, r.min_ready_seconds).await?;
    switch(ctx, &svc, &standby, &state.active).await?;
    ctx.line(format!(
        "service/{svc} now selects the pods of {}; {} stays scaled",
        name_of(&standby),
        state.active
    ));
    Ok(())
}

/// `blue-green cleanup`: deletes the standby RC, restores the Service's original selector
/// and removes the bookkeeping. Before the switch this removes the new RC (an abort).
pub async fn cleanup(ctx: &Ctx, r: &BlueGreenRef) -> Result<()> {
    on_update(ctx, r, cleanup_held(ctx, r)).await
}

/// The cleanup, reading everything again under the Leases.
async fn cleanup_held(ctx: &Ctx, r: &BlueGreenRef) -> Result<()> {
    let pre = ctx.preflight();
    let (service, state) = find_switched(&pre, r).await?;
    let svc = service_name(&service).to_owned();
    api::delete_rc(ctx, &state.standby, PropagationPolicy::Background).await?;
    ctx.line(format!(
        "replicationcontroller \"{}\" deleted",
        state.standby
    ));
    let original: Option<BTreeMap<String, String>> = annotations::get(
        service.metadata.annotations.as_ref(),
        BLUE_GREEN_ORIGINAL_SELECTOR,
    )
    .and_then(|json| serde_json::from_str(json).ok());
    api::update_service(ctx, &svc, |service| {
        let mut changed = remove_annotations(
            &mut service.metadata,
            &[
                BLUE_GREEN_ACTIVE,
                BLUE_GREEN_STANDBY,
                BLUE_GREEN_ORIGINAL_SELECTOR,
            ],
        );
        if let Some(original) = &original
            && !original.is_empty()
            && service_selector(service) != *original
        {
            service.spec.get_or_insert_with(Default::default).selector = Some(original.clone());
            changed = true;
        }
        Ok(changed)
    })
    .await?;
    if let Some(original) = original.filter(|o| !o.is_empty()) {
        ctx.line(format!(
            "service/{svc} selector restored to {}",
            selector_string(&original)
        ));
    }
    if api::get_rc_opt(ctx, &state.active).await?.is_some() {
        api::update_rc(ctx, &state.active, |rc| {
            Ok(remove_annotations(&mut rc.metadata, &[BLUE_GREEN_OF]))
        })
        .await?;
    }
    ctx.line(format!(
        "blue-green update of service/{svc} finished: {} serves",
        state.active
    ));
    Ok(())
}

/// The Service for `deploy`: the named one, one already switching between these RCs, or the
/// only one whose selector matches the old RC's pods.
async fn find_for_deploy(
    ctx: &Ctx,
    req: &BlueGreen,
    old: &ReplicationController,
) -> Result<Service> {
    if let Some(name) = &req.service {
        let service = api::get_service_opt(ctx, name)
            .await?
            .ok_or_else(|| EngineError::ServiceNotFound(name.clone()))?;
        if SwitchState::of(&service).is_none() && !service_selects(&service, old) {
            return Err(EngineError::invalid(format!(
                "service/{name} (selector {}) does not select the pods of {}",
                selector_string(&service_selector(&service)),
                req.pair.old_name
            )));
        }
        return Ok(service);
    }
    let services = api::list_services(ctx).await?;
    let switching: Vec<&Service> = services
        .iter()
        .filter(|s| {
            SwitchState::of(s).is_some_and(|st| {
                st.involves(&req.pair.old_name) && st.involves(&req.pair.new_name)
            })
        })
        .collect();
    if let [one] = switching.as_slice() {
        return Ok((*one).clone());
    }
    let selecting: Vec<&Service> = services
        .iter()
        .filter(|s| SwitchState::of(s).is_none() && service_selects(s, old))
        .collect();
    match selecting.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(EngineError::invalid(format!(
            "no service selects the pods of {}; name it with --service",
            req.pair.old_name
        ))),
        many => Err(EngineError::invalid(format!(
            "several services select the pods of {} ({}); name one with --service",
            req.pair.old_name,
            many.iter()
                .map(|s| service_name(s))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The Service of a blue-green update in progress, for `switch-back` and `cleanup`.
async fn find_switched(ctx: &Ctx, r: &BlueGreenRef) -> Result<(Service, SwitchState)> {
    let candidates: Vec<Service> = match &r.service {
        Some(name) => vec![
            api::get_service_opt(ctx, name)
                .await?
                .ok_or_else(|| EngineError::ServiceNotFound(name.clone()))?,
        ],
        None => api::list_services(ctx)
            .await?
            .into_iter()
            .filter(|s| SwitchState::of(s).is_some())
            .collect(),
    };
    let matching: Vec<(Service, SwitchState)> = candidates
        .into_iter()
        .filter_map(|s| SwitchState::of(&s).map(|st| (s, st)))
        .filter(|(_, st)| r.names.iter().all(|n| st.involves(n)))
        .collect();
    let mut matching = matching.into_iter();
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one),
        (None, _) => Err(EngineError::invalid(match &r.service {
            Some(name) => format!(
                "service/{name} is not in a blue-green update{}",
                names_suffix(&r.names)
            ),
            None => format!(
                "no service is in a blue-green update{}; name it with --service",
                names_suffix(&r.names)
            ),
        })),
        (Some(_), Some(_)) => Err(EngineError::invalid(
            "several services are in blue-green updates; name one with --service",
        )),
    }
}

fn names_suffix(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(" between {}", names.join(" and "))
    }
}

#[cfg(test)]
mod tests;
