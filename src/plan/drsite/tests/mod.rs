//! Planner tests against a tiny pure world: workloads that become ready one
//! tick after they are scaled, servers that start one tick after their hook
//! Job, one availability group that moves one tick after its desired site
//! changes (unless its primary's site is down), and optionally one Persistent
//! Chat pool whose runbook takes a few ticks.

mod pools;
mod properties;
mod scenarios;

use super::{Action, ChildKind, ChildObs, Input, Instance, Journal, Observed, Plan, plan};
use crate::api::dr_site::{
    ChildRef, ComponentAtSite, ComponentSpec, DrSiteSpec, Hooks, HttpProbe, Placement, Probe, SiteSpec, WorkloadKind,
    WorkloadRef,
};
use crate::components::{HookAction, HookJob, JobPhase, WorkloadObs};
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use std::collections::{BTreeMap, BTreeSet};

pub(super) const SITES: [&str; 2] = ["site-a", "site-b"];

/// One component: name, placement, dependencies, AGs it needs writable, outside Kubernetes.
#[derive(Debug, Clone)]
pub(super) struct Comp {
    pub name: String,
    pub placement: Placement,
    pub deps: Vec<String>,
    pub needs_ag: bool,
    pub external: bool,
}

pub(super) fn comp(name: &str, placement: Placement, deps: &[&str]) -> Comp {
    Comp {
        name: name.into(),
        placement,
        deps: deps.iter().map(|d| d.to_string()).collect(),
        needs_ag: false,
        external: false,
    }
}

fn job_template() -> JobTemplateSpec {
    JobTemplateSpec {
        metadata: None,
        spec: Some(JobSpec {
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "hook".into(),
                        image: Some("busybox".into()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
    }
}

/// A DrSite over [`SITES`] with the AG `ag1` when `with_ag`.
pub(super) fn spec(comps: &[Comp], with_ag: bool, active: &str) -> DrSiteSpec {
    DrSiteSpec {
        sites: SITES
            .iter()
            .map(|s| SiteSpec {
                name: s.to_string(),
                namespace: format!("ns-{s}"),
                kubeconfig: None,
            })
            .collect(),
        active_site: active.into(),
        availability_groups: if with_ag {
            vec![ChildRef { name: "ag1".into() }]
        } else {
            vec![]
        },
        persistent_chat_pools: vec![],
        components: comps
            .iter()
            .map(|c| ComponentSpec {
                name: c.name.clone(),
                placement: c.placement,
                depends_on: c.deps.clone(),
                requires_writable: if c.needs_ag && with_ag {
                    vec!["ag1".into()]
                } else {
                    vec![]
                },
                timeout_seconds: 600,
                sites: SITES
                    .iter()
                    .map(|s| ComponentAtSite {
                        site: s.to_string(),
                        workload: (!c.external).then(|| WorkloadRef {
                            kind: WorkloadKind::Deployment,
                            name: format!("{}-{s}", c.name),
                            replicas: 2,
                        }),
                        hooks: c.external.then(|| Hooks {
                            start: job_template(),
                            stop: job_template(),
                            probe: Probe {
                                tcp: None,
                                http: Some(HttpProbe {
                                    host: format!("{}.{s}", c.name),
                                    port: 80,
                                    path: "/".into(),
                                }),
                                timeout_seconds: 2,
                            },
                        }),
                    })
                    .collect(),
            })
            .collect(),
        suspend: false,
    }
}

/// Lists the pool `name` in `spec`, required writable by the components `required_by`.
pub(super) fn with_pool(mut spec: DrSiteSpec, name: &str, required_by: &[&str]) -> DrSiteSpec {
    spec.persistent_chat_pools.push(ChildRef { name: name.into() });
    for c in spec
        .components
        .iter_mut()
        .filter(|c| required_by.contains(&c.name.as_str()))
    {
        c.requires_writable.push(name.into());
    }
    spec
}

/// The ground truth of the pool: where its chat database is writable, what its spec asks for, and
/// its runbook in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PoolTruth {
    pub name: String,
    pub desired: String,
    pub at: String,
    /// Ticks left of the runbook in flight.
    pub left: Option<u32>,
    /// How many ticks a runbook takes.
    pub ticks: u32,
    pub confirmation: Option<String>,
    /// The tick at which it last became writable at a new site.
    pub moved_at: Option<u32>,
}

/// The ground truth of one component at one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Truth {
    pub desired: i32,
    pub ready: i32,
    pub current: i32,
    /// A hook server's liveness.
    pub alive: bool,
}

/// An executed action, with the tick it ran at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Ran {
    pub tick: u32,
    pub action: Action,
}

pub(super) struct World {
    pub spec: DrSiteSpec,
    pub truth: BTreeMap<(String, String), Truth>,
    /// Jobs by (component, site, action, run) → ticks until done, and whether they fail.
    pub jobs: BTreeMap<(String, String, HookAction, String), (u32, bool)>,
    pub ag_desired: String,
    pub ag_primary: Option<String>,
    pub ag_confirmation: Option<String>,
    /// The spec's first pool, if it lists one.
    pub pool: Option<PoolTruth>,
    pub down: BTreeSet<String>,
    pub journal: Journal,
    pub tick: u32,
    pub log: Vec<Ran>,
    pub last: Option<Plan>,
    pub confirm_token: Option<String>,
    /// Hook Jobs that fail: (component, site, action).
    pub failing: BTreeSet<(String, String, HookAction)>,
}

impl World {
    /// Nothing running; the AG's primary (and the pool's database) at `ag_at`.
    pub fn new(spec: DrSiteSpec, ag_at: &str) -> Self {
        let mut truth = BTreeMap::new();
        for c in &spec.components {
            for s in SITES {
                truth.insert((c.name.clone(), s.to_string()), Truth::default());
            }
        }
        let pool = spec.persistent_chat_pools.first().map(|p| PoolTruth {
            name: p.name.clone(),
            desired: ag_at.into(),
            at: ag_at.into(),
            left: None,
            ticks: 3,
            confirmation: None,
            moved_at: None,
        });
        Self {
            spec,
            truth,
            pool,
            jobs: BTreeMap::new(),
            ag_desired: ag_at.into(),
            ag_primary: Some(ag_at.into()),
            ag_confirmation: None,
            down: BTreeSet::new(),
            journal: Journal::default(),
            tick: 0,
            log: Vec::new(),
            last: None,
            confirm_token: None,
            failing: BTreeSet::new(),
        }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + i64::from(self.tick) * 10).expect("valid")
    }

    fn external(&self, component: &str) -> bool {
        self.spec
            .component(component)
            .is_some_and(|c| c.sites.iter().any(|s| s.hooks.is_some()))
    }

    /// Everything `name` runs as, at steady state at `site`.
    pub fn set_running(&mut self, name: &str, site: &str) {
        let external = self.external(name);
        let t = self
            .truth
            .get_mut(&(name.to_string(), site.to_string()))
            .expect("declared");
        *t = if external {
            Truth {
                alive: true,
                ..Truth::default()
            }
        } else {
            Truth {
                desired: 2,
                ready: 2,
                current: 2,
                alive: false,
            }
        };
    }

    pub fn running(&self, name: &str, site: &str) -> bool {
        self.truth
            .get(&(name.to_string(), site.to_string()))
            .is_some_and(|t| t.current > 0 || t.ready > 0 || t.alive)
    }

    pub fn observe(&self) -> Observed {
        let mut o = Observed::default();
        for s in SITES {
            let reach = if self.down.contains(s) {
                Err("connection refused".into())
            } else {
                Ok(())
            };
            o.sites.insert(s.to_string(), reach);
        }
        for ((c, s), t) in &self.truth {
            let instance = if self.down.contains(s) {
                Instance::Unknown("connection refused".into())
            } else if self.external(c) {
                Instance::External(if t.alive {
                    Ok(())
                } else {
                    Err("connection refused".into())
                })
            } else {
                Instance::Workload(Some(WorkloadObs {
                    desired: t.desired,
                    ready: t.ready,
                    current: t.current,
                    up_to_date: true,
                }))
            };
            o.instances.insert((c.clone(), s.clone()), instance);
        }
        for ((component, site, action, run), (left, fails)) in &self.jobs {
            if self.down.contains(site) {
                continue;
            }
            o.jobs.push(HookJob {
                owner_uid: None,
                name: format!("{component}-{site}-{}-{run}", action.as_str()),
                component: component.clone(),
                site: site.clone(),
                action: *action,
                run: run.clone(),
                phase: match (left, fails) {
                    (0, true) => JobPhase::Failed("BackoffLimitExceeded".into()),
                    (0, false) => JobPhase::Succeeded,
                    _ => JobPhase::Running,
                },
            });
        }
        if !self.spec.availability_groups.is_empty() {
            let primary = self.ag_primary.clone().filter(|p| !self.down.contains(p));
            o.children.insert(
                ChildKind::AvailabilityGroup.key("ag1"),
                ChildObs {
                    kind: ChildKind::AvailabilityGroup,
                    found: true,
                    desired_site: Some(self.ag_desired.clone()),
                    settled: primary.as_deref() == Some(self.ag_desired.as_str()),
                    active_site: primary,
                    phase: Some("Steady".into()),
                    confirmation: self.ag_confirmation.clone(),
                    sites: SITES.iter().map(|s| s.to_string()).collect(),
                    problem: None,
                },
            );
        }
        if let Some(p) = &self.pool {
            let moving = p.left.is_some() || p.confirmation.is_some();
            o.children.insert(
                ChildKind::PersistentChatPool.key(&p.name),
                ChildObs {
                    kind: ChildKind::PersistentChatPool,
                    found: true,
                    desired_site: Some(p.desired.clone()),
                    // The pool reports no active site mid-runbook or when its database's site is down.
                    active_site: (!moving && !self.down.contains(&p.at)).then(|| p.at.clone()),
                    settled: !moving && p.at == p.desired,
                    phase: Some(
                        if p.confirmation.is_some() {
                            "AwaitingConfirmation"
                        } else if moving {
                            "Switchover"
                        } else {
                            "Steady"
                        }
                        .into(),
                    ),
                    confirmation: p.confirmation.clone(),
                    sites: SITES.iter().map(|s| s.to_string()).collect(),
                    problem: None,
                },
            );
        }
        o
    }

    /// One reconcile: plan, run every due action, then let the world move one tick.
    pub fn step(&mut self) -> Plan {
        let observed = self.observe();
        // A new nonce every pass, as the controller draws one.
        let nonce = format!("nonce-{}", self.tick);
        let p = plan(&Input {
            spec: &self.spec,
            name: "cc",
            observed: &observed,
            journal: &self.journal,
            now: self.now(),
            site_lost_token: self.confirm_token.as_deref(),
            site_lost_by: Some("tester"),
            tokens: crate::plan::confirm::Tokens {
                nonce: &nonce,
                ttl: crate::plan::confirm::DEFAULT_TTL,
            },
        });
        self.journal = p.journal.clone();
        for a in &p.actions {
            self.apply(a);
            super::record_executed(&mut self.journal, a);
            self.log.push(Ran {
                tick: self.tick,
                action: a.clone(),
            });
        }
        self.advance();
        self.last = Some(p.clone());
        p
    }

    fn apply(&mut self, a: &Action) {
        match a {
            Action::Scale {
                component,
                site,
                replicas,
                ..
            } => {
                assert!(!self.down.contains(site), "acted on an unreachable site: {a:?}");
                let t = self
                    .truth
                    .get_mut(&(component.clone(), site.clone()))
                    .expect("declared");
                t.desired = *replicas;
                if *replicas == 0 {
                    t.ready = 0;
                }
            }
            Action::RunHook {
                component,
                site,
                action,
                run,
            } => {
                assert!(!self.down.contains(site), "acted on an unreachable site: {a:?}");
                let fails = self.failing.contains(&(component.clone(), site.clone(), *action));
                self.jobs
                    .entry((component.clone(), site.clone(), *action, run.clone()))
                    .or_insert((1, fails));
            }
            Action::MoveChild {
                kind: ChildKind::AvailabilityGroup,
                site,
                ..
            } => self.ag_desired = site.clone(),
            Action::MoveChild {
                kind: ChildKind::PersistentChatPool,
                name,
                site,
            } => {
                let pool = self.pool.as_mut().expect("the spec lists a pool");
                assert_eq!(&pool.name, name);
                pool.desired = site.clone();
            }
        }
    }

    fn advance(&mut self) {
        self.tick += 1;
        for ((_, s), t) in self.truth.iter_mut() {
            if self.down.contains(s) {
                continue;
            }
            t.current = t.desired;
            t.ready = t.desired;
        }
        let mut finished = Vec::new();
        for ((c, s, action, _), (left, fails)) in self.jobs.iter_mut() {
            if self.down.contains(s) || *left == 0 {
                continue;
            }
            *left -= 1;
            if *left == 0 && !*fails {
                finished.push((c.clone(), s.clone(), *action));
            }
        }
        for (c, s, action) in finished {
            if let Some(t) = self.truth.get_mut(&(c, s)) {
                t.alive = action == HookAction::Start;
            }
        }
        // The AG follows its desired site when it may: a reachable old primary switches over; an
        // unreachable one waits for the data-loss confirmation (given by `confirm_loss`).
        if self.ag_primary.as_deref() != Some(self.ag_desired.as_str()) && !self.down.contains(&self.ag_desired) {
            let old_down = self.ag_primary.as_ref().is_none_or(|p| self.down.contains(p));
            if old_down {
                if self.ag_confirmation.is_none() {
                    self.ag_confirmation = Some("kubectl annotate sqlag ag1 drover.dev/confirm-data-loss=t".into());
                }
            } else {
                self.ag_primary = Some(self.ag_desired.clone());
            }
        }
        // The pool runs its own runbook over `ticks`; with its old site down it asks for a
        // confirmation first (given by `confirm_pool_loss`).
        let tick = self.tick;
        if let Some(p) = &mut self.pool {
            if p.at == p.desired {
                p.left = None;
            } else if !self.down.contains(&p.desired) {
                if self.down.contains(&p.at) {
                    if p.confirmation.is_none() {
                        p.confirmation = Some(format!(
                            "kubectl annotate pchat {} drover.dev/confirm-data-loss=t",
                            p.name
                        ));
                    }
                } else {
                    let left = p.left.unwrap_or(p.ticks).saturating_sub(1);
                    if left == 0 {
                        p.at = p.desired.clone();
                        p.left = None;
                        p.moved_at = Some(tick);
                    } else {
                        p.left = Some(left);
                    }
                }
            }
        }
    }

    /// A person confirms the pool's data loss; its failover finishes.
    pub fn confirm_pool_loss(&mut self) {
        let p = self.pool.as_mut().expect("the spec lists a pool");
        assert!(p.confirmation.take().is_some(), "no confirmation was asked for");
        p.at = p.desired.clone();
        p.moved_at = Some(self.tick);
    }

    /// A person confirms the AG's data loss; the forced failover happens.
    pub fn confirm_loss(&mut self) {
        assert!(self.ag_confirmation.take().is_some(), "no confirmation was asked for");
        self.ag_primary = Some(self.ag_desired.clone());
    }

    /// Steps until no action is due and the plan is not busy, at most `limit` times.
    pub fn settle(&mut self, limit: u32) -> Plan {
        for _ in 0..limit {
            let p = self.step();
            if p.actions.is_empty() && !p.busy {
                return p;
            }
        }
        panic!(
            "did not settle in {limit} steps; last plan: {:#?}",
            self.last.as_ref().map(|p| (&p.phase, &p.steps))
        );
    }

    /// The actions run, as `verb component@site` / `move Kind/name@site`.
    pub fn script(&self) -> Vec<String> {
        self.log
            .iter()
            .map(|r| match &r.action {
                Action::Scale {
                    component,
                    site,
                    replicas,
                    ..
                } => format!("{} {component}@{site}", if *replicas == 0 { "stop" } else { "start" }),
                Action::RunHook {
                    component,
                    site,
                    action,
                    ..
                } => format!("{} {component}@{site}", action.as_str()),
                Action::MoveChild { kind, name, site } => format!("move {}@{site}", kind.key(name)),
            })
            .collect()
    }
}

/// The contact-center shape of runbook A.
pub(super) fn contact_center() -> Vec<Comp> {
    let mut confserv = comp("master-confserv", Placement::ActiveSite, &[]);
    confserv.needs_ag = true;
    vec![
        confserv,
        comp("master-scs", Placement::ActiveSite, &["master-confserv"]),
        comp("message-server", Placement::ActiveSite, &["master-scs"]),
        comp("scs", Placement::EverySite, &["message-server"]),
        comp("proxy", Placement::EverySite, &["scs"]),
        comp("stat-server", Placement::ActiveSite, &["proxy"]),
    ]
}
