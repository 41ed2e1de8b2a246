//! Status from a plan: the journal, the report rows, the estimate and the
//! five conditions. Pure, so an unchanged world gives an identical status and
//! nothing is written.

use crate::api::availability_group::{AvailabilityGroupStatus, Phase, SpecError};
use crate::api::conditions::{self, CONFIRMATION_REQUIRED, DEGRADED, Desired, INVALID, PROGRESSING, READY};
use crate::plan::ag::{Journal, Next, Notice, Plan, Report};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The journal as kept in a status.
pub fn journal_of(status: &AvailabilityGroupStatus) -> Journal {
    Journal {
        transition: status.transition.clone(),
        confirmation: status.confirmation.clone(),
        primary_lost: status.primary_lost.clone(),
        last_failover: status.last_failover.clone(),
        discard: status.discard_confirmation.clone(),
        hooks: status.hooks.clone(),
    }
}

fn with_journal(mut status: AvailabilityGroupStatus, journal: &Journal) -> AvailabilityGroupStatus {
    status.transition = journal.transition.clone();
    status.confirmation = journal.confirmation.clone();
    status.primary_lost = journal.primary_lost.clone();
    status.last_failover = journal.last_failover.clone();
    status.discard_confirmation = journal.discard.clone();
    status.hooks = journal.hooks.clone();
    status
}

/// A fence or force-quorum hook Job of the current outage failed (the forced failover then needs
/// a person's confirmation, or forced quorum by hand).
pub const HOOK_FAILED: &str = "HookFailed";

/// Status after planning. `failure` is the last step's error, if it failed.
pub fn planned(
    previous: &AvailabilityGroupStatus,
    generation: Option<i64>,
    plan: &Plan,
    journal: &Journal,
    report: Report,
    failure: Option<&str>,
    now: &Time,
) -> AvailabilityGroupStatus {
    let step = plan.next.describe();
    let mut degraded = plan.degraded.clone();
    if let Some(f) = failure {
        degraded.insert(0, format!("the last step failed: {f}"));
    }
    let stale = plan.notices.iter().find_map(|n| match n {
        Notice::ConfirmationStale { given, .. } => Some(given.clone()),
        _ => None,
    });
    let ready = plan.phase == Phase::Steady && failure.is_none();
    let progressing = matches!(plan.next, Next::Act(_) | Next::Hook(_) | Next::Wait(_)) || journal.transition.is_some();
    let failed_hooks: Vec<String> = journal
        .hooks
        .iter()
        .filter(|h| h.state == crate::api::availability_group::HookState::Failed)
        .map(|h| {
            format!(
                "{}'s {} Job {} failed: {}",
                h.replica,
                h.hook.field(),
                h.job.as_deref().unwrap_or("?"),
                h.message.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    let mut desired = vec![
        Desired {
            type_: READY,
            status: ready,
            reason: plan.phase.as_str(),
            message: if ready {
                format!(
                    "primary {} at site {}; declared availability modes hold",
                    report.primary_replica.as_deref().unwrap_or("?"),
                    report.primary_site.as_deref().unwrap_or("?")
                )
            } else {
                step.clone().unwrap_or_else(|| degraded.join("; "))
            },
        },
        Desired {
            type_: PROGRESSING,
            status: progressing,
            reason: match (&plan.next, &journal.transition) {
                (Next::Act(_) | Next::Hook(_), _) => "StepRunning",
                (Next::Wait(_), _) => "Waiting",
                (_, Some(_)) => "TransitionBlocked",
                _ => "Idle",
            },
            message: step.clone().unwrap_or_default(),
        },
        Desired {
            type_: DEGRADED,
            status: !degraded.is_empty() || matches!(plan.phase, Phase::Degraded | Phase::Waiting),
            reason: if failure.is_some() {
                "StepFailed"
            } else if degraded.is_empty() {
                if matches!(plan.phase, Phase::Degraded | Phase::Waiting) {
                    "Waiting"
                } else {
                    "Healthy"
                }
            } else {
                "ReplicaProblems"
            },
            message: if degraded.is_empty() && matches!(plan.phase, Phase::Degraded | Phase::Waiting) {
                step.clone().unwrap_or_default()
            } else {
                degraded.join("; ")
            },
        },
        Desired {
            type_: CONFIRMATION_REQUIRED,
            status: journal.confirmation.is_some() || journal.discard.is_some(),
            reason: match (&journal.confirmation, &stale, &journal.discard) {
                (Some(_), Some(_), _) => "ConfirmationStale",
                (Some(_), None, _) => "AwaitingConfirmation",
                (None, _, Some(_)) => "AwaitingDiscardConfirmation",
                (None, _, None) => "NotRequired",
            },
            message: match (&journal.confirmation, &stale) {
                (None, _) if journal.discard.is_some() => {
                    journal.discard.as_ref().map(|d| d.message.clone()).unwrap_or_default()
                }
                (Some(c), Some(given)) => format!(
                    "the token {given:?} in the annotation is not the current one (the target or the estimate changed); to fail over to {} confirm with: {}",
                    c.target, c.command
                ),
                (Some(c), None) => format!("to fail over to {} confirm with: {}", c.target, c.command),
                (None, _) => String::new(),
            },
        },
        Desired {
            type_: INVALID,
            status: false,
            reason: "SpecValid",
            message: String::new(),
        },
    ];
    // Shown once a hook failed, and kept (False) afterwards so its clearing is visible.
    if !failed_hooks.is_empty() || previous.conditions.iter().any(|c| c.type_ == HOOK_FAILED) {
        desired.push(Desired {
            type_: HOOK_FAILED,
            status: !failed_hooks.is_empty(),
            reason: if failed_hooks.is_empty() {
                "NoneFailed"
            } else {
                "JobFailed"
            },
            message: failed_hooks.join("; "),
        });
    }
    let status = AvailabilityGroupStatus {
        observed_generation: generation,
        phase: Some(plan.phase),
        primary_site: report.primary_site,
        primary_replica: report.primary_replica,
        synchronized: report.synchronized,
        estimated_data_loss_seconds: plan.estimate.as_ref().and_then(|e| e.known_loss_seconds),
        estimate: plan.estimate.clone(),
        replicas: report.replicas,
        databases: report.databases,
        step,
        conditions: conditions::merge(&previous.conditions, &desired, generation, now),
        ..AvailabilityGroupStatus::default()
    };
    with_journal(status, journal)
}

/// Status for a spec drover cannot act on. The journal and the last observation are kept.
pub fn invalid(
    previous: &AvailabilityGroupStatus,
    generation: Option<i64>,
    errors: &[SpecError],
    now: &Time,
) -> AvailabilityGroupStatus {
    let message = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
    let desired = [
        Desired {
            type_: READY,
            status: false,
            reason: "Invalid",
            message: message.clone(),
        },
        Desired {
            type_: PROGRESSING,
            status: false,
            reason: "Invalid",
            message: String::new(),
        },
        Desired {
            type_: DEGRADED,
            status: true,
            reason: "Invalid",
            message: message.clone(),
        },
        Desired {
            type_: CONFIRMATION_REQUIRED,
            status: false,
            reason: "NotRequired",
            message: String::new(),
        },
        Desired {
            type_: INVALID,
            status: true,
            reason: "InvalidSpec",
            message,
        },
    ];
    AvailabilityGroupStatus {
        observed_generation: generation,
        phase: Some(Phase::Invalid),
        step: None,
        confirmation: None,
        conditions: conditions::merge(&previous.conditions, &desired, generation, now),
        ..previous.clone()
    }
}

/// Status when drover cannot even start observing (credentials unavailable): the rest is kept.
pub fn unavailable(
    previous: &AvailabilityGroupStatus,
    generation: Option<i64>,
    reason: &str,
    message: &str,
    now: &Time,
) -> AvailabilityGroupStatus {
    let mut desired: Vec<Desired<'_>> = [READY, PROGRESSING, DEGRADED, CONFIRMATION_REQUIRED, INVALID]
        .iter()
        .map(|t| {
            let old = previous.conditions.iter().find(|c| c.type_ == *t);
            Desired {
                type_: t,
                status: old.is_some_and(|c| c.status == "True"),
                reason: old.map_or("Unknown", |c| c.reason.as_str()),
                message: old.map_or_else(String::new, |c| c.message.clone()),
            }
        })
        .collect();
    for d in &mut desired {
        match d.type_ {
            READY => {
                d.status = false;
                d.reason = reason;
                d.message = message.to_string();
            }
            DEGRADED => {
                d.status = true;
                d.reason = reason;
                d.message = message.to_string();
            }
            INVALID => {
                d.status = false;
                d.reason = "SpecValid";
                d.message = String::new();
            }
            _ => {}
        }
    }
    AvailabilityGroupStatus {
        observed_generation: generation,
        conditions: conditions::merge(&previous.conditions, &desired, generation, now),
        ..previous.clone()
    }
}
