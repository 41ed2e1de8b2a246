//! Poison pills: one object that does not deserialize must not stop a controller for everyone.
//!
//! kube decodes a list (and a watch event) into `K` as a whole, so one object drover cannot read —
//! an integer out of its Rust type's range stored before the CRD had a `maximum`, a wrong type
//! inside a preserve-unknown-fields Job template — fails every list and watch of that kind, in
//! every namespace (kube-rs #774). The watches here decode each object on its own
//! ([`DeserializeGuard`]): a readable object goes on as before; an unreadable one is dropped from
//! the stream (and from the cache, if an earlier version was in it, so nothing acts on a stale
//! spec) and reported once by the controller that owns its kind: the `Invalid` condition (reason
//! `Unreadable`) and phase `Invalid` through a merge patch of its status, a Warning Event, a log
//! line and `drover_invalid_objects_total`. When the object is readable again the `Unreadable`
//! condition is removed and the controller takes it up.

use super::Shared;
use super::metrics::Kind;
use crate::controller::events::EventRecorder;
use crate::controller::{Event, FIELD_MANAGER};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::{DeserializeGuard, NamespaceResourceScope, error_boundary::InvalidObject};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The reason of the `Invalid` condition and of the Event about an unreadable object.
pub const UNREADABLE: &str = "Unreadable";

/// The most of a decoding error quoted in a condition, an Event or a log line.
const ERROR_CHARS: usize = 300;

/// `api`'s objects, each decoded on its own.
pub fn guarded<K>(api: Api<K>) -> Api<DeserializeGuard<K>>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>,
{
    let namespace = api.namespace().map(str::to_owned);
    crate::controller::api_in(&api.into_client(), namespace.as_deref())
}

/// The events of `events` for the objects that decode. An unreadable object is reported to
/// `reporter` (if any) and, when `known` holds an earlier readable version of it, turned into
/// that version's deletion. A readable object is shown to `reporter` too, which clears an
/// `Unreadable` condition left from before.
pub fn valid_only<K, S>(
    events: S,
    known: Option<Store<K>>,
    reporter: Option<Arc<InvalidReporter>>,
) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + use<K, S>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + Send + Sync + 'static,
    S: Stream<Item = Result<watcher::Event<DeserializeGuard<K>>, watcher::Error>> + Send,
{
    events.filter_map(move |event| {
        let out = match event {
            Err(e) => Some(Err(e)),
            Ok(event) => convert(event, known.as_ref(), reporter.as_deref()).map(Ok),
        };
        std::future::ready(out)
    })
}

fn convert<K>(
    event: watcher::Event<DeserializeGuard<K>>,
    known: Option<&Store<K>>,
    reporter: Option<&InvalidReporter>,
) -> Option<watcher::Event<K>>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + Send + Sync + 'static,
{
    use watcher::Event as E;
    // The earlier readable version of an object now unreadable, as a deletion.
    let forget = |bad: &InvalidObject| {
        let name = bad.metadata.name.as_deref()?;
        let mut key = ObjectRef::<K>::new(name);
        if let Some(ns) = bad.metadata.namespace.as_deref() {
            key = key.within(ns);
        }
        known?.get(&key).map(|old| E::Delete((*old).clone()))
    };
    match event {
        E::Init => Some(E::Init),
        E::InitDone => Some(E::InitDone),
        E::Apply(DeserializeGuard(Ok(k))) => {
            if let Some(r) = reporter {
                r.readable(&k);
            }
            Some(E::Apply(k))
        }
        E::InitApply(DeserializeGuard(Ok(k))) => {
            if let Some(r) = reporter {
                r.readable(&k);
            }
            Some(E::InitApply(k))
        }
        E::Delete(DeserializeGuard(Ok(k))) => {
            if let Some(r) = reporter {
                r.gone(k.meta().namespace.as_deref(), &k.name_any());
            }
            Some(E::Delete(k))
        }
        E::Apply(DeserializeGuard(Err(bad))) | E::InitApply(DeserializeGuard(Err(bad))) => {
            match reporter {
                Some(r) => r.unreadable::<K>(&bad),
                None => tracing::debug!(
                    kind = %K::kind(&()),
                    object = %key(&bad),
                    error = %cut(&bad.error),
                    "skipping an object drover cannot read"
                ),
            }
            forget(&bad)
        }
        E::Delete(DeserializeGuard(Err(bad))) => {
            if let Some(r) = reporter {
                r.gone(
                    bad.metadata.namespace.as_deref(),
                    bad.metadata.name.as_deref().unwrap_or_default(),
                );
            }
            forget(&bad)
        }
    }
}

fn key(bad: &InvalidObject) -> String {
    format!(
        "{}/{}",
        bad.metadata.namespace.as_deref().unwrap_or_default(),
        bad.metadata.name.as_deref().unwrap_or_default()
    )
}

fn cut(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= ERROR_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(ERROR_CHARS).collect();
    out.push_str("...");
    out
}

/// Reports the unreadable objects of one kind, once per (object, error), from the leader only.
pub struct InvalidReporter {
    client: Client,
    kind: Kind,
    shared: Shared,
    recorder: EventRecorder,
    /// `namespace/name` → the uid and error last reported.
    reported: Arc<Mutex<HashMap<String, String>>>,
}

impl InvalidReporter {
    pub fn new(client: Client, kind: Kind, instance: Option<String>, shared: Shared) -> Self {
        Self {
            recorder: EventRecorder::new(client.clone(), FIELD_MANAGER, instance),
            client,
            kind,
            shared,
            reported: Arc::default(),
        }
    }

    fn unreadable<K: Resource<DynamicType = ()>>(&self, bad: &InvalidObject) {
        let object = key(bad);
        let error = cut(&bad.error);
        if !self.shared.gate.may_act() {
            // The leader reports it; a follower only notes it.
            tracing::debug!(kind = self.kind.as_str(), %object, %error, "skipping an object drover cannot read");
            return;
        }
        let fingerprint = format!("{}\n{error}", bad.metadata.uid.as_deref().unwrap_or_default());
        if crate::sync::lock(&self.reported).insert(object.clone(), fingerprint.clone()) == Some(fingerprint) {
            return;
        }
        tracing::warn!(
            kind = self.kind.as_str(),
            %object,
            %error,
            "drover cannot read this object: it is skipped, and reported Invalid, until it is fixed"
        );
        self.shared.metrics.invalid_object(self.kind);
        let (Some(namespace), Some(name)) = (bad.metadata.namespace.clone(), bad.metadata.name.clone()) else {
            return;
        };
        let resource = ApiResource::erase::<K>(&());
        let regarding = ObjectReference {
            api_version: Some(resource.api_version.clone()),
            kind: Some(resource.kind.clone()),
            namespace: Some(namespace.clone()),
            name: Some(name.clone()),
            uid: bad.metadata.uid.clone(),
            ..ObjectReference::default()
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &namespace, &resource);
        let message = format!(
            "drover cannot read this {}: {error}. It takes no action on it until the object is fixed.",
            resource.kind
        );
        let now = jiff::Timestamp::now().to_string();
        let patch = json!({"status": {
            "phase": "Invalid",
            "step": null,
            "conditions": [
                {
                    "type": crate::api::conditions::READY,
                    "status": "False",
                    "reason": "Invalid",
                    "message": "the object cannot be read; see the Invalid condition",
                    "lastTransitionTime": now,
                },
                {
                    "type": crate::api::conditions::INVALID,
                    "status": "True",
                    "reason": UNREADABLE,
                    "message": message,
                    "lastTransitionTime": now,
                },
            ],
        }});
        let event = Event::warning(UNREADABLE, message.clone());
        let recorder = self.recorder.clone();
        let reported = self.reported.clone();
        tokio::spawn(async move {
            let patched = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
            if let Err(e) = &patched {
                tracing::warn!(%object, error = %e, "cannot set the Invalid condition of an unreadable object");
                // Try again at its next event.
                crate::sync::lock(&reported).remove(&object);
            }
            if let Err(e) = recorder.publish(&event, &regarding).await {
                tracing::warn!(%object, error = %e, "cannot publish the Event about an unreadable object");
            }
        });
    }

    /// A readable object: if it still carries the `Unreadable` condition (from this process or
    /// an earlier one), that condition goes.
    fn readable<K: Resource<DynamicType = ()> + Serialize>(&self, object: &K) {
        let name = object.name_any();
        let namespace = object.meta().namespace.clone().unwrap_or_default();
        crate::sync::lock(&self.reported).remove(&format!("{namespace}/{name}"));
        if !self.shared.gate.may_act() {
            return;
        }
        let Ok(value) = serde_json::to_value(object) else {
            return;
        };
        let Some(conditions) = value["status"]["conditions"].as_array() else {
            return;
        };
        let unreadable = |c: &Value| c["type"] == crate::api::conditions::INVALID && c["reason"] == UNREADABLE;
        if !conditions.iter().any(unreadable) {
            return;
        }
        let kept: Vec<Value> = conditions.iter().filter(|c| !unreadable(c)).cloned().collect();
        // Only over the version seen: a status written since is left alone (its event comes next).
        let patch = json!({
            "metadata": {"resourceVersion": object.resource_version()},
            "status": {"conditions": kept},
        });
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &namespace, &ApiResource::erase::<K>(&()));
        tokio::spawn(async move {
            match api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => tracing::info!(object = %format!("{namespace}/{name}"), "readable again"),
                Err(e) => {
                    tracing::debug!(object = %format!("{namespace}/{name}"), error = %e, "the Unreadable condition stays until the next event")
                }
            }
        });
    }

    fn gone(&self, namespace: Option<&str>, name: &str) {
        crate::sync::lock(&self.reported).remove(&format!("{}/{name}", namespace.unwrap_or_default()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::DrSite;
    use crate::api::dr_site::fixtures::spec;
    use kube::api::ObjectMeta;
    use kube::runtime::reflector::store::Writer;

    fn drsite(ns: &str) -> DrSite {
        let mut d = DrSite::new("system", spec());
        d.metadata.namespace = Some(ns.into());
        d
    }

    fn bad(ns: &str) -> DeserializeGuard<DrSite> {
        DeserializeGuard(Err(InvalidObject {
            error: "invalid type: string \"many\", expected i32".into(),
            metadata: ObjectMeta {
                name: Some("system".into()),
                namespace: Some(ns.into()),
                ..ObjectMeta::default()
            },
        }))
    }

    #[test]
    fn an_object_turned_unreadable_leaves_the_cache_and_a_never_readable_one_never_enters() {
        let mut writer = Writer::<DrSite>::default();
        let store = writer.as_reader();
        let good = drsite("tenant-a");
        writer.apply_watcher_event(&watcher::Event::Apply(good.clone()));
        use watcher::Event as E;
        // Was readable, is not now: its last readable version is deleted from the cache.
        match convert(E::Apply(bad("tenant-a")), Some(&store), None) {
            Some(E::Delete(old)) => assert_eq!((old.metadata, old.spec), (good.metadata.clone(), good.spec.clone())),
            other => panic!("{other:?}"),
        }
        // Never readable: nothing at all (no reconcile, no cache entry).
        assert!(convert(E::Apply(bad("tenant-b")), Some(&store), None).is_none());
        assert!(convert(E::InitApply(bad("tenant-b")), Some(&store), None).is_none());
        assert!(convert(E::Delete(bad("tenant-b")), Some(&store), None).is_none());
        // Readable objects and the list markers pass as they are.
        assert!(matches!(
            convert(E::Apply(DeserializeGuard(Ok(good.clone()))), Some(&store), None),
            Some(E::Apply(k)) if k.spec == good.spec
        ));
        assert!(matches!(
            convert(E::<DeserializeGuard<DrSite>>::Init, None, None),
            Some(E::Init)
        ));
        assert!(matches!(
            convert(E::<DeserializeGuard<DrSite>>::InitDone, None, None),
            Some(E::InitDone)
        ));
    }

    #[test]
    fn a_decoding_error_is_quoted_bounded() {
        let long = "x".repeat(10_000);
        let quoted = cut(&long);
        assert_eq!(quoted.chars().count(), ERROR_CHARS + 3);
        assert!(quoted.ends_with("..."));
        assert_eq!(cut(" short "), "short");
    }
}
