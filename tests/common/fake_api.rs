//! A stateful in-memory Kubernetes API server for tests that run whole
//! processes (several operator instances, watches, a Lease) rather than
//! check single requests: objects by path with resourceVersions, 409 on a
//! stale PUT or a duplicate POST, lists, watches that stream every later
//! change, merge semantics for PATCH (server-side apply included, which is
//! enough for what drover writes), and a fault switch per client.
//!
//! Every request is logged with the name of the client that sent it.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::combinators::BoxBody;
use http_body_util::{Full, StreamBody};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What a client's requests meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Connection refused at once.
    Refuse,
    /// No answer, ever (a partition).
    Hang,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Logged {
    pub client: String,
    pub method: Method,
    /// Path and query.
    pub uri: String,
    /// Whether it reached the server (no fault stood in its way).
    pub served: bool,
}

#[derive(Default)]
struct State {
    /// collection path (`/apis/g/v/namespaces/ns/plural`) → name → object
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    version: u64,
    log: Vec<Logged>,
    faults: HashMap<String, Fault>,
    watchers: Vec<(String, Option<String>, mpsc::UnboundedSender<Bytes>)>,
}

/// Cheap to clone; all clients made from it share one state.
#[derive(Clone, Default)]
pub struct FakeApi(Arc<Mutex<State>>);

type ResponseBody = BoxBody<Bytes, Infallible>;

impl FakeApi {
    /// A client whose requests are logged as `name` and meet `name`'s fault.
    pub fn client(&self, name: &str) -> kube::Client {
        let api = self.clone();
        let name = name.to_string();
        let service = tower::service_fn(move |request: Request<Body>| {
            let (api, name) = (api.clone(), name.clone());
            async move { api.handle(&name, request).await }
        });
        kube::Client::new(service, "default")
    }

    pub fn set_fault(&self, client: &str, fault: Fault) {
        self.lock().faults.insert(client.to_string(), fault);
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// The object at `collection`/`name`.
    pub fn get(&self, collection: &str, name: &str) -> Option<Value> {
        self.lock().objects.get(collection).and_then(|c| c.get(name)).cloned()
    }

    /// Every object in `collection`.
    pub fn list(&self, collection: &str) -> Vec<Value> {
        self.lock()
            .objects
            .get(collection)
            .map(|c| c.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores `object` (with a fresh resourceVersion) at `collection`/its name, as a client would.
    pub fn put(&self, collection: &str, mut object: Value) {
        let mut state = self.lock();
        let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
        store(&mut state, collection, &name, &mut object, "ADDED");
    }

    /// Deletes `collection`/`name` as a client would (watches see it go).
    pub fn delete(&self, collection: &str, name: &str) {
        let mut state = self.lock();
        if let Some(object) = state.objects.get_mut(collection).and_then(|c| c.remove(name)) {
            notify(&mut state, collection, "DELETED", &object);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn handle(&self, client: &str, request: Request<Body>) -> Result<Response<ResponseBody>, std::io::Error> {
        let method = request.method().clone();
        let uri = request
            .uri()
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let fault = {
            let mut state = self.lock();
            let fault = state.faults.get(client).copied().unwrap_or(Fault::None);
            state.log.push(Logged {
                client: client.to_string(),
                method: method.clone(),
                uri: uri.clone(),
                served: fault == Fault::None,
            });
            fault
        };
        match fault {
            Fault::None => {}
            Fault::Refuse => return Err(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused")),
            Fault::Hang => std::future::pending::<()>().await,
        }
        let apply = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/apply-patch"));
        let bytes = request.into_body().collect_bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let (path, query) = uri.split_once('?').unwrap_or((uri.as_str(), ""));
        let query: HashMap<&str, String> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k, percent_decode(v)))
            .collect();
        Ok(self.answer(&method, path, &query, body, apply))
    }

    fn answer(
        &self,
        method: &Method,
        path: &str,
        query: &HashMap<&str, String>,
        body: Value,
        apply: bool,
    ) -> Response<ResponseBody> {
        let target = Target::parse(path);
        let mut state = self.lock();
        match (method.clone(), target) {
            (Method::GET, Target::Collection { path }) => {
                let selector = query.get("labelSelector").cloned();
                if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
                    let (tx, rx) = mpsc::unbounded_channel();
                    state.watchers.push((path, selector, tx));
                    let frames = futures::stream::unfold(rx, |mut rx| async move {
                        rx.recv().await.map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
                    });
                    return Response::builder()
                        .status(StatusCode::OK)
                        .header("content-type", "application/json")
                        .body(BoxBody::new(StreamBody::new(frames)))
                        .expect("response builds");
                }
                let items: Vec<Value> = state
                    .objects
                    .iter()
                    .filter(|(collection, _)| in_collection(collection, &path))
                    .flat_map(|(_, objects)| objects.values())
                    .filter(|o| matches_selector(o, selector.as_deref()))
                    .cloned()
                    .collect();
                let version = state.version.to_string();
                json_response(
                    StatusCode::OK,
                    &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": version}, "items": items}),
                )
            }
            (
                Method::GET,
                Target::Object {
                    collection,
                    name,
                    subresource,
                },
            ) => match state.objects.get(&collection).and_then(|c| c.get(&name)) {
                Some(o) if subresource.as_deref() == Some("log") => {
                    let _ = o;
                    Response::builder()
                        .status(StatusCode::OK)
                        .body(BoxBody::new(Full::new(Bytes::new())))
                        .expect("response builds")
                }
                Some(o) => json_response(StatusCode::OK, o),
                None => not_found(&name),
            },
            (Method::POST, Target::Collection { path }) => {
                let mut object = body;
                let name = object["metadata"]["name"].as_str().unwrap_or_default().to_string();
                if state.objects.get(&path).is_some_and(|c| c.contains_key(&name)) {
                    return status_response(409, "AlreadyExists", &format!("{name} already exists"));
                }
                store(&mut state, &path, &name, &mut object, "ADDED");
                json_response(StatusCode::CREATED, &object)
            }
            (Method::PUT, Target::Object { collection, name, .. }) => {
                let current = state.objects.get(&collection).and_then(|c| c.get(&name)).cloned();
                let Some(current) = current else {
                    return not_found(&name);
                };
                let sent = body["metadata"]["resourceVersion"].as_str().map(str::to_string);
                if sent.is_some() && sent.as_deref() != current["metadata"]["resourceVersion"].as_str() {
                    return status_response(409, "Conflict", "the object has been modified");
                }
                let mut object = body;
                store(&mut state, &collection, &name, &mut object, "MODIFIED");
                json_response(StatusCode::OK, &object)
            }
            (
                Method::PATCH,
                Target::Object {
                    collection,
                    name,
                    subresource,
                },
            ) => {
                let existing = state.objects.get(&collection).and_then(|c| c.get(&name)).cloned();
                let mut object = existing.clone().unwrap_or_else(|| json!({"metadata": {"name": name}}));
                if apply && subresource.as_deref() == Some("status") {
                    // Server-side apply by the status's one manager: what it omits, it no longer owns.
                    object["status"] = body["status"].clone();
                } else if subresource.as_deref() == Some("scale") {
                    // A Scale (autoscaling/v1) sets the workload's spec.replicas, nothing else.
                    if existing.is_none() {
                        return not_found(&name);
                    }
                    object["spec"]["replicas"] = body["spec"]["replicas"].clone();
                    let scale = json!({
                        "apiVersion": "autoscaling/v1",
                        "kind": "Scale",
                        "metadata": {"name": name, "namespace": object["metadata"]["namespace"].clone()},
                        "spec": {"replicas": object["spec"]["replicas"].clone()},
                    });
                    if existing.as_ref() != Some(&object) {
                        store(&mut state, &collection, &name, &mut object, "MODIFIED");
                    }
                    return json_response(StatusCode::OK, &scale);
                } else {
                    merge(&mut object, &body);
                }
                match existing {
                    // A write that changes nothing keeps its resourceVersion and wakes no watch.
                    Some(before) if before == object => json_response(StatusCode::OK, &before),
                    Some(_) => {
                        store(&mut state, &collection, &name, &mut object, "MODIFIED");
                        json_response(StatusCode::OK, &object)
                    }
                    None => {
                        store(&mut state, &collection, &name, &mut object, "ADDED");
                        json_response(StatusCode::OK, &object)
                    }
                }
            }
            (Method::DELETE, Target::Object { collection, name, .. }) => {
                match state.objects.get_mut(&collection).and_then(|c| c.remove(&name)) {
                    Some(object) => {
                        notify(&mut state, &collection, "DELETED", &object);
                        json_response(StatusCode::OK, &object)
                    }
                    None => not_found(&name),
                }
            }
            _ => status_response(405, "MethodNotAllowed", "not supported by the fake API server"),
        }
    }
}

enum Target {
    /// `/api/v1/pods`, `/apis/g/v/namespaces/ns/plural`
    Collection { path: String },
    Object {
        collection: String,
        name: String,
        subresource: Option<String>,
    },
}

impl Target {
    fn parse(path: &str) -> Self {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        // The resource segments start after `api/v1` or `apis/group/version`.
        let base = if parts.first() == Some(&"api") { 2 } else { 3 };
        let rest = parts.get(base..).unwrap_or_default();
        let namespaced = rest.first() == Some(&"namespaces") && rest.len() >= 3;
        let resource_at = if namespaced { 2 } else { 0 };
        let collection = format!("/{}", parts[..(base + resource_at + 1).min(parts.len())].join("/"));
        match rest.get(resource_at + 1) {
            None => Target::Collection { path: collection },
            Some(name) => Target::Object {
                collection,
                name: name.to_string(),
                subresource: rest.get(resource_at + 2).map(|s| s.to_string()),
            },
        }
    }
}

/// Whether objects stored under `collection` answer a list of `asked` (a namespaced collection,
/// or the same resource across all namespaces).
fn in_collection(collection: &str, asked: &str) -> bool {
    if collection == asked {
        return true;
    }
    // asked: /apis/g/v/plural ; collection: /apis/g/v/namespaces/ns/plural
    let (a_prefix, a_plural) = asked.rsplit_once('/').unwrap_or(("", asked));
    let (c_prefix, c_plural) = collection.rsplit_once('/').unwrap_or(("", collection));
    a_plural == c_plural
        && c_prefix
            .strip_prefix(a_prefix)
            .is_some_and(|rest| rest.starts_with("/namespaces/"))
}

fn matches_selector(object: &Value, selector: Option<&str>) -> bool {
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return true;
    };
    let labels = &object["metadata"]["labels"];
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => labels[k.trim_end_matches('=')].as_str() == Some(v),
        None => !labels[term].is_null(),
    })
}

fn store(state: &mut State, collection: &str, name: &str, object: &mut Value, kind: &str) {
    state.version += 1;
    object["metadata"]["resourceVersion"] = json!(state.version.to_string());
    if object["metadata"]["uid"].is_null() {
        object["metadata"]["uid"] = json!(format!("uid-{}", state.version));
    }
    if object["metadata"]["namespace"].is_null()
        && let Some(ns) = collection
            .split("/namespaces/")
            .nth(1)
            .and_then(|r| r.split('/').next())
    {
        object["metadata"]["namespace"] = json!(ns);
    }
    state
        .objects
        .entry(collection.to_string())
        .or_default()
        .insert(name.to_string(), object.clone());
    notify(state, collection, kind, object);
}

fn notify(state: &mut State, collection: &str, kind: &str, object: &Value) {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).expect("event serializes");
    line.push(b'\n');
    let line = Bytes::from(line);
    state.watchers.retain(|(path, selector, tx)| {
        if !in_collection(collection, path) || !matches_selector(object, selector.as_deref()) {
            return !tx.is_closed();
        }
        tx.send(line.clone()).is_ok()
    });
}

/// JSON merge patch (RFC 7386), which is what SSA and merge patches of drover's fields amount to
/// here; `null` deletes.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(&bytes[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn json_response(status: StatusCode, body: &Value) -> Response<ResponseBody> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(BoxBody::new(Full::new(Bytes::from(
            serde_json::to_vec(body).expect("response serializes"),
        ))))
        .expect("response builds")
}

fn status_response(code: u16, reason: &str, message: &str) -> Response<ResponseBody> {
    json_response(
        StatusCode::from_u16(code).expect("a status code"),
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}),
    )
}

fn not_found(name: &str) -> Response<ResponseBody> {
    status_response(404, "NotFound", &format!("{name} not found"))
}
