//! The Kubernetes side in memory: Secrets, statuses and Events in maps. Used
//! by the scenario tests and by `drover demo`, which run the real reconcile
//! without an API server.

use super::{Event, Port, PortError};
use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus};
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct MemoryPort {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default, Clone)]
pub struct MemoryState {
    /// By (namespace, name).
    pub secrets: BTreeMap<(String, String), BTreeMap<String, Vec<u8>>>,
    /// By `namespace/name`.
    pub statuses: BTreeMap<String, AvailabilityGroupStatus>,
    /// Every Event, in order, with the object's `namespace/name`.
    pub events: Vec<(String, Event)>,
    /// How many status writes were made.
    pub status_writes: u64,
}

fn key(ag: &AvailabilityGroup) -> String {
    format!("{}/{}", ag.namespace().unwrap_or_default(), ag.name_any())
}

impl MemoryPort {
    pub fn put_secret(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        let data = data
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        crate::sync::lock(&self.state)
            .secrets
            .insert((namespace.to_string(), name.to_string()), data);
    }

    /// A copy of everything stored.
    pub fn snapshot(&self) -> MemoryState {
        crate::sync::lock(&self.state).clone()
    }

    pub fn status(&self, ag: &AvailabilityGroup) -> Option<AvailabilityGroupStatus> {
        crate::sync::lock(&self.state).statuses.get(&key(ag)).cloned()
    }
}

impl Port for MemoryPort {
    async fn secret(&self, namespace: &str, name: &str) -> Result<BTreeMap<String, Vec<u8>>, PortError> {
        crate::sync::lock(&self.state)
            .secrets
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
            .ok_or_else(|| PortError::NotFound {
                kind: "Secret",
                namespace: namespace.to_string(),
                name: name.to_string(),
            })
    }

    async fn patch_status(&self, ag: &AvailabilityGroup, status: &AvailabilityGroupStatus) -> Result<(), PortError> {
        // Through JSON, as the API server keeps it (e.g. times in whole seconds), so what the
        // next reconcile reads back is what a real cluster would hand it.
        let stored = serde_json::to_value(status)
            .and_then(serde_json::from_value)
            .map_err(|e| PortError::Api(format!("status does not round-trip through JSON: {e}")))?;
        let mut state = crate::sync::lock(&self.state);
        state.statuses.insert(key(ag), stored);
        state.status_writes += 1;
        Ok(())
    }

    async fn publish(&self, ag: &AvailabilityGroup, event: &Event) -> Result<(), PortError> {
        crate::sync::lock(&self.state).events.push((key(ag), event.clone()));
        Ok(())
    }
}
