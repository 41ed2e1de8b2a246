//! The `DrSite` custom resource: one DR-protected system spanning sites. Users
//! flip `spec.activeSite`; drover stops the old site's components, moves the
//! child availability groups and Persistent Chat pools, and starts the new
//! site's components in order.

#[cfg(test)]
pub(crate) mod fixtures;
mod status;
pub mod validate;

pub use status::*;
pub use validate::{start_order, validate};

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The annotation a user sets to confirm that an unreachable site is lost (its components are
/// down or fenced), so the new site's `ActiveSite` components may start without stopping them.
pub const CONFIRM_SITE_LOST_ANNOTATION: &str = "drover.dev/confirm-site-lost";

/// Default per-step timeout.
pub const DEFAULT_STEP_TIMEOUT_SECONDS: u32 = 600;

/// A system spanning sites whose active site drover moves as one: components stopped and started in
/// dependency order around the availability groups and Persistent Chat pools that follow `spec.activeSite`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "drover.dev",
    version = "v1alpha1",
    kind = "DrSite",
    namespaced,
    shortname = "drs",
    category = "drover",
    status = "DrSiteStatus",
    doc = "A DR-protected system spanning sites: drover keeps its components, availability groups and Persistent Chat pools at spec.activeSite, stopping and starting components in dependency order around the databases.",
    printcolumn = r#"{"name":"Active", "type":"string", "description":"The site observed active", "jsonPath":".status.activeSite"}"#,
    printcolumn = r#"{"name":"Desired", "type":"string", "description":"The site that should be active", "jsonPath":".spec.activeSite"}"#,
    printcolumn = r#"{"name":"Phase", "type":"string", "description":"What drover is doing", "jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Ready", "type":"string", "description":"Component instances running where they should / all that should run", "jsonPath":".status.ready"}"#,
    printcolumn = r#"{"name":"Step", "type":"string", "description":"The step in progress, e.g. 4/9 start master-scs@site-b", "jsonPath":".status.step"}"#,
    printcolumn = r#"{"name":"Age", "type":"date", "jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("self.sites.exists(s, s.name == self.activeSite)").message("activeSite must be one of spec.sites").field_path(".activeSite"))]
#[x_kube(validation = Rule::new("self.sites.all(a, self.sites.filter(b, b.name == a.name).size() == 1)").message("site names must be unique").field_path(".sites"))]
#[x_kube(validation = Rule::new("!has(self.components) || self.components.all(a, self.components.filter(b, b.name == a.name).size() == 1)").message("component names must be unique").field_path(".components"))]
#[serde(rename_all = "camelCase")]
pub struct DrSiteSpec {
    /// The sites the system spans (2 to 8).
    #[schemars(length(min = 2, max = 8))]
    pub sites: Vec<SiteSpec>,
    /// The site that should be active. Change it to switch over, fail over or fail back.
    #[schemars(length(min = 1, max = 63))]
    pub active_site: String,
    /// AvailabilityGroups (in this namespace) whose `spec.primarySite` follows `activeSite`. drover
    /// writes that field with its own field manager (`drover-drsite`) at the right moment of the runbook.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub availability_groups: Vec<ChildRef>,
    /// PersistentChatPools (in this namespace) whose `spec.activeSite` follows `activeSite`, moved at
    /// the same point of the runbook as the availability groups and with the same field manager.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub persistent_chat_pools: Vec<ChildRef>,
    /// The application components, started in dependency order and stopped in reverse.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub components: Vec<ComponentSpec>,
    /// Plan and report, but execute nothing.
    #[serde(default)]
    pub suspend: bool,
}

/// One site.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SiteSpec {
    /// The site's name, as the availability groups' replicas and the pools' data centers name it (a DNS label).
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// The namespace holding the site's workloads and hook Jobs.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
    /// A Secret (in the DrSite's namespace) with a kubeconfig for the cluster the site is in.
    /// Absent: the operator's own cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<KubeconfigRef>,
}

/// A kubeconfig in a Secret.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KubeconfigRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// The key holding the kubeconfig YAML (a Secret data key: at most 253 characters).
    #[serde(default = "default_kubeconfig_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_kubeconfig_key() -> String {
    "kubeconfig".into()
}

/// A child resource in the DrSite's namespace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct ChildRef {
    /// The resource's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// One application component: where it runs, what it needs first, how it is started and stopped.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentSpec {
    /// The component's name (a DNS label), unique in the DrSite.
    #[schemars(length(min = 1, max = 40))]
    pub name: String,
    /// `ActiveSite`: runs only at the active site (never at two sites at once). `EverySite`: runs at
    /// every site.
    pub placement: Placement,
    /// Components that must be running before this one starts (and that stop after it): names of
    /// other components (at most 100, as many as a DrSite has components).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 40)))]
    pub depends_on: Vec<String>,
    /// Children (names from `spec.availabilityGroups` or `spec.persistentChatPools`; a name listed in
    /// both means both) that must be writable at the active site before this component starts.
    /// `ActiveSite` components also wait for every child to be writable there. At most 64 names
    /// (32 availability groups and 32 pools).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 253)))]
    pub requires_writable: Vec<String>,
    /// How long one start or stop of this component may take before the step is reported failed.
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1, max = 86400))]
    pub timeout_seconds: u32,
    /// How the component runs at each site: every site for both placements (an `ActiveSite`
    /// component must be startable wherever the system may be moved).
    #[schemars(length(min = 1, max = 8))]
    pub sites: Vec<ComponentAtSite>,
}

fn default_timeout() -> u32 {
    DEFAULT_STEP_TIMEOUT_SECONDS
}

/// Where a component runs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Placement {
    ActiveSite,
    EverySite,
}

/// A component at one site: a workload drover scales, or hooks for a server outside Kubernetes.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("has(self.workload) != has(self.hooks)").message("give exactly one of workload and hooks"))]
#[serde(rename_all = "camelCase")]
pub struct ComponentAtSite {
    /// The site's name.
    #[schemars(length(min = 1, max = 63))]
    pub site: String,
    /// A Deployment or StatefulSet in the site's namespace: started by scaling it to `replicas`,
    /// stopped by scaling it to 0; running when every replica is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadRef>,
    /// For a server outside Kubernetes: Jobs that start and stop it, and a probe that says whether it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
}

/// A workload drover scales.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// `Deployment` or `StatefulSet`.
    pub kind: WorkloadKind,
    /// Its name in the site's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The replica count when running.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 1000))]
    pub replicas: i32,
}

fn one() -> i32 {
    1
}

/// The kinds of workload drover scales.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

/// Start and stop Jobs and a liveness probe for a server outside Kubernetes.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    /// The Job that starts the server. drover adds to every container the environment variables
    /// `DROVER_ACTION` (`start`), `DROVER_COMPONENT`, `DROVER_SITE`, `DROVER_ACTIVE_SITE`, `DROVER_DRSITE` and `DROVER_RUN` (the transition).
    #[schemars(schema_with = "job_template_schema")]
    pub start: JobTemplateSpec,
    /// The Job that stops the server (`DROVER_ACTION` is `stop`).
    #[schemars(schema_with = "job_template_schema")]
    pub stop: JobTemplateSpec,
    /// How drover tells whether the server runs.
    pub probe: Probe,
}

/// A Job template: metadata and a batch/v1 JobSpec. Not expanded in the CRD (the pod schema is
/// huge); the API server keeps it as given and drover checks it when it builds the Job.
pub(crate) fn job_template_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "description": "A batch/v1 JobTemplateSpec: `metadata` (labels, annotations) and `spec` (a JobSpec).",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

/// A liveness probe drover runs from the operator: the server runs when it answers.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("has(self.tcp) != has(self.http)").message("give exactly one of tcp and http"))]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// Alive when a TCP connection opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpProbe>,
    /// Alive when `GET http://host:port/path` answers 2xx or 3xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbe>,
    /// How long one probe may take.
    #[serde(default = "default_probe_timeout")]
    #[schemars(range(min = 1, max = 60))]
    pub timeout_seconds: u32,
}

fn default_probe_timeout() -> u32 {
    2
}

/// A TCP probe target.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TcpProbe {
    /// The server's host name or IP address, as the operator's pod resolves it.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// The TCP port the server listens on.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
}

/// An HTTP probe target (plain HTTP).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpProbe {
    /// The server's host name or IP address, as the operator's pod resolves it (also the `Host` header).
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// The TCP port of the HTTP endpoint.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// The request path (at most 1024 characters).
    #[serde(default = "default_path")]
    #[schemars(length(min = 1, max = 1024))]
    pub path: String,
}

fn default_path() -> String {
    "/".into()
}

impl DrSiteSpec {
    pub fn site(&self, name: &str) -> Option<&SiteSpec> {
        self.sites.iter().find(|s| s.name == name)
    }

    pub fn component(&self, name: &str) -> Option<&ComponentSpec> {
        self.components.iter().find(|c| c.name == name)
    }
}

impl ComponentSpec {
    /// How the component runs at `site`.
    pub fn at(&self, site: &str) -> Option<&ComponentAtSite> {
        self.sites.iter().find(|s| s.site == site)
    }
}
