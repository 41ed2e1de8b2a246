//! Transition overhead and detection (issue 8, parts 1 and 2).
//!
//! Per seed: the contact-center example on the TDS simulator (sites and Kubernetes in memory, as
//! `drover demo`), every latency jittered ±30 % by the seed; cold start at site-a, switchover to
//! site-b, site-b lost (detection measured before anyone reacts), failover to site-a, site-b
//! restored, failback to site-b. Each transition's time from the flip to Steady is compared with
//! the critical-path ideal of the same latencies (`drover::demo::ideal`), and split per step.
//!
//! The controllers are driven the way `drover run` drives them: each reconcile again after the
//! delay it asks for, and at once when something it watches changes (its object, a child's
//! status, a workload), noticed within `TICK`. Tokio's clock is paused: the figures are
//! simulated seconds, so they measure drover's own scheduling, not this machine's speed.
//!
//! `DROVER_BENCH_SEEDS` (default 20) sets the number of seeds; the JSON goes to
//! `target/bench/transitions.json`.

#[path = "common/mod.rs"]
mod common;

use common::{Table, out_path, seeds};
use drover::api::dr_site::{Placement, PlanStep, StepState, TransitionKind};
use drover::components::memory::{Instance, Latencies};
use drover::controller::{Config, ag, drsite};
use drover::demo::ideal::{Costs, ideal};
use drover::demo::measure::{StepSlack, percentile, slack, step_runs};
use drover::demo::world::{self, DemoWorld};
use drover::sim::model::config::WorldConfig;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How soon a change is noticed: a watch event's delivery, at most.
const TICK: Duration = Duration::from_millis(1);
/// The controllers' poll while a transition runs (the demo's).
const POLL: Duration = Duration::from_millis(200);
const A: &str = "site-a";
const B: &str = "site-b";

/// `d` times a factor in [0.7, 1.3).
fn jitter(rng: &mut SmallRng, d: Duration) -> Duration {
    d.mul_f64(rng.random_range(0.7..1.3))
}

/// The seed's latencies: the demo's, each jittered; every component its own.
fn latencies(seed: u64) -> (WorldConfig, Latencies) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut sql = world::sim_config();
    sql.seed = seed;
    let l = &mut sql.latencies;
    for d in [
        &mut l.replication,
        &mut l.failover,
        &mut l.revert,
        &mut l.backup,
        &mut l.restart,
    ] {
        *d = jitter(&mut rng, *d);
    }
    let mut sites = world::site_latencies();
    sites.hook = jitter(&mut rng, sites.hook);
    let spec = world::example().expect("the example parses").spec;
    for c in &spec.components {
        let (start, stop) = sites.of(&c.name);
        sites
            .per_component
            .insert(c.name.clone(), (jitter(&mut rng, start), jitter(&mut rng, stop)));
    }
    (sql, sites)
}

/// The operator's scheduling over a [`DemoWorld`]: when each controller is next due, and what
/// its watches last saw.
struct Driver {
    w: DemoWorld,
    config: Config,
    ag_due: Instant,
    dr_due: Instant,
    seen_group: String,
    seen_drsite: String,
    seen_sites: Vec<Option<Instance>>,
    /// The last non-empty plan of the DrSite, as status showed it.
    plan: Vec<PlanStep>,
    /// When the last flip was made, and when each step of its plan was first seen started and
    /// done (seconds since the flip).
    flipped: Instant,
    seen_steps: BTreeMap<String, (Option<f64>, Option<f64>)>,
    /// Reconciles run: group, DrSite.
    reconciles: (u64, u64),
    answered: Vec<String>,
    /// When a confirmation was last asked for (tokio time since the world started).
    asked: Option<Duration>,
}

fn due_after(config: &Config, result: Result<ag::Requeue, impl std::fmt::Debug>) -> Instant {
    let now = Instant::now();
    match result {
        Ok(ag::Requeue::After(d)) => now + d,
        Ok(ag::Requeue::OnChange) => now + Duration::from_secs(3600),
        Err(_) => now + config.base_backoff,
    }
}

impl Driver {
    fn new(w: DemoWorld) -> Self {
        let now = Instant::now();
        Self {
            config: w.config,
            w,
            ag_due: now,
            dr_due: now,
            seen_group: String::new(),
            seen_drsite: String::new(),
            seen_sites: Vec::new(),
            plan: Vec::new(),
            flipped: now,
            seen_steps: BTreeMap::new(),
            reconciles: (0, 0),
            answered: Vec::new(),
            asked: None,
        }
    }

    /// What the watches would deliver: a change of the group wakes both controllers; of the
    /// DrSite's status or a workload, the DrSite controller.
    fn watch(&mut self) {
        let now = Instant::now();
        let group = serde_json::to_string(&self.w.group()).unwrap_or_default();
        if group != self.seen_group {
            self.seen_group = group;
            self.ag_due = now;
            self.dr_due = now;
        }
        let status = self.w.status();
        self.record_plan(&status.plan);
        let drsite = serde_json::to_string(&status).unwrap_or_default();
        if drsite != self.seen_drsite {
            self.seen_drsite = drsite;
            self.dr_due = now;
        }
        let spec = &self.w.drs.spec;
        let sites: Vec<Option<Instance>> = spec
            .sites
            .iter()
            .flat_map(|s| spec.components.iter().map(|c| self.w.sites.instance(&s.name, &c.name)))
            .collect();
        if sites != self.seen_sites {
            self.seen_sites = sites;
            self.dr_due = now;
        }
    }

    fn record_plan(&mut self, plan: &[PlanStep]) {
        if plan.is_empty() {
            return;
        }
        let at = self.flipped.elapsed().as_secs_f64();
        for step in plan {
            let seen = self.seen_steps.entry(step_key(step)).or_default();
            if step.started_at.is_some() && seen.0.is_none() {
                seen.0 = Some(at);
            }
            if step.state == StepState::Done && seen.1.is_none() {
                seen.1 = Some(at);
            }
        }
        self.plan = plan.to_vec();
    }

    /// One moment: what is due runs, the invariants are checked, confirmations are given at once.
    async fn moment(&mut self) -> Result<(), String> {
        self.watch();
        let now = Instant::now();
        if now >= self.ag_due {
            let group = self.w.group();
            let result = ag::reconcile(&group, &self.w.ag_ctx, self.w.now()).await;
            self.reconciles.0 += 1;
            self.ag_due = due_after(&self.config, result);
        }
        if now >= self.dr_due {
            self.w.drs.status = self.w.port.drsite_status(&self.w.drs);
            let result = drsite::reconcile(&self.w.drs, &self.w.dr_ctx, self.w.now()).await;
            self.reconciles.1 += 1;
            self.dr_due = due_after(&self.config, result);
            let plan = self.w.status().plan;
            self.record_plan(&plan);
        }
        self.w.invariants()?;
        self.w.starts_follow_the_primary()?;
        self.confirm();
        Ok(())
    }

    /// A person who answers every confirmation the moment it is asked.
    fn confirm(&mut self) {
        if let Some(ask) = self.w.group_status().confirmation
            && !self.answered.contains(&ask.token)
        {
            self.asked.get_or_insert(self.w.elapsed());
            self.w.annotate_group(&ask.token);
            self.answered.push(ask.token);
        }
        if let Some(ask) = self.w.status().site_lost_confirmation
            && !self.answered.contains(&ask.token)
        {
            self.asked.get_or_insert(self.w.elapsed());
            self.w.annotate(&ask.token);
            self.answered.push(ask.token);
            self.dr_due = Instant::now();
        }
    }

    /// Runs moments until `done` holds after one; how long that took.
    async fn until(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&DemoWorld) -> bool,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            self.moment().await?;
            if done(&self.w) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > limit {
                return Err(format!("timed out waiting for {what}: {:?}", self.w.status()));
            }
            tokio::time::sleep(TICK).await;
        }
    }

    fn flip(&mut self, to: &str) {
        self.w.flip(to);
        self.dr_due = Instant::now();
        self.plan.clear();
        self.seen_steps.clear();
        self.flipped = Instant::now();
        self.asked = None;
    }
}

/// One measured transition of one seed.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Measured {
    kind: String,
    seconds: f64,
    ideal: f64,
    ratio: f64,
    /// `seconds <= 1.05 * ideal + poll`.
    within_target: bool,
    steps: Vec<StepSlack>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Detection {
    /// Loss to the group's status showing the primary replica unreachable.
    group_status: f64,
    /// Loss to the DrSite's status changing (phase, active site or ready count).
    drsite_status: f64,
    /// The flip to the forced-failover confirmation request.
    confirmation_after_flip: f64,
    /// Where in the steady poll cycle the loss fell (seconds since the last group reconcile).
    phase_in_poll: f64,
    /// Reconciles per second of the group and of the DrSite over 10 quiet seconds before.
    quiet_group_per_second: f64,
    quiet_drsite_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SeedRun {
    seed: u64,
    transitions: Vec<Measured>,
    detection: Detection,
}

fn step_key(s: &PlanStep) -> String {
    format!("{:?} {}@{}", s.action, s.target, s.site)
}

async fn transition(
    d: &mut Driver,
    kind: TransitionKind,
    from: &str,
    to: &str,
    costs: &Costs,
) -> Result<Measured, String> {
    d.flip(to);
    let took = d
        .until(&format!("{kind:?} to {to}"), Duration::from_secs(120), |w| {
            // Its end as drover records it: after a failover the lost site's EverySite
            // components leave the DrSite Degraded, not Steady, until that site is back.
            let s = w.status();
            s.transition.is_none()
                && s.active_site.as_deref() == Some(to)
                && s.last_transition.is_some_and(|t| t.kind == kind && t.to_site == to)
        })
        .await?
        .as_secs_f64();
    let spec = &d.w.drs.spec;
    let best = ideal(spec, kind, Some(from), to, costs).seconds;
    let seen = &d.seen_steps;
    let runs = step_runs(
        spec,
        kind,
        &d.plan,
        |s| seen.get(&step_key(s)).copied().unwrap_or_default(),
        costs,
    );
    Ok(Measured {
        kind: format!("{kind:?}"),
        seconds: took,
        ideal: best,
        ratio: took / best,
        within_target: took <= 1.05 * best + POLL.as_secs_f64(),
        steps: slack(&runs),
    })
}

async fn one_seed(seed: u64) -> Result<SeedRun, String> {
    let (sql, sites) = latencies(seed);
    let costs = Costs {
        sql: sql.latencies.clone(),
        sites: sites.clone(),
        groups: 1,
        databases: sql.availability_groups.first().map_or(0, |a| a.databases.len()),
        // The example's group backs its databases up before a failback, and the twin does.
        backup_before_failback: world::example_declared_group()?.spec.backup_before_failback.is_some(),
    };
    let drs = world::example()?;
    let w = DemoWorld::start(sql, &sites, drs, world::controller_config(POLL)).await?;
    let mut d = Driver::new(w);
    let result = play(&mut d, seed, &costs).await;
    d.w.sim.shutdown();
    result
}

async fn play(d: &mut Driver, seed: u64, costs: &Costs) -> Result<SeedRun, String> {
    d.until("the cold start", Duration::from_secs(120), |w| {
        w.steady_at(A) && w.status().transition.is_none()
    })
    .await?;
    let mut transitions = vec![transition(d, TransitionKind::Switchover, A, B, costs).await?];

    // Steady at site-b; the loss falls anywhere in the steady poll cycle.
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
    let wait = d.config.steady_poll.mul_f64(rng.random_range(0.0..1.0));
    d.until("steady", Duration::from_secs(30), |w| w.steady_at(B)).await?;
    // A quiet window: how often each object is reconciled when nothing changes.
    let before = d.reconciles;
    let window = Duration::from_secs(10);
    let started = Instant::now();
    d.until("a quiet window", window * 2, |_| started.elapsed() >= window)
        .await?;
    let quiet = (
        (d.reconciles.0 - before.0) as f64 / window.as_secs_f64(),
        (d.reconciles.1 - before.1) as f64 / window.as_secs_f64(),
    );
    let started = Instant::now();
    d.until("the loss", wait * 2 + TICK, |_| started.elapsed() >= wait)
        .await?;
    let last_group_reconcile = d.ag_due.checked_sub(d.config.steady_poll);
    let phase_in_poll = last_group_reconcile.map_or(0.0, |t| Instant::now().saturating_duration_since(t).as_secs_f64());
    let before = d.w.status();
    for (name, site, _) in d.w.sim.endpoints() {
        if site == B {
            d.w.sim.stop_instance(&name).await?;
        }
    }
    d.w.sites.set_reachable(B, false);
    let lost = Instant::now();
    let (mut group_seen, mut drsite_seen) = (None, None);
    d.until("the loss to show", Duration::from_secs(30), |w| {
        let g = w.group_status().replicas.iter().any(|r| r.site == B && !r.reachable);
        let s = w.status();
        let changed = s.phase != before.phase || s.active_site != before.active_site || s.ready != before.ready;
        if g && group_seen.is_none() {
            group_seen = Some(lost.elapsed());
        }
        if changed && drsite_seen.is_none() {
            drsite_seen = Some(lost.elapsed());
        }
        group_seen.is_some() && drsite_seen.is_some()
    })
    .await?;
    let failover = transition(d, TransitionKind::Failover, B, A, costs).await?;
    let flipped_at = d.w.elapsed().as_secs_f64() - failover.seconds;
    let confirmation_after_flip = d.asked.map_or(f64::NAN, |a| a.as_secs_f64() - flipped_at);
    transitions.push(failover);

    for (name, site, _) in d.w.sim.endpoints() {
        if site == B {
            d.w.sim.start_instance(&name)?;
        }
    }
    d.w.sites.set_reachable(B, true);
    let spec = d.w.drs.spec.clone();
    d.until("site-b's leftovers stopped", Duration::from_secs(120), |w| {
        // The group stays Degraded (site-b's copies suspended) until the failback resumes them.
        spec.components
            .iter()
            .filter(|c| c.placement == Placement::ActiveSite)
            .all(|c| !w.running(B, &c.name))
            && w.status().transition.is_none()
    })
    .await?;
    transitions.push(transition(d, TransitionKind::Failback, A, B, costs).await?);
    Ok(SeedRun {
        seed,
        transitions,
        detection: Detection {
            group_status: group_seen.unwrap_or_default().as_secs_f64(),
            drsite_status: drsite_seen.unwrap_or_default().as_secs_f64(),
            confirmation_after_flip,
            phase_in_poll,
            quiet_group_per_second: quiet.0,
            quiet_drsite_per_second: quiet.1,
        },
    })
}

fn main() {
    let seeds = seeds(20);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let mut runs = Vec::new();
    let mut failed = Vec::new();
    for seed in 1..=seeds {
        match runtime.block_on(one_seed(seed)) {
            Ok(run) => runs.push(run),
            Err(e) => {
                eprintln!("seed {seed}: {e}");
                failed.push(seed);
            }
        }
    }
    let config = world::controller_config(POLL);
    let (sql, sites) = (world::sim_config().latencies, world::site_latencies());
    println!(
        "latency model (each ×U[0.7,1.3) per seed, per component): SQL replication {:?}, failover {:?}, revert {:?}, backup {:?}; \
         component start {:?}, stop {:?}, hook {:?}; transition poll {:?}, steady poll {:?}; watch delivery ≤ {:?}; paused clock",
        sql.replication,
        sql.failover,
        sql.revert,
        sql.backup,
        sites.start,
        sites.stop,
        sites.hook,
        POLL,
        config.steady_poll,
        TICK
    );
    println!("{} seeds run, {} failed {:?}\n", runs.len(), failed.len(), failed);

    // Transition overhead.
    let mut table = Table::new(&[
        "transition",
        "runs",
        "took p50",
        "ideal p50",
        "ratio p50",
        "ratio p95",
        "over target",
        "slack p50",
        "overrun p50",
    ]);
    let mut summary = BTreeMap::new();
    for kind in ["Switchover", "Failover", "Failback"] {
        let of: Vec<&Measured> = runs
            .iter()
            .flat_map(|r| &r.transitions)
            .filter(|m| m.kind == kind)
            .collect();
        let col = |f: &dyn Fn(&Measured) -> f64| of.iter().map(|m| f(m)).collect::<Vec<f64>>();
        let (took, best, ratio) = (col(&|m| m.seconds), col(&|m| m.ideal), col(&|m| m.ratio));
        let slack_sum = col(&|m| m.steps.iter().map(|s| s.slack).sum());
        let overrun_sum = col(&|m| m.steps.iter().map(|s| s.overrun).sum());
        let missed = of.iter().filter(|m| !m.within_target).count();
        let p = |v: &[f64], q| percentile(v, q).unwrap_or(f64::NAN);
        table.row(vec![
            kind.into(),
            of.len().to_string(),
            format!("{:.2} s", p(&took, 50.0)),
            format!("{:.2} s", p(&best, 50.0)),
            format!("{:.3}", p(&ratio, 50.0)),
            format!("{:.3}", p(&ratio, 95.0)),
            format!("{missed}/{}", of.len()),
            format!("{:.2} s", p(&slack_sum, 50.0)),
            format!("{:.2} s", p(&overrun_sum, 50.0)),
        ]);
        // Per step, over seeds: median slack and overrun.
        let mut per_step: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        let mut order = Vec::new();
        for m in &of {
            for s in &m.steps {
                if !order.contains(&s.label) {
                    order.push(s.label.clone());
                }
                let e = per_step.entry(s.label.clone()).or_default();
                e.0.push(s.slack);
                e.1.push(s.overrun);
            }
        }
        let steps: Vec<serde_json::Value> = order
            .iter()
            .map(|l| {
                let (s, o) = &per_step[l];
                serde_json::json!({"step": l, "slackP50": p(s, 50.0), "slackP95": p(s, 95.0), "overrunP50": p(o, 50.0), "overrunP95": p(o, 95.0)})
            })
            .collect();
        summary.insert(
            kind.to_string(),
            serde_json::json!({
                "runs": of.len(), "tookP50": p(&took, 50.0), "idealP50": p(&best, 50.0),
                "ratioP50": p(&ratio, 50.0), "ratioP95": p(&ratio, 95.0), "overTarget": missed,
                "slackP50": p(&slack_sum, 50.0), "overrunP50": p(&overrun_sum, 50.0), "steps": steps,
            }),
        );
    }
    println!(
        "TRANSITIONS (target: took ≤ 1.05 × ideal + {:.1} s poll)",
        POLL.as_secs_f64()
    );
    table.print();
    println!("\nper step, median over seeds (slack: started − earliest possible; overrun: took − best):");
    for kind in ["Switchover", "Failover", "Failback"] {
        for s in summary[kind]["steps"].as_array().into_iter().flatten() {
            println!(
                "  {kind:<10} {:<40} slack p50 {:.3} s  p95 {:.3} s   overrun p50 {:.3} s  p95 {:.3} s",
                s["step"].as_str().unwrap_or_default(),
                s["slackP50"].as_f64().unwrap_or(f64::NAN),
                s["slackP95"].as_f64().unwrap_or(f64::NAN),
                s["overrunP50"].as_f64().unwrap_or(f64::NAN),
                s["overrunP95"].as_f64().unwrap_or(f64::NAN),
            );
        }
    }

    // Detection.
    let det = |f: &dyn Fn(&Detection) -> f64| runs.iter().map(|r| f(&r.detection)).collect::<Vec<f64>>();
    let (g, s, c) = (
        det(&|d| d.group_status),
        det(&|d| d.drsite_status),
        det(&|d| d.confirmation_after_flip),
    );
    let p = |v: &[f64], q| percentile(v, q).unwrap_or(f64::NAN);
    let bound = config.steady_poll + config.sql.connect;
    let mut table = Table::new(&["detection", "p50", "p95", "max", "bound"]);
    for (what, v, b) in [
        (
            "loss → group status shows primary unreachable",
            &g,
            format!(
                "steady poll {:?} + connect timeout {:?}",
                config.steady_poll, config.sql.connect
            ),
        ),
        (
            "loss → DrSite status changes",
            &s,
            format!("its own steady poll {:?}, or the group's change", config.steady_poll),
        ),
        (
            "flip → forced-failover confirmation asked",
            &c,
            format!("one reconcile of each (≤ {TICK:?} after the flip)"),
        ),
    ] {
        table.row(vec![
            what.into(),
            format!("{:.3} s", p(v, 50.0)),
            format!("{:.3} s", p(v, 95.0)),
            format!("{:.3} s", p(v, 100.0)),
            b,
        ]);
    }
    let (qg, qd) = (det(&|d| d.quiet_group_per_second), det(&|d| d.quiet_drsite_per_second));
    table.row(vec![
        "quiet: group reconciles per second".into(),
        format!("{:.2}", p(&qg, 50.0)),
        format!("{:.2}", p(&qg, 95.0)),
        format!("{:.2}", p(&qg, 100.0)),
        format!("≤ 1 / steady poll = {:.2}", 1.0 / config.steady_poll.as_secs_f64()),
    ]);
    table.row(vec![
        "quiet: DrSite reconciles per second".into(),
        format!("{:.2}", p(&qd, 50.0)),
        format!("{:.2}", p(&qd, 95.0)),
        format!("{:.2}", p(&qd, 100.0)),
        format!("≤ 1 / steady poll = {:.2}", 1.0 / config.steady_poll.as_secs_f64()),
    ]);
    println!("\nDETECTION");
    table.print();
    let detection_within = g.iter().all(|x| *x <= bound.as_secs_f64());

    let path = out_path("transitions.json");
    let json = serde_json::json!({
        "clock": "tokio paused (simulated seconds)",
        "seeds": seeds, "failedSeeds": failed,
        "pollSeconds": POLL.as_secs_f64(), "steadyPollSeconds": config.steady_poll.as_secs_f64(),
        "connectTimeoutSeconds": config.sql.connect.as_secs_f64(), "watchTickSeconds": TICK.as_secs_f64(),
        "latencies": {"sql": format!("{sql:?}"), "sites": format!("{sites:?}"), "jitter": "x U[0.7,1.3) per seed"},
        "transitions": summary,
        "detection": {"groupStatusP50": p(&g, 50.0), "groupStatusP95": p(&g, 95.0), "groupStatusMax": p(&g, 100.0),
            "drsiteStatusP50": p(&s, 50.0), "drsiteStatusP95": p(&s, 95.0),
            "confirmationAfterFlipP50": p(&c, 50.0), "confirmationAfterFlipP95": p(&c, 95.0),
            "boundSeconds": bound.as_secs_f64(), "withinBound": detection_within,
            "quietGroupReconcilesPerSecondMax": p(&qg, 100.0), "quietDrsiteReconcilesPerSecondMax": p(&qd, 100.0)},
        "runs": runs,
    });
    common::write_json(&path, &json);
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
