//! Simulated sites: the Kubernetes side of every site (workloads, hook Jobs)
//! and the servers outside Kubernetes that hooks start and stop, in memory.
//! Scenario tests, benchmarks and `drover demo` run the real DrSite reconcile
//! against it; invariant checks read its ground truth ([`MemorySites::instance`])
//! and its journal ([`MemorySites::actions`]).
//!
//! The timing model, all on `tokio::time::Instant` so tests on a paused clock
//! are deterministic:
//! - A workload scaled up at `t` has its new pods at once (`current`), ready at
//!   `t + start latency`. Scaled down, the removed pods stop being ready at
//!   once and are gone at `t + stop latency`. Status is always up to date.
//! - `crash`: no pod is ready until `recover`; `hang`: pods not ready when it
//!   hangs (or started while hung) never become ready until `recover`. After
//!   `recover` the affected pods restart: ready a start latency later.
//! - A hook Job finishes a hook latency after it is created: Failed if a
//!   failure was injected for its (site, component, action) with
//!   [`MemorySites::fail_hook`], else Succeeded, and then the server named by
//!   its labels starts (alive a start latency later) or stops (its probe fails
//!   at once; gone a stop latency later). Deleting a Job before it finishes
//!   cancels its effect.
//! - An unreachable site answers every call with [`PortError::Unreachable`];
//!   a probe of one of its servers times out (after the probe's timeout).
//!   What runs there keeps running: unreachable is not stopped.

use super::tenancy::{Target, allow_label};
use super::{
    HookAction, HookJob, JobPhase, LABEL_ACTION, LABEL_COMPONENT, LABEL_DRSITE, LABEL_RUN, LABEL_SITE, SiteAccess,
    Sites, WorkloadObs,
};
use crate::api::dr_site::{DrSiteSpec, Probe, WorkloadKind};
use crate::controller::PortError;
use k8s_openapi::api::batch::v1::Job;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long simulated components take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latencies {
    /// From scale-up (or a start hook's success) to ready.
    pub start: Duration,
    /// From scale-down (or a stop hook's success) to no process left.
    pub stop: Duration,
    /// From a hook Job's creation to its completion.
    pub hook: Duration,
    /// `(start, stop)` of particular components, by name.
    pub per_component: BTreeMap<String, (Duration, Duration)>,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            start: Duration::from_secs(5),
            stop: Duration::from_secs(2),
            hook: Duration::from_secs(3),
            per_component: BTreeMap::new(),
        }
    }
}

impl Latencies {
    /// `(start, stop)` of `component`.
    pub fn of(&self, component: &str) -> (Duration, Duration) {
        self.per_component
            .get(component)
            .copied()
            .unwrap_or((self.start, self.stop))
    }
}

/// Something done to a site through [`Sites`], as the journal records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteAction {
    /// A workload's `spec.replicas` set (recorded even when unchanged: the request was made).
    Scaled {
        site: String,
        kind: WorkloadKind,
        name: String,
        replicas: i32,
    },
    /// A hook Job created (not recorded when it already existed). `component` and `action` come
    /// from its labels (empty / `None` when they are missing).
    JobCreated {
        site: String,
        component: String,
        action: Option<HookAction>,
        name: String,
    },
}

/// A component's processes at one site, as they really are (not as drover observes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Instance {
    /// Pods that exist, terminating ones included; for a server outside Kubernetes 1 while it
    /// is starting, running or stopping.
    pub existing: i32,
    /// Ready pods; for a server outside Kubernetes 1 while it answers its probe.
    pub ready: i32,
}

impl Instance {
    /// Any process of it exists: what "never at two sites at once" is about.
    pub fn running(&self) -> bool {
        self.existing > 0
    }
}

/// A group of pods started (or stopped) together.
#[derive(Debug, Clone, Copy)]
struct Cohort {
    count: i32,
    ready_at: Instant,
    /// Terminating: no longer ready, gone at this instant.
    gone_at: Option<Instant>,
}

/// The pods of a workload, or the one process of a server outside Kubernetes.
#[derive(Debug, Clone)]
struct Pods {
    start: Duration,
    stop: Duration,
    cohorts: Vec<Cohort>,
    crashed: bool,
    hung_since: Option<Instant>,
}

impl Pods {
    fn new(start: Duration, stop: Duration) -> Self {
        Self {
            start,
            stop,
            cohorts: Vec::new(),
            crashed: false,
            hung_since: None,
        }
    }

    fn live(&self) -> impl Iterator<Item = &Cohort> {
        self.cohorts.iter().filter(|c| c.gone_at.is_none())
    }

    /// `spec.replicas`.
    fn desired(&self) -> i32 {
        self.live().map(|c| c.count).sum()
    }

    fn existing(&self, now: Instant) -> i32 {
        self.cohorts
            .iter()
            .filter(|c| c.gone_at.is_none_or(|g| now < g))
            .map(|c| c.count)
            .sum()
    }

    fn ready(&self, now: Instant) -> i32 {
        if self.crashed {
            return 0;
        }
        self.live()
            .filter(|c| c.ready_at <= now && self.hung_since.is_none_or(|h| c.ready_at <= h))
            .map(|c| c.count)
            .sum()
    }

    /// Sets the replica count at `at`: new pods start, the newest surplus pods terminate.
    fn scale(&mut self, replicas: i32, at: Instant) {
        self.cohorts.retain(|c| c.gone_at.is_none_or(|g| g > at));
        let live = self.desired();
        if replicas > live {
            self.cohorts.push(Cohort {
                count: replicas - live,
                ready_at: at + self.start,
                gone_at: None,
            });
            return;
        }
        let mut surplus = live - replicas;
        let mut terminating = Vec::new();
        for c in self.cohorts.iter_mut().rev().filter(|c| c.gone_at.is_none()) {
            if surplus == 0 {
                break;
            }
            let take = surplus.min(c.count);
            c.count -= take;
            surplus -= take;
            terminating.push(Cohort {
                count: take,
                ready_at: c.ready_at,
                gone_at: Some(at + self.stop),
            });
        }
        self.cohorts.retain(|c| c.count > 0);
        self.cohorts.extend(terminating);
    }

    /// Ends the faults at `now`: the pods they kept from being ready restart.
    fn recover(&mut self, now: Instant) {
        let restart = now + self.start;
        let (crashed, hung_since) = (self.crashed, self.hung_since);
        for c in self.cohorts.iter_mut().filter(|c| c.gone_at.is_none()) {
            if crashed || hung_since.is_some_and(|h| c.ready_at > h) {
                c.ready_at = c.ready_at.max(restart);
            }
        }
        self.crashed = false;
        self.hung_since = None;
    }

    fn instance(&self, now: Instant) -> Instance {
        Instance {
            existing: self.existing(now),
            ready: self.ready(now),
        }
    }
}

#[derive(Debug)]
struct Workload {
    component: String,
    pods: Pods,
}

/// A server outside Kubernetes: at most one process.
#[derive(Debug)]
struct External {
    site: String,
    component: String,
    host: String,
    port: u16,
    process: Pods,
}

#[derive(Debug)]
struct JobRecord {
    job: Job,
    /// Creation order across all sites.
    seq: u64,
    finishes_at: Instant,
    /// `Succeeded` or `Failed`: decided when it is created.
    outcome: JobPhase,
    /// Its effect on the server was applied.
    applied: bool,
}

#[derive(Debug)]
struct Site {
    namespace: String,
    reachable: bool,
    workloads: BTreeMap<(WorkloadKind, String), Workload>,
    jobs: BTreeMap<String, JobRecord>,
}

#[derive(Debug, Default)]
struct State {
    sites: BTreeMap<String, Site>,
    externals: Vec<External>,
    hook_latency: Duration,
    /// Failures still to inject, by (site, component, action).
    hook_faults: BTreeMap<(String, String, HookAction), u32>,
    journal: Vec<(Instant, SiteAction)>,
    calls: BTreeMap<&'static str, u64>,
    job_seq: u64,
    /// Injected API errors: the next calls of a method that fail, with the error each returns.
    api_faults: BTreeMap<&'static str, (u32, PortError)>,
    /// The operator cluster's namespaces and their labels, once a test models them
    /// ([`MemorySites::label_namespace`]). `None`: not modelled, and every namespace is one an
    /// administrator allowed for every DrSite (the demo's and most tests' simulated cluster).
    namespaces: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

/// The [`Sites`] methods that call a site's API server, which [`MemorySites::fail_next`] can fail.
pub const API_CALLS: [&str; 4] = ["workload", "scale", "hook_jobs", "create_job"];

/// The message of a Job that failed for good, as its Failed condition says it.
pub const HOOK_FAILURE: &str = "BackoffLimitExceeded: Job has reached the specified backoff limit";

fn kind_name(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "Deployment",
        WorkloadKind::StatefulSet => "StatefulSet",
    }
}

fn label<'a>(job: &'a Job, key: &str) -> Option<&'a str> {
    job.metadata.labels.as_ref()?.get(key).map(String::as_str)
}

/// A label value as the API server accepts it.
fn is_label_value(v: &str) -> bool {
    v.is_empty()
        || (v.len() <= 63
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// What the API server refuses in a Job drover creates; `None` when it is accepted.
fn invalid_job(job: &Job, name: &str) -> Option<String> {
    // A DNS subdomain, and at most 63 characters: the name becomes a label value of its pods.
    let name_ok = name.len() <= 63
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    if !name_ok {
        return Some(format!(
            "metadata.name: Invalid value: {name:?}: a lowercase RFC 1123 subdomain of at most 63 characters"
        ));
    }
    for (k, v) in job.metadata.labels.iter().flatten() {
        if !is_label_value(v) {
            return Some(format!(
                "metadata.labels: Invalid value: {v:?}: not a valid label value for {k}"
            ));
        }
    }
    let Some(pod) = job.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        return Some("spec.template.spec: Required value".into());
    };
    if pod.containers.is_empty() {
        return Some("spec.template.spec.containers: Required value".into());
    }
    match pod.restart_policy.as_deref() {
        Some("Never" | "OnFailure") => None,
        other => Some(format!(
            "spec.template.spec.restartPolicy: Unsupported value: {:?}: supported values: \"OnFailure\", \"Never\"",
            other.unwrap_or("Always")
        )),
    }
}

impl State {
    fn count(&mut self, method: &'static str) {
        *self.calls.entry(method).or_default() += 1;
    }

    /// Counts a call of `method` and takes one injected API error for it, if any is pending.
    fn call(&mut self, method: &'static str) -> Result<(), PortError> {
        self.count(method);
        let Some((left, error)) = self.api_faults.get_mut(method) else {
            return Ok(());
        };
        let error = error.clone();
        *left -= 1;
        if *left == 0 {
            self.api_faults.remove(method);
        }
        Err(error)
    }

    /// The site `at` names, when it can be reached.
    fn reach(&mut self, at: &SiteAccess) -> Result<&mut Site, PortError> {
        let site = self
            .sites
            .get_mut(&at.site)
            .ok_or_else(|| PortError::Api(format!("site {:?} is not simulated", at.site)))?;
        if !site.reachable {
            return Err(PortError::Unreachable(format!(
                "site {}: dial tcp: i/o timeout",
                at.site
            )));
        }
        Ok(site)
    }

    /// Applies the effects of hook Jobs that finished by `now`, in the order they finished.
    fn advance(&mut self, now: Instant) {
        let mut due: Vec<(Instant, u64, String, String)> = self
            .sites
            .iter()
            .flat_map(|(site, s)| {
                s.jobs
                    .iter()
                    .filter(|(_, j)| !j.applied && j.finishes_at <= now)
                    .map(|(name, j)| (j.finishes_at, j.seq, site.clone(), name.clone()))
            })
            .collect();
        due.sort();
        for (finished, _, site, name) in due {
            let Some(job) = self.sites.get_mut(&site).and_then(|s| s.jobs.get_mut(&name)) else {
                continue;
            };
            job.applied = true;
            if job.outcome != JobPhase::Succeeded {
                continue;
            }
            let target = (
                label(&job.job, LABEL_SITE).map(str::to_string),
                label(&job.job, LABEL_COMPONENT).map(str::to_string),
                label(&job.job, LABEL_ACTION).and_then(HookAction::parse),
            );
            let (Some(target_site), Some(component), Some(action)) = target else {
                continue;
            };
            if let Some(server) = self
                .externals
                .iter_mut()
                .find(|e| e.site == target_site && e.component == component)
            {
                let replicas = match action {
                    HookAction::Start => 1,
                    HookAction::Stop => 0,
                };
                server.process.scale(replicas, finished);
            }
        }
    }

    fn workload_mut(&mut self, site: &str, kind: WorkloadKind, name: &str) -> Option<&mut Workload> {
        self.sites.get_mut(site)?.workloads.get_mut(&(kind, name.to_string()))
    }
}

/// Every site's workloads, hook Jobs and outside servers, in memory. See the module docs.
#[derive(Debug)]
pub struct MemorySites {
    state: Mutex<State>,
}

impl Default for MemorySites {
    fn default() -> Self {
        Self::new(Latencies::default().hook)
    }
}

impl MemorySites {
    /// No sites yet; hook Jobs take `hook_latency`.
    pub fn new(hook_latency: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                hook_latency,
                ..State::default()
            }),
        }
    }

    /// Every site of `spec`, every workload it declares (scaled to 0) and every server outside
    /// Kubernetes its hooks start (not running, reached at its probe's host and port).
    /// Components at sites the spec does not list are left out.
    pub fn for_spec(spec: &DrSiteSpec, latencies: &Latencies) -> Self {
        let sites = Self::new(latencies.hook);
        for site in &spec.sites {
            sites.add_site(&site.name, &site.namespace);
        }
        for c in &spec.components {
            let (start, stop) = latencies.of(&c.name);
            for at in c.sites.iter().filter(|s| spec.site(&s.site).is_some()) {
                if let Some(w) = &at.workload {
                    sites.add_workload(&at.site, &c.name, w.kind, &w.name, start, stop);
                }
                let target = at.hooks.as_ref().and_then(|h| {
                    h.probe
                        .tcp
                        .as_ref()
                        .map(|t| (&t.host, t.port))
                        .or(h.probe.http.as_ref().map(|t| (&t.host, t.port)))
                });
                if let Some((host, port)) = target {
                    sites.add_external(&at.site, &c.name, host, port, start, stop);
                }
            }
        }
        sites
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        let mut state = crate::sync::lock(&self.state);
        state.advance(Instant::now());
        state
    }

    /// Adds a reachable site whose objects are in `namespace` (replacing one of that name).
    pub fn add_site(&self, site: &str, namespace: &str) {
        self.lock().sites.insert(
            site.into(),
            Site {
                namespace: namespace.into(),
                reachable: true,
                workloads: BTreeMap::new(),
                jobs: BTreeMap::new(),
            },
        );
    }

    /// Cuts the site off from the operator (or reconnects it); what runs there keeps running.
    /// `false` when there is no such site.
    pub fn set_reachable(&self, site: &str, reachable: bool) -> bool {
        self.lock()
            .sites
            .get_mut(site)
            .map(|s| s.reachable = reachable)
            .is_some()
    }

    /// Adds a workload of `component`, scaled to 0, at an existing site (`false` if none).
    pub fn add_workload(
        &self,
        site: &str,
        component: &str,
        kind: WorkloadKind,
        name: &str,
        start_latency: Duration,
        stop_latency: Duration,
    ) -> bool {
        let mut state = self.lock();
        let Some(s) = state.sites.get_mut(site) else {
            return false;
        };
        s.workloads.insert(
            (kind, name.into()),
            Workload {
                component: component.into(),
                pods: Pods::new(start_latency, stop_latency),
            },
        );
        true
    }

    /// Adds a server outside Kubernetes for `component` at an existing site (`false` if none),
    /// not running, reached at `host:port`; start hooks make it alive `start_latency` after
    /// they succeed.
    pub fn add_external(
        &self,
        site: &str,
        component: &str,
        host: &str,
        port: u16,
        start_latency: Duration,
        stop_latency: Duration,
    ) -> bool {
        let mut state = self.lock();
        if !state.sites.contains_key(site) {
            return false;
        }
        state
            .externals
            .retain(|e| !(e.site == site && e.component == component));
        state.externals.push(External {
            site: site.into(),
            component: component.into(),
            host: host.into(),
            port,
            process: Pods::new(start_latency, stop_latency),
        });
        true
    }

    /// The workload's pods crash: none is ready until [`recover`](Self::recover). `false` when
    /// there is no such workload.
    pub fn crash(&self, site: &str, kind: WorkloadKind, name: &str) -> bool {
        self.lock()
            .workload_mut(site, kind, name)
            .map(|w| w.pods.crashed = true)
            .is_some()
    }

    /// The workload's pods hang on start: those not ready now, and those started later, do not
    /// become ready until [`recover`](Self::recover). `false` when there is no such workload.
    pub fn hang(&self, site: &str, kind: WorkloadKind, name: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .workload_mut(site, kind, name)
            .map(|w| {
                w.pods.hung_since.get_or_insert(now);
            })
            .is_some()
    }

    /// Ends a crash or hang: the pods it affected restart and are ready a start latency from now.
    pub fn recover(&self, site: &str, kind: WorkloadKind, name: &str) -> bool {
        let now = Instant::now();
        self.lock()
            .workload_mut(site, kind, name)
            .map(|w| w.pods.recover(now))
            .is_some()
    }

    /// A server outside Kubernetes dies at once; only a start hook brings it back. `false` when
    /// there is no such server.
    pub fn crash_external(&self, site: &str, component: &str) -> bool {
        self.lock()
            .externals
            .iter_mut()
            .find(|e| e.site == site && e.component == component)
            .map(|e| e.process.cohorts.clear())
            .is_some()
    }

    /// The next `times` hook Jobs created for (`site`, `component`, `action`) fail ([`HOOK_FAILURE`])
    /// and leave the server as it was; `u32::MAX` makes it fail until cleared with `times == 0`.
    pub fn fail_hook(&self, site: &str, component: &str, action: HookAction, times: u32) {
        let key = (site.to_string(), component.to_string(), action);
        let mut state = self.lock();
        if times == 0 {
            state.hook_faults.remove(&key);
        } else {
            state.hook_faults.insert(key, times);
        }
    }

    /// Makes the next `times` calls of the [`Sites`] method `method` (one of [`API_CALLS`]) at any
    /// site return `error`, as a site's API server that refuses (409, 500) or throttles (429)
    /// would. `times == 0` clears it; an unknown name is ignored (a debug build asserts).
    pub fn fail_next(&self, method: &str, times: u32, error: PortError) {
        let Some(&method) = API_CALLS.iter().find(|&&c| c == method) else {
            debug_assert!(false, "MemorySites has no API call {method:?}; known: {API_CALLS:?}");
            return;
        };
        let mut state = self.lock();
        if times == 0 {
            state.api_faults.remove(method);
        } else {
            state.api_faults.insert(method, (times, error));
        }
    }

    /// Deletes a Job (as a person retrying a failed hook does); one not finished yet has no
    /// effect. `false` when there is no such Job.
    pub fn delete_job(&self, site: &str, name: &str) -> bool {
        self.lock()
            .sites
            .get_mut(site)
            .and_then(|s| s.jobs.remove(name))
            .is_some()
    }

    /// The names of the Jobs at `site` that have failed by now, oldest first (what a person
    /// about to retry a hook looks for).
    pub fn failed_jobs(&self, site: &str) -> Vec<String> {
        let now = Instant::now();
        let state = self.lock();
        let Some(s) = state.sites.get(site) else {
            return Vec::new();
        };
        let mut failed: Vec<(u64, String)> = s
            .jobs
            .iter()
            .filter(|(_, j)| j.finishes_at <= now && matches!(j.outcome, JobPhase::Failed(_)))
            .map(|(name, j)| (j.seq, name.clone()))
            .collect();
        failed.sort();
        failed.into_iter().map(|(_, name)| name).collect()
    }

    /// A Job as it was created, for checking what drover put in it.
    pub fn job(&self, site: &str, name: &str) -> Option<Job> {
        self.lock().sites.get(site)?.jobs.get(name).map(|j| j.job.clone())
    }

    /// Everything done through [`Sites`], in order, with when.
    pub fn actions(&self) -> Vec<(Instant, SiteAction)> {
        self.lock().journal.clone()
    }

    /// The ground truth of `component` at `site` now: its workload's pods or its outside server.
    /// `None` when the component has nothing declared there.
    pub fn instance(&self, site: &str, component: &str) -> Option<Instance> {
        let now = Instant::now();
        let state = self.lock();
        let workload = state
            .sites
            .get(site)?
            .workloads
            .values()
            .find(|w| w.component == component)
            .map(|w| w.pods.instance(now));
        workload.or_else(|| {
            state
                .externals
                .iter()
                .find(|e| e.site == site && e.component == component)
                .map(|e| e.process.instance(now))
        })
    }

    /// How many times the [`Sites`] method `method` was called (failed calls included): the API
    /// requests (and probes) a controller makes.
    pub fn calls(&self, method: &str) -> u64 {
        self.lock()
            .calls
            .iter()
            .find(|(m, _)| **m == method)
            .map_or(0, |(_, n)| *n)
    }

    /// Models the operator cluster's namespaces from now on (see [`Sites::namespace_labels`]):
    /// `namespace` exists with label `key=value` (added to its others); a namespace never labelled
    /// or created with [`MemorySites::create_namespace`] does not exist.
    pub fn label_namespace(&self, namespace: &str, key: &str, value: &str) {
        self.lock()
            .namespaces
            .get_or_insert_with(BTreeMap::new)
            .entry(namespace.into())
            .or_default()
            .insert(key.into(), value.into());
    }

    /// Models the operator cluster's namespaces from now on: `namespace` exists (without labels
    /// unless it had some).
    pub fn create_namespace(&self, namespace: &str) {
        self.lock()
            .namespaces
            .get_or_insert_with(BTreeMap::new)
            .entry(namespace.into())
            .or_default();
    }

    /// All [`Sites`] calls made.
    pub fn total_calls(&self) -> u64 {
        self.lock().calls.values().sum()
    }
}

impl Sites for MemorySites {
    async fn namespace_labels(&self, namespace: &str, from: &str) -> Result<Target, PortError> {
        let mut state = self.lock();
        state.call("namespace_labels")?;
        Ok(match &state.namespaces {
            None => Target::Labels(BTreeMap::from([(allow_label(from), "true".to_string())])),
            Some(modelled) => modelled
                .get(namespace)
                .map_or(Target::Missing, |labels| Target::Labels(labels.clone())),
        })
    }

    async fn workload(
        &self,
        at: &SiteAccess,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<WorkloadObs>, PortError> {
        let now = Instant::now();
        let mut state = self.lock();
        state.call("workload")?;
        let site = state.reach(at)?;
        if site.namespace != at.namespace {
            return Ok(None);
        }
        Ok(site.workloads.get(&(kind, name.to_string())).map(|w| WorkloadObs {
            desired: w.pods.desired(),
            ready: w.pods.ready(now),
            current: w.pods.existing(now),
            up_to_date: true,
        }))
    }

    async fn scale(&self, at: &SiteAccess, kind: WorkloadKind, name: &str, replicas: i32) -> Result<(), PortError> {
        let now = Instant::now();
        let mut state = self.lock();
        state.call("scale")?;
        let site = state.reach(at)?;
        if replicas < 0 {
            return Err(PortError::Api(format!(
                "{} {name:?} is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0",
                kind_name(kind)
            )));
        }
        let workload = (site.namespace == at.namespace)
            .then(|| site.workloads.get_mut(&(kind, name.to_string())))
            .flatten()
            .ok_or_else(|| PortError::NotFound {
                kind: kind_name(kind),
                namespace: at.namespace.clone(),
                name: name.into(),
            })?;
        workload.pods.scale(replicas, now);
        state.journal.push((
            now,
            SiteAction::Scaled {
                site: at.site.clone(),
                kind,
                name: name.into(),
                replicas,
            },
        ));
        Ok(())
    }

    async fn hook_jobs(&self, at: &SiteAccess, drsite: &str) -> Result<Vec<HookJob>, PortError> {
        let now = Instant::now();
        let mut state = self.lock();
        state.call("hook_jobs")?;
        let site = state.reach(at)?;
        if site.namespace != at.namespace {
            return Ok(Vec::new());
        }
        let mut jobs: Vec<&JobRecord> = site
            .jobs
            .values()
            .filter(|j| label(&j.job, LABEL_DRSITE) == Some(drsite))
            .collect();
        jobs.sort_by_key(|j| j.seq);
        Ok(jobs
            .into_iter()
            .filter_map(|j| {
                Some(HookJob {
                    owner_uid: crate::components::jobs::owner_uid(&j.job).map(str::to_string),
                    name: j.job.metadata.name.clone()?,
                    component: label(&j.job, LABEL_COMPONENT)?.into(),
                    site: label(&j.job, LABEL_SITE)?.into(),
                    action: HookAction::parse(label(&j.job, LABEL_ACTION)?)?,
                    run: label(&j.job, LABEL_RUN)?.into(),
                    phase: if now < j.finishes_at {
                        JobPhase::Running
                    } else {
                        j.outcome.clone()
                    },
                })
            })
            .collect())
    }

    async fn create_job(&self, at: &SiteAccess, job: &Job) -> Result<(), PortError> {
        let now = Instant::now();
        let mut state = self.lock();
        state.call("create_job")?;
        let hook_latency = state.hook_latency;
        let site = state.reach(at)?;
        if site.namespace != at.namespace {
            return Err(PortError::NotFound {
                kind: "Namespace",
                namespace: at.namespace.clone(),
                name: at.namespace.clone(),
            });
        }
        let Some(name) = job.metadata.name.clone() else {
            return Err(PortError::Api(
                "Job.batch is invalid: metadata.name: Required value".into(),
            ));
        };
        if job.metadata.namespace.as_ref().is_some_and(|ns| *ns != at.namespace) {
            return Err(PortError::Api(
                "the namespace of the provided object does not match the namespace sent on the request".into(),
            ));
        }
        if let Some(existing) = site.jobs.get(&name) {
            // Its name is deterministic: the Job created by an earlier pass, if it is drover's
            // for the same object; anyone else's Job of that name is not taken for it.
            return if crate::components::jobs::owner_uid(&existing.job) == crate::components::jobs::owner_uid(job) {
                Ok(())
            } else {
                Err(PortError::Api(crate::components::jobs::not_ours(&at.namespace, &name)))
            };
        }
        if let Some(why) = invalid_job(job, &name) {
            return Err(PortError::Api(format!("Job.batch {name:?} is invalid: {why}")));
        }
        let component = label(job, LABEL_COMPONENT).unwrap_or_default().to_string();
        let action = label(job, LABEL_ACTION).and_then(HookAction::parse);
        let target_site = label(job, LABEL_SITE).unwrap_or_default().to_string();
        let fails = action.is_some_and(|action| {
            let key = (target_site, component.clone(), action);
            match state.hook_faults.get_mut(&key) {
                Some(left) => {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        state.hook_faults.remove(&key);
                    }
                    true
                }
                None => false,
            }
        });
        state.job_seq += 1;
        let seq = state.job_seq;
        let mut stored = job.clone();
        stored.metadata.namespace = Some(at.namespace.clone());
        let record = JobRecord {
            job: stored,
            seq,
            finishes_at: now + hook_latency,
            outcome: if fails {
                JobPhase::Failed(HOOK_FAILURE.into())
            } else {
                JobPhase::Succeeded
            },
            applied: false,
        };
        if let Some(site) = state.sites.get_mut(&at.site) {
            site.jobs.insert(name.clone(), record);
        }
        state.journal.push((
            now,
            SiteAction::JobCreated {
                site: at.site.clone(),
                component,
                action,
                name,
            },
        ));
        Ok(())
    }

    async fn probe(&self, probe: &Probe) -> Result<(), String> {
        let target = probe
            .tcp
            .as_ref()
            .map(|t| (t.host.clone(), t.port))
            .or_else(|| probe.http.as_ref().map(|h| (h.host.clone(), h.port)));
        let Some((host, port)) = target else {
            return Err("the probe has neither tcp nor http".into());
        };
        let now = Instant::now();
        let answer = {
            let mut state = self.lock();
            state.count("probe");
            let server = state.externals.iter().find(|e| e.host == host && e.port == port);
            match server {
                None => Some(false),
                Some(s) if !state.sites.get(&s.site).is_some_and(|site| site.reachable) => None,
                Some(s) => Some(s.process.ready(now) > 0),
            }
        };
        match answer {
            Some(true) => Ok(()),
            Some(false) => Err(format!("dial tcp {host}:{port}: connection refused")),
            None => {
                // Partitioned away: nothing answers, the probe waits out its timeout.
                let timeout = Duration::from_secs(u64::from(probe.timeout_seconds));
                tokio::time::sleep(timeout).await;
                Err(format!("dial tcp {host}:{port}: i/o timeout after {timeout:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dr_site::fixtures;
    use crate::components::{LABEL_ACTION, LABEL_COMPONENT, LABEL_DRSITE, LABEL_RUN, LABEL_SITE};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use tokio::time::{advance, sleep};

    const MS: Duration = Duration::from_millis(1);
    const START: Duration = Duration::from_secs(5);
    const STOP: Duration = Duration::from_secs(2);
    const HOOK: Duration = Duration::from_secs(3);

    fn access(site: &str) -> SiteAccess {
        let namespace = fixtures::SITES
            .iter()
            .find(|(s, _)| *s == site)
            .map_or("", |(_, ns)| ns);
        SiteAccess {
            site: site.into(),
            namespace: namespace.into(),
            kubeconfig: None,
            home_namespace: "dr".into(),
        }
    }

    /// The fixture's sites: `db-app` (Deployment), `proxy` (StatefulSet), `legacy` (hooks).
    fn world() -> MemorySites {
        let latencies = Latencies {
            start: START,
            stop: STOP,
            hook: HOOK,
            per_component: BTreeMap::new(),
        };
        MemorySites::for_spec(&fixtures::spec(), &latencies)
    }

    async fn obs(sites: &MemorySites, site: &str, name: &str) -> WorkloadObs {
        sites
            .workload(&access(site), WorkloadKind::Deployment, name)
            .await
            .unwrap()
            .unwrap()
    }

    fn hook_job(site: &str, component: &str, action: HookAction, name: &str) -> Job {
        let labels = [
            (LABEL_DRSITE, "cc"),
            (LABEL_COMPONENT, component),
            (LABEL_SITE, site),
            (LABEL_ACTION, action.as_str()),
            (LABEL_RUN, "run-1"),
        ];
        let template = fixtures::job_template(action.as_str());
        Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..ObjectMeta::default()
            },
            spec: template.spec,
            status: None,
        }
    }

    fn legacy_probe(site: &str) -> Probe {
        let spec = fixtures::spec();
        spec.component("legacy")
            .unwrap()
            .at(site)
            .unwrap()
            .hooks
            .clone()
            .unwrap()
            .probe
    }

    #[tokio::test(start_paused = true)]
    async fn for_spec_declares_everything_stopped() {
        let sites = world();
        for (site, _) in fixtures::SITES {
            for component in ["db-app", "proxy", "legacy"] {
                assert_eq!(
                    sites.instance(site, component),
                    Some(Instance::default()),
                    "{component}@{site}"
                );
            }
            assert!(obs(&sites, site, "db-app").await.stopped());
            let proxy = sites
                .workload(&access(site), WorkloadKind::StatefulSet, "proxy")
                .await
                .unwrap();
            assert!(proxy.is_some_and(|p| p.stopped()));
            assert!(sites.probe(&legacy_probe(site)).await.is_err());
        }
        assert_eq!(sites.instance("site-a", "nope"), None);
        assert_eq!(sites.instance("site-z", "db-app"), None);
        assert!(!sites.add_workload("site-z", "x", WorkloadKind::Deployment, "x", START, STOP));
        assert!(!sites.add_external("site-z", "x", "x.example", 1, START, STOP));
        assert_eq!(sites.instance("site-z", "x"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_up_workload_is_ready_after_its_start_latency() {
        let sites = world();
        sites
            .scale(&access("site-a"), WorkloadKind::Deployment, "db-app", 2)
            .await
            .unwrap();
        let o = obs(&sites, "site-a", "db-app").await;
        assert_eq!((o.desired, o.current, o.ready, o.up_to_date), (2, 2, 0, true));
        assert!(!o.running(2));
        assert_eq!(
            sites.instance("site-a", "db-app"),
            Some(Instance { existing: 2, ready: 0 })
        );

        advance(START - MS).await;
        assert_eq!(obs(&sites, "site-a", "db-app").await.ready, 0);
        advance(MS).await;
        assert!(obs(&sites, "site-a", "db-app").await.running(2));
        assert_eq!(
            sites.instance("site-a", "db-app"),
            Some(Instance { existing: 2, ready: 2 })
        );
        assert_eq!(sites.instance("site-b", "db-app"), Some(Instance::default()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_down_workload_is_unready_at_once_and_gone_after_its_stop_latency() {
        let sites = world();
        let a = access("site-a");
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 2).await.unwrap();
        advance(START).await;
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 0).await.unwrap();
        let o = obs(&sites, "site-a", "db-app").await;
        assert_eq!((o.desired, o.current, o.ready), (0, 2, 0));
        assert!(!o.stopped());
        assert!(
            sites.instance("site-a", "db-app").unwrap().running(),
            "terminating pods still run"
        );
        advance(STOP - MS).await;
        assert_eq!(obs(&sites, "site-a", "db-app").await.current, 2);
        advance(MS).await;
        assert!(obs(&sites, "site-a", "db-app").await.stopped());
        assert!(!sites.instance("site-a", "db-app").unwrap().running());
    }

    #[tokio::test(start_paused = true)]
    async fn scaling_up_keeps_ready_pods_ready_and_down_removes_the_newest() {
        let sites = world();
        let a = access("site-a");
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 2).await.unwrap();
        advance(START).await;
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 3).await.unwrap();
        let o = obs(&sites, "site-a", "db-app").await;
        assert_eq!((o.desired, o.current, o.ready), (3, 3, 2));
        // Back to 2 before the third is ready: the unready newcomer goes, the ready two stay.
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 2).await.unwrap();
        let o = obs(&sites, "site-a", "db-app").await;
        assert_eq!((o.desired, o.current, o.ready), (2, 3, 2));
        advance(STOP).await;
        assert!(obs(&sites, "site-a", "db-app").await.running(2));
        assert_eq!(obs(&sites, "site-a", "db-app").await.current, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_crashed_workload_is_unready_until_it_recovers_and_restarts() {
        let sites = world();
        let a = access("site-a");
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 2).await.unwrap();
        advance(START).await;
        assert!(sites.crash("site-a", WorkloadKind::Deployment, "db-app"));
        let o = obs(&sites, "site-a", "db-app").await;
        assert_eq!(
            (o.current, o.ready),
            (2, 0),
            "crash-looping pods exist but are not ready"
        );
        advance(Duration::from_secs(60)).await;
        assert_eq!(obs(&sites, "site-a", "db-app").await.ready, 0);

        assert!(sites.recover("site-a", WorkloadKind::Deployment, "db-app"));
        assert_eq!(obs(&sites, "site-a", "db-app").await.ready, 0, "restarting");
        advance(START).await;
        assert!(obs(&sites, "site-a", "db-app").await.running(2));
        assert!(
            !sites.crash("site-a", WorkloadKind::StatefulSet, "db-app"),
            "no such workload"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_workload_never_becomes_ready_while_hung() {
        let sites = world();
        let a = access("site-a");
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 1).await.unwrap();
        advance(START).await;
        assert!(sites.hang("site-a", WorkloadKind::Deployment, "db-app"));
        // The pod that was ready stays ready; one started while hung never gets there.
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 2).await.unwrap();
        advance(Duration::from_secs(600)).await;
        let o = obs(&sites, "site-a", "db-app").await;
        assert_eq!((o.desired, o.current, o.ready), (2, 2, 1));

        assert!(sites.recover("site-a", WorkloadKind::Deployment, "db-app"));
        advance(START - MS).await;
        assert_eq!(obs(&sites, "site-a", "db-app").await.ready, 1);
        advance(MS).await;
        assert!(obs(&sites, "site-a", "db-app").await.running(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_workload_is_none_and_cannot_be_scaled() {
        let sites = world();
        let a = access("site-a");
        assert_eq!(sites.workload(&a, WorkloadKind::Deployment, "ghost").await, Ok(None));
        assert_eq!(
            sites.scale(&a, WorkloadKind::Deployment, "ghost", 1).await,
            Err(PortError::NotFound {
                kind: "Deployment",
                namespace: "app-site-a".into(),
                name: "ghost".into(),
            })
        );
        assert!(matches!(
            sites.scale(&a, WorkloadKind::StatefulSet, "db-app", 1).await,
            Err(PortError::NotFound {
                kind: "StatefulSet",
                ..
            })
        ));
        // The right name in the wrong namespace is not there either.
        let wrong = SiteAccess {
            namespace: "elsewhere".into(),
            ..access("site-a")
        };
        assert_eq!(
            sites.workload(&wrong, WorkloadKind::Deployment, "db-app").await,
            Ok(None)
        );
        assert!(sites.scale(&a, WorkloadKind::Deployment, "db-app", -1).await.is_err());
        assert!(sites.actions().is_empty(), "nothing was done");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_site_refuses_every_call_but_keeps_running() {
        let sites = world();
        let b = access("site-b");
        sites.scale(&b, WorkloadKind::Deployment, "db-app", 2).await.unwrap();
        sites
            .create_job(&b, &hook_job("site-b", "legacy", HookAction::Start, "legacy-start-b"))
            .await
            .unwrap();
        assert!(sites.set_reachable("site-b", false));

        let unreachable = |r: Result<(), PortError>| matches!(r, Err(PortError::Unreachable(_)));
        assert!(unreachable(
            sites.workload(&b, WorkloadKind::Deployment, "db-app").await.map(drop)
        ));
        assert!(unreachable(
            sites.scale(&b, WorkloadKind::Deployment, "db-app", 0).await
        ));
        assert!(unreachable(sites.hook_jobs(&b, "cc").await.map(drop)));
        assert!(unreachable(
            sites
                .create_job(&b, &hook_job("site-b", "legacy", HookAction::Stop, "legacy-stop-b"))
                .await
        ));
        // Its server came up behind the partition; a probe of it times out.
        advance(HOOK + START).await;
        let probe = legacy_probe("site-b");
        let before = Instant::now();
        let refused = sites.probe(&probe).await;
        assert!(refused.as_ref().is_err_and(|e| e.contains("timeout")), "{refused:?}");
        assert_eq!(before.elapsed(), Duration::from_secs(u64::from(probe.timeout_seconds)));
        // The other site is unaffected.
        assert!(
            sites
                .workload(&access("site-a"), WorkloadKind::Deployment, "db-app")
                .await
                .is_ok()
        );

        // Unreachable is not stopped: everything kept running.
        assert_eq!(
            sites.instance("site-b", "db-app"),
            Some(Instance { existing: 2, ready: 2 })
        );
        assert_eq!(
            sites.instance("site-b", "legacy"),
            Some(Instance { existing: 1, ready: 1 })
        );
        assert!(sites.set_reachable("site-b", true));
        assert!(obs(&sites, "site-b", "db-app").await.running(2));
        assert_eq!(sites.probe(&probe).await, Ok(()));
        assert!(!sites.set_reachable("site-z", false));
        let unknown = SiteAccess {
            site: "site-z".into(),
            ..access("site-a")
        };
        assert!(matches!(
            sites.workload(&unknown, WorkloadKind::Deployment, "db-app").await,
            Err(PortError::Api(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_start_hook_runs_then_the_server_comes_up_and_a_stop_hook_takes_it_down() {
        let sites = world();
        let a = access("site-a");
        let probe = legacy_probe("site-a");
        sites
            .create_job(&a, &hook_job("site-a", "legacy", HookAction::Start, "legacy-start-a"))
            .await
            .unwrap();
        let jobs = sites.hook_jobs(&a, "cc").await.unwrap();
        assert_eq!(
            jobs,
            [HookJob {
                owner_uid: None,
                name: "legacy-start-a".into(),
                component: "legacy".into(),
                site: "site-a".into(),
                action: HookAction::Start,
                run: "run-1".into(),
                phase: JobPhase::Running,
            }]
        );
        advance(HOOK).await;
        assert_eq!(sites.hook_jobs(&a, "cc").await.unwrap()[0].phase, JobPhase::Succeeded);
        assert_eq!(
            sites.instance("site-a", "legacy"),
            Some(Instance { existing: 1, ready: 0 })
        );
        assert!(sites.probe(&probe).await.is_err(), "still starting");
        advance(START).await;
        assert_eq!(sites.probe(&probe).await, Ok(()));
        assert_eq!(sites.probe(&legacy_probe("site-b")).await.map_err(|_| ()), Err(()));

        sites
            .create_job(&a, &hook_job("site-a", "legacy", HookAction::Stop, "legacy-stop-a"))
            .await
            .unwrap();
        advance(HOOK).await;
        assert!(sites.probe(&probe).await.is_err(), "a stopping server does not answer");
        assert_eq!(
            sites.instance("site-a", "legacy"),
            Some(Instance { existing: 1, ready: 0 })
        );
        advance(STOP).await;
        assert_eq!(sites.instance("site-a", "legacy"), Some(Instance::default()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hook_job_is_created_once_and_only_its_drsites_jobs_are_listed() {
        let sites = world();
        let a = access("site-a");
        let job = hook_job("site-a", "legacy", HookAction::Start, "legacy-start-a");
        sites.create_job(&a, &job).await.unwrap();
        advance(MS).await;
        sites.create_job(&a, &job).await.unwrap();
        let mut other = hook_job("site-a", "legacy", HookAction::Start, "other-start-a");
        other
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(LABEL_DRSITE.into(), "other".into());
        sites.create_job(&a, &other).await.unwrap();

        let names: Vec<String> = sites
            .hook_jobs(&a, "cc")
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.name)
            .collect();
        assert_eq!(names, ["legacy-start-a"]);
        assert_eq!(sites.hook_jobs(&a, "other").await.unwrap().len(), 1);
        assert!(sites.hook_jobs(&access("site-b"), "cc").await.unwrap().is_empty());
        let created: Vec<String> = sites
            .actions()
            .into_iter()
            .map(|(_, a)| match a {
                SiteAction::JobCreated { name, .. } => name,
                SiteAction::Scaled { name, .. } => name,
            })
            .collect();
        assert_eq!(created, ["legacy-start-a", "other-start-a"], "no duplicate");
        let stored = sites.job("site-a", "legacy-start-a").unwrap();
        assert_eq!(stored.metadata.namespace.as_deref(), Some("app-site-a"));
        assert_eq!(sites.calls("create_job"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_injected_hook_failure_fails_the_job_and_leaves_the_server_alone() {
        let sites = world();
        let a = access("site-a");
        sites.fail_hook("site-a", "legacy", HookAction::Start, 1);
        sites
            .create_job(&a, &hook_job("site-a", "legacy", HookAction::Start, "legacy-start-a"))
            .await
            .unwrap();
        advance(HOOK + START).await;
        assert_eq!(
            sites.hook_jobs(&a, "cc").await.unwrap()[0].phase,
            JobPhase::Failed(HOOK_FAILURE.into())
        );
        assert_eq!(sites.instance("site-a", "legacy"), Some(Instance::default()));

        // A person deletes the failed Job; drover's retry (same name) now succeeds: one-shot.
        assert!(sites.delete_job("site-a", "legacy-start-a"));
        assert!(sites.hook_jobs(&a, "cc").await.unwrap().is_empty());
        sites
            .create_job(&a, &hook_job("site-a", "legacy", HookAction::Start, "legacy-start-a"))
            .await
            .unwrap();
        advance(HOOK + START).await;
        assert_eq!(sites.hook_jobs(&a, "cc").await.unwrap()[0].phase, JobPhase::Succeeded);
        assert_eq!(
            sites.instance("site-a", "legacy"),
            Some(Instance { existing: 1, ready: 1 })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_sticky_hook_failure_lasts_until_cleared() {
        let sites = world();
        let b = access("site-b");
        sites.fail_hook("site-b", "legacy", HookAction::Stop, u32::MAX);
        for name in ["stop-1", "stop-2"] {
            sites
                .create_job(&b, &hook_job("site-b", "legacy", HookAction::Stop, name))
                .await
                .unwrap();
        }
        sites.fail_hook("site-b", "legacy", HookAction::Stop, 0);
        sites
            .create_job(&b, &hook_job("site-b", "legacy", HookAction::Stop, "stop-3"))
            .await
            .unwrap();
        advance(HOOK).await;
        let phases: Vec<JobPhase> = sites
            .hook_jobs(&b, "cc")
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.phase)
            .collect();
        assert_eq!(
            phases,
            [
                JobPhase::Failed(HOOK_FAILURE.into()),
                JobPhase::Failed(HOOK_FAILURE.into()),
                JobPhase::Succeeded
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_deleted_before_it_finishes_has_no_effect() {
        let sites = world();
        let a = access("site-a");
        sites
            .create_job(&a, &hook_job("site-a", "legacy", HookAction::Start, "legacy-start-a"))
            .await
            .unwrap();
        advance(HOOK - MS).await;
        assert!(sites.delete_job("site-a", "legacy-start-a"));
        advance(HOOK + START).await;
        assert_eq!(sites.instance("site-a", "legacy"), Some(Instance::default()));
        assert!(!sites.delete_job("site-a", "legacy-start-a"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outside_server_that_crashes_stays_down_until_started_again() {
        let sites = world();
        let a = access("site-a");
        sites
            .create_job(&a, &hook_job("site-a", "legacy", HookAction::Start, "start-1"))
            .await
            .unwrap();
        advance(HOOK + START).await;
        assert_eq!(sites.probe(&legacy_probe("site-a")).await, Ok(()));
        assert!(sites.crash_external("site-a", "legacy"));
        assert!(sites.probe(&legacy_probe("site-a")).await.is_err());
        assert_eq!(sites.instance("site-a", "legacy"), Some(Instance::default()));
        sites
            .create_job(&a, &hook_job("site-a", "legacy", HookAction::Start, "start-2"))
            .await
            .unwrap();
        advance(HOOK + START).await;
        assert_eq!(sites.probe(&legacy_probe("site-a")).await, Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn jobs_the_api_server_would_refuse_are_refused() {
        let sites = world();
        let a = access("site-a");
        let mut unnamed = hook_job("site-a", "legacy", HookAction::Start, "x");
        unnamed.metadata.name = None;
        let long = hook_job("site-a", "legacy", HookAction::Start, &"x".repeat(64));
        let upper = hook_job("site-a", "legacy", HookAction::Start, "Legacy-Start");
        let mut always = hook_job("site-a", "legacy", HookAction::Start, "always");
        if let Some(pod) = always.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            pod.restart_policy = None;
        }
        let mut empty = hook_job("site-a", "legacy", HookAction::Start, "empty");
        if let Some(pod) = empty.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            pod.containers.clear();
        }
        let mut bad_label = hook_job("site-a", "legacy", HookAction::Start, "bad-label");
        bad_label
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert(LABEL_RUN.into(), "a]b".into());
        let mut elsewhere = hook_job("site-a", "legacy", HookAction::Start, "elsewhere");
        elsewhere.metadata.namespace = Some("other".into());
        for job in [unnamed, long, upper, always, empty, bad_label, elsewhere] {
            let refused = sites.create_job(&a, &job).await;
            assert!(
                matches!(refused, Err(PortError::Api(_))),
                "{:?}: {refused:?}",
                job.metadata.name
            );
        }
        assert!(sites.actions().is_empty());
        assert!(sites.hook_jobs(&a, "cc").await.unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_journal_and_counters_record_what_was_done_and_asked() {
        let sites = world();
        let t0 = Instant::now();
        let a = access("site-a");
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 2).await.unwrap();
        sleep(Duration::from_secs(1)).await;
        sites
            .create_job(&a, &hook_job("site-a", "legacy", HookAction::Start, "legacy-start-a"))
            .await
            .unwrap();
        let _ = sites.workload(&a, WorkloadKind::Deployment, "db-app").await;
        let _ = sites.probe(&legacy_probe("site-a")).await;
        assert_eq!(
            sites.actions(),
            [
                (
                    t0,
                    SiteAction::Scaled {
                        site: "site-a".into(),
                        kind: WorkloadKind::Deployment,
                        name: "db-app".into(),
                        replicas: 2,
                    }
                ),
                (
                    t0 + Duration::from_secs(1),
                    SiteAction::JobCreated {
                        site: "site-a".into(),
                        component: "legacy".into(),
                        action: Some(HookAction::Start),
                        name: "legacy-start-a".into(),
                    }
                ),
            ]
        );
        for method in ["scale", "create_job", "workload", "probe"] {
            assert_eq!(sites.calls(method), 1, "{method}");
        }
        assert_eq!(sites.calls("hook_jobs"), 0);
        assert_eq!(sites.total_calls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn per_component_latencies_override_the_defaults() {
        let mut latencies = Latencies {
            start: START,
            stop: STOP,
            hook: HOOK,
            per_component: BTreeMap::new(),
        };
        latencies
            .per_component
            .insert("db-app".into(), (Duration::from_secs(30), Duration::from_secs(10)));
        let sites = MemorySites::for_spec(&fixtures::spec(), &latencies);
        let a = access("site-a");
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 2).await.unwrap();
        sites.scale(&a, WorkloadKind::StatefulSet, "proxy", 1).await.unwrap();
        advance(START).await;
        assert_eq!(
            sites.instance("site-a", "proxy"),
            Some(Instance { existing: 1, ready: 1 })
        );
        assert_eq!(
            sites.instance("site-a", "db-app"),
            Some(Instance { existing: 2, ready: 0 })
        );
        advance(Duration::from_secs(25)).await;
        assert_eq!(
            sites.instance("site-a", "db-app"),
            Some(Instance { existing: 2, ready: 2 })
        );
        sites.scale(&a, WorkloadKind::Deployment, "db-app", 0).await.unwrap();
        advance(Duration::from_secs(9)).await;
        assert!(sites.instance("site-a", "db-app").unwrap().running());
        advance(Duration::from_secs(1)).await;
        assert!(!sites.instance("site-a", "db-app").unwrap().running());
    }
}
