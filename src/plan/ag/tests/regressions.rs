//! One test per planner bug the other tests found.

use super::*;
#[allow(unused_imports)]
use super::{model::*, properties::*, scenarios::*};

// Regressions: one per planner bug these tests found.

/// Cluster type NONE after the demote: sql-a SECONDARY, sql-b complete, neither primary.
pub(super) fn demoted_none() -> (World, Journal) {
    let w = World::new()
        .spec_edit(|s| {
            s.cluster_type = SpecCluster::None;
            s.primary_site = Some("site-b".into());
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
            withheld_confirmation: None,
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
    // An older forced failover away from sql-a whose loss is not measured yet (sql-a reports no
    // last commit LSN),
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
                lsn: Some("990".into()),
                commit_time: None,
            })
            .collect(),
        data_loss: None,
        discard_confirmed: None,
        resume_demoted: false,
    });
    let w = w
        .rep(1, |r| {
            r.role = Some(Role::Primary);
            r.connected = true;
        })
        .rep(0, |r| r.connected = true)
        .copies(0, |c| {
            c.suspend(SuspendReason::FromPartner);
            c.last_commit_lsn = None;
        });
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
            withheld_confirmation: None,
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

#[test]
fn primary_site_set_back_after_a_none_demote_forces_the_demoted_replica_back() {
    let (w, journal) = demoted_none();
    let w = w.spec_edit(|s| s.primary_site = Some("site-a".into()));
    let p = w.plan(&journal, now(), None, None);
    assert_eq!(step(&p).command, cmd("sql-a", Action::ForcedFailover { group: ag() }));
    // The journal is turned around before the statement runs, so a restart finishes the move
    // back (and resumes sql-b) instead of waiting for sql-b.
    let t = transition(&p.journal);
    assert_eq!(
        (t.to_replica.as_str(), t.from_replica.as_deref()),
        ("sql-a", Some("sql-b"))
    );
    assert!(t.demoted && !t.failover_issued);
    assert!(transition(&step(&p).after).failover_issued);
    assert!(p.journal.primary_lost.is_none() && p.journal.confirmation.is_none());
    // The same guards: sql-a must hold all of sql-b's log.
    let behind = w.rep(0, |r| {
        for c in &mut r.copies {
            c.end_of_log_lsn = c.end_of_log_lsn.map(|l| l - 1);
            c.last_hardened_lsn = c.last_hardened_lsn.map(|l| l - 1);
        }
    });
    let p = behind.plan(&journal, now(), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
}

// No desired site (spec.primarySite left out, or not in force): stay where you are.

#[test]
fn without_a_primary_site_a_group_stays_where_its_primary_is() {
    let w = World::new().spec_edit(|s| s.primary_site = None);
    let p = w.plan0();
    assert_eq!(p.phase, Phase::Steady, "{:?}", p.next);
    assert!(matches!(p.next, Next::Steady), "{:?}", p.next);
    // Steady-state upkeep goes on: a declared mode that drifted is restored on the primary.
    let drifted = w.clone().rep(1, |r| r.mode = AvailabilityMode::SynchronousCommit);
    let p = drifted.plan0();
    assert_eq!(step(&p).command, set_mode("sql-a", "sql-b", CommitMode::Asynchronous));
    assert!(
        p.journal.transition.is_none(),
        "no move begins: {:?}",
        p.journal.transition
    );
}

#[test]
fn without_a_primary_site_a_lost_primary_is_waited_for_never_forced() {
    // Automatic forcing allowed, 10 s of known loss within its bound, sql-a's node DOWN in
    // sql-b's quorum (evidence it cannot commit): with a desired site it forces once the primary
    // has been gone a minute.
    let seen = snapshot_of_a(t(12, 0, 0));
    let forcing = outage().spec_edit(automatic(60, 30)).rep(0, |r| r.node_up = false);
    let journal = forcing.plan(&Journal::default(), now(), None, Some(&seen)).journal;
    let p = forcing.plan(&journal, later(60), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    // Without one, the same world waits, whatever the time, and asks nobody for a confirmation.
    let w = forcing.spec_edit(|s| s.primary_site = None);
    let journal = w.plan(&Journal::default(), now(), None, Some(&seen)).journal;
    for at in [later(60), later(600), later(86_400)] {
        let p = w.plan(&journal, at, None, None);
        assert_eq!(p.phase, Phase::Waiting, "{:?}", p.next);
        assert!(
            matches!(&p.next, Next::Blocked(why) if why == crate::plan::ag::NO_DESIRED_SITE),
            "{:?}",
            p.next
        );
        assert!(p.journal.confirmation.is_none());
        assert!(p.journal.transition.is_none());
    }
}

#[test]
fn a_switchover_whose_desired_site_goes_away_issues_no_failover() {
    let mut w = World::new().spec_edit(|s| s.primary_site = Some("site-b".into()));
    let p = w.plan(&Journal::default(), now(), None, None);
    assert_eq!(step(&p).command, set_mode("sql-a", "sql-b", CommitMode::Synchronous));
    let journal = step(&p).after.clone();
    w.reps[1].mode = AvailabilityMode::SynchronousCommit;
    w = w.copies(1, |c| c.sync = Some(SyncState::Synchronized));
    let w = w.spec_edit(|s| s.primary_site = None);
    let mut journal = journal;
    for i in 0..4 {
        let p = w.plan(&journal, later(i), None, None);
        if let Next::Act(step) = &p.next {
            assert!(
                !matches!(
                    step.command.action,
                    Action::PlannedFailover { .. } | Action::ForcedFailover { .. } | Action::DemoteToSecondary { .. }
                ),
                "{:?}",
                step.command
            );
            journal = step.after.clone();
        } else {
            journal = p.journal.clone();
        }
    }
}

#[test]
fn a_demoted_replica_that_goes_silent_for_a_moment_does_not_turn_the_switch_into_a_failover() {
    // Chaos seed 57: right after the demote sql-a stopped answering for a few seconds; the planner
    // began a forced failover at once, asked for a data-loss token, and the switch never finished.
    let (w, journal) = demoted_none();
    let silent = w.rep(0, |r| r.reachable = false);
    let p = silent.plan(&journal, now(), None, None);
    assert!(is_wait(&p), "{:?}", p.next);
    assert!(reason(&p).contains("was demoted"), "{}", reason(&p));
    let t = transition(&p.journal);
    assert_eq!(t.kind, TransitionKind::Switchover);
    assert!(t.demoted && !t.failover_issued);
    assert!(p.journal.confirmation.is_none());
    // It answers again: the lossless force goes on.
    let (back, _) = demoted_none();
    let p2 = back.plan(&p.journal, later(10), None, None);
    assert_eq!(step(&p2).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    // It stays silent past the grace: the forced-failover path, with its token, is offered.
    let p3 = silent.plan(&p.journal, later(61), None, None);
    assert!(p3.journal.confirmation.is_some(), "{:?}", p3.next);
}

#[test]
fn a_switch_that_finished_without_its_demoted_replica_resumes_it_when_it_answers() {
    // Chaos seeds 54 and 105: the switch finished while sql-a (demoted) did not answer; its
    // suspended copies then waited for a person, as if autoResume governed the runbook's own step.
    let (w, mut journal) = demoted_none();
    if let Some(t) = journal.transition.as_mut() {
        t.failover_issued = true;
    }
    let mut w = w.spec_edit(|s| s.auto_resume = false).rep(1, |r| {
        r.role = Some(Role::Primary);
        r.connected = true;
    });
    w.required_sync = Some(0);
    let gone = w.clone().rep(0, |r| r.reachable = false);
    let p = gone.plan(&journal, now(), None, None);
    let record = p.journal.last_failover.clone().expect("the switch is recorded");
    assert!(record.resume_demoted, "{record:?}");
    assert!(p.journal.transition.is_none());
    assert!(
        p.degraded.iter().any(|m| m.contains("demoted by the last switch")),
        "{:?}",
        p.degraded
    );
    // Chaos seed 132: sql-a answers before the new primary has suspended its copies; nothing to
    // resume yet, and the duty is kept, not dropped.
    let not_yet = w
        .clone()
        .rep(0, |r| r.connected = true)
        .copies(0, |c| c.sync = Some(SyncState::NotSynchronizing));
    let early = not_yet.plan(&p.journal, later(20), None, None);
    assert!(early.journal.last_failover.as_ref().unwrap().resume_demoted);
    // sql-a answers, its copies suspended by the demotion: resumed although autoResume is off.
    let back = w
        .rep(0, |r| r.connected = true)
        .copies(0, |c| c.suspend(SuspendReason::FromPartner));
    let p2 = back.plan(&p.journal, later(30), None, None);
    assert_eq!(
        step(&p2).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db(DBS[0]) })
    );
    assert!(step(&p2).after.last_failover.as_ref().unwrap().resume_demoted);
    // Once nothing is suspended the obligation is dropped: a later suspension is autoResume's.
    let resumed = w_resumed(&back);
    let p3 = resumed.plan(&step(&p2).after, later(40), None, None);
    assert!(!p3.journal.last_failover.unwrap().resume_demoted);
}

fn w_resumed(w: &World) -> World {
    w.clone().copies(0, |c| {
        c.suspended = false;
        c.reason = None;
        c.sync = Some(SyncState::Synchronizing);
    })
}

#[test]
fn a_switch_overtaken_by_a_forced_failover_does_not_replace_its_record() {
    // Chaos seed 54: a switch to sql-b was journalled, then sql-b was forced to primary (site lost);
    // finishing the switch recorded a lossless "Switchover" over the forced failover's record, so
    // the tail it left on sql-a was no longer known when sql-a's copies were resumed.
    let (w, mut journal) = demoted_none();
    if let Some(t) = journal.transition.as_mut() {
        t.demoted = false;
    }
    let forced = FailoverRecord {
        kind: TransitionKind::Failover,
        from_site: Some("site-a".into()),
        from_replica: Some("sql-a".into()),
        to_site: "site-b".into(),
        to_replica: "sql-b".into(),
        started_at: Time(later(-120)),
        finished_at: Time(later(-100)),
        fork: Vec::new(),
        data_loss: Some(DataLoss {
            seconds: Some(33),
            ..DataLoss::default()
        }),
        discard_confirmed: None,
        resume_demoted: false,
    };
    journal.last_failover = Some(forced.clone());
    let mut w = w.rep(1, |r| {
        r.role = Some(Role::Primary);
        r.connected = true;
    });
    w.required_sync = Some(0);
    let p = w.plan(&journal, now(), None, None);
    assert!(p.journal.transition.is_none());
    assert_eq!(p.journal.last_failover, Some(forced));
    assert!(p.notices.contains(&Notice::TransitionOvertaken { to: "sql-b".into() }));
}

#[test]
fn a_demote_whose_journal_was_lost_is_journalled_before_the_force() {
    // Chaos seed 132: the process stopped between SET (ROLE = SECONDARY) and writing the journal;
    // the next one forced the complete target but, not knowing sql-a was demoted, never resumed it.
    let (w, mut journal) = demoted_none();
    if let Some(t) = journal.transition.as_mut() {
        t.demoted = false;
    }
    let p = w.plan(&journal, now(), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    assert!(transition(&p.journal).demoted, "journalled before the force");
}
