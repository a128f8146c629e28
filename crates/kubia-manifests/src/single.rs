//! One workload (and its Service) for one version: the `rc`, `replicaset`, `deployment` and
//! `service` kinds.
//!
//! Pods carry `app=<name>` (what the Service selects) and `version=<tag>` (so each version's
//! pods can be counted and selected while two run side by side).

use crate::deployment::DeploymentOptions;
use crate::error::Error;
use crate::manifest::{Builder, Manifest};
use crate::params::{Checked, Params};
use crate::pod::{Labels, labels};
use crate::service::nodeport_service;
use crate::validate::{validate_label_key, validate_label_value};
use crate::workload::{
    WorkloadInput, deployment as deployment_object, replica_set, replication_controller,
};

fn version_labels(c: &Checked) -> Labels {
    labels([("app", &c.name), ("version", c.version())])
}

/// `<name>-<version>-rc.yaml`: the RC alone (e.g. the target of a manual rolling update),
/// selecting `app` and `version`.
pub fn rc(p: &Params) -> Result<Manifest, Error> {
    let c = p.checked()?;
    let name = c.object_name(c.version())?;
    let mut b = Builder::new(&c, format!("{name}-rc"));
    let l = version_labels(&c);
    let template = b.pod(&c, l.clone(), false);
    b.push(replication_controller(&WorkloadInput {
        name,
        namespace: c.namespace.clone(),
        replicas: c.replicas,
        selector: Some(l),
        template,
    }));
    Ok(b.finish())
}

/// `<name>-<version>-replicaset.yaml`: the apps/v1 successor of the RC, same shape.
pub fn replicaset(p: &Params) -> Result<Manifest, Error> {
    let c = p.checked()?;
    let name = c.object_name(c.version())?;
    let mut b = Builder::new(&c, format!("{name}-replicaset"));
    let l = version_labels(&c);
    let template = b.pod(&c, l.clone(), false);
    b.push(replica_set(&WorkloadInput {
        name,
        namespace: c.namespace.clone(),
        replicas: c.replicas,
        selector: Some(l),
        template,
    }));
    Ok(b.finish())
}

/// `<name>-deployment-<version>[-with-readinesscheck].yaml`: Deployment `<name>` and its
/// Service. The Deployment's name and selector (`app` only) do not depend on the version,
/// so applying the v2 file over the v1 one starts a rollout; the Service is included so each
/// file stands alone, and re-applying it changes nothing.
pub fn deployment(p: &Params, opts: &DeploymentOptions) -> Result<Manifest, Error> {
    let c = p.checked()?;
    opts.check()?;
    let suffix = if c.readiness.is_some() {
        "-with-readinesscheck"
    } else {
        ""
    };
    let mut b = Builder::new(&c, format!("{}-deployment-{}{suffix}", c.name, c.version()));
    let app = labels([("app", &c.name)]);
    let template = b.pod(&c, version_labels(&c), false);
    let d = deployment_object(
        &WorkloadInput {
            name: c.name.clone(),
            namespace: c.namespace.clone(),
            replicas: c.replicas,
            selector: Some(app.clone()),
            template,
        },
        opts,
    );
    b.push(d);
    b.push(nodeport_service(
        &c.name,
        c.namespace.as_deref(),
        app,
        c.node_port,
    ));
    Ok(b.finish())
}

/// `<name>-service.yaml`: the Service alone, selecting `app=<name>` plus `extra` labels,
/// e.g. `color=green` to switch a blue-green release with `kubectl apply`.
pub fn service(p: &Params, extra: &[(String, String)]) -> Result<Manifest, Error> {
    let c = p.checked()?;
    let mut selector = labels([("app", &c.name)]);
    for (k, v) in extra {
        validate_label_key(k).map_err(|e| Error::invalid_str("selector key", k, e))?;
        validate_label_value(v).map_err(|e| Error::invalid_str("selector value", v, e))?;
        selector.insert(k.clone(), v.clone());
    }
    // A Service has nothing to harden: keep its file name at the top level.
    let plain = Checked {
        hardened: false,
        ..c
    };
    let mut b = Builder::new(&plain, format!("{}-service", plain.name));
    b.push(nodeport_service(
        &plain.name,
        plain.namespace.as_deref(),
        selector,
        plain.node_port,
    ));
    Ok(b.finish())
}
