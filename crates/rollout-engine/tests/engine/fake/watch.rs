//! Watches: changes streamed as JSON lines from the recorded log, and delayed readiness.

use super::*;

pub(super) fn watch_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

pub(super) type FakeBody = UnsyncBoxBody<Bytes, Infallible>;

pub(super) fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    match state.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// After a change: wake the watches, and schedule delayed readiness.
pub(super) fn changed(state: &Arc<Mutex<State>>, notify: &Arc<Notify>) {
    let (any, delay, pending) = {
        let mut s = lock(state);
        let any = s.record_changes();
        (any, s.ready_delay, std::mem::take(&mut s.pending_ready))
    };
    if any {
        notify.notify_waiters();
    }
    if let Some(delay) = delay
        && !pending.is_empty()
        && let Ok(runtime) = tokio::runtime::Handle::try_current()
    {
        let (state, notify) = (state.clone(), notify.clone());
        runtime.spawn(async move {
            tokio::time::sleep(delay).await;
            lock(&state).make_ready(&pending);
            changed(&state, &notify);
        });
    }
}

/// Answers a watch request with a body that streams events until the client drops it.
pub(super) fn watch(
    state: &Arc<Mutex<State>>,
    notify: &Arc<Notify>,
    path: &str,
    query: &str,
) -> (u16, Option<FakeBody>) {
    let Some(resource) = ["replicationcontrollers", "pods"]
        .into_iter()
        .find(|r| path.ends_with(&format!("/{r}")))
    else {
        return (404, None);
    };
    let selector = parse_selector(query);
    let name = query_param(query, "fieldSelector")
        .map(|f| f.replace("%3D", "="))
        .and_then(|f| f.strip_prefix("metadata.name=").map(str::to_owned));
    let wanted = move |resource_of: &str, n: &str, labels: &BTreeMap<String, String>| {
        resource_of == resource
            && name.as_deref().is_none_or(|want| want == n)
            && (selector.is_empty() || matches(&selector, Some(labels)))
    };
    let since = query_param(query, "resourceVersion").unwrap_or("");
    let (cursor, initial) = {
        let mut s = lock(state);
        s.log.push(format!("WATCH {path}"));
        if s.refuse_watch {
            return (403, None);
        }
        match since.parse::<u64>() {
            Ok(rv) if rv > 0 => (rv, VecDeque::new()),
            _ => {
                let mut initial: VecDeque<Bytes> = s
                    .snapshot
                    .iter()
                    .filter(|((r, n), v)| {
                        let labels = v
                            .pointer("/metadata/labels")
                            .and_then(|l| serde_json::from_value(l.clone()).ok())
                            .unwrap_or_default();
                        wanted(r, n, &labels)
                    })
                    .map(|(_, v)| watch_line("ADDED", v))
                    .collect();
                if query_param(query, "sendInitialEvents") == Some("true") {
                    initial.push_back(watch_line(
                        "BOOKMARK",
                        &json!({"kind": "Pod", "apiVersion": "v1", "metadata": {
                            "resourceVersion": s.rv.to_string(),
                            "annotations": {"k8s.io/initial-events-end": "true"}}}),
                    ));
                }
                (s.rv, initial)
            }
        }
    };
    let (state, notify) = (state.clone(), notify.clone());
    let wanted = Arc::new(wanted);
    let events = futures::stream::unfold((cursor, initial), move |(mut cursor, mut initial)| {
        let (state, notify, wanted) = (state.clone(), notify.clone(), wanted.clone());
        async move {
            if let Some(line) = initial.pop_front() {
                return Some((line, (cursor, initial)));
            }
            loop {
                // Registered before looking, so a change in between is not missed.
                let notified = notify.notified();
                let next = lock(&state)
                    .events
                    .iter()
                    .find(|e| e.seq > cursor && wanted(e.resource, &e.name, &e.labels))
                    .map(|e| (e.seq, e.line.clone()));
                if let Some((seq, line)) = next {
                    cursor = seq;
                    return Some((line, (cursor, initial)));
                }
                notified.await;
            }
        }
    });
    let body = StreamBody::new(futures::StreamExt::map(events, |line| {
        Ok::<_, Infallible>(Frame::data(line))
    }));
    (200, Some(body.boxed_unsync()))
}
