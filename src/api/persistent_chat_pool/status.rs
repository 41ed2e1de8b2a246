//! What drover reports about a PersistentChatPool, and its journal: the runbook
//! in progress with a cursor, what it last told the pool (state and active
//! servers, which SQL Server cannot show), the log backups it applied.

use crate::api::availability_group::ConfirmationRequest;
use crate::api::dr_site::StepState;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a PersistentChatPool.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[schemars(transform = crate::api::schema::bound_integers)]
#[serde(rename_all = "camelCase")]
pub struct PersistentChatPoolStatus {
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The site whose chat database is writable and which the pool state points at. Absent when
    /// they disagree (mid-runbook) or the database is not writable anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_site: Option<String>,
    /// `Normal` or `FailedOver`, as drover last set it (or inferred from the databases before it
    /// ever did). The cmdlet's effect cannot be read back through SQL Server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_state: Option<PoolState>,
    /// The active servers as drover last set them (empty: cleared). Absent until drover sets them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_servers: Option<Vec<String>>,
    /// `Steady`, `Switchover`, `Failover`, `Failback`, `AwaitingConfirmation`, `Waiting`,
    /// `Degraded`, `Invalid` or `Suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PoolPhase>,
    /// The step in progress as `n/total step@site`, or what drover waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The transition in progress (drover's journal: do not edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<PoolTransition>,
    /// Log shipping of the chat database to the backup instance, as its monitor table last showed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_shipping: Option<LogShippingStatus>,
    /// Each SQL Server instance as drover can reach it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<InstanceStatus>,
    /// The chat and compliance databases on each reachable instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<PoolDatabaseStatus>,
    /// A failover with the primary unreachable waiting for a person to confirm its data loss
    /// (annotate `drover.dev/confirm-data-loss=<token>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<ConfirmationRequest>,
    /// A failback's restore over the old primary would discard its chat database's committed data
    /// and drover could not back it up first: what would be discarded, waiting for a person's
    /// consent (`drover.dev/confirm-discard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard_confirmation: Option<crate::api::confirmation::DiscardRequest>,
    /// Since when the primary instance could not be observed (for `forcedFailover.minUnreachableSeconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_unreachable_since: Option<Time>,
    /// The last completed transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition: Option<PoolTransitionRecord>,
    /// Ready, Progressing, Degraded, DataLossConfirmationRequired, Invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// `Set-CsPersistentChatState -PoolState`.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolState {
    /// The pool uses the primary data center's databases.
    Normal,
    /// The pool uses the backup data center's databases.
    FailedOver,
}

impl PoolState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::FailedOver => "FailedOver",
        }
    }
}

/// What drover is doing with the pool.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolPhase {
    /// Served from the desired site, everything as the runbook leaves it.
    Steady,
    /// A planned failover to the backup data center (primary reachable; a tail-log backup keeps every commit).
    Switchover,
    /// A failover with the primary unreachable.
    Failover,
    /// Back to the primary data center.
    Failback,
    /// A failover needs a person to confirm its data loss.
    AwaitingConfirmation,
    /// Waiting for something drover cannot change (an instance to return, the policy, a failed hook).
    Waiting,
    /// At the desired site but not as it should be (log shipping broken, an instance unreachable).
    Degraded,
    /// The spec cannot be acted on.
    Invalid,
    /// `spec.suspend`: observed and planned, nothing executed.
    Suspended,
}

impl PoolPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Steady => "Steady",
            Self::Switchover => "Switchover",
            Self::Failover => "Failover",
            Self::Failback => "Failback",
            Self::AwaitingConfirmation => "AwaitingConfirmation",
            Self::Waiting => "Waiting",
            Self::Degraded => "Degraded",
            Self::Invalid => "Invalid",
            Self::Suspended => "Suspended",
        }
    }
}

/// The kinds of pool transition.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolTransitionKind {
    /// To the backup data center with the primary reachable: lossless.
    Switchover,
    /// To the backup data center with the primary unreachable.
    Failover,
    /// Back to the primary data center.
    Failback,
}

impl PoolTransitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Switchover => "Switchover",
            Self::Failover => "Failover",
            Self::Failback => "Failback",
        }
    }
}

/// drover's journal of a transition in progress.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PoolTransition {
    /// `Switchover`, `Failover` or `Failback`.
    pub kind: PoolTransitionKind,
    /// The site the pool is leaving.
    pub from_site: String,
    /// The site the pool is moving to (`spec.activeSite` when the transition began).
    pub to_site: String,
    /// When drover began the transition.
    pub started_at: Time,
    /// 1 for the first try; a new attempt (after `spec.activeSite` changed back and forth) gets new hook Jobs.
    pub attempt: u32,
    /// The runbook, decided when the transition began; steps run one at a time in this order.
    pub steps: Vec<PoolStepStatus>,
    /// The confirmation token consumed by this transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_token: Option<String>,
    /// The last log backup restored on the backup instance (by log shipping or by drover). A
    /// failback sets it when log shipping is re-established: the newest log backup the
    /// re-initialised backup copy already holds (or that moment, named as a log backup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_backup: Option<String>,
    /// How many log backups drover restored in this transition.
    #[serde(default)]
    pub applied_backups: u32,
    /// Failback: the copy-only backup drover took of the old primary's chat database before
    /// restoring over it (what a failover left there is kept in it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_backup: Option<String>,
    /// Failback: the confirmation that allowed restoring over the old primary without that backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard_confirmed: Option<crate::api::confirmation::ConfirmationConsumed>,
}

/// One step of the pool runbook.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PoolStepStatus {
    /// The step, e.g. `remove-log-shipping`, `restore-log`, `set-pool-state`.
    pub name: String,
    /// The instance or hook it acts on.
    pub target: String,
    /// The site it acts at.
    pub site: String,
    /// `Pending`, `Running`, `Done`, `Blocked` or `Failed`.
    pub state: StepState,
    /// When drover began the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the step was done or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// What it waits for, what it did, or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Log shipping as the backup instance's msdb shows it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct LogShippingStatus {
    /// A log-shipping secondary configuration exists for the chat database on the backup instance.
    pub configured: bool,
    /// The instance the log backups come from (`primary_server` of the monitor table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_server: Option<String>,
    /// The instance restoring them (`secondary_server` of the monitor table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_server: Option<String>,
    /// The last log backup the copy job copied to `spec.logShipping.copyDestination` (full path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_copied_file: Option<String>,
    /// When the copy job copied it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_copied_at: Option<Time>,
    /// The last log backup the restore job restored (full path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restored_file: Option<String>,
    /// When the restore job restored it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_restored_at: Option<Time>,
}

/// One SQL Server instance of the pool.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// The instance's `serverName` in the spec.
    pub server_name: String,
    /// The site of its data center.
    pub site: String,
    /// `sqlInstance` or `mirrorInstance`.
    pub role: String,
    /// drover could log in and read its state at the last observation.
    pub reachable: bool,
    /// Why it could not be observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One database on one instance.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PoolDatabaseStatus {
    /// The instance holding this copy.
    pub server_name: String,
    /// The chat or compliance database's name.
    pub database: String,
    /// `sys.databases.state_desc` (ONLINE, RESTORING, …); absent when the database does not exist there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// PRINCIPAL or MIRROR when mirrored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirroring_role: Option<String>,
    /// SYNCHRONIZED, SYNCHRONIZING, SUSPENDED, DISCONNECTED, … when mirrored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirroring_state: Option<String>,
    /// The mirroring partner instance (`sys.database_mirroring.mirroring_partner_instance`) when mirrored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirroring_partner: Option<String>,
}

/// A completed transition, with what it could not carry over.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PoolTransitionRecord {
    /// `Switchover`, `Failover` or `Failback`.
    pub kind: PoolTransitionKind,
    /// The site the pool left.
    pub from_site: String,
    /// The site the pool moved to.
    pub to_site: String,
    /// When drover began the transition.
    pub started_at: Time,
    /// When its last step was done: the measured duration is `finishedAt - startedAt`.
    pub finished_at: Time,
    /// Log backups drover restored.
    #[serde(default)]
    pub applied_backups: u32,
    /// The last log backup in the recovered chat database. After a failback: the newest the
    /// re-initialised backup copy holds, where the next transition's log backups start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_backup: Option<String>,
    /// Failover: log backups that existed but could not be applied (their share was unreachable),
    /// as learned once the share was readable again. Their commits, and every commit after them,
    /// are lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unapplied_backups: Vec<String>,
    /// Failover: commits on the old primary after this moment (the end of the last applied log
    /// backup) did not reach the recovered database. Absent for lossless transitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_after: Option<Time>,
    /// True when nothing committed can have been lost (switchover with its tail-log backup; failback).
    pub lossless: bool,
    /// Failover: drover has read the share since, and `unappliedBackups` lists what it found there
    /// that never reached the recovered database.
    #[serde(default)]
    pub share_checked: bool,
    /// Failback: the backup of the old primary's chat database taken before it was restored over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_backup: Option<String>,
}
