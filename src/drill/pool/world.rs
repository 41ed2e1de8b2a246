//! The running twin of a PersistentChatPool: on the simulator, the pool in memory with its hook Jobs
//! run against the simulated pool ([`crate::sim::hooks`]), and the real PersistentChatPool
//! controller reconciling it. Time is tokio's: real in the CLI, paused in tests.

use super::twin;
use crate::api::availability_group::CONFIRM_ANNOTATION;
use crate::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus, PoolPhase};
use crate::controller::memory::{MemoryPort, pool_event_key};
use crate::controller::{Config, Event, pchat};
use crate::plan::drsite::ChildKind;
use crate::sim::Sim;
use crate::sim::hooks::{HookFailures, run_chat_hook};
use crate::sim::model::StandaloneState;
use std::sync::Arc;
use std::time::Duration;

/// The pool, its simulator and its controller.
pub struct PoolWorld {
    pub sim: Arc<Sim>,
    pub port: Arc<MemoryPort>,
    ctx: pchat::Context<Arc<MemoryPort>>,
    namespace: String,
    name: String,
    /// The simulator's pool (the resource's name).
    sim_pool: String,
    /// The two chat-database copies the pool can be served from: the primary and backup instances.
    serving: [String; 2],
    epoch: jiff::Timestamp,
    start: tokio::time::Instant,
    /// A person confirmed a forced failover's data loss: the old chat database may come back
    /// ONLINE beside the new one until the failback restores over it.
    pub accepted_split: bool,
}

impl PoolWorld {
    /// The pool `declared` on a simulator and in memory already running (beside a DrSite and its
    /// groups): pointed at the simulator, stored with its login, its hook Jobs run against the
    /// simulated pool (other Jobs succeed). `clock`: the world's start, wall and tokio.
    pub fn attach(
        sim: Arc<Sim>,
        port: Arc<MemoryPort>,
        declared: &PersistentChatPool,
        config: Config,
        job_latency: Duration,
        clock: (jiff::Timestamp, tokio::time::Instant),
    ) -> Result<PoolWorld, String> {
        let pool = twin::twin_pool(&sim, declared)?;
        let namespace = pool.metadata.namespace.clone().unwrap_or_default();
        let name = pool.metadata.name.clone().unwrap_or_default();
        let (user, password) = sim.login();
        let creds = &pool.spec.credentials;
        port.put_secret(
            &namespace,
            &creds.secret_name,
            &[
                (creds.username_key.as_str(), user),
                (creds.password_key.as_str(), password),
            ],
        );
        let sim_pool = twin::pool_name(&pool);
        let failures = HookFailures::default();
        let runner_sim = sim.clone();
        let runner_pool = sim_pool.clone();
        port.set_job_runner(
            job_latency,
            Arc::new(move |job| {
                let ours = job
                    .metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.contains_key(crate::components::LABEL_POOL));
                if ours {
                    run_chat_hook(&runner_sim, &runner_pool, &failures, job)
                } else {
                    // A group's fence and force-quorum Jobs keep their effect in a twin with a pool.
                    crate::demo::world::run_ag_hook(&runner_sim, job)
                }
            }),
        );
        let serving = [
            pool.spec.primary.sql_instance.server_name.clone(),
            pool.spec.backup.sql_instance.server_name.clone(),
        ];
        port.put_pool(pool);
        Ok(PoolWorld {
            ctx: pchat::Context::new(port.clone(), config),
            sim,
            port,
            namespace,
            name,
            sim_pool,
            serving,
            epoch: clock.0,
            start: clock.1,
            accepted_split: false,
        })
    }

    /// A fresh operator process: a new controller context (no memory of connections).
    pub fn restart_operator(&mut self, config: Config, shared: crate::runtime::Shared) {
        self.ctx = pchat::Context::new(self.port.clone(), config).with_shared(shared);
    }

    /// The wall-clock time the controller is given: the start plus tokio time since.
    pub fn now(&self) -> jiff::Timestamp {
        self.epoch + jiff::SignedDuration::try_from(self.start.elapsed()).unwrap_or_default()
    }

    /// Tokio time since the world started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn pool(&self) -> PersistentChatPool {
        self.port
            .stored_pool(&self.namespace, &self.name)
            .expect("the pool is stored when the world starts and never deleted")
    }

    pub fn status(&self) -> PersistentChatPoolStatus {
        self.pool().status.unwrap_or_default()
    }

    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// One reconcile of the controller, then the invariant against ground truth.
    pub async fn reconcile(&mut self) -> Result<(), String> {
        let pool = self.pool();
        // Boxed: the controller's future is large; a test thread's stack is not.
        let _ = Box::pin(pchat::reconcile(&pool, &self.ctx, self.now())).await;
        self.invariant()
    }

    /// Served from `site` with no transition in flight: Steady, or Degraded while an instance of
    /// the other data center is down.
    pub fn settled_at(&self, site: &str) -> bool {
        let s = self.status();
        s.transition.is_none()
            && matches!(s.phase, Some(PoolPhase::Steady | PoolPhase::Degraded))
            && s.active_site.as_deref() == Some(site)
    }

    /// No split brain: while the pool has active servers, at most one chat-database copy is
    /// ONLINE on an instance that is up, unless a person accepted a forced failover's loss.
    pub fn invariant(&self) -> Result<(), String> {
        if self.accepted_split {
            return Ok(());
        }
        let database = self.pool().spec.chat_database;
        let (online, servers) = self.sim.with_world(|w, _| {
            let up: Vec<String> = w.instances().into_iter().filter(|i| i.2).map(|i| i.0).collect();
            let online: Vec<String> = self
                .serving
                .iter()
                .filter(|i| {
                    up.contains(i)
                        && w.standalone_database(i, &database)
                            .is_some_and(|d| d.state == StandaloneState::Online)
                })
                .cloned()
                .collect();
            let servers = w
                .chat_pool(&self.sim_pool)
                .map(|p| p.active_servers)
                .unwrap_or_default();
            (online, servers)
        });
        if online.len() > 1 && !servers.is_empty() {
            return Err(format!(
                "{database} is writable on {} while servers {} are active",
                online.join(" and "),
                servers.join(", ")
            ));
        }
        Ok(())
    }

    /// What `kubectl patch pchat … activeSite` does.
    pub fn flip(&self, site: &str) -> Result<(), String> {
        self.port
            .edit_desired_site(
                ChildKind::PersistentChatPool,
                &self.namespace,
                &self.name,
                site,
                "kubectl-client-side-apply",
            )
            .map_err(|e| format!("the pool does not take site {site}: {e}"))
    }

    /// What `kubectl annotate pchat … drover.dev/confirm-data-loss=TOKEN` does.
    pub fn annotate(&self, token: &str) -> bool {
        self.port
            .annotate_pool(&self.namespace, &self.name, CONFIRM_ANNOTATION, token)
    }

    /// What `kubectl annotate pchat … drover.dev/confirm-discard=TOKEN` does.
    pub fn annotate_discard(&self, token: &str) -> bool {
        self.port.annotate_pool(
            &self.namespace,
            &self.name,
            crate::api::confirmation::DISCARD_ANNOTATION,
            token,
        )
    }

    /// Every Event of the pool so far.
    pub fn events(&self) -> Vec<Event> {
        self.port.events_of(&pool_event_key(&self.pool()))
    }

    /// Acknowledged commits the serving chat database lacks, from the simulator's model; `None`
    /// while that copy is not ONLINE on an up instance.
    pub fn lost_transactions(&self) -> Option<u64> {
        self.sim.with_world(|w, _| w.chat_lost(&self.sim_pool))
    }

    /// The site whose instance serves the pool now (ground truth), if it is up.
    pub fn serving_site(&self) -> Option<String> {
        let serving = self
            .sim
            .with_world(|w, _| w.chat_pool(&self.sim_pool).map(|p| p.serving_instance))?;
        self.sim
            .endpoints()
            .into_iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(&serving))
            .map(|(_, s, _)| s)
    }

    /// The pool's name, as a DrSite lists it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The simulator's instances at `site`.
    pub fn instances_at(&self, site: &str) -> Vec<String> {
        self.sim
            .endpoints()
            .into_iter()
            .filter(|(_, s, _)| s == site)
            .map(|(name, _, _)| name)
            .collect()
    }
}
