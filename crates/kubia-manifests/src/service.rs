//! The NodePort Service in front of the pods, as in the tutorial.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::pod::Labels;
use crate::probe::CONTAINER_PORT;

/// The Service's cluster port (the tutorial's `port: 80`).
pub const SERVICE_PORT: i32 = 80;

/// A `NodePort` Service: port 80 → the pods' 8080, on `node_port` of every node. Which pods
/// it reaches is the whole trick of blue-green and canary releases: `selector`.
pub fn nodeport_service(
    name: &str,
    namespace: Option<&str>,
    selector: Labels,
    node_port: i32,
) -> Service {
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: namespace.map(str::to_owned),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("NodePort".to_owned()),
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                port: SERVICE_PORT,
                target_port: Some(IntOrString::Int(CONTAINER_PORT)),
                node_port: Some(node_port),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}
