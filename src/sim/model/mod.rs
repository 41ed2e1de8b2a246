//! The one model behind every simulated replica: instances, availability
//! groups, per-copy transaction logs, replication, outages and partitions.
//!
//! The model is pure state: every call takes the simulated time `now` (time
//! since the world started) and first brings the world up to that time, so it is
//! deterministic under tokio's paused clock. [`crate::sim::Sim`] owns the clock.

pub mod config;
mod replication;
mod rules;
mod views;

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
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EventKind {
    CompleteRoleChange { ag: usize },
    FinishRevert { ag: usize, replica: usize, db: usize },
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
    pub(crate) events: BTreeMap<(SimTime, u64), EventKind>,
    pub(crate) event_seq: u64,
    pub(crate) next_txn: u64,
    pub(crate) now: SimTime,
    pub(crate) history: Vec<HistoryEntry>,
    pub(crate) backups: Vec<BackupRecord>,
    /// Statements executed, by (instance, kind).
    pub(crate) statements: BTreeMap<(String, String), u64>,
    /// Moments when an AG had more than one writable primary.
    pub(crate) split_brain: Vec<(String, SimTime)>,
    /// AGs in a split-brain episode right now.
    pub(crate) split_active: BTreeSet<usize>,
    /// Wall-clock time of the world's start, for `datetime` columns.
    pub(crate) epoch: jiff::civil::DateTime,
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
        let mut world = World {
            cfg,
            instances,
            ags,
            cuts: BTreeSet::new(),
            events: BTreeMap::new(),
            event_seq: 0,
            next_txn: 1,
            now: Duration::ZERO,
            history: Vec::new(),
            backups: Vec::new(),
            statements: BTreeMap::new(),
            split_brain: Vec::new(),
            split_active: BTreeSet::new(),
            epoch,
        };
        world.bootstrap();
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

    // ----- faults (the control interface) -----

    /// Stops an instance: its endpoint goes away, its links break.
    pub fn stop_instance(&mut self, now: SimTime, name: &str) -> Result<(), String> {
        self.advance(now);
        let i = self
            .instance_index(name)
            .ok_or_else(|| format!("no instance named {name:?}"))?;
        self.instances[i].up = false;
        // Commits it had not acknowledged when it went down are in doubt.
        let stopped = self.instances[i].name.clone();
        for ag in &mut self.ags {
            for r in ag.replicas.iter_mut().filter(|r| r.instance == stopped) {
                for c in &mut r.copies {
                    c.pending_acks.clear();
                }
            }
        }
        self.note(now, format!("instance {} stopped", self.instances[i].name));
        self.refresh(now);
        Ok(())
    }

    /// Brings an instance back (the caller applies the restart latency first).
    pub fn start_instance(&mut self, now: SimTime, name: &str) -> Result<(), String> {
        self.advance(now);
        let i = self
            .instance_index(name)
            .ok_or_else(|| format!("no instance named {name:?}"))?;
        self.instances[i].up = true;
        self.note(now, format!("instance {} started", self.instances[i].name));
        self.refresh(now);
        Ok(())
    }

    /// Cuts every link between two sites.
    pub fn partition(&mut self, now: SimTime, a: &str, b: &str) -> Result<(), String> {
        self.advance(now);
        for s in [a, b] {
            if !self.instances.iter().any(|i| i.site == s) {
                return Err(format!("no site named {s:?}"));
            }
        }
        if a == b {
            return Err("a site cannot be partitioned from itself".into());
        }
        let key = if a < b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        };
        self.cuts.insert(key);
        self.note(now, format!("sites {a} and {b} partitioned"));
        self.refresh(now);
        Ok(())
    }

    /// Restores every cut link.
    pub fn heal(&mut self, now: SimTime) {
        self.advance(now);
        self.cuts.clear();
        self.note(now, "all partitions healed".into());
        self.refresh(now);
    }

    /// Stalls (or restarts) log transport to and from an instance.
    pub fn set_replication_paused(&mut self, now: SimTime, name: &str, paused: bool) -> Result<(), String> {
        self.advance(now);
        let i = self
            .instance_index(name)
            .ok_or_else(|| format!("no instance named {name:?}"))?;
        self.instances[i].paused = paused;
        let verb = if paused { "paused" } else { "resumed" };
        self.note(now, format!("replication to/from {} {verb}", self.instances[i].name));
        self.refresh(now);
        Ok(())
    }

    // ----- facts for tests, the demo and benchmarks -----

    /// Instances (name, site, up).
    pub fn instances(&self) -> Vec<(String, String, bool)> {
        self.instances
            .iter()
            .map(|i| (i.name.clone(), i.site.clone(), i.up))
            .collect()
    }

    /// The role each replica of an AG would report now (None: instance down).
    pub fn roles(&mut self, now: SimTime, ag: &str) -> Vec<(String, Option<Role>)> {
        self.advance(now);
        let Some(a) = self.ag_index(ag) else { return Vec::new() };
        (0..self.ags[a].replicas.len())
            .map(|r| (self.ags[a].replicas[r].instance.clone(), self.effective_role(a, r)))
            .collect()
    }

    /// Instances that accept writes for the AG right now.
    pub fn writable_primaries(&mut self, now: SimTime, ag: &str) -> Vec<String> {
        self.advance(now);
        let Some(a) = self.ag_index(ag) else { return Vec::new() };
        self.writable(a)
            .into_iter()
            .map(|r| self.ags[a].replicas[r].instance.clone())
            .collect()
    }

    /// Every moment an AG had two writable primaries (invariant 1 of the design).
    pub fn split_brain_moments(&self) -> &[(String, SimTime)] {
        &self.split_brain
    }

    /// Acknowledged transactions of `db` that the current primary does not have:
    /// committed data lost, counted from the model. `None` unless exactly one
    /// replica is writable (during a role change, or in split brain).
    pub fn lost_transactions(&mut self, now: SimTime, ag: &str, db: &str) -> Option<u64> {
        self.advance(now);
        let a = self.ag_index(ag)?;
        let d = self.ags[a]
            .databases
            .iter()
            .position(|x| x.name.eq_ignore_ascii_case(db))?;
        let [holder] = self.writable(a)[..] else { return None };
        let have: BTreeSet<u64> = self.ags[a].replicas[holder].copies[d]
            .log
            .iter()
            .map(|l| l.txn)
            .collect();
        Some(
            self.ags[a].databases[d]
                .acked
                .iter()
                .filter(|t| !have.contains(t))
                .count() as u64,
        )
    }

    /// Acknowledged transactions of `db` so far.
    pub fn acknowledged(&self, ag: &str, db: &str) -> u64 {
        self.ag_index(ag)
            .and_then(|a| self.ags[a].databases.iter().find(|d| d.name.eq_ignore_ascii_case(db)))
            .map_or(0, |d| d.acked.len() as u64)
    }

    /// Length of the log of `db` on `instance` (None if it hosts no such copy).
    pub fn log_length(&self, ag: &str, db: &str, instance: &str) -> Option<usize> {
        let a = self.ag_index(ag)?;
        let d = self.ags[a]
            .databases
            .iter()
            .position(|x| x.name.eq_ignore_ascii_case(db))?;
        let r = self.ags[a]
            .replicas
            .iter()
            .position(|x| x.instance.eq_ignore_ascii_case(instance))?;
        Some(self.ags[a].replicas[r].copies[d].log.len())
    }

    /// Names of every AG database.
    pub fn databases(&self) -> Vec<(String, String)> {
        self.ags
            .iter()
            .flat_map(|a| a.databases.iter().map(|d| (a.name.clone(), d.name.clone())))
            .collect()
    }
}
#[cfg(test)]
mod tests;
