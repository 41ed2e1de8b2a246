//! Planner tests against a tiny pure world: workloads that become ready one
//! tick after they are scaled, servers that start one tick after their hook
//! Job, and one availability group per child that moves one tick after its
//! desired site changes (unless its primary's site is down).

mod properties;
mod scenarios;

use super::{Action, ChildObs, Input, Instance, Journal, Observed, Plan, plan};
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
    /// Nothing running; the AG's primary at `ag_at`.
    pub fn new(spec: DrSiteSpec, ag_at: &str) -> Self {
        let mut truth = BTreeMap::new();
        for c in &spec.components {
            for s in SITES {
                truth.insert((c.name.clone(), s.to_string()), Truth::default());
            }
        }
        Self {
            spec,
            truth,
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
                "ag1".into(),
                ChildObs {
                    kind: "AvailabilityGroup",
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
        o
    }

    /// One reconcile: plan, run every due action, then let the world move one tick.
    pub fn step(&mut self) -> Plan {
        let observed = self.observe();
        let p = plan(&Input {
            spec: &self.spec,
            name: "cc",
            observed: &observed,
            journal: &self.journal,
            now: self.now(),
            site_lost_token: self.confirm_token.as_deref(),
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
            Action::MoveChild { site, .. } => self.ag_desired = site.clone(),
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

    /// The actions run, as `verb component@site` / `move ag1@site`.
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
                Action::MoveChild { name, site } => format!("move {name}@{site}"),
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
