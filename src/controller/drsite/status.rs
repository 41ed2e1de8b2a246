//! The DrSite's status from a plan and what was observed, and the journal read
//! back from status. Pure.

use crate::api::SpecError;
use crate::api::conditions::{self, Desired};
use crate::api::dr_site::{
    ChildStatus, ComponentState, ComponentStatus, DrPhase, DrSiteSpec, DrSiteStatus, Placement, SiteStatus,
};
use crate::plan::drsite::{ChildKind, Instance, Journal, Observed, Plan, child};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The journal kept in `status`.
pub fn journal_of(status: &DrSiteStatus) -> Journal {
    Journal {
        transition: status.transition.clone(),
        steps: status.plan.clone(),
        // Rows name kind and name apart; the journal keys them `Kind/name` as the planner does.
        applied: status
            .children
            .iter()
            .filter_map(|c| {
                let kind = ChildKind::parse(&c.kind)?;
                Some((kind.key(&c.name), c.applied_site.clone()?))
            })
            .collect(),
        site_lost: status.site_lost_confirmation.clone(),
        lost_sites: status.lost_sites.clone(),
        last_transition: status.last_transition.clone(),
        failed_over_from: status.failed_over_from.clone(),
        active_site: status.active_site.clone(),
    }
}

/// The status for `plan` with `journal` (the plan's, or after the actions ran).
pub fn planned(
    spec: &DrSiteSpec,
    previous: &DrSiteStatus,
    generation: Option<i64>,
    plan: &Plan,
    journal: &Journal,
    observed: &Observed,
    now: &Time,
) -> DrSiteStatus {
    let desired: Vec<Desired<'_>> = plan
        .conditions
        .iter()
        .map(|c| Desired {
            type_: c.type_,
            status: c.status,
            reason: c.reason,
            message: c.message.clone(),
        })
        .collect();
    DrSiteStatus {
        observed_generation: generation,
        active_site: plan.active_site.clone(),
        phase: Some(plan.phase),
        ready: Some(format!("{}/{}", plan.ready.0, plan.ready.1)),
        step: plan.step.clone(),
        plan: plan.steps.clone(),
        transition: journal.transition.clone(),
        site_lost_confirmation: journal.site_lost.clone(),
        lost_sites: journal.lost_sites.clone(),
        sites: spec
            .sites
            .iter()
            .map(|s| {
                let answer = observed.sites.get(&s.name);
                SiteStatus {
                    name: s.name.clone(),
                    reachable: answer.is_some_and(Result::is_ok),
                    message: match answer {
                        Some(Err(e)) => Some(conditions::bounded(e)),
                        None => Some("not observed".into()),
                        Some(Ok(())) => None,
                    },
                }
            })
            .collect(),
        children: child::listed(spec)
            .map(|(kind, c)| {
                let key = kind.key(&c.name);
                let obs = observed.children.get(&key);
                ChildStatus {
                    kind: kind.as_str().into(),
                    name: c.name.clone(),
                    desired_site: obs.and_then(|o| o.desired_site.clone()),
                    active_site: obs.and_then(|o| o.active_site.clone()),
                    phase: obs.and_then(|o| o.phase.clone()),
                    applied_site: journal.applied.get(&key).cloned(),
                    confirmation: obs.and_then(|o| o.confirmation.clone()),
                    message: match obs {
                        Some(o) if !o.found => Some("not found".into()),
                        Some(o) => o.problem.as_deref().map(conditions::bounded),
                        None => None,
                    },
                }
            })
            .collect(),
        components: spec
            .components
            .iter()
            .flat_map(|c| {
                c.sites.iter().map(move |at| {
                    let instance = observed.instances.get(&(c.name.clone(), at.site.clone()));
                    let (state, replicas) = component_state(instance);
                    ComponentStatus {
                        name: c.name.clone(),
                        site: at.site.clone(),
                        state,
                        wanted: c.placement == Placement::EverySite || at.site == spec.active_site,
                        replicas,
                    }
                })
            })
            .collect(),
        last_transition: journal.last_transition.clone(),
        failed_over_from: journal.failed_over_from.clone(),
        conditions: conditions::merge(&previous.conditions, &desired, generation, now),
    }
}

fn component_state(instance: Option<&Instance>) -> (ComponentState, Option<String>) {
    match instance {
        None | Some(Instance::Unknown(_)) => (ComponentState::Unknown, None),
        Some(Instance::Workload(None)) => (ComponentState::Missing, None),
        Some(Instance::Workload(Some(w))) => {
            let state = if w.desired > 0 && w.ready >= w.desired {
                ComponentState::Running
            } else if w.desired > 0 {
                ComponentState::Starting
            } else if w.current > 0 {
                ComponentState::Stopping
            } else {
                ComponentState::Stopped
            };
            (state, Some(format!("{}/{}", w.ready, w.desired)))
        }
        Some(Instance::External(Ok(()))) => (ComponentState::Running, None),
        Some(Instance::External(Err(_))) => (ComponentState::Stopped, None),
    }
}

/// The status of a spec drover cannot act on: nothing else changes.
pub fn invalid(previous: &DrSiteStatus, generation: Option<i64>, errors: &[SpecError], now: &Time) -> DrSiteStatus {
    let message = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    refused(previous, generation, "InvalidSpec", message, now)
}

/// The status of a DrSite drover refuses to act for (`reason` and `message` on the Invalid
/// condition; see [`crate::components::tenancy`] for namespaces): nothing else changes.
pub fn refused(
    previous: &DrSiteStatus,
    generation: Option<i64>,
    reason: &'static str,
    message: String,
    now: &Time,
) -> DrSiteStatus {
    let mut status = previous.clone();
    status.observed_generation = generation;
    status.phase = Some(DrPhase::Invalid);
    status.step = None;
    status.conditions = conditions::merge(
        &previous.conditions,
        &[
            Desired {
                type_: conditions::READY,
                status: false,
                reason: "Invalid",
                message: "drover does not act for this spec; see the Invalid condition".into(),
            },
            Desired {
                type_: conditions::INVALID,
                status: true,
                reason,
                message,
            },
        ],
        generation,
        now,
    );
    status
}
