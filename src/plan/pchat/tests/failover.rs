//! Failover with the primary data center lost: the data-loss gate (Never, Confirm, Automatic),
//! what is applied from the copy destination and the share, and what the record says was lost.

use super::switchover::assert_at_dc2;
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
    assert!(super::super::needs_listings(&w.spec, &w.status));
    // Readable again: the backup that never reached B is named, once.
    w.sql.share_reachable = true;
    w.pass();
    let record = w.status.last_transition.clone().expect("kept");
    assert!(record.share_checked);
    assert_eq!(record.unapplied_backups, vec![w.stamp(2)]);
    assert!(!super::super::needs_listings(&w.spec, &w.status));
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
    assert_eq!(request.token.len(), 8);
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
