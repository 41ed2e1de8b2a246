//! The [`Port`] over the Kubernetes API: Secrets read with GET, status written
//! by server-side apply with drover's field manager, Events through kube's
//! recorder (events.k8s.io/v1, deduplicated into series).

use super::{Event, FIELD_MANAGER, Port, PortError};
use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use std::collections::BTreeMap;

/// The Kubernetes side, for real.
#[derive(Clone)]
pub struct KubePort {
    client: Client,
    recorder: Recorder,
}

impl KubePort {
    /// `instance` names this operator process in Events (its pod name).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_string(),
            instance,
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
        }
    }
}

fn api_error(e: kube::Error) -> PortError {
    PortError::Api(e.to_string())
}

impl Port for KubePort {
    async fn secret(&self, namespace: &str, name: &str) -> Result<BTreeMap<String, Vec<u8>>, PortError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match api.get_opt(name).await.map_err(api_error)? {
            Some(secret) => Ok(secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect()),
            None => Err(PortError::NotFound {
                kind: "Secret",
                namespace: namespace.to_string(),
                name: name.to_string(),
            }),
        }
    }

    async fn patch_status(&self, ag: &AvailabilityGroup, status: &AvailabilityGroupStatus) -> Result<(), PortError> {
        let api: Api<AvailabilityGroup> = Api::namespaced(self.client.clone(), &ag.namespace().unwrap_or_default());
        let body = serde_json::json!({
            "apiVersion": AvailabilityGroup::api_version(&()),
            "kind": AvailabilityGroup::kind(&()),
            "status": status,
        });
        api.patch_status(
            &ag.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map(|_| ())
        .map_err(api_error)
    }

    async fn publish(&self, ag: &AvailabilityGroup, event: &Event) -> Result<(), PortError> {
        let ev = KubeEvent {
            type_: if event.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason.clone(),
            note: Some(event.note.clone()),
            action: event.action.clone(),
            secondary: None,
        };
        self.recorder.publish(&ev, &ag.object_ref(&())).await.map_err(api_error)
    }
}
