//! The one model behind every simulated replica: instances, availability
//! groups, per-copy transaction logs, replication, outages and partitions.
//!
//! The model is pure state: every call takes the simulated time `now` (time
//! since the world started) and first brings the world up to that time, so it is
//! deterministic under tokio's paused clock. [`crate::sim::Sim`] owns the clock.

mod chat;
pub mod config;
mod facts;
mod faults;
mod files;
mod logship;
mod media;
mod mirroring;
mod pool_views;
mod replication;
mod rules;
mod standalone;
mod views;
mod wsfc;

pub use chat::ChatPoolView;
pub use media::{Caller, MediaOp, MediaVerb};
pub use rules::SIM_UNVERIFIED;
pub use standalone::{RestoreHistoryRow, StandaloneState, StandaloneView};

use config::{AvailabilityMode, ClusterType, WorldConfig};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// Simulated time: how long since the world started.
pub type SimTime = Duration;

/// The role a replica reports in `sys.dm_hadr_availability_replica_states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    Secondary,
    Resolving,
}

impl Role {
    pub fn desc(self) -> &'static str {
        match self {
            Role::Primary => "PRIMARY",
            Role::Secondary => "SECONDARY",
            Role::Resolving => "RESOLVING",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            Role::Resolving => 0,
            Role::Primary => 1,
            Role::Secondary => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendReason {
    User,
    Partner,
}

impl SuspendReason {
    pub fn desc(self) -> &'static str {
        match self {
            SuspendReason::User => "SUSPEND_FROM_USER",
            SuspendReason::Partner => "SUSPEND_FROM_PARTNER",
        }
    }
}

/// `synchronization_state_desc` of one database copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    NotSynchronizing,
    Synchronizing,
    Synchronized,
    Reverting,
}

impl SyncState {
    pub fn desc(self) -> &'static str {
        match self {
            SyncState::NotSynchronizing => "NOT SYNCHRONIZING",
            SyncState::Synchronizing => "SYNCHRONIZING",
            SyncState::Synchronized => "SYNCHRONIZED",
            SyncState::Reverting => "REVERTING",
        }
    }
}

/// One episode of more than one writable primary in an availability group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitEpisode {
    pub ag: String,
    pub start: SimTime,
    /// When only one writable primary was left; `None` while it lasts.
    pub end: Option<SimTime>,
    /// It began when an instance came back or a partition healed (under NONE SQL Server brings a
    /// forced-out old primary back PRIMARY), not with a failover statement.
    pub on_return: bool,
}

/// One committed transaction in a copy's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogRec {
    pub lsn: u128,
    pub txn: u64,
    pub at: SimTime,
}

/// One replica's copy of one availability database.
#[derive(Debug, Clone, Default)]
pub(crate) struct Copy {
    /// Hardened log, oldest first. On a secondary it is a prefix of its
    /// primary's log unless the copy is suspended after a forced failover.
    pub log: Vec<LogRec>,
    pub suspended: Option<SuspendReason>,
    /// While REVERTING: when the divergent tail will have been rolled back.
    pub reverting_until: Option<SimTime>,
    /// Whether log currently flows from the primary into this copy.
    pub link_ok: bool,
    /// Since when the current link window has been open.
    pub link_since: SimTime,
    /// A synchronous-commit partner that has caught up: commits wait for it.
    pub synchronized: bool,
    /// Was synchronized when it lost its primary (`is_failover_ready`).
    pub failover_ready: bool,
    /// Forced online from REVERTING: cannot recover (RECOVERY_PENDING).
    pub recovery_pending: bool,
    /// On a primary: commits waiting for synchronous partners, (txn, log index).
    pub pending_acks: VecDeque<(u64, usize)>,
    /// Whether this copy is currently in a synchronous-commit pairing, and since when.
    pub sync_active: bool,
    pub sync_since: SimTime,
    /// Since when log transport to this copy has been stalled (`pause`).
    pub stalled_since: Option<SimTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoredRole {
    Primary,
    Secondary,
}

#[derive(Debug, Clone)]
pub(crate) struct Replica {
    pub instance: String,
    pub replica_id: [u8; 16],
    pub mode: AvailabilityMode,
    pub failover_mode_automatic: bool,
    pub role: StoredRole,
    /// The failover generation this replica was last primary in (or follows).
    pub epoch: u64,
    /// One copy per AG database, same order as `Ag::databases`.
    pub copies: Vec<Copy>,
}

#[derive(Debug, Clone)]
pub(crate) struct AgDatabase {
    pub name: String,
    pub database_id: i32,
    pub group_database_id: [u8; 16],
    /// Acknowledged transactions: committed on a primary and acknowledged to the client.
    pub acked: BTreeSet<u64>,
    /// Commits the workload was refused or never acknowledged.
    pub refused: u64,
}

/// An accepted FAILOVER / FORCE_FAILOVER_ALLOW_DATA_LOSS whose role change is under way.
#[derive(Debug, Clone)]
pub(crate) struct RoleChange {
    pub target: usize,
    pub forced: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Ag {
    pub name: String,
    pub group_id: [u8; 16],
    pub cluster_type: ClusterType,
    pub required_sync: u32,
    pub databases: Vec<AgDatabase>,
    pub replicas: Vec<Replica>,
    pub pending: Option<RoleChange>,
}

#[derive(Debug, Clone)]
pub(crate) struct Instance {
    pub name: String,
    pub site: String,
    pub up: bool,
    /// Log transport to and from this instance stalled (`pause` fault).
    pub paused: bool,
    /// Clients cannot reach it (`isolate_from_clients`); it keeps running, and its
    /// workload keeps committing where it may.
    pub isolated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EventKind {
    CompleteRoleChange {
        ag: usize,
    },
    FinishRevert {
        ag: usize,
        replica: usize,
        db: usize,
    },
    /// A run of a log-shipping job; stale once the configuration's generation moved on.
    LogShipping {
        job: logship::Job,
        index: usize,
        generation: u64,
    },
}

/// A line of the world's history, for timelines and debugging.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub at: SimTime,
    pub text: String,
}

/// A copy-only backup taken by BACKUP DATABASE.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupRecord {
    pub instance: String,
    pub database: String,
    pub path: String,
    pub copy_only: bool,
    pub checksum: bool,
    /// The last LSN the backup contains.
    pub last_lsn: u128,
    pub transactions: usize,
    pub at: SimTime,
}

/// The whole simulated world.
#[derive(Debug)]
pub struct World {
    pub(crate) cfg: WorldConfig,
    pub(crate) instances: Vec<Instance>,
    pub(crate) ags: Vec<Ag>,
    /// Cut links between sites, as sorted (site, site) pairs.
    pub(crate) cuts: BTreeSet<(String, String)>,
    /// The WSFC cluster under the WSFC groups (no nodes when there is none).
    pub(crate) wsfc: wsfc::Wsfc,
    pub(crate) events: BTreeMap<(SimTime, u64), EventKind>,
    pub(crate) event_seq: u64,
    pub(crate) next_txn: u64,
    pub(crate) now: SimTime,
    pub(crate) history: Vec<HistoryEntry>,
    pub(crate) backups: Vec<BackupRecord>,
    /// Statements executed, by (instance, kind).
    pub(crate) statements: BTreeMap<(String, String), u64>,
    /// Batches (client round trips) received, by instance.
    pub(crate) batches: BTreeMap<String, u64>,
    /// Moments when an AG had more than one writable primary.
    pub(crate) split_brain: Vec<(String, SimTime)>,
    /// The same episodes with their cause and end (see [`SplitEpisode`]).
    pub(crate) split_episodes: Vec<SplitEpisode>,
    /// Set while an instance comes back or a partition heals: a split that begins then was
    /// started by SQL Server itself (a returning old primary under NONE), not by a statement.
    pub(crate) returning: bool,
    /// AGs in a split-brain episode right now.
    pub(crate) split_active: BTreeSet<usize>,
    /// Wall-clock time of the world's start, for `datetime` columns.
    pub(crate) epoch: jiff::civil::DateTime,
    /// Databases outside availability groups, mirroring, files, log shipping,
    /// chat pools and user sessions.
    pub(crate) pool: standalone::PoolWorld,
}

/// Deterministic GUIDs from a name, so worlds are reproducible.
fn guid(kind: &str, name: &str) -> [u8; 16] {
    // FNV-1a over the text, twice with different offsets, laid out as a v4-looking GUID.
    let hash = |seed: u64| {
        let mut h: u64 = 0xcbf29ce484222325 ^ seed;
        for b in kind.bytes().chain([0u8]).chain(name.to_lowercase().bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100000001b3);
        }
        h
    };
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&hash(1).to_be_bytes());
    out[8..].copy_from_slice(&hash(2).to_be_bytes());
    out[6] = (out[6] & 0x0f) | 0x40;
    out[8] = (out[8] & 0x3f) | 0x80;
    out
}

/// First LSN of a fresh log; each commit advances one log block.
const FIRST_LSN: u128 = 39_000_000_001_600_001;
const LSN_STEP: u128 = 100_000;

impl World {
    /// Builds the world at time zero; `epoch` is the wall-clock time it starts at.
    pub fn new(cfg: WorldConfig, epoch: jiff::civil::DateTime) -> Result<Self, String> {
        cfg.validate()?;
        let instances = cfg
            .instances
            .iter()
            .map(|i| Instance {
                name: i.name.clone(),
                site: i.site.clone(),
                up: true,
                paused: false,
                isolated: false,
            })
            .collect();
        let mut ags = Vec::new();
        // User databases get ids from 5 up, after master, tempdb, model and msdb.
        let mut next_database_id = 5;
        for a in &cfg.availability_groups {
            let databases = a
                .databases
                .iter()
                .map(|d| AgDatabase {
                    name: d.clone(),
                    database_id: {
                        next_database_id += 1;
                        next_database_id - 1
                    },
                    group_database_id: guid("db", &format!("{}/{}", a.name, d)),
                    acked: BTreeSet::new(),
                    refused: 0,
                })
                .collect::<Vec<_>>();
            let replicas = a
                .replicas
                .iter()
                .map(|r| Replica {
                    instance: r.instance.clone(),
                    replica_id: guid("replica", &format!("{}/{}", a.name, r.instance)),
                    mode: r.availability_mode,
                    failover_mode_automatic: false,
                    role: if r.primary {
                        StoredRole::Primary
                    } else {
                        StoredRole::Secondary
                    },
                    epoch: 1,
                    copies: vec![Copy::default(); databases.len()],
                })
                .collect();
            ags.push(Ag {
                name: a.name.clone(),
                group_id: guid("ag", &a.name),
                cluster_type: a.cluster_type,
                required_sync: 0,
                databases,
                replicas,
                pending: None,
            });
        }
        // The cluster's nodes: instances hosting a WSFC replica, in the instances' order.
        let nodes: Vec<String> = cfg
            .instances
            .iter()
            .filter(|i| {
                cfg.availability_groups.iter().any(|a| {
                    a.cluster_type == ClusterType::Wsfc
                        && a.replicas.iter().any(|r| r.instance.eq_ignore_ascii_case(&i.name))
                })
            })
            .map(|i| i.name.clone())
            .collect();
        let wsfc = wsfc::Wsfc::new(&cfg.wsfc, &nodes);
        let mut world = World {
            cfg,
            instances,
            ags,
            cuts: BTreeSet::new(),
            wsfc,
            events: BTreeMap::new(),
            event_seq: 0,
            next_txn: 1,
            now: Duration::ZERO,
            history: Vec::new(),
            backups: Vec::new(),
            statements: BTreeMap::new(),
            batches: BTreeMap::new(),
            split_brain: Vec::new(),
            split_episodes: Vec::new(),
            returning: false,
            split_active: BTreeSet::new(),
            epoch,
            pool: standalone::PoolWorld::default(),
        };
        world.bootstrap();
        world.init_pool(next_database_id);
        world.refresh(Duration::ZERO);
        Ok(world)
    }

    /// Every database starts with one transaction that every replica has.
    fn bootstrap(&mut self) {
        for ag in &mut self.ags {
            for (d, db) in ag.databases.iter_mut().enumerate() {
                let rec = LogRec {
                    lsn: FIRST_LSN,
                    txn: self.next_txn,
                    at: Duration::ZERO,
                };
                db.acked.insert(self.next_txn);
                self.next_txn += 1;
                for r in &mut ag.replicas {
                    r.copies[d].log.push(rec);
                }
            }
        }
    }

    pub fn config(&self) -> &WorldConfig {
        &self.cfg
    }

    /// The wall-clock time for a simulated instant.
    pub fn wall_time(&self, at: SimTime) -> jiff::civil::DateTime {
        let span = jiff::SignedDuration::try_from(at).unwrap_or(jiff::SignedDuration::MAX);
        self.epoch.checked_add(span).unwrap_or(self.epoch)
    }

    pub(crate) fn note(&mut self, at: SimTime, text: String) {
        tracing::debug!(target: "drover::sim", at = ?at, "{text}");
        self.history.push(HistoryEntry { at, text });
    }

    pub fn history(&self) -> &[HistoryEntry] {
        &self.history
    }

    pub fn backups(&self) -> &[BackupRecord] {
        &self.backups
    }

    /// How many statements of `kind` (select, alter_ag, alter_database, backup, set, use) ran on `instance`.
    pub fn statement_count(&self, instance: &str, kind: &str) -> u64 {
        self.statements
            .get(&(instance.to_lowercase(), kind.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every statement count, as ((instance, kind), count).
    pub fn statement_counts(&self) -> &BTreeMap<(String, String), u64> {
        &self.statements
    }

    /// How many batches (round trips, whatever they hold) `instance` received.
    pub fn batch_count(&self, instance: &str) -> u64 {
        self.batches.get(&instance.to_lowercase()).copied().unwrap_or(0)
    }

    pub(crate) fn count_batch(&mut self, instance: &str) {
        *self.batches.entry(instance.to_lowercase()).or_default() += 1;
    }

    pub(crate) fn count_statement(&mut self, instance: &str, kind: &str) {
        *self
            .statements
            .entry((instance.to_lowercase(), kind.to_string()))
            .or_default() += 1;
    }

    pub(crate) fn instance_index(&self, name: &str) -> Option<usize> {
        self.instances.iter().position(|i| i.name.eq_ignore_ascii_case(name))
    }

    pub(crate) fn ag_index(&self, name: &str) -> Option<usize> {
        self.ags.iter().position(|a| a.name.eq_ignore_ascii_case(name))
    }

    pub(crate) fn site_of(&self, instance: &str) -> Option<&str> {
        self.instance_index(instance).map(|i| self.instances[i].site.as_str())
    }

    pub(crate) fn is_up(&self, instance: &str) -> bool {
        self.instance_index(instance).is_some_and(|i| self.instances[i].up)
    }

    pub(crate) fn is_paused(&self, instance: &str) -> bool {
        self.instance_index(instance).is_some_and(|i| self.instances[i].paused)
    }

    /// Whether two instances can talk to each other (both up, sites not cut).
    pub(crate) fn linked(&self, a: &str, b: &str) -> bool {
        if !self.is_up(a) || !self.is_up(b) {
            return false;
        }
        match (self.site_of(a), self.site_of(b)) {
            (Some(x), Some(y)) if x != y => {
                let key = if x < y {
                    (x.to_string(), y.to_string())
                } else {
                    (y.to_string(), x.to_string())
                };
                !self.cuts.contains(&key)
            }
            (Some(_), Some(_)) => true,
            _ => false,
        }
    }

    pub(crate) fn schedule(&mut self, at: SimTime, kind: EventKind) {
        self.event_seq += 1;
        self.events.insert((at, self.event_seq), kind);
    }
}

#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod wsfc_tests;
