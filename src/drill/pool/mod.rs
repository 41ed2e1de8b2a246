//! The drill of a PersistentChatPool on its own: the user's pool on a simulated twin ([`twin`]:
//! its four instances, its share, log shipping and mirroring, the pool served from the primary),
//! driven by the real PersistentChatPool controller ([`world`]) through runbook B: switchover,
//! failover with the primary data center lost (the drill gives the confirmation), the data center
//! restored, failback. The invariant is checked after every reconcile; each transition is measured
//! against its critical-path ideal ([`ideal`]).

pub mod ideal;
pub mod twin;
pub mod world;

use super::Scenario;
use crate::api::dr_site::StepState;
use crate::api::persistent_chat_pool::{PersistentChatPool, PoolTransitionKind, PoolTransitionRecord};
use crate::controller::pchat::{HOOK_STEP_REASON, SQL_STEP_REASONS};
use crate::demo::summary::{Confirmation, TransitionSummary};
use crate::demo::view::{TimelineEntry, View, hook_site};
use crate::demo::{Error, check_speed, heartbeat, poll_at, speed_up, speed_up_sites, stage_limit};
use crate::sim::model::config::Latencies;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;
use world::PoolWorld;

/// The timeline's source for a pool runbook step (a span), and for a pool step Event (an instant).
pub const STEP_SOURCE: &str = "PersistentChatPool";
pub const EVENT_SOURCE: &str = "PersistentChatPoolEvent";

/// A pool drill in progress: the twin, the view, and what it has measured so far.
pub struct PoolDrill<W: Write> {
    pub world: PoolWorld,
    pub view: View<W>,
    speed: f64,
    poll: Duration,
    limit: Duration,
    sql: Latencies,
    hook: Duration,
    transitions: Vec<TransitionSummary>,
    confirmations: Vec<Confirmation>,
    /// Pool Events already shown.
    seen_events: usize,
    /// Runbook steps seen running, by `name target@site`: their timeline entry.
    running: BTreeMap<String, usize>,
    /// Runbook steps of the transition in progress already recorded as ended.
    recorded: BTreeSet<String>,
    /// Step Event reasons since the transition in progress began.
    step_reasons: Vec<String>,
    /// The most runbook rows the transition in progress showed.
    planned: u32,
    lost_so_far: u64,
    progress: String,
    progress_at: Duration,
}

fn step_key(name: &str, target: &str, site: &str) -> String {
    format!("{name} {target}@{site}")
}

impl<W: Write> PoolDrill<W> {
    /// Starts the twin of `declared` with every latency divided by `speed`; the view goes to `out`.
    pub async fn start(declared: &PersistentChatPool, speed: f64, out: W) -> Result<PoolDrill<W>, Error> {
        check_speed(speed)?;
        let mut sql = twin::world_config(declared);
        speed_up(&mut sql, speed);
        let hook = speed_up_sites(speed).hook;
        let poll = poll_at(speed);
        let latencies = sql.latencies.clone();
        let world = PoolWorld::start(sql, declared, crate::demo::world::controller_config(poll), hook)
            .await
            .map_err(|e| Error::Failed(format!("the simulated twin did not start: {e}")))?;
        Ok(PoolDrill {
            world,
            view: View::new(out, heartbeat(speed)),
            speed,
            poll,
            limit: stage_limit(speed),
            sql: latencies,
            hook,
            transitions: Vec::new(),
            confirmations: Vec::new(),
            seen_events: 0,
            running: BTreeMap::new(),
            recorded: BTreeSet::new(),
            step_reasons: Vec::new(),
            planned: 0,
            lost_so_far: 0,
            progress: String::new(),
            progress_at: Duration::ZERO,
        })
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    pub fn transitions(&self) -> &[TransitionSummary] {
        &self.transitions
    }

    pub fn confirmations(&self) -> &[Confirmation] {
        &self.confirmations
    }

    /// The simulator's instances: `SERVER at SITE, tds://ADDR`.
    pub fn replicas(&self) -> Vec<String> {
        self.world.sim.endpoint_lines()
    }

    /// The simulator's count of lost commits; defined while the serving copy is ONLINE, which the
    /// drill only asks at the end of a transition.
    pub fn lost(&self) -> Result<u64, Error> {
        self.world
            .lost_transactions()
            .ok_or_else(|| Error::Failed("the pool's chat database is not ONLINE where it is served".into()))
    }

    /// One reconcile, the invariant, the view, then a poll's wait.
    async fn tick(&mut self) -> Result<(), Error> {
        let at = self.world.elapsed();
        self.world
            .reconcile()
            .await
            .map_err(|e| Error::Invariant(format!("{e} (at {:.1} s)", at.as_secs_f64())))?;
        self.update();
        tokio::time::sleep(self.poll).await;
        Ok(())
    }

    /// Shows and records what changed since the last look: runbook steps started and ended (their
    /// times as seen here: status keeps whole seconds), step Events, the phase.
    fn update(&mut self) {
        let at = self.world.elapsed();
        let status = self.world.status();
        let steps = status.transition.as_ref().map(|t| t.steps.clone()).unwrap_or_default();
        self.planned = self.planned.max(u32::try_from(steps.len()).unwrap_or(u32::MAX));
        for step in &steps {
            let key = step_key(&step.name, &step.target, &step.site);
            if self.recorded.contains(&key) {
                continue;
            }
            let finished = matches!(step.state, StepState::Done | StepState::Failed);
            let i = match self.running.get(&key) {
                Some(&i) => i,
                None if step.state == StepState::Running || finished => {
                    let start = at.as_secs_f64();
                    self.view.line(at, &format!("  ▶ {key}"));
                    self.view.timeline.push(TimelineEntry {
                        start,
                        end: start,
                        site: step.site.clone(),
                        source: STEP_SOURCE.into(),
                        step: key.clone(),
                        detail: String::new(),
                    });
                    self.running.insert(key.clone(), self.view.timeline.len() - 1);
                    self.view.timeline.len() - 1
                }
                None => continue,
            };
            if finished {
                let end = at.as_secs_f64();
                let how = if step.state == StepState::Done { "✓" } else { "✗" };
                let why = step.message.clone().unwrap_or_default();
                let entry = &mut self.view.timeline[i];
                entry.end = end;
                entry.detail.clone_from(&why);
                let took = end - entry.start;
                self.view.line(at, &format!("  {how} {key} ({took:.1} s) {why}"));
                self.running.remove(&key);
                self.recorded.insert(key);
            }
        }
        if status.transition.is_none() {
            self.recorded.clear();
        }
        // Steps still open when the transition ended (and its steps went) ended with it.
        if status.transition.is_none() && !self.running.is_empty() {
            let end = at.as_secs_f64();
            for (key, i) in std::mem::take(&mut self.running) {
                let entry = &mut self.view.timeline[i];
                entry.end = end;
                entry.detail = "done".into();
                let took = end - entry.start;
                self.view.line(at, &format!("  ✓ {key} ({took:.1} s)"));
            }
        }
        let servers: Vec<(String, String)> = self.world.sim.endpoints().into_iter().map(|(n, s, _)| (n, s)).collect();
        let events = self.world.events();
        for e in &events[self.seen_events.min(events.len())..] {
            let sql = SQL_STEP_REASONS.contains(&e.reason.as_str());
            if sql || e.reason == HOOK_STEP_REASON {
                self.step_reasons.push(e.reason.clone());
                self.view.event(at, EVENT_SOURCE, e, &servers);
                // A hook names its site (`… hook for SITE`), a statement its server.
                if let Some(last) = self.view.timeline.last_mut()
                    && last.site.is_empty()
                {
                    last.site = hook_site(&e.note).unwrap_or_default();
                }
                let kind = if sql { "sql" } else { "hook" };
                self.view.line(at, &format!("  ✓ {kind} {}: {}", e.reason, e.note));
            } else if e.warning || e.reason.starts_with("Transition") {
                self.view.line(at, &format!("  pool {}: {}", e.reason, e.note));
            }
        }
        self.seen_events = events.len();
        let progress = format!(
            "pool {} state {} step {}",
            status.phase.map_or("-".to_string(), |p| format!("{p:?}")),
            status.pool_state.map_or("-".to_string(), |p| format!("{p:?}")),
            status.step.as_deref().unwrap_or("-"),
        );
        if progress != self.progress || at.saturating_sub(self.progress_at) >= self.view.heartbeat {
            let prefix = if progress == self.progress { "… still" } else { "…" };
            self.view.line(at, &format!("  {prefix} {progress}"));
            self.progress = progress;
            self.progress_at = at;
        }
    }

    /// Ticks until `done`; gives the confirmation the pool asks for on the way.
    async fn until(&mut self, what: &str, done: impl Fn(&PoolWorld) -> bool) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + self.limit;
        while !done(&self.world) {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Failed(format!(
                    "timed out waiting for {what}; pool status: {:?}",
                    self.world.status()
                )));
            }
            self.tick().await?;
            self.confirm();
        }
        Ok(())
    }

    /// Gives the data-loss confirmation the pool asks for, saying so, as a person would after
    /// checking the primary data center is really gone.
    fn confirm(&mut self) {
        let Some(ask) = self.world.status().confirmation else {
            return;
        };
        if self.confirmations.iter().any(|c| c.token == ask.token) {
            return;
        }
        let loss = ask
            .known_loss_seconds
            .map_or("unknown".to_string(), |s| format!("{s} s of commits"));
        self.view.line(
            self.world.elapsed(),
            &format!(
                "  ! the pool asks to confirm a failover to {} (estimated loss: {loss}); the drill confirms, as a person would with:\n             {}",
                ask.target, ask.command
            ),
        );
        self.confirmations.push(Confirmation {
            what: "data-loss".into(),
            token: ask.token.clone(),
            command: ask.command,
        });
        // From here the old chat database may come back ONLINE beside the new one: accepted.
        self.world.accepted_split = true;
        self.world.annotate(&ask.token);
    }

    /// Runs until the pool records a finished `expected` transition to `to`, begun at `began` by
    /// whatever the caller did; then measures it.
    async fn transition(&mut self, expected: PoolTransitionKind, to: &str, began: Duration) -> Result<(), Error> {
        let finished = self.world.status().last_transition;
        self.step_reasons.clear();
        self.planned = 0;
        let target = to.to_string();
        self.until(&format!("the {expected:?} to {to}"), |w| {
            w.settled_at(&target) && w.status().last_transition != finished
        })
        .await?;
        let record: PoolTransitionRecord = self
            .world
            .status()
            .last_transition
            .ok_or_else(|| Error::Failed("the transition was not recorded".into()))?;
        if record.kind != expected {
            return Err(Error::Failed(format!(
                "the pool ran a {:?} where the scenario expects a {expected:?}",
                record.kind
            )));
        }
        let seconds = self.world.elapsed().saturating_sub(began).as_secs_f64();
        let lost = self.lost()?;
        let sql_steps = self
            .step_reasons
            .iter()
            .filter(|r| SQL_STEP_REASONS.contains(&r.as_str()))
            .count();
        let reasons: Vec<&str> = self.step_reasons.iter().map(String::as_str).collect();
        self.view.line(
            self.world.elapsed(),
            &format!(
                "== {expected:?} to {to} finished in {seconds:.1} s ({} steps run, {} log backups applied)",
                reasons.len(),
                record.applied_backups
            ),
        );
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.transitions.push(TransitionSummary {
            kind: format!("{expected:?}"),
            from: Some(record.from_site.clone()),
            to: to.into(),
            seconds,
            recorded_seconds: record.finished_at.0.duration_since(record.started_at.0).as_secs(),
            ideal: ideal::ideal(&reasons, &self.sql, self.hook),
            lost_transactions: lost.saturating_sub(self.lost_so_far),
            steps: count(reasons.len() - sql_steps),
            planned_steps: self.planned,
            sql_steps: count(sql_steps),
            lost_sites: Vec::new(),
        });
        self.lost_so_far = lost;
        if expected == PoolTransitionKind::Failback {
            // The failback restored over the old chat database: one writable copy again.
            self.world.accepted_split = false;
        }
        Ok(())
    }

    /// Says what the twin is, then waits until the pool is served from its declared site.
    pub async fn cold_start(&mut self) -> Result<(), Error> {
        let pool = self.world.pool();
        let site = pool.spec.active_site.clone();
        self.view.stage(
            self.world.elapsed(),
            &format!(
                "the drill's twin (PersistentChatPool {} on simulated SQL Server {}), speed {}",
                self.world.key(),
                self.replicas().join(" and "),
                self.speed
            ),
        );
        self.until(&format!("the pool served from {site}"), |w| w.settled_at(&site))
            .await?;
        self.lost_so_far = self.lost()?;
        Ok(())
    }

    /// What `kubectl patch pchat … activeSite` does, shown.
    fn patch(&mut self, at: Duration, to: &str) -> Result<(), Error> {
        let pool = self.world.pool();
        self.view.line(
            at,
            &format!(
                "  $ kubectl patch pchat {} -n {} --type merge -p '{{\"spec\":{{\"activeSite\":\"{to}\"}}}}'",
                pool.metadata.name.as_deref().unwrap_or_default(),
                pool.metadata.namespace.as_deref().unwrap_or_default()
            ),
        );
        self.world.flip(to).map_err(Error::Failed)
    }

    /// A planned move to the backup data center, every instance reachable.
    pub async fn switchover(&mut self, to: &str) -> Result<(), Error> {
        let at = self.world.elapsed();
        self.view.stage(at, &format!("switchover to {to}"));
        self.patch(at, to)?;
        self.transition(PoolTransitionKind::Switchover, to, at).await
    }

    /// The serving data center `lost` (its instances and its share stopped), then the move to `to`
    /// with the confirmation given.
    pub async fn failover(&mut self, lost: &str, to: &str) -> Result<(), Error> {
        let at = self.world.elapsed();
        let sql = self.world.instances_at(lost);
        self.view.stage(at, &format!("{lost} lost: {} stopped", sql.join(", ")));
        for name in &sql {
            self.world.sim.stop_instance(name).await.map_err(Error::Failed)?;
        }
        self.patch(at, to)?;
        self.transition(PoolTransitionKind::Failover, to, at).await
    }

    /// `site`'s instances back; until the pool has looked at them (and at the share, for the
    /// backups a failover could not apply).
    pub async fn restore(&mut self, site: &str) -> Result<(), Error> {
        let at = self.world.elapsed();
        let sql = self.world.instances_at(site);
        self.view
            .stage(at, &format!("{site} restored: {} back", sql.join(", ")));
        for name in &sql {
            self.world.sim.start_instance(name).map_err(Error::Failed)?;
        }
        self.until(&format!("{site}'s instances reachable again"), |w| {
            let s = w.status();
            s.instances.iter().filter(|i| i.site == site).all(|i| i.reachable)
                && s.last_transition.as_ref().is_none_or(|t| t.lossless || t.share_checked)
        })
        .await
    }

    /// The move back to the primary data center `to`.
    pub async fn failback(&mut self, to: &str) -> Result<(), Error> {
        let at = self.world.elapsed();
        self.view.stage(at, &format!("failback to {to}"));
        self.patch(at, to)?;
        self.transition(PoolTransitionKind::Failback, to, at).await
    }

    /// The scenario's transitions after the cold start. A pool moves from its primary data center
    /// to its backup by switchover or failover and back only by failback, so `all` fails back
    /// after the switchover before it plays the failover.
    pub async fn play(&mut self, scenario: Scenario) -> Result<(), Error> {
        self.cold_start().await?;
        let spec = self.world.pool().spec;
        let (primary, backup) = (spec.primary.site.clone(), spec.backup.site.clone());
        if matches!(scenario, Scenario::Switchover | Scenario::All) {
            self.switchover(&backup).await?;
            if scenario == Scenario::All {
                self.failback(&primary).await?;
            }
        }
        if matches!(scenario, Scenario::Failover | Scenario::Failback | Scenario::All) {
            self.failover(&primary, &backup).await?;
            if scenario != Scenario::Failover {
                self.restore(&primary).await?;
                self.failback(&primary).await?;
            }
        }
        self.world.invariant().map_err(Error::Invariant)
    }
}
