//! Status → metrics, read back from the exposition as a scraper would.

use super::*;
use serde_json::json;

/// The value of the sample written exactly as `series` (`name{labels}`), if exposed.
fn sample(metrics: &Metrics, series: &str) -> Option<f64> {
    metrics.encode().lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().expect("a number"))
    })
}

fn ag(value: serde_json::Value) -> AvailabilityGroupStatus {
    serde_json::from_value(value).expect("an AvailabilityGroup status")
}

fn drsite(value: serde_json::Value) -> DrSiteStatus {
    serde_json::from_value(value).expect("a DrSite status")
}

fn pool(value: serde_json::Value) -> PersistentChatPoolStatus {
    serde_json::from_value(value).expect("a pool status")
}

const AG_CONFIRM: &str = r#"drover_confirmations_pending{kind="AvailabilityGroup",namespace="dr",name="ag1"}"#;
const AG_STARTED: &str =
    r#"drover_transition_started_timestamp_seconds{kind="AvailabilityGroup",namespace="dr",name="ag1"}"#;
const AG_PLANNED: &str = r#"drover_transitions_total{kind="AvailabilityGroup",type="planned"}"#;
const AG_FORCED: &str = r#"drover_transitions_total{kind="AvailabilityGroup",type="forced"}"#;

fn switching() -> AvailabilityGroupStatus {
    ag(
        json!({"transition": {"kind": "Switchover", "toSite": "site-b", "toReplica": "SQL-B",
        "startedAt": "2026-11-21T03:00:00Z"}}),
    )
}

fn switched() -> AvailabilityGroupStatus {
    ag(
        json!({"lastFailover": {"kind": "Switchover", "toSite": "site-b", "toReplica": "SQL-B",
        "startedAt": "2026-11-21T03:00:00Z", "finishedAt": "2026-11-21T03:00:42Z"}}),
    )
}

#[test]
fn every_family_is_exposed_under_its_documented_name() {
    let m = Metrics::new();
    m.reconciled(Kind::DrSite, Duration::from_millis(3), Some("KubernetesError"));
    m.step(Kind::DrSite, "scale", true);
    m.set_leader(true);
    // A family without series is not exposed at all, so each gets one.
    let mut everything = switched();
    everything.transition = switching().transition;
    everything.estimated_data_loss_seconds = Some(0);
    everything.confirmation =
        ag(json!({"confirmation": {"token": "a", "target": "SQL-B", "command": "c"}})).confirmation;
    everything.databases = copies(json!([{"name": "confdb", "replica": "SQL-B", "lagSeconds": 1}])).databases;
    m.observe_ag("dr", "ag1", &switching(), &everything);
    let text = m.encode();
    let types: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
    for family in [
        "drover_reconciles counter",
        "drover_reconcile_errors counter",
        "drover_reconcile_duration_seconds histogram",
        "drover_transitions counter",
        "drover_transition_duration_seconds histogram",
        "drover_transition_started_timestamp_seconds gauge",
        "drover_steps counter",
        "drover_confirmations_pending gauge",
        "drover_ag_estimated_data_loss_seconds gauge",
        "drover_ag_synchronization_lag_seconds gauge",
        "drover_ag_database_synchronizing gauge",
        "drover_leader gauge",
    ] {
        assert!(types.contains(&family), "{family} not in {types:?}");
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert_eq!(sample(&m, r#"drover_reconciles_total{kind="DrSite"}"#), Some(1.0));
    assert_eq!(
        sample(
            &m,
            r#"drover_reconcile_errors_total{kind="DrSite",error="KubernetesError"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, r#"drover_reconcile_duration_seconds_count{kind="DrSite"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            r#"drover_reconcile_duration_seconds_bucket{le="0.005",kind="DrSite"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, r#"drover_steps_total{kind="DrSite",step="scale",outcome="ok"}"#),
        Some(1.0)
    );
    assert_eq!(sample(&m, "drover_leader"), Some(1.0));
    m.set_leader(false);
    assert_eq!(sample(&m, "drover_leader"), Some(0.0));
    // A follower keeps its counters but no per-object gauges.
    let text = m.encode();
    assert!(text.contains("drover_transitions_total{"), "{text}");
    for family in [
        "drover_transition_started_timestamp_seconds",
        "drover_confirmations_pending",
        "drover_ag_",
    ] {
        assert!(!text.contains(family), "{family} in {text}");
    }
}

#[test]
fn a_transition_is_timed_while_it_runs_and_counted_once_when_it_ends() {
    let m = Metrics::new();
    m.observe_ag("dr", "ag1", &AvailabilityGroupStatus::default(), &switching());
    assert_eq!(sample(&m, AG_STARTED), Some(1_795_230_000.0));
    assert_eq!(sample(&m, AG_PLANNED), None);

    m.observe_ag("dr", "ag1", &switching(), &switched());
    assert_eq!(sample(&m, AG_STARTED), None, "the transition ended");
    assert_eq!(sample(&m, AG_PLANNED), Some(1.0));
    let duration = r#"drover_transition_duration_seconds_sum{kind="AvailabilityGroup",type="planned"}"#;
    assert_eq!(sample(&m, duration), Some(42.0));

    // The same status written again from a stale copy of the object, then read back unchanged.
    m.observe_ag("dr", "ag1", &switching(), &switched());
    m.observe_ag("dr", "ag1", &switched(), &switched());
    assert_eq!(sample(&m, AG_PLANNED), Some(1.0), "counted twice");

    // A restarted process reads the finished transition from status: not a new one.
    let restarted = Metrics::new();
    restarted.observe_ag("dr", "ag1", &switched(), &switched());
    assert_eq!(sample(&restarted, AG_PLANNED), None);
}

#[test]
fn a_record_rewritten_after_it_finished_is_not_another_transition() {
    let forced = |loss: serde_json::Value| {
        ag(
            json!({"lastFailover": {"kind": "Failover", "toSite": "site-b", "toReplica": "SQL-B",
            "startedAt": "2026-11-21T03:00:00Z", "finishedAt": "2026-11-21T03:00:05Z", "dataLoss": loss}}),
        )
    };
    let m = Metrics::new();
    m.observe_ag("dr", "ag1", &switched(), &forced(json!(null)));
    m.observe_ag("dr", "ag1", &forced(json!(null)), &forced(json!({"seconds": 3})));
    assert_eq!(sample(&m, AG_FORCED), Some(1.0));
    assert_eq!(sample(&m, AG_PLANNED), None);
}

#[test]
fn a_confirmation_request_shows_while_it_is_asked_for() {
    let m = Metrics::new();
    let asking = ag(
        json!({"confirmation": {"token": "abc", "target": "SQL-B", "command": "kubectl …"},
        "estimatedDataLossSeconds": 7}),
    );
    m.observe_ag("dr", "ag1", &AvailabilityGroupStatus::default(), &asking);
    assert_eq!(sample(&m, AG_CONFIRM), Some(1.0));
    let loss = r#"drover_ag_estimated_data_loss_seconds{namespace="dr",name="ag1"}"#;
    assert_eq!(sample(&m, loss), Some(7.0));
    m.observe_ag("dr", "ag1", &asking, &AvailabilityGroupStatus::default());
    assert_eq!(sample(&m, AG_CONFIRM), None);
    assert_eq!(sample(&m, loss), None, "no estimate, no series");

    let site_lost = r#"drover_confirmations_pending{kind="DrSite",namespace="dr",name="cc"}"#;
    let lost = drsite(json!({"siteLostConfirmation": {"site": "site-a", "token": "t", "command": "c"}}));
    m.observe_drsite("dr", "cc", &DrSiteStatus::default(), &lost);
    assert_eq!(sample(&m, site_lost), Some(1.0));
    m.observe_drsite("dr", "cc", &lost, &DrSiteStatus::default());
    assert_eq!(sample(&m, site_lost), None);

    let data_loss = r#"drover_confirmations_pending{kind="PersistentChatPool",namespace="dr",name="pchat"}"#;
    let asking = pool(json!({"confirmation": {"token": "abc", "target": "SQL-C", "command": "kubectl …"}}));
    m.observe_pool("dr", "pchat", &PersistentChatPoolStatus::default(), &asking);
    assert_eq!(sample(&m, data_loss), Some(1.0));
}

#[test]
fn each_kind_maps_its_transitions_to_the_four_types() {
    let m = Metrics::new();
    for (kind, finished) in [
        ("ColdStart", "03:01:00"),
        ("Repair", "03:02:00"),
        ("Failback", "03:03:00"),
    ] {
        let done = drsite(json!({"lastTransition": {"kind": kind, "toSite": "site-a",
            "startedAt": "2026-11-21T03:00:00Z", "finishedAt": format!("2026-11-21T{finished}Z"),
            "durationSeconds": 60, "steps": 3}}));
        m.observe_drsite("dr", "cc", &DrSiteStatus::default(), &done);
    }
    assert_eq!(
        sample(&m, r#"drover_transitions_total{kind="DrSite",type="start"}"#),
        Some(2.0)
    );
    assert_eq!(
        sample(&m, r#"drover_transitions_total{kind="DrSite",type="failback"}"#),
        Some(1.0)
    );
    let failed_over = pool(
        json!({"lastTransition": {"kind": "Failover", "fromSite": "dc1", "toSite": "dc2",
        "startedAt": "2026-11-21T03:00:00Z", "finishedAt": "2026-11-21T03:10:00Z", "lossless": false}}),
    );
    m.observe_pool("dr", "pchat", &PersistentChatPoolStatus::default(), &failed_over);
    assert_eq!(
        sample(
            &m,
            r#"drover_transitions_total{kind="PersistentChatPool",type="forced"}"#
        ),
        Some(1.0)
    );
}

fn copies(rows: serde_json::Value) -> AvailabilityGroupStatus {
    ag(json!({ "databases": rows }))
}

#[test]
fn copy_gauges_follow_the_databases_in_status() {
    let m = Metrics::new();
    let lag = |r: &str, d: &str| {
        format!(r#"drover_ag_synchronization_lag_seconds{{namespace="dr",name="ag1",replica="{r}",database="{d}"}}"#)
    };
    let sync = |r: &str, d: &str| {
        format!(r#"drover_ag_database_synchronizing{{namespace="dr",name="ag1",replica="{r}",database="{d}"}}"#)
    };
    let both = copies(json!([
        {"name": "confdb", "replica": "SQL-B", "synchronizationState": "SYNCHRONIZING", "lagSeconds": 2},
        {"name": "logdb", "replica": "SQL-B", "synchronizationState": "SYNCHRONIZED", "suspended": true},
        {"name": "logdb", "replica": "SQL-C", "synchronizationState": "NOT SYNCHRONIZING"},
    ]));
    m.observe_ag("dr", "ag1", &AvailabilityGroupStatus::default(), &both);
    assert_eq!(sample(&m, &lag("SQL-B", "confdb")), Some(2.0));
    assert_eq!(sample(&m, &lag("SQL-B", "logdb")), None, "no lag reported, no series");
    assert_eq!(sample(&m, &sync("SQL-B", "confdb")), Some(1.0));
    assert_eq!(sample(&m, &sync("SQL-B", "logdb")), Some(0.0), "suspended");
    assert_eq!(sample(&m, &sync("SQL-C", "logdb")), Some(0.0));

    let one = copies(json!([{"name": "confdb", "replica": "SQL-B", "synchronizationState": "SYNCHRONIZED"}]));
    m.observe_ag("dr", "ag1", &both, &one);
    assert_eq!(
        sample(&m, &lag("SQL-B", "confdb")),
        None,
        "the lag is no longer reported"
    );
    assert_eq!(sample(&m, &sync("SQL-B", "confdb")), Some(1.0));
    assert_eq!(
        sample(&m, &sync("SQL-B", "logdb")),
        None,
        "a database removed from status"
    );
    assert_eq!(sample(&m, &sync("SQL-C", "logdb")), None);
}

#[test]
fn forget_removes_every_series_naming_the_object() {
    let m = Metrics::new();
    let mut status = copies(json!([{"name": "confdb", "replica": "SQL-B", "lagSeconds": 1}]));
    status.estimated_data_loss_seconds = Some(4);
    status.transition = switching().transition;
    status.confirmation = ag(json!({"confirmation": {"token": "a", "target": "SQL-B", "command": "c"}})).confirmation;
    m.observe_ag("dr", "ag1", &AvailabilityGroupStatus::default(), &status);
    m.observe_ag("dr", "other", &AvailabilityGroupStatus::default(), &status);
    m.observe_drsite(
        "dr",
        "ag1",
        &DrSiteStatus::default(),
        &drsite(json!({"transition": {
        "kind": "Switchover", "toSite": "site-b", "startedAt": "2026-11-21T03:00:00Z"}})),
    );
    let named = |m: &Metrics, name: &str| {
        m.encode()
            .lines()
            .filter(|l| !l.starts_with('#') && l.contains(&format!("name=\"{name}\"")))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(named(&m, "ag1").len(), 6, "{:?}", named(&m, "ag1"));

    m.forget(Kind::AvailabilityGroup, "dr", "ag1");
    // The DrSite of the same name keeps its series; the other group keeps all five.
    assert_eq!(
        named(&m, "ag1"),
        vec![format!(
            "{}{{kind=\"DrSite\",namespace=\"dr\",name=\"ag1\"}} 1795230000",
            "drover_transition_started_timestamp_seconds"
        )]
    );
    assert_eq!(named(&m, "other").len(), 5);
    // A group of the same name created later starts from nothing.
    m.observe_ag("dr", "ag1", &switching(), &switched());
    assert_eq!(sample(&m, AG_PLANNED), Some(1.0));
}
