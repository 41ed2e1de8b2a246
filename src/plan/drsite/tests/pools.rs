//! A DrSite moving a PersistentChatPool beside its availability group: the
//! same `Move` step at the same point of the runbook, keyed `Kind/name`.

use super::*;
use crate::api::dr_site::{DrPhase, DrSiteStatus, StepAction, StepState, TransitionKind};
use crate::controller::drsite::status::{journal_of, planned};
use crate::plan::drsite::Condition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

const POOL: &str = "PersistentChatPool/pchat";
const AG: &str = "AvailabilityGroup/ag1";
const POOL_COMMAND: &str = "kubectl annotate pchat pchat drover.dev/confirm-data-loss=t";

/// Runbook A with the pool `pchat` beside `ag1`; the master configuration server needs both.
fn steady_with_pool_at(site: &str) -> World {
    let spec = with_pool(spec(&contact_center(), true, site), "pchat", &["master-confserv"]);
    let mut w = World::new(spec, site);
    w.settle(50);
    w.log.clear();
    w
}

fn pool(w: &World) -> &PoolTruth {
    w.pool.as_ref().expect("the spec lists a pool")
}

fn condition<'a>(p: &'a Plan, type_: &str) -> &'a Condition {
    p.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .expect("every condition is set")
}

/// The DrSite's status for `p`, made from what `p` was planned on.
fn status_of(w: &World, observed: &Observed, p: &Plan) -> DrSiteStatus {
    planned(
        &w.spec,
        &DrSiteStatus::default(),
        Some(1),
        p,
        &p.journal,
        observed,
        &Time(w.now()),
    )
}

#[test]
fn a_flip_moves_the_pool_with_the_group_after_the_stops_and_starts_only_when_both_are_writable() {
    let mut w = steady_with_pool_at("site-a");
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Steady));
    w.spec.active_site = "site-b".into();
    let first = w.step();
    assert_eq!(first.phase, DrPhase::SwitchingOver);
    // The plan: every stop, then both moves, then every start.
    let order: Vec<(StepAction, &str)> = first.steps.iter().map(|s| (s.action, s.target.as_str())).collect();
    let moves: Vec<usize> = (0..order.len()).filter(|&i| order[i].0 == StepAction::Move).collect();
    assert_eq!(
        moves.iter().map(|&i| order[i].1).collect::<Vec<_>>(),
        [AG, POOL],
        "{order:?}"
    );
    let last_stop = order.iter().rposition(|(a, _)| *a == StepAction::Stop).expect("stops");
    let first_start = order.iter().position(|(a, _)| *a == StepAction::Start).expect("starts");
    assert!(last_stop < moves[0] && moves[1] < first_start, "{order:?}");

    w.settle(50);
    assert_eq!(
        w.script(),
        [
            "stop stat-server@site-a",
            "stop message-server@site-a",
            "stop master-scs@site-a",
            "stop master-confserv@site-a",
            "move AvailabilityGroup/ag1@site-b",
            "move PersistentChatPool/pchat@site-b",
            "start master-confserv@site-b",
            "start master-scs@site-b",
            "start message-server@site-b",
            "start stat-server@site-b",
        ]
    );
    // Both children move together, once the last stop is done.
    assert_eq!(w.log[4].tick, w.log[5].tick);
    assert!(w.log[3].tick < w.log[4].tick);
    // The group is writable a tick after its move, the pool only after its runbook's three ticks:
    // nothing starts before the slower of the two.
    // (`moved_at` is the first tick that observes it writable.)
    let pool_writable = pool(&w).moved_at.expect("the pool moved");
    assert_eq!(pool_writable, w.log[5].tick + 3, "the pool's runbook takes three ticks");
    assert_eq!(
        w.log[6].tick, pool_writable,
        "the first start waits for the pool, and no longer"
    );

    let end = w.last.clone().expect("planned");
    assert_eq!(end.phase, DrPhase::Steady);
    assert_eq!(end.active_site.as_deref(), Some("site-b"));
    assert_eq!(
        end.journal.last_transition.as_ref().map(|t| t.kind),
        Some(TransitionKind::Switchover)
    );
    assert_eq!(end.journal.applied.get(POOL).map(String::as_str), Some("site-b"));
    assert_eq!(end.journal.applied.get(AG).map(String::as_str), Some("site-b"));
}

#[test]
fn while_the_pool_moves_the_active_site_components_wait_for_it_even_unrequired() {
    // No component names the pool in requiresWritable: ActiveSite ones wait for every child anyway.
    let spec = with_pool(spec(&contact_center(), true, "site-a"), "pchat", &[]);
    let mut w = World::new(spec, "site-a");
    w.settle(50);
    w.spec.active_site = "site-b".into();
    // Until both moves are issued.
    for _ in 0..10 {
        w.step();
        if w.script().iter().any(|s| s.starts_with("move PersistentChatPool/")) {
            break;
        }
    }
    let p = w.step();
    let row = |action: StepAction, target: &str| {
        p.steps
            .iter()
            .find(|s| s.action == action && s.target == target)
            .cloned()
            .expect("in the plan")
    };
    assert_eq!(row(StepAction::Move, AG).state, StepState::Done);
    let pool_row = row(StepAction::Move, POOL);
    assert_eq!(pool_row.state, StepState::Running);
    assert!(
        pool_row
            .message
            .as_deref()
            .is_some_and(|m| m.contains("settle at site-b")),
        "{pool_row:?}"
    );
    let start = row(StepAction::Start, "master-confserv");
    assert_eq!(start.state, StepState::Pending);
    assert_eq!(start.message.as_deref(), Some("waiting for the children to move"));
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    // The DrSite is not active anywhere while its children disagree.
    assert_eq!(p.active_site, None);
}

#[test]
fn a_component_requiring_the_pool_waits_for_it_even_where_it_always_runs() {
    let comps = [
        comp("chat-web", Placement::EverySite, &[]),
        comp("other", Placement::EverySite, &[]),
    ];
    let spec = with_pool(spec(&comps, true, "site-a"), "pchat", &["chat-web"]);
    // Nothing runs; the pool was just told to come back to site-a and is on its way.
    let mut w = World::new(spec, "site-a");
    w.pool.as_mut().expect("pool").at = "site-b".into();
    let first = w.step();
    let chat_web_b = first
        .steps
        .iter()
        .find(|s| s.target == "chat-web" && s.site == "site-b")
        .expect("in the plan");
    assert_eq!(
        chat_web_b.message.as_deref(),
        Some("waiting for PersistentChatPool/pchat to be writable at site-a")
    );
    w.settle(50);
    let script = w.script();
    let ticks = |what: &str| -> Vec<u32> {
        w.log
            .iter()
            .zip(&script)
            .filter(|(_, s)| s.starts_with(what))
            .map(|(r, _)| r.tick)
            .collect()
    };
    let pool_writable = pool(&w).moved_at.expect("the pool moved");
    assert_eq!(ticks("start other@"), [0, 0], "what needs no child starts at once");
    let web = ticks("start chat-web@");
    assert_eq!(web.len(), 2);
    assert!(web.iter().all(|&t| t >= pool_writable), "{web:?} vs {pool_writable}");
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Steady));
}

#[test]
fn a_pool_with_a_conflicting_active_site_is_a_conflict_and_nothing_is_done() {
    let mut w = steady_with_pool_at("site-a");
    // Someone sets the pool's spec.activeSite by hand.
    w.pool.as_mut().expect("pool").desired = "site-b".into();
    for _ in 0..3 {
        let observed = w.observe();
        let p = w.step();
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(p.phase, DrPhase::Degraded);
        let conflict = condition(&p, "Conflict");
        assert!(conflict.status, "{conflict:?}");
        assert!(
            conflict
                .message
                .contains("move PersistentChatPool/pchat@site-a: its spec.activeSite is \"site-b\""),
            "{conflict:?}"
        );
        // The status shows which child, by kind and name, and what drover last applied there.
        let status = status_of(&w, &observed, &p);
        let row = status
            .children
            .iter()
            .find(|c| c.kind == "PersistentChatPool")
            .expect("a row");
        assert_eq!(
            (
                row.name.as_str(),
                row.desired_site.as_deref(),
                row.applied_site.as_deref()
            ),
            ("pchat", Some("site-b"), Some("site-a"))
        );
    }
    assert!(w.log.is_empty(), "{:?}", w.script());
    assert_eq!(w.ag_desired, "site-a", "the group was not touched either");

    // Set back: the conflict clears and nothing needs doing.
    w.pool.as_mut().expect("pool").desired = "site-a".into();
    let p = w.settle(10);
    assert!(!condition(&p, "Conflict").status);
    assert_eq!(p.phase, DrPhase::Steady);
}

#[test]
fn a_pool_awaiting_its_data_loss_confirmation_shows_the_command_in_the_drsite_status() {
    let mut w = steady_with_pool_at("site-a");
    w.down.insert("site-a".into());
    w.spec.active_site = "site-b".into();
    // The stops cannot happen and site-a may still take writes: a person confirms it lost first.
    let token = w.step().journal.site_lost.expect("asks").token;
    assert!(w.script().is_empty(), "{:?}", w.script());
    w.confirm_token = Some(token);
    w.step();
    assert_eq!(
        w.script(),
        [
            "move AvailabilityGroup/ag1@site-b",
            "move PersistentChatPool/pchat@site-b"
        ]
    );
    w.confirm_loss();
    let observed = w.observe();
    let p = w.step();
    assert_eq!(p.phase, DrPhase::AwaitingConfirmation);
    let asked = condition(&p, "DataLossConfirmationRequired");
    assert!(asked.status && asked.message.contains(POOL_COMMAND), "{asked:?}");
    let row = p.steps.iter().find(|s| s.target == POOL).expect("in the plan");
    assert_eq!(row.state, StepState::Blocked);
    assert!(row.message.as_deref().is_some_and(|m| m.contains(POOL_COMMAND)));

    let status = status_of(&w, &observed, &p);
    let child = status
        .children
        .iter()
        .find(|c| c.kind == "PersistentChatPool" && c.name == "pchat")
        .expect("a row");
    assert_eq!(child.confirmation.as_deref(), Some(POOL_COMMAND));
    assert_eq!(child.phase.as_deref(), Some("AwaitingConfirmation"));
    assert_eq!(child.applied_site.as_deref(), Some("site-b"));

    // Given: the pool settles at site-b; site-a was confirmed lost before anything moved, so the
    // ActiveSite starts follow.
    w.confirm_pool_loss();
    let p = w.step();
    assert!(!condition(&p, "DataLossConfirmationRequired").status);
    assert!(p.journal.site_lost.is_none());
    assert_eq!(
        p.journal.lost_sites.iter().map(|l| l.site.as_str()).collect::<Vec<_>>(),
        ["site-a"]
    );
    w.settle(50);
    assert!(w.script().iter().any(|s| s.starts_with("start ")));
}

#[test]
fn a_group_and_a_pool_sharing_a_name_are_two_children() {
    // `ag1` names both; `master-confserv` requires `ag1`, which then means both.
    let spec = with_pool(spec(&contact_center(), true, "site-a"), "ag1", &[]);
    let mut w = World::new(spec, "site-a");
    w.settle(50);
    w.log.clear();
    w.spec.active_site = "site-b".into();
    let observed = w.observe();
    let p = w.step();
    let moves: Vec<&str> = p
        .steps
        .iter()
        .filter(|s| s.action == StepAction::Move)
        .map(|s| s.target.as_str())
        .collect();
    assert_eq!(moves, ["AvailabilityGroup/ag1", "PersistentChatPool/ag1"]);
    let status = status_of(&w, &observed, &p);
    let rows: Vec<(&str, &str)> = status
        .children
        .iter()
        .map(|c| (c.kind.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(rows, [("AvailabilityGroup", "ag1"), ("PersistentChatPool", "ag1")]);
    // The journal read back from status keeps them apart.
    let journal = journal_of(&status);
    assert_eq!(
        journal.applied.keys().map(String::as_str).collect::<Vec<_>>(),
        ["AvailabilityGroup/ag1", "PersistentChatPool/ag1"]
    );

    w.settle(50);
    let script = w.script();
    assert!(
        script.contains(&"move AvailabilityGroup/ag1@site-b".to_string())
            && script.contains(&"move PersistentChatPool/ag1@site-b".to_string()),
        "{script:?}"
    );
    let first_start = w
        .log
        .iter()
        .find(|r| matches!(r.action, Action::Scale { replicas: 2, .. }));
    let pool_writable = pool(&w).moved_at.expect("the pool moved");
    assert!(first_start.is_some_and(|r| r.tick >= pool_writable));
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Steady));
}

#[test]
fn a_pool_without_a_data_center_at_a_drsite_site_makes_it_invalid() {
    let mut w = steady_with_pool_at("site-a");
    let mut observed = w.observe();
    if let Some(p) = observed.children.get_mut(POOL) {
        p.sites = vec!["site-a".into(), "dc-3".into()];
    }
    let p = plan(&Input {
        spec: &w.spec,
        name: "cc",
        observed: &observed,
        journal: &w.journal,
        now: w.now(),
        site_lost_token: None,
        site_lost_by: Some("tester"),
        tokens: crate::plan::confirm::Tokens::default(),
    });
    assert_eq!(p.phase, DrPhase::Invalid);
    assert!(p.actions.is_empty());
    let invalid = condition(&p, "Invalid");
    assert!(
        invalid
            .message
            .contains("spec.persistentChatPools: PersistentChatPool pchat has no data center at site \"site-b\""),
        "{invalid:?}"
    );
    // A missing pool is a blocked step, not an invalid spec.
    w.spec.active_site = "site-b".into();
    let mut observed = w.observe();
    observed
        .children
        .insert(POOL.into(), ChildObs::absent(ChildKind::PersistentChatPool));
    let p = plan(&Input {
        spec: &w.spec,
        name: "cc",
        observed: &observed,
        journal: &w.journal,
        now: w.now(),
        site_lost_token: None,
        site_lost_by: Some("tester"),
        tokens: crate::plan::confirm::Tokens::default(),
    });
    let row = p.steps.iter().find(|s| s.target == POOL).expect("in the plan");
    assert_eq!(row.state, StepState::Blocked);
    assert_eq!(row.message.as_deref(), Some("PersistentChatPool pchat not found"));
    assert_eq!(p.phase, DrPhase::Degraded);
}
