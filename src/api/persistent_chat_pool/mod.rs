//! The `PersistentChatPool` custom resource: one Persistent Chat pool whose chat
//! database is log-shipped from the primary data center to the backup one and
//! mirrored inside each. Users flip `spec.activeSite`; drover runs runbook B:
//! failover to the backup data center's database, or failback to the primary's.

#[cfg(test)]
pub(crate) mod fixtures;
mod status;
pub mod validate;

pub use status::*;
pub use validate::validate;

use crate::api::availability_group::{CredentialsRef, EndpointSpec, ForcedFailoverPolicy, TlsSpec};
use k8s_openapi::api::batch::v1::JobTemplateSpec;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Persistent Chat pool kept at `spec.activeSite`: failover restores the log-shipped chat
/// database at the backup data center, failback restores it over the primary's; the pool cmdlets
/// run as hook Jobs.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "drover.dev",
    version = "v1alpha1",
    kind = "PersistentChatPool",
    namespaced,
    shortname = "pchat",
    category = "drover",
    status = "PersistentChatPoolStatus",
    doc = "A Persistent Chat pool on log shipping and database mirroring across two data centers: drover keeps its chat database writable and the pool pointed at spec.activeSite, running the failover and failback runbooks step by step.",
    printcolumn = r#"{"name":"Active", "type":"string", "description":"The site whose chat database the pool uses", "jsonPath":".status.activeSite"}"#,
    printcolumn = r#"{"name":"Desired", "type":"string", "description":"The site that should be active", "jsonPath":".spec.activeSite"}"#,
    printcolumn = r#"{"name":"Pool-State", "type":"string", "description":"Normal or FailedOver, as drover last set it", "jsonPath":".status.poolState"}"#,
    printcolumn = r#"{"name":"Phase", "type":"string", "description":"What drover is doing", "jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Step", "type":"string", "description":"The step in progress, e.g. 4/9 restore-log@dc2", "jsonPath":".status.step"}"#,
    printcolumn = r#"{"name":"Last-Restore", "type":"date", "description":"When the backup instance last restored a log backup", "jsonPath":".status.logShipping.lastRestoredAt"}"#,
    printcolumn = r#"{"name":"Age", "type":"date", "jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = Rule::new("!has(self.activeSite) || self.activeSite == self.primary.site || self.activeSite == self.backup.site").message("activeSite must be primary.site or backup.site").field_path(".activeSite"))]
#[x_kube(validation = Rule::new("self.primary.site != self.backup.site").message("the primary and backup data centers must be different sites").field_path(".backup.site"))]
#[x_kube(validation = Rule::new("self.chatDatabase.lowerAscii() != self.complianceDatabase.lowerAscii()").message("the chat and compliance databases must differ (SQL Server compares names case-insensitively)").field_path(".complianceDatabase"))]
#[x_kube(validation = Rule::new("(has(self.primary.mirrorInstance) ? [self.primary.sqlInstance.serverName, self.primary.mirrorInstance.serverName] : [self.primary.sqlInstance.serverName]).all(a, (has(self.backup.mirrorInstance) ? [self.backup.sqlInstance.serverName, self.backup.mirrorInstance.serverName] : [self.backup.sqlInstance.serverName]).all(b, a.lowerAscii() != b.lowerAscii()))").message("an instance cannot serve both data centers: every serverName must be different (SQL Server compares them case-insensitively)").field_path(".backup"))]
#[serde(rename_all = "camelCase")]
pub struct PersistentChatPoolSpec {
    /// The pool's identity as the cmdlets take it (`-Identity`), e.g. `PersistentChatServer:pchat.contoso.com`.
    #[schemars(length(min = 1, max = 256))]
    pub pool_identity: String,
    /// The site whose data center should serve the pool: `primary.site` (pool state Normal) or
    /// `backup.site` (pool state FailedOver). Change it to fail over or fail back. Optional: left
    /// out, drover keeps the pool where it is active and never fails it over or back by itself. While
    /// a DrSite lists this pool, only a value written by the DrSite's field manager (`drover-drsite`)
    /// is acted on; a value from any other writer is reported as a Conflict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub active_site: Option<String>,
    /// The chat database (log-shipped and failed over), as named in SQL Server.
    #[serde(default = "default_chat_database")]
    #[schemars(length(min = 1, max = 128))]
    pub chat_database: String,
    /// The compliance database. It is never failed over; drover only removes its mirroring at the
    /// backup data center during failback, as the runbook says.
    #[serde(default = "default_compliance_database")]
    #[schemars(length(min = 1, max = 128))]
    pub compliance_database: String,
    /// The data center whose databases the pool uses in state Normal: the log-shipping primary.
    pub primary: DataCenter,
    /// The data center log shipping protects the chat database in: the pool uses it in state FailedOver.
    pub backup: DataCenter,
    /// Where log shipping keeps its files.
    pub log_shipping: LogShippingSpec,
    /// The Secret holding the SQL login drover uses on every instance (sysadmin: log-shipping
    /// procedures, RESTORE and KILL need it).
    pub credentials: CredentialsRef,
    /// How connections to the instances are encrypted.
    #[serde(default)]
    pub tls: TlsSpec,
    /// When drover may fail over while the primary instance is unreachable (the log not yet backed
    /// up or copied is lost). A planned failover with the primary reachable takes a tail-log backup
    /// and loses nothing.
    #[serde(default)]
    pub forced_failover: ForcedFailoverPolicy,
    /// The Jobs that run the pool cmdlets; drover passes its decisions as `DROVER_*` variables.
    pub hooks: PoolHooks,
    /// Plan and report, but execute nothing.
    #[serde(default)]
    pub suspend: bool,
}

fn default_chat_database() -> String {
    "mgc".into()
}

fn default_compliance_database() -> String {
    "mgccomp".into()
}

/// One data center of the pool.
#[derive(Serialize, Deserialize, KubeSchema, Clone, Debug, PartialEq)]
#[x_kube(validation = Rule::new("!has(self.mirrorInstance) || self.mirrorInstance.serverName.lowerAscii() != self.sqlInstance.serverName.lowerAscii()").message("the mirror instance must be another server than the SQL instance").field_path(".mirrorInstance.serverName"))]
#[x_kube(validation = Rule::new("self.activeServers.all(a, self.activeServers.filter(b, b.lowerAscii() == a.lowerAscii()).size() == 1)").message("each active server is listed once (FQDNs compare case-insensitively)").field_path(".activeServers"))]
#[serde(rename_all = "camelCase")]
pub struct DataCenter {
    /// The site's name (a DNS label), as a DrSite listing the pool names it.
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub site: String,
    /// The SQL Server instance holding the pool's databases here.
    pub sql_instance: SqlInstance,
    /// The instance mirroring them inside this data center, if any; drover has a mirror installed
    /// for the chat database here once it serves from this data center.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_instance: Option<SqlInstance>,
    /// The UNC share `Install-CsMirrorDatabase` stages the mirror's backups through when drover has
    /// a mirror installed here (`DROVER_FILE_SHARE`). Default: `logShipping.backupShare`; give one
    /// in this data center, or a failover with the primary data center lost cannot install it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 400))]
    pub mirror_file_share: Option<String>,
    /// The Persistent Chat servers (FQDNs, e.g. `pchat-a1.contoso.com`) that should be active while
    /// this data center serves. drover passes them to the set-active-servers hook comma-separated.
    #[schemars(
        length(min = 1, max = 32),
        inner(
            length(min = 1, max = 253),
            pattern(r"^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?\.)+[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$")
        )
    )]
    pub active_servers: Vec<String>,
}

/// A SQL Server instance.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SqlInstance {
    /// Its name as SQL Server reports it (`@@SERVERNAME`: `host` or `host\instance`).
    #[schemars(length(min = 1, max = 256))]
    pub server_name: String,
    /// Where drover connects to it.
    pub endpoint: EndpointSpec,
}

/// Log shipping's file locations, as SQL Server's log-shipping configuration has them.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogShippingSpec {
    /// The UNC share the primary's backup job writes log backups to (`\\server\share`). drover reads
    /// uncopied backups from it during failover when it is reachable, and writes the failback's
    /// full backup and a planned failover's tail-log backup to it.
    #[schemars(length(min = 3, max = 400), pattern(r"^\\\\[^\\]+\\[^\\]+"))]
    pub backup_share: String,
    /// The folder on the backup instance the copy job copies log backups to (e.g. `D:\LogShip`).
    #[schemars(length(min = 1, max = 400))]
    pub copy_destination: String,
}

/// The Job templates that run the pool cmdlets (e.g. on a Windows node with the Skype for Business
/// management shell). Every container gets `DROVER_POOL`, `DROVER_ACTION`, `DROVER_SITE` and the
/// action's arguments; a Job that fails stops the runbook until it is deleted (then it runs again).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PoolHooks {
    /// `Set-CsPersistentChatState -Identity $DROVER_POOL -PoolState $DROVER_POOL_STATE`.
    #[schemars(schema_with = "crate::api::dr_site::job_template_schema")]
    pub set_pool_state: JobTemplateSpec,
    /// `Set-CsPersistentChatActiveServer -Identity $DROVER_POOL -ActiveServers <$DROVER_ACTIVE_SERVERS
    /// split on commas; empty means $null>`.
    #[schemars(schema_with = "crate::api::dr_site::job_template_schema")]
    pub set_active_servers: JobTemplateSpec,
    /// `Install-CsMirrorDatabase` for `$DROVER_DATABASES` on `$DROVER_SQL_SERVER` mirrored to
    /// `$DROVER_MIRROR_SERVER` through `$DROVER_FILE_SHARE`.
    #[schemars(schema_with = "crate::api::dr_site::job_template_schema")]
    pub install_mirror: JobTemplateSpec,
    /// Re-creates log shipping of `$DROVER_DATABASE` from `$DROVER_PRIMARY_SERVER` to
    /// `$DROVER_SECONDARY_SERVER` (`$DROVER_BACKUP_SHARE`, `$DROVER_COPY_DESTINATION`), initialising
    /// the secondary from a full backup.
    #[schemars(schema_with = "crate::api::dr_site::job_template_schema")]
    pub establish_log_shipping: JobTemplateSpec,
}

impl PersistentChatPoolSpec {
    /// The data center at `site`.
    pub fn data_center(&self, site: &str) -> Option<&DataCenter> {
        [&self.primary, &self.backup].into_iter().find(|dc| dc.site == site)
    }
}
