//! The AvailabilityGroup planner: from the spec, what each replica reports and
//! drover's journal, decide the one next step (or what to wait for, and why).
//!
//! - [`facts`]: the observations read into per-replica facts.
//! - [`decide`]: the runbooks as one ordered list of rules (`decide/mod.rs`),
//!   one file per situation: `steady` (primary at the desired site),
//!   `switchover` (planned switchover and failback), `forced` (no primary).
//! - [`loss`]: estimating what a forced failover would lose and measuring what one lost.
//! - [`report`]: the per-replica and per-database rows of status.

mod decide;
pub mod facts;
mod loss;
mod report;

pub use decide::{NO_DESIRED_SITE, plan};
pub use report::Report;

use crate::api::availability_group::{
    AgHook, AvailabilityGroupSpec, ConfirmationRequest, FailoverRecord, HookRun, LossEstimate, Phase, PrimarySnapshot,
    Transition,
};
use crate::sql::{Command, ReplicaObservation};
use jiff::Timestamp;

/// What drover got from one replica this poll.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    Reachable(Box<ReplicaObservation>),
    /// The error, as text (no credentials in it).
    Unreachable(String),
}

/// The facts drover keeps in status because they cannot be observed again.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Journal {
    pub transition: Option<Transition>,
    pub confirmation: Option<ConfirmationRequest>,
    pub primary_lost: Option<PrimarySnapshot>,
    pub last_failover: Option<FailoverRecord>,
    /// A discard of the old primary's diverged copies waiting for consent.
    pub discard: Option<crate::api::confirmation::DiscardRequest>,
    /// Fence and force-quorum hooks run in the current outage of the primary.
    pub hooks: Vec<HookRun>,
}

/// Everything the planner looks at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub spec: &'a AvailabilityGroupSpec,
    /// One entry per `spec.replicas`, same order.
    pub observed: &'a [Observed],
    pub journal: &'a Journal,
    pub now: Timestamp,
    /// The value of the `drover.dev/confirm-data-loss` annotation, if set.
    pub confirmation: Option<&'a str>,
    /// Who set that annotation (its field manager), if known.
    pub confirmed_by: Option<&'a str>,
    /// The primary as this process last saw it (kept in memory between polls).
    pub last_seen_primary: Option<&'a PrimarySnapshot>,
    /// The resource's name, for the confirmation command in status.
    pub resource_name: &'a str,
    /// The value of the `drover.dev/confirm-discard` annotation and who set it, if set.
    pub discard_confirmation: Option<crate::plan::confirm::Given<'a>>,
    /// The nonce and lifetime for a confirmation requested in this pass.
    pub tokens: crate::plan::confirm::Tokens<'a>,
    /// The group's fence and force-quorum Jobs found in its namespace (only those drover created
    /// for this group: the controller checks the owner UID).
    pub jobs: &'a [AgJob],
}

/// A fence or force-quorum Job of the group, as found by its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgJob {
    pub name: String,
    pub hook: AgHook,
    /// The site of the replica it acts on (`drover.dev/site`).
    pub site: String,
    pub run: String,
    pub phase: crate::components::JobPhase,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub next: Next,
    /// The journal to persist before the step runs.
    pub journal: Journal,
    pub phase: Phase,
    pub estimate: Option<LossEstimate>,
    /// Things worth an Event or a condition message.
    pub notices: Vec<Notice>,
    /// Why the group is not healthy even if nothing is to be done.
    pub degraded: Vec<String>,
    /// The primary as seen in this observation, for the caller to remember.
    pub primary_seen: Option<PrimarySnapshot>,
    /// The group as observed, for status.
    pub report: Report,
}

/// What to do now.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    /// Run this step, then poll again soon.
    Act(Box<Step>),
    /// Something is under way (synchronization, a role change): poll again soon.
    Wait(String),
    /// Nothing to do: the group is where it should be.
    Steady,
    /// Nothing drover may do until a person or the world changes something.
    Blocked(String),
    /// Create this hook Job (in the group's own namespace), then poll again soon.
    Hook(Box<HookStep>),
}

/// A fence or force-quorum hook to run.
#[derive(Debug, Clone, PartialEq)]
pub struct HookStep {
    pub hook: AgHook,
    /// The replica whose hook template it is.
    pub replica: String,
    pub site: String,
    /// The forced failover's target.
    pub target: String,
    /// The `drover.dev/run` label: the outage it belongs to.
    pub run: String,
    pub reason: String,
    /// The journal once the Job is created.
    pub after: Journal,
}

impl Next {
    /// The reason shown as the status's step.
    pub fn describe(&self) -> Option<String> {
        match self {
            Self::Act(step) => Some(step.reason.clone()),
            Self::Hook(step) => Some(step.reason.clone()),
            Self::Wait(r) | Self::Blocked(r) => Some(r.clone()),
            Self::Steady => None,
        }
    }
}

/// One statement to run on one replica.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub command: Command,
    pub reason: String,
    /// The journal once the statement succeeded.
    pub after: Journal,
}

/// Events the controller reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A forced failover needs confirmation with this token.
    ConfirmationRequested { token: String, target: String },
    /// The annotation holds a token that is not the current one.
    ConfirmationStale { given: String, current: String },
    /// The data lost by the last forced failover was measured (`seconds` None: it could not be).
    LossMeasured { seconds: Option<i64>, detail: String },
    /// A transition finished.
    TransitionFinished { kind: &'static str, to: String },
    /// A transition was abandoned because the desired site changed back.
    TransitionCancelled { to: String },
    /// The transition's target became primary without drover issuing its failover (a forced
    /// failover drover made meanwhile, or someone else): nothing of it to record.
    TransitionOvertaken { to: String },
    /// The primary became unreachable.
    PrimaryLost { replica: String },
    /// A fence or force-quorum hook Job finished (`failed`: why, else it succeeded).
    HookFinished {
        hook: AgHook,
        job: String,
        replica: String,
        failed: Option<String>,
    },
    /// A confirmation token was requested, renewed, refused or accepted.
    Token {
        what: String,
        annotation: &'static str,
        notice: crate::plan::confirm::TokenNotice,
        by: String,
    },
}

#[cfg(test)]
mod tests;
