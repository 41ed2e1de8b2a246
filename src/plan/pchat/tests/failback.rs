//! Failback to the rebuilt primary data center: the runbook's order, the journaled full backup
//! and restore, log shipping and the mirror re-established, and the way back out again.

use super::*;
use crate::api::persistent_chat_pool::{PoolPhase, PoolTransitionKind};

/// Failed over to dc2 with dc1 lost (the share readable or not), the pool writing at dc2, then
/// dc1's instances back as they were when they went down.
pub(super) fn failed_over(share_reachable: bool) -> World {
    let mut w = World::steady();
    w.sql.down.insert(A.into());
    w.sql.down.insert(A_MIR.into());
    w.sql.share_reachable = share_reachable;
    w.flip("dc2");
    let token = w.pass().status.confirmation.expect("asked").token;
    w.confirmation = Some(token);
    w.settle(40);
    assert_eq!(w.status.active_site.as_deref(), Some("dc2"));
    w.sql.commit(3);
    w.sql.restart(A);
    w.sql.restart(A_MIR);
    w.sql.share_reachable = true;
    w.settle(5);
    w.log.clear();
    w.notices.clear();
    w
}

fn failback_name(w: &World, tick: u32) -> String {
    w.stamp(tick).replace(".trn", "_failback.bak")
}

fn failback_script(w: &World, start: u32) -> Vec<String> {
    let bak = failback_name(w, start);
    let kept = w.stamp(start).replace(".trn", "_old_primary.bak");
    vec![
        "hook clear-active-servers@dc2".into(),
        "mirroring-off mgc@SQL-CHAT-B".into(),
        "mirroring-off mgccomp@SQL-CHAT-B".into(),
        "kill 53@SQL-CHAT-B".into(),
        "kill 54@SQL-CHAT-B".into(),
        format!("full-backup {bak}@SQL-CHAT-B"),
        "mirroring-off mgc@SQL-CHAT-A".into(),
        format!("keep {kept}@SQL-CHAT-A"),
        format!("restore-over {bak}@SQL-CHAT-A"),
        "hook establish-log-shipping@dc2".into(),
        "hook install-mirror SQL-CHAT-A>SQL-CHAT-A-MIR@dc1".into(),
        "hook set-active-servers@dc1".into(),
        "hook set-pool-state Normal@dc1".into(),
    ]
}

/// Served from dc1 again as the runbook leaves it.
fn assert_at_dc1(w: &World) {
    let s = &w.status;
    assert_eq!(s.phase, Some(PoolPhase::Steady), "{:?}", s.step);
    assert_eq!(s.active_site.as_deref(), Some("dc1"));
    assert_eq!(s.pool_state, Some(PoolState::Normal));
    assert_eq!(s.active_servers.as_ref(), Some(&w.spec.primary.active_servers));
    assert!(s.transition.is_none());
    assert_eq!(w.sql.pool_state, PoolState::Normal);
    assert_eq!(w.sql.active_servers, w.spec.primary.active_servers);
    let a = w.sql.db(A, CHAT).expect("exists");
    assert!(a.online);
    assert_eq!(a.mirror, Some(("PRINCIPAL", A_MIR.to_string())));
    let b = w.sql.db(B, CHAT).expect("exists");
    assert!(!b.online && b.mirror.is_none());
    assert_eq!(b.log, a.log, "B re-initialised from A");
    assert_eq!(w.sql.shipping.as_ref().map(|ls| ls.primary.as_str()), Some(A));
    assert!(s.log_shipping.as_ref().is_some_and(|ls| ls.configured));
}

#[test]
fn failback_runs_the_runbook_and_keeps_what_was_written_at_the_backup() {
    let mut w = failed_over(true);
    let lost_in_failover = w.sql.lost();
    let written_at_dc2 = w.sql.db(B, CHAT).expect("exists").log.clone();
    let start = w.tick;
    w.flip("dc1");
    let first = w.pass();
    assert_eq!(first.status.phase, Some(PoolPhase::Failback));
    assert_eq!(first.status.step.as_deref(), Some("1/13 clear-active-servers@dc2"));
    w.settle(40);
    assert_eq!(w.script(), failback_script(&w, start));
    assert_at_dc1(&w);
    assert_eq!(w.sql.db(A, CHAT).expect("exists").log, written_at_dc2);
    assert_eq!(w.sql.lost(), lost_in_failover, "the failback itself loses nothing");
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.kind, PoolTransitionKind::Failback);
    assert!(record.lossless && record.lost_after.is_none());
    assert_eq!(record.applied_backups, 0);
    assert_eq!(
        w.notices
            .iter()
            .filter(|n| matches!(n, Notice::TransitionStarted { .. } | Notice::TransitionFinished { .. }))
            .count(),
        2
    );
}

#[test]
fn failback_waits_for_the_primary_data_center() {
    let mut w = World::steady();
    w.sql.down.insert(A.into());
    w.sql.down.insert(A_MIR.into());
    w.flip("dc2");
    let token = w.pass().status.confirmation.expect("asked").token;
    w.confirmation = Some(token);
    w.settle(40);
    w.log.clear();
    w.flip("dc1");
    let p = w.passes(4);
    assert_eq!(p.status.phase, Some(PoolPhase::Waiting));
    assert!(
        p.status
            .step
            .as_deref()
            .expect("why")
            .starts_with("failback waits for the primary instance SQL-CHAT-A")
    );
    assert!(w.log.is_empty() && p.status.transition.is_none());
    w.sql.restart(A);
    w.sql.restart(A_MIR);
    w.settle(40);
    assert_at_dc1(&w);
}

#[test]
fn the_full_backup_and_the_restore_over_the_primary_each_run_once_across_a_restart() {
    let mut w = failed_over(true);
    let start = w.tick;
    w.flip("dc1");
    while !w.script().iter().any(|l| l.starts_with("full-backup")) {
        w.pass();
    }
    let t = w.status.transition.as_ref().expect("in flight");
    let row = t.steps.iter().find(|s| s.name == "full-backup").expect("a step");
    assert_eq!(row.state, StepState::Done, "journaled as soon as it ran");
    // Restarts: a pass that sees no Jobs and no folders, and one whose action never ran.
    w.pass_as(Pass::Blind);
    w.pass_as(Pass::NoExecute);
    while !w.script().iter().any(|l| l.starts_with("restore-over")) {
        w.pass();
    }
    w.pass_as(Pass::Blind);
    w.pass_as(Pass::NoExecute);
    w.settle(40);
    assert_eq!(w.script(), failback_script(&w, start));
    assert_at_dc1(&w);
}

#[test]
fn failback_after_a_switchover_restores_over_the_restoring_primary() {
    let mut w = World::steady();
    w.flip("dc2");
    w.settle(40);
    w.sql.commit(2);
    w.log.clear();
    let start = w.tick;
    w.flip("dc1");
    w.settle(40);
    let mut expected = failback_script(&w, start);
    // A was left RESTORING and unmirrored by the switchover; nobody was connected to it, and it
    // took no commits since its tail-log backup: nothing to keep.
    expected.retain(|l| l != "mirroring-off mgc@SQL-CHAT-A" && !l.starts_with("keep "));
    assert_eq!(w.script(), expected);
    assert_at_dc1(&w);
    assert!(w.sql.lost().is_empty());
}

#[test]
fn a_switchover_after_a_lossy_failover_and_its_failback_ignores_the_old_backups() {
    let mut w = failed_over(false);
    w.flip("dc1");
    w.settle(40);
    assert_at_dc1(&w);
    // The backup copy was initialised when the share held the three old backups.
    let failback = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(failback.last_applied_backup.as_deref(), Some(w.stamp(2).as_str()));
    let lost = w.sql.lost();
    w.log.clear();
    // Straight back out, before log shipping restored anything: the third backup of the old
    // chain, never applied, is still on the share.
    let start = w.tick;
    w.flip("dc2");
    w.sql.commit(1);
    w.settle(40);
    assert!(w.script().iter().all(|l| !l.contains("error")), "{:#?}", w.script());
    let restores: Vec<_> = w
        .script()
        .into_iter()
        .filter(|l| l.starts_with("restore-log"))
        .collect();
    let tail = w.stamp(start).replace(".trn", "_tail.trn");
    assert_eq!(restores, [format!("restore-log share/{tail}@SQL-CHAT-B")]);
    assert_eq!(w.status.active_site.as_deref(), Some("dc2"));
    assert_eq!(w.sql.lost(), lost, "nothing more lost");
    assert!(w.status.last_transition.as_ref().expect("recorded").lossless);
}

#[test]
fn the_old_backups_are_ignored_even_if_the_share_was_unreadable_when_log_shipping_came_back() {
    let mut w = failed_over(false);
    w.flip("dc1");
    while !w.script().iter().any(|l| l.starts_with("hook establish-log-shipping")) {
        w.pass();
    }
    w.sql.share_reachable = false;
    w.settle(40);
    assert_at_dc1(&w);
    let failback = w.status.last_transition.clone().expect("recorded");
    // No listing to read: the bound is the moment the re-initialised copy was seen.
    let bound = failback.last_applied_backup.expect("a bound");
    assert!(bound.as_str() > w.stamp(2).as_str(), "{bound}");
    w.sql.share_reachable = true;
    w.log.clear();
    let start = w.tick;
    w.flip("dc2");
    w.settle(40);
    let restores: Vec<_> = w
        .script()
        .into_iter()
        .filter(|l| l.starts_with("restore-log"))
        .collect();
    let tail = w.stamp(start).replace(".trn", "_tail.trn");
    assert_eq!(restores, [format!("restore-log share/{tail}@SQL-CHAT-B")]);
    assert_eq!(w.status.active_site.as_deref(), Some("dc2"));
}

/// Invariant 9: the failback keeps what the failover left on the old primary before restoring
/// over it — a copy-only backup to the share, journalled with its path; no person needed.
#[test]
fn the_old_primarys_data_is_backed_up_before_the_restore_over_it() {
    let mut w = failed_over(true);
    let diverged = w.sql.db(A, CHAT).expect("exists").log.clone();
    assert!(!w.sql.lost().is_empty(), "the failover lost commits that A still holds");
    w.flip("dc1");
    w.settle(40);
    assert_at_dc1(&w);
    let script = w.script();
    let keep = script.iter().position(|l| l.starts_with("keep ")).expect("kept");
    let restore = script
        .iter()
        .position(|l| l.starts_with("restore-over"))
        .expect("restored");
    assert!(keep < restore, "{script:#?}");
    let record = w.status.last_transition.as_ref().expect("recorded");
    let kept = record.kept_backup.clone().expect("the kept backup is journalled");
    let file = w
        .sql
        .share
        .get(super::super::files::file_name(&kept))
        .expect("on the share");
    assert_eq!(file, &world::Backup::Full { log: diverged });
    assert!(w.status.discard_confirmation.is_none());
    assert!(!w.notices.iter().any(|n| matches!(n, Notice::Token { .. })));
}

/// When the old primary's database cannot be backed up, the restore over it waits for a person's
/// consent: nothing is restored before it, a stale token is refused, the right one goes on.
#[test]
fn an_old_primary_that_cannot_be_backed_up_is_restored_over_only_with_consent() {
    let mut w = failed_over(true);
    w.sql
        .instances
        .get_mut(A)
        .and_then(|dbs| dbs.get_mut(CHAT))
        .expect("exists")
        .damaged = Some("SUSPECT");
    w.flip("dc1");
    let mut request = None;
    for _ in 0..40 {
        let p = w.pass();
        if let Some(r) = p.status.discard_confirmation.clone() {
            assert_eq!(p.status.phase, Some(PoolPhase::AwaitingConfirmation));
            request = Some(r);
            break;
        }
    }
    let request = request.expect("a discard request");
    assert_eq!(request.replica, A);
    assert_eq!(request.databases.len(), 1);
    assert!(request.databases[0].from_time.is_some(), "{request:?}");
    assert!(request.message.contains("SUSPECT"), "{}", request.message);
    assert!(request.command.contains("drover.dev/confirm-discard="));
    let waiting = w.passes(3);
    assert_eq!(waiting.status.phase, Some(PoolPhase::AwaitingConfirmation));
    assert!(
        !w.script()
            .iter()
            .any(|l| l.starts_with("restore-over") || l.starts_with("keep "))
    );
    w.discard = Some("0123456789ab".into());
    let refused = w.passes(2);
    assert_eq!(refused.status.phase, Some(PoolPhase::AwaitingConfirmation));
    assert!(!w.script().iter().any(|l| l.starts_with("restore-over")));
    assert!(w.notices.iter().any(|n| matches!(
        n,
        Notice::Token {
            notice: crate::plan::confirm::TokenNotice::Refused { .. },
            ..
        }
    )));
    w.discard = Some(request.token.clone());
    let p = w.pass();
    assert!(p.status.discard_confirmation.is_none());
    let consumed = p.status.transition.as_ref().and_then(|t| t.discard_confirmed.clone());
    assert_eq!(
        consumed.map(|c| (c.token, c.by)),
        Some((request.token.clone(), "tester".into()))
    );
    w.settle(40);
    assert_at_dc1(&w);
    assert!(w.script().iter().any(|l| l.starts_with("restore-over")));
}
