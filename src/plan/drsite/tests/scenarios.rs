//! The runbooks end to end on the pure world: the order of every action
//! against runbook A, and the situations around them.

use super::*;
use crate::api::dr_site::{DrPhase, StepState, TransitionKind};
use crate::plan::confirm::TokenNotice;
use crate::plan::drsite::Notice;

fn steady_at(site: &str) -> World {
    let mut w = World::new(spec(&contact_center(), true, site), site);
    w.settle(50);
    w.log.clear();
    w
}

fn notices(w: &mut World, limit: u32) -> Vec<Notice> {
    let mut all = Vec::new();
    for _ in 0..limit {
        let p = w.step();
        all.extend(p.notices.clone());
        if p.actions.is_empty() && !p.busy {
            break;
        }
    }
    all
}

#[test]
fn cold_start_runs_runbook_a_in_dependency_order() {
    let mut w = World::new(spec(&contact_center(), true, "site-a"), "site-a");
    let first = w.step();
    assert_eq!(first.phase, DrPhase::Starting);
    assert_eq!(first.step.as_deref(), Some("1/8 start master-confserv@site-a"));
    let end = w.settle(50);
    assert_eq!(
        w.script(),
        [
            "start master-confserv@site-a",
            "start master-scs@site-a",
            "start message-server@site-a",
            "start scs@site-a",
            "start scs@site-b",
            "start proxy@site-a",
            "start proxy@site-b",
            "start stat-server@site-a",
        ]
    );
    // Both sites' solution control servers start together: parallel branches are not serialised.
    assert_eq!(w.log[3].tick, w.log[4].tick);
    assert_eq!(end.phase, DrPhase::Steady);
    assert_eq!(end.ready, (8, 8));
    assert!(end.steps.is_empty() && end.step.is_none());
    let record = end.journal.last_transition.expect("recorded");
    assert_eq!(record.kind, TransitionKind::ColdStart);
    assert_eq!(record.steps, 8);
    assert!(record.duration_seconds > 0);
}

#[test]
fn switchover_stops_in_reverse_moves_the_group_then_starts() {
    let mut w = steady_at("site-a");
    w.spec.active_site = "site-b".into();
    let first = w.step();
    assert_eq!(first.phase, DrPhase::SwitchingOver);
    w.settle(50);
    assert_eq!(
        w.script(),
        [
            "stop stat-server@site-a",
            "stop message-server@site-a",
            "stop master-scs@site-a",
            "stop master-confserv@site-a",
            "move AvailabilityGroup/ag1@site-b",
            "start master-confserv@site-b",
            "start master-scs@site-b",
            "start message-server@site-b",
            "start stat-server@site-b",
        ]
    );
    let record = w.journal.last_transition.clone().expect("recorded");
    assert_eq!(record.kind, TransitionKind::Switchover);
    assert_eq!(
        (record.from_site.as_deref(), record.to_site.as_str()),
        (Some("site-a"), "site-b")
    );
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Steady));
    // The shared components never stopped.
    assert!(w.running("scs", "site-a") && w.running("proxy", "site-a"));
}

#[test]
fn failover_with_site_a_lost_needs_both_confirmations_then_fails_back() {
    let mut w = steady_at("site-a");
    w.down.insert("site-a".into());
    w.spec.active_site = "site-b".into();
    let p = w.step();
    assert_eq!(
        p.journal.transition.as_ref().map(|t| t.kind),
        Some(TransitionKind::Failover)
    );
    // The stops cannot happen, and site-a may still run its components and take writes: nothing
    // moves until a person confirms site-a lost (asked before the group is moved, not after).
    assert!(w.script().is_empty(), "{:?}", w.script());
    assert_eq!(p.phase, DrPhase::AwaitingConfirmation);
    let request = p.journal.site_lost.clone().expect("asks");
    assert_eq!(request.site, "site-a");
    assert!(
        request
            .command
            .contains(&format!("drover.dev/confirm-site-lost={}", request.token))
    );
    assert!(p.notices.contains(&Notice::SiteLostConfirmationRequested {
        site: "site-a".into(),
        token: request.token.clone()
    }));
    // Asked once, not every reconcile.
    let again = w.step();
    assert!(
        !again
            .notices
            .iter()
            .any(|n| matches!(n, Notice::SiteLostConfirmationRequested { .. }))
    );
    assert!(
        w.script().is_empty(),
        "nothing moved or started before the confirmation"
    );

    w.confirm_token = Some(request.token.clone());
    let seen = notices(&mut w, 3);
    assert!(seen.contains(&Notice::SiteDeclaredLost { site: "site-a".into() }));
    // Now the group is moved; its own policy asks for the data loss to be confirmed.
    assert_eq!(w.script(), ["move AvailabilityGroup/ag1@site-b"]);
    let p = w.step();
    assert_eq!(p.phase, DrPhase::AwaitingConfirmation);
    assert!(
        p.conditions
            .iter()
            .any(|c| c.type_ == "DataLossConfirmationRequired" && c.status)
    );
    assert_eq!(
        w.script(),
        ["move AvailabilityGroup/ag1@site-b"],
        "nothing started before it"
    );
    w.confirm_loss();
    notices(&mut w, 50);
    assert_eq!(
        w.script()[1..],
        [
            "start master-confserv@site-b",
            "start master-scs@site-b",
            "start message-server@site-b",
            "start stat-server@site-b",
        ]
    );
    let record = w.journal.last_transition.clone().expect("recorded");
    assert_eq!(record.kind, TransitionKind::Failover);
    assert_eq!(record.lost_sites, ["site-a"]);
    // Site-a is still unreachable: not steady, but the transition is over.
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Degraded));

    // Site-a returns with its old ActiveSite components still up: they are stopped at once.
    w.down.clear();
    w.log.clear();
    let seen = notices(&mut w, 50);
    assert!(seen.contains(&Notice::SiteReturned { site: "site-a".into() }));
    assert_eq!(
        w.script(),
        [
            "stop stat-server@site-a",
            "stop message-server@site-a",
            "stop master-scs@site-a",
            "stop master-confserv@site-a",
        ]
    );
    assert!(w.journal.lost_sites.is_empty());

    // Failback: the same edit reversed.
    w.log.clear();
    w.spec.active_site = "site-a".into();
    let p = w.step();
    assert_eq!(p.phase, DrPhase::FailingBack);
    w.settle(50);
    assert_eq!(
        w.script(),
        [
            "stop stat-server@site-b",
            "stop message-server@site-b",
            "stop master-scs@site-b",
            "stop master-confserv@site-b",
            "move AvailabilityGroup/ag1@site-a",
            "start master-confserv@site-a",
            "start master-scs@site-a",
            "start message-server@site-a",
            "start stat-server@site-a",
        ]
    );
    assert_eq!(
        w.journal.last_transition.as_ref().map(|t| t.kind),
        Some(TransitionKind::Failback)
    );
}

#[test]
fn an_unreachable_old_site_that_returns_needs_no_confirmation() {
    let mut w = steady_at("site-a");
    w.down.insert("site-a".into());
    w.spec.active_site = "site-b".into();
    for _ in 0..5 {
        let p = w.step();
        assert!(p.journal.site_lost.is_some());
    }
    // Not even the group moves while site-a may still run and take writes.
    assert!(w.script().is_empty(), "{:?}", w.script());
    w.down.clear();
    w.settle(50);
    let script = w.script();
    let last_stop = script.iter().rposition(|s| s.starts_with("stop ")).expect("stops");
    let first_start = script.iter().position(|s| s.starts_with("start ")).expect("starts");
    assert!(last_stop < first_start, "{script:?}");
    assert!(w.journal.lost_sites.is_empty() && w.journal.site_lost.is_none());
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Steady));
}

#[test]
fn a_wrong_site_lost_token_is_refused_once() {
    let mut w = steady_at("site-a");
    w.down.insert("site-a".into());
    w.spec.active_site = "site-b".into();
    w.step();
    w.confirm_token = Some("not-the-token".into());
    let p = w.step();
    assert!(
        p.notices
            .iter()
            .any(|n| matches!(n, Notice::SiteLostTokenRefused { given, .. } if given == "not-the-token"))
    );
    let p = w.step();
    assert!(
        !p.notices
            .iter()
            .any(|n| matches!(n, Notice::SiteLostTokenRefused { .. }))
    );
    assert!(p.journal.lost_sites.is_empty());
    assert!(w.script().is_empty(), "nothing moved or started: {:?}", w.script());
}

#[test]
fn an_unconfirmed_site_lost_request_expires_and_its_token_is_refused() {
    let mut w = steady_at("site-a");
    w.down.insert("site-a".into());
    w.spec.active_site = "site-b".into();
    // The site-lost question comes first: nothing moves before it is answered.
    let first = w.step().journal.site_lost.expect("asks");
    let issued = first.issued.clone().expect("issued");
    assert_eq!(
        issued.expires_at.0.as_second() - issued.requested_at.0.as_second(),
        15 * 60
    );
    // Fifteen minutes (10 s a pass) without an answer: a new request, a new token, said so.
    let mut renewed = None;
    for _ in 0..100 {
        let p = w.step();
        if p.notices
            .iter()
            .any(|n| matches!(n, Notice::Token { notice: TokenNotice::Renewed { expired, .. }, .. } if *expired == first.token))
        {
            renewed = p.journal.site_lost.clone();
            break;
        }
    }
    let renewed = renewed.expect("renewed once expired");
    assert_ne!(renewed.token, first.token);
    assert!(w.now().as_second() >= issued.expires_at.0.as_second());
    // The expired token no longer confirms anything.
    w.confirm_token = Some(first.token.clone());
    let p = w.step();
    assert!(p.journal.lost_sites.is_empty());
    assert!(
        p.notices
            .iter()
            .any(|n| matches!(n, Notice::SiteLostTokenRefused { given, .. } if *given == first.token))
    );
    assert!(!w.script().iter().any(|s| s.starts_with("start ")));
    // The new one does, and says who gave it.
    w.confirm_token = Some(renewed.token.clone());
    let p = w.step();
    assert_eq!(p.journal.lost_sites.len(), 1);
    assert!(
        p.notices
            .iter()
            .any(|n| matches!(n, Notice::Token { notice: TokenNotice::Accepted { .. }, by, .. } if by == "tester"))
    );
}

#[test]
fn a_token_from_an_earlier_transition_does_not_confirm_a_new_one() {
    let mut w = steady_at("site-a");
    w.down.insert("site-a".into());
    w.spec.active_site = "site-b".into();
    // The site-lost question comes first now: nothing moves before it is answered.
    let token = w.step().journal.site_lost.expect("asks").token;
    // The desired site flips back and forth: a new attempt, a new token.
    w.spec.active_site = "site-a".into();
    w.step();
    w.spec.active_site = "site-b".into();
    w.step();
    let p = w.step();
    assert_eq!(p.journal.transition.as_ref().map(|t| t.attempt), Some(2));
    let fresh = p.journal.site_lost.clone().map(|r| r.token);
    assert!(fresh.is_some() && fresh.as_deref() != Some(token.as_str()));
    w.confirm_token = Some(token);
    let p = w.step();
    assert!(p.journal.lost_sites.is_empty());
}

#[test]
fn flipping_back_mid_transition_never_runs_an_active_site_component_twice() {
    let mut w = steady_at("site-a");
    w.spec.active_site = "site-b".into();
    // Run until the group moved and the first component started at site-b.
    for _ in 0..20 {
        w.step();
        if w.running("master-confserv", "site-b") {
            break;
        }
    }
    assert!(w.running("master-confserv", "site-b"));
    w.spec.active_site = "site-a".into();
    let p = w.step();
    assert!(
        p.notices
            .iter()
            .any(|n| matches!(n, Notice::TransitionRetargeted { to, attempt: 1 } if to == "site-a"))
    );
    for _ in 0..50 {
        let p = w.step();
        for c in ["master-confserv", "master-scs", "message-server", "stat-server"] {
            assert!(!(w.running(c, "site-a") && w.running(c, "site-b")), "{c} at both sites");
        }
        if p.actions.is_empty() && !p.busy {
            break;
        }
    }
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Steady));
    assert_eq!(w.ag_primary.as_deref(), Some("site-a"));
    assert!(w.running("stat-server", "site-a") && !w.running("master-confserv", "site-b"));
}

#[test]
fn suspended_plans_and_reports_but_does_nothing() {
    let mut w = steady_at("site-a");
    w.spec.suspend = true;
    w.spec.active_site = "site-b".into();
    let p = w.step();
    assert_eq!(p.phase, DrPhase::Suspended);
    assert!(p.actions.is_empty());
    assert!(p.journal.transition.is_none());
    assert_eq!(p.step.as_deref(), Some("1/9 stop stat-server@site-a"));
    assert_eq!(p.steps.len(), 9);
}

#[test]
fn a_desired_site_set_by_hand_is_a_conflict_and_nothing_moves() {
    let mut w = steady_at("site-a");
    w.ag_desired = "site-b".into();
    let p = w.step();
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert_eq!(p.phase, DrPhase::Degraded);
    let conflict = p.conditions.iter().find(|c| c.type_ == "Conflict").expect("set");
    assert!(
        conflict.status && conflict.message.contains("\"site-b\""),
        "{conflict:?}"
    );
    // The DrSite flipped to agree: the conflict is gone and the runbook runs.
    w.spec.active_site = "site-b".into();
    w.settle(50);
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Steady));
}

#[test]
fn a_failed_hook_stops_the_runbook_and_retries_when_its_job_is_deleted() {
    let mut comps = contact_center();
    comps[2].external = true; // message-server lives outside Kubernetes
    let mut w = World::new(spec(&comps, true, "site-a"), "site-a");
    w.failing
        .insert(("message-server".into(), "site-a".into(), HookAction::Start));
    let mut failed = Vec::new();
    for _ in 0..10 {
        let p = w.step();
        failed.extend(p.notices.into_iter().filter(|n| matches!(n, Notice::StepFailed { .. })));
    }
    assert_eq!(failed.len(), 1, "one Event for one failure: {failed:?}");
    let p = w.last.clone().expect("planned");
    assert_eq!(p.phase, DrPhase::Degraded);
    let row = p.steps.iter().find(|s| s.target == "message-server").expect("in plan");
    assert_eq!(row.state, StepState::Failed);
    assert!(!w.running("scs", "site-a"), "nothing after the failed step started");
    // The user fixes the cause and deletes the Job: the step runs again.
    w.failing.clear();
    w.jobs.retain(|(c, ..), _| c != "message-server");
    w.settle(50);
    assert_eq!(w.last.as_ref().map(|p| p.phase), Some(DrPhase::Steady));
    assert_eq!(
        w.script()
            .iter()
            .filter(|s| *s == "start message-server@site-a")
            .count(),
        2
    );
}

#[test]
fn a_component_that_never_becomes_ready_fails_after_its_timeout() {
    let mut w = World::new(spec(&contact_center(), true, "site-a"), "site-a");
    w.step();
    // master-confserv was scaled; it never becomes ready.
    let key = ("master-confserv".to_string(), "site-a".to_string());
    for _ in 0..70 {
        w.step();
        w.truth.get_mut(&key).expect("declared").ready = 0;
    }
    let p = w.last.clone().expect("planned");
    let row = p.steps.iter().find(|s| s.target == "master-confserv").expect("in plan");
    assert_eq!(row.state, StepState::Failed, "{row:?}");
    assert!(row.message.as_deref().is_some_and(|m| m.contains("600 s")));
    assert_eq!(p.phase, DrPhase::Degraded);
}
