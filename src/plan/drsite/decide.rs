//! Around the runbook's steps: begin, retarget and finish the transition,
//! ask for and take the site-lost confirmation, carry step times over from the
//! journal, apply timeouts, and say the phase and conditions.

use super::child::{ChildKind, listed};
use super::steps::{Block, State, Step, runbook, wanted_sites};
use super::{Action, Condition, Input, Instance, Journal, Notice, Plan};
use crate::api::conditions as c;
use crate::api::dr_site::{
    CONFIRM_SITE_LOST_ANNOTATION, DrPhase, LostSite, Placement, PlanStep, SiteLostRequest, StepAction, StepState,
    Transition, TransitionKind, TransitionRecord, validate,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::collections::BTreeSet;

/// The plan for one DrSite now.
pub fn plan(input: &Input<'_>) -> Plan {
    let spec = input.spec;
    let target = spec.active_site.as_str();
    let problems = invalid(input);
    let observed_active = active_site(input);
    if !problems.is_empty() {
        return Plan {
            phase: DrPhase::Invalid,
            active_site: observed_active,
            steps: Vec::new(),
            step: None,
            ready: (0, 0),
            actions: Vec::new(),
            journal: input.journal.clone(),
            notices: Vec::new(),
            conditions: vec![Condition {
                type_: c::INVALID,
                status: true,
                reason: "InvalidSpec",
                message: problems.join("; "),
            }],
            busy: false,
        };
    }

    let now = Time(input.now);
    let mut journal = input.journal.clone();
    let mut notices = Vec::new();
    // A site confirmed lost that answers again is no longer lost: what runs there is seen again.
    journal.lost_sites.retain(|l| {
        let back = input.observed.sites.get(&l.site).is_some_and(Result::is_ok);
        if back {
            notices.push(Notice::SiteReturned { site: l.site.clone() });
        }
        !back
    });
    // A child already asking for the DrSite's site is adopted: what is found there is ours.
    for (kind, child) in listed(spec) {
        let key = kind.key(&child.name);
        if let Some(obs) = input.observed.children.get(&key)
            && obs.found
            && obs.desired_site.as_deref() == Some(target)
        {
            journal.applied.insert(key, target.to_string());
        }
    }
    let scoped = Input {
        journal: &journal,
        ..*input
    };
    let lost = |j: &Journal| j.lost_sites.iter().map(|l| l.site.clone()).collect::<BTreeSet<_>>();

    // Begin, retarget: only a DrSite that may act writes its journal.
    let need = runbook(&scoped, None, &lost(&journal)).iter().any(Step::holds_open);
    if !spec.suspend {
        match &mut journal.transition {
            None if need => {
                let from = observed_active.clone().or_else(|| input.journal.active_site.clone());
                let kind = kind_of(input, from.as_deref());
                notices.push(Notice::TransitionStarted {
                    kind,
                    from: from.clone(),
                    to: target.to_string(),
                });
                journal.transition = Some(Transition {
                    kind,
                    from_site: from,
                    to_site: target.to_string(),
                    started_at: now.clone(),
                    attempt: 0,
                });
                journal.steps.clear();
            }
            Some(t) if t.to_site != target => {
                // What the move now is: a repair turned towards the site a failover left is a
                // failback. Going back to where it started keeps the kind it had.
                let kind = kind_of(input, t.from_site.as_deref());
                if !matches!(kind, TransitionKind::Repair | TransitionKind::ColdStart) {
                    t.kind = kind;
                }
                t.to_site = target.to_string();
                t.attempt = t.attempt.saturating_add(1);
                notices.push(Notice::TransitionRetargeted {
                    to: target.to_string(),
                    attempt: t.attempt,
                });
                journal.steps.clear();
            }
            _ => {}
        }
    }
    let run = journal.transition.as_ref().map(run_label);
    let scoped = Input {
        journal: &journal,
        ..*input
    };
    let mut steps = runbook(&scoped, run.as_deref(), &lost(&journal));

    // The site-lost confirmation: asked for while an ActiveSite start waits on an unreachable site.
    let waiting_on = steps.iter().find_map(|s| match &s.state {
        State::Blocked(Block::SiteNotStopped(site), _) => Some(site.clone()),
        _ => None,
    });
    match (&waiting_on, &journal.transition) {
        (Some(site), Some(t)) => {
            let (token, issued) = site_lost_token(input, site, t, &mut notices);
            match input.site_lost_token {
                Some(given) if given == token => {
                    notices.push(Notice::SiteDeclaredLost { site: site.clone() });
                    journal.lost_sites.push(LostSite {
                        site: site.clone(),
                        confirmed_at: now.clone(),
                        token,
                    });
                    journal.site_lost = None;
                    let scoped = Input {
                        journal: &journal,
                        ..*input
                    };
                    steps = runbook(&scoped, run.as_deref(), &lost(&journal));
                }
                given => {
                    let previous = journal.site_lost.take().filter(|r| r.token == token && &r.site == site);
                    if previous.is_none() {
                        notices.push(Notice::SiteLostConfirmationRequested {
                            site: site.clone(),
                            token: token.clone(),
                        });
                    }
                    let mut refused = previous.and_then(|p| p.refused);
                    if let Some(given) = given
                        && refused.as_deref() != Some(given)
                        && !journal.lost_sites.iter().any(|l| l.token == given)
                    {
                        notices.push(Notice::SiteLostTokenRefused {
                            given: given.to_string(),
                            current: Some(token.clone()),
                        });
                        refused = Some(given.to_string());
                    }
                    journal.site_lost = Some(SiteLostRequest {
                        site: site.clone(),
                        command: format!(
                            "kubectl annotate drsite {} {CONFIRM_SITE_LOST_ANNOTATION}={token} --overwrite",
                            input.name
                        ),
                        token,
                        refused,
                        issued: Some(issued),
                    });
                }
            }
        }
        _ => journal.site_lost = None,
    }

    // Times from the journal; timeouts.
    let previous = std::mem::take(&mut journal.steps);
    let find = |s: &Step| {
        previous
            .iter()
            .find(|p| (p.action, p.target.as_str(), p.site.as_str()) == s.key())
    };
    let mut rows = Vec::new();
    for step in &mut steps {
        let before = find(step);
        let issued = matches!(step.state, State::Due(_) | State::Running(_) | State::Failed(_));
        let started_at = before
            .and_then(|b| b.started_at.clone())
            .or_else(|| issued.then(|| now.clone()));
        if let (State::Running(why), Some(limit), Some(since)) = (&step.state, step.timeout_seconds, &started_at)
            && input.now.as_second() - since.0.as_second() > i64::from(limit)
        {
            step.state = State::Failed(format!("not done after {limit} s: {why}"));
        }
        if let State::Failed(message) = &step.state
            && before.is_none_or(|b| b.state != StepState::Failed)
        {
            notices.push(Notice::StepFailed {
                step: describe(step),
                message: message.clone(),
            });
        }
        let finished_at = match (&step.state, before) {
            (State::Done(_), Some(b)) if b.state == StepState::Done => b.finished_at.clone(),
            (State::Done(_), Some(_)) => Some(now.clone()),
            _ => None,
        };
        // A transition's plan holds what it had to do: steps already done when it began are not in it.
        if before.is_some() || !step.done() {
            rows.push(row(step, started_at, finished_at));
        }
    }

    // Finish.
    let open = steps.iter().any(Step::holds_open);
    if !open && let Some(t) = journal.transition.take() {
        let seconds = input.now.as_second() - t.started_at.0.as_second();
        notices.push(Notice::TransitionFinished {
            kind: t.kind,
            to: t.to_site.clone(),
            seconds,
        });
        let started = t.started_at.0.as_second();
        match t.kind {
            TransitionKind::Failover => journal.failed_over_from = t.from_site.clone(),
            _ if journal.failed_over_from.as_deref() == Some(t.to_site.as_str()) => journal.failed_over_from = None,
            _ => {}
        }
        journal.last_transition = Some(TransitionRecord {
            kind: t.kind,
            from_site: t.from_site,
            to_site: t.to_site,
            started_at: t.started_at,
            finished_at: now.clone(),
            duration_seconds: seconds,
            steps: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            lost_sites: journal
                .lost_sites
                .iter()
                .filter(|l| l.confirmed_at.0.as_second() >= started)
                .map(|l| l.site.clone())
                .collect(),
        });
        rows.clear();
    }
    // While a transition is open its kind follows what it meets: an old site that stops
    // answering turns a switchover into a failover.
    if let Some(t) = &mut journal.transition
        && t.kind == TransitionKind::Switchover
        && steps
            .iter()
            .any(|s| s.action == StepAction::Stop && matches!(s.state, State::Blocked(Block::Unreachable(_), _)))
    {
        t.kind = TransitionKind::Failover;
    }
    journal.steps = rows.clone();
    journal.active_site = observed_active.clone();

    let conflict = steps
        .iter()
        .any(|s| matches!(s.state, State::Blocked(Block::Conflict, _)));
    let actions: Vec<Action> = if spec.suspend || conflict {
        Vec::new()
    } else {
        steps
            .iter()
            .filter_map(|s| match &s.state {
                State::Due(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    };
    // When suspended, the plan shown is what drover would do.
    let shown = if spec.suspend && rows.is_empty() {
        steps.iter().filter(|s| !s.done()).map(|s| row(s, None, None)).collect()
    } else {
        rows
    };
    let phase = phase_of(input, &journal, &steps, conflict);
    let conditions = conditions_of(input, &journal, &steps, phase);
    let step = shown.iter().position(|r| r.state != StepState::Done).map(|i| {
        let r = &shown[i];
        format!("{}/{} {} {}@{}", i + 1, shown.len(), verb(r.action), r.target, r.site)
    });
    let busy = !actions.is_empty()
        || journal.transition.is_some()
        || steps.iter().any(|s| matches!(s.state, State::Running(_)));
    Plan {
        phase,
        active_site: observed_active,
        steps: shown,
        step,
        ready: ready(input, &steps),
        actions,
        journal,
        notices,
        conditions,
        busy,
    }
}

/// Problems the spec validation cannot see: children that do not cover the DrSite's sites.
fn invalid(input: &Input<'_>) -> Vec<String> {
    let mut problems: Vec<String> = validate(input.spec).iter().map(ToString::to_string).collect();
    for (kind, child) in listed(input.spec) {
        let Some(obs) = observed_child(input, kind, &child.name) else {
            continue;
        };
        let (field, what) = match kind {
            ChildKind::AvailabilityGroup => ("spec.availabilityGroups", "no replica"),
            ChildKind::PersistentChatPool => ("spec.persistentChatPools", "no data center"),
        };
        for site in &input.spec.sites {
            if !obs.sites.contains(&site.name) {
                problems.push(format!(
                    "{field}: {kind} {} has {what} at site {:?}",
                    child.name, site.name
                ));
            }
        }
    }
    problems
}

/// A listed child that exists, as observed.
fn observed_child<'a>(input: &Input<'a>, kind: ChildKind, name: &str) -> Option<&'a super::ChildObs> {
    input.observed.children.get(&kind.key(name)).filter(|c| c.found)
}

/// Where the children are writable (all at one site), or without children the one site where
/// `ActiveSite` components run.
fn active_site(input: &Input<'_>) -> Option<String> {
    let spec = input.spec;
    let mut sites = listed(spec)
        .map(|(kind, child)| observed_child(input, kind, &child.name).and_then(|c| c.active_site.clone()))
        .peekable();
    if sites.peek().is_some() {
        let first = sites.next().flatten()?;
        return sites.all(|s| s.as_deref() == Some(first.as_str())).then_some(first);
    }
    let running = running_sites(input);
    (running.len() == 1).then(|| running.into_iter().next()).flatten()
}

/// Sites where some `ActiveSite` component runs (a pod exists or the server answers).
fn running_sites(input: &Input<'_>) -> BTreeSet<String> {
    input
        .spec
        .components
        .iter()
        .filter(|c| c.placement == Placement::ActiveSite)
        .flat_map(|c| c.sites.iter().map(move |s| (c, s.site.clone())))
        .filter(
            |(c, site)| match input.observed.instances.get(&(c.name.clone(), site.clone())) {
                Some(Instance::Workload(Some(w))) => w.current > 0 || w.ready > 0,
                Some(Instance::External(alive)) => alive.is_ok(),
                _ => false,
            },
        )
        .map(|(_, site)| site)
        .collect()
}

fn kind_of(input: &Input<'_>, from: Option<&str>) -> TransitionKind {
    let target = input.spec.active_site.as_str();
    let Some(from) = from else {
        return TransitionKind::ColdStart;
    };
    if from == target {
        return if running_sites(input).is_empty() {
            TransitionKind::ColdStart
        } else {
            TransitionKind::Repair
        };
    }
    if input.journal.failed_over_from.as_deref() == Some(target) {
        return TransitionKind::Failback;
    }
    let site_down = input.observed.sites.get(from).is_none_or(Result::is_err);
    let primary_gone = listed(input.spec).any(|(kind, child)| {
        input
            .observed
            .children
            .get(&kind.key(&child.name))
            .is_none_or(|c| c.active_site.is_none())
    });
    if site_down || primary_gone {
        TransitionKind::Failover
    } else {
        TransitionKind::Switchover
    }
}

/// The run label of a transition's hook Jobs: its start (seconds), attempt and destination.
pub fn run_label(t: &Transition) -> String {
    crate::components::hook::run_label(t.started_at.0, t.attempt, &t.to_site)
}

/// The one-shot token confirming `site` lost, bound to this DrSite, the site, the transition and
/// its attempt, through the shared scheme (`plan::confirm`: a nonce kept in status, an expiry). A
/// renewal and a consumption are noticed here; a request and a refusal by the caller.
fn site_lost_token(
    input: &Input<'_>,
    site: &str,
    t: &Transition,
    notices: &mut Vec<Notice>,
) -> (String, crate::api::confirmation::TokenIssue) {
    use crate::plan::confirm::{self, Previous, TokenNotice};
    let binding = format!("{}\0{site}\0{}\0{}", input.name, t.started_at.0.as_second(), t.attempt);
    let previous = input.journal.site_lost.as_ref().map(Previous::of);
    let asked = confirm::ask(&binding, previous, input.site_lost_token, input.now, input.tokens);
    // A refusal (of an expired token too) is the SiteLostTokenRefused Event, once.
    for notice in asked.events(true).filter(|n| !matches!(n, TokenNotice::Refused { .. })) {
        notices.push(Notice::Token {
            what: format!("site {site} lost"),
            annotation: CONFIRM_SITE_LOST_ANNOTATION,
            notice: notice.clone(),
            by: input.site_lost_by.unwrap_or(confirm::UNKNOWN).to_string(),
        });
    }
    (asked.token, asked.issue)
}

fn verb(action: StepAction) -> &'static str {
    match action {
        StepAction::Stop => "stop",
        StepAction::Move => "move",
        StepAction::Start => "start",
    }
}

fn describe(step: &Step) -> String {
    format!("{} {}@{}", verb(step.action), step.target, step.site)
}

fn row(step: &Step, started_at: Option<Time>, finished_at: Option<Time>) -> PlanStep {
    let (state, message) = match &step.state {
        State::Done(m) => (StepState::Done, m.clone()),
        State::Due(_) => (StepState::Running, None),
        State::Running(m) => (StepState::Running, Some(m.clone())),
        State::Pending(m) => (StepState::Pending, Some(m.clone())),
        State::Blocked(_, m) => (StepState::Blocked, Some(m.clone())),
        State::Failed(m) => (StepState::Failed, Some(m.clone())),
    };
    PlanStep {
        action: step.action,
        target: step.target.clone(),
        site: step.site.clone(),
        state,
        started_at,
        finished_at,
        message,
    }
}

/// Instances running where they should, over all that should run.
fn ready(input: &Input<'_>, steps: &[Step]) -> (usize, usize) {
    let sites: Vec<String> = input.spec.sites.iter().map(|s| s.name.clone()).collect();
    let wanted: usize = input
        .spec
        .components
        .iter()
        .map(|c| wanted_sites(&sites, c, &input.spec.active_site).len())
        .sum();
    let running = steps
        .iter()
        .filter(|s| s.action == StepAction::Start && s.done())
        .count();
    (running, wanted)
}

fn phase_of(input: &Input<'_>, journal: &Journal, steps: &[Step], conflict: bool) -> DrPhase {
    let blocked_on_person = journal.site_lost.is_some()
        || steps
            .iter()
            .any(|s| matches!(s.state, State::Blocked(Block::Confirmation, _)));
    if input.spec.suspend {
        DrPhase::Suspended
    } else if conflict {
        DrPhase::Degraded
    } else if blocked_on_person {
        DrPhase::AwaitingConfirmation
    } else if steps
        .iter()
        .any(|s| matches!(s.state, State::Failed(_) | State::Blocked(Block::Other, _)))
    {
        DrPhase::Degraded
    } else if let Some(t) = &journal.transition {
        match t.kind {
            TransitionKind::ColdStart | TransitionKind::Repair => DrPhase::Starting,
            TransitionKind::Switchover => DrPhase::SwitchingOver,
            TransitionKind::Failover => DrPhase::FailingOver,
            TransitionKind::Failback => DrPhase::FailingBack,
        }
    } else if healthy(input, steps) {
        DrPhase::Steady
    } else {
        DrPhase::Degraded
    }
}

/// Every site answers and every child is settled and not degraded.
fn healthy(input: &Input<'_>, steps: &[Step]) -> bool {
    input
        .spec
        .sites
        .iter()
        .all(|s| input.observed.sites.get(&s.name).is_some_and(Result::is_ok))
        && steps.iter().all(Step::done)
        && listed(input.spec).all(|(kind, child)| {
            input
                .observed
                .children
                .get(&kind.key(&child.name))
                .is_some_and(|c| c.settled && c.phase.as_deref() != Some("Degraded"))
        })
}

fn conditions_of(input: &Input<'_>, journal: &Journal, steps: &[Step], phase: DrPhase) -> Vec<Condition> {
    let messages = |pick: &dyn Fn(&State) -> bool| {
        steps
            .iter()
            .filter(|s| pick(&s.state))
            .map(|s| match &s.state {
                State::Blocked(_, m) | State::Failed(m) | State::Running(m) | State::Pending(m) => {
                    format!("{}: {m}", describe(s))
                }
                _ => describe(s),
            })
            .collect::<Vec<_>>()
    };
    let conflicts = messages(&|s| matches!(s, State::Blocked(Block::Conflict, _)));
    let confirmations = messages(&|s| matches!(s, State::Blocked(Block::Confirmation, _)));
    let mut trouble = messages(&|s| {
        matches!(
            s,
            State::Failed(_) | State::Blocked(Block::Other | Block::Unreachable(_), _)
        )
    });
    for (kind, child) in listed(input.spec) {
        if observed_child(input, kind, &child.name).is_some_and(|c| c.phase.as_deref() == Some("Degraded")) {
            trouble.push(format!("{kind} {} is Degraded", child.name));
        }
    }
    let in_transition = journal.transition.as_ref();
    vec![
        Condition {
            type_: c::READY,
            status: phase == DrPhase::Steady,
            reason: phase_reason(phase),
            message: match phase {
                DrPhase::Steady => format!("everything runs at {}", input.spec.active_site),
                _ => "not everything runs where it should; see the plan and the Degraded condition".into(),
            },
        },
        Condition {
            type_: c::PROGRESSING,
            status: in_transition.is_some(),
            reason: in_transition.map_or("Idle", |t| kind_reason(t.kind)),
            message: in_transition.map_or_else(String::new, |t| {
                format!(
                    "{:?} from {} to {}",
                    t.kind,
                    t.from_site.as_deref().unwrap_or("nowhere"),
                    t.to_site
                )
            }),
        },
        Condition {
            type_: c::DEGRADED,
            status: !trouble.is_empty(),
            reason: if trouble.is_empty() {
                "AsExpected"
            } else {
                "StepsNotDone"
            },
            message: trouble.join("; "),
        },
        Condition {
            type_: c::CONFIRMATION_REQUIRED,
            status: !confirmations.is_empty(),
            reason: if confirmations.is_empty() {
                "NoneRequired"
            } else {
                "ChildNeedsConfirmation"
            },
            message: confirmations.join("; "),
        },
        Condition {
            type_: c::SITE_LOST_CONFIRMATION_REQUIRED,
            status: journal.site_lost.is_some(),
            reason: if journal.site_lost.is_some() {
                "SiteUnreachable"
            } else {
                "NoneRequired"
            },
            message: journal.site_lost.as_ref().map_or_else(String::new, |r| {
                format!(
                    "site {} cannot be reached to stop its ActiveSite components; if it is down or fenced, confirm: {}",
                    r.site, r.command
                )
            }),
        },
        Condition {
            type_: c::CONFLICT,
            status: !conflicts.is_empty(),
            reason: if conflicts.is_empty() {
                "NoConflict"
            } else {
                "DesiredSiteSetElsewhere"
            },
            message: conflicts.join("; "),
        },
        Condition {
            type_: c::INVALID,
            status: false,
            reason: "Valid",
            message: String::new(),
        },
    ]
}

fn phase_reason(phase: DrPhase) -> &'static str {
    match phase {
        DrPhase::Steady => "Steady",
        DrPhase::Starting => "Starting",
        DrPhase::SwitchingOver => "SwitchingOver",
        DrPhase::FailingOver => "FailingOver",
        DrPhase::FailingBack => "FailingBack",
        DrPhase::AwaitingConfirmation => "AwaitingConfirmation",
        DrPhase::Degraded => "Degraded",
        DrPhase::Invalid => "Invalid",
        DrPhase::Suspended => "Suspended",
    }
}

fn kind_reason(kind: TransitionKind) -> &'static str {
    match kind {
        TransitionKind::ColdStart => "ColdStart",
        TransitionKind::Switchover => "Switchover",
        TransitionKind::Failover => "Failover",
        TransitionKind::Failback => "Failback",
        TransitionKind::Repair => "Repair",
    }
}
