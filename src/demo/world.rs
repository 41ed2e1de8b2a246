//! The world `drover demo` plays in, and the scenario tests run: the contact-center example
//! (`examples/contact-center-framework.yaml`, embedded) with its group on the TDS simulator, its
//! sites in memory ([`MemorySites`]), its API objects in memory ([`MemoryPort`]), and both
//! controllers (AvailabilityGroup and DrSite) reconciling it. Time is tokio's: real in the
//! CLI, paused in tests.

use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus, CONFIRM_ANNOTATION};
use crate::api::dr_site::{CONFIRM_SITE_LOST_ANNOTATION, DrPhase, DrSite, DrSiteStatus, Placement};
use crate::api::persistent_chat_pool::PersistentChatPool;
use crate::components::memory::{Latencies, MemorySites, SiteAction};
use crate::controller::memory::MemoryPort;
use crate::controller::{Config, Event, ag, drsite};
use crate::drill::pool::world::PoolWorld;
use crate::runtime::Shared;
use crate::sim::Sim;
use crate::sim::model::Role;
use crate::sim::model::config::WorldConfig;
use crate::sim::spec::availability_group_spec;
use crate::sql::Timeouts;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// The example every demo plays, as shipped.
pub const EXAMPLE: &str = include_str!("../../examples/contact-center-framework.yaml");
/// The example's namespace and group.
pub const NAMESPACE: &str = "contact-center";
pub const GROUP: &str = "cc-ag";
/// The simulator's group that stands for `cc-ag`, and its databases.
pub const SIM_GROUP: &str = "ag1";
/// The Event reasons of the steps the controllers ran.
pub use crate::controller::ag::STEP_REASONS as AG_STEP_REASONS;
pub use crate::controller::drsite::STEP_REASONS as DRSITE_STEP_REASONS;

/// The controllers' settings: `poll` while a transition runs (and as the first backoff), SQL
/// timeouts the simulator never comes near unless an instance hangs.
pub fn controller_config(poll: Duration) -> Config {
    Config {
        transition_poll: poll,
        steady_poll: Duration::from_secs(1),
        base_backoff: poll,
        max_backoff: Duration::from_secs(1),
        sql: Timeouts {
            connect: Duration::from_secs(2),
            handshake: Duration::from_secs(2),
            command: Duration::from_secs(5),
            long_command: Duration::from_secs(30),
        },
        confirmation_ttl: crate::plan::confirm::DEFAULT_TTL,
        jobs: crate::components::jobs::JobPolicy::default(),
        tenancy: crate::components::tenancy::Policy::default(),
    }
}

/// Two sites with short simulated latencies and a steady committing workload.
pub fn sim_config() -> WorldConfig {
    fast(WorldConfig::two_sites())
}

/// `cfg` with short simulated latencies (tens to hundreds of milliseconds) and 100 commits a
/// second.
pub fn fast(mut cfg: WorldConfig) -> WorldConfig {
    cfg.latencies.replication = Duration::from_millis(20);
    cfg.latencies.failover = Duration::from_millis(150);
    cfg.latencies.revert = Duration::from_millis(300);
    cfg.latencies.restart = Duration::from_millis(100);
    cfg.latencies.backup = Duration::from_millis(50);
    cfg.workload.commits_per_second = 100;
    cfg
}

/// What an AvailabilityGroup's hook Job does to the simulated world (other Jobs: nothing here):
/// a fence stops the replica's SQL Server instance (the model at once, so it commits nothing from
/// the moment the Job is seen succeeded; its endpoint right after), a force-quorum forces WSFC
/// quorum on the replica's node. The replica is the Job's `DROVER_REPLICA`.
pub fn run_ag_hook(sim: &Arc<Sim>, job: &k8s_openapi::api::batch::v1::Job) -> Result<(), String> {
    use crate::api::availability_group::AgHook;
    use crate::components::{LABEL_ACTION, LABEL_AG};
    let Some(labels) = job.metadata.labels.as_ref().filter(|l| l.contains_key(LABEL_AG)) else {
        return Ok(());
    };
    let replica = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|p| p.containers.first())
        .and_then(|c| c.env.as_ref())
        .and_then(|env| env.iter().find(|e| e.name == "DROVER_REPLICA"))
        .and_then(|e| e.value.clone())
        .ok_or("the Job has no DROVER_REPLICA")?;
    match labels.get(LABEL_ACTION).and_then(|a| AgHook::parse(a)) {
        Some(AgHook::Fence) => {
            sim.with_world(|w, now| w.stop_instance(now, &replica))?;
            let endpoint = sim.clone();
            tokio::spawn(async move {
                let _ = endpoint.stop_instance(&replica).await;
            });
            Ok(())
        }
        Some(AgHook::ForceQuorum) => sim.force_quorum(&replica),
        None => Ok(()),
    }
}

/// How long the example's components take: started 2 s, stopped 1 s, a hook Job 1 s.
pub fn site_latencies() -> Latencies {
    Latencies {
        start: Duration::from_secs(2),
        stop: Duration::from_secs(1),
        hook: Duration::from_secs(1),
        ..Latencies::default()
    }
}

/// The example's document of `kind`.
fn document(kind: &str) -> Result<serde_json::Value, String> {
    let docs: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(EXAMPLE).map_err(|e| format!("the embedded example does not parse: {e}"))?;
    docs.into_iter()
        .find(|d| d["kind"] == kind)
        .ok_or_else(|| format!("the embedded example has no {kind}"))
}

/// The DrSite of the example, generation 1.
pub fn example() -> Result<DrSite, String> {
    let mut drs: DrSite =
        serde_json::from_value(document("DrSite")?).map_err(|e| format!("the example's DrSite: {e}"))?;
    drs.metadata.generation = Some(1);
    Ok(drs)
}

/// The example's AvailabilityGroup as declared.
pub fn example_declared_group() -> Result<AvailabilityGroup, String> {
    serde_json::from_value(document("AvailabilityGroup")?).map_err(|e| format!("the example's AvailabilityGroup: {e}"))
}

/// `declared` over the simulator's group `sim_group`: its replicas at the simulator's endpoints
/// with TLS off (the simulator does not speak it), the login in the declared credentials Secret,
/// its forced-failover policy, data-movement setting and backups before failback as declared.
fn twin_group(sim: &Sim, declared: &AvailabilityGroup, sim_group: &str) -> Result<AvailabilityGroup, String> {
    let mut spec = availability_group_spec(
        sim,
        sim_group,
        declared
            .spec
            .primary_site
            .as_deref()
            .or_else(|| declared.spec.replicas.first().map(|r| r.site.as_str()))
            .unwrap_or_default(),
        &declared.spec.credentials.secret_name,
    )
    .ok_or_else(|| format!("the simulator has no group {sim_group}"))?;
    spec.forced_failover = declared.spec.forced_failover.clone();
    spec.auto_resume = declared.spec.auto_resume;
    // The simulator keeps a backup's record wherever the path points: no share to declare.
    spec.backup_before_failback = declared.spec.backup_before_failback.clone();
    // The declared fence and force-quorum hooks, by site: in the twin they act on the simulator.
    for r in &mut spec.replicas {
        if let Some(d) = declared.spec.replica_at(&r.site) {
            r.fence_hook.clone_from(&d.fence_hook);
            r.force_quorum_hook.clone_from(&d.force_quorum_hook);
        }
    }
    let mut group = AvailabilityGroup::new(declared.metadata.name.as_deref().unwrap_or(GROUP), spec);
    group.metadata.namespace = declared.metadata.namespace.clone().or_else(|| Some(NAMESPACE.into()));
    Ok(group)
}

/// One AvailabilityGroup of the DrSite, and the simulator's group it manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTwin {
    pub namespace: String,
    pub name: String,
    pub sim_group: String,
}

impl GroupTwin {
    /// The key of its Events in memory.
    fn event_key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The running world and the controllers that drive it.
pub struct DemoWorld {
    pub sim: Arc<Sim>,
    pub port: Arc<MemoryPort>,
    pub sites: Arc<MemorySites>,
    pub ag_ctx: ag::Context<Arc<MemoryPort>>,
    pub dr_ctx: drsite::Context<Arc<MemoryPort>, Arc<MemorySites>>,
    /// The DrSite as the user last applied it (its status is read from `port`).
    pub drs: DrSite,
    pub config: Config,
    /// The controllers' process state (gate, metrics), so a restart can keep or drop it.
    pub shared: Shared,
    /// The DrSite's AvailabilityGroups, in its order (the example has one).
    pub groups: Vec<GroupTwin>,
    /// The DrSite's PersistentChatPool and its controller, when the twin plays one.
    pub pool: Option<PoolWorld>,
    epoch: jiff::Timestamp,
    start: tokio::time::Instant,
    /// Site actions already checked by [`DemoWorld::starts_follow_the_primary`].
    seen_actions: usize,
}

impl DemoWorld {
    /// Starts the simulator `world`, the sites of `drs` with `latencies`, and declares the
    /// example's group over the simulator's `ag1`.
    pub async fn start(
        world: WorldConfig,
        latencies: &Latencies,
        drs: DrSite,
        config: Config,
    ) -> Result<DemoWorld, String> {
        Self::start_with(world, latencies, drs, &example_declared_group()?, SIM_GROUP, config).await
    }

    /// Starts the simulator `world`, the sites of `drs` with `latencies`, and declares `declared`
    /// over the simulator's group `sim_group` (endpoints and login rewritten to the simulator's).
    pub async fn start_with(
        world: WorldConfig,
        latencies: &Latencies,
        drs: DrSite,
        declared: &AvailabilityGroup,
        sim_group: &str,
        config: Config,
    ) -> Result<DemoWorld, String> {
        let groups = [(declared.clone(), sim_group.to_string())];
        Self::start_twin(world, latencies, drs, &groups, None, config).await
    }

    /// Starts the simulator `world` and the sites of `drs` with `latencies`; declares each group
    /// over its simulator's group, and the pool (its hook Jobs taking `latencies.hook`), all
    /// pointed at the simulator with its login.
    pub async fn start_twin(
        world: WorldConfig,
        latencies: &Latencies,
        drs: DrSite,
        declared: &[(AvailabilityGroup, String)],
        pool: Option<&PersistentChatPool>,
        config: Config,
    ) -> Result<DemoWorld, String> {
        let epoch = jiff::Timestamp::now();
        let civil = epoch.to_zoned(jiff::tz::TimeZone::UTC).datetime();
        let start = tokio::time::Instant::now();
        let sim = Sim::start_at(world, civil, IpAddr::V4(Ipv4Addr::LOCALHOST)).await?;
        let port = Arc::new(MemoryPort::default());
        // A group's fence and force-quorum Jobs act on the simulated SQL Server as the real ones
        // would on the VMs and the cluster (a pool, attached below, keeps this for them).
        let runner_sim = sim.clone();
        port.set_job_runner(latencies.hook, Arc::new(move |job| run_ag_hook(&runner_sim, job)));
        let attached = (|| {
            let mut groups = Vec::new();
            for (g, sim_group) in declared {
                let group = twin_group(&sim, g, sim_group)?;
                let (user, password) = sim.login();
                port.put_secret(
                    group.metadata.namespace.as_deref().unwrap_or_default(),
                    &group.spec.credentials.secret_name,
                    &[("username", user), ("password", password)],
                );
                groups.push(GroupTwin {
                    namespace: group.metadata.namespace.clone().unwrap_or_default(),
                    name: group.metadata.name.clone().unwrap_or_default(),
                    sim_group: sim_group.clone(),
                });
                port.put_availability_group(group);
            }
            let pool = pool
                .map(|p| PoolWorld::attach(sim.clone(), port.clone(), p, config, latencies.hook, (epoch, start)))
                .transpose()?;
            Ok::<_, String>((groups, pool))
        })();
        let (groups, pool) = match attached {
            Ok(x) => x,
            Err(e) => {
                sim.shutdown();
                return Err(e);
            }
        };
        let sites = Arc::new(MemorySites::for_spec(&drs.spec, latencies));
        let shared = Shared::default();
        let mut world = DemoWorld {
            ag_ctx: ag::Context::new(port.clone(), config).with_shared(shared.clone()),
            dr_ctx: drsite::Context::new(port.clone(), sites.clone(), config).with_shared(shared.clone()),
            sim,
            port,
            sites,
            drs,
            config,
            shared,
            groups,
            pool,
            epoch,
            start,
            seen_actions: 0,
        };
        world.restart_operator();
        Ok(world)
    }

    /// The wall-clock time the controllers are given: the start plus tokio time since.
    pub fn now(&self) -> jiff::Timestamp {
        self.epoch + jiff::SignedDuration::try_from(self.start.elapsed()).unwrap_or_default()
    }

    /// Tokio time since the world started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// A fresh operator process: new controller contexts (no memory of failures or connections).
    pub fn restart_operator(&mut self) {
        self.ag_ctx = ag::Context::new(self.port.clone(), self.config).with_shared(self.shared.clone());
        self.dr_ctx =
            drsite::Context::new(self.port.clone(), self.sites.clone(), self.config).with_shared(self.shared.clone());
        if let Some(pool) = self.pool.as_mut() {
            pool.restart_operator(self.config, self.shared.clone());
        }
    }

    /// One reconcile of each controller, then the invariants against ground truth.
    pub async fn reconcile(&mut self) -> Result<(), String> {
        // Boxed: the three controllers' futures together are too large for a test thread's stack.
        for g in self.groups.clone() {
            let group = self.group_of(&g);
            let _ = Box::pin(ag::reconcile(&group, &self.ag_ctx, self.now())).await;
        }
        if let Some(pool) = self.pool.as_mut() {
            Box::pin(pool.reconcile()).await?;
        }
        self.drs.status = self.port.drsite_status(&self.drs);
        let _ = Box::pin(drsite::reconcile(&self.drs, &self.dr_ctx, self.now())).await;
        self.invariants()?;
        self.starts_follow_the_primary()
    }

    pub fn status(&self) -> DrSiteStatus {
        self.port.drsite_status(&self.drs).unwrap_or_default()
    }

    /// The DrSite's first group (the example's only one).
    pub fn group(&self) -> AvailabilityGroup {
        self.group_of(self.groups.first().expect("the world has a group"))
    }

    pub fn group_of(&self, g: &GroupTwin) -> AvailabilityGroup {
        self.port
            .stored_availability_group(&g.namespace, &g.name)
            .expect("the group is stored when the world starts and never deleted")
    }

    /// The status of the DrSite's first group (the example's only one).
    pub fn group_status(&self) -> AvailabilityGroupStatus {
        self.group().status.unwrap_or_default()
    }

    /// The status of every group, in the DrSite's order.
    pub fn group_statuses(&self) -> Vec<AvailabilityGroupStatus> {
        self.groups
            .iter()
            .map(|g| self.group_of(g).status.unwrap_or_default())
            .collect()
    }

    /// What a user's `kubectl apply` of a new `spec.activeSite` does.
    pub fn flip(&mut self, site: &str) {
        self.drs.spec.active_site = site.into();
        self.drs.metadata.generation = Some(self.drs.metadata.generation.unwrap_or(0) + 1);
    }

    /// A site is (or was, during the last transition) declared lost.
    pub fn lost_declared(&self) -> bool {
        let s = self.status();
        !s.lost_sites.is_empty() || s.last_transition.is_some_and(|t| !t.lost_sites.is_empty())
    }

    /// Any process of `component` exists at `site` (ground truth).
    pub fn running(&self, site: &str, component: &str) -> bool {
        self.sites.instance(site, component).is_some_and(|i| i.running())
    }

    /// The site of the simulator's primary replica of the first group.
    pub fn primary_site(&self) -> Option<String> {
        self.primary_site_of(&self.groups.first()?.sim_group)
    }

    /// The site of the simulator's primary replica of `sim_group`.
    pub fn primary_site_of(&self, sim_group: &str) -> Option<String> {
        let sites: Vec<(String, String)> = self.sim.endpoints().into_iter().map(|(n, s, _)| (n, s)).collect();
        self.sim.with_world(|w, now| {
            w.roles(now, sim_group).into_iter().find_map(|(name, role)| {
                (role == Some(Role::Primary))
                    .then(|| sites.iter().find(|(n, _)| *n == name).map(|(_, s)| s.clone()))
                    .flatten()
            })
        })
    }

    /// Invariants 1 and 4: never two writable primaries; no `ActiveSite` component at two sites
    /// unless a person declared a site lost.
    pub fn invariants(&self) -> Result<(), String> {
        self.one_writer()?;
        if let Some(pool) = &self.pool {
            pool.invariant()?;
        }
        if self.lost_declared() {
            return Ok(());
        }
        for c in self
            .drs
            .spec
            .components
            .iter()
            .filter(|c| c.placement == Placement::ActiveSite)
        {
            let at: Vec<&str> = self
                .drs
                .spec
                .sites
                .iter()
                .map(|s| s.name.as_str())
                .filter(|s| self.running(s, &c.name))
                .collect();
            if at.len() > 1 {
                return Err(format!("{} runs at {}", c.name, at.join(" and ")));
            }
        }
        Ok(())
    }

    /// Where `child` (a group or the pool the DrSite lists) is writable now, from ground truth.
    /// Invariant 1: never two writable primaries because of drover. The one episode SQL Server
    /// makes by itself — under CLUSTER_TYPE NONE a forced-out old primary comes back PRIMARY — is
    /// drover's to end: it must demote the stale one within three steady polls of its return.
    pub fn one_writer(&self) -> Result<(), String> {
        let (episodes, now) = self.sim.with_world(|w, now| (w.split_episodes().to_vec(), now));
        let bound = self.config.steady_poll * 3;
        for e in &episodes {
            let none = self.groups.iter().any(|g| {
                g.sim_group == e.ag
                    && self.group_of(g).spec.cluster_type == crate::api::availability_group::ClusterType::None
            });
            let at = e.start.as_secs_f64();
            if !(e.on_return && none) {
                return Err(format!("two writable primaries in {} at {at:.1} s", e.ag));
            }
            let lasted = e.end.unwrap_or(now).saturating_sub(e.start);
            if lasted > bound {
                return Err(format!(
                    "two writable primaries in {} from {at:.1} s for {:.1} s: the forced-out old primary came back PRIMARY (cluster type NONE) and was not demoted within {:.1} s",
                    e.ag,
                    lasted.as_secs_f64(),
                    bound.as_secs_f64()
                ));
            }
        }
        Ok(())
    }

    fn writable_at(&self, child: &str) -> Option<String> {
        if let Some(g) = self.groups.iter().find(|g| g.name == child) {
            return self.primary_site_of(&g.sim_group);
        }
        self.pool
            .as_ref()
            .filter(|p| p.name() == child)
            .and_then(PoolWorld::serving_site)
    }

    /// Invariant 5: a component that needs children writable is started only where they are:
    /// every scale-up since the last look found each child it requires (an `ActiveSite`
    /// component: every child) writable at that site.
    pub fn starts_follow_the_primary(&mut self) -> Result<(), String> {
        let actions = self.sites.actions();
        let children: Vec<String> = self
            .groups
            .iter()
            .map(|g| g.name.clone())
            .chain(self.pool.as_ref().map(|p| p.name().to_string()))
            .collect();
        for (_, action) in &actions[self.seen_actions.min(actions.len())..] {
            let SiteAction::Scaled {
                site, name, replicas, ..
            } = action
            else {
                continue;
            };
            let Some(c) = self.drs.spec.components.iter().find(|c| c.name == *name) else {
                continue;
            };
            let needs: &[String] = if c.requires_writable.is_empty() && c.placement == Placement::ActiveSite {
                &children
            } else {
                &c.requires_writable
            };
            if *replicas == 0 {
                continue;
            }
            for child in needs {
                let at = self.writable_at(child);
                if at.as_deref() != Some(site.as_str()) {
                    return Err(format!(
                        "{name} started at {site} while {child} is writable at {}",
                        at.as_deref().unwrap_or("no site")
                    ));
                }
            }
        }
        self.seen_actions = actions.len();
        Ok(())
    }

    /// Every DrSite Event so far.
    pub fn drsite_events(&self) -> Vec<Event> {
        self.port.drsite_events(&self.drs)
    }

    /// Every AvailabilityGroup Event so far, of all the groups, in order.
    pub fn group_events(&self) -> Vec<Event> {
        let keys: Vec<String> = self.groups.iter().map(GroupTwin::event_key).collect();
        self.port.events_of_any(&keys)
    }

    /// Every PersistentChatPool Event so far.
    pub fn pool_events(&self) -> Vec<Event> {
        self.pool.as_ref().map(PoolWorld::events).unwrap_or_default()
    }

    /// Every DrSite step Event so far, as `verb target@site`.
    pub fn script(&self) -> Vec<String> {
        self.drsite_events()
            .into_iter()
            .filter(|e| DRSITE_STEP_REASONS.contains(&e.reason.as_str()))
            .map(|e| e.note.split(':').next().unwrap_or_default().to_string())
            .collect()
    }

    pub fn steady_at(&self, site: &str) -> bool {
        let s = self.status();
        s.phase == Some(DrPhase::Steady) && s.active_site.as_deref() == Some(site)
    }

    /// What `kubectl annotate sqlag NAME drover.dev/confirm-data-loss=TOKEN` does, on the group
    /// that asked for `token` (the first group if none did).
    pub fn annotate_group(&self, token: &str) {
        self.annotate_group_with(CONFIRM_ANNOTATION, token);
    }

    /// What `kubectl annotate sqlag NAME drover.dev/confirm-discard=TOKEN` does.
    pub fn annotate_group_discard(&self, token: &str) {
        self.annotate_group_with(crate::api::confirmation::DISCARD_ANNOTATION, token);
    }

    /// Annotation `key` set to `token` by `kubectl-annotate`, on the group whose status asks for
    /// `token` (the first group if none does).
    fn annotate_group_with(&self, key: &str, token: &str) {
        let asking = self.groups.iter().find(|g| {
            self.group_of(g).status.is_some_and(|s| {
                s.confirmation.is_some_and(|c| c.token == token)
                    || s.discard_confirmation.is_some_and(|c| c.token == token)
            })
        });
        let Some(g) = asking.or(self.groups.first()) else {
            return;
        };
        let mut group = self.group_of(g);
        crate::controller::confirmer::annotate(&mut group.metadata, key, token, "kubectl-annotate", self.now());
        self.port.put_availability_group(group);
    }

    /// What `kubectl annotate drs contact-center drover.dev/confirm-site-lost=TOKEN` does.
    pub fn annotate(&mut self, token: &str) {
        self.drs
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(CONFIRM_SITE_LOST_ANNOTATION.into(), token.into());
    }

    /// Acknowledged commits the writable copies lack, from the simulator's model: every database
    /// of every group, and the pool's chat database; `None` while a group has not exactly one
    /// writable primary or the pool's serving copy is not ONLINE.
    pub fn lost_transactions(&self) -> Option<u64> {
        let mut lost = 0;
        for g in &self.groups {
            let databases = self.group_of(g).spec.databases;
            lost += self.sim.with_world(|w, now| {
                databases
                    .iter()
                    .map(|db| w.lost_transactions(now, &g.sim_group, db))
                    .sum::<Option<u64>>()
            })?;
        }
        if let Some(pool) = &self.pool {
            lost += pool.lost_transactions()?;
        }
        Some(lost)
    }
}
