//! The application components at each site: what drover observes of them and
//! how it starts and stops them — workloads scaled, hook Jobs run, servers
//! outside Kubernetes probed. [`Sites`] is the port; the kube client
//! implements it for real (one client per cluster), memory for tests and the demo.

pub mod hook;
pub mod jobs;
pub mod kube;
pub mod memory;
pub mod probe;
pub mod tenancy;

use crate::api::dr_site::{KubeconfigRef, Probe, WorkloadKind};
use crate::controller::PortError;
use k8s_openapi::api::batch::v1::Job;
use std::future::Future;

/// Label keys on every hook Job drover creates.
pub const LABEL_DRSITE: &str = "drover.dev/drsite";
pub const LABEL_COMPONENT: &str = "drover.dev/component";
pub const LABEL_SITE: &str = "drover.dev/site";
pub const LABEL_ACTION: &str = "drover.dev/action";
pub const LABEL_RUN: &str = "drover.dev/run";
/// On a PersistentChatPool's hook Jobs: the pool's name.
pub const LABEL_POOL: &str = "drover.dev/pchat";
/// On an AvailabilityGroup's fence and force-quorum Jobs: the group's resource name.
pub const LABEL_AG: &str = "drover.dev/sqlag";

/// How to reach one site's Kubernetes objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteAccess {
    /// The site's name.
    pub site: String,
    /// The namespace of its workloads and hook Jobs.
    pub namespace: String,
    /// A kubeconfig Secret in `home_namespace` for a site in another cluster.
    pub kubeconfig: Option<KubeconfigRef>,
    /// The DrSite's own namespace (where the kubeconfig Secret is).
    pub home_namespace: String,
}

/// A workload as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkloadObs {
    /// `spec.replicas`.
    pub desired: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.replicas`: pods that exist (terminating ones included until they are gone).
    pub current: i32,
    /// `status.observedGeneration >= metadata.generation`: the status describes the current spec.
    pub up_to_date: bool,
}

impl WorkloadObs {
    /// Every wanted replica ready, status current.
    pub fn running(&self, replicas: i32) -> bool {
        self.up_to_date && self.desired == replicas && self.ready >= replicas
    }

    /// Scaled to zero and no pod left.
    pub fn stopped(&self) -> bool {
        self.up_to_date && self.desired == 0 && self.current == 0 && self.ready == 0
    }
}

/// Start or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookAction {
    Start,
    Stop,
}

impl HookAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "start" => Some(Self::Start),
            "stop" => Some(Self::Stop),
            _ => None,
        }
    }
}

/// Where a hook Job is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobPhase {
    /// Created, not finished.
    Running,
    Succeeded,
    /// Failed for good (backoffLimit reached or deadline passed); why, from its conditions.
    Failed(String),
}

/// A hook Job drover created, as found by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookJob {
    /// The UID of the object it was created for ([`jobs::owner_uid`]); `None`: not drover's.
    pub owner_uid: Option<String>,
    pub name: String,
    pub component: String,
    pub site: String,
    pub action: HookAction,
    /// The transition it belongs to (`LABEL_RUN`).
    pub run: String,
    pub phase: JobPhase,
}

/// The Kubernetes side of the sites, and the probes of servers outside it.
pub trait Sites: Send + Sync {
    /// A Deployment or StatefulSet; `None` when it does not exist.
    fn workload(
        &self,
        at: &SiteAccess,
        kind: WorkloadKind,
        name: &str,
    ) -> impl Future<Output = Result<Option<WorkloadObs>, PortError>> + Send;

    /// Sets `spec.replicas` by server-side apply with the DrSite field manager (as an autoscaler
    /// owns `replicas`); never creates the workload.
    fn scale(
        &self,
        at: &SiteAccess,
        kind: WorkloadKind,
        name: &str,
        replicas: i32,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The hook Jobs of DrSite `drsite` at the site (by label `drover.dev/drsite`).
    fn hook_jobs(&self, at: &SiteAccess, drsite: &str) -> impl Future<Output = Result<Vec<HookJob>, PortError>> + Send;

    /// Creates a hook Job in the site's namespace; one that already exists is not an error.
    fn create_job(&self, at: &SiteAccess, job: &Job) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Whether a server outside Kubernetes answers its probe (`Err` says why not).
    fn probe(&self, probe: &Probe) -> impl Future<Output = Result<(), String>> + Send;

    /// What is weak about how the site's cluster is reached, once it was (a kubeconfig with
    /// `insecure-skip-tls-verify`); `None` for a site in the operator's cluster.
    fn transport_warning(&self, _at: &SiteAccess) -> Option<String> {
        None
    }

    /// The labels of `namespace` in the operator's own cluster (what [`tenancy::check`] decides
    /// on), asked on behalf of a DrSite in namespace `from` (only the in-memory sites use it).
    fn namespace_labels(
        &self,
        namespace: &str,
        from: &str,
    ) -> impl Future<Output = Result<tenancy::Target, PortError>> + Send;
}

/// The sites shared with whoever drives them (tests and the demo inject faults into the same
/// simulated sites the controller reads).
impl<T: Sites> Sites for std::sync::Arc<T> {
    fn workload(
        &self,
        at: &SiteAccess,
        kind: WorkloadKind,
        name: &str,
    ) -> impl Future<Output = Result<Option<WorkloadObs>, PortError>> + Send {
        (**self).workload(at, kind, name)
    }

    fn scale(
        &self,
        at: &SiteAccess,
        kind: WorkloadKind,
        name: &str,
        replicas: i32,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).scale(at, kind, name, replicas)
    }

    fn hook_jobs(&self, at: &SiteAccess, drsite: &str) -> impl Future<Output = Result<Vec<HookJob>, PortError>> + Send {
        (**self).hook_jobs(at, drsite)
    }

    fn create_job(&self, at: &SiteAccess, job: &Job) -> impl Future<Output = Result<(), PortError>> + Send {
        (**self).create_job(at, job)
    }

    fn probe(&self, probe: &Probe) -> impl Future<Output = Result<(), String>> + Send {
        (**self).probe(probe)
    }

    fn namespace_labels(
        &self,
        namespace: &str,
        from: &str,
    ) -> impl Future<Output = Result<tenancy::Target, PortError>> + Send {
        (**self).namespace_labels(namespace, from)
    }

    fn transport_warning(&self, at: &SiteAccess) -> Option<String> {
        (**self).transport_warning(at)
    }
}
