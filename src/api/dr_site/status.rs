//! What drover reports about a DrSite, and its journal: the transition in
//! progress, when each step started, what it last wrote to each child, which
//! sites a person declared lost.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a DrSite.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[schemars(transform = crate::api::schema::bound_integers)]
#[serde(rename_all = "camelCase")]
pub struct DrSiteStatus {
    /// The `metadata.generation` this status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The site observed active: where the children are writable (the availability groups'
    /// primaries, the pools' active sites) or, without children, where the `ActiveSite` components
    /// run. Absent when they disagree or nothing runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_site: Option<String>,
    /// `Steady`, `Starting`, `SwitchingOver`, `FailingOver`, `FailingBack`, `AwaitingConfirmation`,
    /// `Degraded`, `Invalid` or `Suspended`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<DrPhase>,
    /// Component instances running where they should over all that should run, e.g. `7/9`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// The step in progress as `n/total action target@site`, or what drover waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The steps of the transition in progress, in runbook order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<PlanStep>,
    /// The transition in progress (drover's journal: do not edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition: Option<Transition>,
    /// An unreachable site whose `ActiveSite` components cannot be stopped: the new site's
    /// `ActiveSite` components wait until it is reachable or a person confirms it is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_lost_confirmation: Option<SiteLostRequest>,
    /// Sites a person confirmed lost; cleared when the site is reachable again (then its
    /// `ActiveSite` components are stopped if they run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_sites: Vec<LostSite>,
    /// Each site as drover can reach it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sites: Vec<SiteStatus>,
    /// Each child resource as it reports itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildStatus>,
    /// Each component at each site where it is declared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentStatus>,
    /// The last completed transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition: Option<TransitionRecord>,
    /// The site the last failover left, until the system is back there: moving to it is a failback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_over_from: Option<String>,
    /// Ready, Progressing, Degraded, DataLossConfirmationRequired, SiteLostConfirmationRequired,
    /// Conflict, Invalid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// What drover is doing with the system.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrPhase {
    /// Everything runs where it should.
    Steady,
    /// Bringing the system up at the active site (nothing was active), or back to its declared state.
    Starting,
    /// Moving to another site while the old one is reachable.
    SwitchingOver,
    /// Moving to another site while the old one (or a child's primary) is unreachable.
    FailingOver,
    /// Moving back to the site the last failover left.
    FailingBack,
    /// A person must confirm a data loss (a child) or a lost site.
    AwaitingConfirmation,
    /// Not everything runs where it should and drover cannot fix it now (a failed step, an
    /// unreachable site, a child in trouble).
    Degraded,
    /// The spec cannot be acted on; see the Invalid condition.
    Invalid,
    /// `spec.suspend` is set: planned and reported, nothing executed.
    Suspended,
}

/// The kinds of transition.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionKind {
    /// Nothing was active: start at the active site.
    ColdStart,
    /// Planned move; the old site reachable.
    Switchover,
    /// Move away from an unreachable site or primary.
    Failover,
    /// Move back to the site the last failover left.
    Failback,
    /// At the active site already: bring back what is not running where it should.
    Repair,
}

/// The transition in progress.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    /// `ColdStart`, `Switchover`, `Failover`, `Failback` or `Repair`.
    pub kind: TransitionKind,
    /// The site active when it began, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_site: Option<String>,
    /// The site it moves to.
    pub to_site: String,
    /// When it began: the start of the measured duration.
    pub started_at: Time,
    /// Incremented each time `spec.activeSite` changed while it ran; part of every hook Job's
    /// name, so a Job of an abandoned attempt never counts for a new one.
    #[serde(default)]
    pub attempt: u32,
}

/// What a step does.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepAction {
    /// Stop a component at a site.
    Stop,
    /// Set a child's desired site and wait for it to converge.
    Move,
    /// Start a component at a site and wait until it is live.
    Start,
}

/// A step's state.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    /// Not due yet: what it waits for is in `message`.
    Pending,
    /// Issued; waiting for the world to show it done.
    Running,
    Done,
    /// Cannot go on without a person (an unreachable site, a confirmation, a conflict).
    Blocked,
    /// Failed (a hook Job failed, the timeout passed); `message` says why.
    Failed,
}

/// One step of the runbook.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PlanStep {
    /// `Stop`, `Move` or `Start`.
    pub action: StepAction,
    /// A component name, or for `Move` the child's `Kind/name`.
    pub target: String,
    /// Where: the component's site, or the child's new site.
    pub site: String,
    /// `Pending`, `Running`, `Done`, `Blocked` or `Failed`.
    pub state: StepState,
    /// When drover issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When the world showed it done (or it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Time>,
    /// What the step waits for, or why it failed or is blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A request to confirm that a site is lost.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SiteLostRequest {
    /// The unreachable site to confirm lost.
    pub site: String,
    /// The one-shot token: annotate the DrSite with `drover.dev/confirm-site-lost=<token>`.
    pub token: String,
    /// The command that confirms it.
    pub command: String,
    /// The last token given that did not match (refused once, with an Event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// When the token was issued and when it expires (a new request replaces an expired one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<crate::api::confirmation::TokenIssue>,
}

/// A site a person confirmed lost.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LostSite {
    /// The site declared lost.
    pub site: String,
    /// When drover took the confirmation.
    pub confirmed_at: Time,
    /// The token that confirmed it (consumed).
    pub token: String,
}

/// A site as drover reaches it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SiteStatus {
    /// The site's name.
    pub name: String,
    /// Whether drover reached the site's Kubernetes API on its last look.
    pub reachable: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A child resource as it reports itself.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChildStatus {
    /// `AvailabilityGroup` or `PersistentChatPool`.
    pub kind: String,
    /// The child's name in the DrSite's namespace.
    pub name: String,
    /// The site its spec asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_site: Option<String>,
    /// The site it reports active (an AG's observed primary, a pool's `status.activeSite`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_site: Option<String>,
    /// Its phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The site drover last wrote to its spec (drover's journal: a different value found there
    /// was set by someone else, which is a Conflict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_site: Option<String>,
    /// Its pending data-loss confirmation, with the command that gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<String>,
    /// What is wrong with it, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A component at one site.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// The component's name.
    pub name: String,
    /// The site it is declared at.
    pub site: String,
    /// `Running`, `Starting`, `Stopping`, `Stopped`, `Missing` or `Unknown` (site unreachable).
    pub state: ComponentState,
    /// Whether it should run there now.
    pub wanted: bool,
    /// Ready replicas over desired (workloads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<String>,
}

/// A component's observed state at one site.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComponentState {
    Running,
    Starting,
    Stopping,
    Stopped,
    /// Its workload does not exist.
    Missing,
    /// Its site cannot be reached.
    Unknown,
}

/// A completed transition.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TransitionRecord {
    /// `ColdStart`, `Switchover`, `Failover`, `Failback` or `Repair`.
    pub kind: TransitionKind,
    /// The site active when it began, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_site: Option<String>,
    /// The site it moved to.
    pub to_site: String,
    /// When it began.
    pub started_at: Time,
    /// When everything ran where it should.
    pub finished_at: Time,
    /// `finishedAt - startedAt`.
    pub duration_seconds: i64,
    /// Steps in its runbook: each judged from observation, so this counts steps that found their
    /// work already done and, after a site was declared lost, the steps skipped there. (Events
    /// record each action drover actually took.)
    pub steps: u32,
    /// Sites declared lost during it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_sites: Vec<String>,
}
