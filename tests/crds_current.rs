//! The committed CRD YAML in `crds/` must be what the Rust types generate.
//! Regenerate with `DROVER_WRITE_CRDS=1 cargo test --test crds_current` (which
//! also writes the Helm chart's copies in `charts/drover/crds/`).

use drover::api::{crd_file_name, crd_yaml, crds};
use std::path::Path;

#[test]
fn committed_crds_match_the_types() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let write = std::env::var_os("DROVER_WRITE_CRDS").is_some();
    let mut stale = Vec::new();
    for crd in crds() {
        let path = dir.join(crd_file_name(&crd));
        let want = crd_yaml(&crd).expect("CRD renders as YAML");
        if write {
            std::fs::write(&path, &want).expect("write crds/");
            // The Helm chart ships the same files (tests/chart.rs checks they are identical).
            let chart_copy = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("charts/drover/crds")
                .join(crd_file_name(&crd));
            std::fs::write(chart_copy, &want).expect("write charts/drover/crds/");
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        if have != want {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale CRD YAML: {stale:?}; regenerate with DROVER_WRITE_CRDS=1 cargo test --test crds_current"
    );
}

#[test]
fn the_crd_has_the_names_columns_and_rules_users_rely_on() {
    let crd = &crds()[0];
    let json = serde_json::to_string(crd).unwrap();
    assert_eq!(crd.metadata.name.as_deref(), Some("availabilitygroups.drover.dev"));
    assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["sqlag".to_string()][..]));
    assert_eq!(crd.spec.names.categories.as_deref(), Some(&["drover".to_string()][..]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        ["Primary", "Desired", "Phase", "Synchronized", "Est-Loss", "Age"]
    );
    assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
    // The desired site may be left out ("stay where you are"); a value given is still checked.
    let spec =
        &serde_json::to_value(version.schema.as_ref().unwrap()).unwrap()["openAPIV3Schema"]["properties"]["spec"];
    let required: Vec<&str> = spec["required"]
        .as_array()
        .expect("required fields")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        !required.contains(&"primarySite"),
        "primarySite is optional: {required:?}"
    );
    assert!(required.contains(&"replicas"), "{required:?}");
    assert!(
        spec["properties"]["primarySite"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("drover-drsite")),
        "{}",
        spec["properties"]["primarySite"]
    );
    for rule in [
        "!has(self.primarySite) || self.replicas.exists(r, r.site == self.primarySite)",
        "b.serverName.lowerAscii() == a.serverName.lowerAscii()",
        "self.policy != 'Automatic'",
        "x-kubernetes-list-map-keys",
        "\"maxLength\":128",
    ] {
        assert!(json.contains(rule), "the CRD lacks {rule:?}");
    }
}

#[test]
fn the_drsite_crd_has_the_names_columns_and_rules_users_rely_on() {
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "DrSite")
        .expect("DrSite is served");
    let json = serde_json::to_string(&crd).unwrap();
    assert_eq!(crd.metadata.name.as_deref(), Some("drsites.drover.dev"));
    assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["drs".to_string()][..]));
    assert_eq!(crd.spec.names.categories.as_deref(), Some(&["drover".to_string()][..]));
    assert_eq!(crd.spec.scope, "Namespaced");
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(columns, ["Active", "Desired", "Phase", "Ready", "Step", "Age"]);
    assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
    for rule in [
        "self.sites.exists(s, s.name == self.activeSite)",
        "site names must be unique",
        "component names must be unique",
        "has(self.workload) != has(self.hooks)",
        "has(self.tcp) != has(self.http)",
        "x-kubernetes-preserve-unknown-fields",
    ] {
        assert!(json.contains(rule), "the CRD lacks {rule:?}");
    }
}

#[test]
fn the_persistent_chat_pool_crd_has_the_names_columns_and_rules_users_rely_on() {
    let crd = crds()
        .into_iter()
        .find(|c| c.spec.names.kind == "PersistentChatPool")
        .expect("PersistentChatPool is served");
    let json = serde_json::to_string(&crd).unwrap();
    assert_eq!(crd.metadata.name.as_deref(), Some("persistentchatpools.drover.dev"));
    assert_eq!(crd.spec.group, "drover.dev");
    assert_eq!(crd.spec.names.plural, "persistentchatpools");
    assert_eq!(crd.spec.names.short_names.as_deref(), Some(&["pchat".to_string()][..]));
    assert_eq!(crd.spec.names.categories.as_deref(), Some(&["drover".to_string()][..]));
    assert_eq!(crd.spec.scope, "Namespaced");
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let columns: Vec<(&str, &str)> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.json_path.as_str()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Active", ".status.activeSite"),
            ("Desired", ".spec.activeSite"),
            ("Pool-State", ".status.poolState"),
            ("Phase", ".status.phase"),
            ("Step", ".status.step"),
            ("Last-Restore", ".status.logShipping.lastRestoredAt"),
            ("Age", ".metadata.creationTimestamp"),
        ]
    );
    assert!(version.subresources.as_ref().and_then(|s| s.status.as_ref()).is_some());
    for rule in [
        // spec-level rules
        "self.activeSite == self.primary.site || self.activeSite == self.backup.site",
        "self.primary.site != self.backup.site",
        "self.chatDatabase.lowerAscii() != self.complianceDatabase.lowerAscii()",
        "an instance cannot serve both data centers",
        // per data center
        "the mirror instance must be another server than the SQL instance",
        "each active server is listed once",
        // the shared forced-failover policy
        "self.policy != 'Automatic'",
        // bounds and shapes the validator also checks
        r#""pattern":"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$""#,
        r#""pattern":"^\\\\\\\\[^\\\\]+\\\\[^\\\\]+""#,
        r#""maxItems":32"#,
        r#""maxLength":128"#,
        // hook templates are kept as given, not pruned
        "x-kubernetes-preserve-unknown-fields",
        // conditions merge by type
        "x-kubernetes-list-map-keys",
    ] {
        assert!(json.contains(rule), "the CRD lacks {rule:?}");
    }
    // The defaults a user may leave out, as runbook B names the databases.
    let spec =
        &serde_json::to_value(version.schema.as_ref().unwrap()).unwrap()["openAPIV3Schema"]["properties"]["spec"];
    assert_eq!(spec["properties"]["chatDatabase"]["default"], "mgc");
    assert_eq!(spec["properties"]["complianceDatabase"]["default"], "mgccomp");
    let required: Vec<&str> = spec["required"]
        .as_array()
        .expect("required fields")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    // The desired site may be left out ("stay where you are"), as GitOps repositories leave out
    // what a DrSite owns; a value given is still checked.
    assert!(
        !required.contains(&"activeSite"),
        "activeSite is optional: {required:?}"
    );
    assert!(json.contains("!has(self.activeSite) || self.activeSite == self.primary.site"));
    for field in [
        "poolIdentity",
        "primary",
        "backup",
        "logShipping",
        "credentials",
        "hooks",
    ] {
        assert!(required.contains(&field), "{field} is not required: {required:?}");
    }
}

/// Every property carries a description for `kubectl explain`: what the user writes (spec) and,
/// for a DrSite and a PersistentChatPool, what drover reports (status). The AvailabilityGroup's
/// status is not covered yet.
#[test]
fn every_field_is_documented() {
    let mut missing = Vec::new();
    let kinds: Vec<String> = crds().iter().map(|c| c.spec.names.kind.clone()).collect();
    for kind in ["AvailabilityGroup", "DrSite", "PersistentChatPool"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} is not served: {kinds:?}");
    }
    for crd in crds() {
        let kind = &crd.spec.names.kind;
        let parts: &[&str] = if kind == "DrSite" || kind == "PersistentChatPool" {
            &["spec", "status"]
        } else {
            &["spec"]
        };
        for version in &crd.spec.versions {
            let schema = serde_json::to_value(version.schema.as_ref().unwrap()).unwrap();
            let root = &schema["openAPIV3Schema"];
            for &part in parts {
                let sub = &root["properties"][part];
                assert!(!sub.is_null(), "{kind} has no {part}");
                if sub.get("description").is_none() {
                    missing.push(format!("{kind}.{part}"));
                }
                undocumented(sub, &format!("{kind}.{part}"), &mut missing);
            }
        }
    }
    assert!(missing.is_empty(), "fields without a description: {missing:#?}");
}

fn undocumented(schema: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
    if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
        for (name, sub) in props {
            let here = format!("{path}.{name}");
            if sub.get("description").is_none() {
                missing.push(here.clone());
            }
            undocumented(sub, &here, missing);
            if let Some(items) = sub.get("items") {
                undocumented(items, &here, missing);
            }
        }
    }
}

#[test]
fn the_example_availability_group_is_valid() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/availability-group.yaml"))
        .expect("example exists");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("example parses");
    let ag = docs
        .into_iter()
        .find(|d| d["kind"] == "AvailabilityGroup")
        .expect("an AvailabilityGroup");
    let ag: drover::api::AvailabilityGroup = serde_json::from_value(ag).expect("matches the CRD types");
    assert_eq!(drover::api::availability_group::validate(&ag.spec), vec![]);
    assert_eq!(ag.spec.primary_site.as_deref(), Some("site-a"));
}
