//! The runbook as steps, each judged from what is observed: stop the other
//! sites' `ActiveSite` components (reverse dependency order), move the
//! children, start what should run (dependency order). A step is due only when
//! its ordering constraints hold; otherwise it says what it waits for.

use super::child::{ChildKind, listed};
use super::{Action, Input, Instance};
use crate::api::dr_site::{ComponentSpec, Placement, StepAction, start_order};
use crate::components::{HookAction, JobPhase};
use std::collections::{BTreeMap, BTreeSet};

/// Why a step cannot go on by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Block {
    /// Its site cannot be reached.
    Unreachable(String),
    /// An `ActiveSite` start waits for an unreachable site's components to be stopped or the site
    /// declared lost.
    SiteNotStopped(String),
    /// A child's desired site was set by someone else.
    Conflict,
    /// A child waits for a person to confirm a data loss.
    Confirmation,
    /// Anything else a person must fix (a missing workload or child).
    Other,
}

/// A step's state as judged now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    Done(Option<String>),
    /// To do now.
    Due(Action),
    /// Issued; waiting for the world.
    Running(String),
    Pending(String),
    Blocked(Block, String),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Step {
    pub action: StepAction,
    pub target: String,
    pub site: String,
    pub state: State,
    /// The component's per-step timeout (none for moves: a child reports its own progress).
    pub timeout_seconds: Option<u32>,
}

impl Step {
    pub fn done(&self) -> bool {
        matches!(self.state, State::Done(_))
    }

    /// Keeps a transition open: not done, and not merely waiting for a site nobody needs now.
    pub fn holds_open(&self) -> bool {
        !matches!(self.state, State::Done(_) | State::Blocked(Block::Unreachable(_), _))
    }

    pub fn key(&self) -> (StepAction, &str, &str) {
        (self.action, &self.target, &self.site)
    }
}

/// The sites a component runs at when `target` is active.
pub(super) fn wanted_sites<'a>(spec_sites: &'a [String], c: &ComponentSpec, target: &'a str) -> Vec<&'a str> {
    match c.placement {
        Placement::ActiveSite => vec![target],
        Placement::EverySite => spec_sites.iter().map(String::as_str).collect(),
    }
}

/// Every step of the runbook towards `spec.activeSite`, in order. `run` labels this transition's
/// hook Jobs (none before a transition begins: then no hook counts as issued); `lost` are the
/// sites confirmed lost.
pub(super) fn runbook(input: &Input<'_>, run: Option<&str>, lost: &BTreeSet<String>) -> Vec<Step> {
    let spec = input.spec;
    let target = spec.active_site.as_str();
    let sites: Vec<String> = spec.sites.iter().map(|s| s.name.clone()).collect();
    let order = start_order(spec).unwrap_or_default();
    let judge = Judge { input, run, lost };
    let mut steps = Vec::new();

    // 1. Stops, dependents first.
    // Needed only when a stop is due: not computed at steady state.
    let mut upstream_of = None;
    let mut stopped: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for &ci in order.iter().rev() {
        let c = &spec.components[ci];
        if c.placement != Placement::ActiveSite {
            continue;
        }
        for site in sites.iter().filter(|s| s.as_str() != target) {
            let mut state = judge.stop(c, site);
            if matches!(state, State::Due(_))
                && let Some(d) = spec.components.iter().find(|d| {
                    let upstream = upstream_of.get_or_insert_with(|| upstream(spec, &order));
                    d.placement == Placement::ActiveSite
                        && upstream
                            .get(d.name.as_str())
                            .is_some_and(|u| u.contains(c.name.as_str()))
                        && stopped.get(&(d.name.as_str(), site.as_str())) != Some(&true)
                })
            {
                state = State::Pending(format!("waiting for {} to stop at {site}", d.name));
            }
            stopped.insert((c.name.as_str(), site.as_str()), matches!(state, State::Done(_)));
            steps.push(Step {
                action: StepAction::Stop,
                target: c.name.clone(),
                site: site.clone(),
                state,
                timeout_seconds: Some(c.timeout_seconds),
            });
        }
    }
    // An unreachable site's components are not stopped: they may still run, and its database may
    // still take writes. Nothing moves until the site answers and they stop, or a person confirms
    // the site lost (its stops are then Done).
    let unstopped_site = steps.iter().find_map(|s| match &s.state {
        State::Blocked(Block::Unreachable(site), _) => Some(site.clone()),
        _ => None,
    });
    let old_stopped = steps.iter().all(Step::done);

    // 2. The children: every kind at the same point, so no database moves while the old site runs.
    for (kind, child) in listed(spec) {
        let state = judge.move_child(kind, &child.name, old_stopped, unstopped_site.as_deref());
        steps.push(Step {
            action: StepAction::Move,
            target: kind.key(&child.name),
            site: target.to_string(),
            state,
            timeout_seconds: None,
        });
    }
    let moves_done = steps.iter().filter(|s| s.action == StepAction::Move).all(Step::done);

    // 3. Starts, dependencies first.
    let mut started: BTreeMap<(&str, &str), bool> = BTreeMap::new();
    for &ci in &order {
        let c = &spec.components[ci];
        for site in wanted_sites(&sites, c, target) {
            let mut state = judge.start(c, site);
            let gate = judge.start_gate(c, site, &started);
            // Running counts for those after it only with what it needs running too: a component
            // left running (an `EverySite` one across a switchover) does not vouch for its upstream.
            let live = matches!(state, State::Done(_)) && gate.is_none();
            if matches!(state, State::Due(_)) {
                if let Some(why) = gate {
                    state = State::Pending(why);
                } else if c.placement == Placement::ActiveSite && !moves_done {
                    state = State::Pending("waiting for the children to move".into());
                } else if c.placement == Placement::ActiveSite && !old_stopped {
                    state = match &unstopped_site {
                        Some(site) => State::Blocked(
                            Block::SiteNotStopped(site.clone()),
                            format!(
                                "site {site} is unreachable and its ActiveSite components may still run: waiting for it to answer, or for a person to confirm it lost"
                            ),
                        ),
                        None => State::Pending("waiting for the other sites' ActiveSite components to stop".into()),
                    };
                }
            }
            started.insert((c.name.as_str(), site), live);
            steps.push(Step {
                action: StepAction::Start,
                target: c.name.clone(),
                site: site.to_string(),
                state,
                timeout_seconds: Some(c.timeout_seconds),
            });
        }
    }
    steps
}

/// What each component depends on, directly or through other components, computed once in start
/// order (dependencies first): asking per pair made planning cubic in the components.
fn upstream<'s>(spec: &'s crate::api::dr_site::DrSiteSpec, order: &[usize]) -> BTreeMap<&'s str, BTreeSet<&'s str>> {
    let mut upstream: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for &ci in order {
        let c = &spec.components[ci];
        let mut all = BTreeSet::new();
        for d in &c.depends_on {
            all.insert(d.as_str());
            if let Some(further) = upstream.get(d.as_str()) {
                all.extend(further.iter().copied());
            }
        }
        upstream.insert(c.name.as_str(), all);
    }
    upstream
}

struct Judge<'a, 'b> {
    input: &'a Input<'b>,
    run: Option<&'a str>,
    lost: &'a BTreeSet<String>,
}

impl Judge<'_, '_> {
    fn instance(&self, c: &ComponentSpec, site: &str) -> Instance {
        self.input
            .observed
            .instances
            .get(&(c.name.clone(), site.to_string()))
            .cloned()
            .unwrap_or_else(|| Instance::Unknown("not observed".into()))
    }

    /// This transition's hook Job for `c` at `site`.
    fn job(&self, c: &ComponentSpec, site: &str, action: HookAction) -> Option<&JobPhase> {
        let run = self.run?;
        self.input
            .observed
            .jobs
            .iter()
            .find(|j| j.component == c.name && j.site == site && j.action == action && j.run == run)
            .map(|j| &j.phase)
    }

    fn hook(&self, c: &ComponentSpec, site: &str, action: HookAction, probe: &str) -> State {
        let verb = action.as_str();
        match self.job(c, site, action) {
            None => State::Due(Action::RunHook {
                component: c.name.clone(),
                site: site.to_string(),
                action,
                run: self.run.unwrap_or_default().to_string(),
            }),
            Some(JobPhase::Running) => State::Running(format!("{verb} hook Job running")),
            Some(JobPhase::Succeeded) => State::Running(format!("{verb} hook Job succeeded; probe: {probe}")),
            Some(JobPhase::Failed(why)) => State::Failed(format!(
                "{verb} hook Job failed: {why} (delete the Job to run it again)"
            )),
        }
    }

    fn unreachable(&self, site: &str, why: &str) -> State {
        State::Blocked(
            Block::Unreachable(site.to_string()),
            format!("site {site} cannot be observed: {why}"),
        )
    }

    fn stop(&self, c: &ComponentSpec, site: &str) -> State {
        match self.instance(c, site) {
            Instance::Unknown(_) if self.lost.contains(site) => {
                State::Done(Some(format!("site {site} confirmed lost")))
            }
            Instance::Unknown(why) => self.unreachable(site, &why),
            Instance::Workload(None) => State::Done(Some("its workload does not exist".into())),
            Instance::Workload(Some(w)) if w.stopped() => State::Done(None),
            Instance::Workload(Some(w)) if w.desired == 0 => {
                State::Running(format!("{} pod(s) still exist", w.current))
            }
            Instance::Workload(Some(_)) => match c.at(site).and_then(|a| a.workload.as_ref()) {
                Some(w) => State::Due(Action::Scale {
                    component: c.name.clone(),
                    site: site.to_string(),
                    kind: w.kind,
                    name: w.name.clone(),
                    replicas: 0,
                }),
                None => State::Blocked(Block::Other, format!("no workload declared for {site}")),
            },
            Instance::External(Err(_)) => State::Done(None),
            Instance::External(Ok(())) => self.hook(c, site, HookAction::Stop, "still answers"),
        }
    }

    fn start(&self, c: &ComponentSpec, site: &str) -> State {
        match self.instance(c, site) {
            Instance::Unknown(why) => self.unreachable(site, &why),
            Instance::Workload(w) => {
                let Some(declared) = c.at(site).and_then(|a| a.workload.as_ref()) else {
                    return State::Blocked(Block::Other, format!("no workload declared for {site}"));
                };
                match w {
                    None => State::Blocked(
                        Block::Other,
                        format!("{:?} {} does not exist at {site}", declared.kind, declared.name),
                    ),
                    Some(w) if w.running(declared.replicas) => State::Done(None),
                    Some(w) if w.desired == declared.replicas => {
                        State::Running(format!("{}/{} ready", w.ready, declared.replicas))
                    }
                    Some(_) => State::Due(Action::Scale {
                        component: c.name.clone(),
                        site: site.to_string(),
                        kind: declared.kind,
                        name: declared.name.clone(),
                        replicas: declared.replicas,
                    }),
                }
            }
            Instance::External(Ok(())) => State::Done(None),
            Instance::External(Err(why)) => self.hook(c, site, HookAction::Start, &why),
        }
    }

    /// What a start of `c` at `site` still waits for: its dependencies running (at `site` when they
    /// run there, else at the active site) and the children it requires writable at the active site.
    fn start_gate(&self, c: &ComponentSpec, site: &str, started: &BTreeMap<(&str, &str), bool>) -> Option<String> {
        let spec = self.input.spec;
        let target = spec.active_site.as_str();
        for dep in &c.depends_on {
            let Some(d) = spec.component(dep) else { continue };
            let at = match d.placement {
                Placement::EverySite => site,
                Placement::ActiveSite => target,
            };
            if started.get(&(d.name.as_str(), at)) != Some(&true) {
                return Some(format!("waiting for {dep}@{at}"));
            }
        }
        // A name listed under both kinds requires both: the safe reading of an ambiguous name.
        for required in &c.requires_writable {
            for (kind, _) in listed(spec).filter(|(_, child)| &child.name == required) {
                let key = kind.key(required);
                let writable = self
                    .input
                    .observed
                    .children
                    .get(&key)
                    .is_some_and(|child| child.writable_at(target));
                if !writable {
                    return Some(format!("waiting for {key} to be writable at {target}"));
                }
            }
        }
        None
    }

    fn move_child(&self, kind: ChildKind, name: &str, stops_done: bool, unstopped_site: Option<&str>) -> State {
        let target = self.input.spec.active_site.as_str();
        let key = kind.key(name);
        let Some(child) = self.input.observed.children.get(&key).filter(|c| c.found) else {
            return State::Blocked(Block::Other, format!("{kind} {name} not found"));
        };
        if let Some(problem) = &child.problem {
            return State::Blocked(Block::Other, problem.clone());
        }
        // No desired site on the child (left out of Git): it stays where it is, which is no
        // conflict; this DrSite sets one only to move it.
        let desired = child.desired_site.as_deref();
        let stays_at_target = desired.is_none() && child.active_site.as_deref() == Some(target);
        if desired != Some(target) && !stays_at_target {
            let ours = self.input.journal.applied.get(&key).map(String::as_str);
            if let Some(desired) = desired
                && ours != Some(desired)
            {
                return State::Blocked(
                    Block::Conflict,
                    format!(
                        "its {} is {desired:?}, set by someone other than this DrSite (which wants {target:?}{}): make them agree",
                        kind.desired_field(),
                        ours.map(|o| format!(" and last set {o:?}")).unwrap_or_default()
                    ),
                );
            }
            if let Some(site) = unstopped_site {
                return State::Blocked(
                    Block::SiteNotStopped(site.to_string()),
                    format!(
                        "site {site} is unreachable: its ActiveSite components may still run and its databases may still take writes; waiting for it to answer, or for a person to confirm it lost"
                    ),
                );
            }
            if !stops_done {
                return State::Pending("waiting for the other sites' ActiveSite components to stop".into());
            }
            return State::Due(Action::MoveChild {
                kind,
                name: name.to_string(),
                site: target.to_string(),
            });
        }
        if child.writable_at(target) {
            return State::Done(None);
        }
        if let Some(command) = &child.confirmation {
            let what = if command.contains(crate::api::confirmation::DISCARD_ANNOTATION) {
                "the old primary's diverged data would be discarded; a person must consent"
            } else {
                "a failover needs its data loss confirmed"
            };
            return State::Blocked(Block::Confirmation, format!("{what}: {command}"));
        }
        State::Running(format!(
            "waiting for it to settle at {target} (phase {}, writable at {})",
            child.phase.as_deref().unwrap_or("unknown"),
            child.active_site.as_deref().unwrap_or("no site")
        ))
    }
}
