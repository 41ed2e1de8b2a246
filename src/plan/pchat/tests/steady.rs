//! At rest: steady, the degraded variants, an invalid spec, a suspended pool.

use super::*;
use crate::api::conditions::{self, is_true};
use crate::api::persistent_chat_pool::PoolPhase;

fn condition<'a>(p: &'a Plan, type_: &str) -> &'a str {
    p.status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map_or("", |c| c.message.as_str())
}

#[test]
fn steady_at_the_primary_is_ready_does_nothing_and_writes_the_same_status() {
    let mut w = World::steady();
    let first = w.pass();
    let p = w.passes(3);
    assert_eq!(p.status.phase, Some(PoolPhase::Steady));
    assert_eq!(p.status.active_site.as_deref(), Some("dc1"));
    assert_eq!(p.status.pool_state, Some(PoolState::Normal));
    assert!(is_true(&p.status.conditions, conditions::READY));
    assert!(!is_true(&p.status.conditions, conditions::DEGRADED));
    assert!(p.status.step.is_none() && p.status.transition.is_none() && !p.busy);
    let ls = p.status.log_shipping.as_ref().expect("observed");
    assert!(ls.configured);
    assert_eq!(ls.primary_server.as_deref(), Some(A));
    assert_eq!(
        ls.last_restored_file
            .as_deref()
            .map(crate::plan::pchat::files::file_name),
        Some(w.stamp(0).as_str())
    );
    assert_eq!(p.status.instances.len(), 4);
    assert!(p.status.instances.iter().all(|i| i.reachable));
    // The chat and compliance databases on A, A-MIR, B; B-MIR holds neither and is left out.
    assert_eq!(p.status.databases.len(), 6);
    // Level-triggered and quiet: nothing changes while nothing happens.
    assert_eq!(first.status, p.status);
    assert!(w.log.is_empty() && w.notices.is_empty(), "{:?}", w.script());
}

#[test]
fn the_pool_state_is_inferred_once_from_the_databases() {
    let mut w = World::new();
    let p = w.pass();
    assert_eq!(p.status.pool_state, Some(PoolState::Normal));
    assert_eq!(p.status.phase, Some(PoolPhase::Steady));
}

#[test]
fn degraded_when_log_shipping_is_not_configured() {
    let mut w = World::steady();
    w.sql.shipping = None;
    let p = w.pass();
    assert_eq!(p.status.phase, Some(PoolPhase::Degraded));
    assert!(condition(&p, conditions::DEGRADED).contains("is not log-shipped from SQL-CHAT-A to SQL-CHAT-B"));
    assert!(!p.status.log_shipping.as_ref().expect("kept").configured);
    assert_eq!(p.status.active_site.as_deref(), Some("dc1"));
    assert!(p.action.is_none() && !p.busy);
}

#[test]
fn degraded_when_the_serving_database_has_no_mirror() {
    let mut w = World::steady();
    w.sql.db_mut(A, CHAT).expect("exists").mirror = None;
    let p = w.pass();
    assert_eq!(p.status.phase, Some(PoolPhase::Degraded));
    assert_eq!(p.status.step.as_deref(), Some("mgc is not mirrored at dc1"));
    assert!(p.action.is_none());
}

#[test]
fn degraded_when_the_backup_instance_is_unreachable() {
    let mut w = World::steady();
    w.sql.down.insert(B.into());
    let p = w.pass();
    assert_eq!(p.status.phase, Some(PoolPhase::Degraded));
    assert!(condition(&p, conditions::DEGRADED).starts_with("SQL-CHAT-B cannot be observed"));
    let b = p.status.instances.iter().find(|i| i.server_name == B).expect("listed");
    assert!(!b.reachable && b.message.is_some());
    // The last log-shipping row seen is kept.
    assert!(p.status.log_shipping.as_ref().expect("kept").configured);
    assert!(p.action.is_none());
    // Back again: steady.
    w.sql.down.clear();
    assert_eq!(w.pass().status.phase, Some(PoolPhase::Steady));
}

#[test]
fn an_unreachable_primary_at_rest_is_reported_and_left_alone() {
    let mut w = World::steady();
    w.sql.down.insert(A.into());
    let p = w.passes(3);
    assert_eq!(p.status.phase, Some(PoolPhase::Waiting));
    assert!(p.status.primary_unreachable_since.is_some());
    assert!(w.log.is_empty(), "{:?}", w.script());
}

#[test]
fn an_invalid_spec_takes_no_action() {
    let mut w = World::steady();
    w.flip("dc9");
    let p = w.passes(3);
    assert_eq!(p.status.phase, Some(PoolPhase::Invalid));
    assert!(is_true(&p.status.conditions, conditions::INVALID));
    assert!(condition(&p, conditions::INVALID).contains("spec.activeSite"));
    assert!(p.action.is_none() && !p.busy && p.status.transition.is_none());
    assert!(w.log.is_empty());
}

#[test]
fn a_suspended_pool_is_planned_but_not_acted_on() {
    let mut w = World::steady();
    w.spec.suspend = true;
    assert_eq!(w.pass().status.phase, Some(PoolPhase::Suspended));
    w.flip("dc2");
    let p = w.passes(3);
    assert_eq!(p.status.phase, Some(PoolPhase::Suspended));
    assert!(p.action.is_none());
    // The switchover it would run is shown, at its first step.
    assert_eq!(p.status.step.as_deref(), Some("1/11 clear-active-servers@dc1"));
    assert!(w.log.is_empty());
    w.spec.suspend = false;
    assert_eq!(
        describe(&w.pass().action.expect("resumed")),
        "hook clear-active-servers@dc1"
    );
}
