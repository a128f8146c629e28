//! The tutorial's `kubia-v1.yaml`: RC `kubia-v1` and Service `kubia`, the starting point of
//! `kubectl rolling-update kubia-v1 kubia-v2 --image=luksa/kubia:v2`.

use crate::error::Error;
use crate::manifest::{Builder, Manifest};
use crate::params::Params;
use crate::pod::labels;
use crate::service::nodeport_service;
use crate::workload::{WorkloadInput, replication_controller};

/// The tutorial's file for `p` (the defaults give it verbatim). The RC has no selector
/// (the API server copies the template labels) and the container no `imagePullPolicy`,
/// exactly like the book; `--hardened` or an explicit pull policy add what they must.
pub fn tutorial(p: &Params) -> Result<Manifest, Error> {
    let c = p.checked()?;
    let name = c.object_name(c.version())?;
    let mut b = Builder::new(&c, name.clone());
    let app = labels([("app", &c.name)]);
    let template = b.pod(&c, app.clone(), true);
    let rc = replication_controller(&WorkloadInput {
        name,
        namespace: c.namespace.clone(),
        replicas: c.replicas,
        selector: None,
        template,
    });
    b.push(rc);
    b.push(nodeport_service(
        &c.name,
        c.namespace.as_deref(),
        app,
        c.node_port,
    ));
    Ok(b.finish())
}
