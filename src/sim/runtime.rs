//! The running simulator: one TDS endpoint per instance on loopback, the
//! workload generator, and the faults a person or a test can inject.

use crate::sim::clock::SimClock;
use crate::sim::engine::Engine;
use crate::sim::lock;
use crate::sim::model::config::{LoginConfig, WorldConfig};
use crate::sim::model::{SimTime, World};
use crate::sim::table::{Outcome, Param, ServerError};
use crate::sim::tds::{self, Availability, LoginRequest};
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One instance's endpoint.
struct Endpoint {
    name: String,
    site: String,
    addr: SocketAddr,
    availability: watch::Sender<Availability>,
    /// The availability the endpoint has put into effect.
    applied: watch::Receiver<Availability>,
    task: JoinHandle<()>,
}

/// A running simulated world.
pub struct Sim {
    world: Arc<Mutex<World>>,
    clock: SimClock,
    login: LoginConfig,
    endpoints: Vec<Endpoint>,
    workload: Mutex<Option<JoinHandle<()>>>,
    /// Instances whose `start` is under way (restart latency), so two starts do not race.
    restarting: Mutex<BTreeMap<String, JoinHandle<()>>>,
    /// Instances clients cannot reach (`isolate_from_clients`), by endpoint name.
    isolated: Mutex<std::collections::BTreeSet<String>>,
}

impl Sim {
    /// Starts the world with the wall clock's current time as its epoch.
    pub async fn start(cfg: WorldConfig) -> Result<Arc<Sim>, String> {
        let epoch = jiff::Zoned::now().datetime();
        Self::start_at(cfg, epoch, IpAddr::V4(Ipv4Addr::LOCALHOST)).await
    }

    /// Starts the world at a given wall-clock epoch, binding endpoints on `ip`.
    pub async fn start_at(cfg: WorldConfig, epoch: jiff::civil::DateTime, ip: IpAddr) -> Result<Arc<Sim>, String> {
        let clock = SimClock::start();
        let login = cfg.login.clone();
        let workload_enabled = cfg.workload.enabled;
        let ports: Vec<(String, String, u16)> = cfg
            .instances
            .iter()
            .map(|i| (i.name.clone(), i.site.clone(), i.port))
            .collect();
        let world = Arc::new(Mutex::new(World::new(cfg, epoch)?));
        let mut endpoints = Vec::new();
        for (name, site, port) in ports {
            let (tx, rx) = watch::channel(Availability::Up);
            let (applied_tx, applied) = watch::channel(Availability::Up);
            let backend = Arc::new(InstanceBackend {
                instance: name.clone(),
                world: world.clone(),
                clock,
                login: login.clone(),
            });
            let (addr, task) = tds::spawn_endpoint_reporting(SocketAddr::new(ip, port), backend, rx, applied_tx)
                .await
                .map_err(|e| format!("cannot listen for instance {name} on {ip}:{port}: {e}"))?;
            endpoints.push(Endpoint {
                name,
                site,
                addr,
                availability: tx,
                applied,
                task,
            });
        }
        let sim = Arc::new(Sim {
            world,
            clock,
            login,
            endpoints,
            workload: Mutex::new(None),
            restarting: Mutex::new(BTreeMap::new()),
            isolated: Mutex::new(Default::default()),
        });
        if workload_enabled {
            sim.start_workload();
        }
        Ok(sim)
    }

    pub fn now(&self) -> SimTime {
        self.clock.now()
    }

    /// Runs `f` on the world brought up to now.
    pub fn with_world<R>(&self, f: impl FnOnce(&mut World, SimTime) -> R) -> R {
        let now = self.clock.now();
        let mut w = lock(&self.world);
        w.advance(now);
        f(&mut w, now)
    }

    /// The TDS address of an instance.
    pub fn addr(&self, instance: &str) -> Option<SocketAddr> {
        self.endpoint(instance).ok().map(|e| e.addr)
    }

    /// (instance, site, address) of every endpoint.
    pub fn endpoints(&self) -> Vec<(String, String, SocketAddr)> {
        self.endpoints
            .iter()
            .map(|e| (e.name.clone(), e.site.clone(), e.addr))
            .collect()
    }

    /// Every instance as `SERVER at SITE, tds://ADDR`.
    pub fn endpoint_lines(&self) -> Vec<String> {
        self.endpoints
            .iter()
            .map(|e| format!("{} at {}, tds://{}", e.name, e.site, e.addr))
            .collect()
    }

    /// The SQL login (user, password) every instance accepts.
    pub fn login(&self) -> (&str, &str) {
        (&self.login.user, &self.login.password)
    }

    fn endpoint(&self, instance: &str) -> Result<&Endpoint, String> {
        self.endpoints
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(instance))
            .ok_or_else(|| format!("no instance named {instance:?}"))
    }

    /// Stops an instance: links to it broken, and once this returns its
    /// connections are refused.
    pub async fn stop_instance(&self, instance: &str) -> Result<(), String> {
        let ep = self.endpoint(instance)?;
        if let Some(t) = lock(&self.restarting).remove(&ep.name) {
            t.abort();
        }
        self.with_world(|w, now| w.stop_instance(now, &ep.name))?;
        ep.availability.send_replace(Availability::Down);
        let mut applied = ep.applied.clone();
        applied
            .wait_for(|a| *a == Availability::Down)
            .await
            .map_err(|_| format!("the endpoint of {} has stopped running", ep.name))?;
        Ok(())
    }

    /// Starts a stopped (or hung) instance; it answers after the restart latency.
    pub fn start_instance(self: &Arc<Self>, instance: &str) -> Result<(), String> {
        let name = self.endpoint(instance)?.name.clone();
        let delay = self.with_world(|w, _| w.config().latencies.restart);
        let me = self.clone();
        let key = name.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Ok(ep) = me.endpoint(&name) {
                let _ = me.with_world(|w, now| w.start_instance(now, &name));
                ep.availability.send_replace(me.serving(&name));
            }
            lock(&me.restarting).remove(&name);
        });
        if let Some(old) = lock(&self.restarting).insert(key, task) {
            old.abort();
        }
        Ok(())
    }

    /// Makes an instance accept connections but never answer (a hung server).
    pub fn hang_instance(&self, instance: &str) -> Result<(), String> {
        self.endpoint(instance)?.availability.send_replace(Availability::Hang);
        Ok(())
    }

    /// Lets a hung instance answer again at once (unless clients are cut off from it).
    pub fn unhang_instance(&self, instance: &str) -> Result<(), String> {
        let ep = self.endpoint(instance)?;
        if *ep.availability.borrow() == Availability::Hang {
            ep.availability.send_replace(self.serving(&ep.name));
        }
        Ok(())
    }

    /// How a running instance's endpoint behaves: it answers unless clients are cut off from it.
    fn serving(&self, name: &str) -> Availability {
        if lock(&self.isolated).contains(name) {
            Availability::Hang
        } else {
            Availability::Up
        }
    }

    /// Cuts clients (drover) off from an instance, or lets them reach it again, while the
    /// instance keeps running: its logins and batches go unanswered and time out, as for a host
    /// behind a dead network path (the endpoint accepts the TCP connection and then stays silent,
    /// as `hang` does), but the model is untouched, so its replicas keep their roles, its links
    /// to other instances stay as the sites' partitions say, and the workload keeps committing on
    /// it wherever it may (a primary with quorum under WSFC, any primary under NONE). With
    /// `partition(site-a, site-b)` this is an old primary neither drover nor the target reaches,
    /// alive. A stopped instance stays down; it comes back cut off if it still is.
    pub fn isolate_from_clients(&self, instance: &str, isolated: bool) -> Result<(), String> {
        let ep = self.endpoint(instance)?;
        self.with_world(|w, now| w.set_client_isolation(now, &ep.name, isolated))?;
        if isolated {
            lock(&self.isolated).insert(ep.name.clone());
        } else {
            lock(&self.isolated).remove(&ep.name);
        }
        let current = *ep.availability.borrow();
        match (isolated, current) {
            (true, Availability::Up) => {
                ep.availability.send_replace(Availability::Hang);
            }
            (false, Availability::Hang) => {
                ep.availability.send_replace(Availability::Up);
            }
            _ => {}
        }
        Ok(())
    }

    /// Forces WSFC quorum on `instance`'s node (`/forcequorum`): the part of the cluster it
    /// reaches runs with FORCED_QUORUM (see `model::wsfc`).
    pub fn force_quorum(&self, instance: &str) -> Result<(), String> {
        self.with_world(|w, now| w.force_quorum(now, instance))
    }

    /// Resets every TDS connection to an instance (a network blip or a failover of the listener)
    /// without stopping it: the model is not told, a batch in flight is dropped mid-way, and new
    /// connections are accepted again at once. A stopped or hung instance is left as it is.
    pub async fn reset_connections(&self, instance: &str) -> Result<(), String> {
        let ep = self.endpoint(instance)?;
        if *ep.availability.borrow() != Availability::Up {
            return Ok(());
        }
        ep.availability.send_replace(Availability::Down);
        let mut applied = ep.applied.clone();
        applied
            .wait_for(|a| *a == Availability::Down)
            .await
            .map_err(|_| format!("the endpoint of {} has stopped running", ep.name))?;
        // Let every connection task see the outage before the endpoint comes back.
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        if *ep.availability.borrow() == Availability::Down && self.with_world(|w, _| w.is_up(&ep.name)) {
            ep.availability.send_replace(Availability::Up);
        }
        Ok(())
    }

    pub fn partition(&self, a: &str, b: &str) -> Result<(), String> {
        self.with_world(|w, now| w.partition(now, a, b))
    }

    pub fn heal(&self) {
        self.with_world(|w, now| w.heal(now));
    }

    pub fn pause_replication(&self, instance: &str, paused: bool) -> Result<(), String> {
        self.with_world(|w, now| w.set_replication_paused(now, instance, paused))
    }

    /// Starts committing transactions on every AG database's primary and into
    /// every chat pool's serving database.
    pub fn start_workload(&self) {
        let mut slot = lock(&self.workload);
        if slot.as_ref().is_some_and(|t| !t.is_finished()) {
            return;
        }
        let world = self.world.clone();
        let clock = self.clock;
        let (rate, seed) = {
            let w = lock(&world);
            (w.config().workload.commits_per_second.max(1), w.config().seed)
        };
        *slot = Some(tokio::spawn(async move {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let base = 1_000_000u64 / u64::from(rate);
            loop {
                // ±20% jitter so commits do not line up with replication ticks.
                let jitter = rng.random_range(0..=base * 2 / 5);
                let wait = std::time::Duration::from_micros(base - base / 5 + jitter);
                tokio::time::sleep(wait).await;
                let now = clock.now();
                let mut w = lock(&world);
                for (ag, db) in w.databases() {
                    w.commit(now, &ag, &db);
                }
                for pool in w.chat_pools() {
                    w.chat_commit(now, &pool);
                }
            }
        }));
    }

    pub fn stop_workload(&self) {
        if let Some(t) = lock(&self.workload).take() {
            t.abort();
        }
    }

    /// Stops everything: workload, endpoints.
    pub fn shutdown(&self) {
        self.stop_workload();
        for ep in &self.endpoints {
            ep.task.abort();
        }
        for (_, t) in std::mem::take(&mut *lock(&self.restarting)) {
            t.abort();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The TDS backend of one instance: checks logins, opens engines.
struct InstanceBackend {
    instance: String,
    world: Arc<Mutex<World>>,
    clock: SimClock,
    login: LoginConfig,
}

impl tds::Backend for InstanceBackend {
    type Session = Engine;

    fn login(&self, req: &LoginRequest) -> Result<Engine, ServerError> {
        // Logins compare case-insensitively (a CI server collation); passwords exactly.
        if !req.user.eq_ignore_ascii_case(&self.login.user) || req.password != self.login.password {
            return Err(ServerError {
                number: 18456,
                state: 1,
                class: 14,
                message: format!("Login failed for user '{}'.", req.user),
            });
        }
        let database = req
            .database
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "master".into());
        if let Err(e) = lock(&self.world).database_access(&self.instance, &database) {
            // SQL Server fails the login when its database cannot be opened.
            let message = if e.number == 911 {
                format!("Cannot open database \"{database}\" requested by the login. The login failed.")
            } else {
                e.message
            };
            let number = if e.number == 911 { 4060 } else { e.number };
            return Err(ServerError {
                number,
                state: 1,
                class: 11,
                message,
            });
        }
        // The world hands out session ids, so simulated sessions never collide with connections.
        let spid = lock(&self.world).allocate_spid(&self.instance);
        Ok(Engine {
            instance: self.instance.clone(),
            database,
            world: self.world.clone(),
            clock: self.clock,
            spid,
        })
    }

    fn server_name(&self) -> String {
        self.instance.clone()
    }
}

impl tds::Session for Engine {
    async fn batch(&mut self, sql: String, params: Vec<Param>) -> Vec<Outcome> {
        self.run_batch(&sql, &params).await
    }

    fn database(&self) -> String {
        self.database.clone()
    }
}
