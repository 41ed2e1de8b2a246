//! Failover with the primary data center lost: the data-loss gate (Never, Confirm, Automatic),
//! what is applied from the copy destination and the share, and what the record says was lost.

use super::switchover::{assert_at_dc2, switchover_script};
use super::*;
use crate::api::availability_group::ForcePolicy;
use crate::api::persistent_chat_pool::{PoolPhase, PoolTransitionKind};
use crate::plan::pchat::files::stamp_of;

fn lose_dc1(w: &mut World) {
    w.sql.down.insert(A.into());
    w.sql.down.insert(A_MIR.into());
}

fn requests(w: &World) -> usize {
    w.notices
        .iter()
        .filter(|n| matches!(n, Notice::ConfirmationRequested { .. }))
        .count()
}

/// What a failover runs once allowed, with the files it can read.
fn failover_script(restores: &[String]) -> Vec<String> {
    let mut s = vec!["remove-log-shipping@SQL-CHAT-B".to_string()];
    s.extend(restores.iter().map(|r| format!("restore-log {r}@SQL-CHAT-B")));
    s.extend([
        "recover@SQL-CHAT-B".into(),
        "hook set-pool-state FailedOver@dc2".into(),
        "hook install-mirror SQL-CHAT-B>SQL-CHAT-B-MIR@dc2".into(),
        "hook set-active-servers@dc2".into(),
    ]);
    s
}

#[test]
fn policy_never_waits_for_the_primary_and_does_nothing() {
    let mut w = World::steady();
    w.spec.forced_failover.policy = ForcePolicy::Never;
    lose_dc1(&mut w);
    w.flip("dc2");
    let first = w.pass();
    let p = w.passes(5);
    assert_eq!(p.status.phase, Some(PoolPhase::Waiting));
    assert!(
        p.status
            .step
            .as_deref()
            .expect("says why")
            .contains("forcedFailover.policy is Never")
    );
    let t = p.status.transition.as_ref().expect("journaled");
    assert_eq!(t.kind, PoolTransitionKind::Failover);
    assert!(t.steps.iter().all(|s| s.state == StepState::Pending));
    assert!(p.status.confirmation.is_none());
    assert!(w.log.is_empty());
    assert_eq!(first.status, p.status, "nothing changes while it waits");
}

#[test]
fn an_unreachable_share_applies_only_the_copied_backups_and_learns_the_rest_later() {
    let mut w = World::steady();
    lose_dc1(&mut w);
    w.sql.share_reachable = false;
    w.flip("dc2");
    let p = w.pass();
    let token = p.status.confirmation.expect("asked").token;
    w.confirmation = Some(token);
    w.settle(40);
    assert_eq!(w.script(), failover_script(&[format!("dest/{}", w.stamp(1))]));
    assert_at_dc2(&w);
    let record = w.status.last_transition.clone().expect("recorded");
    assert_eq!(record.last_applied_backup.as_deref(), Some(w.stamp(1).as_str()));
    assert_eq!(record.lost_after.as_ref().map(|t| t.0), stamp_of(&w.stamp(1), CHAT));
    assert!(!record.share_checked && record.unapplied_backups.is_empty());
    assert_eq!(w.sql.lost().len(), 3, "the third backup's two commits and the last one");
    // Still unreadable: still unknown, asked again each pass.
    w.passes(3);
    assert!(!w.status.last_transition.as_ref().expect("kept").share_checked);
    assert!(super::super::needs_runbook_inputs(&w.spec, &w.status));
    // Readable again: the backup that never reached B is named, once.
    w.sql.share_reachable = true;
    w.pass();
    let record = w.status.last_transition.clone().expect("kept");
    assert!(record.share_checked);
    assert_eq!(record.unapplied_backups, vec![w.stamp(2)]);
    assert!(!super::super::needs_runbook_inputs(&w.spec, &w.status));
    assert!(w.passes(3).action.is_none());
}

#[test]
fn automatic_fails_over_once_unreachable_long_enough_within_the_loss_bound() {
    let mut w = World::steady();
    w.spec.forced_failover.policy = ForcePolicy::Automatic;
    w.spec.forced_failover.min_unreachable_seconds = Some(60);
    w.spec.forced_failover.max_data_loss_seconds = Some(300);
    lose_dc1(&mut w);
    w.flip("dc2");
    let lost_at = w.tick;
    let mut waited = Vec::new();
    while w.log.is_empty() {
        let p = w.pass();
        waited.push(p.status.phase);
        assert!(w.tick < 20, "never failed over: {:?}", p.status.step);
    }
    // Waiting through the first minute of the outage (six passes of ten seconds), then acting.
    assert_eq!(w.log[0].tick - lost_at, 6);
    assert!(waited[..6].iter().all(|p| *p == Some(PoolPhase::Waiting)));
    w.settle(40);
    assert_eq!(
        w.script(),
        failover_script(&[format!("dest/{}", w.stamp(1)), format!("share/{}", w.stamp(2))])
    );
    assert_at_dc2(&w);
    assert_eq!(requests(&w), 0);
    let t = w.status.last_transition.as_ref().expect("recorded");
    assert!(!t.lossless);
}

#[test]
fn confirm_asks_once_refuses_a_wrong_token_and_proceeds_with_the_right_one() {
    let mut w = World::steady();
    lose_dc1(&mut w);
    w.flip("dc2");
    let first = w.pass();
    assert_eq!(first.status.phase, Some(PoolPhase::AwaitingConfirmation));
    let request = first.status.confirmation.clone().expect("asked");
    assert_eq!(request.token.len(), 12);
    assert!(request.token.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(request.target, B);
    // From the end of the newest readable backup (tick 2) to when A was first missed (tick 4).
    assert_eq!(request.known_loss_seconds, Some(20));
    assert_eq!(request.unknown_since, first.status.primary_unreachable_since);
    assert_eq!(
        request.command,
        format!(
            "kubectl annotate pchat pchat -n chat drover.dev/confirm-data-loss={} --overwrite",
            request.token
        )
    );
    let step = first
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "DataLossConfirmationRequired");
    assert!(step.is_some_and(|c| c.status == "True" && c.message.contains(&w.stamp(2))));
    // Time passes, nothing changes: one request, the same status.
    let p = w.passes(5);
    assert_eq!(p.status, first.status);
    assert_eq!(requests(&w), 1);
    assert!(w.log.is_empty());

    w.confirmation = Some("deadbeef".into());
    let p = w.passes(2);
    assert_eq!(p.status.phase, Some(PoolPhase::AwaitingConfirmation));
    assert!(p.action.is_none() && w.log.is_empty());
    let said = p.status.conditions.iter().find(|c| c.type_ == "Ready").expect("set");
    assert!(
        said.message
            .contains(r#"the confirmation "deadbeef" is not the current token"#)
    );

    w.confirmation = Some(request.token.clone());
    w.settle(40);
    assert_eq!(
        w.script(),
        failover_script(&[format!("dest/{}", w.stamp(1)), format!("share/{}", w.stamp(2))])
    );
    assert_at_dc2(&w);
    assert_eq!(w.status.phase, Some(PoolPhase::Degraded), "dc1 is still lost");
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.kind, PoolTransitionKind::Failover);
    assert!(!record.lossless);
    assert_eq!(record.applied_backups, 2);
    assert_eq!(record.last_applied_backup.as_deref(), Some(w.stamp(2).as_str()));
    assert_eq!(record.lost_after.as_ref().map(|t| t.0), stamp_of(&w.stamp(2), CHAT));
    // The share was readable: nothing there was left behind.
    assert!(record.share_checked && record.unapplied_backups.is_empty());
    assert!(w.status.confirmation.is_none());
    // The one commit after the last log backup is what was lost.
    assert_eq!(w.sql.lost().len(), 1);
    assert!(matches!(w.notices.last(), Some(Notice::TransitionFinished { message })
        if message.contains("commits after") && message.contains("are lost")));
}

#[test]
fn automatic_beyond_the_loss_bound_waits() {
    let mut w = World::steady();
    w.spec.forced_failover.policy = ForcePolicy::Automatic;
    w.spec.forced_failover.min_unreachable_seconds = Some(60);
    w.spec.forced_failover.max_data_loss_seconds = Some(5);
    lose_dc1(&mut w);
    w.flip("dc2");
    w.passes(10);
    let first = w.pass();
    let p = w.passes(5);
    assert_eq!(p.status.phase, Some(PoolPhase::Waiting));
    let why = p.status.step.as_deref().expect("says why");
    assert!(why.starts_with("automatic failover waits") && why.contains("known loss 20s (at most 5s allowed)"));
    assert!(w.log.is_empty());
    assert_eq!(first.status, p.status, "nothing changes while it waits");
}

#[test]
fn a_primary_back_before_the_failover_was_allowed_makes_it_a_switchover() {
    let mut w = World::steady();
    lose_dc1(&mut w);
    let start = w.tick;
    w.flip("dc2");
    w.passes(3);
    assert_eq!(w.status.phase, Some(PoolPhase::AwaitingConfirmation));
    w.sql.down.clear();
    let p = w.pass();
    assert_eq!(
        p.status.transition.as_ref().expect("in flight").kind,
        PoolTransitionKind::Switchover
    );
    assert!(p.status.confirmation.is_none());
    w.settle(40);
    assert_eq!(w.script(), switchover_script(&w, start));
    assert_at_dc2(&w);
    assert_eq!(w.status.phase, Some(PoolPhase::Steady));
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.kind, PoolTransitionKind::Switchover);
    assert!(record.lossless && w.sql.lost().is_empty());
    assert!(w.status.confirmation.is_none());
}

#[test]
fn a_primary_back_after_the_confirmation_still_gets_its_tail_log_backup() {
    let mut w = World::steady();
    lose_dc1(&mut w);
    let start = w.tick;
    w.flip("dc2");
    let token = w.pass().status.confirmation.expect("asked").token;
    w.confirmation = Some(token);
    // Log shipping removed, the second backup restored; then dc1 answers again (a network
    // partition heals) and the pool, still Normal there, goes on writing at A.
    while w.script().len() < 2 {
        w.pass();
    }
    w.sql.down.clear();
    w.sql.commit(2);
    let p = w.pass();
    assert_eq!(p.status.phase, Some(PoolPhase::Switchover));
    assert!(
        p.notices.iter().any(
            |n| matches!(n, Notice::TransitionStarted { message } if message.contains("continues as a switchover"))
        )
    );
    w.settle(40);
    let mut expected = failover_script(&[format!("dest/{}", w.stamp(1))])[..2].to_vec();
    let switchover = switchover_script(&w, start);
    expected.extend_from_slice(&switchover[..5]);
    expected.extend_from_slice(&switchover[7..]);
    assert_eq!(w.script(), expected);
    assert_at_dc2(&w);
    assert!(
        w.sql.lost().is_empty(),
        "every commit at A, before and after its return, is at B"
    );
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.kind, PoolTransitionKind::Switchover);
    assert!(record.lossless);
}

#[test]
fn a_primary_back_and_lost_again_needs_a_new_confirmation() {
    let mut w = World::steady();
    lose_dc1(&mut w);
    w.flip("dc2");
    let first = w.pass().status.confirmation.expect("asked").token;
    w.confirmation = Some(first.clone());
    while w.script().len() < 2 {
        w.pass();
    }
    w.sql.down.clear();
    w.pass();
    assert_eq!(
        w.status.transition.as_ref().expect("in flight").kind,
        PoolTransitionKind::Switchover
    );
    lose_dc1(&mut w);
    let p = w.passes(3);
    assert_eq!(p.status.phase, Some(PoolPhase::AwaitingConfirmation));
    let second = p.status.confirmation.expect("asked again").token;
    assert_ne!(second, first, "the first consent was for the first outage");
    let ran = w.log.len();
    w.confirmation = Some(second);
    w.settle(40);
    assert!(w.log.len() > ran);
    assert_at_dc2(&w);
    assert_eq!(
        w.status.last_transition.as_ref().expect("recorded").kind,
        PoolTransitionKind::Failover
    );
}

#[test]
fn a_recovery_planned_but_not_run_waits_for_the_tail_when_the_primary_returns() {
    let mut w = World::steady();
    lose_dc1(&mut w);
    let start = w.tick;
    w.flip("dc2");
    let token = w.pass().status.confirmation.expect("asked").token;
    w.confirmation = Some(token);
    while w.script().len() < 3 {
        w.pass();
    }
    // RECOVERY journaled as running, then the operator stops before sending it; dc1 returns.
    let p = w.pass_as(Pass::NoExecute);
    assert_eq!(p.action.as_ref().map(describe).as_deref(), Some("recover@SQL-CHAT-B"));
    w.sql.restart(A);
    w.sql.restart(A_MIR);
    w.settle(40);
    let mut expected =
        failover_script(&[format!("dest/{}", w.stamp(1)), format!("share/{}", w.stamp(2))])[..3].to_vec();
    let switchover = switchover_script(&w, start);
    // The servers cleared, mirroring off, the tail (A restarted: no session left), then restored.
    for i in [0, 3, 4, 8] {
        expected.push(switchover[i].clone());
    }
    expected.extend_from_slice(&switchover[9..]);
    assert_eq!(w.script(), expected);
    assert_at_dc2(&w);
    assert!(w.sql.lost().is_empty());
    assert!(w.status.last_transition.as_ref().expect("recorded").lossless);
}
