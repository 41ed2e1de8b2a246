//! `drover demo`: the contact-center example played end to end against the simulated two-site
//! world, with drover's real controllers and planners (the Kubernetes side in memory): cold start
//! → site A lost → failover to site B (the demo gives the confirmations a person would) → site A
//! restored → failback. A live view ([`view`]) while it runs; a report ([`summary`]) at the end,
//! with each transition's duration against its critical-path ideal ([`ideal`]).
//!
//! Time is tokio's: the CLI runs on the wall clock with every latency divided by `--speed`; a
//! test runs it on tokio's paused clock, where it is deterministic and instant.

pub mod cli;
pub mod ideal;
pub mod measure;
mod speed;
pub mod summary;
pub mod view;
pub mod world;

use crate::api::dr_site::{Placement, TransitionKind};
use ideal::{Costs, ideal};
pub(crate) use speed::{check_speed, heartbeat, poll_at, speed_up, speed_up_sites, stage_limit};
use std::io::Write;
use std::time::Duration;
use summary::{Confirmation, DrSiteRow, Report, TransitionSummary};
use view::View;
use world::DemoWorld;

/// How the demo runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Every latency (SQL Server's, the components', the controllers' poll) is divided by this.
    pub speed: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self { speed: 1.0 }
    }
}

/// Why the demo did not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The options cannot be run.
    #[error("{0}")]
    BadInput(String),
    /// A safety invariant failed (split brain, a component at two sites, …).
    #[error("invariant violated: {0}")]
    Invariant(String),
    /// The world did not start, or the scenario did not reach a stage in time.
    #[error("the scenario failed: {0}")]
    Failed(String),
}

impl Error {
    /// The process exit code: 1 when the scenario failed, 2 for bad input.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::BadInput(_) => 2,
            Error::Invariant(_) | Error::Failed(_) => 1,
        }
    }
}

const OLD: &str = "site-a";
const NEW: &str = "site-b";

/// A demo in progress: the world, the view, and what it has measured so far.
pub struct Demo<W: Write> {
    pub world: DemoWorld,
    pub view: View<W>,
    speed: f64,
    poll: Duration,
    /// How long one stage may take before the scenario counts as failed.
    limit: Duration,
    costs: Costs,
    transitions: Vec<TransitionSummary>,
    confirmations: Vec<Confirmation>,
    /// The simulator's count of lost commits when the last transition ended.
    lost_so_far: u64,
}

/// What a demo (or a drill) plays on: the simulated SQL Server world, the DrSite, each
/// AvailabilityGroup it lists declared over the simulator's group that stands for it, and the
/// PersistentChatPool it lists, if any.
pub struct Setup {
    pub sql: crate::sim::model::config::WorldConfig,
    pub drs: crate::api::dr_site::DrSite,
    pub groups: Vec<(crate::api::availability_group::AvailabilityGroup, String)>,
    pub pool: Option<crate::api::persistent_chat_pool::PersistentChatPool>,
}

impl Setup {
    /// The contact-center example on the simulator's two-site world.
    pub fn example() -> Result<Setup, String> {
        Ok(Setup {
            sql: world::sim_config(),
            drs: world::example()?,
            groups: vec![(world::example_declared_group()?, world::SIM_GROUP.into())],
            pool: None,
        })
    }
}

impl<W: Write> Demo<W> {
    /// Starts the example's world with every latency divided by `options.speed`; the view goes
    /// to `out`.
    pub async fn start(options: &Options, out: W) -> Result<Demo<W>, Error> {
        Self::start_on(options, out, Setup::example().map_err(Error::Failed)?).await
    }

    /// Starts the world of `setup` with every latency divided by `options.speed`.
    pub async fn start_on(options: &Options, out: W, setup: Setup) -> Result<Demo<W>, Error> {
        let speed = options.speed;
        check_speed(speed)?;
        let Setup {
            mut sql,
            drs,
            groups,
            pool,
        } = setup;
        speed_up(&mut sql, speed);
        let sites = speed_up_sites(speed);
        let poll = poll_at(speed);
        let costs = Costs {
            sql: sql.latencies.clone(),
            sites: sites.clone(),
            groups: sql.availability_groups.len(),
            databases: sql
                .availability_groups
                .iter()
                .map(|a| a.databases.len())
                .max()
                .unwrap_or(0),
            backup_before_failback: groups.iter().any(|(g, _)| g.spec.backup_before_failback.is_some()),
        };
        let world = DemoWorld::start_twin(sql, &sites, drs, &groups, pool.as_ref(), world::controller_config(poll))
            .await
            .map_err(|e| Error::Failed(format!("the simulated world did not start: {e}")))?;
        Ok(Demo {
            world,
            view: View::new(out, heartbeat(speed)),
            speed,
            poll,
            limit: stage_limit(speed),
            costs,
            transitions: Vec::new(),
            confirmations: Vec::new(),
            lost_so_far: 0,
        })
    }

    /// One reconcile of each controller, the invariants, the view, then a poll's wait.
    async fn tick(&mut self) -> Result<(), Error> {
        let at = self.world.elapsed();
        self.world
            .reconcile()
            .await
            .map_err(|e| Error::Invariant(format!("{e} (at {:.1} s)", at.as_secs_f64())))?;
        self.view.update(&self.world);
        tokio::time::sleep(self.poll).await;
        Ok(())
    }

    /// Ticks until `done`; gives any confirmation asked for on the way.
    pub async fn until(&mut self, what: &str, done: impl Fn(&DemoWorld) -> bool) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + self.limit;
        while !done(&self.world) {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Failed(format!(
                    "timed out waiting for {what}; DrSite status: {:?}",
                    self.world.status()
                )));
            }
            self.tick().await?;
            self.confirm();
        }
        Ok(())
    }

    /// Gives the confirmations the group or the DrSite ask for, saying so, as a person would after
    /// checking site A is really gone.
    fn confirm(&mut self) {
        let loss = |s: Option<i64>| s.map_or("unknown".to_string(), |s| format!("{s} s of commits"));
        for ask in self.world.group_statuses().into_iter().filter_map(|s| s.confirmation) {
            let asked = format!(
                "the group asks to confirm a forced failover to {} (estimated loss: {})",
                ask.target,
                loss(ask.known_loss_seconds)
            );
            if self.give("data-loss", &asked, ask.token.clone(), ask.command) {
                self.world.annotate_group(&ask.token);
            }
        }
        if let Some(ask) = self.world.pool.as_ref().and_then(|p| p.status().confirmation) {
            let asked = format!(
                "the pool asks to confirm a failover to {} (estimated loss: {})",
                ask.target,
                loss(ask.known_loss_seconds)
            );
            if self.give("data-loss", &asked, ask.token.clone(), ask.command)
                && let Some(pool) = self.world.pool.as_mut()
            {
                // From here the old chat database may come back ONLINE beside the new one.
                pool.accepted_split = true;
                pool.annotate(&ask.token);
            }
        }
        // Discarding what a forced failover left on the old primary: a person would first keep it
        // (a database snapshot, a copy of the files); the demo's data is simulated, so it confirms.
        for ask in self
            .world
            .group_statuses()
            .into_iter()
            .filter_map(|s| s.discard_confirmation)
        {
            let asked = format!(
                "the group asks to confirm discarding what {} committed beyond the forced failover ({})",
                ask.replica,
                discarded(&ask.databases)
            );
            if self.give("discard", &asked, ask.token.clone(), ask.command) {
                self.world.annotate_group_discard(&ask.token);
            }
        }
        if let Some(ask) = self.world.pool.as_ref().and_then(|p| p.status().discard_confirmation) {
            let asked = format!(
                "the pool asks to confirm discarding the chat database on {} ({})",
                ask.replica,
                discarded(&ask.databases)
            );
            if self.give("discard", &asked, ask.token.clone(), ask.command)
                && let Some(pool) = self.world.pool.as_ref()
            {
                pool.annotate_discard(&ask.token);
            }
        }
        if let Some(ask) = self.world.status().site_lost_confirmation {
            let asked = format!("the DrSite asks to confirm {} is lost", ask.site);
            if self.give("site-lost", &asked, ask.token.clone(), ask.command) {
                self.world.annotate(&ask.token);
            }
        }
    }

    /// Records and shows a confirmation about to be given; false if `token` was given already.
    fn give(&mut self, what: &str, asked: &str, token: String, command: String) -> bool {
        if self.confirmations.iter().any(|c| c.token == token) {
            return false;
        }
        self.view.line(
            self.world.elapsed(),
            &format!("  ! {asked}; the demo confirms, as a person would with:\n             {command}"),
        );
        self.confirmations.push(Confirmation {
            what: what.into(),
            token,
            command,
        });
        true
    }

    /// Runs the transition `kind` to `to`, begun at `began` by whatever the caller did, until the
    /// DrSite records it finished; then measures it.
    pub async fn transition(
        &mut self,
        kind: TransitionKind,
        from: Option<&str>,
        to: &str,
        began: Duration,
    ) -> Result<(), Error> {
        let sql_before = self.view.sql_steps;
        let steps_before = self.view.drsite_steps;
        let pool_before = self.view.pool_reasons.len();
        let finished = self.world.status().last_transition;
        self.until(&format!("the {kind:?} to {to}"), |w| {
            let s = w.status();
            s.transition.is_none()
                && s.last_transition
                    .as_ref()
                    .is_some_and(|t| t.kind == kind && t.to_site == to)
                && s.last_transition != finished
        })
        .await?;
        let record = self
            .world
            .status()
            .last_transition
            .ok_or_else(|| Error::Failed("the transition was not recorded".into()))?;
        let seconds = self.world.elapsed().saturating_sub(began).as_secs_f64();
        let lost = self.lost()?;
        self.view.line(
            self.world.elapsed(),
            &format!(
                "== {kind:?} to {to} finished in {seconds:.1} s ({} steps run)",
                self.view.drsite_steps - steps_before
            ),
        );
        let reasons: Vec<&str> = self.view.pool_reasons[pool_before..]
            .iter()
            .map(String::as_str)
            .collect();
        let chain = crate::drill::pool::ideal::ideal(&reasons, &self.costs.sql, self.costs.sites.hook);
        if kind == TransitionKind::Failback
            && let Some(pool) = self.world.pool.as_mut()
        {
            // The failback restored over the old chat database: one writable copy again.
            pool.accepted_split = false;
        }
        // A DrSite whose only child is a pool moves exactly as the pool does: its runbook's kind
        // (a return to the primary data center is a failback) says more than the DrSite's.
        let only_pool = self.world.groups.is_empty() && self.world.drs.spec.components.is_empty();
        let kind_name = match self.world.pool.as_ref().filter(|_| only_pool) {
            Some(pool) => pool
                .status()
                .last_transition
                .map_or(format!("{kind:?}"), |t| format!("{:?}", t.kind)),
            None => format!("{kind:?}"),
        };
        self.transitions.push(TransitionSummary {
            kind: kind_name,
            from: from.map(str::to_string),
            to: to.into(),
            seconds,
            recorded_seconds: record.duration_seconds,
            ideal: ideal::beside(ideal(&self.world.drs.spec, kind, from, to, &self.costs), "pool", &chain),
            lost_transactions: lost.saturating_sub(self.lost_so_far),
            steps: self.view.drsite_steps - steps_before,
            planned_steps: record.steps,
            sql_steps: self.view.sql_steps - sql_before,
            lost_sites: record.lost_sites,
        });
        self.lost_so_far = lost;
        Ok(())
    }

    /// The simulator's count of lost commits; it is defined while one replica is writable, which
    /// the demo only asks at the end of a transition.
    pub fn lost(&self) -> Result<u64, Error> {
        self.world
            .lost_transactions()
            .ok_or_else(|| Error::Failed("the group has no single writable primary".into()))
    }

    /// What every latency is divided by.
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// `d` at this demo's speed.
    pub fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.speed)
    }

    /// The transitions measured so far.
    pub fn transitions(&self) -> &[TransitionSummary] {
        &self.transitions
    }

    /// The confirmations given so far.
    pub fn confirmations(&self) -> &[Confirmation] {
        &self.confirmations
    }

    /// The simulator's instances: `SERVER at SITE, tds://ADDR`.
    pub fn replicas(&self) -> Vec<String> {
        self.world.sim.endpoint_lines()
    }

    /// The simulator's instances at `site`.
    fn sql_at(&self, site: &str) -> Vec<String> {
        self.world
            .sim
            .endpoints()
            .into_iter()
            .filter(|(_, s, _)| s == site)
            .map(|(name, _, _)| name)
            .collect()
    }

    /// Says what the world is, then the cold start at the DrSite's active site until it is done.
    pub async fn cold_start(&mut self, what: &str) -> Result<(), Error> {
        let replicas = self.replicas();
        let site = self.world.drs.spec.active_site.clone();
        self.view.stage(
            self.world.elapsed(),
            &format!(
                "cold start at {site}: {what} on simulated SQL Server {}), speed {}",
                replicas.join(" and "),
                self.speed
            ),
        );
        self.lost_so_far = self.lost()?;
        if self.world.drs.spec.components.is_empty() {
            // Nothing to start: the DrSite is Steady at once and records no cold start.
            return self
                .until(&format!("the DrSite Steady at {site}"), |w| w.steady_at(&site))
                .await;
        }
        self.transition(TransitionKind::ColdStart, None, &site, Duration::ZERO)
            .await
    }

    /// What `kubectl patch drs … activeSite` does, shown.
    fn patch(&mut self, at: Duration, to: &str) {
        let name = self.world.drs.metadata.name.clone().unwrap_or_default();
        let namespace = self.world.drs.metadata.namespace.clone().unwrap_or_default();
        self.view.line(
            at,
            &format!(
                "  $ kubectl patch drs {name} -n {namespace} --type merge -p '{{\"spec\":{{\"activeSite\":\"{to}\"}}}}'"
            ),
        );
        self.world.flip(to);
    }

    /// A planned move of the active site to `to`, every site reachable.
    pub async fn switchover(&mut self, to: &str) -> Result<(), Error> {
        let from = self.world.drs.spec.active_site.clone();
        let at = self.world.elapsed();
        self.view.stage(at, &format!("switchover from {from} to {to}"));
        self.patch(at, to);
        self.transition(TransitionKind::Switchover, Some(&from), to, at).await
    }

    /// The active site lost (its SQL Server stopped, its Kubernetes API unreachable), then the
    /// move to `to`, with the confirmations given.
    pub async fn failover(&mut self, to: &str) -> Result<(), Error> {
        let lost = self.world.drs.spec.active_site.clone();
        let at = self.world.elapsed();
        let sql = self.sql_at(&lost);
        self.view.stage(
            at,
            &format!(
                "{lost} lost: SQL Server {} stopped, its Kubernetes API unreachable",
                sql.join(", ")
            ),
        );
        for name in &sql {
            self.world.sim.stop_instance(name).await.map_err(Error::Failed)?;
        }
        self.world.sites.set_reachable(&lost, false);
        self.patch(at, to);
        self.transition(TransitionKind::Failover, Some(&lost), to, at).await
    }

    /// `site` restored after a failover: its SQL Server back, its API answering, until its
    /// leftover ActiveSite components are stopped. The steps run meanwhile.
    pub async fn restore(&mut self, site: &str) -> Result<u32, Error> {
        let at = self.world.elapsed();
        self.view.stage(
            at,
            &format!("{site} restored: SQL Server back, its Kubernetes API answers"),
        );
        let steps_before = self.view.drsite_steps + self.view.sql_steps;
        for name in &self.sql_at(site) {
            self.world.sim.start_instance(name).map_err(Error::Failed)?;
        }
        self.world.sites.set_reachable(site, true);
        let leftovers: Vec<String> = self
            .world
            .drs
            .spec
            .components
            .iter()
            .filter(|c| c.placement == Placement::ActiveSite)
            .map(|c| c.name.clone())
            .collect();
        self.until(&format!("{site}'s leftover ActiveSite components stopped"), |w| {
            leftovers.iter().all(|c| !w.running(site, c)) && w.status().transition.is_none()
        })
        .await?;
        Ok(self.view.drsite_steps + self.view.sql_steps - steps_before)
    }

    /// The active site's SQL Server alive and committing but cut off from drover and from every
    /// other site, its Kubernetes API unreachable; the move to `to` is asked for. The person here
    /// knows the old primary still runs, so confirms nothing: for `hold`, drover must not make a
    /// second writer (checked at every reconcile). Then the isolation ends and the move finishes.
    /// Returns what drover said it was waiting for while isolated.
    pub async fn isolated_primary(&mut self, to: &str, hold: Duration) -> Result<String, Error> {
        let old = self.world.drs.spec.active_site.clone();
        let at = self.world.elapsed();
        let sql = self.sql_at(&old);
        self.view.stage(
            at,
            &format!(
                "{old} isolated: SQL Server {} alive and committing, unreachable from drover and from the other sites; its Kubernetes API unreachable",
                sql.join(", ")
            ),
        );
        for name in &sql {
            self.world.sim.isolate_from_clients(name, true).map_err(Error::Failed)?;
        }
        let others: Vec<String> = self.world.drs.spec.sites.iter().map(|s| s.name.clone()).collect();
        for other in others.iter().filter(|s| **s != old) {
            if !self.sql_at(other).is_empty() {
                self.world.sim.partition(&old, other).map_err(Error::Failed)?;
            }
        }
        self.world.sites.set_reachable(&old, false);
        self.patch(at, to);
        // A person who knows the old primary is alive gives no confirmation.
        let deadline = tokio::time::Instant::now() + hold;
        while tokio::time::Instant::now() < deadline {
            self.tick().await?;
        }
        let waiting = self.world.status().step.unwrap_or_else(|| "nothing".into());
        let reasons: Vec<String> = self.world.group_statuses().into_iter().filter_map(|s| s.step).collect();
        let said = format!(
            "while {old} was isolated drover waited: {waiting}{}",
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" (group: {})", reasons.join("; "))
            }
        );
        self.view.line(self.world.elapsed(), &format!("  {said}"));
        let at = self.world.elapsed();
        self.view
            .stage(at, &format!("{old} reachable again: the isolation ends"));
        for name in &sql {
            self.world
                .sim
                .isolate_from_clients(name, false)
                .map_err(Error::Failed)?;
        }
        self.world.sim.heal();
        self.world.sites.set_reachable(&old, true);
        let kind = self
            .world
            .status()
            .transition
            .map_or(TransitionKind::Switchover, |t| t.kind);
        self.transition(kind, Some(&old), to, at).await?;
        Ok(said)
    }

    /// The active site's SQL Server cut off from drover and the other sites while it keeps
    /// committing, its Kubernetes API answering, and the move to `to` asked for: each group's
    /// fence hook for the old primary runs (in the twin it stops that SQL Server) and its success
    /// is the evidence for the forced failover. A group under `Automatic` must move without anyone
    /// confirming anything; one under `Confirm` is asked about the loss only, the old primary
    /// already fenced. Then the isolation ends and the fenced instance is started again.
    pub async fn fenced_primary(&mut self, to: &str) -> Result<String, Error> {
        let old = self.world.drs.spec.active_site.clone();
        let groups: Vec<_> = self.world.groups.iter().map(|g| self.world.group_of(g)).collect();
        let unfenced: Vec<String> = groups
            .iter()
            .filter(|g| g.spec.replica_at(&old).is_none_or(|r| r.fence_hook.is_none()))
            .map(|g| g.metadata.name.clone().unwrap_or_default())
            .collect();
        if !unfenced.is_empty() {
            return Err(Error::BadInput(format!(
                "--scenario fenced-primary needs a fenceHook on the replica at {old} of every group; {} declares none",
                unfenced.join(", ")
            )));
        }
        let automatic = groups
            .iter()
            .all(|g| g.spec.forced_failover.policy == crate::api::availability_group::ForcePolicy::Automatic);
        let at = self.world.elapsed();
        let sql = self.sql_at(&old);
        self.view.stage(
            at,
            &format!(
                "{old} isolated: SQL Server {} alive and committing, unreachable from drover and from the other sites; its Kubernetes API answers, so its fence hook can run",
                sql.join(", ")
            ),
        );
        for name in &sql {
            self.world.sim.isolate_from_clients(name, true).map_err(Error::Failed)?;
        }
        let others: Vec<String> = self.world.drs.spec.sites.iter().map(|s| s.name.clone()).collect();
        for other in others.iter().filter(|s| **s != old) {
            if !self.sql_at(other).is_empty() {
                self.world.sim.partition(&old, other).map_err(Error::Failed)?;
            }
        }
        let asked_before = self.confirmations.len();
        self.patch(at, to);
        self.tick().await?;
        let kind = self
            .world
            .status()
            .transition
            .map_or(TransitionKind::Switchover, |t| t.kind);
        self.transition(kind, Some(&old), to, at).await?;
        let asked: Vec<&Confirmation> = self.confirmations[asked_before..].iter().collect();
        if automatic && !asked.is_empty() {
            return Err(Error::Invariant(format!(
                "forcedFailover.policy Automatic with a fence hook that succeeded still asked a person: {}",
                asked.iter().map(|c| c.what.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let fenced: Vec<String> = self
            .world
            .group_events()
            .into_iter()
            .filter(|e| e.reason == "FenceHookSucceeded")
            .map(|e| e.note)
            .collect();
        if fenced.len() < groups.len() {
            return Err(Error::Invariant(format!(
                "the move finished without every group's fence hook succeeding (seen: {fenced:?})"
            )));
        }
        let said = format!(
            "while {old} was isolated drover fenced it ({}) and moved {}",
            fenced.join("; "),
            if automatic {
                "without asking anyone"
            } else {
                "once the loss was confirmed"
            }
        );
        self.view.line(self.world.elapsed(), &format!("  {said}"));
        let back = self.world.elapsed();
        self.view.stage(
            back,
            &format!("{old} reachable again: the isolation ends and the fenced SQL Server is started"),
        );
        for name in &sql {
            self.world
                .sim
                .isolate_from_clients(name, false)
                .map_err(Error::Failed)?;
        }
        self.world.sim.heal();
        for name in &sql {
            self.world.sim.start_instance(name).map_err(Error::Failed)?;
        }
        // Long enough for the fenced replica to come back and be handled (demoted under NONE).
        let settle = tokio::time::Instant::now() + self.scaled(Duration::from_secs(20)).max(Duration::from_secs(5));
        while tokio::time::Instant::now() < settle {
            self.tick().await?;
            self.confirm();
        }
        Ok(said)
    }

    /// The move back to `to`, the site the last failover left.
    pub async fn failback(&mut self, to: &str) -> Result<(), Error> {
        let from = self.world.drs.spec.active_site.clone();
        let at = self.world.elapsed();
        self.view.stage(at, &format!("failback to {to}"));
        self.patch(at, to);
        self.transition(TransitionKind::Failback, Some(&from), to, at).await
    }

    /// Plays the scenario and reports.
    pub async fn play(&mut self) -> Result<Report, Error> {
        self.cold_start("the contact-center example (DrSite contact-center; group cc-ag")
            .await?;
        self.failover(NEW).await?;
        let steps_between = self.restore(OLD).await?;
        self.failback(OLD).await?;
        self.world.invariants().map_err(Error::Invariant)?;

        let name = self.world.drs.metadata.name.clone().unwrap_or_default();
        let row = DrSiteRow::new(
            &name,
            &self.world.drs.spec.active_site,
            &self.world.status(),
            self.world.elapsed().as_secs(),
        );
        Ok(Report {
            speed: self.speed,
            seconds: self.world.elapsed().as_secs_f64(),
            transitions: self.transitions.clone(),
            steps_between,
            steps: self.view.drsite_steps + self.view.sql_steps,
            lost_transactions: self.lost()?,
            confirmations: self.confirmations.clone(),
            drsites: vec![row],
        })
    }
}

/// Starts the world, plays the scenario with the live view on `out`, and stops the world.
pub async fn run<W: Write>(options: &Options, out: W) -> Result<Report, Error> {
    let mut demo = Demo::start(options, out).await?;
    let report = demo.play().await;
    demo.world.sim.shutdown();
    report
}

/// The ranges a discard request shows, in one line.
fn discarded(ranges: &[crate::api::confirmation::DiscardedRange]) -> String {
    ranges
        .iter()
        .map(|r| match (&r.from_lsn, &r.to_lsn, &r.from_time) {
            (Some(from), Some(to), _) => format!("{}: log ({from}, {to}]", r.database),
            (_, _, Some(after)) => format!("{}: commits after {}", r.database, after.0),
            _ => format!("{}: an unmeasured range", r.database),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
