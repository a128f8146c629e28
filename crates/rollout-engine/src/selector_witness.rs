//! Narrowing a Service's selector to a label its pods have only just received, without a
//! moment in which the Service has no endpoints.
//!
//! The EndpointSlice controller matches a Service's selector against its own (informer)
//! copy of the pods. If the selector is narrowed the instant the pods were relabelled, that
//! copy may still lack the new label: the Service's endpoints are emptied until the pod
//! updates arrive, and meanwhile kube-proxy refuses its connections. A fixed sleep would only
//! make this unlikely. Instead, a headless *witness* Service with the narrowed selector is
//! created first (kube-proxy ignores headless Services); once its EndpointSlices list every
//! pod the narrowed selector should keep, the controller's copy has the labels — and that
//! copy only moves forward — so the real Service can be narrowed. Then the witness goes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use kube::api::{ListParams, PostParams};
use kube::core::ObjectMeta;

use crate::api;
use crate::context::Ctx;
use crate::error::{EngineError, Result};
use crate::model::labels::{pod_name, selector_string};
use crate::retry::call;
use crate::waiting::wait::{self, Look};
use crate::waiting::wake::Wake;

/// Label on the witness naming the Service it stands in for.
pub const WITNESS_OF: &str = "kubia-rollout/selector-witness-of";

/// How often the witness's EndpointSlices are read (the controller usually takes
/// milliseconds, so this is a short, bounded poll rather than a watch).
const POLL: Duration = Duration::from_millis(200);

/// The witness's name: `<service>-selector-witness`, shortened to a valid Service name.
pub fn witness_name(service: &str) -> String {
    const SUFFIX: &str = "-selector-witness";
    let keep = 63 - SUFFIX.len();
    let base: String = service.chars().take(keep).collect();
    format!("{}{SUFFIX}", base.trim_end_matches('-'))
}

/// Returns once the EndpointSlice controller matches `selector` against pods that carry its
/// labels: every live pod with an IP that `selector` selects (by our reading) is listed in
/// a witness Service's EndpointSlices.
pub(crate) async fn until_endpoints_follow(
    ctx: &Ctx,
    service: &Service,
    selector: &BTreeMap<String, String>,
) -> Result<()> {
    let svc = service.metadata.name.as_deref().unwrap_or_default();
    let name = witness_name(svc);
    create_or_update(ctx, &name, svc, service, selector).await?;
    let waited = wait_listed(ctx, &name, selector).await;
    // Delete the witness whether or not the wait succeeded; a leftover (after Ctrl-C, say)
    // is harmless and is reused by the next run.
    let deleted = api::delete_service(ctx, &name).await;
    waited.and(deleted)
}

fn witness(
    name: &str,
    of: &str,
    service: &Service,
    selector: &BTreeMap<String, String>,
) -> Service {
    // The ports only name what the slices list; a headless Service takes no node ports.
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|ports| {
            ports
                .iter()
                .map(|p| ServicePort {
                    name: p.name.clone(),
                    port: p.port,
                    protocol: p.protocol.clone(),
                    target_port: p.target_port.clone(),
                    ..ServicePort::default()
                })
                .collect()
        });
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some([(WITNESS_OF.to_owned(), of.to_owned())].into()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".to_owned()),
            selector: Some(selector.clone()),
            ports,
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

async fn create_or_update(
    ctx: &Ctx,
    name: &str,
    of: &str,
    service: &Service,
    selector: &BTreeMap<String, String>,
) -> Result<()> {
    let api = ctx.services();
    let wanted = witness(name, of, service, selector);
    let pp = PostParams::default();
    let created = call(ctx, &format!("creating service {name}"), || {
        api.create(&pp, &wanted)
    })
    .await;
    match created {
        Ok(_) => Ok(()),
        // A leftover of an interrupted run is reused; a Service of someone else's that
        // happens to have the name is neither changed nor (later) deleted.
        Err(e) if e.is_already_exists() => {
            api::update_service(ctx, name, |existing| {
                let labels = existing.metadata.labels.as_ref();
                if labels.and_then(|l| l.get(WITNESS_OF)).map(String::as_str) != Some(of) {
                    return Err(EngineError::invalid(format!(
                        "service/{name} exists and is not a selector witness of service/{of} (label {WITNESS_OF}); delete or rename it and run the command again"
                    )));
                }
                let spec = existing.spec.get_or_insert_with(Default::default);
                if spec.selector.as_ref() == Some(selector) {
                    return Ok(false);
                }
                spec.selector = Some(selector.clone());
                Ok(true)
            })
            .await?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

async fn wait_listed(ctx: &Ctx, name: &str, selector: &BTreeMap<String, String>) -> Result<()> {
    let slices = ctx.endpoint_slices();
    let by_service = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    // Nothing to follow: EndpointSlices are listed, not watched, so this waits `POLL`.
    wait::until(ctx, async |_: &mut Wake| {
        let expected: BTreeSet<String> = api::list_pods(ctx, selector)
            .await?
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.status.as_ref().and_then(|s| s.pod_ip.as_ref()).is_some())
            .map(|p| pod_name(p).to_owned())
            .collect();
        let listed: BTreeSet<String> =
            call(ctx, "listing endpointslices", || slices.list(&by_service))
                .await?
                .items
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .filter_map(|e| e.target_ref.as_ref())
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .filter_map(|r| r.name.clone())
                .collect();
        let missing: Vec<&str> = expected.difference(&listed).map(String::as_str).collect();
        if missing.is_empty() {
            return Ok(Look::Done(()));
        }
        Ok(Look::pending(
            format!(
                "waiting for the EndpointSlice controller to see the new labels ({} of {} pods)",
                expected.len() - missing.len(),
                expected.len()
            ),
            format!(
                "timed out waiting for the EndpointSlice controller to match {} (service/{name} does not list {}); is kube-controller-manager running?",
                selector_string(selector),
                missing.join(", "),
            ),
            POLL,
        ))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witness_names_are_valid_service_names() {
        assert_eq!(witness_name("kubia"), "kubia-selector-witness");
        let long = "a".repeat(63);
        let name = witness_name(&long);
        assert_eq!(name.len(), 63);
        assert!(name.ends_with("-selector-witness"));
        let dashy = format!("{}-b", "a".repeat(45));
        assert_eq!(
            witness_name(&dashy),
            format!("{}-selector-witness", "a".repeat(45))
        );
    }

    #[test]
    fn the_witness_is_headless_without_node_ports() {
        let service = Service {
            spec: Some(ServiceSpec {
                type_: Some("NodePort".into()),
                ports: Some(vec![ServicePort {
                    port: 80,
                    node_port: Some(30002),
                    target_port: Some(
                        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(8080),
                    ),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            ..Service::default()
        };
        let selector: BTreeMap<String, String> = [("app".into(), "kubia".into())].into();
        let w = witness("kubia-selector-witness", "kubia", &service, &selector);
        let spec = w.spec.unwrap();
        assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
        assert_eq!(spec.type_, None);
        assert_eq!(spec.selector, Some(selector));
        let ports = spec.ports.unwrap();
        assert_eq!(ports[0].node_port, None);
        assert_eq!(ports[0].port, 80);
        assert_eq!(
            w.metadata
                .labels
                .unwrap()
                .get(WITNESS_OF)
                .map(String::as_str),
            Some("kubia")
        );
    }
}
