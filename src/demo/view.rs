//! The live view of `drover demo`: one line per thing that happens, prefixed with the time since
//! the world started, so it reads the same in a terminal, a pipe or a log. It shows each stage as
//! it begins, each DrSite step as it starts and ends, each SQL step the group ran, the DrSite's
//! phase and progress as they change, and a line now and then while nothing changes.

use super::world::{AG_STEP_REASONS, DRSITE_STEP_REASONS, DemoWorld};
use crate::api::dr_site::{PlanStep, StepAction, StepState};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

/// Writes the view to `out`; counts the step Events it has shown.
pub struct View<W: Write> {
    out: W,
    /// DrSite and group Events already shown.
    drsite_events: usize,
    group_events: usize,
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
            drsite_steps: 0,
            sql_steps: 0,
            running: BTreeMap::new(),
            progress: String::new(),
            progress_at: Duration::ZERO,
            heartbeat,
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
                    self.running.insert(name, at);
                }
                StepState::Done | StepState::Failed => {
                    if let Some(began) = self.running.remove(&name) {
                        let how = if step.state == StepState::Done { "✓" } else { "✗" };
                        let took = at.saturating_sub(began).as_secs_f64();
                        let why = step.message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
                        self.line(at, &format!("  {how} {name} ({took:.1} s){why}"));
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
            }
        }
        let events = world.drsite_events();
        for e in &events[self.drsite_events.min(events.len())..] {
            if DRSITE_STEP_REASONS.contains(&e.reason.as_str()) {
                self.drsite_steps += 1;
            } else if e.warning || matches!(e.reason.as_str(), "TransitionStarted" | "TransitionFinished") {
                self.line(at, &format!("  DrSite {}: {}", e.reason, e.note));
            }
        }
        self.drsite_events = events.len();
        let events = world.group_events();
        for e in &events[self.group_events.min(events.len())..] {
            if AG_STEP_REASONS.contains(&e.reason.as_str()) {
                self.sql_steps += 1;
                self.line(at, &format!("  ✓ sql {}: {}", e.reason, e.note));
            } else if e.warning && e.reason != "ReplicaUnavailable" {
                self.line(at, &format!("  AvailabilityGroup {}: {}", e.reason, e.note));
            }
        }
        self.group_events = events.len();
        let group = world.group_status();
        let progress = format!(
            "DrSite {} ready {} step {} | group {} {}",
            status.phase.map_or("-".to_string(), |p| format!("{p:?}")),
            status.ready.as_deref().unwrap_or("-"),
            status.step.as_deref().unwrap_or("-"),
            group.phase.map_or("-".to_string(), |p| format!("{p:?}")),
            group.step.as_deref().unwrap_or(""),
        );
        if progress != self.progress || at.saturating_sub(self.progress_at) >= self.heartbeat {
            let prefix = if progress == self.progress { "… still" } else { "…" };
            self.line(at, &format!("  {prefix} {}", progress.trim_end()));
            self.progress = progress;
            self.progress_at = at;
        }
    }

    /// The writer, when the view is done.
    pub fn into_inner(self) -> W {
        self.out
    }
}
