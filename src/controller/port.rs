//! What a controller needs from Kubernetes besides its watch: Secrets, its
//! status subresource, Events. One trait so the same reconcile runs against
//! the API server and, in tests and the demo, against memory.

use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus};
use crate::api::dr_site::{DrSite, DrSiteStatus};
use crate::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus};
use k8s_openapi::api::batch::v1::Job;
use std::collections::BTreeMap;
use std::future::Future;

/// A Kubernetes Event about one object (events.k8s.io/v1 fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    /// PascalCase, at most 128 characters.
    pub reason: String,
    /// What happened; at most 1 KiB (longer notes are cut).
    pub note: String,
    /// PascalCase name of the action taken.
    pub action: String,
}

impl Event {
    pub fn normal(reason: &str, note: impl Into<String>) -> Self {
        Self::new(false, reason, note)
    }

    pub fn warning(reason: &str, note: impl Into<String>) -> Self {
        Self::new(true, reason, note)
    }

    fn new(warning: bool, reason: &str, note: impl Into<String>) -> Self {
        let mut note = note.into();
        if note.len() > 1024 {
            let mut cut = 1021;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push_str("...");
        }
        Self {
            warning,
            reason: reason.to_string(),
            note,
            action: reason.to_string(),
        }
    }
}

/// A Secret as the controllers read it: its type and labels (which say whether it opted in to being
/// used by drover, [`super::login`]) and its data. Debug never shows the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretData {
    /// `type` (`Opaque`, `kubernetes.io/basic-auth`, ...).
    pub type_: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub data: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for SecretData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretData")
            .field("type_", &self.type_)
            .field("labels", &self.labels)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A failed call to Kubernetes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("Kubernetes API: {0}")]
    Api(String),
    /// The API server could not be reached at all (connection, TLS, timeout): a site's state
    /// is then unknown, never assumed.
    #[error("cannot reach the Kubernetes API: {0}")]
    Unreachable(String),
}

/// The Kubernetes side of the AvailabilityGroup controller.
pub trait Port: Send + Sync {
    /// A Secret in `namespace`: its type, labels and data.
    fn secret(&self, namespace: &str, name: &str) -> impl Future<Output = Result<SecretData, PortError>> + Send;

    /// Server-side apply of the status subresource with drover's field manager.
    fn patch_status(
        &self,
        ag: &AvailabilityGroup,
        status: &AvailabilityGroupStatus,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Publishes an Event about `ag`.
    fn publish(&self, ag: &AvailabilityGroup, event: &Event) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The DrSites in `namespace` that list the child `kind`/`name` (see [`super::ownership`]):
    /// found by what the DrSites say, not by anything on the child.
    fn drsites_listing(
        &self,
        kind: crate::plan::drsite::ChildKind,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Vec<super::ownership::ListedBy>, PortError>> + Send;
}

/// The Kubernetes side of the DrSite controller besides the sites' workloads
/// ([`crate::components::Sites`]): its children (AvailabilityGroups, PersistentChatPools), its
/// status, its Events.
pub trait DrPort: Send + Sync {
    /// An AvailabilityGroup in `namespace`; `None` when it does not exist.
    fn availability_group(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<AvailabilityGroup>, PortError>> + Send;

    /// Sets an AvailabilityGroup's `spec.primarySite` by server-side apply with the DrSite field
    /// manager ([`super::DRSITE_FIELD_MANAGER`]), forced: the DrSite owns that field from then on.
    /// The same apply labels the group [`crate::components::LABEL_DRSITE`]`=<drsite>`, which the
    /// chart's optional admission policy selects on.
    fn apply_primary_site(
        &self,
        namespace: &str,
        name: &str,
        site: &str,
        drsite: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// A PersistentChatPool in `namespace`; `None` when it does not exist.
    fn persistent_chat_pool(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<PersistentChatPool>, PortError>> + Send;

    /// Sets a PersistentChatPool's `spec.activeSite` by server-side apply with the DrSite field
    /// manager, forced, as [`DrPort::apply_primary_site`] does for a group.
    fn apply_pool_active_site(
        &self,
        namespace: &str,
        name: &str,
        site: &str,
        drsite: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Server-side apply of the DrSite's status subresource.
    fn patch_drsite_status(
        &self,
        drs: &DrSite,
        status: &DrSiteStatus,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Publishes an Event about `drs`.
    fn publish_drsite(&self, drs: &DrSite, event: &Event) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// One Kubernetes side shared by several controllers (the demo and the scenario tests run the
/// AvailabilityGroup and DrSite controllers over the same in-memory API).
impl<T: Port> Port for std::sync::Arc<T> {
    fn secret(&self, namespace: &str, name: &str) -> impl Future<Output = Result<SecretData, PortError>> + Send {
        (**self).secret(namespace, name)
    }

    fn patch_status(
        &self,
        ag: &AvailabilityGroup,
        status: &AvailabilityGroupStatus,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).patch_status(ag, status)
    }

    fn publish(&self, ag: &AvailabilityGroup, event: &Event) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).publish(ag, event)
    }

    fn drsites_listing(
        &self,
        kind: crate::plan::drsite::ChildKind,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Vec<super::ownership::ListedBy>, PortError>> + Send {
        (**self).drsites_listing(kind, namespace, name)
    }
}

impl<T: DrPort> DrPort for std::sync::Arc<T> {
    fn availability_group(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<AvailabilityGroup>, PortError>> + Send {
        (**self).availability_group(namespace, name)
    }

    fn apply_primary_site(
        &self,
        namespace: &str,
        name: &str,
        site: &str,
        drsite: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).apply_primary_site(namespace, name, site, drsite)
    }

    fn persistent_chat_pool(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<PersistentChatPool>, PortError>> + Send {
        (**self).persistent_chat_pool(namespace, name)
    }

    fn apply_pool_active_site(
        &self,
        namespace: &str,
        name: &str,
        site: &str,
        drsite: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).apply_pool_active_site(namespace, name, site, drsite)
    }

    fn patch_drsite_status(
        &self,
        drs: &DrSite,
        status: &DrSiteStatus,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).patch_drsite_status(drs, status)
    }

    fn publish_drsite(&self, drs: &DrSite, event: &Event) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).publish_drsite(drs, event)
    }
}

/// The Kubernetes side of the PersistentChatPool controller (Secrets come through [`Port`]): its
/// status, its Events and its hook Jobs, which run in the pool's own namespace.
pub trait PoolPort: Send + Sync {
    /// Server-side apply of the pool's status subresource.
    fn patch_pool_status(
        &self,
        pool: &PersistentChatPool,
        status: &PersistentChatPoolStatus,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Publishes an Event about `pool`.
    fn publish_pool(
        &self,
        pool: &PersistentChatPool,
        event: &Event,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The Jobs in `namespace` labelled `key=value`.
    fn jobs(&self, namespace: &str, key: &str, value: &str)
    -> impl Future<Output = Result<Vec<Job>, PortError>> + Send;

    /// Creates a Job; one of that name that already exists is not an error.
    fn create_job(&self, namespace: &str, job: &Job) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The last lines its pods logged, for the Event of a failed hook.
    fn job_log(&self, namespace: &str, job: &str) -> impl Future<Output = Result<String, PortError>> + Send;
}

impl<T: PoolPort> PoolPort for std::sync::Arc<T> {
    fn patch_pool_status(
        &self,
        pool: &PersistentChatPool,
        status: &PersistentChatPoolStatus,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).patch_pool_status(pool, status)
    }

    fn publish_pool(
        &self,
        pool: &PersistentChatPool,
        event: &Event,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).publish_pool(pool, event)
    }

    fn jobs(
        &self,
        namespace: &str,
        key: &str,
        value: &str,
    ) -> impl Future<Output = Result<Vec<Job>, PortError>> + Send {
        (**self).jobs(namespace, key, value)
    }

    fn create_job(&self, namespace: &str, job: &Job) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).create_job(namespace, job)
    }

    fn job_log(&self, namespace: &str, job: &str) -> impl Future<Output = Result<String, PortError>> + Send {
        (**self).job_log(namespace, job)
    }
}
