//! Every branch of the runbooks, step by step, with the exact commands.

use super::*;
#[allow(unused_imports)]
use super::{model::*, properties::*};

// Steady state.

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

// Planned switchover (WSFC).

#[test]
fn planned_switchover_runs_the_lossless_runbook_in_order() {
    let mut w = World::new().spec_edit(|s| s.primary_site = Some("site-b".into()));

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
    let w = World::new().spec_edit(|s| s.primary_site = Some("site-b".into()));
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
        .spec_edit(|s| s.primary_site = Some("site-b".into()))
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
    let w = World::new().spec_edit(|s| s.primary_site = Some("site-b".into()));
    let journal = step(&w.plan0()).after.clone();
    // The user sets primarySite back before anything changed.
    let back = w.spec_edit(|s| s.primary_site = Some("site-a".into()));
    let p = back.plan(&journal, later(5), None, None);
    assert_eq!(p.next, Next::Steady);
    assert!(p.journal.transition.is_none());
    assert!(p.journal.last_failover.is_none());
    assert!(p.notices.contains(&Notice::TransitionCancelled { to: "sql-b".into() }));
}

// Cluster type NONE: demote, then a verified lossless force.

#[test]
fn cluster_type_none_switches_by_demoting_then_forcing_a_complete_target() {
    let mut w = World::new()
        .spec_edit(|s| {
            s.cluster_type = SpecCluster::None;
            s.primary_site = Some("site-b".into());
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

// EXTERNAL: observed only.

#[test]
fn external_groups_are_never_moved() {
    let w = World::new().spec_edit(|s| {
        s.cluster_type = SpecCluster::External;
        s.primary_site = Some("site-b".into());
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

// Forced failover: sql-a unreachable, primarySite site-b.

/// sql-a gone; sql-b a disconnected SECONDARY whose last commits are at 11:59:50
/// while drover last saw sql-a commit at 12:00:00.
pub(super) fn outage() -> World {
    World::new()
        .spec_edit(|s| s.primary_site = Some("site-b".into()))
        .rep(0, |r| r.reachable = false)
        .rep(1, |r| r.connected = false)
        .copies(1, |c| {
            c.sync = Some(SyncState::NotSynchronizing);
            c.set_log(990, Some(t(11, 59, 50)));
        })
}

pub(super) fn automatic(min: u32, max: u32) -> impl Fn(&mut AvailabilityGroupSpec) {
    move |s| {
        s.forced_failover.policy = ForcePolicy::Automatic;
        s.forced_failover.min_unreachable_seconds = Some(min);
        s.forced_failover.max_data_loss_seconds = Some(max);
    }
}

/// A pending request is never shown without its estimate: while the target cannot be observed
/// the request is withdrawn, and it comes back with the same token once the target answers.
#[test]
fn a_confirmation_request_is_withdrawn_while_the_target_cannot_be_estimated() {
    let w = outage();
    let seen = snapshot_of_a(t(12, 0, 0));
    let p = w.plan(&Journal::default(), now(), None, Some(&seen));
    let request = p.journal.confirmation.clone().expect("a confirmation request");
    let gone = outage().rep(1, |r| r.reachable = false);
    let blind = gone.plan(&p.journal, later(2), None, None);
    assert_eq!(blind.estimate, None, "the target cannot be observed");
    assert_eq!(blind.journal.confirmation, None, "no request without its estimate");
    let back = w.plan(&blind.journal, later(4), None, None);
    assert_eq!(
        back.journal.confirmation.map(|r| r.token),
        Some(request.token),
        "asked again with the same token"
    );
    assert!(back.estimate.is_some());
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
    // 60 s down, 10 s known loss <= 30, but nothing shows sql-a cannot commit (unreachable, no
    // quorum evidence): Automatic does not force alone; it asks a person, saying why.
    let p = w.plan(&journal, later(60), None, None);
    assert!(is_blocked(&p), "{:?}", p.next);
    assert_eq!(p.phase, Phase::AwaitingConfirmation);
    assert!(
        reason(&p).contains("cannot tell whether sql-a still accepts writes"),
        "{}",
        reason(&p)
    );
    assert_eq!(p.estimate.as_ref().unwrap().old_primary_fenced, None);
    let token = p.journal.confirmation.clone().unwrap().token;
    let q = w.plan(&p.journal, later(61), Some(&token), None);
    assert_eq!(step(&q).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    assert_eq!(transition(&q.journal).confirmed_token.as_deref(), Some(token.as_str()));
    // sql-a answers and reports RESOLVING (it lost its role): that is evidence, so it forces alone.
    let fenced = w.clone().rep(0, |r| {
        r.reachable = true;
        r.role = Some(Role::Resolving);
    });
    let p = fenced.plan(&journal, later(60), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    assert_eq!(transition(&p.journal).confirmed_token, None);
    assert_eq!(transition(&p.journal).fork.len(), 2);
    assert!(
        p.estimate
            .as_ref()
            .unwrap()
            .old_primary_fenced
            .as_deref()
            .unwrap()
            .contains("RESOLVING")
    );
    // Known loss above the bound.
    let far = fenced.clone().spec_edit(automatic(60, 5));
    let p = far.plan(&journal, later(60), None, None);
    assert!(
        is_blocked(&p) && reason(&p).contains("maxDataLossSeconds"),
        "{:?}",
        p.next
    );
    assert_eq!(p.phase, Phase::Waiting);
    // Unknown loss: never seen the primary.
    let p = w.plan(&Journal::default(), now(), None, None);
    let p = fenced.plan(&p.journal, later(120), None, None);
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

// After a forced failover: measure the loss before anything resumes the old primary.

/// The forced failover to sql-b, completed: planned through from the outage.
pub(super) fn after_forced_failover() -> (World, Journal) {
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
            .any(|n| matches!(n, Notice::LossMeasured { seconds: Some(10), detail } if detail.contains("(990, 1000]")))
    );
    // Commits beyond the fork: resuming would roll them back (invariant 9), so it waits for a
    // person's consent, showing what would be discarded, where.
    assert_eq!(p.phase, Phase::AwaitingConfirmation, "{:?}", p.next);
    assert!(is_blocked(&p), "{:?}", p.next);
    assert!(p.journal.last_failover.as_ref().unwrap().data_loss.is_some());
    let request = p.journal.discard.clone().expect("a discard request");
    assert_eq!(request.replica, "sql-a");
    assert_eq!(request.databases.len(), 2);
    assert_eq!(
        (
            request.databases[0].from_lsn.as_deref(),
            request.databases[0].to_lsn.as_deref()
        ),
        (Some("990"), Some("1000"))
    );
    assert!(request.databases[0].to_time.is_some());
    assert!(request.message.contains("3062") && request.message.contains("(990, 1000]"));
    assert!(
        request
            .command
            .contains(&format!("drover.dev/confirm-discard={}", request.token))
    );
    assert!(p.notices.iter().any(|n| matches!(
        n,
        Notice::Token {
            notice: TokenNotice::Requested { .. },
            ..
        }
    )));
    // Asked again, the same request (no new Event).
    let again = back.plan(&p.journal, later(21), None, None);
    assert_eq!(again.journal.discard, p.journal.discard);
    assert!(!again.notices.iter().any(|n| matches!(n, Notice::Token { .. })));
    // A wrong token is refused and nothing is resumed.
    let mut asked = back.clone();
    asked.discard = Some("0000deadbeef".into());
    let refused = asked.plan(&p.journal, later(22), None, None);
    assert_eq!(refused.phase, Phase::AwaitingConfirmation);
    assert!(refused.notices.iter().any(|n| matches!(
        n,
        Notice::Token {
            notice: TokenNotice::Refused { .. },
            ..
        }
    )));
    // The right one: resumed, the consent (token, who, when) journalled before the statement runs.
    asked.discard = Some(request.token.clone());
    let go = asked.plan(&p.journal, later(23), None, None);
    assert_eq!(
        step(&go).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("config") })
    );
    let consumed = go.journal.last_failover.as_ref().unwrap().discard_confirmed.clone();
    let consumed = consumed.expect("consent journalled");
    assert_eq!(
        (consumed.token.as_str(), consumed.by.as_str()),
        (request.token.as_str(), "tester")
    );
    assert_eq!(step(&go).after.last_failover, go.journal.last_failover);
    assert!(go.journal.discard.is_none());
    assert!(
        go.notices
            .iter()
            .any(|n| matches!(n, Notice::Token { notice: TokenNotice::Accepted { .. }, by, .. } if by == "tester"))
    );
    // The other database follows without asking again, annotation or not.
    let half = back.clone().rep(0, |r| {
        r.copies[0].suspended = false;
        r.copies[0].sync = Some(SyncState::Synchronizing);
    });
    let next = half.plan(&step(&go).after, later(25), None, None);
    assert_eq!(
        step(&next).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("log") })
    );

    // Unconfirmed for longer than the token lives: a new request (new nonce, new token) replaces
    // it, and the old token is refused as expired.
    let mut late = back.clone();
    late.discard = Some(request.token.clone());
    let expired = late.plan(&p.journal, later(20 + 15 * 60), None, None);
    assert_eq!(
        expired.phase,
        Phase::AwaitingConfirmation,
        "{:?} {:?}",
        expired.next,
        expired.degraded
    );
    let renewed = expired.journal.discard.clone().expect("renewed");
    assert_ne!(renewed.token, request.token);
    assert_eq!(
        renewed.issued.as_ref().and_then(|i| i.replaced_token.as_deref()),
        Some(request.token.as_str())
    );
    assert!(expired.notices.iter().any(|n| matches!(
        n,
        Notice::Token {
            notice: TokenNotice::Renewed { .. },
            ..
        }
    )));
    assert!(expired.notices.iter().any(
        |n| matches!(n, Notice::Token { notice: TokenNotice::Refused { reason, .. }, .. } if reason.contains("expired"))
    ));

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
    let loss = p.journal.last_failover.clone().unwrap().data_loss.expect("measured");
    assert_eq!(loss.seconds, Some(0));
    assert!(loss.databases.iter().all(|d| d.from_lsn == d.to_lsn));
    // … so it resumes at once, without asking anyone.
    assert!(p.journal.discard.is_none());
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("config") })
    );
}

// Failback.

#[test]
fn failback_backs_up_then_resumes_then_fails_over_planned() {
    let (w, journal) = after_forced_failover();
    let mut w = w
        .spec_edit(|s| {
            s.primary_site = Some("site-a".into());
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

    // sql-a's diverged tail: its resume waits for consent.
    let p = w.plan(&journal, later(110), None, None);
    assert_eq!(p.phase, Phase::AwaitingConfirmation, "{:?}", p.next);
    let token = p.journal.discard.clone().expect("a discard request").token;
    w.discard = Some(token);
    let p = w.plan(&p.journal, later(110), None, None);
    assert_eq!(
        step(&p).command,
        cmd("sql-a", Action::ResumeDataMovement { database: db("config") })
    );
    let journal = step(&p).after.clone();
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
fn an_old_primary_whose_loss_cannot_be_read_is_recorded_as_unmeasurable_and_failback_goes_on() {
    let (w, journal) = after_forced_failover();
    let w = w
        .spec_edit(|s| s.primary_site = Some("site-a".into()))
        .rep(0, |r| {
            r.reachable = true;
            r.role = Some(Role::Secondary);
        })
        // Someone resumed sql-a by hand: its divergent tail is gone.
        .copies(0, |c| c.sync = Some(SyncState::Synchronizing));
    let p = w.plan(&journal, later(100), None, None);
    let loss = p.journal.last_failover.as_ref().and_then(|f| f.data_loss.clone());
    let loss = loss.expect("the loss is recorded, as unmeasurable");
    assert_eq!(loss.seconds, None);
    assert!(
        loss.note.as_deref().is_some_and(|n| n.contains("cannot be measured")),
        "{loss:?}"
    );
    assert!(
        p.notices
            .iter()
            .any(|n| matches!(n, Notice::LossMeasured { seconds: None, .. }))
    );
    // Nothing is waited for any more: the failback goes on (sql-a to synchronous commit).
    assert_eq!(step(&p).command, set_mode("sql-b", "sql-a", CommitMode::Synchronous));
    // Still coming up (RESOLVING): too early to give up on measuring.
    let early = w.rep(0, |r| r.role = Some(Role::Resolving));
    let p = early.plan(&journal, later(100), None, None);
    assert!(p.journal.last_failover.as_ref().is_some_and(|f| f.data_loss.is_none()));
    assert!(!matches!(p.next, Next::Act(_)), "{:?}", p.next);
}

// Bad observations.

#[test]
fn two_primaries_block_everything() {
    for site in ["site-a", "site-b"] {
        let p = World::new()
            .spec_edit(|s| s.primary_site = Some(site.into()))
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
    let p = w.clone().spec_edit(|s| s.primary_site = Some("site-b".into())).plan0();
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
