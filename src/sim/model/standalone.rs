//! Databases outside availability groups (runbook B): their state and log, the
//! pool-side state of the world, its construction from the configuration, and
//! the ground truth tests read.

use super::chat::ChatPool;
use super::config::DatabaseStateConfig;
use super::files::FileStore;
use super::logship::LogShipping;
use super::mirroring::MirrorSession;
use super::{FIRST_LSN, LSN_STEP, LogRec, SimTime, World, guid};
use crate::sim::table::ServerError;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// `sys.databases.state_desc` of a standalone database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandaloneState {
    Online,
    /// Restored WITH NORECOVERY: takes more log, accepts no users.
    Restoring,
}

impl StandaloneState {
    pub fn desc(self) -> &'static str {
        match self {
            Self::Online => "ONLINE",
            Self::Restoring => "RESTORING",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            Self::Online => 0,
            Self::Restoring => 1,
        }
    }
}

/// One instance's copy of a database outside any availability group.
#[derive(Debug, Clone)]
pub(crate) struct StandaloneDb {
    pub instance: String,
    pub name: String,
    pub database_id: i32,
    pub state: StandaloneState,
    pub log: Vec<LogRec>,
    /// The end of the log: the next record's LSN; on a RESTORING copy, its redo point.
    pub end_lsn: u128,
    /// Where the next log backup begins.
    pub log_backup_lsn: u128,
    /// Recovery fork: a log backup applies only to a copy on the fork it was taken on.
    pub fork: u64,
    /// The backup set last restored into it (for restorehistory).
    pub last_backup_set: i32,
}

/// A user session (`sys.dm_exec_sessions`, is_user_process = 1) other than a TDS connection's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserSession {
    pub id: i16,
    pub instance: String,
    pub database: String,
    /// The chat server holding it: (pool, server). None for sessions opened as faults.
    pub owner: Option<(String, String)>,
}

/// One row of msdb's `restorehistory` on an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreHistoryRow {
    pub restore_history_id: i32,
    pub instance: String,
    pub restore_date: SimTime,
    pub destination_database_name: String,
    /// `D` (database) or `L` (log).
    pub restore_type: char,
    pub recovery: bool,
    pub backup_set_id: i32,
    /// The backup file restored from; None for a recovery-only RESTORE.
    pub file: Option<String>,
}

/// What tests and hooks see of one standalone database copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandaloneView {
    pub instance: String,
    pub database: String,
    pub database_id: i32,
    pub state: StandaloneState,
    pub log_length: usize,
    pub last_txn: Option<u64>,
    /// The partner instance while this copy is in a mirroring session.
    pub mirroring_partner: Option<String>,
    /// Whether it is the principal (true) or the mirror (false) of that session.
    pub mirroring_principal: Option<bool>,
    /// A configured log-shipping secondary (monitor rows, copy and restore jobs).
    pub log_shipping_secondary: bool,
    pub user_sessions: usize,
}

/// The pool-side state of the world.
#[derive(Debug, Default)]
pub(crate) struct PoolWorld {
    pub dbs: Vec<StandaloneDb>,
    pub mirrors: Vec<MirrorSession>,
    pub files: FileStore,
    pub shipping: Vec<LogShipping>,
    pub pools: Vec<ChatPool>,
    pub sessions: Vec<UserSession>,
    /// The next session id per instance (lower-case name), shared with TDS connections.
    pub spids: BTreeMap<String, u16>,
    pub restores: Vec<RestoreHistoryRow>,
    pub next_database_id: i32,
    pub next_fork: u64,
    pub next_backup_set: i32,
    pub generation: u64,
}

/// The first session id given to users; below are system sessions.
pub(crate) const FIRST_USER_SPID: u16 = 51;

pub(crate) fn not_exists(db: &str) -> ServerError {
    ServerError::new(
        911,
        16,
        format!("Database '{db}' does not exist. Make sure that the name is entered correctly."),
    )
}

impl World {
    /// Builds the standalone databases, mirrors, shares, log shipping and pools
    /// from the configuration. Every copy of one database name starts as a clone
    /// of the same database: one first transaction, one recovery fork.
    pub(crate) fn init_pool(&mut self, next_database_id: i32) {
        self.pool.next_database_id = next_database_id;
        let cfg = self.cfg.clone();
        let mut origins: BTreeMap<String, (LogRec, u64)> = BTreeMap::new();
        let mut origin = |world: &mut World, name: &str| {
            *origins.entry(name.to_lowercase()).or_insert_with(|| {
                let rec = LogRec {
                    lsn: FIRST_LSN,
                    txn: world.next_txn,
                    at: Duration::ZERO,
                };
                world.next_txn += 1;
                world.pool.next_fork += 1;
                (rec, world.pool.next_fork)
            })
        };
        for d in &cfg.databases {
            let (rec, fork) = origin(self, &d.name);
            let state = match d.state {
                DatabaseStateConfig::Online => StandaloneState::Online,
                DatabaseStateConfig::Restoring => StandaloneState::Restoring,
            };
            self.add_database(&d.instance, &d.name, state, vec![rec], fork);
        }
        for m in &cfg.mirroring {
            let (rec, fork) = origin(self, &m.database);
            if self.db_index(&m.mirror, &m.database).is_none() {
                self.add_database(&m.mirror, &m.database, StandaloneState::Restoring, vec![rec], fork);
            }
            self.pool.mirrors.push(MirrorSession::new(m, Duration::ZERO));
        }
        for s in &cfg.shares {
            self.pool.files.add_share_root(&s.path);
        }
        for l in &cfg.log_shipping {
            self.add_log_shipping(Duration::ZERO, l.clone());
        }
        for p in &cfg.chat_pools {
            self.pool.pools.push(ChatPool::new(p));
        }
    }

    /// Creates a database copy on `instance`, with the next database id.
    pub(crate) fn add_database(
        &mut self,
        instance: &str,
        name: &str,
        state: StandaloneState,
        log: Vec<LogRec>,
        fork: u64,
    ) -> usize {
        let end = log.last().map_or(FIRST_LSN, |l| l.lsn + LSN_STEP);
        let instance = self
            .instance_index(instance)
            .map_or(instance.to_string(), |i| self.instances[i].name.clone());
        self.pool.dbs.push(StandaloneDb {
            instance,
            name: name.to_string(),
            database_id: self.pool.next_database_id,
            state,
            // The log chain starts after the backup the copy was created from.
            log_backup_lsn: end,
            log,
            end_lsn: end,
            fork,
            last_backup_set: 0,
        });
        self.pool.next_database_id += 1;
        self.pool.dbs.len() - 1
    }

    /// The index of `instance`'s standalone copy of `db`.
    pub(crate) fn db_index(&self, instance: &str, db: &str) -> Option<usize> {
        self.pool
            .dbs
            .iter()
            .position(|d| d.instance.eq_ignore_ascii_case(instance) && d.name.eq_ignore_ascii_case(db))
    }

    /// Whether `db` on `instance` is a standalone (non-AG) database.
    pub fn is_standalone(&self, instance: &str, db: &str) -> bool {
        self.db_index(instance, db).is_some()
    }

    /// A new recovery fork id.
    pub(crate) fn new_fork(&mut self) -> u64 {
        self.pool.next_fork += 1;
        self.pool.next_fork
    }

    /// `USE` / login checks for a standalone database: a RESTORING one cannot be opened.
    pub(crate) fn standalone_access(&self, instance: &str, db: &str) -> Option<Result<(), ServerError>> {
        let d = self.db_index(instance, db)?;
        Some(match self.pool.dbs[d].state {
            StandaloneState::Online => Ok(()),
            StandaloneState::Restoring => Err(ServerError::new(
                927,
                14,
                format!(
                    "Database '{}' cannot be opened. It is in the middle of a restore.",
                    self.pool.dbs[d].name
                ),
            )),
        })
    }

    /// The database id `instance` gives `db` (system, AG or standalone).
    pub(crate) fn database_id_on(&self, instance: &str, db: &str) -> Option<i32> {
        if let Some(i) = ["master", "tempdb", "model", "msdb"]
            .iter()
            .position(|s| s.eq_ignore_ascii_case(db))
        {
            return Some(i as i32 + 1);
        }
        if let Some(d) = self.db_index(instance, db) {
            return Some(self.pool.dbs[d].database_id);
        }
        self.ags
            .iter()
            .filter(|a| a.replicas.iter().any(|r| r.instance.eq_ignore_ascii_case(instance)))
            .flat_map(|a| &a.databases)
            .find(|d| d.name.eq_ignore_ascii_case(db))
            .map(|d| d.database_id)
    }

    /// Ground truth about one standalone copy.
    pub fn standalone_database(&self, instance: &str, database: &str) -> Option<StandaloneView> {
        let d = &self.pool.dbs[self.db_index(instance, database)?];
        let session = self.mirror_of(instance, database).map(|m| &self.pool.mirrors[m]);
        let principal = session.map(|m| m.principal.eq_ignore_ascii_case(instance));
        Some(StandaloneView {
            instance: d.instance.clone(),
            database: d.name.clone(),
            database_id: d.database_id,
            state: d.state,
            log_length: d.log.len(),
            last_txn: d.log.last().map(|l| l.txn),
            mirroring_partner: session.map(|m| {
                if principal == Some(true) {
                    m.mirror.clone()
                } else {
                    m.principal.clone()
                }
            }),
            mirroring_principal: principal,
            log_shipping_secondary: self.secondary_config(instance, database).is_some(),
            user_sessions: self.user_sessions_in(instance, database),
        })
    }

    /// The transactions in `instance`'s copy of `database`.
    pub fn database_transactions(&self, instance: &str, database: &str) -> Option<BTreeSet<u64>> {
        let d = self.db_index(instance, database)?;
        Some(self.pool.dbs[d].log.iter().map(|l| l.txn).collect())
    }

    /// msdb's restorehistory on `instance`, oldest first.
    pub fn restore_history(&self, instance: &str) -> Vec<RestoreHistoryRow> {
        self.pool
            .restores
            .iter()
            .filter(|r| r.instance.eq_ignore_ascii_case(instance))
            .cloned()
            .collect()
    }

    /// Records one RESTORE in `instance`'s msdb.
    pub(crate) fn record_restore(&mut self, at: SimTime, db: usize, kind: char, recovery: bool, file: Option<String>) {
        let d = &self.pool.dbs[db];
        let row = RestoreHistoryRow {
            restore_history_id: self.pool.restores.len() as i32 + 1,
            instance: d.instance.clone(),
            restore_date: at,
            destination_database_name: d.name.clone(),
            restore_type: kind,
            recovery,
            backup_set_id: d.last_backup_set,
            file,
        };
        self.pool.restores.push(row);
    }

    /// A GUID for a new pool object (mirroring session, log-shipping secondary).
    pub(crate) fn pool_guid(&mut self, kind: &str, name: &str) -> [u8; 16] {
        self.pool.generation += 1;
        guid(kind, &format!("{name}#{}", self.pool.generation))
    }
}
