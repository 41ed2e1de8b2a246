//! A seeded chaos runner over the contact-center example (`DemoWorld`: the AvailabilityGroup
//! and DrSite controllers for real, SQL on the TDS simulator over loopback, the sites and the
//! API objects in memory, time paused). Each seed plays cold start → switchover to site-b →
//! site-b lost, forced failover to site-a → site-b back → failback to site-b, and injects faults
//! at random ticks of every phase. After every tick it checks the design's invariants 1–5
//! against ground truth (the simulator's model, the memory sites' processes and journal); after
//! each phase's faults stop it requires convergence within a bounded simulated time.
//!
//! Never two writers: an isolated old primary (alive, committing, cut off from drover and the
//! other site), WSFC quorum lost on either side, a CLUSTER_TYPE NONE group every third seed, and
//! site-b only cut off before it is lost in a third of the failover phases. The person answering
//! drover's requests confirms and forces quorum only when the other side is really stopped
//! ([`Run::person`]); the one-writer check is [`DemoWorld::one_writer`].
//!
//! - CI: `cargo test --test chaos` runs `CHAOS_SEEDS` seeds (default 150: about five minutes of
//!   a debug build on two cores, most of it real TDS round trips).
//! - Bench: `CHAOS_SEEDS=3000 cargo test --release --test chaos -- --ignored --nocapture`.
//! - Replay: `CHAOS_SEED=123 cargo test --test chaos -- --nocapture` runs that seed alone (the
//!   fault schedule is the seed's; loopback I/O interleaving, and so the exact poll a mid-step
//!   crash lands on, can differ from run to run). `CHAOS_DEBUG=1` prints the simulator's history,
//!   the faults injected and the Events when a seed fails.

/// The crash helper from `tests/common`.
mod common {
    pub mod crash;
}

use common::crash::cut;
use drover::api::availability_group::{ClusterType, TransitionKind as AgTransition};
use drover::api::dr_site::{DrSite, Placement};
use drover::components::HookAction;
use drover::components::memory::MemorySites;
use drover::components::memory::{API_CALLS, SiteAction};
use drover::controller::memory::{MemoryPort, Write};
use drover::controller::{PortError, ag, drsite};
use drover::demo::world::{
    DemoWorld, SIM_GROUP, controller_config, example, example_declared_group, sim_config, site_latencies,
};
use drover::plan::drsite::ChildKind;
use drover::runtime::{Gate, LeaseConfig, Shared};
use drover::sim::model::config::ClusterType as SimCluster;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

const MASTERS: [&str; 3] = ["master-confserv", "master-scs", "message-server"];
const TICK: Duration = Duration::from_millis(200);
/// After a phase's faults stop, how long (simulated) it may take to converge.
const CONVERGE_WITHIN: Duration = Duration::from_secs(300);
/// CI's default number of seeds; the ignored bench test defaults to [`BENCH_SEEDS`].
const CI_SEEDS: u64 = 150;
const BENCH_SEEDS: u64 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// A fresh operator process between two reconciles.
    OperatorRestart,
    /// The process dies in the middle of a reconcile (its future dropped at an await point).
    OperatorCrashMidStep,
    /// A second process without the lease reconciles too; it must touch nothing.
    SecondOperator,
    ReplicaOutage,
    PartitionBetweenSites,
    ReplicationStalled,
    TdsConnectionReset,
    /// An instance hangs longer than the command timeout.
    CommandTimeout,
    /// 409, 500 or 429 on one of the controllers' API calls.
    KubeApiError,
    /// 409, 500 or 429 from a site's API server (workloads, Jobs).
    SiteApiError,
    SiteApiUnreachable,
    ComponentCrash,
    ComponentHang,
    HookJobFails,
    /// `spec.activeSite` flipped away and back while a transition runs.
    DesiredSiteFlipped,
    /// The primary's instance cut off from its clients (drover) and its site partitioned from
    /// the other site, sometimes with the site's Kubernetes API unreachable too: alive, and
    /// committing wherever it may (under WSFC while its side holds quorum).
    IsolatedOldPrimary,
    /// WSFC only: one side (the primary's or the target's, at random) without quorum — the
    /// witness cut off from both sites and the other side's node stopped, or the side cut off
    /// from the witness and from the other site.
    QuorumLost,
    /// A GitOps tool (Argo CD's self-heal, a forced server-side apply) re-asserts the group's
    /// `spec.primarySite` from Git with the site the system is leaving, during and after a
    /// move; it ends when Git stops carrying the field (the tool gives it up).
    GitOpsReasserts,
}

const FAULTS: [Fault; 18] = [
    Fault::OperatorRestart,
    Fault::OperatorCrashMidStep,
    Fault::SecondOperator,
    Fault::ReplicaOutage,
    Fault::PartitionBetweenSites,
    Fault::ReplicationStalled,
    Fault::TdsConnectionReset,
    Fault::CommandTimeout,
    Fault::KubeApiError,
    Fault::SiteApiError,
    Fault::SiteApiUnreachable,
    Fault::ComponentCrash,
    Fault::ComponentHang,
    Fault::HookJobFails,
    Fault::DesiredSiteFlipped,
    Fault::IsolatedOldPrimary,
    Fault::QuorumLost,
    Fault::GitOpsReasserts,
];

/// Every `NONE_EVERY`-th seed runs the group with CLUSTER_TYPE NONE (the simulator's group and
/// the declared spec both), with every fault but [`Fault::QuorumLost`].
const NONE_EVERY: u64 = 3;
/// The field manager of the GitOps tool in [`Fault::GitOpsReasserts`].
const GITOPS_MANAGER: &str = "argocd-controller";
/// The simulator's witness site (`WorldConfig::two_sites`: a file share at a third location).
const WITNESS: &str = "witness";

/// How a fault with a duration ends.
#[derive(Debug)]
enum Heal {
    StartInstance(String),
    Partition,
    ResumeReplication(String),
    Unhang(String),
    Reachable(String),
    Recover(String, drover::api::dr_site::WorkloadKind, String),
    HookSucceeds(String, HookAction),
    FlipBack,
    FollowerGone,
    /// Ends [`Fault::IsolatedOldPrimary`]: clients reach the instance again, the partition heals,
    /// the site's API answers again (when it was cut off too).
    Isolation {
        instance: String,
        site_api: Option<String>,
    },
    /// Ends [`Fault::QuorumLost`]: the partitions heal and the node stopped for it starts.
    Quorum {
        stopped: Option<String>,
    },
    /// Ends [`Fault::GitOpsReasserts`]: Git leaves the field out, so the tool releases it.
    GitOpsReleases,
}

impl Heal {
    /// Faults that cut links between sites: one at a time, since healing one heals every cut.
    fn cuts_links(&self) -> bool {
        matches!(self, Heal::Partition | Heal::Isolation { .. } | Heal::Quorum { .. })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    ColdStart,
    Switchover,
    /// Site-b (the active site after the switchover) is lost: its SQL Server and its API.
    Failover,
    /// Site-b answers again.
    Restore,
    Failback,
}

const PHASES: [Phase; 5] = [
    Phase::ColdStart,
    Phase::Switchover,
    Phase::Failover,
    Phase::Restore,
    Phase::Failback,
];

impl Phase {
    fn target(self) -> &'static str {
        match self {
            Phase::ColdStart | Phase::Failover | Phase::Restore => "site-a",
            Phase::Switchover | Phase::Failback => "site-b",
        }
    }
}

/// Why a seed stopped early.
enum Stop {
    Violation(String),
    NotConverged(String),
}

#[derive(Default)]
struct Totals {
    runs: u64,
    ticks: u64,
    faults: BTreeMap<Fault, u64>,
    forced_failovers: u64,
    /// Outages and partitions injected while the lost old primary was coming back (not yet a
    /// secondary again): the cases a WSFC without quorum rules used to make unsafe to inject.
    while_old_primary_returns: u64,
    /// Runs whose group had CLUSTER_TYPE NONE.
    none_runs: u64,
    /// Failover phases in which site-b was first only cut off (alive, committing) before it was
    /// really lost.
    isolated_before_loss: u64,
    /// Confirmation requests (data-loss and site-lost tokens) the person refused because the old
    /// primary's site was alive (see [`Run::person`]).
    confirmations_refused: u64,
    /// Times the person forced WSFC quorum (the other side really down), and requests to force it
    /// the person turned down because the other side was running.
    quorum_forced: u64,
    quorum_force_declined: u64,
    violations: Vec<(u64, String)>,
    not_converged: Vec<(u64, String)>,
}

impl Totals {
    fn merge(&mut self, other: Totals) {
        self.runs += other.runs;
        self.ticks += other.ticks;
        self.forced_failovers += other.forced_failovers;
        self.while_old_primary_returns += other.while_old_primary_returns;
        self.none_runs += other.none_runs;
        self.isolated_before_loss += other.isolated_before_loss;
        self.confirmations_refused += other.confirmations_refused;
        self.quorum_forced += other.quorum_forced;
        self.quorum_force_declined += other.quorum_force_declined;
        for (f, n) in other.faults {
            *self.faults.entry(f).or_default() += n;
        }
        self.violations.extend(other.violations);
        self.not_converged.extend(other.not_converged);
    }

    fn print(&self) {
        let injected: u64 = self.faults.values().sum();
        eprintln!(
            "chaos totals: runs {} ({} with a CLUSTER_TYPE NONE group), ticks {}, faults injected {injected}, FORCE_FAILOVER_ALLOW_DATA_LOSS accepted {}, outages and partitions while the old primary returned {}, site-b isolated before it was lost {}, confirmations refused while the old primary's site was alive {}, quorum forced (other side down) {}, requests to force quorum declined (other side running) {}, invariant violations {}, non-converged runs {}",
            self.runs,
            self.none_runs,
            self.ticks,
            self.forced_failovers,
            self.while_old_primary_returns,
            self.isolated_before_loss,
            self.confirmations_refused,
            self.quorum_forced,
            self.quorum_force_declined,
            self.violations.len(),
            self.not_converged.len()
        );
        for f in FAULTS {
            eprintln!("  {f:?}: {}", self.faults.get(&f).copied().unwrap_or(0));
        }
        for (seed, why) in self.violations.iter().chain(&self.not_converged) {
            eprintln!("  seed {seed}: {why}\n    replay: CHAOS_SEED={seed} cargo test --test chaos -- --nocapture");
        }
    }
}

/// A process that never got the lease: its elector never runs, so its claim stays empty.
fn follower_shared() -> Shared {
    let (service, _handle) =
        tower_test::mock::pair::<http::Request<kube::client::Body>, http::Response<kube::client::Body>>();
    let client = kube::Client::new(service, "default");
    let (_elector, leadership) = drover::runtime::lease::elector(
        client,
        LeaseConfig::new("contact-center", "drover-leader", "second-operator"),
    );
    Shared {
        gate: Gate::elected(leadership, tokio_util::sync::CancellationToken::new()),
        metrics: Default::default(),
    }
}

type Follower = (
    ag::Context<Arc<MemoryPort>>,
    drsite::Context<Arc<MemoryPort>, Arc<MemorySites>>,
);

struct Run {
    seed: u64,
    rng: SmallRng,
    w: DemoWorld,
    phase: Phase,
    /// Faults in effect, with when they end.
    active: Vec<(Instant, Heal)>,
    follower: Option<Follower>,
    /// The instance and site lost in the failover phase (never healed by a fault's end).
    lost: Option<(&'static str, &'static str)>,
    /// A person confirmed the data-loss token this run: a forced failover is allowed.
    forced_allowed: bool,
    forced_seen: usize,
    /// Lost acknowledged commits when a planned phase started; it must not grow.
    loss_base: Option<u64>,
    /// The journal's replica counts by (site, workload), for the order check.
    scaled: BTreeMap<(String, String), i32>,
    journal_seen: usize,
    /// Sites a person declared lost where ActiveSite components still run.
    declared_lost: std::collections::BTreeSet<String>,
    /// The primary's site at the last check.
    last_primary: Option<String>,
    faults: BTreeMap<Fault, u64>,
    /// See [`Totals::while_old_primary_returns`].
    while_old_primary_returns: u64,
    ticks: u64,
    /// Every fault injected, with when (printed when debugging a seed).
    journal_faults: Vec<(Duration, String)>,
    /// The group runs with CLUSTER_TYPE NONE.
    none: bool,
    /// Split episodes (a NONE old primary back PRIMARY) already seen by the loss check.
    episodes_seen: usize,
    /// The failover phase began with site-b only cut off: when it is really lost.
    dies_at: Option<Instant>,
    isolated_before_loss: u64,
    /// Confirmation tokens the person refused (the old primary's site alive).
    refused: std::collections::BTreeSet<String>,
    quorum_forced: u64,
    /// Drover's requests to force quorum the person turned down (by the request's text).
    declined: std::collections::BTreeSet<String>,
    /// The site a GitOps tool holds the group's primarySite at, while it does.
    gitops: Option<String>,
    /// The primary's site when one was last seen.
    last_seen_primary: Option<String>,
}

impl Run {
    async fn new(seed: u64) -> Run {
        let mut cfg = sim_config();
        cfg.seed = seed;
        let none = seed.is_multiple_of(NONE_EVERY);
        let mut declared = example_declared_group().expect("the example parses");
        if none {
            cfg.availability_groups[0].cluster_type = SimCluster::None;
            declared.spec.cluster_type = ClusterType::None;
        }
        let drs: DrSite = example().expect("the example parses");
        let w = DemoWorld::start_with(
            cfg,
            &site_latencies(),
            drs,
            &declared,
            SIM_GROUP,
            controller_config(TICK),
        )
        .await
        .expect("simulator starts");
        Run {
            seed,
            rng: SmallRng::seed_from_u64(seed),
            w,
            phase: Phase::ColdStart,
            active: Vec::new(),
            follower: None,
            lost: None,
            forced_allowed: false,
            forced_seen: 0,
            loss_base: None,
            scaled: BTreeMap::new(),
            journal_seen: 0,
            last_primary: None,
            declared_lost: Default::default(),
            faults: BTreeMap::new(),
            while_old_primary_returns: 0,
            ticks: 0,
            journal_faults: Vec::new(),
            none,
            episodes_seen: 0,
            dies_at: None,
            isolated_before_loss: 0,
            refused: Default::default(),
            quorum_forced: 0,
            declined: Default::default(),
            gitops: None,
            last_seen_primary: None,
        }
    }

    fn count(&mut self, f: Fault) {
        *self.faults.entry(f).or_default() += 1;
    }

    fn instances(&self) -> Vec<String> {
        self.w.sim.endpoints().into_iter().map(|(n, _, _)| n).collect()
    }

    /// An instance that is neither the lost one nor already under a fault.
    fn pick_instance(&mut self) -> Option<String> {
        let lost = self.lost.map(|(i, _)| i);
        let free: Vec<String> = self
            .instances()
            .into_iter()
            .filter(|i| Some(i.as_str()) != lost)
            .filter(|i| {
                !self.active.iter().any(|(_, h)| {
                    matches!(h, Heal::StartInstance(x) | Heal::Unhang(x) | Heal::ResumeReplication(x) if x == i)
                        || matches!(h, Heal::Quorum { stopped: Some(x) } if x == i)
                })
            })
            .collect();
        (!free.is_empty()).then(|| free[self.rng.random_range(0..free.len())].clone())
    }

    /// Whether a fault that cuts links between sites is in effect (site-b's isolation before its
    /// loss among them): healing one heals every cut, so they come one at a time.
    fn links_cut(&self) -> bool {
        self.dies_at.is_some() || self.active.iter().any(|(_, h)| h.cuts_links())
    }

    /// A fault in effect names `instance`.
    fn busy(&self, instance: &str) -> bool {
        self.active.iter().any(|(_, h)| match h {
            Heal::StartInstance(x) | Heal::Unhang(x) | Heal::ResumeReplication(x) => x == instance,
            Heal::Isolation { instance: x, .. } | Heal::Quorum { stopped: Some(x) } => x == instance,
            _ => false,
        })
    }

    /// The SQL Server instance at `site` (the example has one a site).
    fn node_at(&self, site: &str) -> Option<String> {
        self.w
            .sim
            .endpoints()
            .into_iter()
            .find_map(|(n, s, _)| (s == site).then_some(n))
    }

    /// Ground truth: every SQL Server instance at `site` is stopped. A site only cut off (its
    /// instances isolated from clients, partitioned from the other site) is alive: it may commit.
    fn site_down(&self, site: &str) -> bool {
        self.w
            .sim
            .with_world(|w, _| w.instances().iter().filter(|(_, s, _)| s == site).all(|(_, _, up)| !up))
    }

    /// Ground truth: every instance but `target` is stopped (so no old primary can still commit).
    fn others_down(&self, target: &str) -> bool {
        self.w.sim.with_world(|w, _| {
            w.instances()
                .iter()
                .filter(|(n, _, _)| !n.eq_ignore_ascii_case(target))
                .all(|(_, _, up)| !up)
        })
    }

    fn pick_site(&mut self) -> &'static str {
        if self.rng.random_bool(0.5) { "site-a" } else { "site-b" }
    }

    fn duration(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.rng.random_range(lo..=hi))
    }

    fn api_error(&mut self) -> PortError {
        match self.rng.random_range(0..3) {
            0 => PortError::Api(
                "409 Conflict: Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again".into(),
            ),
            1 => PortError::Api("500 Internal Server Error: etcdserver: request timed out".into()),
            _ => PortError::Api("429 Too Many Requests: the server has received too many requests and has asked us to try again later".into()),
        }
    }

    /// Injects one fault chosen at random (some are skipped when they cannot apply now).
    async fn inject(&mut self) {
        let fault = FAULTS[self.rng.random_range(0..FAULTS.len())];
        let now = Instant::now();
        match fault {
            // Handled in `tick` (they are about the reconcile itself).
            Fault::OperatorRestart | Fault::OperatorCrashMidStep => return,
            Fault::SecondOperator => {
                if self.follower.is_some() {
                    return;
                }
                let shared = follower_shared();
                let config = self.w.config;
                self.follower = Some((
                    ag::Context::new(self.w.port.clone(), config).with_shared(shared.clone()),
                    drsite::Context::new(self.w.port.clone(), self.w.sites.clone(), config).with_shared(shared),
                ));
                let d = self.duration(2_000, 20_000);
                self.active.push((now + d, Heal::FollowerGone));
            }
            Fault::ReplicaOutage => {
                let Some(i) = self.pick_instance() else { return };
                // Also while the lost old primary comes back: under WSFC it cannot form a cluster
                // with the witness alone (its configuration is older), so it stays RESOLVING.
                let returning = self.old_primary_returning();
                if self.w.sim.stop_instance(&i).await.is_err() {
                    return;
                }
                self.while_old_primary_returns += u64::from(returning);
                let d = self.duration(500, 15_000);
                self.active.push((now + d, Heal::StartInstance(i)));
            }
            Fault::PartitionBetweenSites => {
                // Also while the lost old primary comes back: cut off from the side with quorum
                // (the witness stays there), it stays RESOLVING until the partition heals, then
                // rejoins as a suspended secondary.
                if self.links_cut() {
                    return;
                }
                let returning = self.old_primary_returning();
                if self.w.sim.partition("site-a", "site-b").is_err() {
                    return;
                }
                self.while_old_primary_returns += u64::from(returning);
                let d = self.duration(500, 15_000);
                self.active.push((now + d, Heal::Partition));
            }
            Fault::ReplicationStalled => {
                let Some(i) = self.pick_instance() else { return };
                if self.w.sim.pause_replication(&i, true).is_err() {
                    return;
                }
                let d = self.duration(500, 15_000);
                self.active.push((now + d, Heal::ResumeReplication(i)));
            }
            Fault::TdsConnectionReset => {
                let Some(i) = self.pick_instance() else { return };
                if self.w.sim.reset_connections(&i).await.is_err() {
                    return;
                }
            }
            Fault::CommandTimeout => {
                let Some(i) = self.pick_instance() else { return };
                // Not the NONE old primary back PRIMARY while drover must demote it within three
                // polls: nobody can demote a hung instance, and the split is SQL Server's.
                let stale_writer = self.w.sim.with_world(|w, now| {
                    w.split_episodes().iter().any(|e| e.end.is_none())
                        && w.writable_primaries(now, SIM_GROUP).contains(&i)
                });
                if stale_writer {
                    return;
                }
                if self.w.sim.hang_instance(&i).is_err() {
                    return;
                }
                // Longer than the 5 s command timeout, sometimes much longer.
                let d = self.duration(1_000, 12_000);
                self.active.push((now + d, Heal::Unhang(i)));
            }
            Fault::KubeApiError => {
                let calls = drover::controller::memory::CALLS;
                let method = calls[self.rng.random_range(0..calls.len())];
                let times = self.rng.random_range(1..=3);
                let e = self.api_error();
                self.journal_faults
                    .push((self.w.elapsed(), format!("{method} fails {times} times: {e}")));
                self.w.port.fail_next(method, times, e);
            }
            Fault::SiteApiError => {
                let method = API_CALLS[self.rng.random_range(0..API_CALLS.len())];
                let times = self.rng.random_range(1..=3);
                let e = self.api_error();
                self.w.sites.fail_next(method, times, e);
            }
            Fault::SiteApiUnreachable => {
                let site = self.pick_site();
                if self.lost.is_some_and(|(_, s)| s == site)
                    || self.active.iter().any(|(_, h)| {
                        matches!(h, Heal::Reachable(s) if s == site)
                            || matches!(h, Heal::Isolation { site_api: Some(s), .. } if s == site)
                    })
                {
                    return;
                }
                self.w.sites.set_reachable(site, false);
                let d = self.duration(500, 15_000);
                self.active.push((now + d, Heal::Reachable(site.into())));
            }
            Fault::ComponentCrash | Fault::ComponentHang => {
                let site = self.pick_site();
                let workloads: Vec<_> = self
                    .w
                    .drs
                    .spec
                    .components
                    .iter()
                    .flat_map(|c| c.sites.iter())
                    .filter(|s| s.site == site)
                    .filter_map(|s| s.workload.as_ref().map(|w| (w.kind, w.name.clone())))
                    .collect();
                let (kind, name) = workloads[self.rng.random_range(0..workloads.len())].clone();
                if self
                    .active
                    .iter()
                    .any(|(_, h)| matches!(h, Heal::Recover(s, _, n) if s == site && *n == name))
                {
                    return;
                }
                if fault == Fault::ComponentCrash {
                    self.w.sites.crash(site, kind, &name);
                } else {
                    self.w.sites.hang(site, kind, &name);
                }
                let d = self.duration(500, 10_000);
                self.active.push((now + d, Heal::Recover(site.into(), kind, name)));
            }
            Fault::HookJobFails => {
                let site = self.pick_site();
                let action = if self.rng.random_bool(0.5) {
                    HookAction::Start
                } else {
                    HookAction::Stop
                };
                self.w.sites.fail_hook(site, "sip-server", action, 1);
                let d = self.duration(1_000, 10_000);
                self.active.push((now + d, Heal::HookSucceeds(site.into(), action)));
            }
            Fault::DesiredSiteFlipped => {
                let planned = matches!(self.phase, Phase::Switchover | Phase::Failback);
                if !planned
                    || self.w.status().transition.is_none()
                    || self.active.iter().any(|(_, h)| matches!(h, Heal::FlipBack))
                {
                    return;
                }
                let other = if self.phase.target() == "site-a" {
                    "site-b"
                } else {
                    "site-a"
                };
                self.w.flip(other);
                let d = self.duration(200, 8_000);
                self.active.push((now + d, Heal::FlipBack));
            }
            Fault::GitOpsReasserts => {
                if self.gitops.is_some() {
                    return;
                }
                // Git still says where the system was: the site it is leaving (at rest, the other).
                let site = if self.phase.target() == "site-a" {
                    "site-b"
                } else {
                    "site-a"
                };
                let g = self.w.groups[0].clone();
                if self
                    .w
                    .port
                    .write_desired_site(
                        ChildKind::AvailabilityGroup,
                        &g.namespace,
                        &g.name,
                        site,
                        GITOPS_MANAGER,
                        Write::Apply,
                    )
                    .is_err()
                {
                    return;
                }
                self.gitops = Some(site.to_string());
                let d = self.duration(500, 20_000);
                self.active.push((now + d, Heal::GitOpsReleases));
            }
            Fault::IsolatedOldPrimary => {
                if self.links_cut() {
                    return;
                }
                let writers = self.w.sim.with_world(|w, now| w.writable_primaries(now, SIM_GROUP));
                let [p] = &writers[..] else { return };
                let p = p.clone();
                let Some(site) = self
                    .w
                    .sim
                    .endpoints()
                    .into_iter()
                    .find_map(|(n, s, _)| (n == p).then_some(s))
                else {
                    return;
                };
                if self.busy(&p) || self.lost.is_some_and(|(i, _)| i == p) {
                    return;
                }
                let other = if site == "site-a" { "site-b" } else { "site-a" };
                let returning = self.old_primary_returning();
                if self.w.sim.isolate_from_clients(&p, true).is_err() {
                    return;
                }
                if self.w.sim.partition(&site, other).is_err() {
                    let _ = self.w.sim.isolate_from_clients(&p, false);
                    return;
                }
                self.while_old_primary_returns += u64::from(returning);
                let api_free = self.lost.is_none_or(|(_, s)| s != site)
                    && !self
                        .active
                        .iter()
                        .any(|(_, h)| matches!(h, Heal::Reachable(s) if *s == site));
                let site_api = (api_free && self.rng.random_bool(0.5)).then(|| {
                    self.w.sites.set_reachable(&site, false);
                    site.clone()
                });
                let d = self.duration(2_000, 20_000);
                self.active.push((now + d, Heal::Isolation { instance: p, site_api }));
            }
            Fault::QuorumLost => {
                if self.none || self.links_cut() {
                    return;
                }
                let side = self.pick_site();
                let other = if side == "site-a" { "site-b" } else { "site-a" };
                let Some(other_node) = self.node_at(other) else { return };
                let returning = self.old_primary_returning();
                let stopped = if self.rng.random_bool(0.5) {
                    // The witness cut off from both sites, and the other side's node down.
                    let lost_there = self.lost.is_some_and(|(i, _)| i == other_node);
                    if !lost_there && self.busy(&other_node) {
                        return;
                    }
                    if self.w.sim.partition(side, WITNESS).is_err() || self.w.sim.partition(other, WITNESS).is_err() {
                        self.w.sim.heal();
                        return;
                    }
                    let up = self
                        .w
                        .sim
                        .with_world(|w, _| w.instances().iter().any(|(n, _, u)| *n == other_node && *u));
                    if lost_there || !up || self.w.sim.stop_instance(&other_node).await.is_err() {
                        None
                    } else {
                        Some(other_node)
                    }
                } else {
                    // The side cut off from the witness and from the other site.
                    if self.w.sim.partition(side, WITNESS).is_err() || self.w.sim.partition(side, other).is_err() {
                        self.w.sim.heal();
                        return;
                    }
                    None
                };
                self.while_old_primary_returns += u64::from(returning);
                let d = self.duration(2_000, 20_000);
                self.journal_faults
                    .push((self.w.elapsed(), format!("QuorumLost: {side} without quorum")));
                self.active.push((now + d, Heal::Quorum { stopped }));
            }
        }
        self.count(fault);
        self.journal_faults
            .push((self.w.elapsed(), format!("{fault:?} {:?}", self.active.last())));
    }

    /// In the restore phase, SQL-B (the primary lost in the failover phase) is not yet back as a
    /// secondary.
    fn old_primary_returning(&self) -> bool {
        self.phase == Phase::Restore
            && !self.w.sim.with_world(|w, now| {
                w.roles(now, "ag1")
                    .into_iter()
                    .any(|(name, role)| name == "SQL-B" && role == Some(drover::sim::model::Role::Secondary))
            })
    }

    async fn heal(&mut self, heal: Heal) {
        match heal {
            Heal::StartInstance(i) => {
                let _ = self.w.sim.start_instance(&i);
            }
            Heal::Partition => self.w.sim.heal(),
            Heal::ResumeReplication(i) => {
                let _ = self.w.sim.pause_replication(&i, false);
            }
            Heal::Unhang(i) => {
                let _ = self.w.sim.unhang_instance(&i);
            }
            Heal::Reachable(site) => {
                self.w.sites.set_reachable(&site, true);
            }
            Heal::Recover(site, kind, name) => {
                self.w.sites.recover(&site, kind, &name);
            }
            Heal::HookSucceeds(site, action) => self.w.sites.fail_hook(&site, "sip-server", action, 0),
            Heal::FlipBack => {
                let target = self.phase.target();
                self.w.flip(target);
            }
            Heal::FollowerGone => self.follower = None,
            Heal::GitOpsReleases => {
                let g = self.w.groups[0].clone();
                let _ = self.w.port.release_desired_site(
                    ChildKind::AvailabilityGroup,
                    &g.namespace,
                    &g.name,
                    GITOPS_MANAGER,
                );
                self.gitops = None;
            }
            Heal::Isolation { instance, site_api } => {
                let _ = self.w.sim.isolate_from_clients(&instance, false);
                self.w.sim.heal();
                if let Some(site) = site_api {
                    self.w.sites.set_reachable(&site, true);
                }
            }
            Heal::Quorum { stopped } => {
                self.w.sim.heal();
                if let Some(i) = stopped {
                    let _ = self.w.sim.start_instance(&i);
                }
            }
        }
    }

    /// Site-b, only cut off since the failover phase began, is really lost now (or at once with
    /// `now`): its instance stops; the cut ends (nothing is left there to cut off).
    async fn lose_site_b(&mut self, now: bool) -> Result<(), String> {
        match self.dies_at {
            Some(at) if now || Instant::now() >= at => {}
            _ => return Ok(()),
        }
        self.dies_at = None;
        self.w.sim.stop_instance("SQL-B").await?;
        self.w.sim.isolate_from_clients("SQL-B", false)?;
        self.w.sim.heal();
        self.journal_faults.push((
            self.w.elapsed(),
            "site-b, cut off until now, is really lost: SQL-B stopped".into(),
        ));
        Ok(())
    }

    /// Ends the faults that are due (all of them with `all`).
    async fn heal_due(&mut self, all: bool) {
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|(at, _)| all || *at <= now);
        self.active = keep;
        for (_, h) in due {
            self.heal(h).await;
        }
        if all {
            for m in drover::controller::memory::CALLS {
                self.w.port.fail_next(m, 0, PortError::Api(String::new()));
            }
            for m in API_CALLS {
                self.w.sites.fail_next(m, 0, PortError::Api(String::new()));
            }
        }
    }

    /// What the person on call does, as a careful SRE would:
    ///
    /// - **Confirmations** (the group's data-loss token, the DrSite's site-lost token) are given
    ///   only in the failover phase (a site was declared lost; in a planned phase the person waits
    ///   for an outage to pass) and only when ground truth says the old primary is really down:
    ///   every instance but the target stopped (data loss), every instance at the site stopped
    ///   (site lost). While the old primary's site is only cut off — isolated from clients,
    ///   partitioned, its API unreachable — it is alive and may commit: the request is refused.
    /// - **WSFC quorum** is forced only on the node at the site the service should run at (the
    ///   phase's target), only while it is up without quorum, and only when every other node is
    ///   really stopped — never while the other side runs (two clusters, two primaries). Drover's
    ///   requests to force it are turned down otherwise.
    /// - Failed hook Jobs are deleted once their cause is gone.
    fn person(&mut self) -> Result<(), String> {
        let group = self.w.group_status();
        if let Some(req) = &group.confirmation {
            // Invariant 3: the estimate is shown before a person can confirm.
            if group.estimate.is_none() && req.known_loss_seconds.is_none() && req.unknown_since.is_none() {
                return Err("a data-loss confirmation was asked without an estimate in status".into());
            }
            if !self.others_down(&req.target) {
                if self.refused.insert(format!("data loss {}", req.token)) {
                    self.journal_faults.push((
                        self.w.elapsed(),
                        format!(
                            "person refuses data-loss token {} (the old primary is alive)",
                            req.token
                        ),
                    ));
                }
            } else if self.phase == Phase::Failover && self.rng.random_bool(0.3) {
                self.w.annotate_group(&req.token);
                self.forced_allowed = true;
            }
        }
        if let Some(req) = self.w.status().site_lost_confirmation {
            if !self.site_down(&req.site) {
                if self.refused.insert(format!("site lost {}", req.token)) {
                    self.journal_faults.push((
                        self.w.elapsed(),
                        format!("person refuses site-lost token {} ({} is alive)", req.token, req.site),
                    ));
                }
            } else if self.phase == Phase::Failover && self.rng.random_bool(0.3) {
                self.w.annotate(&req.token);
            }
        }
        // At failback (or with autoResume), resuming the old primary's diverged copies discards
        // their tail: the person consents, as they would after keeping the data.
        if let Some(req) = self.w.group_status().discard_confirmation
            && self.rng.random_bool(0.3)
        {
            if req.databases.is_empty() || !req.command.contains(&req.token) {
                return Err(format!(
                    "a discard request that does not show what it discards: {req:?}"
                ));
            }
            self.w.annotate_group_discard(&req.token);
        }
        self.quorum_rule()?;
        let hook_fault = self.active.iter().any(|(_, h)| matches!(h, Heal::HookSucceeds(..)));
        if !hook_fault {
            for site in ["site-a", "site-b"] {
                for job in self.w.sites.failed_jobs(site) {
                    self.w.sites.delete_job(site, &job);
                }
            }
        }
        Ok(())
    }

    /// The person's WSFC quorum rule (see [`Run::person`]).
    fn quorum_rule(&mut self) -> Result<(), String> {
        if self.none {
            return Ok(());
        }
        let Some(node) = self.node_at(self.phase.target()) else {
            return Ok(());
        };
        let (up, has) = self.w.sim.with_world(|w, now| {
            let up = w.instances().iter().any(|(n, _, u)| *n == node && *u);
            (up, w.has_quorum(now, &node))
        });
        if up && !has && self.others_down(&node) {
            if self.rng.random_bool(0.2) {
                self.w.sim.force_quorum(&node)?;
                self.quorum_forced += 1;
                self.journal_faults.push((
                    self.w.elapsed(),
                    format!("person forces quorum on {node} (every other node is stopped)"),
                ));
            }
        } else if let Some(step) = self.w.group_status().step.filter(|s| s.contains("force quorum"))
            && self.declined.insert(step.clone())
        {
            self.journal_faults
                .push((self.w.elapsed(), format!("person declines to force quorum: {step}")));
        }
        Ok(())
    }

    /// One reconcile of each controller (perhaps cut short by a crash, perhaps by a fresh process),
    /// the follower's, the person's reaction, then every check.
    async fn tick(&mut self, faults: bool) -> Result<(), String> {
        self.ticks += 1;
        if faults && self.rng.random_bool(0.04) {
            self.w.restart_operator();
            self.count(Fault::OperatorRestart);
        }
        let crash =
            (faults && self.rng.random_bool(0.04)).then(|| (self.rng.random_bool(0.5), self.rng.random_range(1..=3)));
        let group = self.w.group();
        let mut crashed = false;
        match crash {
            Some((true, polls)) => {
                crashed = cut(ag::reconcile(&group, &self.w.ag_ctx, self.w.now()), polls)
                    .await
                    .is_none()
            }
            _ => {
                let _ = ag::reconcile(&group, &self.w.ag_ctx, self.w.now()).await;
            }
        }
        if !crashed {
            self.w.drs.status = self.w.port.drsite_status(&self.w.drs);
            match crash {
                Some((false, polls)) => {
                    crashed = cut(drsite::reconcile(&self.w.drs, &self.w.dr_ctx, self.w.now()), polls)
                        .await
                        .is_none()
                }
                _ => {
                    let _ = drsite::reconcile(&self.w.drs, &self.w.dr_ctx, self.w.now()).await;
                }
            }
        }
        if crashed {
            self.w.restart_operator();
            self.count(Fault::OperatorCrashMidStep);
            let at = if crash.is_some_and(|(ag, _)| ag) {
                "AG"
            } else {
                "DrSite"
            };
            self.journal_faults
                .push((self.w.elapsed(), format!("OperatorCrashMidStep in the {at} reconcile")));
        }
        self.follow().await?;
        self.lose_site_b(false).await?;
        self.person()?;
        self.check(false)?;
        tokio::time::sleep(TICK).await;
        self.heal_due(false).await;
        Ok(())
    }

    /// The follower reconciles both objects; it must make no API call, no site call, no SQL.
    async fn follow(&mut self) -> Result<(), String> {
        let Some((ag_ctx, dr_ctx)) = &self.follower else {
            return Ok(());
        };
        let before = (
            self.w.port.snapshot().calls,
            self.w.sites.total_calls(),
            self.w.sim.with_world(|w, _| w.statement_counts().clone()),
        );
        let group = self.w.group();
        let _ = ag::reconcile(&group, ag_ctx, self.w.now()).await;
        let mut drs = self.w.drs.clone();
        drs.status = self.w.port.drsite_status(&drs);
        let _ = drsite::reconcile(&drs, dr_ctx, self.w.now()).await;
        let after = (
            self.w.port.snapshot().calls,
            self.w.sites.total_calls(),
            self.w.sim.with_world(|w, _| w.statement_counts().clone()),
        );
        if before != after {
            return Err("an operator without the lease made calls".into());
        }
        Ok(())
    }

    /// Invariants 1–5 from ground truth.
    fn check(&mut self, force_loss_check: bool) -> Result<(), String> {
        // 1 and 4.
        self.one_site_at_a_time()?;
        // 5: database-dependent components start only where the group is writable ...
        self.w.starts_follow_the_primary()?;
        // ... and in dependency order; they stop in reverse order.
        self.order()?;
        // 2: a planned phase loses no acknowledged commit. Counting is costly (the whole log), and
        // commits are lost only when the primary changes, so count then (and every 5 s).
        let primary = self.w.primary_site();
        let changed = primary != self.last_primary;
        // One writer per desired site: a GitOps tool's value never moves the database away from
        // where the DrSite wants it (the DrSite's own move toward it is the DrSite's).
        // (A primary that was lost and comes back where it was did not move: compare with the
        // last site seen.)
        if changed
            && let (Some(p), Some(git)) = (&primary, &self.gitops)
            && p == git
            && self.last_seen_primary.as_ref().is_some_and(|before| before != p)
            && self.w.drs.spec.active_site != *git
            && self.w.status().transition.is_none_or(|t| t.to_site != *git)
        {
            return Err(format!(
                "the group moved to {git}, the primarySite a GitOps tool re-asserted, while the DrSite wants {}",
                self.w.drs.spec.active_site
            ));
        }
        if primary.is_some() {
            self.last_seen_primary.clone_from(&primary);
        }
        self.last_primary = primary;
        // What a NONE old primary back PRIMARY acknowledged before drover demoted it is SQL
        // Server's doing, not the planned move's: the base is taken again once it is over.
        let episodes = self.w.sim.with_world(|w, _| {
            let e = w.split_episodes();
            (e.len(), e.iter().any(|e| e.end.is_none()))
        });
        // Under NONE a forced-out old primary that restarts while the replica forced to primary
        // is down is the only writer, and SQL Server lets clients commit there: those commits are
        // lost once the other returns and the stale one is demoted — SQL Server's doing, as on a
        // return beside it. (drover does not demote it earlier: see the README.)
        let stale_alone = self.none && {
            let writers = self.w.sim.with_world(|w, now| w.writable_primaries(now, SIM_GROUP));
            let last = self.w.group_status().last_failover;
            matches!(&writers[..], [only] if last.is_some_and(|f| f.kind == AgTransition::Failover
                && f.from_replica.as_deref() == Some(only.as_str())))
        };
        if episodes.0 > self.episodes_seen || episodes.1 || stale_alone {
            self.episodes_seen = episodes.0;
            self.loss_base = None;
        }
        if (changed
            || self.ticks.is_multiple_of(25)
            || force_loss_check
            || (self.loss_base.is_none() && self.phase != Phase::Failover))
            && let Some(lost) = self.w.lost_transactions()
        {
            match self.loss_base {
                Some(base) if lost > base => {
                    return Err(format!(
                        "{:?} (planned) lost {} acknowledged commits",
                        self.phase,
                        lost - base
                    ));
                }
                None if self.phase != Phase::Failover => self.loss_base = Some(lost),
                _ => {}
            }
        }
        // 3: a forced failover only after a person confirmed it.
        let forced = self.w.sim.with_world(|w, _| {
            w.history()
                .iter()
                .filter(|h| h.text.contains("FORCE_FAILOVER_ALLOW_DATA_LOSS accepted"))
                .count()
        });
        // (FORCE is also how a planned switch is made under NONE, after the old primary was
        // demoted, and under forced quorum, onto a SYNCHRONIZED target: those are no failovers.)
        if forced > self.forced_seen && !self.forced_allowed {
            let g = self.w.group_status();
            let kind = g.transition.map(|t| t.kind).or(g.last_failover.map(|l| l.kind));
            if !matches!(kind, Some(AgTransition::Switchover | AgTransition::Failback)) {
                return Err("a forced failover without a confirmation".into());
            }
        }
        self.forced_seen = forced;
        Ok(())
    }

    /// Invariant 1: never two writable primaries (the simulator records every such moment).
    /// Invariant 4: no ActiveSite component at two sites, unless a person declared one lost; that
    /// excuses the lost site until nothing ActiveSite runs there any more (drover clears
    /// `lostSites` as soon as the site answers, while it is still stopping what runs there).
    fn one_site_at_a_time(&mut self) -> Result<(), String> {
        // Ground truth, with the one exception SQL Server makes by itself (a NONE old primary
        // back PRIMARY, for drover to demote within three steady polls). No other: the person
        // confirms a site lost only once it is really down, so no second writer is excused.
        self.w.one_writer()?;
        let s = self.w.status();
        let active: Vec<String> = self
            .w
            .drs
            .spec
            .components
            .iter()
            .filter(|c| c.placement == Placement::ActiveSite)
            .map(|c| c.name.clone())
            .collect();
        for l in &s.lost_sites {
            self.declared_lost.insert(l.site.clone());
        }
        let still = |site: &str| active.iter().any(|c| self.w.running(site, c));
        self.declared_lost.retain(|site| still(site));
        if self.w.lost_declared() || !self.declared_lost.is_empty() {
            return Ok(());
        }
        for c in &active {
            let at: Vec<&str> = ["site-a", "site-b"]
                .into_iter()
                .filter(|site| self.w.running(site, c))
                .collect();
            if at.len() > 1 {
                return Err(format!("{c} runs at {}", at.join(" and ")));
            }
        }
        Ok(())
    }

    /// Same-placement dependencies at one site: a workload is scaled up only while what it
    /// depends on is, and a dependency is scaled to 0 only once its dependents are.
    fn order(&mut self) -> Result<(), String> {
        let actions = self.w.sites.actions();
        let spec = &self.w.drs.spec;
        for (_, action) in &actions[self.journal_seen.min(actions.len())..] {
            let SiteAction::Scaled {
                site, name, replicas, ..
            } = action
            else {
                continue;
            };
            let Some(c) = spec.components.iter().find(|c| {
                c.sites
                    .iter()
                    .any(|s| s.site == *site && s.workload.as_ref().is_some_and(|w| w.name == *name))
            }) else {
                continue;
            };
            let up = |n: &str| self.scaled.get(&(site.clone(), n.to_string())).copied().unwrap_or(0) > 0;
            if *replicas > 0 {
                for d in &c.depends_on {
                    let same = spec
                        .components
                        .iter()
                        .any(|x| x.name == *d && x.placement == c.placement);
                    if same && !up(d) {
                        return Err(format!("{name} scaled up at {site} while {d} was not"));
                    }
                }
            } else {
                for x in spec
                    .components
                    .iter()
                    .filter(|x| x.placement == c.placement && x.depends_on.contains(&c.name))
                {
                    if up(&x.name) {
                        return Err(format!("{name} scaled to 0 at {site} while {} still runs", x.name));
                    }
                }
            }
            self.scaled.insert((site.clone(), name.clone()), *replicas);
        }
        self.journal_seen = actions.len();
        Ok(())
    }

    fn ready(&self, site: &str, component: &str) -> bool {
        self.w.sites.instance(site, component).is_some_and(|i| i.ready > 0)
    }

    /// The phase's end state, reached.
    fn done(&self) -> bool {
        let t = self.phase.target();
        let other = if t == "site-a" { "site-b" } else { "site-a" };
        let primary = self.w.primary_site().as_deref() == Some(t);
        let masters_here = MASTERS.iter().all(|m| self.ready(t, m));
        let masters_gone = MASTERS.iter().all(|m| !self.w.running(other, m));
        let s = self.w.status();
        match self.phase {
            Phase::ColdStart | Phase::Switchover | Phase::Failback => {
                primary && self.w.steady_at(t) && masters_here && masters_gone
            }
            // Degraded at site-a: site-b's shared layers cannot be started while it is lost.
            Phase::Failover => primary && masters_here && s.active_site.as_deref() == Some(t),
            // Invariant 3's last part: once the old primary is back, its loss is measured.
            Phase::Restore => {
                primary
                    && masters_here
                    && masters_gone
                    && s.transition.is_none()
                    && self
                        .w
                        .group_status()
                        .last_failover
                        .is_some_and(|l| l.kind == AgTransition::Failover && l.data_loss.is_some())
            }
        }
    }

    async fn play(&mut self, phase: Phase) -> Result<(), Stop> {
        self.phase = phase;
        // A confirmation allows the forced failover of the phase it was given in.
        self.forced_allowed = false;
        // What was lost before (the forced failover's share) is the base a planned phase must
        // not add to; taken before the phase's first reconcile.
        self.loss_base = if phase == Phase::Failover {
            None
        } else {
            self.w.lost_transactions()
        };
        match phase {
            Phase::ColdStart => {}
            Phase::Switchover | Phase::Failback => self.w.flip(phase.target()),
            Phase::Failover => {
                self.lost = Some(("SQL-B", "site-b"));
                if self.rng.random_bool(1.0 / 3.0) {
                    // First only cut off: SQL-B alive and committing (under WSFC its side keeps the
                    // witness), unreachable from drover and from site-a. Nobody may confirm yet.
                    self.w
                        .sim
                        .isolate_from_clients("SQL-B", true)
                        .map_err(Stop::Violation)?;
                    self.w.sim.partition("site-a", "site-b").map_err(Stop::Violation)?;
                    self.dies_at = Some(Instant::now() + self.duration(2_000, 20_000));
                    self.isolated_before_loss += 1;
                } else {
                    self.w.sim.stop_instance("SQL-B").await.map_err(Stop::Violation)?;
                }
                self.w.sites.set_reachable("site-b", false);
                self.w.flip("site-a");
            }
            Phase::Restore => {
                self.lost = None;
                self.w.sim.start_instance("SQL-B").map_err(Stop::Violation)?;
                self.w.sites.set_reachable("site-b", true);
            }
        }
        let window = self.duration(5_000, 40_000);
        let faults_until = Instant::now() + window;
        // Faults at random ticks, at a rate of about one every 2.5 s.
        while Instant::now() < faults_until {
            if self.rng.random_bool(0.08) {
                self.inject().await;
            }
            self.tick(true).await.map_err(Stop::Violation)?;
        }
        self.lose_site_b(true).await.map_err(Stop::Violation)?;
        self.heal_due(true).await;
        let deadline = Instant::now() + CONVERGE_WITHIN;
        while !self.done() {
            if Instant::now() >= deadline {
                return Err(Stop::NotConverged(format!(
                    "{phase:?}: not converged {CONVERGE_WITHIN:?} after faults stopped: primary at {:?}, DrSite {:?} {:?}, step {:?}, transition {:?}, last {:?}, masters running at (a, b) {:?}, the group's last failover (kind, loss measured) {:?}; why: {}",
                    self.w.primary_site(),
                    self.w.status().phase,
                    self.w.status().active_site,
                    self.w.status().step,
                    self.w.status().transition,
                    self.w.status().last_transition.map(|t| t.kind),
                    MASTERS.map(|m| (self.w.running("site-a", m), self.w.running("site-b", m))),
                    self.w
                        .group_status()
                        .last_failover
                        .map(|l| (l.kind, l.data_loss.is_some())),
                    self.why_not_done(),
                )));
            }
            self.tick(false).await.map_err(Stop::Violation)?;
        }
        self.check(true).map_err(Stop::Violation)?;
        Ok(())
    }

    /// The DrSite's and the group's true conditions other than Ready, and what each replica
    /// reports wrong: what a person would read to learn why a run did not settle.
    fn why_not_done(&self) -> String {
        let conditions = |cs: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>| {
            cs.into_iter()
                .filter(|c| c.status == "True" && c.type_ != "Ready")
                .map(|c| format!("{}: {}", c.type_, c.message))
                .collect::<Vec<_>>()
        };
        let group = self.w.group_status();
        let mut why = conditions(self.w.status().conditions);
        why.extend(conditions(group.conditions).into_iter().map(|c| format!("group {c}")));
        why.extend(
            group
                .replicas
                .iter()
                .filter_map(|r| r.message.as_ref().map(|m| format!("{}: {m}", r.server_name))),
        );
        why.join("; ")
    }

    /// The simulator's history, the faults injected and the Events, for replaying a seed.
    fn dump(&self) {
        self.w.sim.with_world(|w, _| {
            for h in w.history() {
                eprintln!("sim {:?}: {}", h.at, h.text);
            }
        });
        for (at, f) in &self.journal_faults {
            eprintln!("fault {at:?}: {f}");
        }
        for e in self.w.group_events() {
            eprintln!("group event {}: {}", e.reason, e.note);
        }
        for e in self.w.drsite_events() {
            eprintln!("drsite event {}: {}", e.reason, e.note);
        }
    }

    /// Every phase; the totals of this seed.
    async fn run(mut self) -> Totals {
        let mut totals = Totals {
            runs: 1,
            ..Totals::default()
        };
        for phase in PHASES {
            let outcome = self.play(phase).await;
            if outcome.is_err() && std::env::var("CHAOS_DEBUG").is_ok() {
                self.dump();
            }
            match outcome {
                Ok(()) => {}
                Err(Stop::Violation(why)) => {
                    totals
                        .violations
                        .push((self.seed, format!("{phase:?}: VIOLATION {why}")));
                    break;
                }
                Err(Stop::NotConverged(why)) => {
                    totals.not_converged.push((self.seed, why));
                    break;
                }
            }
        }
        totals.ticks = self.ticks;
        totals.forced_failovers = self.forced_seen as u64;
        totals.while_old_primary_returns = self.while_old_primary_returns;
        totals.faults = std::mem::take(&mut self.faults);
        totals.none_runs = u64::from(self.none);
        totals.isolated_before_loss = self.isolated_before_loss;
        totals.confirmations_refused = self.refused.len() as u64;
        totals.quorum_forced = self.quorum_forced;
        totals.quorum_force_declined = self.declined.len() as u64;
        self.w.sim.shutdown();
        totals
    }
}

fn seeds(default: u64) -> Vec<u64> {
    if let Some(seed) = std::env::var("CHAOS_SEED").ok().and_then(|s| s.parse().ok()) {
        return vec![seed];
    }
    let n = std::env::var("CHAOS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    (1..=n).collect()
}

/// Runs `seeds` on up to two threads, each with its own paused-clock runtime.
fn run_seeds(seeds: Vec<u64>) -> Totals {
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
                let mut totals = Totals::default();
                for seed in mine {
                    totals.merge(rt.block_on(async { Run::new(seed).await.run().await }));
                }
                totals
            })
        })
        .collect();
    let mut totals = Totals::default();
    for h in handles {
        totals.merge(h.join().expect("a chaos thread panicked"));
    }
    totals.violations.sort();
    totals.not_converged.sort();
    totals
}

fn assert_clean(totals: &Totals) {
    totals.print();
    assert!(totals.runs > 0);
    assert!(
        totals.violations.is_empty() && totals.not_converged.is_empty(),
        "chaos found {} invariant violations and {} non-converged runs (seeds above)",
        totals.violations.len(),
        totals.not_converged.len()
    );
}

#[test]
fn chaos_contact_center_switchover_failover_failback() {
    let totals = run_seeds(seeds(CI_SEEDS));
    assert_clean(&totals);
    // The runner really injects what it claims (over the CI seeds every kind comes up).
    if totals.runs >= 40 {
        for f in FAULTS {
            assert!(totals.faults.get(&f).copied().unwrap_or(0) > 0, "{f:?} never injected");
        }
        assert!(
            totals.while_old_primary_returns > 0,
            "no outage or partition while the old primary came back"
        );
        assert!(totals.none_runs > 0, "no run with a CLUSTER_TYPE NONE group");
        assert!(
            totals.isolated_before_loss > 0,
            "site-b never cut off before it was lost"
        );
        assert!(
            totals.confirmations_refused > 0,
            "the person never had to refuse a confirmation while the old primary was alive"
        );
    }
}

/// The bench mode: thousands of seeds (`CHAOS_SEEDS`, default 2000), best with `--release`.
#[test]
#[ignore = "long: run with --ignored (and CHAOS_SEEDS)"]
fn chaos_bench() {
    assert_clean(&run_seeds(seeds(BENCH_SEEDS)));
}

/// Placement of the example, so a renamed component makes this runner fail loudly rather than
/// check nothing.
#[test]
fn the_example_has_what_the_runner_drives() {
    let drs = example().expect("the example parses");
    for m in MASTERS {
        let c = drs.spec.components.iter().find(|c| c.name == m).expect(m);
        assert_eq!(c.placement, Placement::ActiveSite);
    }
    assert!(drs.spec.components.iter().any(|c| c.name == "sip-server"));
}

/// The checks are live: what drover must never do, done by hand, is caught.
#[tokio::test(start_paused = true)]
async fn the_checks_catch_what_drover_must_never_do() {
    use drover::components::{SiteAccess, Sites};
    let mut run = Run::new(7).await;
    let steady = async {
        for _ in 0..600 {
            if run.done() {
                return true;
            }
            run.tick(false).await.expect("no violation without faults");
        }
        false
    };
    assert!(steady.await, "steady at site-a");
    let at_b = SiteAccess {
        site: "site-b".into(),
        namespace: "cc-site-b".into(),
        kubeconfig: None,
        home_namespace: "contact-center".into(),
    };
    let kind = drover::api::dr_site::WorkloadKind::Deployment;
    // message-server at site-b before what it depends on, while it runs at site-a too.
    run.w
        .sites
        .scale(&at_b, kind, "message-server", 1)
        .await
        .expect("scaled");
    let why = run.check(true).expect_err("caught");
    assert!(why.contains("message-server"), "{why}");
    run.w.sim.shutdown();
}

/// A second writer nobody confirmed is caught: the careless person the runner never plays forces
/// quorum on site-b's node while site-a's primary runs (cut off from it) and forces SQL-B to
/// primary by hand.
#[tokio::test(start_paused = true)]
async fn a_second_writer_is_caught() {
    let mut run = Run::new(7).await;
    for _ in 0..600 {
        if run.done() {
            break;
        }
        run.tick(false).await.expect("no violation without faults");
    }
    assert!(run.done(), "steady at site-a");
    run.check(true).expect("one writer so far");
    let sim = run.w.sim.clone();
    sim.partition("site-a", "site-b").expect("partition");
    sim.partition("site-b", WITNESS).expect("partition");
    // The runner's person would not: SQL-A is up.
    assert!(!run.others_down("SQL-B") && !run.site_down("site-a"));
    sim.force_quorum("SQL-B").expect("forced quorum");
    sim.with_world(|w, now| w.failover(now, "SQL-B", SIM_GROUP, true))
        .expect("forced by hand");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let writers = sim.with_world(|w, now| w.writable_primaries(now, SIM_GROUP));
    assert_eq!(writers.len(), 2, "{writers:?}");
    let why = run.check(true).expect_err("caught");
    assert!(why.contains("two writable primaries"), "{why}");
    sim.shutdown();
}
