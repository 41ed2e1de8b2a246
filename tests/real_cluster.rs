//! End-to-end against a real Kubernetes API server (the current kubeconfig context).
//! Ignored by default; run with `cargo test --test real_cluster -- --ignored`.
//!
//! The operator runs inside the test process (`controller::ag::run::run`), and so does the
//! SQL Server simulator, bound to 127.0.0.1: only the test process talks SQL, so the cluster
//! never needs to reach the simulator. The cluster is used for what it is for: the CRD, its
//! validation, the watch, the status subresource, Events.
//!
//! Needs permission to apply CRDs, create and delete namespaces, and read and write Secrets,
//! AvailabilityGroups (and their status) and events.k8s.io Events in the test namespace.
//! The CRD is left installed afterwards (deleting it would delete every AvailabilityGroup).

use drover::api::availability_group::{AvailabilityGroup, Phase};
use drover::controller::Config;
use drover::sim::Sim;
use drover::sim::model::Role;
use drover::sim::model::config::WorldConfig;
use drover::sim::spec::availability_group_spec;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// A namespace name that no earlier run left behind.
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
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/created-by".into(),
                "drover-test".into(),
            )])),
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
    if let Err(e) = namespaces.delete(name, &DeleteParams::default()).await {
        eprintln!("cleanup: could not delete namespace {name}: {e}");
    }
}

/// Polls the object until `done` holds; panics with the last status after `limit`.
async fn wait_for(
    api: &Api<AvailabilityGroup>,
    name: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&AvailabilityGroup) -> bool,
) -> AvailabilityGroup {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = None;
    loop {
        match api.get(name).await {
            Ok(ag) if done(&ag) => return ag,
            Ok(ag) => last = Some(ag),
            Err(e) => eprintln!("get {name}: {e}"),
        }
        if tokio::time::Instant::now() >= deadline {
            panic!(
                "timed out after {limit:?} waiting for {what}; last status: {:#?}",
                last.and_then(|ag| ag.status)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn at_site(ag: &AvailabilityGroup, site: &str) -> bool {
    ag.status
        .as_ref()
        .is_some_and(|s| s.primary_site.as_deref() == Some(site) && s.phase == Some(Phase::Steady))
}

fn role_of(sim: &Sim, instance: &str) -> Option<Role> {
    sim.with_world(|w, now| w.roles(now, "ag1"))
        .into_iter()
        .find(|(i, _)| i == instance)
        .and_then(|(_, r)| r)
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
    }
}

/// The switchover itself; panics on failure (the caller cleans up either way).
async fn switchover_scenario(client: Client, ns: String, sim: Arc<Sim>) {
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
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match ags.create(&PostParams::default(), &ag).await {
            Ok(_) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                eprintln!("create AvailabilityGroup (retrying): {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("create AvailabilityGroup: {e}"),
        }
    }

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
    assert_eq!(role_of(&sim, "SQL-A"), Some(Role::Primary));

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
    assert_eq!(role_of(&sim, "SQL-B"), Some(Role::Primary), "the simulator agrees");
    assert_eq!(role_of(&sim, "SQL-A"), Some(Role::Secondary));
    sim.with_world(|w, now| {
        assert!(w.split_brain_moments().is_empty(), "never two primaries");
        assert_eq!(w.lost_transactions(now, "ag1", "confdb"), Some(0));
        assert_eq!(w.lost_transactions(now, "ag1", "logdb"), Some(0));
    });

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
    let sim = Sim::start_at(
        WorldConfig::two_sites(),
        jiff::Zoned::now().datetime(),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    )
    .await
    .expect("simulator starts on 127.0.0.1");
    let ns = namespace_name();
    create_namespace(&client, &ns).await;
    // Run the scenario as its own task so a failed assertion still lets us clean up.
    let outcome = tokio::spawn(switchover_scenario(client.clone(), ns.clone(), sim.clone())).await;
    delete_namespace(&client, &ns).await;
    sim.shutdown();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
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
