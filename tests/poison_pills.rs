//! One tenant's malformed object does not stop another's (issue 18, kube-rs #774): a whole
//! `drover run` against the stateful fake API server, with a DrSite drover cannot decode in one
//! namespace (a Job template whose `parallelism` is a string — the CRD keeps templates as given)
//! beside a good one in another. The good one is reconciled; the bad one is reported Invalid
//! (condition, Event, metric), nothing else is done with it, and once fixed it is taken up.

mod common;

use common::fake_api::FakeApi;
use common::rig::config;
use drover::runtime::operator::{self, Handles, Options};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

const GOOD: &str = "/apis/drover.dev/v1alpha1/namespaces/tenant-b/drsites";
const BAD: &str = "/apis/drover.dev/v1alpha1/namespaces/tenant-a/drsites";
const BAD_EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/tenant-a/events";

/// A DrSite in `namespace` with one hook component; `parallelism` goes into its start Job's spec.
fn drsite(namespace: &str, parallelism: Value) -> Value {
    let job = |p: Value| {
        json!({"spec": {"parallelism": p, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "x", "image": "registry.example.com/x:1"}]}}}})
    };
    let at = |site: &str| {
        json!({"site": site, "hooks": {
            "start": job(parallelism.clone()),
            "stop": job(json!(1)),
            "probe": {"tcp": {"host": "legacy.example.com", "port": 7000}}
        }})
    };
    json!({
        "apiVersion": "drover.dev/v1alpha1",
        "kind": "DrSite",
        "metadata": {"name": "system", "namespace": namespace, "generation": 1},
        "spec": {
            "sites": [{"name": "site-a", "namespace": namespace}, {"name": "site-b", "namespace": namespace}],
            "activeSite": "site-a",
            "suspend": true,
            "components": [{"name": "legacy", "placement": "ActiveSite", "sites": [at("site-a"), at("site-b")]}]
        }
    })
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn status(api: &FakeApi, collection: &str) -> Value {
    api.get(collection, "system")
        .map(|o| o["status"].clone())
        .unwrap_or(Value::Null)
}

fn condition(status: &Value, type_: &str) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or(Value::Null)
}

#[tokio::test(start_paused = true)]
async fn a_drsite_drover_cannot_read_is_reported_invalid_and_the_others_go_on() {
    let api = FakeApi::default();
    api.put(BAD, drsite("tenant-a", json!("many")));
    api.put(GOOD, drsite("tenant-b", json!(1)));
    // Before each object was decoded on its own this list failed as a whole.
    let whole: Result<Vec<drover::api::DrSite>, _> = api
        .list(BAD)
        .into_iter()
        .chain(api.list(GOOD))
        .map(serde_json::from_value)
        .collect();
    assert!(whole.is_err(), "the bad DrSite is really undecodable");

    let options = Options {
        namespaces: vec![],
        lease: None,
        config: config(Duration::from_millis(100)),
        instance: Some("drover-a".into()),
        metrics_addr: None,
    };
    let stop = CancellationToken::new();
    let (tx, rx) = oneshot::channel::<Handles>();
    let task = tokio::spawn(operator::run(
        api.client("drover-a"),
        options,
        move |handles| {
            let _ = tx.send(handles);
        },
        stop.clone().cancelled_owned(),
    ));
    let handles = rx.await.expect("the operator starts");

    // The good DrSite, in another namespace, is reconciled.
    wait_until("the good DrSite reconciled", Duration::from_secs(30), || {
        status(&api, GOOD)["observedGeneration"] == 1
    })
    .await;
    assert_eq!(status(&api, GOOD)["phase"], "Suspended", "{:#}", status(&api, GOOD));

    // The bad one is reported: the Invalid condition with the decoding error, phase Invalid.
    wait_until("the bad DrSite reported", Duration::from_secs(30), || {
        condition(&status(&api, BAD), "Invalid")["status"] == "True"
    })
    .await;
    let bad = status(&api, BAD);
    let invalid = condition(&bad, "Invalid");
    assert_eq!(invalid["reason"], "Unreadable", "{bad:#}");
    let message = invalid["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot read this DrSite"), "{message}");
    assert!(message.contains("many"), "the decoding error is quoted: {message}");
    assert_eq!(bad["phase"], "Invalid");
    assert_eq!(condition(&bad, "Ready")["status"], "False");
    assert!(bad.get("observedGeneration").is_none(), "never reconciled: {bad:#}");
    // One Warning Event about it, and the metric.
    let events = api.list(BAD_EVENTS);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "Unreadable");
    assert_eq!(events[0]["regarding"]["name"], "system");
    assert_eq!(events[0]["regarding"]["kind"], "DrSite");
    let exposed = handles.shared.metrics.encode();
    assert!(
        exposed.contains(r#"drover_invalid_objects_total{kind="DrSite"} 1"#),
        "{exposed}"
    );

    // Reporting is once per object and error: our own status write (a watch event) does not
    // start another round.
    let writes_to_bad = || {
        api.log()
            .iter()
            .filter(|l| l.uri.contains("/namespaces/tenant-a/drsites/system"))
            .count()
    };
    let before = writes_to_bad();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(writes_to_bad(), before, "no loop of reports");
    assert_eq!(api.list(BAD_EVENTS).len(), 1);
    // Nothing was done for it: no Job, no scale in tenant-a.
    assert!(
        !api.log().iter().any(|l| l.uri.contains("/namespaces/tenant-a/")
            && !l.uri.contains("drsites")
            && !l.uri.contains("events")
            && l.method != http::Method::GET),
        "an action in tenant-a: {:#?}",
        api.log()
    );

    // Fixed: the Unreadable condition goes and the DrSite is reconciled like any other.
    let mut fixed = drsite("tenant-a", json!(1));
    fixed["status"] = api.get(BAD, "system").expect("still there")["status"].clone();
    api.put(BAD, fixed);
    wait_until("the fixed DrSite reconciled", Duration::from_secs(30), || {
        let s = status(&api, BAD);
        s["observedGeneration"] == 1 && condition(&s, "Invalid")["reason"] != "Unreadable"
    })
    .await;
    assert_eq!(status(&api, BAD)["phase"], "Suspended");

    // Every call is one the chart's RBAC grants.
    for call in &api.log() {
        if let Err(why) = drover::controller::rbac::permitted(call.method.as_str(), &call.uri) {
            panic!("{} {} {}: {why}", call.client, call.method, call.uri);
        }
    }
    stop.cancel();
    task.await.expect("no panic").expect("stops");
}
