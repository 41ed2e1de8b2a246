//! Whole operator processes (`runtime::operator::run`, every controller, the
//! watches, leader election) against one stateful fake API server, with SQL
//! on the TDS simulator and tokio's paused clock. Two instances: only the
//! leader writes; the leader is shut down (or cut off from the API server)
//! while its failover statement is in flight; the other instance finishes the
//! switchover without repeating it and without loss.

mod common;

use common::fake_api::{FakeApi, Fault, Logged};
use common::rig::{AgStart, ag_start, config, world};
use common::scrape::{get, scrape};
use drover::runtime::LeaseConfig;
use drover::runtime::operator::{self, Handles, Options};
use drover::sim::Sim;
use http::Method;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const AGS: &str = "/apis/drover.dev/v1alpha1/namespaces/dr/availabilitygroups";
const SECRETS: &str = "/api/v1/namespaces/dr/secrets";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/drover-system/leases";

/// The simulator with ag1 primary at site-a (the failover statement takes 3 s, long enough to
/// stop an operator in the middle of it), and the API server holding ag1 and its login.
async fn world_and_api() -> (Arc<Sim>, FakeApi) {
    let mut cfg = world();
    cfg.latencies.failover = Duration::from_secs(3);
    let AgStart { sim, ag, .. } = ag_start(cfg).await;
    let api = FakeApi::default();
    api.put(AGS, serde_json::to_value(&ag).expect("ag serializes"));
    let (user, password) = sim.login();
    let secret = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("ag1-login".into()),
            namespace: Some("dr".into()),
            ..Default::default()
        },
        data: Some(
            [("username", user), ("password", password)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    let mut secret = serde_json::to_value(&secret).expect("secret serializes");
    secret["apiVersion"] = json!("v1");
    secret["kind"] = json!("Secret");
    secret["type"] = json!("kubernetes.io/basic-auth");
    api.put(SECRETS, secret);
    (sim, api)
}

/// One `drover run` process.
struct Process {
    name: &'static str,
    handles: Handles,
    stop: CancellationToken,
    task: JoinHandle<Result<(), String>>,
}

async fn launch(api: &FakeApi, name: &'static str) -> Process {
    let options = Options {
        namespaces: vec!["dr".into()],
        lease: Some(LeaseConfig::new("drover-system", "drover-leader", name)),
        config: config(Duration::from_millis(100)),
        instance: Some(name.into()),
        metrics_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
    };
    let stop = CancellationToken::new();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(operator::run(
        api.client(name),
        options,
        move |handles| {
            let _ = tx.send(handles);
        },
        stop.clone().cancelled_owned(),
    ));
    let handles = rx.await.expect("the operator starts");
    Process {
        name,
        handles,
        stop,
        task,
    }
}

/// Waits (virtual time) until `done`, polling every 5 ms.
async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn ag_status(api: &FakeApi) -> Value {
    api.get(AGS, "ag1").map(|o| o["status"].clone()).unwrap_or(Value::Null)
}

fn steady_at(api: &FakeApi, site: &str) -> bool {
    let s = ag_status(api);
    s["phase"] == "Steady" && s["primarySite"] == site
}

/// The writes (anything but GET) a client made that the server took, as indexes into the log.
fn writes(log: &[Logged], client: &str) -> Vec<usize> {
    log.iter()
        .enumerate()
        .filter(|(_, l)| l.client == client && l.served && l.method != Method::GET && !l.uri.contains("/leases"))
        .map(|(i, _)| i)
        .collect()
}

/// Failovers of ag1 the simulator completed.
fn failovers(sim: &Sim) -> usize {
    sim.with_world(|w, _| {
        w.history()
            .iter()
            .filter(|h| h.text.starts_with("ag1: failover complete"))
            .count()
    })
}

fn lost(sim: &Sim) -> Vec<u64> {
    sim.with_world(|w, now| {
        ["confdb", "logdb"]
            .iter()
            .map(|db| {
                w.lost_transactions(now, "ag1", db)
                    .expect("exactly one writable primary")
            })
            .collect()
    })
}

/// How the leader goes away while its FAILOVER is in flight.
#[derive(Debug, Clone, Copy)]
enum Loss {
    /// SIGTERM: the statement finishes, the lease is handed back.
    Shutdown,
    /// Cut off from the API server (a partition, or a crash as the API server sees it): it stops
    /// acting at its renew deadline; the follower waits out the lease.
    CutOff,
}

/// Two processes; ag1 flipped to site-b; `loss` happens to the leader while its FAILOVER is in
/// flight; the follower must finish without repeating it and without loss, and the two must never
/// have written at the same time.
async fn switchover_losing_the_leader(loss: Loss) {
    let (sim, api) = world_and_api().await;
    let a = launch(&api, "drover-a").await;
    wait_until("drover-a leads and is ready", Duration::from_secs(10), || {
        a.handles.shared.gate.may_act() && a.handles.readiness.is_ready()
    })
    .await;
    wait_until("ag1 steady at site-a", Duration::from_secs(30), || {
        steady_at(&api, "site-a")
    })
    .await;

    let b = launch(&api, "drover-b").await;
    wait_until("drover-b ready as a follower", Duration::from_secs(10), || {
        b.handles.readiness.is_ready()
    })
    .await;
    assert!(!b.handles.shared.gate.may_act(), "two leaders");
    // What the probes and a scraper see of each process.
    for (process, leader) in [(&a, 1.0), (&b, 0.0)] {
        let addr = process.handles.metrics_addr.expect("metrics served");
        assert_eq!(get(addr, "/readyz").await.0, 200, "{} ready", process.name);
        assert_eq!(get(addr, "/healthz").await.0, 200, "{} alive", process.name);
        let exposed = scrape(addr).await;
        assert_eq!(exposed.get("drover_leader", &[]), Some(leader), "{}", process.name);
        let reconciled = exposed.get("drover_reconciles_total", &[("kind", "AvailabilityGroup")]);
        if leader == 1.0 {
            assert!(
                reconciled.is_some_and(|n| n >= 1.0),
                "the leader reconciled: {reconciled:?}"
            );
        } else {
            assert_eq!(reconciled, None, "a follower reconciles nothing");
        }
    }

    // The flip.
    let mut ag = api.get(AGS, "ag1").expect("ag1");
    ag["spec"]["primarySite"] = json!("site-b");
    ag["metadata"]["generation"] = json!(2);
    api.put(AGS, ag);

    // The moment drover-a's FAILOVER reaches SQL-B (the first ALTER AVAILABILITY GROUP SQL-B
    // receives; the synchronous-commit change before it runs on the primary).
    let sent = || sim.with_world(|w, _| w.statement_count("SQL-B", "alter_ag"));
    wait_until("the failover statement in flight", Duration::from_secs(60), || {
        sent() == 1
    })
    .await;
    assert_eq!(
        failovers(&sim),
        0,
        "{loss:?}: the leader went before the failover completed"
    );
    match loss {
        Loss::Shutdown => {
            a.stop.cancel();
            let stopped = tokio::time::timeout(Duration::from_secs(60), a.task)
                .await
                .expect("drover-a stops once its statement has finished")
                .expect("drover-a's task does not panic");
            assert_eq!(stopped, Ok(()));
            let lease = api.get(LEASES, "drover-leader").expect("the lease");
            assert_ne!(
                lease["spec"]["holderIdentity"],
                json!(a.name),
                "drover-a handed the lease back"
            );
        }
        Loss::CutOff => {
            api.set_fault(a.name, Fault::Refuse);
            wait_until(
                "drover-a stops acting",
                LeaseConfig::new("", "", "").renew_deadline,
                || !a.handles.shared.gate.may_act(),
            )
            .await;
        }
    }

    wait_until("drover-b finishes at site-b", Duration::from_secs(60), || {
        steady_at(&api, "site-b")
    })
    .await;
    assert!(b.handles.shared.gate.may_act(), "drover-b leads");
    let status = ag_status(&api);
    assert_eq!(status["lastFailover"]["kind"], "Switchover", "{loss:?}: {status:#}");
    assert_eq!(
        failovers(&sim),
        1,
        "{loss:?}: the failover completed once: the next leader did not repeat it"
    );
    assert_eq!(
        lost(&sim),
        vec![0, 0],
        "{loss:?}: a planned switchover lost transactions"
    );
    let moments = sim.with_world(|w, _| w.split_brain_moments().to_vec());
    assert!(moments.is_empty(), "{loss:?}: two writable primaries at {moments:?}");

    // Only one writer at a time: every write of drover-b comes after drover-a's last.
    let log = api.log();
    let (wa, wb) = (writes(&log, a.name), writes(&log, b.name));
    assert!(
        !wa.is_empty() && !wb.is_empty(),
        "both wrote: a {} b {}",
        wa.len(),
        wb.len()
    );
    assert!(
        wa.last() < wb.first(),
        "{loss:?}: drover-b wrote at request {:?} before drover-a's last write at {:?}",
        wb.first(),
        wa.last()
    );
    // Every call either process made is one the chart's RBAC grants (tests/chart.rs holds the
    // catalogue to the ClusterRole): the watches, the Lease, status, Events, Secrets.
    for call in &log {
        if let Err(why) = drover::controller::rbac::permitted(call.method.as_str(), &call.uri) {
            panic!("{} {} {}: {why}", call.client, call.method, call.uri);
        }
    }
    let watched: Vec<&str> = log
        .iter()
        .filter(|l| l.uri.contains("watch=true"))
        .map(|l| l.uri.as_str())
        .collect();
    for resource in [
        "availabilitygroups",
        "drsites",
        "persistentchatpools",
        "secrets",
        "jobs",
        "deployments",
    ] {
        assert!(
            watched.iter().any(|u| u.contains(resource)),
            "no watch of {resource}: {watched:?}"
        );
    }

    // Deleting the group takes its series off the leader's /metrics.
    let addr = b.handles.metrics_addr.expect("metrics served");
    let ag1 = [("namespace", "dr"), ("name", "ag1")];
    let has_ag1 = |e: &common::scrape::Exposition| {
        e.samples
            .iter()
            .any(|(_, labels, _)| ag1.iter().all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v)))
    };
    assert!(has_ag1(&scrape(addr).await), "the leader exposes ag1's gauges");
    api.delete(AGS, "ag1");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!has_ag1(&scrape(addr).await), "a deleted group's series are gone");

    b.stop.cancel();
    b.task.await.expect("no panic").expect("drover-b stops");
}

#[tokio::test(start_paused = true)]
async fn the_follower_finishes_a_switchover_the_leader_was_shut_down_in_the_middle_of() {
    switchover_losing_the_leader(Loss::Shutdown).await;
}

#[tokio::test(start_paused = true)]
async fn the_follower_finishes_a_switchover_whose_leader_was_cut_off_in_the_middle_of() {
    switchover_losing_the_leader(Loss::CutOff).await;
}

/// A process that never reached the API server (down since it started) stops at once on SIGTERM:
/// kube's runner would otherwise wait for a first list that never comes.
#[tokio::test(start_paused = true)]
async fn a_process_that_never_reached_the_api_server_stops_at_once() {
    let api = FakeApi::default();
    api.set_fault("drover-a", Fault::Refuse);
    let a = launch(&api, "drover-a").await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(!a.handles.readiness.is_ready(), "nothing listed, nothing ready");
    assert!(!a.handles.shared.gate.may_act(), "no lease, no acting");
    a.stop.cancel();
    let stopped = tokio::time::timeout(Duration::from_secs(20), a.task)
        .await
        .expect("stops without waiting for the API server")
        .expect("no panic");
    assert_eq!(stopped, Ok(()));
}
