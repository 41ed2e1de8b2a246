//! The `AvailabilityGroup` custom resource: one SQL Server availability group,
//! the site its primary should be at, and how drover may move it there.

#[cfg(test)]
pub(crate) mod fixtures;
mod status;
mod validate;

pub use status::*;
pub use validate::{SpecError, validate};
pub(crate) use validate::{forced_failover, problem};

use k8s_openapi::api::batch::v1::JobTemplateSpec;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The annotation a user sets to confirm a forced failover's data loss.
pub const CONFIRM_ANNOTATION: &str = "drover.dev/confirm-data-loss";

/// The most replicas SQL Server allows in one availability group (1 primary + 8 secondaries).
pub const MAX_REPLICAS: usize = 9;

/// One SQL Server Always On availability group whose primary drover keeps at `spec.primarySite`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "drover.dev",
    version = "v1alpha1",
    kind = "AvailabilityGroup",
    namespaced,
    shortname = "sqlag",
    category = "drover",
    status = "AvailabilityGroupStatus",
    doc = "A SQL Server Always On availability group whose primary replica drover keeps at the declared site: planned switchovers without data loss, forced failovers only as the policy allows, and safe failback.",
    printcolumn = r#"{"name":"Primary", "type":"string", "description":"Site of the observed primary replica", "jsonPath":".status.primarySite"}"#,
    printcolumn = r#"{"name":"Desired", "type":"string", "description":"Site the primary should be at", "jsonPath":".spec.primarySite"}"#,
    printcolumn = r#"{"name":"Phase", "type":"string", "description":"What drover is doing", "jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Synchronized", "type":"string", "description":"Secondary database copies in their healthy state / all secondary copies", "jsonPath":".status.synchronized"}"#,
    printcolumn = r#"{"name":"Est-Loss", "type":"integer", "description":"Seconds of commits a forced failover would lose now (known part)", "jsonPath":".status.estimatedDataLossSeconds"}"#,
    printcolumn = r#"{"name":"Age", "type":"date", "jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("!has(self.primarySite) || self.replicas.exists(r, r.site == self.primarySite)").message("primarySite must be the site of one of the replicas").field_path(".primarySite"))]
#[x_kube(validation = Rule::new("self.replicas.all(a, self.replicas.filter(b, b.serverName.lowerAscii() == a.serverName.lowerAscii()).size() == 1)").message("replica serverName values must be unique (SQL Server compares them case-insensitively)").field_path(".replicas"))]
#[x_kube(validation = Rule::new("self.replicas.all(a, self.replicas.filter(b, b.site == a.site).size() == 1)").message("each site may hold only one replica of the availability group").field_path(".replicas"))]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityGroupSpec {
    /// The availability group's name in SQL Server (`sys.availability_groups.name`), 1-128 characters.
    #[schemars(length(min = 1, max = 128))]
    pub group_name: String,
    /// How the group is clustered: `WSFC` (Windows Server Failover Cluster), `NONE` (read-scale or
    /// clusterless), or `EXTERNAL` (Pacemaker and the like; drover reports but never fails it over,
    /// because that must go through the cluster manager).
    pub cluster_type: ClusterType,
    /// The availability databases of the group, as named in SQL Server (1-128 characters each).
    #[schemars(length(min = 1, max = 100), inner(length(min = 1, max = 128)), extend("x-kubernetes-list-type" = "set"))]
    pub databases: Vec<String>,
    /// The replicas of the group: one per site.
    #[schemars(length(min = 2, max = 9))]
    pub replicas: Vec<ReplicaSpec>,
    /// The Secret holding the SQL login drover uses on every replica.
    pub credentials: CredentialsRef,
    /// How connections to the replicas are encrypted.
    #[serde(default)]
    pub tls: TlsSpec,
    /// The site whose replica should be the primary. Change it to switch over, fail over or fail back.
    /// Optional: left out, drover keeps the primary wherever it is (steady-state upkeep goes on) and
    /// never starts a switchover or a forced failover by itself, as a Deployment's `replicas` left to
    /// an HPA. While a DrSite lists this group, only a value written by the DrSite's field manager
    /// (`drover-drsite`) is acted on; a value from any other writer is reported as a Conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub primary_site: Option<String>,
    /// When drover may fail over with possible data loss (the primary unreachable).
    #[serde(default)]
    pub forced_failover: ForcedFailoverPolicy,
    /// Resume suspended data movement on secondaries without being asked. Resuming a former primary
    /// after a forced failover rolls back its divergent log for good; drover records that loss first.
    #[serde(default)]
    pub auto_resume: bool,
    /// Take a copy-only backup of the primary's databases before failing back to a site whose replica
    /// returned after a forced failover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_before_failback: Option<BackupTarget>,
    /// `REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT` in steady state (SQL Server 2017 and later;
    /// not for EXTERNAL, whose cluster resource owns it). With 1 or more, the primary commits only
    /// once that many synchronous secondaries hardened the log, so a primary cut off from them
    /// stops committing: drover counts that as evidence that an unreachable old primary cannot
    /// take writes, and a forced failover onto a SYNCHRONIZED secondary loses no acknowledged
    /// commit. At most the number of SynchronousCommit replicas minus one. Absent: drover leaves
    /// the setting as it finds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 8))]
    pub required_synchronized_secondaries: Option<u8>,
}

/// `sys.availability_groups.cluster_type`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterType {
    #[serde(rename = "WSFC")]
    Wsfc,
    #[serde(rename = "NONE")]
    None,
    #[serde(rename = "EXTERNAL")]
    External,
}

impl ClusterType {
    /// The value SQL Server reports for this cluster type.
    pub fn observed(self) -> crate::sql::ClusterType {
        match self {
            Self::Wsfc => crate::sql::ClusterType::Wsfc,
            Self::None => crate::sql::ClusterType::None,
            Self::External => crate::sql::ClusterType::External,
        }
    }
}

/// One availability replica.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaSpec {
    /// The replica's server name as SQL Server reports it (`@@SERVERNAME`, `host` or `host\instance`).
    #[schemars(length(min = 1, max = 256))]
    pub server_name: String,
    /// The site this replica is at.
    #[schemars(length(min = 1, max = 63))]
    pub site: String,
    /// Where drover connects to reach this replica.
    pub endpoint: EndpointSpec,
    /// The replica's availability mode in steady state; drover restores it after every transition.
    pub availability_mode: AvailabilityMode,
    /// A Job that makes this replica unable to commit (stop its VM or StatefulSet, block its
    /// listener), run in the group's namespace when this replica is the primary, cannot be reached,
    /// and a forced failover away from it has no other evidence that it stopped taking writes.
    /// Its success is that evidence (`status.estimate.oldPrimaryFenced`); a failure falls back to a
    /// person's confirmation. drover sets `DROVER_ACTION=fence`, `DROVER_REPLICA`, `DROVER_SITE`,
    /// `DROVER_TARGET_REPLICA`, `DROVER_GROUP` and `DROVER_RUN` in every container. Refused when
    /// privileged, with host namespaces, hostPath volumes, added capabilities beyond the baseline,
    /// or a ServiceAccount the administrator did not allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::api::dr_site::job_template_schema")]
    pub fence_hook: Option<JobTemplateSpec>,
    /// WSFC only: a Job that forces quorum on this replica's side of the cluster (e.g.
    /// `Start-ClusterNode -FixQuorum` on a surviving node), run when this replica is the target of
    /// a forced failover and its node has no quorum, under the same consent as the forced failover
    /// (a person's token unless the old primary is shown unable to commit). Same environment
    /// (`DROVER_ACTION=force-quorum`) and rules as `fenceHook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::api::dr_site::job_template_schema")]
    pub force_quorum_hook: Option<JobTemplateSpec>,
}

/// A TDS endpoint.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSpec {
    /// Host name or IP address.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// TCP port (SQL Server's default is 1433).
    #[serde(default = "default_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
}

fn default_port() -> u16 {
    1433
}

/// The steady-state commit mode of a replica.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvailabilityMode {
    /// Commits wait for this replica to harden the log.
    SynchronousCommit,
    /// Commits do not wait for this replica.
    AsynchronousCommit,
}

impl From<AvailabilityMode> for crate::sql::CommitMode {
    fn from(mode: AvailabilityMode) -> Self {
        match mode {
            AvailabilityMode::SynchronousCommit => Self::Synchronous,
            AvailabilityMode::AsynchronousCommit => Self::Asynchronous,
        }
    }
}

/// A Secret in the resource's namespace with a SQL login.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,
    /// The key holding the login name (a Secret data key: at most 253 characters).
    #[serde(default = "default_username_key")]
    #[schemars(length(min = 1, max = 253))]
    pub username_key: String,
    /// The key holding the password (a Secret data key: at most 253 characters).
    #[serde(default = "default_password_key")]
    #[schemars(length(min = 1, max = 253))]
    pub password_key: String,
}

fn default_username_key() -> String {
    "username".into()
}

fn default_password_key() -> String {
    "password".into()
}

/// Transport encryption for the TDS connections.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// `Required` (default): the whole connection is encrypted. `Strict`: TDS 8 (TLS before any
    /// TDS traffic). `LoginOnly`: only the login packet. `Off`: nothing (test servers only).
    #[serde(default)]
    pub encryption: Encryption,
    /// Accept any server certificate. Only for test setups.
    #[serde(default)]
    pub trust_server_certificate: bool,
    /// A Secret key holding the PEM CA bundle that signed the servers' certificates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
    /// The host name expected in the server certificate, when it differs from the endpoint host
    /// (a DNS name: at most 253 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub host_name_in_certificate: Option<String>,
}

/// How the TDS connection is encrypted.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encryption {
    Off,
    LoginOnly,
    #[default]
    Required,
    Strict,
}

impl From<Encryption> for crate::sql::Encryption {
    fn from(e: Encryption) -> Self {
        match e {
            Encryption::Off => Self::Off,
            Encryption::LoginOnly => Self::LoginOnly,
            Encryption::Required => Self::Required,
            Encryption::Strict => Self::Strict,
        }
    }
}

/// One key of a Secret in the resource's namespace.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The key in the Secret (at most 253 characters).
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// When drover may run `FORCE_FAILOVER_ALLOW_DATA_LOSS`.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq, Default)]
#[x_kube(validation = Rule::new("self.policy != 'Automatic' || (has(self.minUnreachableSeconds) && has(self.maxDataLossSeconds))").message("policy Automatic needs minUnreachableSeconds and maxDataLossSeconds"))]
#[serde(rename_all = "camelCase")]
pub struct ForcedFailoverPolicy {
    /// `Never`: wait for the primary to return. `Confirm` (default): a person confirms the estimated
    /// loss with a one-shot token. `Automatic`: fail over when both bounds below hold.
    #[serde(default)]
    pub policy: ForcePolicy,
    /// Automatic only: the primary must have been unreachable at least this long (1 second to
    /// one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub min_unreachable_seconds: Option<u32>,
    /// Automatic only: the known estimated loss must be at most this many seconds of commits
    /// (at most one day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub max_data_loss_seconds: Option<u32>,
}

/// See `forcedFailover.policy`. (`maxLength`: the longest value, so a CEL rule comparing it has
/// a bounded cost even on API servers that do not derive one from `enum`.)
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[schemars(extend("maxLength" = 9))]
pub enum ForcePolicy {
    Never,
    #[default]
    Confirm,
    Automatic,
}

/// Where copy-only backups go before a failback.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupTarget {
    /// A directory the primary's SQL Server service can write to, e.g. `\\backup01\sql\ag1`.
    /// Files are named `<database>_<transition start, UTC>.bak`.
    #[schemars(length(min = 1, max = 200))]
    pub directory: String,
}

impl AvailabilityGroupSpec {
    /// The replica at `site`.
    pub fn replica_at(&self, site: &str) -> Option<&ReplicaSpec> {
        self.replicas.iter().find(|r| r.site == site)
    }

    /// The replica called `server_name` (case-insensitively, as SQL Server compares them).
    pub fn replica_named(&self, server_name: &str) -> Option<&ReplicaSpec> {
        self.replicas
            .iter()
            .find(|r| r.server_name.eq_ignore_ascii_case(server_name))
    }
}
