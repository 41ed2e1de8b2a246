//! Never two writers: a forced failover needs evidence that the old primary cannot commit, or a
//! person's word; under NONE a forced-out old primary that comes back PRIMARY is demoted.

use super::scenarios::{automatic, outage};
use super::*;

/// NONE after a forced failover to sql-b: sql-a has come back and reports PRIMARY too.
fn stale_none() -> (World, Journal) {
    let w = World::new()
        .spec_edit(|s| {
            s.cluster_type = SpecCluster::None;
            s.primary_site = Some("site-b".into());
        })
        .rep(1, |r| {
            r.role = Some(Role::Primary);
            r.connected = false;
        })
        .rep(0, |r| r.connected = false);
    let journal = Journal {
        last_failover: Some(FailoverRecord {
            kind: TransitionKind::Failover,
            from_site: Some("site-a".into()),
            from_replica: Some("sql-a".into()),
            to_site: "site-b".into(),
            to_replica: "sql-b".into(),
            started_at: Time(later(-60)),
            finished_at: Time(later(-50)),
            fork: Vec::new(),
            data_loss: None,
            discard_confirmed: None,
            resume_demoted: false,
        }),
        ..Journal::default()
    };
    (w, journal)
}

#[test]
fn under_none_the_stale_primary_named_by_the_journal_is_demoted_at_once() {
    let (w, journal) = stale_none();
    let p = w.plan(&journal, now(), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::DemoteToSecondary { group: ag() })
    );
    assert!(step(&p).reason.contains("came back PRIMARY"), "{}", step(&p).reason);
    assert_eq!(p.phase, Phase::Degraded);
    // Whatever the desired site says: sql-a is stale even when primarySite points back at it.
    let back = w.clone().spec_edit(|s| s.primary_site = Some("site-a".into()));
    let p = back.plan(&journal, now(), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::DemoteToSecondary { group: ag() })
    );
}

#[test]
fn a_forced_failover_journalled_but_not_finished_also_tells_the_stale_one() {
    let (w, _) = stale_none();
    let journal = Journal {
        transition: Some(Transition {
            kind: TransitionKind::Failover,
            to_site: "site-b".into(),
            to_replica: "sql-b".into(),
            from_site: Some("site-a".into()),
            from_replica: Some("sql-a".into()),
            started_at: Time(later(-60)),
            backups: Vec::new(),
            required_synchronized_before: None,
            demoted: false,
            failover_issued: true,
            fork: snapshot_of_a(t(11, 59, 50)).databases,
            confirmed_token: Some("token".into()),
            withheld_confirmation: None,
        }),
        ..Journal::default()
    };
    let p = w.plan(&journal, now(), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::DemoteToSecondary { group: ag() })
    );
}

#[test]
fn two_primaries_with_nothing_to_tell_them_apart_are_reported_not_touched() {
    let (w, _) = stale_none();
    let p = w.plan(&Journal::default(), now(), None, None);
    assert!(is_blocked(&p), "{:?}", p.next);
    assert!(reason(&p).contains("SET (ROLE = SECONDARY)"), "{}", reason(&p));
    // Under WSFC and EXTERNAL the cluster manager owns the roles: never demoted by drover.
    let (w, journal) = stale_none();
    for cluster in [SpecCluster::Wsfc, SpecCluster::External] {
        let other = w.clone().spec_edit(|s| s.cluster_type = cluster);
        let p = other.plan(&journal, now(), None, None);
        assert!(is_blocked(&p), "{cluster:?}: {:?}", p.next);
    }
}

#[test]
fn the_demoted_stale_primary_is_not_resumed_before_its_tail_is_measured() {
    // After the demotion: sql-a SECONDARY, its copies suspended with commits beyond the fork.
    let (w, mut journal) = stale_none();
    let fork = snapshot_of_a(t(11, 59, 50)).databases;
    let fork: Vec<LogPoint> = fork
        .into_iter()
        .map(|mut f| {
            f.lsn = Some("990".into());
            f
        })
        .collect();
    journal.last_failover.as_mut().unwrap().fork = fork;
    let w = w
        .spec_edit(|s| s.auto_resume = true)
        .rep(0, |r| r.role = Some(Role::Secondary))
        .copies(0, |c| c.suspend(SuspendReason::FromPartner));
    let p = w.plan(&journal, now(), None, None);
    let loss = p.journal.last_failover.as_ref().unwrap().data_loss.clone();
    let loss = loss.expect("measured from the suspended copies");
    assert!(
        loss.databases.iter().all(|d| d.from_lsn == "990" && d.to_lsn == "1000"),
        "{loss:?}"
    );
}

#[test]
fn confirm_says_plainly_that_an_unreachable_old_primary_may_still_take_writes() {
    let w = outage();
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert_eq!(p.phase, Phase::AwaitingConfirmation);
    assert!(
        reason(&p).contains("cannot tell whether sql-a still accepts writes"),
        "{}",
        reason(&p)
    );
    assert_eq!(p.estimate.as_ref().unwrap().old_primary_fenced, None);
    // sql-a answers and reports SECONDARY: the warning goes, the estimate says why.
    let seen = w.rep(0, |r| {
        r.reachable = true;
        r.role = Some(Role::Secondary);
        r.connected = false;
    });
    let p = seen.plan(&p.journal, now(), None, None);
    assert!(!reason(&p).contains("cannot tell"), "{}", reason(&p));
    assert!(p.estimate.unwrap().old_primary_fenced.unwrap().contains("SECONDARY"));
}

#[test]
fn automatic_without_evidence_waits_its_bound_then_asks_a_person() {
    let w = outage().spec_edit(automatic(60, 30));
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert!(is_wait(&p), "{:?}", p.next);
    assert!(p.journal.confirmation.is_none(), "asked before minUnreachableSeconds");
    let p = w.plan(&p.journal, later(60), None, None);
    assert_eq!(p.phase, Phase::AwaitingConfirmation);
    assert!(
        reason(&p).contains("policy Automatic forces alone only when"),
        "{}",
        reason(&p)
    );
    assert!(p.journal.confirmation.is_some());
}

#[test]
fn the_declared_required_synchronized_secondaries_is_set_only_once_they_are_synchronized() {
    let w = World::new()
        .spec_edit(|s| {
            s.required_synchronized_secondaries = Some(1);
            for r in &mut s.replicas {
                r.availability_mode = crate::api::availability_group::AvailabilityMode::SynchronousCommit;
            }
        })
        .rep(0, |r| r.mode = AvailabilityMode::SynchronousCommit)
        .rep(1, |r| r.mode = AvailabilityMode::SynchronousCommit);
    // sql-b is SYNCHRONIZING, not SYNCHRONIZED: requiring it now would stop every commit.
    let p = w.plan0();
    assert_eq!(p.next, Next::Steady);
    assert!(
        p.degraded.iter().any(|d| d.contains("would stop every commit")),
        "{:?}",
        p.degraded
    );
    let synced = w.copies(1, |c| c.sync = Some(SyncState::Synchronized));
    let p = synced.plan0();
    assert_eq!(
        step(&p).command,
        cmd(
            "sql-a",
            Action::SetRequiredSynchronizedSecondaries { group: ag(), count: 1 }
        )
    );
    let mut done = synced.clone();
    done.required_sync = Some(1);
    assert_eq!(done.plan0().next, Next::Steady);
}

#[test]
fn required_synchronized_secondaries_is_evidence_the_cut_off_primary_cannot_commit() {
    // sql-a unreachable; sql-b (the only synchronous secondary) cut off from it, and the group's
    // configuration requires one synchronized secondary: sql-a cannot commit without sql-b.
    let mut w = outage().spec_edit(automatic(10, 30));
    w.required_sync = Some(1);
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let p = w.plan(&p.journal, later(10), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    let fenced = p.estimate.clone().unwrap().old_primary_fenced.unwrap();
    assert!(
        fenced.contains("REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = 1"),
        "{fenced}"
    );
    // Under Confirm the text says no acknowledged commit is lost, and no unfenced warning.
    let mut c = outage();
    c.required_sync = Some(1);
    let p = c.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert!(reason(&p).contains("no acknowledged commit is lost"), "{}", reason(&p));
    assert!(!reason(&p).contains("cannot tell"), "{}", reason(&p));
    // A third, synchronous replica that could still acknowledge sql-a's commits: no evidence.
    let mut three = World::with_spec({
        let mut s = fixtures::spec();
        s.replicas.push(third_replica());
        s.replicas[2].availability_mode = crate::api::availability_group::AvailabilityMode::SynchronousCommit;
        s.primary_site = Some("site-b".into());
        s
    })
    .rep(0, |r| r.reachable = false)
    .rep(1, |r| r.connected = false)
    .rep(2, |r| {
        r.connected = false;
        r.mode = AvailabilityMode::SynchronousCommit;
    });
    three.required_sync = Some(1);
    let p = three.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert_eq!(p.estimate.unwrap().old_primary_fenced, None);
}

#[test]
fn a_wsfc_target_without_quorum_is_never_forced_and_the_remediation_is_named() {
    let w = outage().rep(1, |r| r.quorum = None);
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert!(is_blocked(&p), "{:?}", p.next);
    assert!(reason(&p).contains("-FixQuorum"), "{}", reason(&p));
    assert!(p.estimate.is_some(), "the estimate is still shown");
    // Not even with a token the person had from before.
    let token = outage()
        .plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))))
        .journal
        .confirmation
        .unwrap()
        .token;
    let p = w.plan(&p.journal, later(5), Some(&token), None);
    assert!(is_blocked(&p), "{:?}", p.next);
}

#[test]
fn normal_quorum_with_the_old_primarys_node_down_is_evidence_forced_quorum_is_not() {
    let down = outage().spec_edit(automatic(10, 30)).rep(0, |r| r.node_up = false);
    let p = down.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let p = down.plan(&p.journal, later(10), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    let why = p.estimate.unwrap().old_primary_fenced.unwrap();
    assert!(why.contains("node-0 DOWN"), "{why}");
    // The same under forced quorum: the other side may have forced its own; a person decides.
    let forced = down.rep(1, |r| r.quorum = Some(QuorumState::Forced));
    let p = forced.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let p = forced.plan(&p.journal, later(10), None, None);
    assert_eq!(p.phase, Phase::AwaitingConfirmation, "{:?}", p.next);
    // Its node still UP in the target's view (a partition drover alone suffers): no evidence.
    let up = outage().spec_edit(automatic(10, 30));
    let p = up.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let p = up.plan(&p.journal, later(10), None, None);
    assert_eq!(p.phase, Phase::AwaitingConfirmation, "{:?}", p.next);
}

#[test]
fn a_switch_under_forced_quorum_is_made_by_force_onto_the_synchronized_target() {
    // Failback after forced quorum: everything synchronous and SYNCHRONIZED, the cluster forced.
    let w = World::new()
        .spec_edit(|s| s.primary_site = Some("site-b".into()))
        .rep(0, |r| r.mode = AvailabilityMode::SynchronousCommit)
        .rep(1, |r| {
            r.mode = AvailabilityMode::SynchronousCommit;
            r.quorum = Some(QuorumState::Forced);
        })
        .copies(1, |c| c.sync = Some(SyncState::Synchronized));
    let p = w.plan0();
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    assert!(step(&p).reason.contains("41125"), "{}", step(&p).reason);
    assert!(transition(&step(&p).after).failover_issued);
    // Under normal quorum the ordinary planned FAILOVER.
    let normal = w.rep(1, |r| r.quorum = Some(QuorumState::Normal));
    assert_eq!(
        step(&normal.plan0()).command,
        cmd("sql-b", Action::PlannedFailover { group: ag() })
    );
}
