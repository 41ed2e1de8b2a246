//! Every example a user may copy is valid: each document of each
//! `examples/*.yaml` parses into its typed resource without a field lost to a
//! typo and passes drover's own validation; the simulator's configurations
//! load. The contact-center example encodes runbook A's start order exactly.

use drover::api::availability_group::AvailabilityGroup;
use drover::api::dr_site::{DrSite, Placement, start_order};
use drover::sim::model::config::WorldConfig;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    files
}

/// Every field of `given` is in `typed` with the same value: nothing the user wrote was dropped
/// as unknown (a misspelt field) or changed on the way. Defaults `typed` adds are fine.
fn preserved(given: &Value, typed: &Value, path: &str, lost: &mut Vec<String>) {
    match (given, typed) {
        (Value::Object(g), Value::Object(t)) => {
            for (k, v) in g {
                match t.get(k) {
                    Some(tv) => preserved(v, tv, &format!("{path}.{k}"), lost),
                    None => lost.push(format!("{path}.{k}")),
                }
            }
        }
        (Value::Array(g), Value::Array(t)) if g.len() == t.len() => {
            for (i, (gv, tv)) in g.iter().zip(t).enumerate() {
                preserved(gv, tv, &format!("{path}[{i}]"), lost);
            }
        }
        (g, t) if g == t => {}
        _ => lost.push(format!("{path}: {given} became {typed}")),
    }
}

/// `doc` as a `T`, checked to keep every field.
fn typed<T: DeserializeOwned + Serialize>(doc: &Value, whence: &str) -> T {
    let value: T = serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{whence}: {e}"));
    let back = serde_json::to_value(&value).expect("serializes");
    let mut lost = Vec::new();
    preserved(doc, &back, "", &mut lost);
    assert!(lost.is_empty(), "{whence}: fields not understood: {lost:?}");
    value
}

/// The documents of one file: Kubernetes objects by kind, the rest simulator configurations.
#[derive(Default)]
struct Parsed {
    namespaces: Vec<Namespace>,
    secrets: Vec<Secret>,
    groups: Vec<AvailabilityGroup>,
    drsites: Vec<DrSite>,
    sims: usize,
}

fn parse(file: &Path) -> Parsed {
    let text = std::fs::read_to_string(file).expect("readable");
    let name = file.display().to_string();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!docs.is_empty(), "{name} has no document");
    let mut parsed = Parsed::default();
    for (i, doc) in docs.iter().enumerate() {
        let whence = format!("{name} document {i}");
        let api_version = doc["apiVersion"].as_str();
        match (api_version, doc["kind"].as_str()) {
            (Some("v1"), Some("Namespace")) => parsed.namespaces.push(typed(doc, &whence)),
            (Some("v1"), Some("Secret")) => parsed.secrets.push(typed(doc, &whence)),
            (Some("drover.dev/v1alpha1"), Some("AvailabilityGroup")) => {
                let ag: AvailabilityGroup = typed(doc, &whence);
                assert_eq!(drover::api::availability_group::validate(&ag.spec), vec![], "{whence}");
                parsed.groups.push(ag);
            }
            (Some("drover.dev/v1alpha1"), Some("DrSite")) => {
                let drs: DrSite = typed(doc, &whence);
                assert_eq!(drover::api::dr_site::validate(&drs.spec), vec![], "{whence}");
                parsed.drsites.push(drs);
            }
            (None, None) => {
                // Not a Kubernetes object: a simulator world (`drover sim --config`).
                WorldConfig::from_yaml(&serde_saphyr::to_string(doc).expect("re-renders"))
                    .unwrap_or_else(|e| panic!("{whence}: not a simulator configuration: {e}"));
                parsed.sims += 1;
            }
            (v, k) => panic!("{whence}: no check for apiVersion {v:?} kind {k:?}"),
        }
    }
    parsed
}

#[test]
fn every_example_document_parses_and_validates() {
    let files = examples();
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        parse(file);
    }
}

#[test]
fn the_simulator_example_is_the_file_drover_sim_loads() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sim-two-sites.yaml");
    assert_eq!(parse(&file).sims, 1);
    let text = std::fs::read_to_string(&file).unwrap();
    WorldConfig::from_yaml(&text).expect("loads as drover sim does");
}

fn contact_center() -> Parsed {
    parse(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/contact-center-framework.yaml"))
}

#[test]
fn the_contact_center_starts_in_runbook_a_order() {
    let parsed = contact_center();
    let [drs] = &parsed.drsites[..] else {
        panic!("one DrSite, not {}", parsed.drsites.len())
    };
    let order: Vec<&str> = start_order(&drs.spec)
        .expect("no cycle")
        .into_iter()
        .map(|i| drs.spec.components[i].name.as_str())
        .collect();
    assert_eq!(
        order,
        [
            // At the active site: the master configuration server pair, the master solution
            // control server, the message server;
            "master-confserv",
            "master-scs",
            "message-server",
            // the solution control servers at both sites, then the proxy pairs at both sites;
            "scs",
            "confserv-proxy",
            // then the remaining framework components.
            "stat-server",
            "interaction-server",
            "sip-server",
        ]
    );
    // Failover starts, and failback stops, exactly the three masters: everything else runs at
    // both sites all along.
    let at_one_site: Vec<&str> = drs
        .spec
        .components
        .iter()
        .filter(|c| c.placement == Placement::ActiveSite)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(at_one_site, ["master-confserv", "master-scs", "message-server"]);
    for name in ["stat-server", "interaction-server", "sip-server"] {
        let deps = &drs.spec.component(name).unwrap().depends_on;
        assert_eq!(deps, &["confserv-proxy"], "{name} starts after the proxies");
    }
    // Nothing starts before the databases are writable at the active site.
    assert_eq!(drs.spec.components[0].requires_writable, ["cc-ag"]);
}

#[test]
fn the_contact_center_example_is_one_consistent_system() {
    let parsed = contact_center();
    let (drs, ag) = (&parsed.drsites[0], &parsed.groups[0]);
    assert_eq!(drs.metadata.namespace.as_deref(), Some("contact-center"));
    assert_eq!(
        ag.metadata.namespace, drs.metadata.namespace,
        "children are in the DrSite's namespace"
    );
    assert_eq!(drs.spec.availability_groups.len(), 1);
    assert_eq!(Some(&drs.spec.availability_groups[0].name), ag.metadata.name.as_ref());
    assert_eq!(ag.spec.databases, ["confdb", "logdb"]);
    assert_eq!(
        ag.spec.primary_site, drs.spec.active_site,
        "the group starts where the DrSite is active"
    );
    let mut replica_sites: Vec<&str> = ag.spec.replicas.iter().map(|r| r.site.as_str()).collect();
    let mut sites: Vec<&str> = drs.spec.sites.iter().map(|s| s.name.as_str()).collect();
    replica_sites.sort();
    sites.sort();
    assert_eq!(replica_sites, sites, "one replica per site");

    // Both sites in the operator's cluster: no kubeconfig Secret; every namespace declared.
    let namespaces: Vec<&str> = parsed
        .namespaces
        .iter()
        .filter_map(|n| n.metadata.name.as_deref())
        .collect();
    assert!(namespaces.contains(&"contact-center"));
    for site in &drs.spec.sites {
        assert!(site.kubeconfig.is_none(), "{}", site.name);
        assert!(namespaces.contains(&site.namespace.as_str()), "{}", site.namespace);
    }
    let secret = &parsed.secrets[0];
    assert_eq!(secret.metadata.name, Some(ag.spec.credentials.secret_name.clone()));
    assert_eq!(secret.metadata.namespace, ag.metadata.namespace);

    // The one component outside Kubernetes: the same Jobs at both sites, a probe per site.
    let sip = drs.spec.component("sip-server").expect("sip-server");
    let hooks: Vec<_> = sip.sites.iter().map(|s| s.hooks.clone().expect("hooks")).collect();
    assert_eq!(hooks[0].start, hooks[1].start);
    assert_eq!(hooks[0].stop, hooks[1].stop);
    assert_ne!(hooks[0].probe, hooks[1].probe);
    for h in &hooks {
        let pod = h.start.spec.as_ref().and_then(|s| s.template.spec.as_ref()).unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let mode = pod.volumes.as_ref().unwrap()[0].secret.as_ref().unwrap().default_mode;
        assert_eq!(mode, Some(0o400), "the SSH key is owner-read-only");
    }
    let workloads = drs
        .spec
        .components
        .iter()
        .flat_map(|c| &c.sites)
        .filter(|s| s.workload.is_some())
        .count();
    assert_eq!(workloads, 14, "seven workload components at two sites");
}
