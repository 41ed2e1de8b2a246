//! The AvailabilityGroup planner against observations built the way SQL Server
//! reports them: scenario tests of every runbook branch, property tests of the
//! safety invariants over random observations and journals, and a convergence
//! test against a small model of an availability group.

use super::facts::utc;
use super::*;
use crate::api::availability_group::fixtures;
use crate::api::availability_group::{
    AvailabilityGroupSpec, BackupTarget, ClusterType as SpecCluster, DataLoss, EndpointSpec, FailoverRecord,
    ForcePolicy, LogPoint, Phase, PrimarySnapshot, ReplicaSpec, Transition, TransitionKind,
};
use crate::plan::confirm::TokenNotice;
use crate::sql::{
    Action, AvailabilityMode, ClusterMember, ClusterType, Command, CommitMode, ConnectedState, DatabaseReplicaState,
    DatabaseState, FailoverMode, GroupObservation, Ident, LocalDatabase, Lsn, OperationalState, QuorumState,
    ReplicaNode, ReplicaObservation, ReplicaRuntime, ReplicaState, Role, SuspendReason, SyncHealth, SyncState,
    WsfcObservation,
};
use jiff::{Timestamp, civil};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use proptest::prelude::*;
use tiberius::Uuid;

// The world: what each replica is, and what SQL Server would report from it.

const GROUP_ID: Uuid = Uuid::from_bytes([0x01; 16]);

fn replica_id(r: usize) -> Uuid {
    Uuid::from_bytes([0x10 + r as u8; 16])
}

fn group_database_id(d: usize) -> Uuid {
    Uuid::from_bytes([0x20 + d as u8; 16])
}

/// One database copy on one replica.
#[derive(Debug, Clone, PartialEq)]
struct DbCopy {
    sync: Option<SyncState>,
    suspended: bool,
    reason: Option<SuspendReason>,
    last_commit_lsn: Option<u128>,
    last_commit_time: Option<civil::DateTime>,
    end_of_log_lsn: Option<u128>,
    last_hardened_lsn: Option<u128>,
    /// Model only: changed by a command this tick, so it does not move on until the next one.
    fresh: bool,
}

impl DbCopy {
    fn at(sync: SyncState, lsn: u128, time: civil::DateTime) -> Self {
        Self {
            sync: Some(sync),
            suspended: false,
            reason: None,
            last_commit_lsn: Some(lsn),
            last_commit_time: Some(time),
            end_of_log_lsn: Some(lsn),
            last_hardened_lsn: Some(lsn),
            fresh: false,
        }
    }

    fn suspend(&mut self, reason: SuspendReason) {
        self.suspended = true;
        self.reason = Some(reason);
        self.sync = Some(SyncState::NotSynchronizing);
    }

    fn set_log(&mut self, lsn: u128, time: Option<civil::DateTime>) {
        self.last_commit_lsn = Some(lsn);
        self.end_of_log_lsn = Some(lsn);
        self.last_hardened_lsn = Some(lsn);
        self.last_commit_time = time;
    }
}

/// One replica: reachable or not, what it reports about itself, its copies.
#[derive(Debug, Clone, PartialEq)]
struct Rep {
    reachable: bool,
    /// `@@SERVERNAME` when it is not the declared name.
    actual_name: Option<String>,
    role: Option<Role>,
    connected: bool,
    /// Its row of `sys.availability_replicas` (the same on every replica).
    mode: AvailabilityMode,
    copies: Vec<DbCopy>,
    /// Under WSFC, the quorum its node reports (`None`: no row, no quorum).
    quorum: Option<QuorumState>,
    /// Its WSFC node as the other nodes see it (`sys.dm_hadr_cluster_members`).
    node_up: bool,
}

impl Rep {
    fn copy(&self, d: usize) -> &DbCopy {
        &self.copies[d]
    }
}

/// A replica that is about to become primary (model only).
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    target: usize,
    forced: bool,
    fresh: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct World {
    spec: AvailabilityGroupSpec,
    cluster: ClusterType,
    required_sync: Option<i32>,
    reps: Vec<Rep>,
    /// Model only.
    pending: Option<Pending>,
    /// The `drover.dev/confirm-discard` annotation.
    discard: Option<String>,
    /// The group's fence and force-quorum Jobs as the controller finds them.
    jobs: Vec<super::AgJob>,
}

fn t(h: i8, m: i8, s: i8) -> civil::DateTime {
    civil::date(2024, 5, 1).at(h, m, s, 0)
}

fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

fn later(secs: i64) -> Timestamp {
    now().checked_add(jiff::SignedDuration::from_secs(secs)).unwrap()
}

fn ag() -> Ident {
    Ident::new("ag1").unwrap()
}

fn db(name: &str) -> Ident {
    Ident::new(name).unwrap()
}

fn cmd(replica: &str, action: Action) -> Command {
    Command {
        replica_server_name: replica.into(),
        action,
    }
}

fn set_mode(on: &str, replica: &str, mode: CommitMode) -> Command {
    cmd(
        on,
        Action::SetAvailabilityMode {
            group: ag(),
            replica_server_name: replica.into(),
            mode,
        },
    )
}

fn observed_cluster(c: SpecCluster) -> ClusterType {
    c.observed()
}

fn third_replica() -> ReplicaSpec {
    ReplicaSpec {
        server_name: "sql-c".into(),
        site: "site-c".into(),
        endpoint: EndpointSpec {
            host: "sql-c.example".into(),
            port: 1433,
        },
        availability_mode: crate::api::availability_group::AvailabilityMode::AsynchronousCommit,
        fence_hook: None,
        force_quorum_hook: None,
    }
}

impl World {
    /// The fixture's group at steady state: sql-a PRIMARY at site-a, sql-b a connected
    /// SECONDARY, both ASYNCHRONOUS_COMMIT, every copy at LSN 1000 committed at 12:00:00.
    fn new() -> Self {
        Self::with_spec(fixtures::spec())
    }

    fn with_spec(spec: AvailabilityGroupSpec) -> Self {
        let n = spec.replicas.len();
        let dbs = spec.databases.len();
        let reps = (0..n)
            .map(|r| Rep {
                quorum: Some(QuorumState::Normal),
                node_up: true,
                reachable: true,
                actual_name: None,
                role: Some(if r == 0 { Role::Primary } else { Role::Secondary }),
                connected: true,
                mode: AvailabilityMode::AsynchronousCommit,
                copies: (0..dbs)
                    .map(|_| {
                        DbCopy::at(
                            if r == 0 {
                                SyncState::Synchronized
                            } else {
                                SyncState::Synchronizing
                            },
                            1000,
                            t(12, 0, 0),
                        )
                    })
                    .collect(),
            })
            .collect();
        Self {
            cluster: observed_cluster(spec.cluster_type),
            spec,
            required_sync: Some(0),
            reps,
            pending: None,
            discard: None,
            jobs: Vec::new(),
        }
    }

    fn n(&self) -> usize {
        self.reps.len()
    }

    fn name(&self, r: usize) -> &str {
        &self.spec.replicas[r].server_name
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.spec
            .replicas
            .iter()
            .position(|x| x.server_name.eq_ignore_ascii_case(name))
    }

    fn site_index(&self, site: &str) -> Option<usize> {
        self.spec.replicas.iter().position(|x| x.site == site)
    }

    fn rep(mut self, r: usize, edit: impl FnOnce(&mut Rep)) -> Self {
        edit(&mut self.reps[r]);
        self
    }

    fn copies(mut self, r: usize, edit: impl Fn(&mut DbCopy)) -> Self {
        self.reps[r].copies.iter_mut().for_each(edit);
        self
    }

    fn spec_edit(mut self, edit: impl FnOnce(&mut AvailabilityGroupSpec)) -> Self {
        edit(&mut self.spec);
        self.cluster = observed_cluster(self.spec.cluster_type);
        self
    }

    /// Whether the planner may use this replica's observation.
    fn usable(&self, r: usize) -> bool {
        let rep = &self.reps[r];
        rep.reachable
            && rep
                .actual_name
                .as_deref()
                .is_none_or(|n| n.eq_ignore_ascii_case(self.name(r)))
    }

    /// Usable replicas that report themselves PRIMARY.
    fn primaries(&self) -> Vec<usize> {
        (0..self.n())
            .filter(|&r| self.usable(r) && self.reps[r].role == Some(Role::Primary))
            .collect()
    }

    fn primary(&self) -> Option<usize> {
        match self.primaries()[..] {
            [p] => Some(p),
            _ => None,
        }
    }

    fn runtime(&self, q: usize, local: bool) -> ReplicaRuntime {
        let rep = &self.reps[q];
        ReplicaRuntime {
            is_local: local,
            role: if local || rep.connected { rep.role.clone() } else { None },
            operational_state: local.then_some(OperationalState::Online),
            connected: Some(if rep.connected {
                ConnectedState::Connected
            } else {
                ConnectedState::Disconnected
            }),
            health: Some(SyncHealth::Healthy),
            last_connect_error: None,
        }
    }

    fn row(&self, q: usize, d: usize, local: bool) -> DatabaseReplicaState {
        let c = self.reps[q].copy(d);
        DatabaseReplicaState {
            database_id: 5 + d as i32,
            group_database_id: group_database_id(d),
            database_name: local.then(|| self.spec.databases[d].clone()),
            replica_id: replica_id(q),
            replica_server_name: Some(self.name(q).to_string()),
            is_local: local,
            is_primary_replica: self.reps[q].role == Some(Role::Primary),
            sync_state: c.sync.clone(),
            health: Some(SyncHealth::Healthy),
            database_state: Some(DatabaseState::Online),
            is_suspended: Some(c.suspended),
            suspend_reason: if c.suspended { c.reason.clone() } else { None },
            last_hardened_lsn: c.last_hardened_lsn.map(Lsn),
            last_commit_lsn: c.last_commit_lsn.map(Lsn),
            last_commit_time: c.last_commit_time,
            end_of_log_lsn: c.end_of_log_lsn.map(Lsn),
            log_send_queue_kb: Some(0),
            redo_queue_kb: Some(0),
            secondary_lag_seconds: None,
        }
    }

    /// What replica `r` answers to the observation batch: its local rows, the remote rows only
    /// if it is the primary, `sys.availability_replicas` (modes) for every replica.
    fn observation(&self, r: usize) -> ReplicaObservation {
        let me = &self.reps[r];
        let is_primary = me.role == Some(Role::Primary);
        let replicas = (0..self.n())
            .map(|q| ReplicaState {
                replica_id: replica_id(q),
                server_name: self.name(q).to_string(),
                endpoint_url: Some(format!("TCP://{}.example:5022", self.name(q))),
                availability_mode: self.reps[q].mode.clone(),
                failover_mode: FailoverMode::Manual,
                state: if q == r {
                    Some(self.runtime(q, true))
                } else if is_primary {
                    Some(self.runtime(q, false))
                } else {
                    None
                },
            })
            .collect();
        let mut databases = Vec::new();
        for q in 0..self.n() {
            if q != r && !is_primary {
                continue;
            }
            for d in 0..self.reps[q].copies.len() {
                databases.push(self.row(q, d, q == r));
            }
        }
        ReplicaObservation {
            server_name: Some(me.actual_name.clone().unwrap_or_else(|| self.name(r).to_string())),
            groups: vec![GroupObservation {
                group_id: GROUP_ID,
                name: self.spec.group_name.clone(),
                cluster_type: self.cluster,
                required_synchronized_secondaries: self.required_sync,
                sequence_number: None,
                replicas,
                databases,
            }],
            databases: self
                .spec
                .databases
                .iter()
                .take(me.copies.len())
                .enumerate()
                .map(|(d, name)| LocalDatabase {
                    database_id: 5 + d as i32,
                    name: name.clone(),
                    state: DatabaseState::Online,
                    group_database_id: Some(group_database_id(d)),
                })
                .collect(),
            wsfc: (self.cluster == ClusterType::Wsfc)
                .then(|| me.quorum.clone())
                .flatten()
                .map(|quorum_state| WsfcObservation {
                    cluster_name: "wsfc1".into(),
                    quorum_type: Some("NODE_AND_FILE_SHARE_MAJORITY".into()),
                    quorum_state,
                    members: (0..self.n())
                        .map(|q| ClusterMember {
                            name: format!("node-{q}"),
                            member_type: "CLUSTER_NODE".into(),
                            up: self.reps[q].node_up,
                            votes: 1,
                        })
                        .collect(),
                }),
            replica_nodes: if self.cluster == ClusterType::Wsfc {
                (0..self.n())
                    .map(|q| ReplicaNode {
                        group_name: self.spec.group_name.clone(),
                        replica_server_name: self.name(q).to_string(),
                        node_name: format!("node-{q}"),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn observe(&self) -> Vec<Observed> {
        (0..self.n())
            .map(|r| {
                if self.reps[r].reachable {
                    Observed::Reachable(Box::new(self.observation(r)))
                } else {
                    Observed::Unreachable("connection timed out".into())
                }
            })
            .collect()
    }

    fn plan(
        &self,
        journal: &Journal,
        at: Timestamp,
        confirmation: Option<&str>,
        seen: Option<&PrimarySnapshot>,
    ) -> Plan {
        let observed = self.observe();
        // A new nonce every pass, as the controller draws one.
        let nonce = format!("nonce-{}", at.as_second());
        plan(&Input {
            spec: &self.spec,
            observed: &observed,
            journal,
            now: at,
            confirmation,
            confirmed_by: Some("tester"),
            last_seen_primary: seen,
            resource_name: "ag1",
            discard_confirmation: self
                .discard
                .as_deref()
                .map(|token| crate::plan::confirm::Given { token, by: "tester" }),
            tokens: crate::plan::confirm::Tokens {
                nonce: &nonce,
                ttl: crate::plan::confirm::DEFAULT_TTL,
            },
            jobs: &self.jobs,
        })
    }

    /// Planned once at `now()` with an empty journal.
    fn plan0(&self) -> Plan {
        self.plan(&Journal::default(), now(), None, None)
    }
}

fn step(plan: &Plan) -> &Step {
    match &plan.next {
        Next::Act(s) => s,
        other => panic!("expected a step, got {other:?} (degraded {:?})", plan.degraded),
    }
}

fn reason(plan: &Plan) -> &str {
    match &plan.next {
        Next::Wait(r) | Next::Blocked(r) => r,
        other => panic!("expected Wait or Blocked, got {other:?}"),
    }
}

fn is_wait(plan: &Plan) -> bool {
    matches!(plan.next, Next::Wait(_))
}

fn is_blocked(plan: &Plan) -> bool {
    matches!(plan.next, Next::Blocked(_))
}

fn transition(journal: &Journal) -> &Transition {
    journal.transition.as_ref().expect("a transition in the journal")
}

fn snapshot_of_a(commit: civil::DateTime) -> PrimarySnapshot {
    PrimarySnapshot {
        replica: Some("sql-a".into()),
        site: Some("site-a".into()),
        detected_at: None,
        last_seen: Some(Time(later(-5))),
        databases: ["config", "log"]
            .iter()
            .map(|d| LogPoint {
                database: (*d).into(),
                lsn: Some("1000".into()),
                commit_time: utc(commit),
            })
            .collect(),
    }
}

mod fencing;
mod hooks;
mod model;
mod properties;
mod regressions;
mod scenarios;
