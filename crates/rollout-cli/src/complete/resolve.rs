//! The lookups a completion needs: the cluster (RC names, an RC's images and containers,
//! namespaces) or the kubeconfig (contexts). A completion must never hang the shell or print
//! an error into it: every request has a short time limit, and a failure offers nothing.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ReplicationController};
use kube::Api;
use kube::api::ListParams;

use super::{Candidate, Lookup, Query, directive, render};

/// The longest a completion waits for the API server.
const LIMIT: Duration = Duration::from_secs(5);

/// The lines to print for `q`.
pub fn answer(q: Query) -> String {
    let Query {
        mut fixed,
        lookup,
        prefix,
        cluster,
    } = q;
    let directive = match &lookup {
        Lookup::Files(extensions) if !extensions.is_empty() => {
            // The candidates of this directive are the extensions themselves.
            let exts: Vec<Candidate> = extensions.iter().map(|e| Candidate::new(*e, "")).collect();
            return render(&exts, "", directive::FILTER_FILE_EXT);
        }
        Lookup::Files(_) => directive::DEFAULT,
        _ => directive::NO_FILE_COMP,
    };
    if !matches!(lookup, Lookup::None | Lookup::Files(_)) {
        fixed.extend(look_up(&lookup, &cluster).unwrap_or_default());
    }
    render(&fixed, &prefix, directive)
}

fn look_up(lookup: &Lookup, cluster: &crate::args::ClusterArgs) -> Option<Vec<Candidate>> {
    if let Lookup::Contexts = lookup {
        return contexts(cluster);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        let mut options = cluster.options.clone();
        options.request_timeout.get_or_insert(LIMIT);
        let connected = tokio::time::timeout(LIMIT, rollout_engine::connect(&options))
            .await
            .ok()?
            .ok()?;
        let client = connected.client;
        let rcs: Api<ReplicationController> = Api::namespaced(client.clone(), &connected.namespace);
        let found = match lookup {
            Lookup::RcNames => names(&rcs, "ReplicationController").await?,
            Lookup::RcImage { rc, container } => {
                let rc = tokio::time::timeout(LIMIT, rcs.get(rc)).await.ok()?.ok()?;
                containers(&rc)
                    .into_iter()
                    .filter(|(name, _)| container.as_ref().is_none_or(|c| c == name))
                    .filter_map(|(name, image)| {
                        Some(Candidate::new(
                            image?,
                            format!("current image (container {name})"),
                        ))
                    })
                    .collect()
            }
            Lookup::RcContainers { rc } => {
                let rc = tokio::time::timeout(LIMIT, rcs.get(rc)).await.ok()?.ok()?;
                containers(&rc)
                    .into_iter()
                    .map(|(name, image)| Candidate::new(name, image.unwrap_or_default()))
                    .collect()
            }
            Lookup::Namespaces => names(&Api::<Namespace>::all(client), "Namespace").await?,
            Lookup::None | Lookup::Contexts | Lookup::Files(_) => Vec::new(),
        };
        Some(found)
    })
}

/// The names of the objects `api` lists, each a candidate with `kind` as its help.
async fn names<K>(api: &Api<K>, kind: &str) -> Option<Vec<Candidate>>
where
    K: kube::Resource + Clone + k8s_openapi::serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = tokio::time::timeout(LIMIT, api.list_metadata(&ListParams::default()))
        .await
        .ok()?
        .ok()?;
    Some(
        list.items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .map(|name| Candidate::new(name, kind))
            .collect(),
    )
}

/// The (name, image) of each container of the RC's pod template.
fn containers(rc: &ReplicationController) -> Vec<(String, Option<String>)> {
    rc.spec
        .as_ref()
        .and_then(|s| s.template.as_ref())
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .map(|c| (c.name.clone(), c.image.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// The contexts of the kubeconfig `--kubeconfig` or `$KUBECONFIG` names (or the default one).
fn contexts(cluster: &crate::args::ClusterArgs) -> Option<Vec<Candidate>> {
    let config = match &cluster.options.kubeconfig {
        Some(path) => kube::config::Kubeconfig::read_from(path).ok()?,
        None => kube::config::Kubeconfig::read().ok()?,
    };
    Some(
        config
            .contexts
            .into_iter()
            .map(|c| {
                let help = c
                    .context
                    .map(|ctx| format!("cluster {}", ctx.cluster))
                    .unwrap_or_default();
                Candidate::new(c.name, help)
            })
            .collect(),
    )
}
