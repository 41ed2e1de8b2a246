//! The chaos runner's pool half: the PersistentChatPool controller for real (log shipping,
//! mirroring, RESTORE and sessions on the TDS simulator, hook Jobs in memory doing what the
//! cmdlets would), time paused. Each seed plays switchover to site-b → back to site-a → site-a
//! lost and a confirmed failover to site-b → site-a rebuilt and failback, injecting at random
//! ticks: operator restart and crash mid-reconcile, TDS connection reset, a command timing out
//! (instance hung), 409/500/429 on the controller's API calls, a hook Job failing (deleted by
//! the person once the cause is gone). After every tick: never two writable chat databases
//! while the pool has active servers (unless a person confirmed a failover's loss), and a planned
//! move loses no acknowledged commit; after each phase's faults stop it must converge.
//!
//! `CHAOS_SEEDS` (default 40, under a minute), `CHAOS_SEED` to replay one:
//! `CHAOS_SEED=5 cargo test --test chaos_pool -- --nocapture`.

mod common {
    pub mod crash;
    pub mod pool;
    pub mod rig;
}

use common::crash::cut;
use common::pool::{runner, world};
use drover::api::availability_group::CONFIRM_ANNOTATION;
use drover::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus, PoolPhase};
use drover::controller::memory::{CALLS, MemoryPort};
use drover::controller::{PortError, pchat};
use drover::plan::drsite::ChildKind;
use drover::sim::Sim;
use drover::sim::model::StandaloneState;
use drover::sim::spec::persistent_chat_pool_spec;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const NS: &str = "persistent-chat";
const POOL: &str = "pchat";
const SECRET: &str = "pchat-sql";
const TICK: Duration = Duration::from_millis(200);
const CONVERGE_WITHIN: Duration = Duration::from_secs(300);
const INSTANCES: [&str; 4] = ["SQL-CHAT-A", "SQL-CHAT-A-MIR", "SQL-CHAT-B", "SQL-CHAT-B-MIR"];
/// The hook steps a failure can be injected into (`drover.dev/action` of the Job).
const HOOK_STEPS: [&str; 4] = [
    "set-pool-state",
    "set-active-servers",
    "install-mirror",
    "establish-log-shipping",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    OperatorRestart,
    OperatorCrashMidStep,
    TdsConnectionReset,
    CommandTimeout,
    KubeApiError,
    HookJobFails,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Switchover,
    Switchback,
    Failover,
    Failback,
}

impl Phase {
    fn target(self) -> &'static str {
        match self {
            Phase::Switchover | Phase::Failover => "site-b",
            Phase::Switchback | Phase::Failback => "site-a",
        }
    }
}

#[derive(Default)]
struct Totals {
    runs: u64,
    faults: BTreeMap<Fault, u64>,
    failed: Vec<(u64, String)>,
}

struct Run {
    seed: u64,
    rng: SmallRng,
    sim: Arc<Sim>,
    port: Arc<MemoryPort>,
    ctx: pchat::Context<Arc<MemoryPort>>,
    failures: Arc<Mutex<BTreeMap<String, u32>>>,
    epoch: jiff::Timestamp,
    start: Instant,
    phase: Phase,
    /// A person confirmed a failover's data loss (split brain is then accepted, as in
    /// `pchat_scenarios`).
    confirmed: bool,
    /// Lost commits when a planned phase started.
    loss_base: Option<u64>,
    /// Instances hung, with when they answer again.
    hung: Vec<(Instant, &'static str)>,
    hook_fault_until: Option<Instant>,
    faults: BTreeMap<Fault, u64>,
}

impl Run {
    async fn new(seed: u64) -> Run {
        let civil = jiff::civil::date(2026, 11, 22).at(3, 0, 0, 0);
        let start = Instant::now();
        let mut cfg = world();
        cfg.seed = seed;
        let sim = Sim::start_at(cfg, civil, IpAddr::V4(Ipv4Addr::LOCALHOST))
            .await
            .expect("simulator starts");
        let spec = persistent_chat_pool_spec(&sim, POOL, SECRET).expect("the simulator has the pool");
        let mut pool = PersistentChatPool::new(POOL, spec);
        pool.metadata.namespace = Some(NS.into());
        pool.metadata.generation = Some(1);
        let port = Arc::new(MemoryPort::default());
        let (user, password) = sim.login();
        port.put_secret(NS, SECRET, &[("username", user), ("password", password)]);
        port.put_pool(pool);
        let failures = Arc::new(Mutex::new(BTreeMap::new()));
        port.set_job_runner(Duration::from_secs(1), runner(sim.clone(), failures.clone()));
        Run {
            seed,
            rng: SmallRng::seed_from_u64(seed),
            ctx: pchat::Context::new(port.clone(), common::rig::config(TICK)),
            sim,
            port,
            failures,
            epoch: civil.to_zoned(jiff::tz::TimeZone::UTC).expect("utc").timestamp(),
            start,
            phase: Phase::Switchover,
            confirmed: false,
            loss_base: None,
            hung: Vec::new(),
            hook_fault_until: None,
            faults: BTreeMap::new(),
        }
    }

    fn now(&self) -> jiff::Timestamp {
        self.epoch + jiff::SignedDuration::try_from(self.start.elapsed()).expect("fits")
    }

    fn status(&self) -> PersistentChatPoolStatus {
        self.port
            .stored_pool(NS, POOL)
            .and_then(|p| p.status)
            .unwrap_or_default()
    }

    fn count(&mut self, f: Fault) {
        *self.faults.entry(f).or_default() += 1;
    }

    fn restart(&mut self) {
        self.ctx = pchat::Context::new(self.port.clone(), common::rig::config(TICK));
    }

    fn up(&self, instance: &str) -> bool {
        self.sim
            .with_world(|w, _| w.instances().into_iter().any(|i| i.0 == instance && i.2))
    }

    async fn inject(&mut self) {
        let now = Instant::now();
        let fault = match self.rng.random_range(0..4) {
            0 => Fault::TdsConnectionReset,
            1 => Fault::CommandTimeout,
            2 => Fault::KubeApiError,
            _ => Fault::HookJobFails,
        };
        match fault {
            Fault::TdsConnectionReset | Fault::CommandTimeout => {
                let i = INSTANCES[self.rng.random_range(0..INSTANCES.len())];
                if !self.up(i) || self.hung.iter().any(|(_, h)| *h == i) {
                    return;
                }
                if fault == Fault::TdsConnectionReset {
                    let _ = self.sim.reset_connections(i).await;
                } else {
                    let _ = self.sim.hang_instance(i);
                    let d = Duration::from_millis(self.rng.random_range(1_000..=12_000));
                    self.hung.push((now + d, i));
                }
            }
            Fault::KubeApiError => {
                let method = CALLS[self.rng.random_range(0..CALLS.len())];
                let error = match self.rng.random_range(0..3) {
                    0 => "409 Conflict: the object has been modified",
                    1 => "500 Internal Server Error",
                    _ => "429 Too Many Requests",
                };
                self.port
                    .fail_next(method, self.rng.random_range(1..=3), PortError::Api(error.into()));
            }
            Fault::HookJobFails => {
                let step = HOOK_STEPS[self.rng.random_range(0..HOOK_STEPS.len())];
                crate::lock(&self.failures).insert(step.into(), 1);
                let d = Duration::from_millis(self.rng.random_range(1_000..=10_000));
                self.hook_fault_until = Some(now + d);
            }
            Fault::OperatorRestart | Fault::OperatorCrashMidStep => return,
        }
        self.count(fault);
    }

    fn heal_due(&mut self, all: bool) {
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.hung)
            .into_iter()
            .partition(|(at, _)| all || *at <= now);
        self.hung = keep;
        for (_, i) in due {
            let _ = self.sim.unhang_instance(i);
        }
        if all || self.hook_fault_until.is_some_and(|t| t <= now) {
            self.hook_fault_until = None;
            crate::lock(&self.failures).clear();
        }
        if all {
            for m in CALLS {
                self.port.fail_next(m, 0, PortError::Api(String::new()));
            }
        }
    }

    /// The person: confirms a failover's loss in the failover phase, deletes failed hook Jobs once
    /// their cause is gone.
    fn person(&mut self) {
        if self.phase == Phase::Failover
            && let Some(req) = self.status().confirmation
            && self.rng.random_bool(0.3)
        {
            self.confirmed = true;
            self.port.annotate_pool(NS, POOL, CONFIRM_ANNOTATION, &req.token);
        }
        if self.hook_fault_until.is_none() {
            for job in self.port.all_jobs() {
                if job.outcome.as_ref().is_some_and(|o| o.is_err())
                    && let Some(name) = job.job.metadata.name.clone()
                {
                    self.port.delete_job(NS, &name);
                }
            }
        }
    }

    async fn tick(&mut self, faults: bool) -> Result<(), String> {
        if faults && self.rng.random_bool(0.04) {
            self.restart();
            self.count(Fault::OperatorRestart);
        }
        let pool = self.port.stored_pool(NS, POOL).expect("stored");
        if faults && self.rng.random_bool(0.04) {
            let polls = self.rng.random_range(1..=3);
            if cut(pchat::reconcile(&pool, &self.ctx, self.now()), polls)
                .await
                .is_none()
            {
                self.restart();
                self.count(Fault::OperatorCrashMidStep);
            }
        } else {
            let _ = pchat::reconcile(&pool, &self.ctx, self.now()).await;
        }
        self.person();
        self.check()?;
        tokio::time::sleep(TICK).await;
        self.heal_due(false);
        Ok(())
    }

    /// The pool's invariant (as `pchat_scenarios` checks it) and no loss in a planned phase.
    fn check(&mut self) -> Result<(), String> {
        let (online, servers, lost) = self.sim.with_world(|w, _| {
            let up: Vec<String> = w.instances().into_iter().filter(|i| i.2).map(|i| i.0).collect();
            let online: Vec<&str> = ["SQL-CHAT-A", "SQL-CHAT-B"]
                .into_iter()
                .filter(|i| {
                    up.iter().any(|u| u == i)
                        && w.standalone_database(i, "mgc")
                            .is_some_and(|d| d.state == StandaloneState::Online)
                })
                .collect();
            (
                online.len(),
                w.chat_pool(POOL).map(|p| p.active_servers).unwrap_or_default(),
                w.chat_lost(POOL),
            )
        });
        if !self.confirmed && online > 1 && !servers.is_empty() {
            return Err(format!("two writable chat databases while {servers:?} are active"));
        }
        if let (Some(base), Some(lost)) = (self.loss_base, lost)
            && lost > base
        {
            return Err(format!("{:?} (planned) lost {} commits", self.phase, lost - base));
        }
        Ok(())
    }

    fn done(&self) -> bool {
        let s = self.status();
        s.transition.is_none()
            && matches!(s.phase, Some(PoolPhase::Steady | PoolPhase::Degraded))
            && s.active_site.as_deref() == Some(self.phase.target())
    }

    async fn play(&mut self, phase: Phase) -> Result<(), String> {
        self.phase = phase;
        self.loss_base = if phase == Phase::Failover {
            None
        } else {
            self.sim.with_world(|w, _| w.chat_lost(POOL))
        };
        match phase {
            Phase::Failover => {
                self.sim.stop_instance("SQL-CHAT-A").await?;
                self.sim.stop_instance("SQL-CHAT-A-MIR").await?;
            }
            Phase::Failback => {
                self.sim.start_instance("SQL-CHAT-A")?;
                self.sim.start_instance("SQL-CHAT-A-MIR")?;
                // The rebuilt data center answers before the edit, as a person would wait for it.
                for _ in 0..10 {
                    self.tick(false).await?;
                }
            }
            Phase::Switchover | Phase::Switchback => {}
        }
        self.port
            .edit_desired_site(
                ChildKind::PersistentChatPool,
                NS,
                POOL,
                phase.target(),
                "kubectl-client-side-apply",
            )
            .map_err(|e| e.to_string())?;
        let until = Instant::now() + Duration::from_millis(self.rng.random_range(5_000..=30_000));
        while Instant::now() < until {
            if self.rng.random_bool(0.08) {
                self.inject().await;
            }
            self.tick(true).await?;
        }
        self.heal_due(true);
        let deadline = Instant::now() + CONVERGE_WITHIN;
        while !self.done() {
            if Instant::now() >= deadline {
                let s = self.status();
                return Err(format!(
                    "{phase:?}: not converged {CONVERGE_WITHIN:?} after faults stopped: {:?} at {:?}, step {:?}",
                    s.phase, s.active_site, s.step
                ));
            }
            self.tick(false).await?;
        }
        Ok(())
    }

    async fn run(mut self) -> Totals {
        let mut totals = Totals {
            runs: 1,
            ..Totals::default()
        };
        // Steady at site-a first, without faults.
        let mut steady = false;
        for _ in 0..600 {
            let s = self.status();
            if s.transition.is_none()
                && s.phase == Some(PoolPhase::Steady)
                && s.active_site.as_deref() == Some("site-a")
            {
                steady = true;
                break;
            }
            if let Err(e) = self.tick(false).await {
                totals.failed.push((self.seed, format!("start: {e}")));
                return totals;
            }
        }
        if !steady {
            totals.failed.push((self.seed, "never steady at site-a".into()));
        }
        for phase in [Phase::Switchover, Phase::Switchback, Phase::Failover, Phase::Failback] {
            if !totals.failed.is_empty() {
                break;
            }
            if let Err(e) = self.play(phase).await {
                totals.failed.push((self.seed, format!("{phase:?}: {e}")));
            }
        }
        totals.faults = std::mem::take(&mut self.faults);
        self.sim.shutdown();
        totals
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn chaos_persistent_chat_pool() {
    let seeds: Vec<u64> = match std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (1..=std::env::var("CHAOS_SEEDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(40))
            .collect(),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let mine: Vec<u64> = seeds.iter().copied().skip(t).step_by(threads).collect();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .start_paused(true)
                    .build()
                    .expect("runtime");
                mine.into_iter()
                    .map(|seed| rt.block_on(async { Run::new(seed).await.run().await }))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut totals = Totals::default();
    for h in handles {
        for t in h.join().expect("a chaos thread panicked") {
            totals.runs += t.runs;
            for (f, n) in t.faults {
                *totals.faults.entry(f).or_default() += n;
            }
            totals.failed.extend(t.failed);
        }
    }
    let injected: u64 = totals.faults.values().sum();
    eprintln!(
        "pool chaos totals: runs {}, faults injected {injected} {:?}, failed runs {}",
        totals.runs,
        totals.faults,
        totals.failed.len()
    );
    for (seed, why) in &totals.failed {
        eprintln!("  seed {seed}: {why}\n    replay: CHAOS_SEED={seed} cargo test --test chaos_pool -- --nocapture");
    }
    assert!(totals.runs > 0);
    assert!(
        totals.failed.is_empty(),
        "{} failed runs (seeds above)",
        totals.failed.len()
    );
}
