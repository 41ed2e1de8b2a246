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
