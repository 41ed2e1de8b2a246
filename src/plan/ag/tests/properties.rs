//! Properties over random observations and journals: the safety invariants and totality.

use super::*;
#[allow(unused_imports)]
use super::{model::*, scenarios::*};

// Properties over random observations and journals.

pub(super) const NAMES: [&str; 3] = ["sql-a", "sql-b", "sql-c"];
pub(super) const SITES: [&str; 3] = ["site-a", "site-b", "site-c"];
pub(super) const DBS: [&str; 2] = ["config", "log"];

pub(super) fn spec_of(n: usize, cluster: SpecCluster, site: usize) -> AvailabilityGroupSpec {
    let mut spec = fixtures::spec();
    if n == 3 {
        spec.replicas.push(third_replica());
    }
    spec.cluster_type = cluster;
    spec.primary_site = Some(SITES[site].into());
    spec
}

pub(super) fn arb_sync() -> impl Strategy<Value = Option<SyncState>> {
    prop_oneof![
        3 => Just(Some(SyncState::Synchronized)),
        3 => Just(Some(SyncState::Synchronizing)),
        2 => Just(Some(SyncState::NotSynchronizing)),
        1 => Just(Some(SyncState::Reverting)),
        1 => Just(Some(SyncState::Initializing)),
        1 => Just(None),
    ]
}

pub(super) fn arb_reason() -> impl Strategy<Value = SuspendReason> {
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

pub(super) fn arb_role() -> impl Strategy<Value = Option<Role>> {
    prop_oneof![
        3 => Just(Some(Role::Primary)),
        4 => Just(Some(Role::Secondary)),
        1 => Just(Some(Role::Resolving)),
        1 => Just(None),
    ]
}

pub(super) fn mode_of(sync: bool) -> AvailabilityMode {
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
        quorum in prop_oneof![
            4 => Just(Some(QuorumState::Normal)),
            1 => Just(Some(QuorumState::Forced)),
            1 => Just(None),
        ],
        node_up in prop::bool::weighted(0.8),
    ) -> Rep {
        Rep {
            quorum,
            node_up,
            reachable,
            actual_name: wrong_server.then(|| "sql-x".to_string()),
            role,
            connected,
            mode: mode_of(sync),
            copies,
        }
    }
}

pub(super) fn arb_cluster() -> impl Strategy<Value = SpecCluster> {
    prop_oneof![
        3 => Just(SpecCluster::Wsfc),
        3 => Just(SpecCluster::None),
        1 => Just(SpecCluster::External),
    ]
}

pub(super) fn arb_policy() -> impl Strategy<Value = ForcePolicy> {
    prop_oneof![
        Just(ForcePolicy::Never),
        Just(ForcePolicy::Confirm),
        Just(ForcePolicy::Automatic),
    ]
}

pub(super) fn arb_kind() -> impl Strategy<Value = TransitionKind> {
    prop_oneof![
        Just(TransitionKind::Switchover),
        Just(TransitionKind::Failover),
        Just(TransitionKind::Failback),
    ]
}

/// Log points of the two databases, committed within 11:59:xx.
pub(super) fn arb_points() -> impl Strategy<Value = Vec<LogPoint>> {
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

pub(super) fn arb_transition(n: usize) -> impl Strategy<Value = Transition> {
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
                withheld_confirmation: None,
            },
        )
}

pub(super) fn arb_lost(n: usize) -> impl Strategy<Value = PrimarySnapshot> {
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

pub(super) fn arb_record(n: usize) -> impl Strategy<Value = FailoverRecord> {
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
            discard_confirmed: None,
            resume_demoted: false,
        })
}

pub(super) fn arb_seen(n: usize) -> impl Strategy<Value = PrimarySnapshot> {
    (0..n, arb_points()).prop_map(|(r, databases)| PrimarySnapshot {
        replica: Some(NAMES[r].into()),
        site: Some(SITES[r].into()),
        detected_at: None,
        last_seen: Some(Time(later(-10))),
        databases,
    })
}

#[derive(Debug, Clone)]
pub(super) struct Case {
    world: World,
    journal: Journal,
    seen: Option<PrimarySnapshot>,
    /// 0: no annotation; 1: a token that is not the current one; 2: the current token.
    annotation: u8,
}

pub(super) fn arb_case() -> impl Strategy<Value = Case> {
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
                    discard: None,
                    hooks: Vec::new(),
                },
                seen,
                annotation,
            }
        })
}

/// One reachable primary away from the desired site; the target SECONDARY, synchronous,
/// SYNCHRONIZED, each with probability 0.85.
pub(super) fn arb_planned_case() -> impl Strategy<Value = Case> {
    (arb_case(), prop::collection::vec(prop::bool::weighted(0.85), 8)).prop_map(|(mut c, b)| {
        let w = &mut c.world;
        let n = w.n();
        let target = w
            .site_index(w.spec.primary_site.as_deref().unwrap_or_default())
            .unwrap();
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
pub(super) fn arb_forced_case() -> impl Strategy<Value = Case> {
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
            let target = w
                .site_index(w.spec.primary_site.as_deref().unwrap_or_default())
                .unwrap();
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
                    withheld_confirmation: None,
                });
            } else if c.journal.transition.as_ref().is_some_and(|t| t.failover_issued) && b[5] {
                c.journal.transition = None;
            }
            c
        })
}

pub(super) fn end_of_log(c: &DbCopy) -> Option<u128> {
    c.end_of_log_lsn.or(c.last_hardened_lsn)
}

/// Case (c): cluster type NONE, a journalled planned transition to `r` whose old primary is
/// reachable, reports SECONDARY, and has no log `r` lacks.
pub(super) fn lossless_after_demote(w: &World, journal: &Journal, r: usize) -> bool {
    let Some(tr) = &journal.transition else { return false };
    let forward = tr.to_replica.eq_ignore_ascii_case(w.name(r));
    // Or back onto the demoted replica, when primarySite was set back before anything was forced.
    let back = tr.demoted
        && !tr.failover_issued
        && tr
            .from_replica
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(w.name(r)));
    let other = if forward {
        tr.from_replica.as_deref()
    } else {
        Some(tr.to_replica.as_str())
    };
    let Some(old) = other.and_then(|n| w.index(n)) else {
        return false;
    };
    w.spec.cluster_type == SpecCluster::None
        && tr.kind != TransitionKind::Failover
        && (forward || back)
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
pub(super) fn known_loss(w: &World, lost: &PrimarySnapshot, r: usize) -> Option<i64> {
    let mut worst = 0;
    for (d, name) in w.spec.databases.iter().enumerate() {
        let point = lost.databases.iter().find(|p| p.database == *name)?;
        let theirs = point.commit_time.as_ref()?;
        let mine = utc(w.reps[r].copy(d).last_commit_time?)?;
        worst = worst.max(theirs.0.duration_since(mine.0).as_secs().max(0));
    }
    Some(worst)
}

/// Whether the lost primary answers and reports it is no longer primary: the evidence policy
/// Automatic needs to force alone (the model has no WSFC quorum).
/// Or: REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = n and fewer than n other replicas (besides
/// the cut-off target) that could be synchronous.
fn old_primary_fenced(w: &World, journal: &Journal, target: usize) -> bool {
    let Some(o) = journal
        .primary_lost
        .as_ref()
        .and_then(|l| l.replica.as_deref())
        .and_then(|n| w.index(n))
    else {
        return false;
    };
    let says_not_primary = w.usable(o) && w.reps[o].role.as_ref().is_some_and(|r| *r != Role::Primary);
    let n = w.required_sync.unwrap_or(0);
    let others = (0..w.n())
        .filter(|&r| r != o && r != target)
        .filter(|&r| !w.usable(r) || w.reps[r].mode == AvailabilityMode::SynchronousCommit)
        .count();
    let needs_target = w.usable(target) && n >= 1 && !w.reps[target].connected && (others as i32) < n;
    let minority = w.spec.cluster_type == SpecCluster::Wsfc
        && w.usable(target)
        && w.reps[target].quorum == Some(QuorumState::Normal)
        && !w.reps[o].node_up;
    says_not_primary || needs_target || minority
}

/// A WSFC switch onto `r` that loses nothing: one primary, both synchronous, every database on
/// the target SYNCHRONIZED, and the target the desired site's replica.
fn lossless_switch(w: &World, r: usize, target: Option<usize>) -> Result<(), TestCaseError> {
    let p = w.primary();
    prop_assert!(p.is_some(), "a switch without a single primary");
    let p = p.unwrap();
    let rep = &w.reps[r];
    prop_assert_eq!(w.spec.cluster_type, SpecCluster::Wsfc);
    prop_assert_eq!(Some(r), target);
    prop_assert_eq!(&rep.role, &Some(Role::Secondary));
    prop_assert_eq!(&rep.mode, &AvailabilityMode::SynchronousCommit);
    prop_assert_eq!(&w.reps[p].mode, &AvailabilityMode::SynchronousCommit);
    for d in 0..w.spec.databases.len() {
        prop_assert_eq!(&rep.copy(d).sync, &Some(SyncState::Synchronized), "db {}", d);
    }
    Ok(())
}

/// The safety invariants one plan must satisfy. `annotation` is what the plan was given;
/// `token` the current token, as read from a plan made without an annotation.
pub(super) fn check_plan(
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
            prop_assert_eq!(w.spec.primary_site.as_ref(), Some(&w.spec.replicas[primaries[0]].site));
            return Ok(());
        }
        Next::Hook(hook) => {
            // A hook runs only when declared, and only while no primary is seen.
            let declared = w.spec.replica_named(&hook.replica).is_some_and(|r| match hook.hook {
                crate::api::availability_group::AgHook::Fence => r.fence_hook.is_some(),
                crate::api::availability_group::AgHook::ForceQuorum => r.force_quorum_hook.is_some(),
            });
            prop_assert!(declared, "a hook that is not declared: {:?}", hook);
            prop_assert!(primaries.is_empty(), "a hook while a primary is seen");
            return Ok(());
        }
        Next::Act(step) => step,
    };
    if primaries.len() > 1 {
        // The one step allowed with two primaries: NONE's demotion of the stale one, told by the
        // journal of the forced failover that made the other.
        let stale = w.index(&step.command.replica_server_name);
        let fresh = journal
            .last_failover
            .as_ref()
            .filter(|f| f.kind == TransitionKind::Failover)
            .map(|f| f.to_replica.as_str())
            .or_else(|| {
                journal
                    .transition
                    .as_ref()
                    .filter(|t| t.failover_issued && !t.fork.is_empty())
                    .map(|t| t.to_replica.as_str())
            })
            .and_then(|n| w.index(n));
        prop_assert!(
            matches!(step.command.action, Action::DemoteToSecondary { .. })
                && w.spec.cluster_type == SpecCluster::None
                && stale.is_some_and(|s| primaries.contains(&s))
                && fresh.is_some_and(|f| primaries.contains(&f) && Some(f) != stale),
            "acted with two primaries: {:?}",
            step.command
        );
        return Ok(());
    }
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
    let target = w.site_index(w.spec.primary_site.as_deref().unwrap_or_default());
    match &step.command.action {
        Action::SetAvailabilityMode { .. }
        | Action::SetRequiredSynchronizedSecondaries { .. }
        | Action::DemoteToSecondary { .. }
        | Action::CopyOnlyBackup { .. } => {
            prop_assert_eq!(w.primary(), Some(r), "{:?} not on the primary", step.command);
        }
        Action::PlannedFailover { .. } => {
            lossless_switch(w, r, target)?;
            prop_assert!(transition(&step.after).failover_issued);
        }
        // Under forced quorum a planned FAILOVER is refused (41125): the same switch is made by
        // FORCE onto a SYNCHRONIZED synchronous target of a reachable primary, losing nothing.
        Action::ForcedFailover { .. } if !primaries.is_empty() => {
            lossless_switch(w, r, target)?;
            prop_assert_eq!(&rep.quorum, &Some(QuorumState::Forced), "forced with a primary");
        }
        Action::ForcedFailover { .. } => {
            prop_assert!(primaries.is_empty(), "forced with a primary");
            prop_assert!(
                w.spec.cluster_type != SpecCluster::Wsfc || rep.quorum.is_some(),
                "forced onto a WSFC node without quorum"
            );
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
                    // Automatic alone only when the old primary is shown unable to commit;
                    // otherwise only with a person's confirmation.
                    ForcePolicy::Automatic if !old_primary_fenced(w, &plan.journal, r) => {
                        annotation.is_some() && annotation == token
                    }
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
                match policy.policy {
                    ForcePolicy::Automatic if old_primary_fenced(w, &plan.journal, r) => {
                        prop_assert_eq!(tr.confirmed_token.as_deref(), None)
                    }
                    _ => prop_assert_eq!(tr.confirmed_token.as_deref(), annotation),
                }
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
            // Invariant 9: a diverged (or unmeasurable) old primary resumes only with consent,
            // journalled before the statement runs.
            let old_primary = plan.journal.last_failover.as_ref().filter(|f| {
                f.kind == TransitionKind::Failover
                    && f.from_replica
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(w.name(r)))
            });
            if let Some(f) = old_primary
                && let Some(loss) = &f.data_loss
                && !(loss.note.is_none()
                    && loss.databases.iter().all(|l| l.from_lsn == l.to_lsn)
                    && (!loss.databases.is_empty() || loss.seconds == Some(0)))
            {
                let consent = step
                    .after
                    .last_failover
                    .as_ref()
                    .and_then(|f| f.discard_confirmed.as_ref());
                prop_assert!(
                    consent.is_some(),
                    "resumed a diverged old primary without consent: {:?}",
                    loss
                );
                prop_assert!(
                    journal
                        .last_failover
                        .as_ref()
                        .is_some_and(|f| f.discard_confirmed.is_some())
                        || w.discard.as_deref() == consent.map(|c| c.token.as_str()),
                    "consent without the current token"
                );
            }
        }
        other => prop_assert!(false, "the AG planner issued a pool action: {:?}", other),
    }
    Ok(())
}

pub(super) fn check_case(case: &Case) -> Result<(), TestCaseError> {
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
