//! The Kubernetes side in memory: Secrets, AvailabilityGroups, statuses and
//! Events in maps. Used by the scenario tests and by `drover demo`, which run
//! the real reconciles without an API server.
//!
//! [`MemoryPort`] implements both [`Port`] (the AvailabilityGroup controller's)
//! and [`DrPort`](super::DrPort) (the DrSite controller's, in [`dr`]), so one
//! store serves a DrSite, its child groups and their controller together: what
//! the DrSite controller applies to a group's spec is what the group's
//! controller reads, and the status that one writes is what the other sees.

mod dr;
mod pool;
#[cfg(test)]
mod tests;

pub use dr::{Write, drsite_event_key};
pub use pool::{JobRunner, MemoryJob, pool_event_key};

use super::{Event, Port, PortError, SecretData};
use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus};
use crate::api::dr_site::DrSiteStatus;
use crate::plan::drsite::ChildKind;
use kube::ResourceExt;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The names of the calls [`MemoryPort::fail_next`] can fail: the methods of
/// [`Port`] and [`DrPort`](super::DrPort).
pub const CALLS: [&str; 14] = [
    "secret",
    "patch_status",
    "publish",
    "availability_group",
    "apply_primary_site",
    "persistent_chat_pool",
    "apply_pool_active_site",
    "patch_drsite_status",
    "publish_drsite",
    "patch_pool_status",
    "publish_pool",
    "jobs",
    "create_job",
    "job_log",
];

#[derive(Default)]
pub struct MemoryPort {
    state: Mutex<MemoryState>,
    /// What hook Jobs do when they run, and how long they take.
    runner: Mutex<Option<(std::time::Duration, JobRunner)>>,
}

impl std::fmt::Debug for MemoryPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryPort")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default, Clone)]
pub struct MemoryState {
    /// By (namespace, name).
    pub secrets: BTreeMap<(String, String), SecretData>,
    /// AvailabilityGroup statuses by `namespace/name`.
    pub statuses: BTreeMap<String, AvailabilityGroupStatus>,
    /// Every Event, in order, with the object's key: `namespace/name` for an AvailabilityGroup,
    /// `DrSite/namespace/name` for a DrSite.
    pub events: Vec<(String, Event)>,
    /// How many AvailabilityGroup status writes were made.
    pub status_writes: u64,
    /// Stored AvailabilityGroup objects by `namespace/name` (their `status` kept current with
    /// `statuses`).
    pub availability_groups: BTreeMap<String, AvailabilityGroup>,
    /// Who last set each stored child's desired site (an AvailabilityGroup's `spec.primarySite`,
    /// a pool's `spec.activeSite`), by kind and `namespace/name`.
    pub desired_site_managers: BTreeMap<(ChildKind, String), String>,
    /// How many times the DrSite side set it (`apply_primary_site`, `apply_pool_active_site`).
    pub desired_site_writes: BTreeMap<(ChildKind, String), u64>,
    /// Stored DrSites by `namespace/name`: put there, or seen when their status is written.
    pub drsites: BTreeMap<String, crate::api::dr_site::DrSite>,
    /// DrSite statuses by `namespace/name`.
    pub drsite_statuses: BTreeMap<String, DrSiteStatus>,
    /// How many DrSite status writes were made.
    pub drsite_status_writes: u64,
    /// Calls made, by method name (failed ones included): the API requests a controller makes.
    pub calls: BTreeMap<&'static str, u64>,
    /// Stored PersistentChatPools by `namespace/name` (their `status` kept current).
    pub pools: BTreeMap<String, crate::api::PersistentChatPool>,
    /// PersistentChatPool statuses by `namespace/name`.
    pub pool_statuses: BTreeMap<String, crate::api::PersistentChatPoolStatus>,
    /// How many PersistentChatPool status writes were made.
    pub pool_status_writes: u64,
    /// Jobs by (namespace, name).
    pub jobs: BTreeMap<(String, String), MemoryJob>,
    /// Injected failures: the next calls of a method that fail, with the error each returns.
    pub faults: BTreeMap<&'static str, (u32, PortError)>,
}

fn key(ag: &AvailabilityGroup) -> String {
    format!("{}/{}", ag.namespace().unwrap_or_default(), ag.name_any())
}

/// Through JSON, as the API server keeps it (e.g. times in whole seconds), so what the next
/// reconcile reads back is what a real cluster would hand it.
fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) -> Result<T, PortError> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| PortError::Api(format!("status does not round-trip through JSON: {e}")))
}

impl MemoryState {
    /// Counts a call of `method` and takes one injected failure for it, if any is pending.
    fn call(&mut self, method: &'static str) -> Result<(), PortError> {
        *self.calls.entry(method).or_default() += 1;
        let Some((left, error)) = self.faults.get_mut(method) else {
            return Ok(());
        };
        let error = error.clone();
        *left -= 1;
        if *left == 0 {
            self.faults.remove(method);
        }
        Err(error)
    }
}

impl MemoryPort {
    /// Stores a credentials Secret that opted in to drover's use: type `kubernetes.io/basic-auth`.
    pub fn put_secret(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        self.put_secret_as(namespace, name, Some(super::login::BASIC_AUTH), &[], data);
    }

    /// Stores a Secret of `type_` with `labels` (whether it opted in is up to them).
    pub fn put_secret_as(
        &self,
        namespace: &str,
        name: &str,
        type_: Option<&str>,
        labels: &[(&str, &str)],
        data: &[(&str, &str)],
    ) {
        let secret = SecretData {
            type_: type_.map(str::to_string),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
        };
        crate::sync::lock(&self.state)
            .secrets
            .insert((namespace.to_string(), name.to_string()), secret);
    }

    /// A copy of everything stored.
    pub fn snapshot(&self) -> MemoryState {
        crate::sync::lock(&self.state).clone()
    }

    pub fn status(&self, ag: &AvailabilityGroup) -> Option<AvailabilityGroupStatus> {
        crate::sync::lock(&self.state).statuses.get(&key(ag)).cloned()
    }

    /// Makes the next `times` calls of `method` (one of [`CALLS`], e.g. `"apply_primary_site"`)
    /// return `error`, as an API server that refuses or times out would. Replaces any failure
    /// still pending for that method; `times == 0` clears it. An unknown method name is
    /// ignored (and a debug build asserts), since nothing would ever take it.
    pub fn fail_next(&self, method: &str, times: u32, error: PortError) {
        let Some(&method) = CALLS.iter().find(|&&c| c == method) else {
            debug_assert!(false, "MemoryPort has no call {method:?}; known: {CALLS:?}");
            return;
        };
        let mut state = crate::sync::lock(&self.state);
        if times == 0 {
            state.faults.remove(method);
        } else {
            state.faults.insert(method, (times, error));
        }
    }

    /// How many times `method` was called (failed calls included).
    pub fn calls(&self, method: &str) -> u64 {
        crate::sync::lock(&self.state)
            .calls
            .iter()
            .find(|(m, _)| **m == method)
            .map_or(0, |(_, n)| *n)
    }
}

impl Port for MemoryPort {
    async fn secret(&self, namespace: &str, name: &str) -> Result<SecretData, PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("secret")?;
        state
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
        let mut state = crate::sync::lock(&self.state);
        state.call("patch_status")?;
        let stored = round_trip(status)?;
        let key = key(ag);
        if let Some(object) = state.availability_groups.get_mut(&key) {
            object.status = Some(stored.clone());
        }
        state.statuses.insert(key, stored);
        state.status_writes += 1;
        Ok(())
    }

    async fn publish(&self, ag: &AvailabilityGroup, event: &Event) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("publish")?;
        state.events.push((key(ag), event.clone()));
        Ok(())
    }

    /// From the stored DrSites, as the controller's DrSite watch would have them: no API request.
    async fn drsites_listing(
        &self,
        kind: ChildKind,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<super::ownership::ListedBy>, PortError> {
        let state = crate::sync::lock(&self.state);
        Ok(super::ownership::listing(state.drsites.values(), kind, namespace, name))
    }
}
