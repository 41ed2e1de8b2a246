//! What drover reports about an availability group, and the journal of facts
//! it cannot re-observe (a transition's start, backups taken, a confirmation
//! consumed, the point a forced failover forked the log).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of an availability group.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[schemars(transform = crate::api::schema::bound_integers)]
#[serde(rename_all = "camelCase")]
pub struct AvailabilityGroupStatus {
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Steady`, `Switchover`, `Failover`, `Failback`, `AwaitingConfirmation`, `Waiting`,
    /// `Degraded`, `Unmanaged` (EXTERNAL cluster type) or `Invalid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Site of the replica that reports itself PRIMARY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_site: Option<String>,
    /// Server name of that replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_replica: Option<String>,
    /// Secondary database copies in their healthy state (SYNCHRONIZED on synchronous-commit
    /// replicas, SYNCHRONIZING on asynchronous ones) over all secondary copies, e.g. `2/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronized: Option<String>,
    /// Seconds of commits a forced failover to the desired site's replica (or, at steady state,
    /// to the best secondary) would lose now, as far as drover knows. See `estimate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_data_loss_seconds: Option<i64>,
    /// The data-loss estimate in detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<LossEstimate>,
    /// What each replica reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaStatus>,
    /// What each database copy reports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseStatus>,
    /// The step in progress, or what drover is waiting for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The transition in progress, if any (drover's journal: do not edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// A forced failover waiting for a person to confirm its data loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<ConfirmationRequest>,
    /// Resuming a returning old primary would roll back commits a forced failover left on it
    /// (or they could not be measured): what would be discarded, waiting for a person's consent
    /// (`drover.dev/confirm-discard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard_confirmation: Option<crate::api::confirmation::DiscardRequest>,
    /// The primary as drover last saw it before it became unreachable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_lost: Option<PrimarySnapshot>,
    /// The last completed failover of any kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failover: Option<FailoverRecord>,
    /// The fence and force-quorum hook Jobs run during the current outage of the primary, and how
    /// they ended (drover's journal: a hook that succeeded is not run again after a restart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 18))]
    pub hooks: Vec<HookRun>,
    /// Ready, Progressing, Degraded, DataLossConfirmationRequired, Invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// What drover is doing with the group.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The primary is at the desired site and the declared modes hold.
    Steady,
    /// A planned, lossless move of the primary.
    Switchover,
    /// A forced failover (the primary is unreachable).
    Failover,
    /// A move back to a site whose replica returned after a forced failover.
    Failback,
    /// A forced failover needs a person to confirm its data loss.
    AwaitingConfirmation,
    /// Waiting for something drover cannot change (a replica to return, the policy).
    Waiting,
    /// At the desired site but not healthy (suspended copies, unreachable replicas, a mode drover cannot restore).
    Degraded,
    /// Cluster type EXTERNAL: observed only; fail over through the cluster manager.
    Unmanaged,
    /// The spec cannot be acted on.
    Invalid,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Steady => "Steady",
            Self::Switchover => "Switchover",
            Self::Failover => "Failover",
            Self::Failback => "Failback",
            Self::AwaitingConfirmation => "AwaitingConfirmation",
            Self::Waiting => "Waiting",
            Self::Degraded => "Degraded",
            Self::Unmanaged => "Unmanaged",
            Self::Invalid => "Invalid",
        }
    }
}

/// One replica as drover sees it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaStatus {
    pub server_name: String,
    pub site: String,
    /// Whether drover could run its observation batch on the replica.
    pub reachable: bool,
    /// PRIMARY, SECONDARY or RESOLVING, as the replica reports itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Whether the replica is connected to its primary (on a secondary) or is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connected: Option<bool>,
    /// synchronization_health_desc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The configured availability mode (from sys.availability_replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_mode: Option<String>,
    /// Why the replica could not be observed, or what is wrong with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// One database copy on one replica.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStatus {
    pub name: String,
    /// The replica hosting this copy.
    pub replica: String,
    /// synchronization_state_desc (`NOT SYNCHRONIZING`, `SYNCHRONIZING`, `SYNCHRONIZED`, `REVERTING`, `INITIALIZING`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synchronization_state: Option<String>,
    /// Whether data movement is suspended.
    #[serde(default)]
    pub suspended: bool,
    /// suspend_reason_desc when suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend_reason: Option<String>,
    /// How far this copy's last commit is behind the primary's, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_seconds: Option<i64>,
}

/// What a forced failover would lose now.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct LossEstimate {
    /// The replica the estimate is for (the one a failover would promote).
    pub target: String,
    /// Seconds between the primary's last commit and the target's, per what drover saw; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_loss_seconds: Option<i64>,
    /// With the primary unreachable: when drover last saw it. Anything it committed after that is unknown
    /// and would be lost too. Absent while the primary is reachable; unset with `primaryUnreachable` when
    /// drover never saw the primary (e.g. it restarted during the outage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_since: Option<Time>,
    /// True when the primary cannot be observed.
    #[serde(default)]
    pub primary_unreachable: bool,
    /// With the primary unreachable: what shows it cannot be taking writes (it reports it is no
    /// longer primary, or its side lost WSFC quorum). Absent: drover cannot tell, and whatever it
    /// commits until it is stopped would be lost too; policy Automatic then never forces alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_primary_fenced: Option<String>,
}

/// The primary as last seen, kept from the moment it became unreachable.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrimarySnapshot {
    /// The replica that was primary, when drover knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// When drover first found no reachable primary (absent in a snapshot of a live primary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<Time>,
    /// When drover last observed it; absent if this operator process never did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Time>,
    /// Its databases' last commits at that moment.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<LogPoint>,
}

/// A position in one database's log.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LogPoint {
    pub database: String,
    /// numeric(25,0) LSN, as a decimal string (too large for a JSON number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lsn: Option<String>,
    /// The commit time at that LSN (server local time as SQL Server reports it, read as UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_time: Option<Time>,
}

/// A forced failover waiting for confirmation.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationRequest {
    /// Set `drover.dev/confirm-data-loss` to this value to allow this failover, once.
    pub token: String,
    /// The replica that would be forced to primary.
    pub target: String,
    /// The estimate the token is bound to; a different estimate needs a new token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_loss_seconds: Option<i64>,
    /// When the primary was last seen (the start of the unknown window), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_since: Option<Time>,
    /// The command that confirms it.
    pub command: String,
    /// When the token was issued and when it expires (a new request replaces an expired one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<crate::api::confirmation::TokenIssue>,
}

/// The kinds of transition drover runs.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionKind {
    /// Planned and lossless: the old primary is reachable.
    Switchover,
    /// Forced: the old primary is unreachable.
    Failover,
    /// Planned, back to a site whose replica returned after a forced failover.
    Failback,
}

impl TransitionKind {
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
pub struct Transition {
    pub kind: TransitionKind,
    /// The site the primary is moving to.
    pub to_site: String,
    pub to_replica: String,
    /// The site and replica it is moving from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_replica: Option<String>,
    pub started_at: Time,
    /// Copy-only backups taken for this transition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backups: Vec<BackupTaken>,
    /// Cluster type NONE: REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT before drover raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_synchronized_before: Option<i32>,
    /// Cluster type NONE: the old primary was demoted to SECONDARY by drover after every database
    /// on the target was SYNCHRONIZED, so forcing the target loses nothing.
    #[serde(default)]
    pub demoted: bool,
    /// FAILOVER or FORCE_FAILOVER_ALLOW_DATA_LOSS was accepted; waiting for the role change.
    #[serde(default)]
    pub failover_issued: bool,
    /// Forced failovers: the target's log ends at the moment of forcing; what the old primary has
    /// beyond these points is the data lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fork: Vec<LogPoint>,
    /// The confirmation token consumed by this transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_token: Option<String>,
    /// A data-loss confirmation request withdrawn while its estimate cannot be shown (the target
    /// cannot be observed); asked again with the same token once it can.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld_confirmation: Option<ConfirmationRequest>,
}

/// Which of a replica's hooks.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgHook {
    /// `fenceHook`: makes the old primary unable to commit.
    Fence,
    /// `forceQuorumHook`: forces WSFC quorum on the target's side.
    ForceQuorum,
}

impl AgHook {
    /// The Job's `drover.dev/action` label and `DROVER_ACTION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fence => "fence",
            Self::ForceQuorum => "force-quorum",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fence" => Some(Self::Fence),
            "force-quorum" => Some(Self::ForceQuorum),
            _ => None,
        }
    }

    /// The spec field declaring it.
    pub fn field(self) -> &'static str {
        match self {
            Self::Fence => "fenceHook",
            Self::ForceQuorum => "forceQuorumHook",
        }
    }
}

/// Where a hook Job is.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookState {
    Running,
    Succeeded,
    Failed,
}

/// One fence or force-quorum hook run.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    pub hook: AgHook,
    /// The replica whose hook it is (the old primary for a fence, the target for force-quorum).
    pub replica: String,
    pub site: String,
    /// The Job's `drover.dev/run` label: the outage it belongs to.
    pub run: String,
    /// The Job's name, once seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    pub state: HookState,
    /// Why it failed (from the Job's conditions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A copy-only backup drover took.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupTaken {
    pub database: String,
    pub replica: String,
    pub path: String,
}

/// A completed failover.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverRecord {
    pub kind: TransitionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_site: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_replica: Option<String>,
    pub to_site: String,
    pub to_replica: String,
    pub started_at: Time,
    pub finished_at: Time,
    /// Forced failovers: where the new primary's log forked from the old one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fork: Vec<LogPoint>,
    /// What was lost: zero for planned transitions; for forced ones, measured from LSNs once the old
    /// primary is observed again. Absent until measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss: Option<DataLoss>,
    /// Forced failovers: the confirmation that allowed resuming the old primary's diverged copies
    /// (and so discarding their tail), when one was needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discard_confirmed: Option<crate::api::confirmation::ConfirmationConsumed>,
    /// Cluster type NONE switches: the demoted former primary's copies, which the demotion
    /// suspended, are still to be resumed (it could not be reached when the switch finished).
    /// Part of the switch's runbook, so done whatever autoResume says.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resume_demoted: bool,
}

/// Data lost by a failover.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DataLoss {
    /// The longest span of lost commits over the databases, in seconds; absent when it cannot be measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
    /// Why the loss could not be measured, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Per database: the old primary's log beyond the fork (empty for planned transitions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseLoss>,
}

/// One database's divergent tail.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseLoss {
    pub database: String,
    /// Lost log lies in (fromLsn, toLsn]; equal values mean nothing was lost.
    pub from_lsn: String,
    pub to_lsn: String,
    /// Commit times of the fork point and of the old primary's last commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_time: Option<Time>,
}
