//! Steady state as it scales (issue 8, part 3): one `drover run` process (`runtime::operator::run`,
//! every controller and watch) holding N DrSites, each with its AvailabilityGroup and two
//! components (an `ActiveSite` Deployment and an `EverySite` one at two sites), when nothing
//! changes. Kubernetes is the stateful fake API server of the tests (`tests/common/fake_api.rs`);
//! the N groups live on simulated instance pairs, ten to a pair (SQL-Ak primary, SQL-Bk secondary).
//!
//! Each N runs in a child process of its own (so its memory is its own) on the real clock: after
//! every DrSite is Steady and one more steady poll, a window of `DROVER_BENCH_WINDOW` seconds
//! (default 30) measures drover's CPU time (the process's, less the simulator's threads),
//! resident memory (less what the simulator and the fake API held before drover started), API
//! requests, SQL round trips (the simulator's count of batches) and reconciles per object (from
//! the `reconcile` spans). `DROVER_BENCH_SIZES` (default `1,10,100,1000`) picks the Ns;
//! `DROVER_BENCH_STEADY_LIMIT` (default 180 s) is how long an N may take to become Steady before
//! it is reported as not measured. The JSON goes to `target/bench/steady_state.json`.

#[path = "common/mod.rs"]
mod common;
#[path = "../tests/common/fake_api.rs"]
#[allow(dead_code)]
mod fake_api;

use common::{Table, out_path};
use drover::controller::Config;
use drover::runtime::operator::{self, Options};
use drover::sim::Sim;
use drover::sim::model::config::{AgConfig, AvailabilityMode, ClusterType, InstanceConfig, ReplicaConfig, WorldConfig};
use drover::sim::spec::availability_group_spec;
use fake_api::FakeApi;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

const STEADY_POLL: Duration = Duration::from_secs(5);
const NS: &str = "dr";
const AGS: &str = "/apis/drover.dev/v1alpha1/namespaces/dr/availabilitygroups";
const DRSITES: &str = "/apis/drover.dev/v1alpha1/namespaces/dr/drsites";
const SIM_THREAD: &str = "sim-rt";

/// Reconciles started, by `kind object`, counted from the controllers' `reconcile` spans.
fn reconciles() -> &'static Mutex<HashMap<String, u64>> {
    static COUNTS: OnceLock<Mutex<HashMap<String, u64>>> = OnceLock::new();
    COUNTS.get_or_init(Default::default)
}

struct CountReconciles;

#[derive(Default)]
struct Fields(String, String);

impl tracing::field::Visit for Fields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.record_debug(field, &value);
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}").trim_matches('"').to_string();
        match field.name() {
            "kind" => self.0 = text,
            "object" => self.1 = text,
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountReconciles {
    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, _: &tracing::span::Id, _: Context<'_, S>) {
        if attrs.metadata().name() == "reconcile" {
            let mut f = Fields::default();
            attrs.record(&mut f);
            *reconciles()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(format!("{} {}", f.0, f.1))
                .or_default() += 1;
        }
    }
}

/// utime + stime of the process, and of the simulator's threads, in seconds.
fn cpu_seconds() -> (f64, f64) {
    // Clock ticks per second: 100 on Linux (USER_HZ), what /proc reports in.
    const TICKS: f64 = 100.0;
    let ticks = |stat: &str| -> f64 {
        // Fields after the `(comm)`: state is 3rd; utime 14th, stime 15th of the whole line.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        num(11) + num(12)
    };
    let all = std::fs::read_to_string("/proc/self/stat").map_or(0.0, |s| ticks(&s));
    let mut sim = 0.0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() == SIM_THREAD {
                sim += std::fs::read_to_string(t.path().join("stat")).map_or(0.0, |s| ticks(&s));
            }
        }
    }
    (all / TICKS, sim / TICKS)
}

/// VmRSS in MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Groups per simulated instance pair. drover's observation batch reads every group of an
/// instance, so a poll costs in proportion to the groups sharing it; ten per pair keeps that cost
/// fixed as N grows (see the README for 100 on one pair).
const GROUPS_PER_PAIR: usize = 10;

fn world(n: usize) -> WorldConfig {
    let mut cfg = drover::demo::world::fast(WorldConfig::two_sites());
    let pairs = n.div_ceil(GROUPS_PER_PAIR);
    cfg.instances = (1..=pairs)
        .flat_map(|k| {
            [("A", "site-a"), ("B", "site-b")].map(|(x, site)| InstanceConfig {
                name: format!("SQL-{x}{k}"),
                site: site.into(),
                port: 0,
            })
        })
        .collect();
    cfg.availability_groups = (1..=n)
        .map(|i| {
            let k = (i - 1) / GROUPS_PER_PAIR + 1;
            AgConfig {
                name: format!("ag{i}"),
                cluster_type: ClusterType::Wsfc,
                databases: vec![format!("db{i}")],
                replicas: vec![
                    ReplicaConfig {
                        instance: format!("SQL-A{k}"),
                        availability_mode: AvailabilityMode::AsynchronousCommit,
                        primary: true,
                    },
                    ReplicaConfig {
                        instance: format!("SQL-B{k}"),
                        availability_mode: AvailabilityMode::AsynchronousCommit,
                        primary: false,
                    },
                ],
            }
        })
        .collect();
    // A trickle of commits on every database: steady, not idle.
    cfg.workload.commits_per_second = 1;
    cfg
}

fn deployment(site: &str, name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": site, "generation": 1},
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas, "readyReplicas": replicas, "observedGeneration": 1},
    })
}

/// The world of `n` DrSites in the fake API: every group primary at site-a, every component
/// where it should run, already ready.
fn populate(api: &FakeApi, sim: &Sim, n: usize) -> Result<(), String> {
    let (user, password) = sim.login();
    let b64 = |s: &str| {
        use k8s_openapi::ByteString;
        serde_json::to_value(ByteString(s.as_bytes().to_vec())).unwrap_or_default()
    };
    api.put(
        "/api/v1/namespaces/dr/secrets",
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth", "metadata": {"name": "ag-login", "namespace": NS},
               "data": {"username": b64(user), "password": b64(password)}}),
    );
    // The site namespaces, which an administrator allowed the DrSites of `dr` to act in.
    for site in ["site-a", "site-b"] {
        api.put(
            "/api/v1/namespaces",
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": site, "labels": {format!("allow-from.drover.dev/{NS}"): "true"}}}),
        );
    }
    for i in 1..=n {
        let spec = availability_group_spec(sim, &format!("ag{i}"), "site-a", "ag-login")
            .ok_or_else(|| format!("the simulator has no ag{i}"))?;
        let mut ag = drover::api::availability_group::AvailabilityGroup::new(&format!("ag{i}"), spec);
        ag.metadata.namespace = Some(NS.into());
        ag.metadata.generation = Some(1);
        api.put(AGS, serde_json::to_value(&ag).map_err(|e| e.to_string())?);
        let (app, web) = (format!("app{i}"), format!("web{i}"));
        let at = |name: &str| {
            ["site-a", "site-b"]
                .iter()
                .map(|s| json!({"site": s, "workload": {"kind": "Deployment", "name": name, "replicas": 1}}))
                .collect::<Vec<_>>()
        };
        api.put(
            DRSITES,
            json!({
                "apiVersion": "drover.dev/v1alpha1", "kind": "DrSite",
                "metadata": {"name": format!("drs{i}"), "namespace": NS, "generation": 1},
                "spec": {
                    "sites": [{"name": "site-a", "namespace": "site-a"}, {"name": "site-b", "namespace": "site-b"}],
                    "activeSite": "site-a",
                    "availabilityGroups": [{"name": format!("ag{i}")}],
                    "components": [
                        {"name": "app", "placement": "ActiveSite", "requiresWritable": [format!("ag{i}")], "sites": at(&app)},
                        {"name": "web", "placement": "EverySite", "dependsOn": ["app"], "sites": at(&web)},
                    ],
                },
            }),
        );
        for (site, app_replicas) in [("site-a", 1), ("site-b", 0)] {
            let path = format!("/apis/apps/v1/namespaces/{site}/deployments");
            api.put(&path, deployment(site, &app, app_replicas));
            api.put(&path, deployment(site, &web, 1));
        }
    }
    Ok(())
}

fn all_steady(api: &FakeApi, n: usize) -> bool {
    let steady = |path: &str| {
        api.list(path)
            .iter()
            .filter(|o| o["status"]["phase"] == "Steady")
            .count()
    };
    steady(DRSITES) == n && steady(AGS) == n
}

/// One N, in this (child) process: the figures as JSON.
fn measure(n: usize, window: Duration) -> Result<Value, String> {
    let _ = tracing_subscriber::registry().with(CountReconciles).try_init();
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(SIM_THREAD)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let civil = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).datetime();
    let set_up = Instant::now();
    let sim = sim_rt.block_on(Sim::start_at(world(n), civil, IpAddr::V4(Ipv4Addr::LOCALHOST)))?;
    let api = FakeApi::default();
    populate(&api, &sim, n)?;
    let rss_before = rss_mib();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("drover-op")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let config = Config {
        transition_poll: Duration::from_secs(1),
        steady_poll: STEADY_POLL,
        base_backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(30),
        sql: drover::demo::world::controller_config(Duration::from_secs(1)).sql,
        confirmation_ttl: drover::plan::confirm::DEFAULT_TTL,
        jobs: Default::default(),
        tenancy: drover::components::tenancy::Policy::default(),
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let options = Options {
        namespaces: Vec::new(),
        lease: None,
        config,
        instance: Some("bench".into()),
        metrics_addr: None,
    };
    // kube's client spawns its buffer task: make it inside drover's runtime.
    let client = rt.block_on(async { api.client("drover") });
    let operator = rt.spawn(operator::run(client, options, |_| {}, stop.clone().cancelled_owned()));
    let limit = Duration::from_secs(
        std::env::var("DROVER_BENCH_STEADY_LIMIT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(180),
    );
    let started = Instant::now();
    while !all_steady(&api, n) {
        if started.elapsed() > limit {
            return Err(format!("not every DrSite and group Steady after {limit:?}"));
        }
        // Listing every object is not free at 1000: look seldom.
        std::thread::sleep(Duration::from_secs(2));
    }
    let to_steady = started.elapsed().as_secs_f64();
    std::thread::sleep(STEADY_POLL + Duration::from_secs(1));

    let batches = |sim: &Sim| {
        let names: Vec<String> = sim.endpoints().into_iter().map(|(name, _, _)| name).collect();
        sim.with_world(|w, _| names.iter().map(|name| w.batch_count(name)).sum::<u64>())
    };
    let counts = || reconciles().lock().unwrap_or_else(|e| e.into_inner()).clone();
    let (cpu0, sim_cpu0) = cpu_seconds();
    let log0 = api.log().len();
    let sql0 = batches(&sim);
    let rec0 = counts();
    let t0 = Instant::now();
    std::thread::sleep(window);
    let seconds = t0.elapsed().as_secs_f64();
    let (cpu1, sim_cpu1) = cpu_seconds();
    let log = api.log();
    let sql1 = batches(&sim);
    let rec1 = counts();
    let rss = rss_mib();

    let requests = &log[log0.min(log.len())..];
    let per_minute = |x: f64| x * 60.0 / seconds;
    let writes = requests.iter().filter(|l| l.method != http::Method::GET).count();
    let mut per_object: Vec<(String, u64)> = rec1
        .iter()
        .map(|(k, v)| (k.clone(), v - rec0.get(k).copied().unwrap_or(0)))
        .collect();
    per_object.sort_by_key(|o| std::cmp::Reverse(o.1));
    let busiest = per_object.first().cloned().unwrap_or_default();
    let replicas = 2.0 * n as f64;
    let round_trips = (sql1 - sql0) as f64;
    let allowed = (seconds / STEADY_POLL.as_secs_f64()).ceil() + 1.0;
    let cpu = (cpu1 - cpu0) - (sim_cpu1 - sim_cpu0);
    let figures = json!({
        "drsites": n,
        "windowSeconds": seconds,
        "setupSeconds": to_steady + started.duration_since(set_up).as_secs_f64(),
        "secondsToSteady": to_steady,
        "cpuSecondsPerSecond": cpu / seconds,
        "simulatorCpuSecondsPerSecond": (sim_cpu1 - sim_cpu0) / seconds,
        "rssMiB": rss,
        "rssMiBBeforeDrover": rss_before,
        "droverRssMiB": rss - rss_before,
        "apiRequestsPerMinute": per_minute(requests.len() as f64),
        "apiWritesInWindow": writes,
        "sqlRoundTripsPerMinute": per_minute(round_trips),
        "sqlRoundTripsPerMinutePerReplica": per_minute(round_trips) / replicas,
        "busiestObject": busiest.0,
        "busiestObjectReconciles": busiest.1,
        "reconcilesAllowedPerObject": allowed,
        "objectsReconciled": per_object.iter().filter(|(_, c)| *c > 0).count(),
        "maxReconcilesPerObjectWithinPoll": (busiest.1 as f64) <= allowed,
    });
    stop.cancel();
    let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), operator).await });
    sim.shutdown();
    rt.shutdown_timeout(Duration::from_secs(5));
    sim_rt.shutdown_timeout(Duration::from_secs(5));
    Ok(figures)
}

const CHILD: &str = "DROVER_STEADY_CHILD_N";
const MARK: &str = "FIGURES ";

fn main() {
    let window = Duration::from_secs(
        std::env::var("DROVER_BENCH_WINDOW")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    if let Some(n) = std::env::var(CHILD).ok().and_then(|s| s.parse::<usize>().ok()) {
        match measure(n, window) {
            Ok(figures) => println!("{MARK}{figures}"),
            Err(e) => {
                eprintln!("{n} DrSites: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let sizes: Vec<usize> = std::env::var("DROVER_BENCH_SIZES")
        .unwrap_or_else(|_| "1,10,100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let exe = std::env::current_exe().expect("this bench's own path");
    let mut results = Vec::new();
    let mut table = Table::new(&[
        "DrSites",
        "to Steady",
        "CPU ms/s",
        "RSS MiB (drover)",
        "API req/min",
        "API writes",
        "SQL trips/min/replica",
        "max reconciles/object",
        "allowed",
    ]);
    for n in sizes {
        eprintln!("steady state: {n} DrSites, window {window:?} …");
        let out = std::process::Command::new(&exe)
            .env(CHILD, n.to_string())
            .output()
            .expect("the child bench runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let figures: Option<Value> = stdout
            .lines()
            .find_map(|l| l.strip_prefix(MARK))
            .and_then(|j| serde_json::from_str(j).ok());
        let Some(f) = figures else {
            let why = String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
                .to_string();
            eprintln!("{n} DrSites: no figures ({why})");
            table.row(vec![n.to_string(), format!("failed: {why}")]);
            results.push(json!({"drsites": n, "error": why}));
            continue;
        };
        let num = |k: &str| f[k].as_f64().unwrap_or(f64::NAN);
        table.row(vec![
            n.to_string(),
            format!("{:.1} s", num("secondsToSteady")),
            format!("{:.1}", num("cpuSecondsPerSecond") * 1000.0),
            format!("{:.1} ({:.1})", num("rssMiB"), num("droverRssMiB")),
            format!("{:.1}", num("apiRequestsPerMinute")),
            format!("{}", f["apiWritesInWindow"]),
            format!("{:.1}", num("sqlRoundTripsPerMinutePerReplica")),
            format!(
                "{} ({})",
                f["busiestObjectReconciles"],
                f["busiestObject"].as_str().unwrap_or_default()
            ),
            format!("{}", num("reconcilesAllowedPerObject")),
        ]);
        results.push(f);
    }
    println!(
        "STEADY STATE (window {window:?}, steady poll {STEADY_POLL:?}, real clock; CPU excludes the simulator's threads; \
         RSS is the process's, drover's share in brackets)"
    );
    table.print();
    common::write_json(
        &out_path("steady_state.json"),
        &json!({"windowSeconds": window.as_secs_f64(), "steadyPollSeconds": STEADY_POLL.as_secs_f64(), "sizes": results}),
    );
}
