//! The live view of `drover demo`: one line per thing that happens, prefixed with the time since
//! the world started, so it reads the same in a terminal, a pipe or a log. It shows each stage as
//! it begins, each DrSite step as it starts and ends, each SQL step the group ran, the DrSite's
//! phase and progress as they change, and a line now and then while nothing changes.

use super::world::{AG_STEP_REASONS, DRSITE_STEP_REASONS, DemoWorld};
use crate::api::dr_site::{PlanStep, StepAction, StepState};
use crate::api::persistent_chat_pool::PersistentChatPoolStatus;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

/// Writes the view to `out`; counts the step Events it has shown.
pub struct View<W: Write> {
    out: W,
    /// DrSite, group and pool Events already shown.
    drsite_events: usize,
    group_events: usize,
    pool_events: usize,
    /// The reasons of the pool's step Events shown, in order (for its serial ideal).
    pub pool_reasons: Vec<String>,
    /// The pool's runbook steps seen running (`name target@site`: their timeline entry), and those
    /// of its transition in progress already ended.
    pool_running: BTreeMap<String, usize>,
    pool_recorded: BTreeSet<String>,
    /// DrSite steps run, and SQL steps run, as their Events say.
    pub drsite_steps: u32,
    pub sql_steps: u32,
    /// When each DrSite step was seen running, by `verb target@site`.
    running: BTreeMap<String, Duration>,
    /// The last progress line shown, and when.
    progress: String,
    progress_at: Duration,
    /// How long without change before saying again what is awaited.
    pub heartbeat: Duration,
    /// Every DrSite plan step seen running and every step Event, in order.
    pub timeline: Vec<TimelineEntry>,
}

/// The timeline's source of a pool runbook step (a span), and of a pool step Event (an instant).
pub const POOL_STEP_SOURCE: &str = "PersistentChatPool";
pub const POOL_EVENT_SOURCE: &str = "PersistentChatPoolEvent";

/// One entry of the timeline: a DrSite plan step (from running to done) or a step Event (an
/// instant: the T-SQL the group ran, the workload scaled, the hook Job run).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TimelineEntry {
    /// Seconds since the world started.
    pub start: f64,
    pub end: f64,
    pub site: String,
    /// `DrSite` (a plan step), `DrSiteEvent` or `AvailabilityGroupEvent`.
    pub source: String,
    /// The step (`start master-scs@site-b`) or the Event reason.
    pub step: String,
    /// The step's outcome, or the Event's note: the exact T-SQL and server, the Job and arguments.
    pub detail: String,
}

/// The site an Event note names: `…@site…` for a DrSite step, the server's site for `… on SERVER`.
pub(crate) fn site_of(note: &str, servers: &[(String, String)]) -> String {
    if let Some(server) = note.rsplit(" on ").next().and_then(|t| t.split_whitespace().next())
        && let Some((_, site)) = servers.iter().find(|(n, _)| n == server)
    {
        return site.clone();
    }
    note.split(':')
        .next()
        .and_then(|head| head.rsplit_once('@'))
        .map(|(_, site)| site.trim().to_string())
        .unwrap_or_default()
}

/// The site a pool hook Event names: `created hook Job … (STEP hook for SITE)`.
pub(crate) fn hook_site(note: &str) -> Option<String> {
    let (_, site) = note.rsplit_once(" hook for ")?;
    Some(site.trim_end_matches(')').to_string())
}

fn step_name(s: &PlanStep) -> String {
    let verb = match s.action {
        StepAction::Stop => "stop",
        StepAction::Move => "move",
        StepAction::Start => "start",
    };
    format!("{verb} {}@{}", s.target, s.site)
}

impl<W: Write> View<W> {
    pub fn new(out: W, heartbeat: Duration) -> Self {
        View {
            out,
            drsite_events: 0,
            group_events: 0,
            pool_events: 0,
            pool_reasons: Vec::new(),
            pool_running: BTreeMap::new(),
            pool_recorded: BTreeSet::new(),
            drsite_steps: 0,
            sql_steps: 0,
            running: BTreeMap::new(),
            progress: String::new(),
            progress_at: Duration::ZERO,
            heartbeat,
            timeline: Vec::new(),
        }
    }

    /// A line at `at`. The view is best effort: a closed pipe does not stop the demo.
    pub fn line(&mut self, at: Duration, text: &str) {
        let _ = writeln!(self.out, "[{:>6.1}s] {text}", at.as_secs_f64());
        let _ = self.out.flush();
    }

    /// A stage of the scenario begins.
    pub fn stage(&mut self, at: Duration, title: &str) {
        let _ = writeln!(self.out);
        self.line(at, &format!("== {title}"));
    }

    /// Shows what changed in `world` since the last look.
    pub fn update(&mut self, world: &DemoWorld) {
        let at = world.elapsed();
        let status = world.status();
        for step in &status.plan {
            let name = step_name(step);
            match step.state {
                StepState::Running if !self.running.contains_key(&name) => {
                    self.line(at, &format!("  ▶ {name}"));
                    self.timeline.push(TimelineEntry {
                        start: at.as_secs_f64(),
                        end: at.as_secs_f64(),
                        site: step.site.clone(),
                        source: "DrSite".into(),
                        step: name.clone(),
                        detail: String::new(),
                    });
                    self.running.insert(name, at);
                }
                StepState::Done | StepState::Failed => {
                    if let Some(began) = self.running.remove(&name) {
                        let how = if step.state == StepState::Done { "✓" } else { "✗" };
                        let took = at.saturating_sub(began).as_secs_f64();
                        let why = step.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
                        self.line(at, &format!("  {how} {name} ({took:.1} s){why}"));
                        self.finish(
                            &name,
                            at,
                            if step.state == StepState::Done {
                                "done"
                            } else {
                                "failed"
                            },
                            &why,
                        );
                    }
                }
                _ => {}
            }
        }
        // Steps still running when the transition ended (and its plan went) are done.
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !status.plan.iter().any(|s| step_name(s) == **n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(began) = self.running.remove(&name) {
                let took = at.saturating_sub(began).as_secs_f64();
                self.line(at, &format!("  ✓ {name} ({took:.1} s)"));
                self.finish(&name, at, "done", "");
            }
        }
        if let Some(pool) = &world.pool {
            self.pool_steps(at, &pool.status());
        }
        let servers: Vec<(String, String)> = world.sim.endpoints().into_iter().map(|(n, s, _)| (n, s)).collect();
        let events = world.drsite_events();
        for e in &events[self.drsite_events.min(events.len())..] {
            if DRSITE_STEP_REASONS.contains(&e.reason.as_str()) {
                self.drsite_steps += 1;
                self.event(at, "DrSiteEvent", e, &servers);
            } else if e.warning || matches!(e.reason.as_str(), "TransitionStarted" | "TransitionFinished") {
                self.line(at, &format!("  DrSite {}: {}", e.reason, e.note));
            }
        }
        self.drsite_events = events.len();
        let events = world.group_events();
        for e in &events[self.group_events.min(events.len())..] {
            if AG_STEP_REASONS.contains(&e.reason.as_str()) {
                self.sql_steps += 1;
                self.event(at, "AvailabilityGroupEvent", e, &servers);
                self.line(at, &format!("  ✓ sql {}: {}", e.reason, e.note));
            } else if (e.warning && e.reason != "ReplicaUnavailable") || e.reason.contains("Hook") {
                // Fence and force-quorum Jobs (created, succeeded) are part of the story too.
                self.line(at, &format!("  AvailabilityGroup {}: {}", e.reason, e.note));
            }
        }
        self.group_events = events.len();
        let events = world.pool_events();
        for e in &events[self.pool_events.min(events.len())..] {
            let sql = crate::controller::pchat::SQL_STEP_REASONS.contains(&e.reason.as_str());
            if sql || e.reason == crate::controller::pchat::HOOK_STEP_REASON {
                if sql {
                    self.sql_steps += 1;
                } else {
                    self.drsite_steps += 1;
                }
                self.pool_reasons.push(e.reason.clone());
                self.event(at, POOL_EVENT_SOURCE, e, &servers);
                if let Some(last) = self.timeline.last_mut()
                    && last.site.is_empty()
                {
                    last.site = hook_site(&e.note).unwrap_or_default();
                }
                self.line(at, &format!("  ✓ pool {}: {}", e.reason, e.note));
            } else if e.warning {
                self.line(at, &format!("  PersistentChatPool {}: {}", e.reason, e.note));
            }
        }
        self.pool_events = events.len();
        let mut progress = format!(
            "DrSite {} ready {} step {}",
            status.phase.map_or("-".to_string(), |p| format!("{p:?}")),
            status.ready.as_deref().unwrap_or("-"),
            status.step.as_deref().unwrap_or("-"),
        );
        let phase = |p: Option<String>, step: Option<String>| {
            format!(
                "{} {}",
                p.as_deref().unwrap_or("-"),
                step.as_deref().unwrap_or_default()
            )
        };
        for (g, s) in world.groups.iter().zip(world.group_statuses()) {
            let label = if world.groups.len() > 1 {
                format!("group {}", g.name)
            } else {
                "group".into()
            };
            let now = phase(s.phase.map(|p| format!("{p:?}")), s.step);
            progress.push_str(&format!(" | {label} {}", now.trim_end()));
        }
        if let Some(pool) = &world.pool {
            let s = pool.status();
            let now = phase(s.phase.map(|p| format!("{p:?}")), s.step);
            progress.push_str(&format!(" | pool {}", now.trim_end()));
        }
        if progress != self.progress || at.saturating_sub(self.progress_at) >= self.heartbeat {
            let prefix = if progress == self.progress { "… still" } else { "…" };
            self.line(at, &format!("  {prefix} {}", progress.trim_end()));
            self.progress = progress;
            self.progress_at = at;
        }
    }

    /// The pool's runbook steps started and ended since the last look, as spans (times as seen
    /// here: status keeps whole seconds). A step done between two looks is a span of no length.
    fn pool_steps(&mut self, at: Duration, status: &PersistentChatPoolStatus) {
        let steps = status
            .transition
            .as_ref()
            .map(|t| t.steps.as_slice())
            .unwrap_or_default();
        let now = at.as_secs_f64();
        for step in steps {
            let key = format!("{} {}@{}", step.name, step.target, step.site);
            if self.pool_recorded.contains(&key) {
                continue;
            }
            let finished = matches!(step.state, StepState::Done | StepState::Failed);
            let i = match self.pool_running.get(&key) {
                Some(&i) => i,
                None if step.state == StepState::Running || finished => {
                    self.line(at, &format!("  ▶ pool {key}"));
                    self.timeline.push(TimelineEntry {
                        start: now,
                        end: now,
                        site: step.site.clone(),
                        source: POOL_STEP_SOURCE.into(),
                        step: key.clone(),
                        detail: String::new(),
                    });
                    self.pool_running.insert(key.clone(), self.timeline.len() - 1);
                    self.timeline.len() - 1
                }
                None => continue,
            };
            if finished {
                let how = if step.state == StepState::Done { "✓" } else { "✗" };
                let why = step.message.clone().unwrap_or_default();
                let entry = &mut self.timeline[i];
                entry.end = now;
                entry.detail.clone_from(&why);
                let took = now - entry.start;
                self.line(at, &format!("  {how} pool {key} ({took:.1} s) {why}"));
                self.pool_running.remove(&key);
                self.pool_recorded.insert(key);
            }
        }
        if status.transition.is_none() {
            // Steps still open when the transition ended (and its steps went) ended with it.
            for (key, i) in std::mem::take(&mut self.pool_running) {
                let entry = &mut self.timeline[i];
                entry.end = now;
                entry.detail = "done".into();
                let took = now - entry.start;
                self.line(at, &format!("  ✓ pool {key} ({took:.1} s)"));
            }
            self.pool_recorded.clear();
        }
    }

    /// The plan step `name` seen running ended at `at`.
    fn finish(&mut self, name: &str, at: Duration, how: &str, why: &str) {
        if let Some(entry) = self
            .timeline
            .iter_mut()
            .rev()
            .find(|t| t.source == "DrSite" && t.step == name)
        {
            entry.end = at.as_secs_f64();
            entry.detail = format!("{how}{why}");
        }
    }

    /// A step Event seen at `at`.
    pub(crate) fn event(
        &mut self,
        at: Duration,
        source: &str,
        e: &crate::controller::Event,
        servers: &[(String, String)],
    ) {
        self.timeline.push(TimelineEntry {
            start: at.as_secs_f64(),
            end: at.as_secs_f64(),
            site: site_of(&e.note, servers),
            source: source.into(),
            step: e.reason.clone(),
            detail: e.note.clone(),
        });
    }

    /// The writer, when the view is done.
    pub fn into_inner(self) -> W {
        self.out
    }
}
