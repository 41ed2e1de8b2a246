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
use crate::sql::{
    Action, AvailabilityMode, ClusterType, Command, CommitMode, ConnectedState, DatabaseReplicaState, DatabaseState,
    FailoverMode, GroupObservation, Ident, LocalDatabase, Lsn, OperationalState, ReplicaObservation, ReplicaRuntime,
    ReplicaState, Role, SuspendReason, SyncHealth, SyncState,
};
use jiff::{Timestamp, civil};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use proptest::prelude::*;
use tiberius::Uuid;

// ---------------------------------------------------------------------------
// The world: what each replica is, and what SQL Server would report from it.
// ---------------------------------------------------------------------------

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
        plan(&Input {
            spec: &self.spec,
            observed: &observed,
            journal,
            now: at,
            confirmation,
            last_seen_primary: seen,
            resource_name: "ag1",
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

// ---------------------------------------------------------------------------
// Steady state.
// ---------------------------------------------------------------------------

#[test]
fn steady_when_the_primary_is_at_the_desired_site_and_the_modes_hold() {
    let plan = World::new().plan0();
    assert_eq!(plan.next, Next::Steady);
    assert_eq!(plan.phase, Phase::Steady);
    assert!(plan.degraded.is_empty(), "{:?}", plan.degraded);
    assert_eq!(plan.journal, Journal::default());
    let seen = plan.primary_seen.expect("the primary is remembered");
    assert_eq!(seen.replica.as_deref(), Some("sql-a"));
    assert_eq!(seen.databases.len(), 2);
    assert_eq!(plan.estimate.expect("an estimate").target, "sql-b");
}

#[test]
fn a_drifted_mode_is_set_back_on_the_primary() {
    let plan = World::new()
        .rep(1, |r| r.mode = AvailabilityMode::SynchronousCommit)
        .plan0();
    assert_eq!(
        step(&plan).command,
        set_mode("sql-a", "sql-b", CommitMode::Asynchronous)
    );
    assert_eq!(plan.phase, Phase::Degraded);
    assert_eq!(step(&plan).after, Journal::default());
}

#[test]
fn a_suspended_secondary_without_auto_resume_is_reported_not_resumed() {
    let plan = World::new().copies(1, |c| c.suspend(SuspendReason::FromUser)).plan0();
    assert_eq!(plan.next, Next::Steady);
    assert_eq!(plan.phase, Phase::Degraded);
    assert!(
        plan.degraded
            .iter()
            .any(|m| m.contains("autoResume") && m.contains("sql-b")),
        "{:?}",
        plan.degraded
    );
}

#[test]
fn a_suspended_secondary_with_auto_resume_is_resumed_on_that_secondary() {
    let plan = World::new()
        .spec_edit(|s| s.auto_resume = true)
        .copies(1, |c| c.suspend(SuspendReason::FromUser))
        .plan0();
    assert_eq!(
        step(&plan).command,
        cmd("sql-b", Action::ResumeDataMovement { database: db("config") })
    );
    assert_eq!(plan.phase, Phase::Degraded);
}

#[test]
fn a_reverting_copy_is_never_resumed() {
    let plan = World::new()
        .spec_edit(|s| s.auto_resume = true)
        .copies(1, |c| {
            c.suspend(SuspendReason::FromPartner);
            c.sync = Some(SyncState::Reverting);
        })
        .plan0();
    assert_eq!(plan.next, Next::Steady);
    assert_eq!(plan.phase, Phase::Degraded);
    assert!(
        plan.degraded.iter().any(|m| m.contains("REVERTING")),
        "{:?}",
        plan.degraded
    );
}

// ---------------------------------------------------------------------------
// Planned switchover (WSFC).
// ---------------------------------------------------------------------------

#[test]
fn planned_switchover_runs_the_lossless_runbook_in_order() {
    let mut w = World::new().spec_edit(|s| s.primary_site = "site-b".into());

    // 1. The target to synchronous commit, journalling the transition.
    let p = w.plan(&Journal::default(), now(), None, None);
    assert_eq!(p.phase, Phase::Switchover);
    assert_eq!(step(&p).command, set_mode("sql-a", "sql-b", CommitMode::Synchronous));
    let tr = transition(&p.journal);
    assert_eq!(
        (tr.kind, tr.to_replica.as_str(), tr.from_replica.as_deref()),
        (TransitionKind::Switchover, "sql-b", Some("sql-a"))
    );
    assert_eq!(tr.started_at, Time(now()));
    assert!(!tr.failover_issued);
    let journal = step(&p).after.clone();
    w.reps[1].mode = AvailabilityMode::SynchronousCommit;

    // 2. Then the primary.
    let p = w.plan(&journal, later(5), None, None);
    assert_eq!(step(&p).command, set_mode("sql-a", "sql-a", CommitMode::Synchronous));
    let journal = step(&p).after.clone();
    w.reps[0].mode = AvailabilityMode::SynchronousCommit;

    // 3. Wait while the target is SYNCHRONIZING.
    let p = w.plan(&journal, later(10), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
    assert!(reason(&p).contains("SYNCHRONIZED"), "{}", reason(&p));
    assert_eq!(p.phase, Phase::Switchover);
    let journal = p.journal.clone();

    // 4. SYNCHRONIZED: FAILOVER on the target.
    w = w.copies(1, |c| c.sync = Some(SyncState::Synchronized));
    let p = w.plan(&journal, later(15), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::PlannedFailover { group: ag() }));
    assert!(!transition(&p.journal).failover_issued);
    assert!(transition(&step(&p).after).failover_issued);
    let journal = step(&p).after.clone();

    // 5. The role change in progress: no primary, wait.
    let w_resolving = w.clone().rep(0, |r| r.role = Some(Role::Resolving)).rep(1, |r| {
        r.role = Some(Role::Resolving);
        r.connected = false;
    });
    let p = w_resolving.plan(&journal, later(20), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::Switchover);
    assert!(
        p.journal.primary_lost.is_none(),
        "a role change drover started is no outage"
    );
    assert!(p.notices.is_empty(), "{:?}", p.notices);

    // 6. sql-b is primary: restore the declared modes, on the new primary.
    w = w
        .rep(0, |r| r.role = Some(Role::Secondary))
        .rep(1, |r| r.role = Some(Role::Primary));
    let p = w.plan(&journal, later(25), None, None);
    assert_eq!(p.phase, Phase::Switchover);
    assert_eq!(step(&p).command, set_mode("sql-b", "sql-a", CommitMode::Asynchronous));
    let journal = step(&p).after.clone();
    w.reps[0].mode = AvailabilityMode::AsynchronousCommit;
    let p = w.plan(&journal, later(30), None, None);
    assert_eq!(step(&p).command, set_mode("sql-b", "sql-b", CommitMode::Asynchronous));
    let journal = step(&p).after.clone();
    w.reps[1].mode = AvailabilityMode::AsynchronousCommit;

    // 7. Finished: recorded as the last failover, lossless.
    let p = w.plan(&journal, later(35), None, None);
    assert_eq!(p.next, Next::Steady);
    assert!(p.journal.transition.is_none());
    let last = p.journal.last_failover.as_ref().expect("last failover recorded");
    assert_eq!(last.kind, TransitionKind::Switchover);
    assert_eq!(
        (last.from_replica.as_deref(), last.to_replica.as_str()),
        (Some("sql-a"), "sql-b")
    );
    assert_eq!(last.started_at, Time(now()));
    assert_eq!(last.finished_at, Time(later(35)));
    assert_eq!(last.data_loss.as_ref().and_then(|l| l.seconds), Some(0));
    assert!(p.notices.contains(&Notice::TransitionFinished {
        kind: "Switchover",
        to: "sql-b".into()
    }));
}

#[test]
fn a_switchover_waits_for_a_target_that_is_not_secondary_or_not_usable() {
    let w = World::new().spec_edit(|s| s.primary_site = "site-b".into());
    let p = w.clone().rep(1, |r| r.role = Some(Role::Resolving)).plan0();
    assert!(is_wait(&p) && reason(&p).contains("RESOLVING"), "{:?}", p.next);
    let p = w.clone().rep(1, |r| r.reachable = false).plan0();
    assert!(is_wait(&p) && reason(&p).contains("unreachable"), "{:?}", p.next);
    let p = w.copies(1, |c| c.sync = Some(SyncState::Reverting)).plan0();
    assert!(is_wait(&p) && reason(&p).contains("REVERTING"), "{:?}", p.next);
}

#[test]
fn a_switchover_resumes_a_suspended_target_even_without_auto_resume() {
    let p = World::new()
        .spec_edit(|s| s.primary_site = "site-b".into())
        .copies(1, |c| c.suspend(SuspendReason::FromUser))
        .plan0();
    assert_eq!(
        step(&p).command,
        cmd("sql-b", Action::ResumeDataMovement { database: db("config") })
    );
    assert_eq!(p.phase, Phase::Switchover);
}

#[test]
fn a_transition_cancelled_by_a_changed_primary_site_is_dropped() {
    let w = World::new().spec_edit(|s| s.primary_site = "site-b".into());
    let journal = step(&w.plan0()).after.clone();
    // The user sets primarySite back before anything changed.
    let back = w.spec_edit(|s| s.primary_site = "site-a".into());
    let p = back.plan(&journal, later(5), None, None);
    assert_eq!(p.next, Next::Steady);
    assert!(p.journal.transition.is_none());
    assert!(p.journal.last_failover.is_none());
    assert!(p.notices.contains(&Notice::TransitionCancelled { to: "sql-b".into() }));
}

// ---------------------------------------------------------------------------
// Cluster type NONE: demote, then a verified lossless force.
// ---------------------------------------------------------------------------

#[test]
fn cluster_type_none_switches_by_demoting_then_forcing_a_complete_target() {
    let mut w = World::new()
        .spec_edit(|s| {
            s.cluster_type = SpecCluster::None;
            s.primary_site = "site-b".into();
        })
        .rep(0, |r| r.mode = AvailabilityMode::SynchronousCommit)
        .rep(1, |r| r.mode = AvailabilityMode::SynchronousCommit)
        .copies(1, |c| c.sync = Some(SyncState::Synchronized));

    // 1. REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = 1, the old value journalled first.
    let p = w.plan0();
    assert_eq!(
        step(&p).command,
        cmd(
            "sql-a",
            Action::SetRequiredSynchronizedSecondaries { group: ag(), count: 1 }
        )
    );
    assert_eq!(transition(&p.journal).required_synchronized_before, Some(0));
    assert_eq!(transition(&step(&p).after).required_synchronized_before, Some(0));
    let journal = step(&p).after.clone();
    w.required_sync = Some(1);

    // 2. Demote the primary.
    let p = w.plan(&journal, later(5), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::DemoteToSecondary { group: ag() })
    );
    assert!(!transition(&p.journal).demoted);
    assert!(transition(&step(&p).after).demoted);
    let journal = step(&p).after.clone();
    w = w.rep(0, |r| {
        r.role = Some(Role::Secondary);
        r.connected = false;
    });
    w.reps[1].connected = false;

    // 3. No primary: force the target only once its log holds all of the demoted replica's.
    w.reps[0].copies[1].set_log(1010, Some(t(12, 0, 1)));
    let p = w.plan(&journal, later(10), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::Switchover);
    assert!(p.journal.primary_lost.is_none());
    w.reps[1].copies[1].set_log(1010, Some(t(12, 0, 1)));
    let p = w.plan(&journal, later(15), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    assert_eq!(p.phase, Phase::Switchover);
    assert!(transition(&step(&p).after).failover_issued);
    assert!(transition(&p.journal).fork.is_empty(), "a lossless force has no fork");
    let journal = step(&p).after.clone();

    // 4. sql-b primary; the demoted sql-a suspended by its partner.
    w = w
        .rep(1, |r| {
            r.role = Some(Role::Primary);
            r.connected = true;
        })
        .rep(0, |r| r.connected = true)
        .copies(0, |c| c.suspend(SuspendReason::FromPartner));
    let p = w.plan(&journal, later(20), None, None);
    assert_eq!(
        step(&p).command,
        cmd(
            "sql-b",
            Action::SetRequiredSynchronizedSecondaries { group: ag(), count: 0 }
        )
    );
    let journal = step(&p).after.clone();
    w.required_sync = Some(0);
    let p = w.plan(&journal, later(25), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("config") })
    );
    w.reps[0].copies[0].suspended = false;
    w.reps[0].copies[0].sync = Some(SyncState::Synchronizing);
    let p = w.plan(&journal, later(30), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("log") })
    );
    w = w.copies(0, |c| {
        c.suspended = false;
        c.sync = Some(SyncState::Synchronizing);
    });
    let p = w.plan(&journal, later(35), None, None);
    assert_eq!(step(&p).command, set_mode("sql-b", "sql-a", CommitMode::Asynchronous));
    w.reps[0].mode = AvailabilityMode::AsynchronousCommit;
    let p = w.plan(&journal, later(40), None, None);
    assert_eq!(step(&p).command, set_mode("sql-b", "sql-b", CommitMode::Asynchronous));
    w.reps[1].mode = AvailabilityMode::AsynchronousCommit;
    let p = w.plan(&journal, later(45), None, None);
    assert_eq!(p.next, Next::Steady);
    let last = p.journal.last_failover.expect("recorded");
    assert_eq!(last.kind, TransitionKind::Switchover);
    assert_eq!(last.data_loss.and_then(|l| l.seconds), Some(0));
}

// ---------------------------------------------------------------------------
// EXTERNAL: observed only.
// ---------------------------------------------------------------------------

#[test]
fn external_groups_are_never_moved() {
    let w = World::new().spec_edit(|s| {
        s.cluster_type = SpecCluster::External;
        s.primary_site = "site-b".into();
    });
    let p = w.plan0();
    assert!(is_blocked(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::Unmanaged);
    // No primary at all.
    let p = w.clone().rep(0, |r| r.reachable = false).plan0();
    assert!(is_blocked(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::Unmanaged);
}

#[test]
fn external_groups_at_the_desired_site_are_observed_not_changed() {
    let p = World::new()
        .spec_edit(|s| {
            s.cluster_type = SpecCluster::External;
            s.auto_resume = true;
        })
        .rep(1, |r| r.mode = AvailabilityMode::SynchronousCommit)
        .copies(1, |c| c.suspend(SuspendReason::FromUser))
        .plan0();
    assert_eq!(p.next, Next::Steady, "no statement is sent to an EXTERNAL group");
    assert_eq!(p.phase, Phase::Degraded);
    assert!(
        p.degraded.iter().any(|m| m.contains("SYNCHRONOUS_COMMIT")),
        "{:?}",
        p.degraded
    );
    assert!(p.degraded.iter().any(|m| m.contains("suspended")), "{:?}", p.degraded);
}

#[test]
fn a_cluster_type_other_than_the_spec_blocks() {
    let mut w = World::new();
    w.cluster = ClusterType::None;
    let p = w.plan0();
    assert!(is_blocked(&p) && reason(&p).contains("cluster type"), "{:?}", p.next);
}

// ---------------------------------------------------------------------------
// Forced failover: sql-a unreachable, primarySite site-b.
// ---------------------------------------------------------------------------

/// sql-a gone; sql-b a disconnected SECONDARY whose last commits are at 11:59:50
/// while drover last saw sql-a commit at 12:00:00.
fn outage() -> World {
    World::new()
        .spec_edit(|s| s.primary_site = "site-b".into())
        .rep(0, |r| r.reachable = false)
        .rep(1, |r| r.connected = false)
        .copies(1, |c| {
            c.sync = Some(SyncState::NotSynchronizing);
            c.set_log(990, Some(t(11, 59, 50)));
        })
}

fn automatic(min: u32, max: u32) -> impl Fn(&mut AvailabilityGroupSpec) {
    move |s| {
        s.forced_failover.policy = ForcePolicy::Automatic;
        s.forced_failover.min_unreachable_seconds = Some(min);
        s.forced_failover.max_data_loss_seconds = Some(max);
    }
}

#[test]
fn confirm_policy_asks_for_a_token_bound_to_the_estimate() {
    let w = outage();
    let seen = snapshot_of_a(t(12, 0, 0));
    let p = w.plan(&Journal::default(), now(), None, Some(&seen));
    assert!(is_blocked(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::AwaitingConfirmation);
    let request = p.journal.confirmation.clone().expect("a confirmation request");
    assert_eq!(request.target, "sql-b");
    assert_eq!(request.known_loss_seconds, Some(10));
    assert_eq!(request.unknown_since, seen.last_seen);
    assert!(request.command.contains(&request.token));
    assert!(reason(&p).contains(&request.command));
    assert!(p.notices.contains(&Notice::ConfirmationRequested {
        token: request.token.clone(),
        target: "sql-b".into()
    }));
    assert!(p.notices.contains(&Notice::PrimaryLost {
        replica: "sql-a".into()
    }));
    let lost = p.journal.primary_lost.clone().expect("the outage is journalled");
    assert_eq!(lost.detected_at, Some(Time(now())));
    let est = p.estimate.clone().expect("estimate");
    assert_eq!((est.known_loss_seconds, est.primary_unreachable), (Some(10), true));

    // Re-planning with the same journal: same request, no new notice.
    let again = w.plan(&p.journal, later(5), None, None);
    assert_eq!(again.journal.confirmation, p.journal.confirmation);
    assert!(again.notices.is_empty(), "{:?}", again.notices);

    // The right token: FORCE on sql-b, fork and token journalled before it runs.
    let go = w.plan(&p.journal, later(10), Some(&request.token), None);
    assert_eq!(go.phase, Phase::Failover);
    assert_eq!(step(&go).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    let tr = transition(&go.journal);
    assert_eq!(tr.kind, TransitionKind::Failover);
    assert_eq!(tr.from_replica.as_deref(), Some("sql-a"));
    assert_eq!(tr.confirmed_token.as_deref(), Some(request.token.as_str()));
    assert_eq!(
        tr.fork,
        vec![
            LogPoint {
                database: "config".into(),
                lsn: Some("990".into()),
                commit_time: utc(t(11, 59, 50))
            },
            LogPoint {
                database: "log".into(),
                lsn: Some("990".into()),
                commit_time: utc(t(11, 59, 50))
            },
        ]
    );
    assert!(!tr.failover_issued);
    let after = &step(&go).after;
    assert!(transition(after).failover_issued);
    assert_eq!(transition(after).fork, tr.fork);
    assert!(after.confirmation.is_none(), "a token is good once");

    // A different token: blocked, reported stale.
    let stale = w.plan(&p.journal, later(10), Some("0123456789ab"), None);
    assert!(is_blocked(&stale));
    assert_eq!(stale.phase, Phase::AwaitingConfirmation);
    assert!(stale.notices.contains(&Notice::ConfirmationStale {
        given: "0123456789ab".into(),
        current: request.token.clone()
    }));
}

#[test]
fn the_token_changes_with_the_estimate() {
    let w = outage();
    let token = |seen: &PrimarySnapshot, w: &World, journal: &Journal| {
        w.plan(journal, now(), None, Some(seen))
            .journal
            .confirmation
            .expect("request")
            .token
    };
    let a = token(&snapshot_of_a(t(12, 0, 0)), &w, &Journal::default());
    let b = token(&snapshot_of_a(t(12, 0, 30)), &w, &Journal::default());
    assert_ne!(a, b, "a different last-seen commit is a different estimate");

    // Within one outage: the target catches up, the estimate changes, the old token is stale.
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let caught_up = w.clone().copies(1, |c| c.set_log(995, Some(t(11, 59, 58))));
    let q = caught_up.plan(&p.journal, later(5), Some(&a), None);
    assert!(is_blocked(&q), "{:?}", q.next);
    let current = q.journal.confirmation.clone().expect("request").token;
    assert_ne!(current, a);
    assert_eq!(q.journal.confirmation.as_ref().unwrap().known_loss_seconds, Some(2));
    assert!(q.notices.contains(&Notice::ConfirmationStale {
        given: a,
        current: current.clone()
    }));
    assert!(q.notices.contains(&Notice::ConfirmationRequested {
        token: current,
        target: "sql-b".into()
    }));
}

#[test]
fn policy_never_waits_for_the_primary() {
    let w = outage().spec_edit(|s| s.forced_failover.policy = ForcePolicy::Never);
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert!(is_blocked(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::Waiting);
    assert!(p.journal.confirmation.is_none());
    assert!(reason(&p).contains("10 s"), "{}", reason(&p));
}

#[test]
fn policy_automatic_forces_only_within_both_bounds() {
    let seen = snapshot_of_a(t(12, 0, 0));
    let w = outage().spec_edit(automatic(60, 30));
    // Just lost: wait for minUnreachableSeconds.
    let p = w.plan(&Journal::default(), now(), None, Some(&seen));
    assert!(is_wait(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::Waiting);
    assert!(p.journal.confirmation.is_none());
    let journal = p.journal.clone();
    let p = w.plan(&journal, later(59), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
    // 60 s down, 10 s known loss <= 30: force, without a token.
    let p = w.plan(&journal, later(60), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    assert_eq!(transition(&p.journal).confirmed_token, None);
    assert_eq!(transition(&p.journal).fork.len(), 2);
    // Known loss above the bound.
    let far = outage().spec_edit(automatic(60, 5));
    let p = far.plan(&journal, later(60), None, None);
    assert!(
        is_blocked(&p) && reason(&p).contains("maxDataLossSeconds"),
        "{:?}",
        p.next
    );
    assert_eq!(p.phase, Phase::Waiting);
    // Unknown loss: never seen the primary.
    let p = w.plan(&Journal::default(), now(), None, None);
    let p = w.plan(&p.journal, later(120), None, None);
    assert!(is_blocked(&p) && reason(&p).contains("unknown"), "{:?}", p.next);
}

#[test]
fn a_target_still_connected_to_a_primary_is_never_forced() {
    let w = outage().spec_edit(automatic(1, 60)).rep(1, |r| r.connected = true);
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let p = w.plan(&p.journal, later(600), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
    assert!(reason(&p).contains("two primaries"), "{}", reason(&p));
    // Not even with a token that was right a moment ago.
    let disconnected = outage();
    let q = disconnected.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let token = q.journal.confirmation.clone().unwrap().token;
    let connected = disconnected.rep(1, |r| r.connected = true);
    let r = connected.plan(&q.journal, later(5), Some(&token), None);
    assert!(is_wait(&r), "{:?}", r.next);
}

#[test]
fn a_reverting_or_initializing_target_is_never_forced() {
    for state in [SyncState::Reverting, SyncState::Initializing] {
        let w = outage()
            .spec_edit(automatic(1, 60))
            .rep(1, |r| r.copies[1].sync = Some(state.clone()));
        let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
        let p = w.plan(&p.journal, later(600), None, None);
        assert!(is_wait(&p), "{state}: {:?}", p.next);
        assert!(reason(&p).contains(state.as_str()), "{}", reason(&p));
    }
}

#[test]
fn the_desired_sites_own_primary_unreachable_is_waited_for() {
    let w = World::new()
        .rep(0, |r| r.reachable = false)
        .rep(1, |r| r.connected = false);
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert!(is_blocked(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::Waiting);
    assert!(reason(&p).contains("sql-a"), "{}", reason(&p));
}

// ---------------------------------------------------------------------------
// After a forced failover: measure the loss before anything resumes the old primary.
// ---------------------------------------------------------------------------

/// The forced failover to sql-b, completed: planned through from the outage.
fn after_forced_failover() -> (World, Journal) {
    let w = outage().spec_edit(|s| s.auto_resume = true);
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let token = p.journal.confirmation.clone().unwrap().token;
    let go = w.plan(&p.journal, later(5), Some(&token), None);
    let journal = step(&go).after.clone();
    let w = w.rep(1, |r| {
        r.role = Some(Role::Primary);
        r.connected = true;
    });
    let done = w.plan(&journal, later(10), None, None);
    assert_eq!(done.next, Next::Steady, "{:?}", done.degraded);
    let last = done.journal.last_failover.clone().expect("recorded");
    assert_eq!(last.kind, TransitionKind::Failover);
    assert_eq!(last.data_loss, None, "not measurable while sql-a is away");
    assert_eq!(last.fork.len(), 2);
    assert!(done.journal.transition.is_none());
    (w, done.journal)
}

#[test]
fn a_returning_old_primary_has_its_loss_measured_before_it_is_resumed() {
    let (w, journal) = after_forced_failover();
    // sql-a returns as SECONDARY, suspended by its partner, with commits beyond the fork.
    let back = w
        .rep(0, |r| {
            r.reachable = true;
            r.role = Some(Role::Secondary);
            r.connected = true;
        })
        .copies(0, |c| {
            c.suspend(SuspendReason::FromPartner);
            c.set_log(1000, Some(t(12, 0, 0)));
        });
    let p = back.plan(&journal, later(20), None, None);
    let loss = p
        .journal
        .last_failover
        .as_ref()
        .and_then(|f| f.data_loss.clone())
        .expect("measured");
    assert_eq!(loss.seconds, Some(10));
    assert_eq!(loss.databases.len(), 2);
    assert_eq!(
        (loss.databases[0].from_lsn.as_str(), loss.databases[0].to_lsn.as_str()),
        ("990", "1000")
    );
    assert!(
        p.notices
            .iter()
            .any(|n| matches!(n, Notice::LossMeasured { seconds: 10, detail } if detail.contains("(990, 1000]")))
    );
    // The measurement is in the journal persisted before the resume runs.
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("config") })
    );
    assert!(step(&p).after.last_failover.as_ref().unwrap().data_loss.is_some());

    // Before it can be measured (a copy's last commit not reported), it is not resumed.
    let unreadable = back.clone().rep(0, |r| r.copies[1].last_commit_lsn = None);
    let p = unreadable.plan(&journal, later(20), None, None);
    assert_eq!(p.next, Next::Steady);
    assert_eq!(p.phase, Phase::Degraded);
    assert!(p.journal.last_failover.as_ref().unwrap().data_loss.is_none());
    assert!(p.degraded.iter().any(|m| m.contains("measured")), "{:?}", p.degraded);

    // Nothing beyond the fork: measured as nothing lost.
    let clean = back.copies(0, |c| c.set_log(990, Some(t(11, 59, 50))));
    let p = clean.plan(&journal, later(20), None, None);
    let loss = p.journal.last_failover.unwrap().data_loss.expect("measured");
    assert_eq!(loss.seconds, Some(0));
    assert!(loss.databases.iter().all(|d| d.from_lsn == d.to_lsn));
}

// ---------------------------------------------------------------------------
// Failback.
// ---------------------------------------------------------------------------

#[test]
fn failback_backs_up_then_resumes_then_fails_over_planned() {
    let (w, journal) = after_forced_failover();
    let mut w = w
        .spec_edit(|s| {
            s.primary_site = "site-a".into();
            s.auto_resume = false;
            s.backup_before_failback = Some(BackupTarget {
                directory: "/var/opt/mssql/backup/".into(),
            });
        })
        .rep(0, |r| {
            r.reachable = true;
            r.role = Some(Role::Secondary);
            r.connected = true;
        })
        .copies(0, |c| {
            c.suspend(SuspendReason::FromPartner);
            c.set_log(1000, Some(t(12, 0, 0)));
        });

    let p = w.plan(&journal, later(100), None, None);
    assert_eq!(p.phase, Phase::Failback);
    assert!(p.journal.last_failover.as_ref().unwrap().data_loss.is_some());
    assert_eq!(transition(&p.journal).kind, TransitionKind::Failback);
    assert_eq!(
        step(&p).command,
        cmd(
            "sql-b",
            Action::CopyOnlyBackup {
                database: db("config"),
                path: "/var/opt/mssql/backup/config_20240501T120140Z.bak".into()
            }
        )
    );
    let journal = step(&p).after.clone();
    assert_eq!(transition(&journal).backups.len(), 1);
    assert_eq!(transition(&journal).backups[0].replica, "sql-b");

    let p = w.plan(&journal, later(105), None, None);
    assert_eq!(
        step(&p).command,
        cmd(
            "sql-b",
            Action::CopyOnlyBackup {
                database: db("log"),
                path: "/var/opt/mssql/backup/log_20240501T120140Z.bak".into()
            }
        )
    );
    let journal = step(&p).after.clone();
    assert_eq!(transition(&journal).backups.len(), 2);

    let p = w.plan(&journal, later(110), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("config") })
    );
    w.reps[0].copies[0].suspended = false;
    w.reps[0].copies[0].sync = Some(SyncState::Synchronizing);
    let p = w.plan(&journal, later(115), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("log") })
    );
    w = w.copies(0, |c| {
        c.suspended = false;
        c.sync = Some(SyncState::Synchronizing);
    });

    let p = w.plan(&journal, later(120), None, None);
    assert_eq!(step(&p).command, set_mode("sql-b", "sql-a", CommitMode::Synchronous));
    w.reps[0].mode = AvailabilityMode::SynchronousCommit;
    let p = w.plan(&journal, later(125), None, None);
    assert_eq!(step(&p).command, set_mode("sql-b", "sql-b", CommitMode::Synchronous));
    w.reps[1].mode = AvailabilityMode::SynchronousCommit;
    let p = w.plan(&journal, later(130), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
    w = w.copies(0, |c| c.sync = Some(SyncState::Synchronized));
    let p = w.plan(&journal, later(135), None, None);
    assert_eq!(step(&p).command, cmd("sql-a", Action::PlannedFailover { group: ag() }));
    assert_eq!(p.phase, Phase::Failback);
    assert_eq!(transition(&step(&p).after).kind, TransitionKind::Failback);
    assert!(transition(&step(&p).after).failover_issued);
}

#[test]
fn failback_waits_while_the_old_primarys_loss_cannot_be_measured() {
    let (w, journal) = after_forced_failover();
    let w = w
        .spec_edit(|s| s.primary_site = "site-a".into())
        .rep(0, |r| {
            r.reachable = true;
            r.role = Some(Role::Secondary);
        })
        .copies(0, |c| {
            c.suspend(SuspendReason::FromPartner);
            c.last_commit_lsn = None;
        });
    let p = w.plan(&journal, later(100), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
    assert!(reason(&p).contains("measuring"), "{}", reason(&p));
}

// ---------------------------------------------------------------------------
// Bad observations.
// ---------------------------------------------------------------------------

#[test]
fn two_primaries_block_everything() {
    for site in ["site-a", "site-b"] {
        let p = World::new()
            .spec_edit(|s| s.primary_site = site.into())
            .rep(1, |r| r.role = Some(Role::Primary))
            .plan0();
        assert!(is_blocked(&p), "{:?}", p.next);
        assert!(reason(&p).contains("PRIMARY"), "{}", reason(&p));
        assert_eq!(p.phase, Phase::Degraded);
    }
}

#[test]
fn a_replica_that_is_another_server_is_not_used() {
    let w = World::new()
        .spec_edit(|s| s.auto_resume = true)
        .rep(1, |r| r.actual_name = Some("sql-x".into()))
        .copies(1, |c| c.suspend(SuspendReason::FromUser));
    let p = w.plan0();
    assert!(
        p.degraded
            .iter()
            .any(|m| m.starts_with("sql-b") && m.contains("\"sql-x\"")),
        "{:?}",
        p.degraded
    );
    assert_eq!(p.next, Next::Steady, "never resumed through a wrong server");
    assert_eq!(p.phase, Phase::Degraded);

    // Not a switchover target either.
    let p = w.clone().spec_edit(|s| s.primary_site = "site-b".into()).plan0();
    assert!(is_wait(&p), "{:?}", p.next);
    // Nor does its PRIMARY role count.
    let p = w.rep(1, |r| r.role = Some(Role::Primary)).plan0();
    assert!(!is_blocked(&p), "{:?}", p.next);
}

#[test]
fn a_database_missing_from_the_group_on_the_primary_blocks() {
    let w = World::new().spec_edit(|s| s.databases.push("extra".into()));
    // The world only has copies of the fixture's two databases.
    let p = w.plan0();
    assert!(is_blocked(&p) && reason(&p).contains("\"extra\""), "{:?}", p.next);
}

// ---------------------------------------------------------------------------
// Properties over random observations and journals.
// ---------------------------------------------------------------------------

const NAMES: [&str; 3] = ["sql-a", "sql-b", "sql-c"];
const SITES: [&str; 3] = ["site-a", "site-b", "site-c"];
const DBS: [&str; 2] = ["config", "log"];

fn spec_of(n: usize, cluster: SpecCluster, site: usize) -> AvailabilityGroupSpec {
    let mut spec = fixtures::spec();
    if n == 3 {
        spec.replicas.push(third_replica());
    }
    spec.cluster_type = cluster;
    spec.primary_site = SITES[site].into();
    spec
}

fn arb_sync() -> impl Strategy<Value = Option<SyncState>> {
    prop_oneof![
        3 => Just(Some(SyncState::Synchronized)),
        3 => Just(Some(SyncState::Synchronizing)),
        2 => Just(Some(SyncState::NotSynchronizing)),
        1 => Just(Some(SyncState::Reverting)),
        1 => Just(Some(SyncState::Initializing)),
        1 => Just(None),
    ]
}

fn arb_reason() -> impl Strategy<Value = SuspendReason> {
    prop_oneof![
        Just(SuspendReason::FromUser),
        Just(SuspendReason::FromPartner),
        Just(SuspendReason::FromRedo),
    ]
}

prop_compose! {
    fn arb_copy()(
        sync in arb_sync(),
        suspended in prop::bool::weighted(0.3),
        reason in arb_reason(),
        lsn in prop::option::weighted(0.9, 100u128..106),
        secs in prop::option::weighted(0.9, 0i8..60),
        end_of_log in prop::option::weighted(0.9, 100u128..106),
        hardened in prop::option::weighted(0.8, 100u128..106),
    ) -> DbCopy {
        DbCopy {
            sync,
            suspended,
            reason: Some(reason),
            last_commit_lsn: lsn,
            last_commit_time: secs.map(|s| t(11, 59, s)),
            end_of_log_lsn: end_of_log,
            last_hardened_lsn: hardened,
            fresh: false,
        }
    }
}

fn arb_role() -> impl Strategy<Value = Option<Role>> {
    prop_oneof![
        3 => Just(Some(Role::Primary)),
        4 => Just(Some(Role::Secondary)),
        1 => Just(Some(Role::Resolving)),
        1 => Just(None),
    ]
}

fn mode_of(sync: bool) -> AvailabilityMode {
    if sync {
        AvailabilityMode::SynchronousCommit
    } else {
        AvailabilityMode::AsynchronousCommit
    }
}

prop_compose! {
    fn arb_rep()(
        reachable in prop::bool::weighted(0.85),
        wrong_server in prop::bool::weighted(0.05),
        role in arb_role(),
        connected in any::<bool>(),
        sync in any::<bool>(),
        copies in prop::collection::vec(arb_copy(), 2),
    ) -> Rep {
        Rep {
            reachable,
            actual_name: wrong_server.then(|| "sql-x".to_string()),
            role,
            connected,
            mode: mode_of(sync),
            copies,
        }
    }
}

fn arb_cluster() -> impl Strategy<Value = SpecCluster> {
    prop_oneof![
        3 => Just(SpecCluster::Wsfc),
        3 => Just(SpecCluster::None),
        1 => Just(SpecCluster::External),
    ]
}

fn arb_policy() -> impl Strategy<Value = ForcePolicy> {
    prop_oneof![
        Just(ForcePolicy::Never),
        Just(ForcePolicy::Confirm),
        Just(ForcePolicy::Automatic),
    ]
}

fn arb_kind() -> impl Strategy<Value = TransitionKind> {
    prop_oneof![
        Just(TransitionKind::Switchover),
        Just(TransitionKind::Failover),
        Just(TransitionKind::Failback),
    ]
}

/// Log points of the two databases, committed within 11:59:xx.
fn arb_points() -> impl Strategy<Value = Vec<LogPoint>> {
    prop::collection::vec((prop::option::weighted(0.9, 100u128..106), 0i8..60), 2).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(d, (lsn, s))| LogPoint {
                database: DBS[d].into(),
                lsn: lsn.map(|l| l.to_string()),
                commit_time: utc(t(11, 59, s)),
            })
            .collect()
    })
}

fn arb_transition(n: usize) -> impl Strategy<Value = Transition> {
    (
        arb_kind(),
        0..n,
        prop::option::of(0..n),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(0i32..2),
        prop::option::weighted(0.5, arb_points()),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(kind, to, from, failover_issued, demoted, before, fork, backups, token)| Transition {
                kind,
                to_site: SITES[to].into(),
                to_replica: NAMES[to].into(),
                from_site: from.map(|f| SITES[f].into()),
                from_replica: from.map(|f| NAMES[f].into()),
                started_at: Time(later(-600)),
                backups: if backups {
                    vec![crate::api::availability_group::BackupTaken {
                        database: "config".into(),
                        replica: NAMES[0].into(),
                        path: "/b/config.bak".into(),
                    }]
                } else {
                    Vec::new()
                },
                required_synchronized_before: before,
                demoted,
                failover_issued,
                fork: fork.unwrap_or_default(),
                confirmed_token: token.then(|| "0123456789ab".into()),
            },
        )
}

fn arb_lost(n: usize) -> impl Strategy<Value = PrimarySnapshot> {
    (
        prop::option::of(0..n),
        0i64..300,
        prop::option::weighted(0.7, arb_points()),
    )
        .prop_map(|(replica, ago, points)| PrimarySnapshot {
            replica: replica.map(|r| NAMES[r].into()),
            site: replica.map(|r| SITES[r].into()),
            detected_at: Some(Time(later(-ago))),
            last_seen: points.as_ref().map(|_| Time(later(-ago - 5))),
            databases: points.unwrap_or_default(),
        })
}

fn arb_record(n: usize) -> impl Strategy<Value = FailoverRecord> {
    (
        arb_kind(),
        0..n,
        0..n,
        prop::bool::weighted(0.5),
        prop::option::weighted(0.8, arb_points()),
    )
        .prop_map(|(kind, from, to, measured, fork)| FailoverRecord {
            kind,
            from_site: Some(SITES[from].into()),
            from_replica: Some(NAMES[from].into()),
            to_site: SITES[to].into(),
            to_replica: NAMES[to].into(),
            started_at: Time(later(-3600)),
            finished_at: Time(later(-3500)),
            fork: fork.unwrap_or_default(),
            data_loss: measured.then(|| DataLoss {
                seconds: Some(1),
                ..DataLoss::default()
            }),
        })
}

fn arb_seen(n: usize) -> impl Strategy<Value = PrimarySnapshot> {
    (0..n, arb_points()).prop_map(|(r, databases)| PrimarySnapshot {
        replica: Some(NAMES[r].into()),
        site: Some(SITES[r].into()),
        detected_at: None,
        last_seen: Some(Time(later(-10))),
        databases,
    })
}

#[derive(Debug, Clone)]
struct Case {
    world: World,
    journal: Journal,
    seen: Option<PrimarySnapshot>,
    /// 0: no annotation; 1: a token that is not the current one; 2: the current token.
    annotation: u8,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (2usize..=3)
        .prop_flat_map(|n| {
            let world = (
                prop::collection::vec(arb_rep(), n),
                arb_cluster(),
                prop::bool::weighted(0.03),
                prop::option::weighted(0.9, 0i32..3),
                0..n,
                arb_policy(),
                1u32..120,
                0u32..60,
                any::<bool>(),
                any::<bool>(),
            );
            let journal = (
                prop::option::weighted(0.5, arb_transition(n)),
                prop::option::weighted(0.4, arb_lost(n)),
                prop::option::weighted(0.4, arb_record(n)),
                prop::option::weighted(0.5, arb_seen(n)),
                0u8..3,
            );
            (Just(n), world, journal)
        })
        .prop_map(|(n, world, journal)| {
            let (reps, cluster, mismatch, required, site, policy, min, max, auto_resume, backup) = world;
            let (transition, lost, record, seen, annotation) = journal;
            let mut spec = spec_of(n, cluster, site);
            spec.forced_failover.policy = policy;
            if policy == ForcePolicy::Automatic {
                spec.forced_failover.min_unreachable_seconds = Some(min);
                spec.forced_failover.max_data_loss_seconds = Some(max);
            }
            spec.auto_resume = auto_resume;
            spec.backup_before_failback = backup.then(|| BackupTarget {
                directory: "/backups".into(),
            });
            let mut world = World::with_spec(spec);
            world.reps = reps;
            world.required_sync = required;
            if mismatch {
                world.cluster = ClusterType::Other(7);
            }
            Case {
                world,
                journal: Journal {
                    transition,
                    confirmation: None,
                    primary_lost: lost,
                    last_failover: record,
                },
                seen,
                annotation,
            }
        })
}

/// One reachable primary away from the desired site; the target SECONDARY, synchronous,
/// SYNCHRONIZED, each with probability 0.85.
fn arb_planned_case() -> impl Strategy<Value = Case> {
    (arb_case(), prop::collection::vec(prop::bool::weighted(0.85), 8)).prop_map(|(mut c, b)| {
        let w = &mut c.world;
        let n = w.n();
        let target = w.site_index(&w.spec.primary_site).unwrap();
        let p = (target + 1) % n;
        if b[5] {
            w.spec.cluster_type = SpecCluster::Wsfc;
        }
        w.cluster = w.spec.cluster_type.observed();
        for (r, rep) in w.reps.iter_mut().enumerate() {
            rep.reachable = true;
            rep.actual_name = None;
            if r == p {
                rep.role = Some(Role::Primary);
            } else if rep.role == Some(Role::Primary) {
                rep.role = Some(Role::Secondary);
            }
        }
        if b[0] {
            w.reps[target].role = Some(Role::Secondary);
        }
        if b[1] {
            w.reps[target].mode = AvailabilityMode::SynchronousCommit;
        }
        if b[2] {
            w.reps[p].mode = AvailabilityMode::SynchronousCommit;
        }
        for d in 0..2 {
            if b[3 + d] {
                let copy = &mut w.reps[target].copies[d];
                copy.sync = Some(SyncState::Synchronized);
                copy.suspended = !b[6];
            }
        }
        if b[7] {
            c.journal.last_failover = None;
        }
        c
    })
}

/// No replica PRIMARY; the desired site's replica usable, SECONDARY or RESOLVING, disconnected,
/// with no REVERTING or INITIALIZING copy, each with probability 0.85; half of them after a
/// journalled NONE demote of another replica.
fn arb_forced_case() -> impl Strategy<Value = Case> {
    (
        arb_case(),
        prop::collection::vec(prop::bool::weighted(0.85), 6),
        any::<bool>(),
        0usize..3,
        prop::option::weighted(0.6, arb_lost(2)),
    )
        .prop_map(|(mut c, b, after_demote, old, lost)| {
            if c.journal.primary_lost.is_none() {
                c.journal.primary_lost = lost;
            }
            let w = &mut c.world;
            let n = w.n();
            for rep in &mut w.reps {
                if rep.role == Some(Role::Primary) {
                    rep.role = Some(Role::Secondary);
                }
            }
            w.cluster = w.spec.cluster_type.observed();
            let target = w.site_index(&w.spec.primary_site).unwrap();
            let rep = &mut w.reps[target];
            if b[0] {
                rep.reachable = true;
                rep.actual_name = None;
            }
            if b[1] && rep.role.is_none() {
                rep.role = Some(Role::Secondary);
            }
            rep.connected = !b[2];
            for d in 0..2 {
                if b[3 + d]
                    && matches!(
                        rep.copies[d].sync,
                        Some(SyncState::Reverting | SyncState::Initializing) | None
                    )
                {
                    rep.copies[d].sync = Some(SyncState::NotSynchronizing);
                }
            }
            let old = if old % n == target { (target + 1) % n } else { old % n };
            if after_demote {
                w.spec.cluster_type = SpecCluster::None;
                w.cluster = ClusterType::None;
                if b[5] {
                    w.reps[old].reachable = true;
                    w.reps[old].actual_name = None;
                    w.reps[old].role = Some(Role::Secondary);
                }
                c.journal.transition = Some(Transition {
                    kind: TransitionKind::Switchover,
                    to_site: SITES[target].into(),
                    to_replica: NAMES[target].into(),
                    from_site: Some(SITES[old].into()),
                    from_replica: Some(NAMES[old].into()),
                    started_at: Time(later(-60)),
                    backups: Vec::new(),
                    required_synchronized_before: Some(0),
                    demoted: true,
                    failover_issued: false,
                    fork: Vec::new(),
                    confirmed_token: None,
                });
            } else if c.journal.transition.as_ref().is_some_and(|t| t.failover_issued) && b[5] {
                c.journal.transition = None;
            }
            c
        })
}

fn end_of_log(c: &DbCopy) -> Option<u128> {
    c.end_of_log_lsn.or(c.last_hardened_lsn)
}

/// Case (c): cluster type NONE, a journalled planned transition to `r` whose old primary is
/// reachable, reports SECONDARY, and has no log `r` lacks.
fn lossless_after_demote(w: &World, journal: &Journal, r: usize) -> bool {
    let Some(tr) = &journal.transition else { return false };
    let Some(old) = tr.from_replica.as_deref().and_then(|n| w.index(n)) else {
        return false;
    };
    w.spec.cluster_type == SpecCluster::None
        && tr.kind != TransitionKind::Failover
        && tr.to_replica.eq_ignore_ascii_case(w.name(r))
        && w.usable(old)
        && w.reps[old].role == Some(Role::Secondary)
        && (0..w.spec.databases.len()).all(|d| {
            matches!(
                (end_of_log(w.reps[r].copy(d)), end_of_log(w.reps[old].copy(d))),
                (Some(a), Some(b)) if a >= b
            )
        })
}

/// Seconds of commits the lost primary had that `r` lacks, computed from scratch; `None` when unknown.
fn known_loss(w: &World, lost: &PrimarySnapshot, r: usize) -> Option<i64> {
    let mut worst = 0;
    for (d, name) in w.spec.databases.iter().enumerate() {
        let point = lost.databases.iter().find(|p| p.database == *name)?;
        let theirs = point.commit_time.as_ref()?;
        let mine = utc(w.reps[r].copy(d).last_commit_time?)?;
        worst = worst.max(theirs.0.duration_since(mine.0).as_secs().max(0));
    }
    Some(worst)
}

/// The safety invariants one plan must satisfy. `annotation` is what the plan was given;
/// `token` the current token, as read from a plan made without an annotation.
fn check_plan(
    w: &World,
    journal: &Journal,
    plan: &Plan,
    annotation: Option<&str>,
    token: Option<&str>,
) -> Result<(), TestCaseError> {
    let primaries = w.primaries();
    let step = match &plan.next {
        Next::Wait(r) | Next::Blocked(r) => {
            prop_assert!(!r.trim().is_empty(), "empty reason");
            return Ok(());
        }
        Next::Steady => {
            prop_assert_eq!(primaries.len(), 1, "Steady without one primary");
            prop_assert_eq!(&w.spec.replicas[primaries[0]].site, &w.spec.primary_site);
            return Ok(());
        }
        Next::Act(step) => step,
    };
    prop_assert!(primaries.len() <= 1, "acted with two primaries: {:?}", step.command);
    prop_assert!(
        w.spec.cluster_type != SpecCluster::External,
        "acted on EXTERNAL: {:?}",
        step.command
    );
    prop_assert!(!step.reason.is_empty());
    let r = w.index(&step.command.replica_server_name);
    prop_assert!(r.is_some(), "unknown replica {}", step.command.replica_server_name);
    let r = r.unwrap();
    prop_assert!(w.usable(r), "acted on unusable {}: {:?}", w.name(r), step.command);
    let rep = &w.reps[r];
    let dbs = w.spec.databases.len();
    let target = w.site_index(&w.spec.primary_site);
    match &step.command.action {
        Action::SetAvailabilityMode { .. }
        | Action::SetRequiredSynchronizedSecondaries { .. }
        | Action::DemoteToSecondary { .. }
        | Action::CopyOnlyBackup { .. } => {
            prop_assert_eq!(w.primary(), Some(r), "{:?} not on the primary", step.command);
        }
        Action::PlannedFailover { .. } => {
            let p = w.primary();
            prop_assert!(p.is_some(), "planned failover without a primary");
            let p = p.unwrap();
            prop_assert_eq!(w.spec.cluster_type, SpecCluster::Wsfc);
            prop_assert_eq!(Some(r), target);
            prop_assert_eq!(&rep.role, &Some(Role::Secondary));
            prop_assert_eq!(&rep.mode, &AvailabilityMode::SynchronousCommit);
            prop_assert_eq!(&w.reps[p].mode, &AvailabilityMode::SynchronousCommit);
            for d in 0..dbs {
                prop_assert_eq!(&rep.copy(d).sync, &Some(SyncState::Synchronized), "db {}", d);
            }
            prop_assert!(transition(&step.after).failover_issued);
        }
        Action::ForcedFailover { .. } => {
            prop_assert!(primaries.is_empty(), "forced with a primary");
            prop_assert!(
                matches!(rep.role, Some(Role::Secondary | Role::Resolving)),
                "forced onto role {:?}",
                rep.role
            );
            prop_assert!(!rep.connected, "forced onto a replica connected to a primary");
            for d in 0..dbs {
                prop_assert!(
                    !matches!(rep.copy(d).sync, Some(SyncState::Reverting | SyncState::Initializing)),
                    "forced onto {:?}",
                    rep.copy(d).sync
                );
            }
            let lossless = lossless_after_demote(w, journal, r);
            let policy = &w.spec.forced_failover;
            let allowed = Some(r) == target
                && match policy.policy {
                    ForcePolicy::Never => false,
                    ForcePolicy::Confirm => annotation.is_some() && annotation == token,
                    ForcePolicy::Automatic => plan.journal.primary_lost.as_ref().is_some_and(|lost| {
                        let down = lost
                            .detected_at
                            .as_ref()
                            .map_or(0, |d| now().duration_since(d.0).as_secs());
                        down >= i64::from(policy.min_unreachable_seconds.unwrap())
                            && known_loss(w, lost, r)
                                .is_some_and(|k| k <= i64::from(policy.max_data_loss_seconds.unwrap()))
                    }),
                };
            prop_assert!(allowed || lossless, "forced failover not allowed: {:?}", policy.policy);
            if !lossless {
                let tr = transition(&plan.journal);
                prop_assert_eq!(tr.kind, TransitionKind::Failover);
                prop_assert_eq!(tr.fork.len(), dbs, "the fork is journalled before forcing");
                prop_assert_eq!(
                    tr.confirmed_token.as_deref(),
                    annotation.filter(|_| policy.policy == ForcePolicy::Confirm)
                );
            }
            prop_assert!(transition(&step.after).failover_issued);
        }
        Action::ResumeDataMovement { database } => {
            let d = w
                .spec
                .databases
                .iter()
                .position(|x| x.eq_ignore_ascii_case(database.as_str()));
            prop_assert!(d.is_some());
            let d = d.unwrap();
            prop_assert!(w.primary().is_some(), "resumed with no primary");
            prop_assert_ne!(
                &rep.copy(d).sync,
                &Some(SyncState::Reverting),
                "resumed a REVERTING copy"
            );
            let unmeasured = plan.journal.last_failover.as_ref().is_some_and(|f| {
                f.kind == TransitionKind::Failover
                    && f.data_loss.is_none()
                    && f.from_replica
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(w.name(r)))
            });
            prop_assert!(!unmeasured, "resumed the old primary before its loss was measured");
        }
    }
    Ok(())
}

fn check_case(case: &Case) -> Result<(), TestCaseError> {
    let w = &case.world;
    let plan_with = |annotation: Option<&str>| w.plan(&case.journal, now(), annotation, case.seen.as_ref());
    let base = plan_with(None);
    let token = base.journal.confirmation.as_ref().map(|c| c.token.clone());
    let annotation = match case.annotation {
        0 => None,
        1 => Some("ffffffffffff".to_string()),
        _ => token.clone(),
    };
    let plan = plan_with(annotation.as_deref());
    prop_assert_eq!(&plan, &plan_with(annotation.as_deref()), "the planner is pure");
    check_plan(w, &case.journal, &base, None, token.as_deref())?;
    check_plan(w, &case.journal, &plan, annotation.as_deref(), token.as_deref())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Every safety invariant, over random observations and journals (one generator, one check
    /// per invariant inside `check_plan`).
    #[test]
    fn every_plan_respects_the_safety_invariants(case in arb_case()) {
        check_case(&case)?;
    }

    /// PlannedFailover only onto a SYNCHRONIZED synchronous-commit SECONDARY of a synchronous primary,
    /// over worlds where each of those conditions holds most of the time (so that some miss by one).
    #[test]
    fn planned_failover_only_when_synchronized(case in arb_planned_case()) {
        check_case(&case)?;
    }

    /// ForcedFailover only as the policy (or a verified lossless NONE switch) allows, over worlds with
    /// no primary where each precondition of a force holds most of the time.
    #[test]
    fn forced_failover_only_as_allowed(case in arb_forced_case()) {
        check_case(&case)?;
    }

    /// The planner never panics, even on observations that make no sense.
    #[test]
    fn the_planner_is_total(case in arb_case(), garbage in any::<bool>()) {
        let mut w = case.world.clone();
        if garbage {
            // Rows of a database the spec does not name, a group of another name, no server name.
            w.spec.databases.push("extra".into());
            w.spec.group_name = "AG1".into();
            w.reps[0].actual_name = Some(String::new());
        }
        let plan = w.plan(&case.journal, now(), Some(""), case.seen.as_ref());
        if let Next::Wait(r) | Next::Blocked(r) = &plan.next {
            prop_assert!(!r.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------
// The model: what SQL Server does with each command, one tick at a time.
// ---------------------------------------------------------------------------

fn commit_time_of(lsn: u128) -> civil::DateTime {
    t(11, 0, 0)
        .checked_add(jiff::Span::new().seconds(i64::try_from(lsn).unwrap()))
        .unwrap()
}

impl World {
    fn both_sync(&self, a: usize, b: usize) -> bool {
        self.reps[a].mode == AvailabilityMode::SynchronousCommit
            && self.reps[b].mode == AvailabilityMode::SynchronousCommit
    }

    /// Runs `command` as SQL Server would, or refuses it as SQL Server would.
    fn apply(&mut self, command: &Command) -> Result<(), String> {
        let r = self
            .index(&command.replica_server_name)
            .ok_or_else(|| format!("no replica {}", command.replica_server_name))?;
        if !self.reps[r].reachable {
            return Err(format!("{} is unreachable", self.name(r)));
        }
        let primary = self.primary();
        let on_primary = || {
            if primary == Some(r) {
                Ok(())
            } else {
                Err(format!("{:?} must run on the primary", command.action))
            }
        };
        match &command.action {
            Action::SetAvailabilityMode {
                replica_server_name,
                mode,
                ..
            } => {
                on_primary()?;
                let q = self.index(replica_server_name).ok_or("no such replica")?;
                self.reps[q].mode = match mode {
                    CommitMode::Synchronous => AvailabilityMode::SynchronousCommit,
                    CommitMode::Asynchronous => AvailabilityMode::AsynchronousCommit,
                };
            }
            Action::SetRequiredSynchronizedSecondaries { count, .. } => {
                on_primary()?;
                self.required_sync = Some(i32::from(*count));
            }
            Action::DemoteToSecondary { .. } => {
                on_primary()?;
                if self.cluster == ClusterType::Wsfc {
                    return Err("SET (ROLE = SECONDARY) on a WSFC group".into());
                }
                self.reps[r].role = Some(Role::Secondary);
                self.reps.iter_mut().for_each(|x| x.connected = false);
            }
            Action::PlannedFailover { .. } => {
                let p = primary.ok_or("41142: no primary")?;
                let ready = self.cluster == ClusterType::Wsfc
                    && self.reps[r].role == Some(Role::Secondary)
                    && self.both_sync(r, p)
                    && self.reps[r]
                        .copies
                        .iter()
                        .all(|c| c.sync == Some(SyncState::Synchronized));
                if !ready {
                    return Err("41142: the target is not ready for a planned failover".into());
                }
                self.reps[p].role = Some(Role::Resolving);
                self.reps[r].role = Some(Role::Resolving);
                self.reps.iter_mut().for_each(|x| x.connected = false);
                self.pending = Some(Pending {
                    target: r,
                    forced: false,
                    fresh: true,
                });
            }
            Action::ForcedFailover { .. } => {
                if !self.primaries().is_empty() {
                    return Err("forcing while another replica is PRIMARY: two primaries".into());
                }
                if !matches!(self.reps[r].role, Some(Role::Secondary | Role::Resolving)) {
                    return Err("FORCE_FAILOVER on a replica that is not SECONDARY or RESOLVING".into());
                }
                if self.reps[r]
                    .copies
                    .iter()
                    .any(|c| matches!(c.sync, Some(SyncState::Reverting | SyncState::Initializing)))
                {
                    return Err("forced onto a REVERTING or INITIALIZING database".into());
                }
                self.reps[r].role = Some(Role::Resolving);
                self.pending = Some(Pending {
                    target: r,
                    forced: true,
                    fresh: true,
                });
            }
            Action::ResumeDataMovement { database } => {
                let d = self
                    .spec
                    .databases
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case(database.as_str()))
                    .ok_or("no such database")?;
                let primary_lsn = primary.and_then(|p| self.reps[p].copies[d].last_commit_lsn);
                let c = &mut self.reps[r].copies[d];
                if c.suspended {
                    c.suspended = false;
                    c.reason = None;
                    // A divergent tail is rolled back first.
                    c.sync = Some(if c.last_commit_lsn > primary_lsn {
                        SyncState::Reverting
                    } else {
                        SyncState::Synchronizing
                    });
                    c.fresh = true;
                }
            }
            Action::CopyOnlyBackup { .. } => {}
        }
        Ok(())
    }

    /// One poll interval: a role change completes (one tick after it was issued), data moves
    /// on connected, unsuspended secondaries one state at a time.
    fn tick(&mut self) {
        if let Some(pending) = self.pending.as_mut() {
            if pending.fresh {
                pending.fresh = false;
            } else {
                let Pending { target, forced, .. } = self.pending.take().unwrap();
                for (q, rep) in self.reps.iter_mut().enumerate() {
                    rep.connected = true;
                    if q == target {
                        rep.role = Some(Role::Primary);
                        for c in &mut rep.copies {
                            c.sync = Some(SyncState::Synchronized);
                            c.suspended = false;
                            c.reason = None;
                        }
                    } else {
                        rep.role = Some(Role::Secondary);
                        for c in &mut rep.copies {
                            if forced {
                                c.suspend(SuspendReason::FromPartner);
                            } else if !c.suspended {
                                c.sync = Some(SyncState::Synchronized);
                            }
                        }
                    }
                }
            }
        }
        let Some(p) = self.primary() else { return };
        for q in 0..self.n() {
            if q == p || !self.reps[q].connected || self.reps[q].role != Some(Role::Secondary) {
                continue;
            }
            let sync = self.both_sync(q, p);
            for d in 0..self.reps[q].copies.len() {
                let source = self.reps[p].copies[d].clone();
                let c = &mut self.reps[q].copies[d];
                if c.fresh {
                    c.fresh = false;
                    continue;
                }
                if c.suspended {
                    continue;
                }
                match c.sync {
                    Some(SyncState::Synchronizing | SyncState::Synchronized) => {
                        c.set_log(source.last_commit_lsn.unwrap_or(0), source.last_commit_time);
                        c.sync = Some(if sync {
                            SyncState::Synchronized
                        } else {
                            SyncState::Synchronizing
                        });
                    }
                    Some(SyncState::Reverting) => {
                        c.set_log(source.last_commit_lsn.unwrap_or(0), source.last_commit_time);
                        c.sync = Some(SyncState::Synchronizing);
                    }
                    _ => c.sync = Some(SyncState::Synchronizing),
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Start {
    world: World,
    journal: Journal,
}

type RawCopy = (u8, u128);

/// A reachable, healthy-enough group with one primary, in random states of repair.
fn arb_start() -> impl Strategy<Value = Start> {
    (2usize..=3)
        .prop_flat_map(|n| {
            let shape = (
                0..n,
                0..n,
                prop_oneof![Just(SpecCluster::Wsfc), Just(SpecCluster::None)],
                0i32..2,
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec(any::<bool>(), n),
                prop::collection::vec((0u8..7, 0u128..3), n * 2),
                prop::collection::vec(0u128..5, 2),
            );
            let history = (
                any::<bool>(),
                any::<bool>(),
                prop::option::weighted(
                    0.5,
                    (
                        prop_oneof![Just(TransitionKind::Failover), Just(TransitionKind::Switchover)],
                        0..n,
                        0..n,
                        any::<bool>(),
                    ),
                ),
                prop::option::weighted(
                    0.3,
                    (
                        arb_kind(),
                        0..n,
                        0..n,
                        any::<bool>(),
                        any::<bool>(),
                        prop::option::of(0i32..2),
                    ),
                ),
                any::<bool>(),
            );
            (Just(n), shape, history)
        })
        .prop_map(|(n, shape, history)| {
            let (p, site, cluster, required, declared, modes, copies, jitter) = shape;
            let (auto_resume, backup, record, stale, garbage) = history;
            let mut spec = spec_of(n, cluster, site);
            for (r, replica) in spec.replicas.iter_mut().enumerate() {
                replica.availability_mode = if declared[r] {
                    crate::api::availability_group::AvailabilityMode::SynchronousCommit
                } else {
                    crate::api::availability_group::AvailabilityMode::AsynchronousCommit
                };
            }
            spec.auto_resume = auto_resume;
            spec.backup_before_failback = backup.then(|| BackupTarget {
                directory: "/backups".into(),
            });
            let mut w = World::with_spec(spec);
            w.required_sync = Some(required);
            let heads: Vec<u128> = (0..2).map(|d| 1000 + 10 * d as u128 + jitter[d]).collect();
            for r in 0..n {
                let rep = &mut w.reps[r];
                rep.mode = mode_of(modes[r]);
                rep.connected = true;
                rep.role = Some(if r == p { Role::Primary } else { Role::Secondary });
                for d in 0..2 {
                    let head = heads[d];
                    let c = &mut rep.copies[d];
                    if r == p {
                        *c = DbCopy::at(SyncState::Synchronized, head, commit_time_of(head));
                        continue;
                    }
                    let (kind, back): RawCopy = copies[r * 2 + d];
                    let behind = head - back;
                    *c = match kind {
                        0 => DbCopy::at(SyncState::Synchronized, head, commit_time_of(head)),
                        1 => DbCopy::at(SyncState::Synchronizing, behind, commit_time_of(behind)),
                        2 => {
                            let mut c = DbCopy::at(SyncState::NotSynchronizing, behind, commit_time_of(behind));
                            c.suspend(SuspendReason::FromUser);
                            c
                        }
                        3 => {
                            let ahead = head + back;
                            let mut c = DbCopy::at(SyncState::NotSynchronizing, ahead, commit_time_of(ahead));
                            c.suspend(SuspendReason::FromPartner);
                            c
                        }
                        4 => DbCopy::at(SyncState::Reverting, behind, commit_time_of(behind)),
                        5 => DbCopy::at(SyncState::Initializing, behind, commit_time_of(behind)),
                        _ => DbCopy::at(SyncState::NotSynchronizing, behind, commit_time_of(behind)),
                    };
                }
            }
            let mut journal = Journal::default();
            if let Some((kind, from, to, measured)) = record {
                let unmeasured = kind == TransitionKind::Failover && !measured;
                if unmeasured && from != p {
                    // A former primary that came back after a forced failover: every copy suspended
                    // by its partner, possibly with commits beyond the fork.
                    for (c, &head) in w.reps[from].copies.iter_mut().zip(&heads) {
                        let lsn = c.last_commit_lsn.unwrap_or(head).max(head - 1);
                        c.set_log(lsn, Some(commit_time_of(lsn)));
                        c.suspend(SuspendReason::FromPartner);
                    }
                }
                journal.last_failover = Some(FailoverRecord {
                    kind,
                    from_site: Some(SITES[from].into()),
                    from_replica: Some(NAMES[from].into()),
                    to_site: SITES[to].into(),
                    to_replica: NAMES[to].into(),
                    started_at: Time(later(-3600)),
                    finished_at: Time(later(-3500)),
                    fork: (0..2)
                        .map(|d| LogPoint {
                            database: DBS[d].into(),
                            lsn: Some((heads[d] - 1).to_string()),
                            commit_time: utc(commit_time_of(heads[d] - 1)),
                        })
                        .collect(),
                    data_loss: (!unmeasured).then(|| DataLoss {
                        seconds: Some(0),
                        ..DataLoss::default()
                    }),
                });
            }
            if let Some((kind, to, from, failover_issued, demoted, before)) = stale {
                journal.transition = Some(Transition {
                    kind,
                    to_site: SITES[to].into(),
                    to_replica: NAMES[to].into(),
                    from_site: Some(SITES[from].into()),
                    from_replica: Some(NAMES[from].into()),
                    started_at: Time(later(-7200)),
                    backups: Vec::new(),
                    required_synchronized_before: before,
                    demoted,
                    failover_issued,
                    fork: Vec::new(),
                    confirmed_token: None,
                });
            }
            if garbage {
                journal.primary_lost = Some(snapshot_of_a(t(11, 0, 0)));
            }
            Start { world: w, journal }
        })
}

/// Runs the planner against the model until Steady; the trace of steps on failure.
fn converge(start: &Start) -> Result<(), TestCaseError> {
    let mut w = start.world.clone();
    let mut journal = start.journal.clone();
    let mut seen: Option<PrimarySnapshot> = None;
    let mut trace = Vec::new();
    for i in 0..30 {
        let at = later(5 * i);
        let plan = w.plan(&journal, at, None, seen.as_ref());
        check_plan(&w, &journal, &plan, None, None)?;
        if plan.primary_seen.is_some() {
            seen = plan.primary_seen.clone();
        }
        match &plan.next {
            Next::Steady => {
                let p = w.primary();
                prop_assert!(p.is_some());
                prop_assert_eq!(&w.spec.replicas[p.unwrap()].site, &w.spec.primary_site);
                for (r, replica) in w.spec.replicas.iter().enumerate() {
                    let want = AvailabilityMode::from(CommitMode::from(replica.availability_mode));
                    prop_assert_eq!(
                        &w.reps[r].mode,
                        &want,
                        "steady with {}'s mode not declared",
                        replica.server_name
                    );
                }
                prop_assert!(plan.journal.transition.is_none(), "steady with a transition open");
                return Ok(());
            }
            Next::Act(step) => {
                trace.push(step.command.to_string());
                if let Err(e) = w.apply(&step.command) {
                    return Err(TestCaseError::fail(format!(
                        "SQL Server would refuse {}: {e}; trace {trace:?}",
                        step.command
                    )));
                }
                journal = step.after.clone();
            }
            Next::Wait(r) => {
                trace.push(format!("wait: {r}"));
                journal = plan.journal.clone();
            }
            Next::Blocked(r) => {
                return Err(TestCaseError::fail(format!("blocked: {r}; trace {trace:?}")));
            }
        }
        w.tick();
    }
    Err(TestCaseError::fail(format!(
        "no Steady within 30 polls; trace {trace:?}"
    )))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// From any reachable group with a primary, following the plan reaches Steady at the
    /// desired site with the declared modes, within 30 polls.
    #[test]
    fn following_the_plan_converges(start in arb_start()) {
        converge(&start)?;
    }
}

#[test]
fn the_model_converges_for_the_fixture_switchover_and_back() {
    for site in ["site-b", "site-a"] {
        for cluster in [SpecCluster::Wsfc, SpecCluster::None] {
            let w = World::new().spec_edit(|s| {
                s.primary_site = site.into();
                s.cluster_type = cluster;
            });
            converge(&Start {
                world: w,
                journal: Journal::default(),
            })
            .unwrap();
        }
    }
}

// ---------------------------------------------------------------------------
// Regressions: one per planner bug these tests found.
// ---------------------------------------------------------------------------

/// Cluster type NONE after the demote: sql-a SECONDARY, sql-b complete, neither primary.
fn demoted_none() -> (World, Journal) {
    let w = World::new()
        .spec_edit(|s| {
            s.cluster_type = SpecCluster::None;
            s.primary_site = "site-b".into();
        })
        .rep(0, |r| {
            r.role = Some(Role::Secondary);
            r.connected = false;
        })
        .rep(1, |r| r.connected = false)
        .copies(1, |c| c.sync = Some(SyncState::NotSynchronizing));
    let journal = Journal {
        transition: Some(Transition {
            kind: TransitionKind::Switchover,
            to_site: "site-b".into(),
            to_replica: "sql-b".into(),
            from_site: Some("site-a".into()),
            from_replica: Some("sql-a".into()),
            started_at: Time(now()),
            backups: Vec::new(),
            required_synchronized_before: Some(0),
            demoted: true,
            failover_issued: false,
            fork: Vec::new(),
            confirmed_token: None,
        }),
        ..Journal::default()
    };
    (w, journal)
}

#[test]
fn the_lossless_force_after_a_demote_keeps_the_forced_failover_guards() {
    let (w, journal) = demoted_none();
    let p = w.plan(&journal, now(), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    for state in [SyncState::Reverting, SyncState::Initializing] {
        let bad = w.clone().rep(1, |r| r.copies[0].sync = Some(state.clone()));
        let p = bad.plan(&journal, now(), None, None);
        assert!(is_wait(&p), "{state}: {:?}", p.next);
    }
    let p = w.clone().rep(1, |r| r.role = None).plan(&journal, now(), None, None);
    assert!(is_wait(&p), "no role: {:?}", p.next);
    // Still connected: some primary drover cannot see exists.
    let p = w.rep(1, |r| r.connected = true).plan(&journal, now(), None, None);
    assert!(is_wait(&p) && reason(&p).contains("two primaries"), "{:?}", p.next);
}

#[test]
fn a_force_that_did_not_hold_is_issued_again_after_the_next_demote() {
    // The journal says sql-b was forced, but sql-a is PRIMARY again (say, forced back by hand).
    let (w, mut journal) = demoted_none();
    if let Some(t) = journal.transition.as_mut() {
        t.failover_issued = true;
    }
    let w = w
        .rep(0, |r| {
            r.role = Some(Role::Primary);
            r.connected = true;
            r.mode = AvailabilityMode::SynchronousCommit;
        })
        .rep(1, |r| {
            r.connected = true;
            r.mode = AvailabilityMode::SynchronousCommit;
        })
        .copies(1, |c| c.sync = Some(SyncState::Synchronized));
    let mut w = w;
    w.required_sync = Some(1);
    let p = w.plan(&journal, now(), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::DemoteToSecondary { group: ag() })
    );
    assert!(!transition(&p.journal).failover_issued);
    let journal = step(&p).after.clone();
    let w = w
        .rep(0, |r| {
            r.role = Some(Role::Secondary);
            r.connected = false;
        })
        .rep(1, |r| r.connected = false);
    let p = w.plan(&journal, later(5), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
}

#[test]
fn the_unknown_loss_of_a_never_seen_primary_is_not_zero() {
    let p = outage().plan(&Journal::default(), now(), None, None);
    let estimate = p.estimate.clone().expect("estimate");
    assert_eq!(estimate.known_loss_seconds, None);
    assert!(estimate.unknown_since.is_none() && estimate.primary_unreachable);
    assert_eq!(
        p.journal.confirmation.as_ref().expect("request").known_loss_seconds,
        None
    );
    assert!(reason(&p).contains("unknown"), "{}", reason(&p));
}

#[test]
fn a_demoted_former_primary_is_not_resumed_before_an_earlier_forced_failovers_loss_is_measured() {
    // An older forced failover away from sql-a whose loss is not measured (the fork has no LSN),
    // and a NONE switchover from sql-a that demoted it.
    let (w, mut journal) = demoted_none();
    journal.last_failover = Some(FailoverRecord {
        kind: TransitionKind::Failover,
        from_site: Some("site-a".into()),
        from_replica: Some("sql-a".into()),
        to_site: "site-b".into(),
        to_replica: "sql-b".into(),
        started_at: Time(later(-7200)),
        finished_at: Time(later(-7100)),
        fork: DBS
            .iter()
            .map(|d| LogPoint {
                database: (*d).into(),
                lsn: None,
                commit_time: None,
            })
            .collect(),
        data_loss: None,
    });
    let w = w
        .rep(1, |r| {
            r.role = Some(Role::Primary);
            r.connected = true;
        })
        .rep(0, |r| r.connected = true)
        .copies(0, |c| c.suspend(SuspendReason::FromPartner));
    let mut w = w;
    w.required_sync = Some(1);
    // First the setting is restored; the resume the runbook would do next is held back.
    let p = w.plan(&journal, now(), None, None);
    assert_eq!(
        step(&p).command,
        cmd(
            "sql-b",
            Action::SetRequiredSynchronizedSecondaries { group: ag(), count: 0 }
        )
    );
    assert!(p.journal.last_failover.as_ref().unwrap().data_loss.is_none());
    let journal = step(&p).after.clone();
    w.required_sync = Some(0);
    let p = w.plan(&journal, later(5), None, None);
    assert_eq!(
        p.next,
        Next::Steady,
        "sql-a is not resumed by the switchover's finishing steps"
    );
    assert!(p.degraded.iter().any(|m| m.contains("sql-a")), "{:?}", p.degraded);
}

#[test]
fn a_journalled_transition_from_a_replica_that_is_no_longer_primary_is_started_afresh() {
    // Three replicas, NONE: the journal holds a switch to sql-c from sql-a, but sql-b is primary now.
    let mut spec = spec_of(3, SpecCluster::None, 2);
    spec.replicas[1].availability_mode = crate::api::availability_group::AvailabilityMode::SynchronousCommit;
    spec.replicas[2].availability_mode = crate::api::availability_group::AvailabilityMode::SynchronousCommit;
    let w = World::with_spec(spec)
        .rep(0, |r| r.role = Some(Role::Secondary))
        .rep(1, |r| {
            r.role = Some(Role::Primary);
            r.mode = AvailabilityMode::SynchronousCommit;
        })
        .rep(2, |r| r.mode = AvailabilityMode::SynchronousCommit)
        .copies(2, |c| c.sync = Some(SyncState::Synchronized));
    let journal = Journal {
        transition: Some(Transition {
            kind: TransitionKind::Switchover,
            to_site: "site-c".into(),
            to_replica: "sql-c".into(),
            from_site: Some("site-a".into()),
            from_replica: Some("sql-a".into()),
            started_at: Time(later(-3600)),
            backups: Vec::new(),
            required_synchronized_before: None,
            demoted: false,
            failover_issued: false,
            fork: Vec::new(),
            confirmed_token: None,
        }),
        ..Journal::default()
    };
    let p = w.plan(&journal, now(), None, None);
    let tr = transition(&p.journal);
    assert_eq!(tr.from_replica.as_deref(), Some("sql-b"));
    assert_eq!(tr.started_at, Time(now()));
    assert_eq!(
        step(&p).command,
        cmd(
            "sql-b",
            Action::SetRequiredSynchronizedSecondaries { group: ag(), count: 1 }
        )
    );
}
