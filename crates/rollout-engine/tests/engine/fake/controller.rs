//! The simulated ReplicationController manager: adopts orphans, releases strays, creates
//! or deletes pods to match each RC's spec and keeps its status, as kube-controller-manager does.

use super::*;

impl State {
    /// The simulated RC manager: adopt orphans, release strays, create or delete pods to
    /// match the spec, update status.
    pub(super) fn reconcile(&mut self) {
        let names: Vec<String> = self.rcs.keys().cloned().collect();
        for name in names {
            let Some(rc) = self.rcs.get(&name).cloned() else {
                continue;
            };
            let uid = rc.metadata.uid.clone().unwrap_or_default();
            let selector = rc
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .unwrap_or_default();
            let spec = rc
                .spec
                .as_ref()
                .and_then(|s| s.replicas)
                .unwrap_or(1)
                .max(0) as usize;
            let pod_names: Vec<String> = self.pods.keys().cloned().collect();
            let mut owned = Vec::new();
            for pod_name in pod_names {
                let Some(pod) = self.pods.get_mut(&pod_name) else {
                    continue;
                };
                let matches = matches(&selector, pod.metadata.labels.as_ref());
                let controller = pod
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|r| r.controller == Some(true))
                    .map(|r| r.uid.clone());
                match (controller, matches) {
                    (Some(owner), true) if owner == uid => owned.push(pod_name),
                    (Some(owner), false) if owner == uid => pod.metadata.owner_references = None,
                    (None, true) => {
                        pod.metadata.owner_references = Some(vec![owner_ref(&name, &uid)]);
                        owned.push(pod_name);
                    }
                    _ => {}
                }
            }
            while owned.len() > spec {
                if let Some(victim) = owned.pop() {
                    self.pods.remove(&victim);
                }
            }
            while owned.len() < spec {
                let serial = self.next_serial();
                let pod_name = format!("{name}-{serial:05}");
                let template = rc
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.clone())
                    .unwrap_or_default();
                let image = template
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                let delayed = self.ready_delay.is_some();
                if delayed {
                    self.pending_ready.push(pod_name.clone());
                }
                let unpullable = self.unpullable_images.contains(&image);
                let ready = !self.unready_images.contains(&image) && !unpullable && !delayed;
                let rv = self.next_rv();
                let pod = Pod {
                    metadata: ObjectMeta {
                        name: Some(pod_name.clone()),
                        namespace: Some(NS.into()),
                        labels: template.metadata.as_ref().and_then(|m| m.labels.clone()),
                        owner_references: Some(vec![owner_ref(&name, &uid)]),
                        resource_version: Some(rv),
                        uid: Some(format!("pod-uid-{serial}")),
                        ..ObjectMeta::default()
                    },
                    spec: template.spec.clone(),
                    status: Some(PodStatus {
                        phase: Some("Running".into()),
                        pod_ip: Some(format!("10.244.{}.{}", serial / 250, serial % 250 + 2)),
                        conditions: Some(vec![PodCondition {
                            type_: "Ready".into(),
                            status: if ready { "True" } else { "False" }.into(),
                            last_transition_time: Some(Time(Timestamp::now())),
                            ..PodCondition::default()
                        }]),
                        container_statuses: unpullable.then(|| {
                            vec![ContainerStatus {
                                name: "nodejs".into(),
                                image: image.clone(),
                                state: Some(ContainerState {
                                    waiting: Some(ContainerStateWaiting {
                                        reason: Some("ErrImagePull".into()),
                                        message: Some(format!("{image}: not found")),
                                    }),
                                    ..ContainerState::default()
                                }),
                                ..ContainerStatus::default()
                            }]
                        }),
                        ..PodStatus::default()
                    }),
                };
                self.pods.insert(pod_name.clone(), pod);
                owned.push(pod_name);
            }
            let ready = owned
                .iter()
                .filter(|p| self.pods.get(*p).is_some_and(is_ready))
                .count() as i32;
            // Pods whose labels include all of the template's, as the controller counts them.
            let template_labels = rc
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            let fully_labeled = owned
                .iter()
                .filter(|p| {
                    self.pods
                        .get(*p)
                        .is_some_and(|pod| matches(&template_labels, pod.metadata.labels.as_ref()))
                })
                .count() as i32;
            if let Some(rc) = self.rcs.get_mut(&name) {
                rc.status = Some(ReplicationControllerStatus {
                    replicas: owned.len() as i32,
                    fully_labeled_replicas: Some(fully_labeled),
                    ready_replicas: Some(ready),
                    available_replicas: Some(ready),
                    observed_generation: rc.metadata.generation,
                    ..ReplicationControllerStatus::default()
                });
            }
        }
        let kubia: BTreeMap<String, String> = [("app".to_owned(), "kubia".to_owned())].into();
        let live: Vec<&Pod> = self
            .pods
            .values()
            .filter(|p| matches(&kubia, p.metadata.labels.as_ref()))
            .collect();
        self.max_pods_seen = self.max_pods_seen.max(live.len());
        let ready = live.iter().filter(|p| is_ready(p)).count();
        if self.rcs.len() > 1 {
            self.min_ready_seen = Some(self.min_ready_seen.map_or(ready, |m| m.min(ready)));
        }
    }
}

pub(super) fn owner_ref(name: &str, uid: &str) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "ReplicationController".into(),
        name: name.into(),
        uid: uid.into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

pub(super) fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
