//! What the benchmarks (`benches/`) compute from their runs: percentiles over seeds, and where a
//! transition's time went beyond its critical-path ideal ([`super::ideal`]): each step's *slack*,
//! when drover started it minus the earliest it could have started given when what it waits for
//! was really over. Pure, so it is unit-tested.

use super::ideal::{Costs, component_seconds, group_seconds};
use crate::api::dr_site::{DrSiteSpec, PlanStep, StepAction, TransitionKind};
use serde::Serialize;

/// The `p`-th percentile (0 to 100) of `values`, nearest rank; `None` when there are none.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// One step of a transition as it ran; times in seconds from the flip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRun {
    /// e.g. `start master-scs@site-b`.
    pub label: String,
    pub started: f64,
    /// When what it did was really over: a component's start plus its latency; a move when drover
    /// saw the child converge (the child's own steps are inside it).
    pub done: f64,
    /// Its best duration, from the latencies.
    pub cost: f64,
    /// The steps it must wait for (indexes).
    pub after: Vec<usize>,
}

/// Where one step's time went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepSlack {
    pub label: String,
    /// The latest `done` of what it waits for (0: the flip).
    pub earliest: f64,
    pub started: f64,
    /// `started - earliest`: noticing that it could start, and starting it.
    pub slack: f64,
    pub cost: f64,
    /// `done - started - cost`: the step's own time beyond its best (a move: the child's polls).
    pub overrun: f64,
}

/// Each step's slack and overrun.
pub fn slack(steps: &[StepRun]) -> Vec<StepSlack> {
    steps
        .iter()
        .map(|s| {
            let earliest = s
                .after
                .iter()
                .filter_map(|&j| steps.get(j))
                .map(|d| d.done)
                .fold(0.0, f64::max);
            StepSlack {
                label: s.label.clone(),
                earliest,
                started: s.started,
                slack: s.started - earliest,
                cost: s.cost,
                overrun: s.done - s.started - s.cost,
            }
        })
        .collect()
}

/// The steps of a DrSite's `plan` for a `kind` transition of `spec`, with what each waits for: a
/// stop waits for the stops of the components that depend on it; a move for every stop; a start
/// for every move and the starts of what it depends on. `times` gives when a step was seen started
/// and finished, in seconds from the flip (status timestamps have whole seconds only, too coarse);
/// steps never started are left out.
pub fn step_runs(
    spec: &DrSiteSpec,
    kind: TransitionKind,
    plan: &[PlanStep],
    times: impl Fn(&PlanStep) -> (Option<f64>, Option<f64>),
    costs: &Costs,
) -> Vec<StepRun> {
    let started: Vec<(&PlanStep, f64, Option<f64>)> = plan
        .iter()
        .filter_map(|s| match times(s) {
            (Some(begun), finished) => Some((s, begun, finished)),
            (None, _) => None,
        })
        .collect();
    let depends = |a: &str, b: &str| {
        spec.components
            .iter()
            .any(|c| c.name == a && c.depends_on.iter().any(|d| d == b))
    };
    started
        .iter()
        .map(|&(s, begun, finished)| {
            let cost = match s.action {
                StepAction::Move => group_seconds(kind, costs),
                StepAction::Stop => component_seconds(spec, &s.target, &s.site, true, costs),
                StepAction::Start => component_seconds(spec, &s.target, &s.site, false, costs),
            };
            let done = match s.action {
                StepAction::Move => finished.unwrap_or(begun + cost),
                StepAction::Stop | StepAction::Start => begun + cost,
            };
            let after = started
                .iter()
                .enumerate()
                .filter(|(_, (o, _, _))| match (s.action, o.action) {
                    (StepAction::Stop, StepAction::Stop) => o.site == s.site && depends(&o.target, &s.target),
                    (StepAction::Move, StepAction::Stop) | (StepAction::Start, StepAction::Move) => true,
                    (StepAction::Start, StepAction::Start) => o.site == s.site && depends(&s.target, &o.target),
                    _ => false,
                })
                .map(|(j, _)| j)
                .collect();
            StepRun {
                label: format!("{} {}@{}", verb(s.action), s.target, s.site),
                started: begun,
                done,
                cost,
                after,
            }
        })
        .collect()
}

fn verb(action: StepAction) -> &'static str {
    match action {
        StepAction::Stop => "stop",
        StepAction::Move => "move",
        StepAction::Start => "start",
    }
}

#[cfg(test)]
mod tests;
