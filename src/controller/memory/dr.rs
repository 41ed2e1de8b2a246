//! The DrSite controller's side of the in-memory port: stored AvailabilityGroups
//! whose `spec.primarySite` and PersistentChatPools whose `spec.activeSite` it
//! applies (with the field manager recorded, as `managedFields` would show it),
//! its status and its Events.

use super::{MemoryPort, MemoryState, key, round_trip};
use crate::api::availability_group::AvailabilityGroup;
use crate::api::dr_site::{DrSite, DrSiteStatus};
use crate::api::persistent_chat_pool::PersistentChatPool;
use crate::controller::{DRSITE_FIELD_MANAGER, DrPort, Event, PortError};
use crate::plan::drsite::ChildKind;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta};
use kube::ResourceExt;

fn object_key(namespace: &str, name: &str) -> String {
    format!("{namespace}/{name}")
}

fn drsite_key(drs: &DrSite) -> String {
    format!("{}/{}", drs.namespace().unwrap_or_default(), drs.name_any())
}

/// The key of a DrSite's Events in [`MemoryState::events`]: apart from the groups' `namespace/name`.
pub fn drsite_event_key(drs: &DrSite) -> String {
    format!("DrSite/{}", drsite_key(drs))
}

const PRIMARY_SITE_FIELD: &str = "f:primarySite";
const ACTIVE_SITE_FIELD: &str = "f:activeSite";

/// How a writer sets a field, as the API server tells them apart in `managedFields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Server-side apply, forced (`kubectl apply --server-side --force-conflicts`, Argo CD or Flux
    /// with SSA, the DrSite): the same value as the live one makes the writer a co-owner; another
    /// value takes the field from every other owner.
    Apply,
    /// A plain update (`kubectl edit`, `patch`, client-side apply): a changed value takes the
    /// field from every other owner; the same value changes no ownership.
    Update,
}

impl Write {
    fn operation(self) -> &'static str {
        match self {
            Self::Apply => "Apply",
            Self::Update => "Update",
        }
    }
}

/// Removes `field` (e.g. `f:primarySite`) from every `managedFields` entry but those of `keep`,
/// dropping entries left owning nothing.
fn disown(meta: &mut ObjectMeta, field: &str, keep: Option<(&str, &str)>) {
    let entries = meta.managed_fields.get_or_insert_with(Vec::new);
    for entry in entries.iter_mut() {
        if keep.is_some_and(|(m, o)| entry.manager.as_deref() == Some(m) && entry.operation.as_deref() == Some(o)) {
            continue;
        }
        if let Some(spec) = entry
            .fields_v1
            .as_mut()
            .and_then(|f| f.0.get_mut("f:spec"))
            .and_then(|s| s.as_object_mut())
        {
            spec.remove(field);
        }
    }
    // An entry left owning nothing goes, as the API server drops it.
    for entry in entries.iter_mut() {
        if let Some(all) = entry.fields_v1.as_mut().and_then(|f| f.0.as_object_mut())
            && all
                .get("f:spec")
                .and_then(|s| s.as_object())
                .is_some_and(|s| s.is_empty())
        {
            all.remove("f:spec");
        }
    }
    entries.retain(|e| {
        e.fields_v1
            .as_ref()
            .and_then(|f| f.0.as_object())
            .is_none_or(|all| !all.is_empty())
    });
}

/// Records in `managedFields` that `manager` wrote the spec field `field` (e.g. `f:primarySite`)
/// by `write`; `changed`: the value differs from the live one (or the field was absent).
fn record_write(meta: &mut ObjectMeta, field: &str, manager: &str, write: Write, changed: bool) {
    let operation = write.operation();
    if !changed && write == Write::Update {
        return;
    }
    if changed {
        disown(meta, field, Some((manager, operation)));
    }
    let entries = meta.managed_fields.get_or_insert_with(Vec::new);
    let mine = entries.iter_mut().find(|e| {
        e.manager.as_deref() == Some(manager) && e.operation.as_deref() == Some(operation) && e.subresource.is_none()
    });
    match mine.and_then(|e| e.fields_v1.as_mut()) {
        Some(FieldsV1(fields)) => {
            if let Some(all) = fields.as_object_mut() {
                let spec = all
                    .entry("f:spec")
                    .or_insert_with(|| serde_json::Value::Object(Default::default()));
                if let Some(spec) = spec.as_object_mut() {
                    spec.insert(field.into(), serde_json::json!({}));
                }
            }
        }
        None => entries.push(ManagedFieldsEntry {
            api_version: Some("drover.dev/v1alpha1".into()),
            fields_type: Some("FieldsV1".into()),
            fields_v1: Some(FieldsV1(serde_json::json!({ "f:spec": { field: {} } }))),
            manager: Some(manager.into()),
            operation: Some(operation.into()),
            subresource: None,
            time: None,
        }),
    }
}

/// `manager` stops applying `field`: it is no longer an owner; a field nobody owns any more is
/// removed from the object, as server-side apply removes a field its last applier left out.
/// Whether the field was removed.
fn release(meta: &mut ObjectMeta, field: &str, manager: &str) -> bool {
    let entries = meta.managed_fields.get_or_insert_with(Vec::new);
    for entry in entries.iter_mut().filter(|e| e.manager.as_deref() == Some(manager)) {
        if let Some(spec) = entry
            .fields_v1
            .as_mut()
            .and_then(|f| f.0.get_mut("f:spec"))
            .and_then(|s| s.as_object_mut())
        {
            spec.remove(field);
        }
    }
    disown(meta, "", None);
    let name = field.trim_start_matches("f:");
    crate::controller::ownership::owners(meta, name).is_empty()
}

/// Labels a child with the DrSite that set its desired site.
fn label_drsite(meta: &mut ObjectMeta, drsite: &str) {
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(crate::components::LABEL_DRSITE.into(), drsite.into());
}

impl MemoryState {
    /// Sets a stored group's `spec.primarySite` as the API server would: the CRD's rule that it
    /// names a replica's site, `metadata.generation` bumped when the spec changes, `managedFields`
    /// as `write` by `manager` leaves them.
    fn set_primary_site(
        &mut self,
        namespace: &str,
        name: &str,
        site: &str,
        manager: &str,
        write: Write,
    ) -> Result<(), PortError> {
        let key = object_key(namespace, name);
        let Some(ag) = self.availability_groups.get_mut(&key) else {
            return Err(PortError::NotFound {
                kind: "AvailabilityGroup",
                namespace: namespace.into(),
                name: name.into(),
            });
        };
        if !ag.spec.replicas.iter().any(|r| r.site == site) {
            return Err(PortError::Api(format!(
                "AvailabilityGroup.drover.dev {name:?} is invalid: spec.primarySite: Invalid value: {site:?}: \
                 primarySite must be the site of one of the replicas"
            )));
        }
        let changed = ag.spec.primary_site.as_deref() != Some(site);
        if changed {
            ag.spec.primary_site = Some(site.into());
            ag.metadata.generation = Some(ag.metadata.generation.unwrap_or(1) + 1);
        }
        record_write(&mut ag.metadata, PRIMARY_SITE_FIELD, manager, write, changed);
        self.desired_site_managers
            .insert((ChildKind::AvailabilityGroup, key), manager.into());
        Ok(())
    }

    /// Sets a stored pool's `spec.activeSite` as the API server would: the CRD's rule that it is
    /// one of the pool's two sites, `metadata.generation` bumped when the spec changes,
    /// `managedFields` as `write` by `manager` leaves them.
    fn set_pool_active_site(
        &mut self,
        namespace: &str,
        name: &str,
        site: &str,
        manager: &str,
        write: Write,
    ) -> Result<(), PortError> {
        let key = object_key(namespace, name);
        let Some(pool) = self.pools.get_mut(&key) else {
            return Err(PortError::NotFound {
                kind: "PersistentChatPool",
                namespace: namespace.into(),
                name: name.into(),
            });
        };
        if site != pool.spec.primary.site && site != pool.spec.backup.site {
            return Err(PortError::Api(format!(
                "PersistentChatPool.drover.dev {name:?} is invalid: spec.activeSite: Invalid value: {site:?}: \
                 activeSite must be primary.site or backup.site"
            )));
        }
        let changed = pool.spec.active_site.as_deref() != Some(site);
        if changed {
            pool.spec.active_site = Some(site.into());
            pool.metadata.generation = Some(pool.metadata.generation.unwrap_or(1) + 1);
        }
        record_write(&mut pool.metadata, ACTIVE_SITE_FIELD, manager, write, changed);
        self.desired_site_managers
            .insert((ChildKind::PersistentChatPool, key), manager.into());
        Ok(())
    }
}

impl MemoryPort {
    /// Stores an AvailabilityGroup as created by `kubectl apply` (generation 1 unless it has
    /// one). A status it carries becomes its current status; without one, a status written
    /// earlier for the same `namespace/name` is kept.
    pub fn put_availability_group(&self, mut ag: AvailabilityGroup) {
        ag.metadata.generation.get_or_insert(1);
        let key = key(&ag);
        let mut state = crate::sync::lock(&self.state);
        if let Some(status) = &ag.status {
            state.statuses.insert(key.clone(), status.clone());
        }
        state.availability_groups.insert(key, ag);
    }

    /// Deletes a stored AvailabilityGroup (its status goes with it); whether it existed.
    pub fn remove_availability_group(&self, namespace: &str, name: &str) -> bool {
        let key = object_key(namespace, name);
        let mut state = crate::sync::lock(&self.state);
        state.statuses.remove(&key);
        state
            .desired_site_managers
            .remove(&(ChildKind::AvailabilityGroup, key.clone()));
        state.availability_groups.remove(&key).is_some()
    }

    /// A stored AvailabilityGroup with its latest status, without counting an API call.
    pub fn stored_availability_group(&self, namespace: &str, name: &str) -> Option<AvailabilityGroup> {
        let key = object_key(namespace, name);
        let state = crate::sync::lock(&self.state);
        let mut ag = state.availability_groups.get(&key)?.clone();
        ag.status = state.statuses.get(&key).cloned();
        Some(ag)
    }

    /// A person (or another tool) sets a child's desired site (a group's `spec.primarySite`, a
    /// pool's `spec.activeSite`) with field manager `manager` (e.g. `kubectl-edit`) by a plain
    /// update: what a DrSite must notice as a Conflict.
    pub fn edit_desired_site(
        &self,
        kind: ChildKind,
        namespace: &str,
        name: &str,
        site: &str,
        manager: &str,
    ) -> Result<(), PortError> {
        self.write_desired_site(kind, namespace, name, site, manager, Write::Update)
    }

    /// Another tool sets a child's desired site with field manager `manager` by `write` (e.g. Argo
    /// CD's self-heal re-applying Git: `argocd-controller`, [`Write::Apply`]).
    pub fn write_desired_site(
        &self,
        kind: ChildKind,
        namespace: &str,
        name: &str,
        site: &str,
        manager: &str,
        write: Write,
    ) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        match kind {
            ChildKind::AvailabilityGroup => state.set_primary_site(namespace, name, site, manager, write),
            ChildKind::PersistentChatPool => state.set_pool_active_site(namespace, name, site, manager, write),
        }
    }

    /// `manager` applies the child without its desired site (Git no longer carries it): it gives
    /// the field up, and the field is gone when nobody else owns it (the child then stays where it
    /// is). Whether the field was removed.
    pub fn release_desired_site(
        &self,
        kind: ChildKind,
        namespace: &str,
        name: &str,
        manager: &str,
    ) -> Result<bool, PortError> {
        let key = object_key(namespace, name);
        let mut state = crate::sync::lock(&self.state);
        let not_found = || PortError::NotFound {
            kind: kind.as_str(),
            namespace: namespace.into(),
            name: name.into(),
        };
        let removed = match kind {
            ChildKind::AvailabilityGroup => {
                let ag = state.availability_groups.get_mut(&key).ok_or_else(not_found)?;
                let removed = release(&mut ag.metadata, PRIMARY_SITE_FIELD, manager);
                if removed && ag.spec.primary_site.take().is_some() {
                    ag.metadata.generation = Some(ag.metadata.generation.unwrap_or(1) + 1);
                }
                removed
            }
            ChildKind::PersistentChatPool => {
                let pool = state.pools.get_mut(&key).ok_or_else(not_found)?;
                let removed = release(&mut pool.metadata, ACTIVE_SITE_FIELD, manager);
                if removed && pool.spec.active_site.take().is_some() {
                    pool.metadata.generation = Some(pool.metadata.generation.unwrap_or(1) + 1);
                }
                removed
            }
        };
        if removed {
            state.desired_site_managers.remove(&(kind, key));
        }
        Ok(removed)
    }

    /// Stores a DrSite (as `kubectl apply` creates it): the children it lists are then listed.
    pub fn put_drsite(&self, drs: &DrSite) {
        crate::sync::lock(&self.state)
            .drsites
            .insert(drsite_key(drs), drs.clone());
    }

    /// Deletes a stored DrSite; whether it existed.
    pub fn remove_drsite(&self, drs: &DrSite) -> bool {
        crate::sync::lock(&self.state)
            .drsites
            .remove(&drsite_key(drs))
            .is_some()
    }

    /// The field manager that last set the child's desired site through this port.
    pub fn desired_site_manager(&self, kind: ChildKind, namespace: &str, name: &str) -> Option<String> {
        crate::sync::lock(&self.state)
            .desired_site_managers
            .get(&(kind, object_key(namespace, name)))
            .cloned()
    }

    /// How many times the DrSite side set the child's desired site.
    pub fn desired_site_writes(&self, kind: ChildKind, namespace: &str, name: &str) -> u64 {
        crate::sync::lock(&self.state)
            .desired_site_writes
            .get(&(kind, object_key(namespace, name)))
            .copied()
            .unwrap_or(0)
    }

    /// The DrSite's status as last written.
    pub fn drsite_status(&self, drs: &DrSite) -> Option<DrSiteStatus> {
        crate::sync::lock(&self.state)
            .drsite_statuses
            .get(&drsite_key(drs))
            .cloned()
    }

    /// The DrSite's Events, in order.
    pub fn drsite_events(&self, drs: &DrSite) -> Vec<Event> {
        self.events_of(&drsite_event_key(drs))
    }

    /// The Events of the objects with any of `keys`, in the order they were published.
    pub fn events_of_any(&self, keys: &[String]) -> Vec<Event> {
        crate::sync::lock(&self.state)
            .events
            .iter()
            .filter(|(k, _)| keys.contains(k))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The Events of the object with `key` (see [`MemoryState::events`]), in order.
    pub fn events_of(&self, key: &str) -> Vec<Event> {
        crate::sync::lock(&self.state)
            .events
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

impl DrPort for MemoryPort {
    async fn availability_group(&self, namespace: &str, name: &str) -> Result<Option<AvailabilityGroup>, PortError> {
        crate::sync::lock(&self.state).call("availability_group")?;
        Ok(self.stored_availability_group(namespace, name))
    }

    async fn apply_primary_site(&self, namespace: &str, name: &str, site: &str, drsite: &str) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("apply_primary_site")?;
        state.set_primary_site(namespace, name, site, DRSITE_FIELD_MANAGER, Write::Apply)?;
        if let Some(ag) = state.availability_groups.get_mut(&object_key(namespace, name)) {
            label_drsite(&mut ag.metadata, drsite);
        }
        *state
            .desired_site_writes
            .entry((ChildKind::AvailabilityGroup, object_key(namespace, name)))
            .or_default() += 1;
        Ok(())
    }

    async fn persistent_chat_pool(&self, namespace: &str, name: &str) -> Result<Option<PersistentChatPool>, PortError> {
        crate::sync::lock(&self.state).call("persistent_chat_pool")?;
        Ok(self.stored_pool(namespace, name))
    }

    async fn apply_pool_active_site(
        &self,
        namespace: &str,
        name: &str,
        site: &str,
        drsite: &str,
    ) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("apply_pool_active_site")?;
        state.set_pool_active_site(namespace, name, site, DRSITE_FIELD_MANAGER, Write::Apply)?;
        if let Some(pool) = state.pools.get_mut(&object_key(namespace, name)) {
            label_drsite(&mut pool.metadata, drsite);
        }
        *state
            .desired_site_writes
            .entry((ChildKind::PersistentChatPool, object_key(namespace, name)))
            .or_default() += 1;
        Ok(())
    }

    async fn patch_drsite_status(&self, drs: &DrSite, status: &DrSiteStatus) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("patch_drsite_status")?;
        let stored = round_trip(status)?;
        state.drsite_statuses.insert(drsite_key(drs), stored);
        // A DrSite whose status is written exists: the API server has it, as it is now.
        state.drsites.insert(drsite_key(drs), drs.clone());
        state.drsite_status_writes += 1;
        Ok(())
    }

    async fn publish_drsite(&self, drs: &DrSite, event: &Event) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("publish_drsite")?;
        state.events.push((drsite_event_key(drs), event.clone()));
        Ok(())
    }
}
