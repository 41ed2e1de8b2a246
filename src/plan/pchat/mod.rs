//! The PersistentChatPool planner (runbook B): from the spec, what the four SQL
//! Server instances and the log-shipping folders show, the hook Jobs and the
//! journal in status, decide the runbook and the one action due now.
//!
//! - [`files`]: log-backup file names — which are this database's, their order,
//!   the deterministic names of the tail-log and failback backups.
//! - [`steps`]: the runbook of each transition kind as a fixed list of steps,
//!   and each step judged from observation: done, or the action it needs.
//! - [`decide`]: the transition journal (begin, cursor, finish); `decide/gate.rs`
//!   the data-loss gate; `decide/report.rs` the status rows, phase and conditions.
//!
//! Unlike the DrSite runbook, these steps run strictly one at a time: each
//! changes the databases the next one reads.

mod decide;
pub mod files;
mod steps;
#[cfg(test)]
mod tests;

pub use decide::{needs_runbook_inputs, plan, record_executed};

use crate::api::persistent_chat_pool::{PersistentChatPoolSpec, PersistentChatPoolStatus, PoolState};
use crate::components::JobPhase;
use crate::sql;
use jiff::Timestamp;
use std::collections::BTreeMap;

/// A database as one instance shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbObs {
    /// `sys.databases.state_desc` (`ONLINE`, `RESTORING`, …).
    pub state: String,
    /// `PRINCIPAL` or `MIRROR` while a mirroring session exists.
    pub mirroring_role: Option<String>,
    pub mirroring_state: Option<String>,
    pub mirroring_partner: Option<String>,
    /// User sessions whose current database this is.
    pub sessions: Vec<i16>,
}

impl DbObs {
    pub fn online(&self) -> bool {
        self.state.eq_ignore_ascii_case("ONLINE")
    }
    pub fn restoring(&self) -> bool {
        self.state.eq_ignore_ascii_case("RESTORING")
    }
    pub fn mirrored(&self) -> bool {
        self.mirroring_role.is_some()
    }
}

/// The chat database's log-shipping secondary configuration on the backup instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogShippingObs {
    pub primary_server: String,
    /// A `log_shipping_secondary_databases` row exists (the jobs run).
    pub configured: bool,
    pub last_copied_file: Option<String>,
    pub last_copied_at: Option<Timestamp>,
    pub last_restored_file: Option<String>,
    pub last_restored_at: Option<Timestamp>,
}

/// What one instance showed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstanceObs {
    /// By database name, lower-cased.
    pub databases: BTreeMap<String, DbObs>,
    /// Log-shipping secondary rows for the chat database.
    pub log_shipping: Option<LogShippingObs>,
}

impl InstanceObs {
    pub fn database(&self, name: &str) -> Option<&DbObs> {
        self.databases.get(&name.to_lowercase())
    }
}

/// A folder as the backup instance lists it (`xp_dirtree`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Listing {
    /// Not read this reconcile (nothing needed it).
    #[default]
    NotListed,
    /// The instance cannot reach it (or the instance itself is unreachable).
    Unreachable(String),
    /// The file names in it.
    Files(Vec<String>),
}

/// A pool hook Job drover created, as found by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolJob {
    pub name: String,
    /// The runbook step it runs (`set-pool-state`, …).
    pub step: String,
    pub run: String,
    pub phase: JobPhase,
}

/// What drover observed this reconcile. `Err` says why an instance could not be read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// By server name as declared in the spec.
    pub instances: BTreeMap<String, Result<InstanceObs, String>>,
    /// The backup instance's copy destination.
    pub destination: Listing,
    /// The backup share, as the backup instance reaches it.
    pub share: Listing,
    pub jobs: Vec<PoolJob>,
}

impl Observed {
    pub fn instance(&self, server: &str) -> Result<&InstanceObs, String> {
        match self.instances.get(server) {
            Some(Ok(obs)) => Ok(obs),
            Some(Err(why)) => Err(why.clone()),
            None => Err("not observed".to_string()),
        }
    }
}

/// Everything the planner looks at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub spec: &'a PersistentChatPoolSpec,
    /// The pool's name (tokens, commands in status).
    pub name: &'a str,
    pub namespace: &'a str,
    pub generation: Option<i64>,
    /// The status as stored: the journal.
    pub status: &'a PersistentChatPoolStatus,
    pub observed: &'a Observed,
    pub now: Timestamp,
    /// The `drover.dev/confirm-data-loss` annotation, if set.
    pub confirmation: Option<&'a str>,
    /// Who set that annotation (its field manager), if known.
    pub confirmed_by: Option<&'a str>,
    /// The `drover.dev/confirm-discard` annotation and who set it, if set.
    pub discard_confirmation: Option<crate::plan::confirm::Given<'a>>,
    /// The nonce and lifetime for a confirmation requested in this pass.
    pub tokens: crate::plan::confirm::Tokens<'a>,
    /// Why the hook templates may not be run under the administrator's rules
    /// ([`crate::components::jobs::check`], done by the caller, which knows the rules): the pool
    /// is then Invalid, as for any other spec error.
    pub refused_jobs: &'a [crate::components::jobs::Refusal],
}

/// A pool cmdlet, with the arguments drover decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmdlet {
    SetPoolState(PoolState),
    /// Empty clears the list.
    SetActiveServers(Vec<String>),
    InstallMirror {
        principal: String,
        mirror: String,
        databases: Vec<String>,
        file_share: String,
    },
    EstablishLogShipping {
        database: String,
        primary: String,
        secondary: String,
        backup_share: String,
        copy_destination: String,
    },
}

impl Cmdlet {
    /// The `DROVER_ACTION` value and the Job's step label.
    pub fn step_name(&self) -> &'static str {
        match self {
            Self::SetPoolState(_) => "set-pool-state",
            Self::SetActiveServers(servers) if servers.is_empty() => "clear-active-servers",
            Self::SetActiveServers(_) => "set-active-servers",
            Self::InstallMirror { .. } => "install-mirror",
            Self::EstablishLogShipping { .. } => "establish-log-shipping",
        }
    }

    /// The hook's `DROVER_ACTION`.
    pub fn hook_action(&self) -> &'static str {
        match self {
            Self::SetActiveServers(_) => "set-active-servers",
            other => other.step_name(),
        }
    }

    /// The action's `DROVER_*` arguments.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::SetPoolState(state) => vec![("DROVER_POOL_STATE", state.as_str().to_string())],
            Self::SetActiveServers(servers) => vec![("DROVER_ACTIVE_SERVERS", servers.join(","))],
            Self::InstallMirror {
                principal,
                mirror,
                databases,
                file_share,
            } => vec![
                ("DROVER_SQL_SERVER", principal.clone()),
                ("DROVER_MIRROR_SERVER", mirror.clone()),
                ("DROVER_DATABASES", databases.join(",")),
                ("DROVER_FILE_SHARE", file_share.clone()),
            ],
            Self::EstablishLogShipping {
                database,
                primary,
                secondary,
                backup_share,
                copy_destination,
            } => vec![
                ("DROVER_DATABASE", database.clone()),
                ("DROVER_PRIMARY_SERVER", primary.clone()),
                ("DROVER_SECONDARY_SERVER", secondary.clone()),
                ("DROVER_BACKUP_SHARE", backup_share.clone()),
                ("DROVER_COPY_DESTINATION", copy_destination.clone()),
            ],
        }
    }
}

/// The one thing to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A statement on the instance named `server`.
    Sql { server: String, action: sql::Action },
    /// Create the hook Job running a cmdlet.
    Hook { cmdlet: Cmdlet, site: String, run: String },
}

impl Action {
    /// A stable snake_case name for logs and metrics labels: the statement's kind, or `run_hook`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sql { action, .. } => action.kind(),
            Self::Hook { .. } => "run_hook",
        }
    }

    /// What an Event calls it.
    pub fn describe(&self) -> String {
        match self {
            Self::Sql { server, action } => format!("{} on {server}", action.kind()),
            Self::Hook { cmdlet, site, .. } => format!("{} hook for {site}", cmdlet.step_name()),
        }
    }
}

/// Something worth an Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    TransitionStarted {
        message: String,
    },
    TransitionFinished {
        message: String,
    },
    ConfirmationRequested {
        message: String,
    },
    StepFailed {
        step: String,
        message: String,
    },
    /// A confirmation token was requested, renewed, refused or accepted.
    Token {
        what: String,
        annotation: &'static str,
        notice: crate::plan::confirm::TokenNotice,
        by: String,
    },
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The status to write before acting (it journals the step about to run).
    pub status: PersistentChatPoolStatus,
    pub action: Option<Action>,
    pub notices: Vec<Notice>,
    /// A transition is in flight: look again soon.
    pub busy: bool,
}
