//! Fence and force-quorum hooks: a declared fence hook that succeeded is the evidence a forced
//! failover away from an unreachable primary needs (so `Automatic` may act alone); one that failed
//! leaves the decision to a person. A force-quorum hook runs under the forced failover's consent.

use super::scenarios::{automatic, outage};
use super::*;
use crate::api::availability_group::{AgHook, HookState};
use crate::components::JobPhase;
use k8s_openapi::api::batch::v1::JobTemplateSpec;

fn template() -> JobTemplateSpec {
    serde_json::from_value(serde_json::json!({
        "spec": {"template": {"spec": {
            "containers": [{"name": "fence", "image": "registry.example/fence:1"}],
            "restartPolicy": "Never"
        }}}
    }))
    .expect("a Job template")
}

fn hook_step(p: &Plan) -> &HookStep {
    match &p.next {
        Next::Hook(h) => h,
        other => panic!("expected a hook step, got {other:?}"),
    }
}

fn job(step: &HookStep, phase: JobPhase) -> AgJob {
    AgJob {
        name: format!("ag1-{}-0a1b2c3d", step.hook.as_str()),
        hook: step.hook,
        site: step.site.clone(),
        run: step.run.clone(),
        phase,
    }
}

fn finished(p: &Plan) -> Vec<(AgHook, Option<String>)> {
    p.notices
        .iter()
        .filter_map(|n| match n {
            Notice::HookFinished { hook, failed, .. } => Some((*hook, failed.clone())),
            _ => None,
        })
        .collect()
}

/// The outage of sql-a under Automatic (10 s, 30 s), with sql-a's fence hook declared.
fn fenced_outage() -> World {
    outage()
        .spec_edit(automatic(10, 30))
        .spec_edit(|s| s.replicas[0].fence_hook = Some(template()))
}

#[test]
fn automatic_runs_the_fence_hook_once_it_would_force_and_forces_on_its_success() {
    let mut w = fenced_outage();
    let seen = snapshot_of_a(t(12, 0, 0));
    let p = w.plan(&Journal::default(), now(), None, Some(&seen));
    assert!(is_wait(&p), "not before minUnreachableSeconds: {:?}", p.next);
    assert!(p.journal.hooks.is_empty());

    let p = w.plan(&p.journal, later(10), None, None);
    let h = hook_step(&p).clone();
    assert_eq!(
        (h.hook, h.replica.as_str(), h.site.as_str(), h.target.as_str()),
        (AgHook::Fence, "sql-a", "site-a", "sql-b")
    );
    assert_eq!(p.phase, Phase::Failover);
    assert!(
        p.journal.confirmation.is_none(),
        "no person is asked while the fence may settle it"
    );
    assert!(p.journal.hooks.is_empty(), "journalled once the Job is created");
    assert_eq!(h.after.hooks.len(), 1);
    assert_eq!(h.after.hooks[0].state, HookState::Running);

    // The same pass again before the Job shows up: the same step (the Job name is the same).
    let again = w.plan(&h.after, later(11), None, None);
    assert_eq!(hook_step(&again).run, h.run);

    w.jobs = vec![job(&h, JobPhase::Running)];
    let p = w.plan(&h.after, later(12), None, None);
    assert!(is_wait(&p) && reason(&p).contains("is running"), "{:?}", p.next);

    w.jobs = vec![job(&h, JobPhase::Succeeded)];
    let p = w.plan(&p.journal, later(14), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    let why = p.estimate.clone().unwrap().old_primary_fenced.expect("evidence");
    assert!(why.contains("fence hook Job ag1-fence-0a1b2c3d"), "{why}");
    assert_eq!(finished(&p), vec![(AgHook::Fence, None)]);
    let record = &p.journal.hooks[0];
    assert_eq!(
        (record.state, record.job.as_deref()),
        (HookState::Succeeded, Some("ag1-fence-0a1b2c3d"))
    );

    // After a restart the journal is enough: the Job gone (deleted, TTL) is not run again.
    w.jobs.clear();
    let p = w.plan(&p.journal, later(16), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
    assert!(finished(&p).is_empty(), "reported once");
}

#[test]
fn a_failed_fence_is_reported_and_leaves_the_decision_to_a_person() {
    let mut w = fenced_outage();
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let p = w.plan(&p.journal, later(10), None, None);
    let h = hook_step(&p).clone();
    w.jobs = vec![job(
        &h,
        JobPhase::Failed("BackoffLimitExceeded: the VM API refused".into()),
    )];
    let p = w.plan(&h.after, later(12), None, None);
    assert_eq!(p.phase, Phase::AwaitingConfirmation, "{:?}", p.next);
    assert!(
        reason(&p).contains("Its fence hook failed: BackoffLimitExceeded: the VM API refused")
            && reason(&p).contains("cannot tell whether sql-a still accepts writes"),
        "{}",
        reason(&p)
    );
    assert_eq!(
        finished(&p),
        vec![(AgHook::Fence, Some("BackoffLimitExceeded: the VM API refused".into()))]
    );
    assert_eq!(p.journal.hooks[0].state, HookState::Failed);
    let token = p.journal.confirmation.clone().expect("a request").token;
    // Not run again, not reported again; the person's token forces.
    let again = w.plan(&p.journal, later(14), None, None);
    assert_eq!(again.phase, Phase::AwaitingConfirmation);
    assert!(finished(&again).is_empty());
    let p = w.plan(&again.journal, later(15), Some(&token), None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
}

#[test]
fn confirm_fences_first_and_then_asks_without_the_two_writers_warning() {
    let mut w = outage().spec_edit(|s| s.replicas[0].fence_hook = Some(template()));
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let h = hook_step(&p).clone();
    w.jobs = vec![job(&h, JobPhase::Succeeded)];
    let p = w.plan(&h.after, later(2), None, None);
    assert_eq!(
        p.phase,
        Phase::AwaitingConfirmation,
        "Confirm still asks about the loss"
    );
    assert!(!reason(&p).contains("cannot tell whether"), "{}", reason(&p));
    assert!(p.estimate.unwrap().old_primary_fenced.is_some());
}

#[test]
fn no_hook_runs_under_never_or_when_only_another_replica_declares_one() {
    let never = outage()
        .spec_edit(|s| s.forced_failover.policy = ForcePolicy::Never)
        .spec_edit(|s| s.replicas[0].fence_hook = Some(template()));
    let p = never.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert!(is_blocked(&p) && reason(&p).contains("Never"), "{:?}", p.next);
    // A fence hook on the target fences nothing that matters here.
    let elsewhere = outage().spec_edit(|s| s.replicas[1].fence_hook = Some(template()));
    let p = elsewhere.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert_eq!(p.phase, Phase::AwaitingConfirmation, "{:?}", p.next);
    // Automatic over its loss bound: nothing would be forced, so nothing is fenced.
    let over = fenced_outage().spec_edit(automatic(10, 1));
    let p = over.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let p = over.plan(&p.journal, later(10), None, None);
    assert!(!matches!(p.next, Next::Hook(_)), "{:?}", p.next);
    assert_eq!(
        p.phase,
        Phase::AwaitingConfirmation,
        "a person decides, as without a hook"
    );
}

#[test]
fn a_force_quorum_hook_runs_under_the_forced_failovers_consent() {
    let mut w = outage()
        .rep(1, |r| r.quorum = None)
        .spec_edit(|s| s.replicas[1].force_quorum_hook = Some(template()));
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    assert_eq!(p.phase, Phase::AwaitingConfirmation, "{:?}", p.next);
    assert!(reason(&p).contains("forceQuorumHook"), "{}", reason(&p));
    let token = p.journal.confirmation.clone().expect("asked").token;

    let p = w.plan(&p.journal, later(2), Some(&token), None);
    let h = hook_step(&p).clone();
    assert_eq!(
        (h.hook, h.replica.as_str(), h.site.as_str()),
        (AgHook::ForceQuorum, "sql-b", "site-b")
    );
    w.jobs = vec![job(&h, JobPhase::Succeeded)];
    let p = w.plan(&h.after, later(4), Some(&token), None);
    assert!(
        is_wait(&p) && reason(&p).contains("waiting for sql-b's WSFC node to report quorum"),
        "{:?}",
        p.next
    );
    assert!(
        p.journal.confirmation.is_some(),
        "the token is not consumed by forcing quorum"
    );
    // Quorum forced: the same token makes the forced failover.
    let forced = w.clone().rep(1, |r| r.quorum = Some(QuorumState::Forced));
    let p = forced.plan(&p.journal, later(6), Some(&token), None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));

    // A failed force-quorum Job: Blocked with the remediation by hand.
    let mut failing = w.clone();
    failing.jobs = vec![job(&h, JobPhase::Failed("DeadlineExceeded".into()))];
    let p = failing.plan(&h.after, later(4), Some(&token), None);
    assert!(is_blocked(&p), "{:?}", p.next);
    assert!(
        reason(&p).contains("forceQuorumHook failed (DeadlineExceeded)") && reason(&p).contains("-FixQuorum"),
        "{}",
        reason(&p)
    );
}

#[test]
fn with_a_fence_that_succeeded_automatic_forces_quorum_and_fails_over_without_a_person() {
    let mut w = fenced_outage()
        .rep(1, |r| r.quorum = None)
        .spec_edit(|s| s.replicas[1].force_quorum_hook = Some(template()));
    let p = w.plan(&Journal::default(), now(), None, Some(&snapshot_of_a(t(12, 0, 0))));
    let p = w.plan(&p.journal, later(10), None, None);
    let fence = hook_step(&p).clone();
    assert_eq!(fence.hook, AgHook::Fence, "fenced first");
    w.jobs = vec![job(&fence, JobPhase::Succeeded)];
    let p = w.plan(&fence.after, later(12), None, None);
    let quorum = hook_step(&p).clone();
    assert_eq!(quorum.hook, AgHook::ForceQuorum);
    assert!(
        p.journal.confirmation.is_none(),
        "no person asked: the fence is the evidence"
    );
    w.jobs.push(job(&quorum, JobPhase::Succeeded));
    let w = w.rep(1, |r| r.quorum = Some(QuorumState::Forced));
    let p = w.plan(&quorum.after, later(14), None, None);
    assert_eq!(step(&p).command, cmd("sql-b", Action::ForcedFailover { group: ag() }));
}
