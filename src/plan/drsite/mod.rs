//! The DrSite planner: from the spec, what the sites, components and child
//! resources report, and drover's journal, decide the whole runbook — every
//! step with its state — and the actions that are due now.
//!
//! - [`child`]: a child's status (AvailabilityGroup, PersistentChatPool) read
//!   into what the runbook needs; children are keyed `Kind/name`.
//! - [`steps`]: the runbook as steps (stop the old site's `ActiveSite`
//!   components in reverse dependency order → move the children → start the
//!   components in dependency order), each judged from observation.
//! - [`decide`]: the transition journal, site-lost confirmation, phase and
//!   conditions around those steps.
//!
//! Every due action is returned, not only the first: stops and starts whose
//! ordering constraints hold are independent and run in parallel, which is
//! what keeps a transition close to its critical path.

pub mod child;
mod decide;
mod steps;
#[cfg(test)]
mod tests;

pub use child::{ChildKind, ChildObs};
pub use decide::plan;

use crate::api::dr_site::{
    DrPhase, DrSiteSpec, LostSite, PlanStep, SiteLostRequest, StepAction, Transition, TransitionKind, TransitionRecord,
    WorkloadKind,
};
use crate::components::{HookAction, HookJob, WorkloadObs};
use jiff::Timestamp;
use std::collections::BTreeMap;

/// A component at one site as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instance {
    /// A workload; `None` when it does not exist.
    Workload(Option<WorkloadObs>),
    /// A server outside Kubernetes: its probe's answer (`Err` says why it is not alive).
    External(Result<(), String>),
    /// Its site (or the workload's API) could not be read.
    Unknown(String),
}

/// What drover observed this reconcile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Each site: `Ok` when its Kubernetes API answered, else why not.
    pub sites: BTreeMap<String, Result<(), String>>,
    /// By (component, site), for every declared placement.
    pub instances: BTreeMap<(String, String), Instance>,
    /// The DrSite's hook Jobs at every reachable site.
    pub jobs: Vec<HookJob>,
    /// The child resources by `Kind/name` ([`ChildKind::key`]).
    pub children: BTreeMap<String, ChildObs>,
}

/// What drover keeps in status because it cannot be observed again.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Journal {
    pub transition: Option<Transition>,
    /// The previous plan: when each step started and finished.
    pub steps: Vec<PlanStep>,
    /// The site drover last saw (or wrote) in each child's spec, by `Kind/name`.
    pub applied: BTreeMap<String, String>,
    pub site_lost: Option<SiteLostRequest>,
    pub lost_sites: Vec<LostSite>,
    pub last_transition: Option<TransitionRecord>,
    /// The site the last failover left (see the status field).
    pub failed_over_from: Option<String>,
    /// The site observed active last time.
    pub active_site: Option<String>,
}

/// Everything the planner looks at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub spec: &'a DrSiteSpec,
    /// The DrSite's name (tokens, commands in status).
    pub name: &'a str,
    pub observed: &'a Observed,
    pub journal: &'a Journal,
    pub now: Timestamp,
    /// The `drover.dev/confirm-site-lost` annotation, if set.
    pub site_lost_token: Option<&'a str>,
    /// Who set it (its field manager), if known.
    pub site_lost_by: Option<&'a str>,
    /// The nonce and lifetime for a confirmation requested in this pass.
    pub tokens: crate::plan::confirm::Tokens<'a>,
}

/// Something to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Set a workload's replicas.
    Scale {
        component: String,
        site: String,
        kind: WorkloadKind,
        name: String,
        replicas: i32,
    },
    /// Create the start or stop hook Job of a component at a site.
    RunHook {
        component: String,
        site: String,
        action: HookAction,
        /// The transition's run label (part of the Job's name and labels).
        run: String,
    },
    /// Set a child's desired site: an AvailabilityGroup's `spec.primarySite`, a
    /// PersistentChatPool's `spec.activeSite`.
    MoveChild {
        kind: ChildKind,
        name: String,
        site: String,
    },
}

impl Action {
    /// A stable snake_case name for logs and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Scale { .. } => "scale",
            Self::RunHook { .. } => "run_hook",
            Self::MoveChild { .. } => "move_child",
        }
    }

    /// The step it belongs to: (action, target, site); a move's target is the child's `Kind/name`.
    pub fn step_key(&self) -> (StepAction, String, &str) {
        match self {
            Self::Scale {
                component,
                site,
                replicas,
                ..
            } => (
                if *replicas == 0 {
                    StepAction::Stop
                } else {
                    StepAction::Start
                },
                component.clone(),
                site,
            ),
            Self::RunHook {
                component,
                site,
                action,
                ..
            } => (
                match action {
                    HookAction::Start => StepAction::Start,
                    HookAction::Stop => StepAction::Stop,
                },
                component.clone(),
                site,
            ),
            Self::MoveChild { kind, name, site } => (StepAction::Move, kind.key(name), site),
        }
    }
}

/// Records in `journal` what an action that succeeded wrote: a child's desired site is then
/// drover's, so finding it there later is no conflict.
pub fn record_executed(journal: &mut Journal, action: &Action) {
    if let Action::MoveChild { kind, name, site } = action {
        journal.applied.insert(kind.key(name), site.clone());
    }
}

/// Something worth an Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    TransitionStarted {
        kind: TransitionKind,
        from: Option<String>,
        to: String,
    },
    /// `spec.activeSite` changed while a transition ran.
    TransitionRetargeted {
        to: String,
        attempt: u32,
    },
    TransitionFinished {
        kind: TransitionKind,
        to: String,
        seconds: i64,
    },
    /// A step newly failed.
    StepFailed {
        step: String,
        message: String,
    },
    SiteLostConfirmationRequested {
        site: String,
        token: String,
    },
    SiteDeclaredLost {
        site: String,
    },
    SiteLostTokenRefused {
        given: String,
        current: Option<String>,
    },
    /// A site confirmed lost answers again: its `ActiveSite` components will be stopped if they run.
    SiteReturned {
        site: String,
    },
    /// A confirmation token was renewed (expired unconfirmed) or accepted.
    Token {
        what: String,
        annotation: &'static str,
        notice: crate::plan::confirm::TokenNotice,
        by: String,
    },
}

/// One condition to set (see [`crate::api::conditions`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub type_: &'static str,
    pub status: bool,
    pub reason: &'static str,
    pub message: String,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub phase: DrPhase,
    /// The site observed active.
    pub active_site: Option<String>,
    /// The runbook of the transition in progress, in order (empty at steady state).
    pub steps: Vec<PlanStep>,
    /// `n/total action target@site` of the first step not done, or what is awaited.
    pub step: Option<String>,
    /// Instances running where they should / all that should run.
    pub ready: (usize, usize),
    /// What to do now (none when suspended, invalid or in conflict).
    pub actions: Vec<Action>,
    /// The journal to write before acting.
    pub journal: Journal,
    pub notices: Vec<Notice>,
    pub conditions: Vec<Condition>,
    /// Something is in flight: look again soon.
    pub busy: bool,
}
