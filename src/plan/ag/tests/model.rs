//! A small model of what SQL Server does with each command, and convergence under it.

use super::*;
#[allow(unused_imports)]
use super::{properties::*, scenarios::*};

// The model: what SQL Server does with each command, one tick at a time.

pub(super) fn commit_time_of(lsn: u128) -> civil::DateTime {
    t(11, 0, 0)
        .checked_add(jiff::Span::new().seconds(i64::try_from(lsn).unwrap()))
        .unwrap()
}

impl World {
    pub(super) fn both_sync(&self, a: usize, b: usize) -> bool {
        self.reps[a].mode == AvailabilityMode::SynchronousCommit
            && self.reps[b].mode == AvailabilityMode::SynchronousCommit
    }

    /// Runs `command` as SQL Server would, or refuses it as SQL Server would.
    pub(super) fn apply(&mut self, command: &Command) -> Result<(), String> {
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
            // Persistent Chat pool actions never target an availability group.
            other => return Err(format!("{} is not an availability-group action", other.kind())),
        }
        Ok(())
    }

    /// One poll interval: a role change completes (one tick after it was issued), data moves
    /// on connected, unsuspended secondaries one state at a time.
    pub(super) fn tick(&mut self) {
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
pub(super) struct Start {
    world: World,
    journal: Journal,
}

type RawCopy = (u8, u128);

/// A reachable, healthy-enough group with one primary, in random states of repair.
pub(super) fn arb_start() -> impl Strategy<Value = Start> {
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
                    discard_confirmed: None,
                    resume_demoted: false,
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
                    withheld_confirmation: None,
                });
            }
            if garbage {
                journal.primary_lost = Some(snapshot_of_a(t(11, 0, 0)));
            }
            Start { world: w, journal }
        })
}

/// Runs the planner against the model until Steady; the trace of steps on failure.
pub(super) fn converge(start: &Start) -> Result<(), TestCaseError> {
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
                prop_assert_eq!(w.spec.primary_site.as_ref(), Some(&w.spec.replicas[p.unwrap()].site));
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
            Next::Hook(h) => {
                return Err(TestCaseError::fail(format!(
                    "the model declares no hooks, yet the plan runs {:?}; trace {trace:?}",
                    h.hook
                )));
            }
            // A person answers a discard request (invariant 9) as asked.
            Next::Blocked(_) if plan.phase == Phase::AwaitingConfirmation && plan.journal.discard.is_some() => {
                let token = plan.journal.discard.as_ref().map(|d| d.token.clone());
                trace.push(format!("confirm discard {token:?}"));
                w.discard = token;
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
                s.primary_site = Some(site.into());
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
