//! End-to-end against a real Kubernetes API server (the current kubeconfig context).
//! Ignored by default; run with `cargo test --test real_cluster -- --ignored` (README:
//! "Running the real-cluster suite").
//!
//! The SQL Server simulator runs inside the test process, bound to 127.0.0.1, and so does the
//! operator (in process, or as the `drover` binary started by the test): only processes on this
//! machine talk SQL or probe servers, so the cluster never needs to reach the test machine. The
//! cluster is used for what it is for: the CRDs, their validation, watches, the status
//! subresource, server-side apply, workloads, Jobs, Events.
//!
//! - `planned_switchover_through_the_api_server`: the AvailabilityGroup controller in this process
//!   moves one group.
//! - `contact_center_switches_over_and_back_with_kubectl_apply`: runbook A as a user runs it. The
//!   `drover` binary out of cluster (`drover run`), `examples/contact-center-framework.yaml`
//!   applied with `kubectl apply` (namespaces renamed per run, the group pointed at the
//!   simulator), `spec.activeSite` flipped to site-b and back by re-applying it, `kubectl get
//!   drsites` read. The workloads run `registry.k8s.io/pause`, which the cluster must be able to
//!   pull: drover counts a component running only when its pods are Ready.
//!
//! Needs permission to apply CRDs; create and delete namespaces; read and write Secrets,
//! AvailabilityGroups, DrSites (and their status), Deployments, StatefulSets, Jobs and
//! events.k8s.io Events; and to list and watch Deployments, StatefulSets and Jobs in the test's
//! namespaces (the operator is started with `--namespace` for each). The CRDs are left installed
//! afterwards (deleting one would delete every object of its kind).

use drover::api::availability_group::{AvailabilityGroup, Phase};
use drover::api::dr_site::{DrPhase, DrSite, Placement, TransitionKind, WorkloadKind};
use drover::components::tenancy::ALLOW_FROM_PREFIX;
use drover::components::{LABEL_ACTION, LABEL_COMPONENT, LABEL_DRSITE};
use drover::controller::{Config, DRSITE_FIELD_MANAGER};
use drover::sim::Sim;
use drover::sim::model::Role;
use drover::sim::model::config::WorldConfig;
use drover::sim::spec::availability_group_spec;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::object::HasStatus;
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpSocket;

// ---------------------------------------------------------------------------------------------
// Shared by the scenarios.

/// How often a wait looks again.
const POLL: Duration = Duration::from_secs(1);
/// The label on everything this suite creates.
const CREATED_BY: (&str, &str) = ("app.kubernetes.io/created-by", "drover-test");

/// Server-side applies drover's CRDs and waits until each is Established.
async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in drover::api::crds() {
        let name = crd.name_any();
        crds.patch(&name, &PatchParams::apply("drover-test").force(), &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .unwrap_or_else(|_| panic!("CRD {name} not Established within 30 s"))
        .unwrap_or_else(|e| panic!("watch CRD {name}: {e}"));
    }
}

/// A namespace name (or prefix) that no earlier run left behind.
fn namespace_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    format!("drover-e2e-{:08x}", mixed & 0xffff_ffff)
}

async fn create_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(BTreeMap::from([(CREATED_BY.0.into(), CREATED_BY.1.into())])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
}

async fn delete_namespace(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.delete(name, &DeleteParams::default()).await {
        Ok(_) => {}
        // A scenario that failed before creating it.
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => eprintln!("cleanup: could not delete namespace {name}: {e}"),
    }
}

/// Runs `scenario` as its own task, so that a failed assertion still lets the namespaces be
/// deleted (best effort), then fails the test with the scenario's panic.
async fn with_namespaces_deleted_after(
    client: &Client,
    namespaces: &[String],
    scenario: impl Future<Output = ()> + Send + 'static,
) {
    let outcome = tokio::spawn(scenario).await;
    for ns in namespaces {
        delete_namespace(client, ns).await;
    }
    if let Err(e) = outcome {
        if e.is_panic() {
            std::panic::resume_unwind(e.into_panic());
        }
        panic!("the scenario did not finish: {e}");
    }
}

/// Calls `attempt` every [`POLL`] until it gives a value; after `limit` panics with what it said
/// last.
async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let last = match attempt().await {
            Ok(value) => return value,
            Err(why) => why,
        };
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The simulator, on 127.0.0.1, its clock starting now.
async fn start_sim(world: WorldConfig) -> Arc<Sim> {
    Sim::start_at(world, jiff::Zoned::now().datetime(), IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .expect("simulator starts on 127.0.0.1")
}

/// Polls the object until `done` holds; panics with its last status after `limit`.
async fn wait_for<K>(api: &Api<K>, name: &str, limit: Duration, what: &str, done: impl Fn(&K) -> bool) -> K
where
    K: Resource + HasStatus + Clone + DeserializeOwned + Debug,
    K::Status: Debug,
{
    let done = &done;
    eventually(limit, what, move || async move {
        match api.get(name).await {
            Ok(object) if done(&object) => Ok(object),
            Ok(object) => Err(format!("status {:#?}", object.status())),
            Err(e) => Err(format!("get {name}: {e}")),
        }
    })
    .await
}

fn role_of(sim: &Sim, group: &str, instance: &str) -> Option<Role> {
    sim.with_world(|w, now| w.roles(now, group))
        .into_iter()
        .find(|(i, _)| i == instance)
        .and_then(|(_, r)| r)
}

/// Commits lost so far in each of `databases` of `group`, by the simulator's ground truth.
fn lost_transactions(sim: &Sim, group: &str, databases: &[&str]) -> Vec<(String, Option<u64>)> {
    sim.with_world(|w, now| {
        databases
            .iter()
            .map(|db| (db.to_string(), w.lost_transactions(now, group, db)))
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// The AvailabilityGroup controller in this process.

fn at_site(ag: &AvailabilityGroup, site: &str) -> bool {
    ag.status
        .as_ref()
        .is_some_and(|s| s.primary_site.as_deref() == Some(site) && s.phase == Some(Phase::Steady))
}

fn fast_config() -> Config {
    Config {
        transition_poll: Duration::from_millis(500),
        steady_poll: Duration::from_secs(2),
        base_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(5),
        sql: drover::sql::Timeouts {
            connect: Duration::from_secs(2),
            handshake: Duration::from_secs(2),
            command: Duration::from_secs(5),
            long_command: Duration::from_secs(30),
        },
        confirmation_ttl: drover::plan::confirm::DEFAULT_TTL,
        jobs: Default::default(),
        tenancy: drover::components::tenancy::Policy::default(),
    }
}

/// The switchover itself; panics on failure (the caller cleans up either way).
async fn switchover_scenario(client: Client, ns: String, sim: Arc<Sim>) {
    create_namespace(&client, &ns).await;
    let (user, password) = sim.login();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("ag1-login".into()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([
            ("username".to_string(), user.to_string()),
            ("password".to_string(), password.to_string()),
        ])),
        type_: Some("kubernetes.io/basic-auth".into()),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the login Secret");

    let ags: Api<AvailabilityGroup> = Api::namespaced(client.clone(), &ns);
    let ag = AvailabilityGroup::new(
        "ag1",
        availability_group_spec(&sim, "ag1", "site-a", "ag1-login").expect("the simulator has ag1"),
    );
    // Discovery of a just-Established CRD can lag a moment behind.
    let (api, ag) = (&ags, &ag);
    eventually(
        Duration::from_secs(20),
        "the AvailabilityGroup to be created",
        move || async move {
            api.create(&PostParams::default(), ag)
                .await
                .map(drop)
                .map_err(|e| format!("create AvailabilityGroup: {e}"))
        },
    )
    .await;

    // The operator, in this process, watching only the test namespace.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let operator = {
        let (client, ns) = (client.clone(), ns.clone());
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            let options = drover::runtime::operator::Options {
                namespaces: vec![ns],
                lease: None,
                config: fast_config(),
                instance: Some("drover-test".into()),
                metrics_addr: None,
            };
            drover::runtime::operator::run(client, options, |_| {}, shutdown)
                .await
                .expect("the operator runs");
        })
    };

    let steady = wait_for(&ags, "ag1", Duration::from_secs(60), "Steady at site-a", |ag| {
        at_site(ag, "site-a")
    })
    .await;
    let status = steady.status.expect("status");
    assert_eq!(status.primary_replica.as_deref(), Some("SQL-A"));
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True" && c.observed_generation == steady.metadata.generation),
        "Ready=True for the current generation: {:?}",
        status.conditions
    );
    assert_eq!(role_of(&sim, "ag1", "SQL-A"), Some(Role::Primary));

    ags.patch(
        "ag1",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"primarySite": "site-b"}})),
    )
    .await
    .expect("merge-patch spec.primarySite");

    let moved = wait_for(&ags, "ag1", Duration::from_secs(120), "Steady at site-b", |ag| {
        at_site(ag, "site-b") && ag.status.as_ref().and_then(|s| s.observed_generation) == ag.metadata.generation
    })
    .await;
    let status = moved.status.expect("status");
    assert_eq!(status.primary_replica.as_deref(), Some("SQL-B"));
    assert!(
        status.transition.is_none(),
        "the transition is finished: {:?}",
        status.transition
    );
    let last = status.last_failover.expect("the switchover is recorded");
    assert_eq!(last.to_replica, "SQL-B");
    assert_eq!(last.from_replica.as_deref(), Some("SQL-A"));
    assert_eq!(
        role_of(&sim, "ag1", "SQL-B"),
        Some(Role::Primary),
        "the simulator agrees"
    );
    assert_eq!(role_of(&sim, "ag1", "SQL-A"), Some(Role::Secondary));
    assert!(
        sim.with_world(|w, _| w.split_brain_moments().is_empty()),
        "never two primaries"
    );
    for (db, lost) in lost_transactions(&sim, "ag1", &["confdb", "logdb"]) {
        assert_eq!(lost, Some(0), "commits lost in {db}");
    }

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), operator)
        .await
        .expect("the operator shuts down")
        .expect("the operator task did not panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kubernetes cluster: KUBECONFIG"]
async fn planned_switchover_through_the_api_server() {
    let client = Client::try_default().await.expect("a kubeconfig or in-cluster config");
    install_crds(&client).await;
    let sim = start_sim(WorldConfig::two_sites()).await;
    let ns = namespace_name();
    with_namespaces_deleted_after(
        &client,
        std::slice::from_ref(&ns),
        switchover_scenario(client.clone(), ns.clone(), sim.clone()),
    )
    .await;
    sim.shutdown();
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: KUBECONFIG"]
async fn the_api_server_rejects_a_primary_site_without_a_replica() {
    let client = Client::try_default().await.expect("a kubeconfig or in-cluster config");
    install_crds(&client).await;
    let ns = namespace_name();
    create_namespace(&client, &ns).await;
    let ags: Api<AvailabilityGroup> = Api::namespaced(client.clone(), &ns);
    // No SQL is involved: the object never gets past admission.
    let sim = Sim::start(WorldConfig::two_sites()).await.expect("simulator starts");
    let spec = availability_group_spec(&sim, "ag1", "site-c", "ag1-login").expect("the simulator has ag1");
    sim.shutdown();
    let result = ags
        .create(&PostParams::default(), &AvailabilityGroup::new("ag1", spec))
        .await;
    delete_namespace(&client, &ns).await;
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(
                status
                    .message
                    .contains("primarySite must be the site of one of the replicas"),
                "{status:?}"
            );
        }
        other => panic!("expected the CEL rule to reject the object, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Runbook A: the contact-center example, the `drover` binary, kubectl.

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/contact-center-framework.yaml");
/// The example's DrSite and AvailabilityGroup, and the group's name in SQL Server.
const DRSITE: &str = "contact-center";
const AG: &str = "cc-ag";
const SQL_AG: &str = "cc_ag";
const DATABASES: [&str; 2] = ["confdb", "logdb"];
/// The example's replicas (`serverName`), their sites, and the simulator instances they replace.
const NODES: [(&str, &str, &str); 2] = [("SQLNODE1", "site-a", "SQL-A"), ("SQLNODE2", "site-b", "SQL-B")];
/// The example's namespaces, and the suffix each gets after this run's prefix.
const EXAMPLE_NAMESPACES: [(&str, &str); 3] = [
    ("contact-center", ""),
    ("cc-site-a", "-site-a"),
    ("cc-site-b", "-site-b"),
];
/// The example's component served by a server outside Kubernetes (hooks and a TCP probe).
const SIP: &str = "sip-server";
/// What every workload and hook Job runs: tiny, becomes Ready, exits 0 with `-v`.
const PAUSE_IMAGE: &str = "registry.k8s.io/pause:3.10";
/// Cold start: twenty pause pods scheduled and Ready, one hook Job per site.
const COLD_START_LIMIT: Duration = Duration::from_secs(600);
/// A switchover: three components stopped, the group moved, three started.
const FLIP_LIMIT: Duration = Duration::from_secs(300);

/// The two-site world (`WorldConfig::two_sites`) under the example's names: group `cc_ag`
/// (confdb, logdb) with SQLNODE1 primary at site-a and SQLNODE2 asynchronous at site-b.
fn contact_center_world() -> WorldConfig {
    let mut world = WorldConfig::two_sites();
    let rename = |instance: &mut String| {
        let (node, _, _) = NODES
            .iter()
            .find(|(_, _, sim)| sim == instance)
            .unwrap_or_else(|| panic!("the two-site world gained instance {instance}"));
        *instance = node.to_string();
    };
    for instance in &mut world.instances {
        rename(&mut instance.name);
    }
    let [group] = world.availability_groups.as_mut_slice() else {
        panic!("the two-site world has one availability group");
    };
    group.name = SQL_AG.into();
    assert_eq!(group.databases, DATABASES, "the example's databases");
    for replica in &mut group.replicas {
        rename(&mut replica.instance);
    }
    world.validate().expect("the renamed world is coherent");
    world
}

/// The instance that is primary in the simulator, as its site.
fn primary_site(sim: &Sim) -> Option<&'static str> {
    NODES
        .iter()
        .find(|(node, _, _)| role_of(sim, SQL_AG, node) == Some(Role::Primary))
        .map(|(_, site, _)| *site)
}

/// `doc` at a dotted path; panics when the example no longer has it.
fn field<'a>(doc: &'a mut Value, path: &str) -> &'a mut Value {
    let mut value = doc;
    for key in path.split('.') {
        value = value
            .get_mut(key)
            .unwrap_or_else(|| panic!("the example has no {path}"));
    }
    value
}

/// This run's name for each of the example's namespaces.
fn run_namespaces(prefix: &str) -> BTreeMap<String, String> {
    EXAMPLE_NAMESPACES
        .iter()
        .map(|(example, suffix)| (example.to_string(), format!("{prefix}{suffix}")))
        .collect()
}

fn renamed(namespaces: &BTreeMap<String, String>, ns: &str) -> String {
    namespaces
        .get(ns)
        .unwrap_or_else(|| panic!("the example uses namespace {ns}: add it to EXAMPLE_NAMESPACES"))
        .clone()
}

/// A hook Job that succeeds at once: pause prints its version and exits 0 with `-v`.
fn pause_hook(action: &str) -> Value {
    json!({"spec": {
        "backoffLimit": 2,
        "activeDeadlineSeconds": 180,
        "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": action, "image": PAUSE_IMAGE, "command": ["/pause", "-v"]}],
        }},
    }})
}

/// The example's documents, edited to run here: namespaces renamed, the group's replicas at the
/// simulator's endpoints with TLS off (it does not speak TLS), the simulator's login in the
/// Secret, the SIP server's probes at `sip_ports` (per site) on 127.0.0.1 and its hooks replaced
/// by Jobs that run pause. The documents are edited as data rather than as text, so a change of
/// the example's shape fails here by name instead of silently not matching.
fn example_documents(sim: &Sim, namespaces: &BTreeMap<String, String>, sip_ports: &BTreeMap<&str, u16>) -> Vec<Value> {
    let text = std::fs::read_to_string(EXAMPLE).expect("the example exists");
    let mut docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("the example parses");
    let (user, password) = sim.login();
    for doc in &mut docs {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        if kind == "Namespace" {
            let name = field(doc, "metadata.name");
            *name = json!(renamed(namespaces, name.as_str().unwrap_or_default()));
            let meta = field(doc, "metadata").as_object_mut().expect("metadata is a map");
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            labels[CREATED_BY.0] = json!(CREATED_BY.1);
            // The administrator's allowance names the DrSite's namespace: renamed with it.
            if let Some(map) = labels.as_object_mut() {
                let allowances: Vec<String> = map
                    .keys()
                    .filter(|k| k.starts_with(ALLOW_FROM_PREFIX))
                    .cloned()
                    .collect();
                for key in allowances {
                    let value = map.remove(&key).unwrap_or_default();
                    let from = renamed(namespaces, &key[ALLOW_FROM_PREFIX.len()..]);
                    map.insert(format!("{ALLOW_FROM_PREFIX}{from}"), value);
                }
            }
        } else {
            let ns = field(doc, "metadata.namespace");
            *ns = json!(renamed(namespaces, ns.as_str().unwrap_or_default()));
        }
        match kind.as_str() {
            "Namespace" => {}
            "Secret" => *field(doc, "stringData") = json!({"username": user, "password": password}),
            "AvailabilityGroup" => {
                assert_eq!(doc["spec"]["groupName"], SQL_AG, "the example's group");
                for replica in field(doc, "spec.replicas").as_array_mut().expect("a list") {
                    let server = replica["serverName"].as_str().unwrap_or_default().to_string();
                    let addr = sim
                        .addr(&server)
                        .unwrap_or_else(|| panic!("the simulator runs no {server}"));
                    replica["endpoint"] = json!({"host": addr.ip().to_string(), "port": addr.port()});
                }
                *field(doc, "spec.tls") = json!({"encryption": "Off"});
            }
            "DrSite" => {
                for site in field(doc, "spec.sites").as_array_mut().expect("a list") {
                    let ns = field(site, "namespace");
                    *ns = json!(renamed(namespaces, ns.as_str().unwrap_or_default()));
                }
                for component in field(doc, "spec.components").as_array_mut().expect("a list") {
                    for at in field(component, "sites").as_array_mut().expect("a list") {
                        let site = at["site"].as_str().unwrap_or_default().to_string();
                        let Some(hooks) = at.get_mut("hooks") else { continue };
                        let port = sip_ports
                            .get(site.as_str())
                            .unwrap_or_else(|| panic!("no probe port for {site}"));
                        hooks["start"] = pause_hook("start");
                        hooks["stop"] = pause_hook("stop");
                        *field(hooks, "probe.tcp") = json!({"host": "127.0.0.1", "port": port});
                    }
                }
            }
            other => panic!("the example gained a {other}: teach this test how to run it here"),
        }
    }
    docs
}

/// A Deployment or StatefulSet running pause, without `replicas`: drover owns that field (as the
/// example tells users to leave it out of their own manifests).
fn workload_manifest(kind: WorkloadKind, name: &str, namespace: &str) -> Value {
    let labels = json!({"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": DRSITE});
    let pod = json!({
        "metadata": {"labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [{"name": name, "image": PAUSE_IMAGE}],
        },
    });
    let metadata = json!({"name": name, "namespace": namespace, "labels": labels});
    match kind {
        WorkloadKind::Deployment => json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {"selector": {"matchLabels": labels}, "template": pod},
        }),
        WorkloadKind::StatefulSet => json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": metadata,
            "spec": {
                "serviceName": name,
                "podManagementPolicy": "Parallel",
                "selector": {"matchLabels": labels},
                "template": pod,
            },
        }),
    }
}

/// The DrSite among `docs`, typed.
fn drsite_of(docs: &[Value]) -> DrSite {
    let doc = docs
        .iter()
        .find(|d| d["kind"] == "DrSite")
        .expect("the example has a DrSite");
    serde_json::from_value(doc.clone()).expect("the edited DrSite is a DrSite")
}

/// Everything the test applies: the example's documents as edited by [`example_documents`], then
/// every workload its DrSite names, in its site's namespace.
fn manifests(sim: &Sim, namespaces: &BTreeMap<String, String>, sip_ports: &BTreeMap<&str, u16>) -> Vec<Value> {
    let mut docs = example_documents(sim, namespaces, sip_ports);
    let drs = drsite_of(&docs);
    for c in &drs.spec.components {
        for at in &c.sites {
            let Some(w) = &at.workload else { continue };
            let site = drs
                .spec
                .sites
                .iter()
                .find(|s| s.name == at.site)
                .unwrap_or_else(|| panic!("{} names an unknown site {}", c.name, at.site));
            docs.push(workload_manifest(w.kind, &w.name, &site.namespace));
        }
    }
    docs
}

/// `docs` as one multi-document YAML stream for `kubectl apply -f -` (each document in JSON,
/// which is YAML).
fn yaml_stream(docs: &[&Value]) -> String {
    docs.iter()
        .map(|d| format!("---\n{}\n", serde_json::to_string_pretty(d).expect("JSON")))
        .collect()
}

/// Runs kubectl (KUBECONFIG inherited) with `stdin`: its standard output, or why it failed.
async fn kubectl(args: &[&str], stdin: Option<String>) -> Result<String, String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let shown = format!("kubectl {}", args.join(" "));
        let mut child = Command::new("kubectl")
            .args(&args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run kubectl (is it on PATH?): {e}"))?;
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            pipe.write_all(text.as_bytes())
                .map_err(|e| format!("{shown}: writing its input: {e}"))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("{shown}: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{shown} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    })
    .await
    .expect("the kubectl task")
}

/// The rows of a `kubectl get` table, by column header. Cells are cut at the header's column
/// positions (kubectl aligns every row on them), so a cell may contain spaces (STEP does).
fn parse_table(text: &str) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap_or_default();
    let bytes = header.as_bytes();
    let starts: Vec<usize> = (0..bytes.len())
        .filter(|&i| bytes[i] != b' ' && (i == 0 || bytes[i - 1] == b' '))
        .collect();
    let names: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let rows = lines
        .map(|line| {
            names
                .iter()
                .enumerate()
                .map(|(k, name)| {
                    let end = starts.get(k + 1).copied().unwrap_or(line.len()).min(line.len());
                    let cell = line.get(starts[k].min(end)..end).unwrap_or_default();
                    (name.clone(), cell.trim().to_string())
                })
                .collect()
        })
        .collect();
    (names, rows)
}

/// The `drover` binary, `drover run`, out of cluster; killed when dropped. Its output goes to a
/// file, printed when the test fails.
struct Operator {
    child: Mutex<Child>,
    log: PathBuf,
}

impl Operator {
    fn start(namespaces: &[&str], log_name: &str) -> Self {
        let log = std::env::temp_dir().join(format!("{log_name}-operator.log"));
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let mut command = Command::new(env!("CARGO_BIN_EXE_drover"));
        command.arg("run");
        for ns in namespaces {
            command.args(["--namespace", ns]);
        }
        command
            .args(["--leader-election=false", "--metrics-addr", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("the log file"))
            .stderr(file);
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "info");
        }
        let child = command.spawn().expect("start the drover binary");
        Self {
            child: Mutex::new(child),
            log,
        }
    }

    /// Panics (its log follows) when the operator has exited.
    fn assert_running(&self) {
        let exited: Option<ExitStatus> = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .try_wait()
            .expect("query the operator process");
        if let Some(status) = exited {
            panic!("the operator exited ({status}); its log follows");
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking() {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!(
                "---- drover run: its output ({}) ----\n{text}---- end of the operator's output ----",
                self.log.display()
            );
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// A server outside Kubernetes — the SIP server's VM at one site — played by the test: its probe
/// port (reserved, bound, not listening, so connections are refused) starts answering once
/// drover's start hook Job for it has succeeded at that site.
async fn sip_server(client: Client, namespace: String, socket: TcpSocket) {
    let jobs: Api<Job> = Api::namespaced(client, &namespace);
    let selector = format!("{LABEL_COMPONENT}={SIP},{LABEL_ACTION}=start");
    loop {
        match jobs.list(&ListParams::default().labels(&selector)).await {
            Ok(list)
                if list
                    .items
                    .iter()
                    .any(|j| j.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) > 0) =>
            {
                break;
            }
            Ok(_) => {}
            Err(e) => eprintln!("{SIP} in {namespace}: list Jobs: {e}"),
        }
        tokio::time::sleep(POLL).await;
    }
    let listener = socket.listen(64).expect("listen on the reserved probe port");
    loop {
        if let Ok((connection, _)) = listener.accept().await {
            drop(connection);
        }
    }
}

/// A loopback port bound now, listening later.
fn reserve_port() -> (TcpSocket, u16) {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
        .expect("bind a loopback port");
    let port = socket.local_addr().expect("its address").port();
    (socket, port)
}

/// A workload as the test reads it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    /// `spec.replicas`.
    replicas: Option<i32>,
    /// `status.replicas`: pods that exist.
    pods: i32,
    ready: i32,
    /// The field managers of `spec.replicas`.
    replicas_managers: Vec<String>,
}

impl Seen {
    /// Wanted or still running somewhere.
    fn up(&self) -> bool {
        self.replicas.unwrap_or(1) > 0 || self.pods > 0
    }
}

/// The managers (and operations) that own the field at `pointer` in managedFields' fieldsV1.
fn managers(meta: &ObjectMeta, pointer: &str) -> Vec<String> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|m| m.fields_v1.as_ref().is_some_and(|f| f.0.pointer(pointer).is_some()))
        .map(|m| {
            format!(
                "{}/{}",
                m.manager.as_deref().unwrap_or_default(),
                m.operation.as_deref().unwrap_or_default()
            )
        })
        .collect()
}

/// One run of runbook A against the cluster.
struct Runbook {
    client: Client,
    sim: Arc<Sim>,
    operator: Operator,
    /// The example's documents as applied (edited).
    docs: Vec<Value>,
    /// The DrSite's namespace.
    home: String,
    /// Each site's namespace.
    site_ns: BTreeMap<String, String>,
}

impl Runbook {
    fn drsite_doc(&mut self) -> &mut Value {
        self.docs
            .iter_mut()
            .find(|d| d["kind"] == "DrSite")
            .expect("the example has a DrSite")
    }

    /// The DrSite as last applied, typed.
    fn declared(&self) -> DrSite {
        drsite_of(&self.docs)
    }

    /// Every workload the DrSite names, with its namespace and the replicas it should have with
    /// `active` the active site.
    fn workloads(&self, active: &str) -> Vec<(String, WorkloadKind, String, String, i32, Placement)> {
        let drs = self.declared();
        let mut out = Vec::new();
        for c in &drs.spec.components {
            for at in &c.sites {
                let Some(w) = &at.workload else { continue };
                let wanted = match c.placement {
                    Placement::EverySite => w.replicas,
                    Placement::ActiveSite if at.site == active => w.replicas,
                    Placement::ActiveSite => 0,
                };
                let ns = self.site_ns[&at.site].clone();
                out.push((at.site.clone(), w.kind, w.name.clone(), ns, wanted, c.placement));
            }
        }
        out
    }

    /// `kubectl apply -f -` of `docs` (retried briefly: discovery of just-installed CRDs lags).
    async fn apply(&self, docs: Vec<&Value>) {
        let stream = yaml_stream(&docs);
        eventually(Duration::from_secs(30), "kubectl apply to succeed", move || {
            let stream = stream.clone();
            async move { kubectl(&["apply", "-f", "-"], Some(stream)).await }
        })
        .await;
    }

    /// The flip a user makes in Git: `spec.activeSite` edited, the files applied again. The
    /// AvailabilityGroup's document is not re-applied: its `spec.primarySite` belongs to the
    /// DrSite (field manager `drover-drsite`), and a client-side `kubectl apply` of the file as
    /// committed would set it back to the committed value, moving the group behind the DrSite's
    /// back. GitOps tools must be told to ignore that field, as they are for an autoscaler's
    /// `replicas`.
    async fn flip(&mut self, to: &str) {
        *field(self.drsite_doc(), "spec.activeSite") = json!(to);
        let docs: Vec<&Value> = self.docs.iter().filter(|d| d["kind"] != "AvailabilityGroup").collect();
        self.apply(docs).await;
    }

    async fn seen(&self, kind: WorkloadKind, name: &str, ns: &str) -> Result<Option<Seen>, String> {
        let pointer = "/f:spec/f:replicas";
        let client = self.client.clone();
        let read = |meta: &ObjectMeta, replicas: Option<i32>, pods: i32, ready: Option<i32>| Seen {
            replicas,
            pods,
            ready: ready.unwrap_or(0),
            replicas_managers: managers(meta, pointer),
        };
        let result = match kind {
            WorkloadKind::Deployment => Api::<Deployment>::namespaced(client, ns).get_opt(name).await.map(|d| {
                d.map(|d| {
                    let status = d.status.clone().unwrap_or_default();
                    read(
                        &d.metadata,
                        d.spec.as_ref().and_then(|s| s.replicas),
                        status.replicas.unwrap_or(0),
                        status.ready_replicas,
                    )
                })
            }),
            WorkloadKind::StatefulSet => Api::<StatefulSet>::namespaced(client, ns).get_opt(name).await.map(|s| {
                s.map(|s| {
                    let status = s.status.clone().unwrap_or_default();
                    read(
                        &s.metadata,
                        s.spec.as_ref().and_then(|sp| sp.replicas),
                        status.replicas,
                        status.ready_replicas,
                    )
                })
            }),
        };
        result.map_err(|e| format!("get {kind:?} {ns}/{name}: {e}"))
    }

    /// Sampled while the system moves from `from` to `to` (design invariants 4 and 5, as far as
    /// one look can tell): no `ActiveSite` component up at both sites, and master-confserv (the
    /// writer of confdb) wanted only where the group's primary is. The new site is read before
    /// the old one and the primary before and after, so a correct runbook never trips this.
    async fn check_invariants(&self, from: &str, to: &str) {
        let primary_before = primary_site(&self.sim);
        let mut up: BTreeMap<(String, String), bool> = BTreeMap::new();
        let mut confserv_wanted = Vec::new();
        let drs = self.declared();
        for site in [to, from] {
            for c in drs
                .spec
                .components
                .iter()
                .filter(|c| c.placement == Placement::ActiveSite)
            {
                let Some(w) = c.at(site).and_then(|a| a.workload.as_ref()) else {
                    continue;
                };
                let Ok(Some(seen)) = self.seen(w.kind, &w.name, &self.site_ns[site]).await else {
                    continue;
                };
                up.insert((c.name.clone(), site.to_string()), seen.up());
                if c.name == "master-confserv" && seen.replicas.unwrap_or(1) > 0 {
                    confserv_wanted.push(site);
                }
            }
        }
        let primary_after = primary_site(&self.sim);
        for c in drs
            .spec
            .components
            .iter()
            .filter(|c| c.placement == Placement::ActiveSite)
        {
            let at = |site: &str| up.get(&(c.name.clone(), site.to_string())) == Some(&true);
            assert!(!(at(from) && at(to)), "{} is up at {from} and at {to} at once", c.name);
        }
        for site in confserv_wanted {
            let primary = if site == from { primary_before } else { primary_after };
            assert_eq!(
                primary,
                Some(site),
                "master-confserv is scaled up at {site} while the primary is at {primary:?}"
            );
        }
    }

    /// Waits until the DrSite is Steady at `site` for its current generation, checking the
    /// invariants on every look when it moves there `from` another site.
    async fn wait_steady(&self, site: &str, from: Option<&str>, limit: Duration) -> DrSite {
        let drsites: Api<DrSite> = Api::namespaced(self.client.clone(), &self.home);
        let drsites = &drsites;
        eventually(
            limit,
            &format!("DrSite {DRSITE} Steady at {site}"),
            move || async move {
                self.operator.assert_running();
                if let Some(from) = from {
                    self.check_invariants(from, site).await;
                }
                let drs = drsites.get(DRSITE).await.map_err(|e| format!("get DrSite: {e}"))?;
                let status = drs.status.clone().unwrap_or_default();
                let current =
                    status.observed_generation.is_some() && status.observed_generation == drs.metadata.generation;
                if current && status.phase == Some(DrPhase::Steady) && status.active_site.as_deref() == Some(site) {
                    Ok(drs)
                } else {
                    Err(format!(
                        "generation {:?}, status {:#?}",
                        drs.metadata.generation, drs.status
                    ))
                }
            },
        )
        .await
    }

    /// Everything at `site`, checked against the cluster, kubectl and the simulator.
    async fn check_at(&self, site: &str, drs: &DrSite) {
        let status = drs.status.clone().expect("status");
        assert!(
            status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True"),
            "Ready=True: {:?}",
            status.conditions
        );
        assert!(
            status.transition.is_none(),
            "no transition left: {:?}",
            status.transition
        );

        // The workloads: the active site's up and Ready, the other's ActiveSite ones at 0, every
        // replica count set by drover.
        for (at, kind, name, ns, wanted, placement) in self.workloads(site) {
            let seen = self
                .seen(kind, &name, &ns)
                .await
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("{kind:?} {ns}/{name} exists"));
            assert_eq!(
                seen.replicas,
                Some(wanted),
                "{kind:?} {name} at {at} ({placement:?}) with {site} active: {seen:?}"
            );
            if wanted > 0 {
                assert_eq!(seen.ready, wanted, "{kind:?} {name} at {at} Ready: {seen:?}");
            } else {
                assert_eq!(seen.pods, 0, "{kind:?} {name} at {at} has no pod left: {seen:?}");
            }
            // A count equal to the default (1) may never have needed drover's hand.
            if wanted != 1 {
                assert!(
                    seen.replicas_managers
                        .iter()
                        .any(|m| m == &format!("{DRSITE_FIELD_MANAGER}/Apply")),
                    "{kind:?} {name} at {at}: spec.replicas is drover's, managers {:?}",
                    seen.replicas_managers
                );
            }
        }

        // The group, as its own status and managedFields tell.
        let ags: Api<AvailabilityGroup> = Api::namespaced(self.client.clone(), &self.home);
        let ag = ags.get(AG).await.expect("get the AvailabilityGroup");
        assert_eq!(
            ag.spec.primary_site.as_deref(),
            Some(site),
            "the DrSite set the group's primarySite"
        );
        let ag_status = ag.status.clone().expect("the group has a status");
        assert_eq!(ag_status.primary_site.as_deref(), Some(site), "{ag_status:#?}");
        assert_eq!(ag_status.phase, Some(Phase::Steady), "{ag_status:#?}");
        let node = NODES.iter().find(|(_, s, _)| *s == site).expect("a node per site").0;
        assert_eq!(ag_status.primary_replica.as_deref(), Some(node));

        // The simulator's ground truth.
        for (n, s, _) in NODES {
            let expected = if s == site { Role::Primary } else { Role::Secondary };
            assert_eq!(role_of(&self.sim, SQL_AG, n), Some(expected), "{n} in the simulator");
        }
        assert!(
            self.sim.with_world(|w, _| w.split_brain_moments().is_empty()),
            "never two primaries"
        );
        for (db, lost) in lost_transactions(&self.sim, SQL_AG, &DATABASES) {
            assert_eq!(lost, Some(0), "commits lost in {db}");
        }

        // What a person sees: `kubectl get drsites`.
        let out = kubectl(&["get", "drsites", "-n", &self.home], None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (columns, rows) = parse_table(&out);
        assert_eq!(
            columns,
            ["NAME", "ACTIVE", "DESIRED", "PHASE", "READY", "STEP", "AGE"],
            "kubectl get drsites:\n{out}"
        );
        let row = rows
            .iter()
            .find(|r| r["NAME"] == DRSITE)
            .unwrap_or_else(|| panic!("{DRSITE} listed:\n{out}"));
        let sites = self.site_ns.len();
        let wanted: usize = self
            .declared()
            .spec
            .components
            .iter()
            .map(|c| match c.placement {
                Placement::ActiveSite => 1,
                Placement::EverySite => sites,
            })
            .sum();
        assert_eq!(row["ACTIVE"], site, "kubectl get drsites:\n{out}");
        assert_eq!(row["DESIRED"], site, "kubectl get drsites:\n{out}");
        assert_eq!(row["PHASE"], "Steady", "kubectl get drsites:\n{out}");
        assert_eq!(
            row["READY"],
            format!("{wanted}/{wanted}"),
            "kubectl get drsites:\n{out}"
        );
        assert!(
            ["", "<none>"].contains(&row["STEP"].as_str()),
            "no step in progress; kubectl get drsites:\n{out}"
        );
    }

    /// After a flip from `from` to `to`: the DrSite moved the group itself, as a switchover.
    async fn check_moved(&self, from: &str, to: &str, drs: &DrSite) {
        let last = drs
            .status
            .as_ref()
            .and_then(|s| s.last_transition.clone())
            .expect("the transition is recorded");
        assert_eq!(last.kind, TransitionKind::Switchover, "{last:?}");
        assert_eq!(last.from_site.as_deref(), Some(from), "{last:?}");
        assert_eq!(last.to_site, to, "{last:?}");
        assert!(last.lost_sites.is_empty(), "{last:?}");
        let ags: Api<AvailabilityGroup> = Api::namespaced(self.client.clone(), &self.home);
        let ag = ags.get(AG).await.expect("get the AvailabilityGroup");
        assert_eq!(
            managers(&ag.metadata, "/f:spec/f:primarySite"),
            [format!("{DRSITE_FIELD_MANAGER}/Apply")],
            "spec.primarySite is the DrSite's alone"
        );
    }

    /// The SIP server's hook Jobs: one start per site, at the cold start, with drover's variables;
    /// no stop (it runs at every site, so a switchover leaves it alone).
    async fn check_hook_jobs(&self) {
        for (site, ns) in &self.site_ns {
            let jobs: Api<Job> = Api::namespaced(self.client.clone(), ns);
            let list = jobs
                .list(&ListParams::default().labels(&format!("{LABEL_DRSITE}={DRSITE}")))
                .await
                .expect("list hook Jobs");
            let runs: Vec<(String, String)> = list
                .items
                .iter()
                .map(|j| {
                    let label = |k: &str| j.labels().get(k).cloned().unwrap_or_default();
                    (label(LABEL_COMPONENT), label(LABEL_ACTION))
                })
                .collect();
            assert_eq!(runs, [(SIP.to_string(), "start".to_string())], "hook Jobs at {site}");
            let job = &list.items[0];
            assert!(
                job.status.as_ref().and_then(|s| s.succeeded).unwrap_or(0) > 0,
                "{:?}",
                job.status
            );
            let env: BTreeMap<String, String> = job
                .spec
                .iter()
                .flat_map(|s| s.template.spec.iter())
                .flat_map(|p| p.containers.iter())
                .flat_map(|c| c.env.iter().flatten())
                .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                .collect();
            for (name, value) in [
                ("DROVER_ACTION", "start"),
                ("DROVER_COMPONENT", SIP),
                ("DROVER_SITE", site.as_str()),
                ("DROVER_DRSITE", DRSITE),
            ] {
                assert_eq!(env.get(name).map(String::as_str), Some(value), "{name} in {env:?}");
            }
        }
    }
}

/// The scenario; panics on failure (the caller deletes the namespaces either way).
async fn contact_center_scenario(client: Client, sim: Arc<Sim>, namespaces: BTreeMap<String, String>) {
    let home = renamed(&namespaces, "contact-center");
    let mut probes = BTreeMap::new();
    let mut sip_ports = BTreeMap::new();
    for (_, site, _) in NODES {
        let (socket, port) = reserve_port();
        probes.insert(site, socket);
        sip_ports.insert(site, port);
    }
    let docs = manifests(&sim, &namespaces, &sip_ports);
    let drs = drsite_of(&docs);
    assert_eq!(drs.spec.active_site, "site-a", "the example starts at site-a");
    let site_ns: BTreeMap<String, String> = drs
        .spec
        .sites
        .iter()
        .map(|s| (s.name.clone(), s.namespace.clone()))
        .collect();

    // The operator first, as installed; then what a user applies.
    let mut watched: Vec<&str> = vec![&home];
    watched.extend(site_ns.values().map(String::as_str));
    let operator = Operator::start(&watched, &home);
    let mut run = Runbook {
        client: client.clone(),
        sim: sim.clone(),
        operator,
        docs,
        home,
        site_ns,
    };
    run.apply(run.docs.iter().collect()).await;
    // The SIP servers' VMs, up once drover's start hook Job ran at their site.
    let mut vms = tokio::task::JoinSet::new();
    for (site, socket) in probes {
        vms.spawn(sip_server(client.clone(), run.site_ns[site].clone(), socket));
    }

    let steady = run.wait_steady("site-a", None, COLD_START_LIMIT).await;
    run.check_at("site-a", &steady).await;

    run.flip("site-b").await;
    let moved = run.wait_steady("site-b", Some("site-a"), FLIP_LIMIT).await;
    run.check_at("site-b", &moved).await;
    run.check_moved("site-a", "site-b", &moved).await;

    // Failback in GitOps terms: the same edit reversed.
    run.flip("site-a").await;
    let back = run.wait_steady("site-a", Some("site-b"), FLIP_LIMIT).await;
    run.check_at("site-a", &back).await;
    run.check_moved("site-b", "site-a", &back).await;
    run.check_hook_jobs().await;
    run.operator.assert_running();
    vms.abort_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Kubernetes cluster (KUBECONFIG), kubectl, and the image registry.k8s.io/pause:3.10"]
async fn contact_center_switches_over_and_back_with_kubectl_apply() {
    drover::sql::install_crypto_provider();
    let client = Client::try_default().await.expect("a kubeconfig or in-cluster config");
    install_crds(&client).await;
    let sim = start_sim(contact_center_world()).await;
    let prefix = namespace_name();
    let namespaces = run_namespaces(&prefix);
    let fresh: Vec<String> = namespaces.values().cloned().collect();
    with_namespaces_deleted_after(
        &client,
        &fresh,
        contact_center_scenario(client.clone(), sim.clone(), namespaces),
    )
    .await;
    sim.shutdown();
}

/// Not ignored (no cluster needed): what the real-cluster scenario applies is built from the
/// example as it is today, every document is a valid object of its kind, and nothing of the
/// example's own environment (namespaces, endpoints, TLS, login, images) is left in it. A change
/// to the example that the scenario cannot follow fails here, in every `cargo test`.
#[tokio::test]
async fn the_example_as_the_real_cluster_suite_applies_it() {
    let sim = start_sim(contact_center_world()).await;
    assert_eq!(primary_site(&sim), Some("site-a"), "the world starts at site-a");
    let namespaces = run_namespaces("drover-e2e-0");
    let sip_ports = BTreeMap::from([("site-a", 40001), ("site-b", 40002)]);
    let docs = manifests(&sim, &namespaces, &sip_ports);
    let stream = yaml_stream(&docs.iter().collect::<Vec<_>>());
    let read_back: Vec<Value> = serde_saphyr::from_multiple(&stream).expect("the stream is YAML");
    assert_eq!(read_back, docs, "what kubectl reads is what was built");
    let fresh: Vec<&String> = namespaces.values().collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap_or_default()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Namespace").count(), 3, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "Deployment").count(), 12, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "StatefulSet").count(), 2, "{kinds:?}");
    let (user, password) = sim.login();
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap_or_default();
        let ns = if kind == "Namespace" {
            &doc["metadata"]["name"]
        } else {
            &doc["metadata"]["namespace"]
        };
        assert!(
            fresh.iter().any(|f| ns == f.as_str()),
            "{kind} {} in {ns}",
            doc["metadata"]["name"]
        );
        match kind {
            "Namespace" => {
                let ns: Namespace = serde_json::from_value(doc.clone()).expect("a Namespace");
                assert_eq!(ns.labels().get(CREATED_BY.0).map(String::as_str), Some(CREATED_BY.1));
            }
            "Secret" => {
                let secret: Secret = serde_json::from_value(doc.clone()).expect("a Secret");
                let data = secret.string_data.expect("stringData");
                assert_eq!(data["username"], user);
                assert_eq!(data["password"], password);
            }
            "AvailabilityGroup" => {
                let ag: AvailabilityGroup = serde_json::from_value(doc.clone()).expect("an AvailabilityGroup");
                assert_eq!(drover::api::availability_group::validate(&ag.spec), vec![]);
                assert_eq!(ag.spec.group_name, SQL_AG);
                assert_eq!(ag.spec.primary_site.as_deref(), Some("site-a"));
                assert_eq!(ag.spec.tls.encryption, drover::api::availability_group::Encryption::Off);
                for r in &ag.spec.replicas {
                    let addr = sim.addr(&r.server_name).expect("a simulated instance");
                    assert_eq!((r.endpoint.host.as_str(), r.endpoint.port), ("127.0.0.1", addr.port()));
                    let site = NODES.iter().find(|(n, _, _)| *n == r.server_name).map(|(_, s, _)| *s);
                    assert_eq!(site, Some(r.site.as_str()), "{} at its site", r.server_name);
                }
            }
            "DrSite" => {
                let drs: DrSite = serde_json::from_value(doc.clone()).expect("a DrSite");
                assert_eq!(drover::api::dr_site::validate(&drs.spec), vec![]);
                let sip = drs.spec.component(SIP).expect("the example has the SIP server");
                for at in &sip.sites {
                    let hooks = at.hooks.as_ref().expect("hooks");
                    let tcp = hooks.probe.tcp.as_ref().expect("a TCP probe");
                    assert_eq!(
                        (tcp.host.as_str(), tcp.port),
                        ("127.0.0.1", sip_ports[at.site.as_str()])
                    );
                    for template in [&hooks.start, &hooks.stop] {
                        let pod = template
                            .spec
                            .as_ref()
                            .and_then(|s| s.template.spec.as_ref())
                            .expect("a pod");
                        assert!(pod.volumes.is_none(), "no Secret to mount");
                        let images: Vec<_> = pod.containers.iter().map(|c| c.image.as_deref()).collect();
                        assert_eq!(images, [Some(PAUSE_IMAGE)]);
                    }
                }
            }
            "Deployment" => {
                let d: Deployment = serde_json::from_value(doc.clone()).expect("a Deployment");
                let spec = d.spec.expect("spec");
                assert_eq!(spec.replicas, None, "replicas left to drover");
                let images: Vec<_> = spec
                    .template
                    .spec
                    .expect("a pod")
                    .containers
                    .iter()
                    .map(|c| c.image.clone())
                    .collect();
                assert_eq!(images, [Some(PAUSE_IMAGE.to_string())]);
            }
            "StatefulSet" => {
                let s: StatefulSet = serde_json::from_value(doc.clone()).expect("a StatefulSet");
                let spec = s.spec.expect("spec");
                assert_eq!(spec.replicas, None, "replicas left to drover");
                assert_eq!(spec.service_name.as_deref(), s.metadata.name.as_deref());
            }
            other => panic!("unexpected {other}"),
        }
    }
    sim.shutdown();
}

#[test]
fn a_kubectl_table_is_read_by_its_header_positions() {
    let out = "NAME             ACTIVE   DESIRED   PHASE           READY   STEP                               AGE\n\
               contact-center   site-b   site-b    SwitchingOver   10/13   5/7 start master-confserv@site-b   3d\n\
               other            <none>   site-a    Starting        0/13    <none>                             4s\n";
    let (columns, rows) = parse_table(out);
    assert_eq!(columns, ["NAME", "ACTIVE", "DESIRED", "PHASE", "READY", "STEP", "AGE"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["STEP"], "5/7 start master-confserv@site-b");
    assert_eq!(rows[0]["READY"], "10/13");
    assert_eq!(rows[0]["AGE"], "3d");
    assert_eq!(rows[1]["ACTIVE"], "<none>");
    assert_eq!(rows[1]["PHASE"], "Starting");
}
