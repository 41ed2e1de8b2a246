//! Interruptions: a failed hook Job and its retry, an operator restart at every step boundary
//! of each runbook, and `spec.activeSite` changed back mid-way.

use super::failback::failed_over;
use super::switchover::{assert_at_dc2, switchover_script};
use super::*;
use crate::api::persistent_chat_pool::{PoolPhase, PoolTransitionKind};
use crate::components::JobPhase;

fn switchover() -> World {
    let mut w = World::steady();
    w.flip("dc2");
    w
}

fn failover() -> World {
    let mut w = World::steady();
    w.sql.down.insert(A.into());
    w.sql.down.insert(A_MIR.into());
    w.flip("dc2");
    let token = w.pass().status.confirmation.expect("asked").token;
    w.confirmation = Some(token);
    w.log.clear();
    w
}

fn failback() -> World {
    let mut w = failed_over(true);
    w.flip("dc1");
    w
}

/// What a run ends in: the databases, the pool, what is lost, what status says.
fn end_state(w: &World) -> String {
    let dbs: Vec<_> = w
        .sql
        .instances
        .iter()
        .flat_map(|(i, dbs)| dbs.iter().map(move |(n, d)| (i, n, d.online, &d.log, &d.mirror)))
        .collect();
    format!(
        "{:?}",
        (
            dbs,
            w.sql.pool_state,
            &w.sql.active_servers,
            w.sql.shipping.as_ref().map(|ls| &ls.primary),
            w.sql.lost(),
            w.status.phase,
            &w.status.active_site,
            &w.status.active_servers,
        )
    )
}

/// Runs to the end, with one pass of `at.1` once `at.0` actions have run.
fn run(setup: fn() -> World, at: Option<(usize, Pass)>) -> World {
    let mut w = setup();
    let mut injected = false;
    for _ in 0..80 {
        if let Some((k, how)) = at
            && !injected
            && w.log.len() >= k
        {
            injected = true;
            w.pass_as(how);
            continue;
        }
        let p = w.pass();
        if p.action.is_none() && !p.busy {
            return w;
        }
    }
    panic!("not settled: {:?} {:?}", w.status.phase, w.status.step);
}

/// The script without what SQL Server or the API server answered "already so" to, and with a
/// journaled step run again (its journal entry was lost with the operator) counted once.
fn effective(w: &World) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in w.script() {
        let repeated = out.last() == Some(&line)
            && (line.starts_with("full-backup") || line.starts_with("keep ") || line.starts_with("restore-over"));
        if !line.ends_with("(already)") && !repeated {
            out.push(line);
        }
    }
    out
}

#[test]
fn a_restart_at_any_step_boundary_repeats_nothing_and_ends_the_same() {
    for (name, setup) in [
        ("switchover", switchover as fn() -> World),
        ("failover", failover),
        ("failback", failback),
    ] {
        let clean = run(setup, None);
        assert!(
            !clean.script().iter().any(|l| l.contains('(')),
            "{name}: {:#?}",
            clean.script()
        );
        for how in [Pass::Blind, Pass::NoExecute, Pass::NoRecord] {
            for k in 0..=clean.log.len() {
                let w = run(setup, Some((k, how)));
                let why = format!("{name}, {how:?} after {k} action(s): {:#?}", w.script());
                assert_eq!(end_state(&w), end_state(&clean), "{why}");
                assert_eq!(effective(&w), clean.script(), "{why}");
                if how == Pass::NoExecute {
                    assert_eq!(w.script(), clean.script(), "{why}");
                }
                let kind = |w: &World| w.status.last_transition.as_ref().map(|r| (r.kind, r.lossless));
                assert_eq!(kind(&w), kind(&clean), "{why}");
            }
        }
    }
}

#[test]
fn a_failed_hook_job_stops_the_runbook_until_it_is_deleted() {
    let mut w = World::steady();
    let start = w.tick;
    w.sql.failing.insert("set-pool-state".into());
    w.flip("dc2");
    while !w.sql.jobs.values().any(|j| matches!(j.phase, JobPhase::Failed(_))) {
        w.pass();
    }
    let p = w.passes(4);
    assert_eq!(p.status.phase, Some(PoolPhase::Waiting));
    assert!(p.action.is_none());
    let t = p.status.transition.as_ref().expect("in flight");
    let row = t.steps.iter().find(|s| s.name == "set-pool-state").expect("a step");
    assert_eq!(row.state, StepState::Failed);
    let message = row.message.as_deref().expect("says why");
    assert!(message.contains("failed: BackoffLimitExceeded"), "{message}");
    assert!(message.contains("delete the Job to run it again"), "{message}");
    let failed: Vec<_> = w
        .notices
        .iter()
        .filter(|n| matches!(n, Notice::StepFailed { .. }))
        .collect();
    assert_eq!(failed.len(), 1, "one Event for one failure");
    assert!(matches!(failed[0], Notice::StepFailed { step, .. } if step == "set-pool-state@dc2"));
    // The cause fixed and the Job deleted: the same step runs again, and the rest after it.
    w.sql.failing.clear();
    w.sql.jobs.retain(|(step, _), _| step != "set-pool-state");
    w.settle(40);
    let mut expected = switchover_script(&w, start);
    expected.insert(10, "hook set-pool-state FailedOver@dc2".into());
    assert_eq!(w.script(), expected);
    assert_at_dc2(&w);
    assert_eq!(w.status.phase, Some(PoolPhase::Steady));
}

#[test]
fn flipped_back_before_any_step_started_the_transition_is_dropped() {
    let mut w = World::steady();
    w.sql.down.insert(A.into());
    w.flip("dc2");
    let p = w.passes(2);
    assert_eq!(p.status.phase, Some(PoolPhase::AwaitingConfirmation));
    w.flip("dc1");
    let p = w.pass();
    assert!(p.status.transition.is_none() && p.status.confirmation.is_none());
    assert!(p.action.is_none());
    // A answers again: nothing to do, the pool never left it.
    w.sql.restart(A);
    w.settle(5);
    assert!(w.log.is_empty(), "{:?}", w.script());
    assert_eq!(w.status.phase, Some(PoolPhase::Steady));
    assert!(w.status.last_transition.is_none());
}

#[test]
fn flipped_back_while_suspended_nothing_ever_ran() {
    let mut w = World::steady();
    w.spec.suspend = true;
    w.flip("dc2");
    w.passes(2);
    w.flip("dc1");
    w.passes(2);
    w.spec.suspend = false;
    let p = w.settle(5);
    assert!(w.log.is_empty(), "{:?}", w.script());
    assert_eq!(p.status.phase, Some(PoolPhase::Steady));
    assert!(p.status.last_transition.is_none());
}

#[test]
fn flipped_back_after_a_step_started_the_transition_finishes_then_the_reverse_runs() {
    let mut w = World::steady();
    let start = w.tick;
    w.flip("dc2");
    while w.script().len() < 3 {
        w.pass();
    }
    w.flip("dc1");
    let p = w.pass();
    assert_eq!(p.status.phase, Some(PoolPhase::Switchover));
    let progressing = p
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Progressing")
        .expect("set");
    assert!(
        progressing
            .message
            .contains("spec.activeSite changed to dc1 mid-switchover"),
        "{}",
        progressing.message
    );
    w.settle(60);
    let script = w.script();
    let switchover = switchover_script(&w, start);
    assert_eq!(script[..switchover.len()], switchover[..]);
    let back: Vec<_> = script[switchover.len()..].to_vec();
    assert_eq!(back.first().map(String::as_str), Some("hook clear-active-servers@dc2"));
    assert_eq!(back.last().map(String::as_str), Some("hook set-pool-state Normal@dc1"));
    assert_eq!(w.status.phase, Some(PoolPhase::Steady));
    assert_eq!(w.status.active_site.as_deref(), Some("dc1"));
    assert_eq!(
        w.status.last_transition.as_ref().map(|r| r.kind),
        Some(PoolTransitionKind::Failback)
    );
    assert!(w.sql.lost().is_empty());
}

#[test]
fn a_switchover_whose_primary_is_lost_then_flipped_back_still_finishes_first() {
    let mut w = World::steady();
    w.flip("dc2");
    w.pass(); // the active servers are being cleared
    w.sql.down.insert(A.into());
    w.flip("dc1");
    let p = w.pass();
    // Turned into a failover, which has begun (the servers were cleared): not dropped.
    let t = p.status.transition.as_ref().expect("kept");
    assert_eq!(t.kind, PoolTransitionKind::Failover);
    assert!(t.steps.iter().any(|s| s.name == "clear-active-servers"));
    w.sql.restart(A);
    w.settle(80);
    assert_eq!(w.status.phase, Some(PoolPhase::Steady));
    assert_eq!(w.status.active_site.as_deref(), Some("dc1"));
    assert_eq!(
        w.sql.active_servers, w.spec.primary.active_servers,
        "the pool serves again"
    );
    assert!(w.sql.lost().is_empty());
}

#[test]
fn a_step_a_failover_passed_over_runs_again_when_it_becomes_a_switchover() {
    let mut w = World::steady();
    w.sql.failing.insert("clear-active-servers".into());
    w.flip("dc2");
    w.pass();
    w.sql.down.insert(A.into());
    let token = w.pass().status.confirmation.expect("asked").token;
    w.confirmation = Some(token);
    while w.script().len() < 3 {
        w.pass();
    }
    // A is back and the hook fixed: the switchover clears the servers before its tail.
    w.sql.restart(A);
    w.sql.failing.clear();
    w.sql.jobs.clear();
    w.settle(40);
    let clears = w
        .script()
        .iter()
        .filter(|l| *l == "hook clear-active-servers@dc1")
        .count();
    assert_eq!(clears, 2, "{:#?}", w.script());
    assert_at_dc2(&w);
    let record = w.status.last_transition.as_ref().expect("recorded");
    assert_eq!(record.kind, PoolTransitionKind::Switchover);
    assert!(record.lossless && w.sql.lost().is_empty());
}
