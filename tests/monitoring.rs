//! The monitoring artefacts: the Grafana dashboard and the PrometheusRule query
//! only the metrics drover exposes (the list below is the contract with the
//! `/metrics` endpoint), cover what an SRE watches, and the Helm chart embeds the
//! same files.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The series drover's `/metrics` serves, with the suffixes Prometheus gives counters and
/// histograms.
const METRICS: &[&str] = &[
    "drover_reconciles_total",
    "drover_reconcile_errors_total",
    "drover_reconcile_duration_seconds_bucket",
    "drover_reconcile_duration_seconds_sum",
    "drover_reconcile_duration_seconds_count",
    "drover_transitions_total",
    "drover_transition_duration_seconds_bucket",
    "drover_transition_duration_seconds_sum",
    "drover_transition_duration_seconds_count",
    "drover_transition_started_timestamp_seconds",
    "drover_steps_total",
    "drover_ag_estimated_data_loss_seconds",
    "drover_ag_synchronization_lag_seconds",
    "drover_ag_database_synchronizing",
    "drover_confirmations_pending",
    "drover_leader",
    "drover_invalid_objects_total",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn dashboard() -> Value {
    serde_json::from_str(&read("monitoring/grafana-dashboard.json")).expect("the dashboard is JSON")
}

fn rule() -> Value {
    serde_saphyr::from_str(&read("monitoring/prometheusrule.yaml")).expect("the PrometheusRule is YAML")
}

/// Every `drover_…` name in a PromQL expression (and in a Grafana variable query).
fn metric_names(expr: &str) -> BTreeSet<String> {
    expr.match_indices("drover_")
        .filter(|(i, _)| {
            // Not the tail of a longer identifier.
            !expr[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(i, _)| {
            let tail = &expr[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            tail[..end].to_string()
        })
        .collect()
}

fn unknown(names: &BTreeSet<String>) -> Vec<&String> {
    names.iter().filter(|n| !METRICS.contains(&n.as_str())).collect()
}

#[test]
fn metric_names_are_found_in_expressions() {
    assert_eq!(
        metric_names("sum by (kind) (rate(drover_reconciles_total[5m])) / x_drover_other + drover_leader"),
        BTreeSet::from(["drover_reconciles_total".to_string(), "drover_leader".to_string()])
    );
}

/// The panels, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

#[test]
fn the_dashboard_queries_only_drovers_metrics_and_covers_them_all() {
    let d = dashboard();
    let mut used = BTreeSet::new();
    for p in panels(&d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().expect("a target has an expr");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{}: {expr} queries no drover metric", p["title"]);
            assert!(
                unknown(&names).is_empty(),
                "{}: unknown metrics {:?}",
                p["title"],
                unknown(&names)
            );
            used.extend(names);
        }
    }
    let base = |n: &str| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .fold(n.to_string(), |s, suffix| s.trim_end_matches(suffix).to_string())
    };
    let used: BTreeSet<String> = used.iter().map(|n| base(n)).collect();
    let all: BTreeSet<String> = METRICS.iter().map(|n| base(n)).collect();
    let missing: Vec<_> = all.difference(&used).collect();
    assert!(missing.is_empty(), "no panel shows {missing:?}");
}

#[test]
fn the_dashboard_is_portable() {
    let d = dashboard();
    assert!(
        d["schemaVersion"].as_u64().is_some_and(|v| v >= 38),
        "schemaVersion ≥ 38"
    );
    let vars = d["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    for name in ["namespace", "name"] {
        let v = var(name);
        assert_eq!(v["datasource"]["uid"], "${datasource}");
        let query = v["query"]["query"].as_str().expect("a query");
        assert!(unknown(&metric_names(query)).is_empty(), "${name}: {query}");
    }
    let mut ids = BTreeSet::new();
    for p in panels(&d) {
        assert!(
            ids.insert(p["id"].as_u64().expect("an id")),
            "panel id {} twice",
            p["id"]
        );
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            assert!(
                p["description"].as_str().is_some_and(|s| !s.is_empty()),
                "{}",
                p["title"]
            );
        }
    }
}

/// The alerts of the PrometheusRule, by name.
fn alerts() -> Vec<Value> {
    let r = rule();
    assert_eq!(r["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(r["kind"], "PrometheusRule");
    r["spec"]["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").clone())
        .collect()
}

#[test]
fn the_alerts_an_sre_needs_are_there_with_what_to_do() {
    let alerts = alerts();
    let names: Vec<&str> = alerts.iter().filter_map(|a| a["alert"].as_str()).collect();
    for want in [
        "DroverTransitionStuck",
        "DroverConfirmationPending",
        "DroverSynchronizationLost",
        "DroverDataLossEstimateHigh",
        "DroverReconcileErrors",
        "DroverNoLeader",
    ] {
        assert!(names.contains(&want), "no alert {want}");
    }
    for a in &alerts {
        let name = a["alert"].as_str().expect("an alert name");
        let expr = a["expr"].as_str().expect("an expr");
        let metrics = metric_names(expr);
        assert!(!metrics.is_empty() && unknown(&metrics).is_empty(), "{name}: {expr}");
        assert!(a["for"].is_string(), "{name}: no `for`");
        assert!(
            matches!(a["labels"]["severity"].as_str(), Some("critical" | "warning")),
            "{name}: severity"
        );
        for annotation in ["summary", "description", "runbook"] {
            assert!(
                a["annotations"][annotation]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{name}: no {annotation}"
            );
        }
    }
    let by_name = |n: &str| alerts.iter().find(|a| a["alert"] == n).expect("alert").clone();
    let pending = by_name("DroverConfirmationPending");
    assert_eq!(pending["labels"]["severity"], "critical", "a person must act");
    assert_eq!(pending["for"], "5m");
    assert!(
        by_name("DroverTransitionStuck")["expr"]
            .as_str()
            .unwrap_or_default()
            .contains("30 * 60")
    );
    assert_eq!(by_name("DroverSynchronizationLost")["for"], "5m");
    assert_eq!(by_name("DroverNoLeader")["for"], "5m");
}

#[test]
fn the_chart_embeds_the_same_files() {
    for file in ["prometheusrule.yaml", "grafana-dashboard.json"] {
        assert!(
            read(&format!("monitoring/{file}")) == read(&format!("charts/drover/files/{file}")),
            "charts/drover/files/{file} differs from monitoring/{file}: copy it over"
        );
    }
}
