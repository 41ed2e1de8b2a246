//! Planned switchover to the backup data center (primary reachable): runbook B with a
//! tail-log backup, so nothing committed is lost.

use super::*;
use crate::api::persistent_chat_pool::{PoolPhase, PoolTransitionKind};

/// The tail-log backup of a transition begun at `tick`.
fn tail(w: &World, tick: u32) -> String {
    w.stamp(tick).replace(".trn", "_tail.trn")
}

/// What a switchover begun at `start` runs after the active servers are cleared and A's two
/// sessions ended, from the history of [`World::history`].
fn after_sessions(w: &World, start: u32) -> Vec<String> {
    vec![
        "mirroring-off mgc@SQL-CHAT-A".into(),
        format!("tail-log-backup {}@SQL-CHAT-A", tail(w, start)),
        "remove-log-shipping@SQL-CHAT-B".into(),
        format!("restore-log dest/{}@SQL-CHAT-B", w.stamp(1)),
        format!("restore-log share/{}@SQL-CHAT-B", w.stamp(2)),
        format!("restore-log share/{}@SQL-CHAT-B", tail(w, start)),
        "recover@SQL-CHAT-B".into(),
        "hook set-pool-state FailedOver@dc2".into(),
        "hook install-mirror SQL-CHAT-B>SQL-CHAT-B-MIR@dc2".into(),
        "hook set-active-servers@dc2".into(),
    ]
}

pub(super) fn switchover_script(w: &World, start: u32) -> Vec<String> {
    let mut s = vec![
        "hook clear-active-servers@dc1".to_string(),
        "kill 51@SQL-CHAT-A".into(),
        "kill 52@SQL-CHAT-A".into(),
    ];
    s.extend(after_sessions(w, start));
    s
}

/// Served from dc2 as the switchover leaves it, with nothing acknowledged lost.
pub(super) fn assert_at_dc2(w: &World) {
    let s = &w.status;
    assert_eq!(s.active_site.as_deref(), Some("dc2"));
    assert_eq!(s.pool_state, Some(PoolState::FailedOver));
    assert_eq!(s.active_servers.as_ref(), Some(&w.spec.backup.active_servers));
    assert!(s.transition.is_none() && s.confirmation.is_none());
    assert_eq!(w.sql.pool_state, PoolState::FailedOver);
    assert_eq!(w.sql.active_servers, w.spec.backup.active_servers);
    let b = w.sql.db(B, CHAT).expect("exists");
    assert!(b.online);
    assert_eq!(b.mirror, Some(("PRINCIPAL", B_MIR.to_string())));
    assert_eq!(b.sessions.len(), 2, "one session per active server");
}

#[test]
fn planned_switchover_runs_runbook_b_in_order_and_loses_nothing() {
    let mut w = World::steady();
    let start = w.tick;
    w.flip("dc2");
    // The pool keeps writing until its servers are cleared: the tail-log backup carries it.
    w.sql.commit(2);
    let first = w.pass();
    assert_eq!(first.status.phase, Some(PoolPhase::Switchover));
    assert_eq!(first.status.step.as_deref(), Some("1/11 clear-active-servers@dc1"));
    assert_eq!(first.status.active_site, None);
    assert!(first.busy);
    assert!(matches!(&first.notices[..], [Notice::TransitionStarted { message }]
        if message == "Switchover of the pool from dc1 to dc2 begins"));
    w.settle(40);
    assert_eq!(w.script(), switchover_script(&w, start));
    assert_at_dc2(&w);
    assert_eq!(w.status.phase, Some(PoolPhase::Steady));
    let a = w.sql.db(A, CHAT).expect("exists");
    assert!(!a.online && a.mirror.is_none(), "A is left RESTORING, unmirrored");
    assert_eq!(
        w.sql.db(B, CHAT).expect("exists").log,
        a.log,
        "B has every record A had"
    );
    assert!(w.sql.lost().is_empty() && w.sql.acked.len() == 10);
    assert!(w.sql.shipping.is_none());
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.kind, PoolTransitionKind::Switchover);
    assert!(record.lossless && record.lost_after.is_none() && record.unapplied_backups.is_empty());
    assert_eq!(record.applied_backups, 3);
    assert_eq!(record.last_applied_backup.as_deref(), Some(tail(&w, start).as_str()));
    assert_eq!((record.from_site.as_str(), record.to_site.as_str()), ("dc1", "dc2"));
    assert!(record.finished_at.0 > record.started_at.0);
    let finished: Vec<_> = w
        .notices
        .iter()
        .filter(|n| matches!(n, Notice::TransitionFinished { .. }))
        .collect();
    assert_eq!(finished.len(), 1);
    assert!(
        matches!(finished[0], Notice::TransitionFinished { message } if message.contains("3 log backup(s) applied, nothing lost"))
    );
    // At rest at dc2: no more actions, the same status each pass.
    let before = w.status.clone();
    assert!(w.passes(3).action.is_none());
    assert_eq!(w.status, before);
}

#[test]
fn the_runbook_is_shown_step_by_step_while_it_runs() {
    let mut w = World::steady();
    w.flip("dc2");
    let mut lines = Vec::new();
    for _ in 0..40 {
        let p = w.pass();
        if let Some(step) = &p.status.step
            && lines.last() != Some(step)
        {
            lines.push(step.clone());
        }
        if !p.busy {
            break;
        }
    }
    assert_eq!(
        lines,
        [
            "1/11 clear-active-servers@dc1",
            "2/11 end-sessions@dc1",
            "3/11 mirroring-off@dc1",
            "4/11 tail-log-backup@dc1",
            "5/11 remove-log-shipping@dc2",
            "6/11 restore-log@dc2",
            "8/11 recover@dc2",
            "9/11 set-pool-state@dc2",
            "10/11 install-mirror@dc2",
            "11/11 set-active-servers@dc2",
        ]
    );
}

#[test]
fn backups_log_shipping_restores_mid_switchover_are_recognised_as_applied() {
    let mut w = World::steady();
    let start = w.tick;
    w.flip("dc2");
    // Up to the tail-log backup; then log shipping's own jobs copy and restore the second file.
    while !w.script().iter().any(|l| l.starts_with("tail-log-backup")) {
        w.pass();
    }
    w.sql.copy();
    w.sql.restore_job();
    w.settle(40);
    // drover still offers them (its journal began before), SQL Server says they are in (4326).
    let mut expected = switchover_script(&w, start);
    expected[6] = format!("restore-log dest/{}@SQL-CHAT-B (already)", w.stamp(1));
    expected[7] = format!("restore-log dest/{}@SQL-CHAT-B (already)", w.stamp(2));
    assert_eq!(w.script(), expected);
    assert_at_dc2(&w);
    assert!(w.sql.lost().is_empty());
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.applied_backups, 1, "only the tail was drover's");
}

#[test]
fn an_unreadable_tail_log_backup_blocks_the_switchover_until_it_can_be_read() {
    let mut w = World::steady();
    let start = w.tick;
    w.flip("dc2");
    while !w.script().iter().any(|l| l.starts_with("tail-log-backup")) {
        w.pass();
    }
    w.sql.share_reachable = false;
    let p = w.passes(6);
    assert_eq!(p.status.phase, Some(PoolPhase::Waiting));
    assert!(p.action.is_none());
    let step = &p.status.transition.as_ref().expect("in flight").steps[5];
    assert_eq!(step.name, "restore-log");
    assert_eq!(step.state, StepState::Blocked);
    assert!(
        step.message
            .as_deref()
            .expect("says why")
            .contains("drover waits for it")
    );
    w.sql.share_reachable = true;
    w.settle(40);
    assert_eq!(w.script(), switchover_script(&w, start));
    assert_at_dc2(&w);
    assert_eq!(w.status.phase, Some(PoolPhase::Steady));
    assert!(w.status.last_transition.as_ref().expect("recorded").lossless);
}

#[test]
fn a_primary_lost_before_the_tail_log_backup_turns_the_switchover_into_a_failover() {
    let mut w = World::steady();
    let start = w.tick;
    w.flip("dc2");
    while !w.script().iter().any(|l| l.starts_with("mirroring-off")) {
        w.pass();
    }
    w.sql.down.insert(A.into());
    w.sql.down.insert(A_MIR.into());
    let p = w.pass();
    assert_eq!(p.status.phase, Some(PoolPhase::AwaitingConfirmation));
    assert!(p.action.is_none());
    assert!(
        p.notices
            .iter()
            .any(|n| matches!(n, Notice::TransitionStarted { message } if message.contains("continues as a failover")))
    );
    let t = p.status.transition.as_ref().expect("in flight");
    assert_eq!(t.kind, PoolTransitionKind::Failover);
    assert_eq!(t.started_at.0, w.status.transition.as_ref().expect("kept").started_at.0);
    let token = p.status.confirmation.as_ref().expect("asked").token.clone();
    w.confirmation = Some(token);
    w.settle(40);
    let mut expected = switchover_script(&w, start)[..4].to_vec();
    expected.extend([
        "remove-log-shipping@SQL-CHAT-B".to_string(),
        format!("restore-log dest/{}@SQL-CHAT-B", w.stamp(1)),
        format!("restore-log share/{}@SQL-CHAT-B", w.stamp(2)),
        "recover@SQL-CHAT-B".into(),
        "hook set-pool-state FailedOver@dc2".into(),
        "hook install-mirror SQL-CHAT-B>SQL-CHAT-B-MIR@dc2".into(),
        "hook set-active-servers@dc2".into(),
    ]);
    assert_eq!(w.script(), expected);
    assert_at_dc2(&w);
    assert_eq!(w.status.phase, Some(PoolPhase::Degraded), "A is still unreachable");
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.kind, PoolTransitionKind::Failover);
    assert!(!record.lossless);
    assert_eq!(
        record.lost_after.as_ref().map(|t| t.0),
        crate::plan::pchat::files::stamp_of(&w.stamp(2), CHAT)
    );
    // The commit after the third log backup was only on A.
    assert_eq!(w.sql.lost().len(), 1);
}

#[test]
fn a_primary_lost_just_after_its_tail_log_backup_keeps_the_switchover_lossless() {
    let mut w = World::steady();
    let start = w.tick;
    w.flip("dc2");
    while !w.script().iter().any(|l| l.starts_with("tail-log-backup")) {
        w.pass();
    }
    // Gone before drover saw the tail-log backup done: the tail is on the share all the same.
    w.sql.down.insert(A.into());
    w.settle(40);
    assert_eq!(w.script(), switchover_script(&w, start));
    assert_at_dc2(&w);
    assert!(w.sql.lost().is_empty());
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.kind, PoolTransitionKind::Switchover);
    assert!(record.lossless);
}

#[test]
fn a_tail_taken_out_of_sight_is_waited_for_once_the_primary_answers_again() {
    let mut w = World::steady();
    let start = w.tick;
    w.flip("dc2");
    while !w.script().iter().any(|l| l.starts_with("tail-log-backup")) {
        w.pass();
    }
    // A is lost before the tail is seen done, and B cannot read the share: nothing shows the
    // tail was taken, so this is a failover asking for consent.
    w.sql.down.insert(A.into());
    w.sql.share_reachable = false;
    let p = w.pass();
    assert_eq!(p.status.phase, Some(PoolPhase::AwaitingConfirmation));
    w.confirmation = p.status.confirmation.map(|c| c.token);
    // A answers again, RESTORING: the tail exists. The switchover resumes and waits for it.
    w.sql.restart(A);
    let p = w.passes(4);
    let t = p.status.transition.as_ref().expect("in flight");
    assert_eq!(t.kind, PoolTransitionKind::Switchover);
    assert_eq!(p.status.phase, Some(PoolPhase::Waiting));
    assert!(w.script().iter().all(|l| !l.starts_with("recover")));
    w.sql.share_reachable = true;
    w.settle(40);
    assert_eq!(w.script(), switchover_script(&w, start));
    assert_at_dc2(&w);
    assert!(w.sql.lost().is_empty());
    assert!(w.status.last_transition.as_ref().expect("recorded").lossless);
}

/// No desired site (spec.activeSite left out, or not in force): the pool stays where it is.
#[test]
fn without_an_active_site_a_steady_pool_stays_and_never_begins_a_transition() {
    let mut w = World::steady();
    w.spec.active_site = None;
    let p = w.passes(5);
    assert_eq!(p.status.phase, Some(PoolPhase::Steady), "{:?}", p.status.conditions);
    assert_eq!(p.status.active_site.as_deref(), Some("dc1"));
    assert!(p.status.transition.is_none() && p.action.is_none());
    assert!(w.script().is_empty(), "nothing ran: {:?}", w.script());
}

#[test]
fn a_switchover_whose_active_site_goes_away_is_held_after_its_first_step() {
    let mut w = World::steady();
    w.flip("dc2");
    let first = w.pass();
    assert_eq!(first.status.phase, Some(PoolPhase::Switchover));
    let ran = w.script().len();
    assert!(ran >= 1, "the first step ran: {:?}", w.script());
    w.spec.active_site = None;
    let held = w.passes(5);
    assert_eq!(w.script().len(), ran, "nothing more was sent: {:?}", w.script());
    assert!(held.action.is_none());
    let t = held.status.transition.as_ref().expect("kept, not dropped");
    assert_eq!(t.kind, PoolTransitionKind::Switchover);
    assert!(
        held.status.conditions.iter().any(|c| c.message.contains("is held")),
        "{:?}",
        held.status.conditions
    );
    // The desired site back: it goes on to the end.
    w.flip("dc2");
    w.settle(40);
    assert_at_dc2(&w);
}
