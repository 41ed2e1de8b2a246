//! events.k8s.io/v1 Events, deduplicated into series only when they say the
//! same thing.
//!
//! kube's `Recorder` keys its series on (type, reason, action, object) and
//! keeps the first note: two `StartComponent` Events about one DrSite within
//! six minutes would show as the first one "x2", and the second component's
//! start — or the second T-SQL statement of a runbook — would be lost from
//! the record. drover's Events are its audit trail, so the note is part of
//! the key here; the same Event repeated (a step deferred again, the same
//! warning) still becomes a series, as kube does it.

use super::Event;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// How long a published Event can still grow into a series (kube's figure).
const SERIES_TTL: SignedDuration = SignedDuration::from_secs(6 * 60);

/// What makes two Events the same.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    warning: bool,
    reason: String,
    action: String,
    note: String,
    regarding: (Option<String>, Option<String>, Option<String>, Option<String>),
}

/// Publishes Events as `controller` (and `instance`, the pod), one series per distinct Event.
#[derive(Clone)]
pub struct EventRecorder {
    client: Client,
    controller: String,
    instance: Option<String>,
    recent: Arc<Mutex<HashMap<Key, K8sEvent>>>,
}

impl EventRecorder {
    pub fn new(client: Client, controller: impl Into<String>, instance: Option<String>) -> Self {
        Self {
            client,
            controller: controller.into(),
            instance,
            recent: Arc::default(),
        }
    }

    /// Creates the Event about `regarding`, or counts it into the series of the same Event
    /// published in the last six minutes.
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        let now = Timestamp::now();
        let key = Key {
            warning: event.warning,
            reason: event.reason.clone(),
            action: event.action.clone(),
            note: event.note.clone(),
            regarding: (
                regarding.kind.clone(),
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
            ),
        };
        let mut recent = self.recent.lock().await;
        recent.retain(|_, e| last_seen(e).is_some_and(|t| t + SERIES_TTL > now));
        let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
        let events: Api<K8sEvent> = Api::namespaced(self.client.clone(), &namespace);
        let published = match recent.get(&key) {
            Some(earlier) => {
                let mut repeated = earlier.clone();
                repeated.series = Some(EventSeries {
                    count: earlier.series.as_ref().map_or(2, |s| s.count + 1),
                    last_observed_time: MicroTime(now),
                });
                events
                    .patch(&repeated.name_any(), &PatchParams::default(), &Patch::Merge(&repeated))
                    .await?;
                repeated
            }
            None => {
                let fresh = self.generate(event, regarding, now);
                events.create(&PostParams::default(), &fresh).await?;
                fresh
            }
        };
        recent.insert(key, published);
        Ok(())
    }

    fn generate(&self, event: &Event, regarding: &ObjectReference, now: Timestamp) -> K8sEvent {
        K8sEvent {
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            note: Some(event.note.clone()),
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(&self.controller),
                    now.as_nanosecond()
                )),
                ..ObjectMeta::default()
            },
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone().unwrap_or_else(|| self.controller.clone())),
            type_: Some(if event.warning { "Warning" } else { "Normal" }.into()),
            ..K8sEvent::default()
        }
    }
}

fn last_seen(e: &K8sEvent) -> Option<Timestamp> {
    e.series
        .as_ref()
        .map(|s| s.last_observed_time.0)
        .or(e.event_time.as_ref().map(|t| t.0))
}
