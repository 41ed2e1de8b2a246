//! Contract tests of the DrSite controller's Kubernetes adapters — the sites
//! ([`KubeSites`]: workloads, scaling, hook Jobs, clusters reached through a
//! kubeconfig Secret) and [`KubePort`] as a [`DrPort`] (child AGs and
//! PersistentChatPools, DrSite status and Events) — against mocked API servers (tower-test). Every request
//! is checked (method, path and query, content type, JSON body) and answered
//! with a canned response; a request that never comes fails by timeout, a
//! surplus one fails against the closed mock.

mod common;

use common::mock_api::*;
use drover::api::PersistentChatPool;
use drover::api::availability_group::{
    AvailabilityGroup, AvailabilityGroupSpec, AvailabilityMode, ClusterType, CredentialsRef, Encryption, EndpointSpec,
    ForcedFailoverPolicy, ReplicaSpec, TlsSpec,
};
use drover::api::dr_site::{
    ChildRef, ComponentAtSite, ComponentSpec, DrPhase, DrSite, DrSiteSpec, DrSiteStatus, KubeconfigRef, Placement,
    SiteSpec, WorkloadKind, WorkloadRef,
};
use drover::components::hook::{Build, HookContext, hook_job};
use drover::components::jobs::{JobOwner, JobPolicy};
use drover::components::kube::{KubeSites, REMOTE_CONNECT_TIMEOUT, REMOTE_READ_TIMEOUT};
use drover::components::tenancy::Target;
use drover::components::{HookAction, HookJob, JobPhase, SiteAccess, Sites, WorkloadObs};
use drover::controller::kube::KubePort;
use drover::controller::{DrPort, Event, PortError};
use http::{Method, StatusCode};
use k8s_openapi::api::batch::v1::{Job, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

impl ApiServer {
    /// The GET of a kubeconfig Secret; answers with `kubeconfig` under `key` (or 404).
    async fn kubeconfig_secret(&mut self, ns: &str, name: &str, version: &str, data: Option<(&str, &str)>) {
        let seen = self.get(&format!("/api/v1/namespaces/{ns}/secrets/{name}")).await;
        match data {
            Some((key, text)) => seen.ok(&json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": name, "namespace": ns, "resourceVersion": version},
                "type": "Opaque",
                "data": {key: base64_free::encode(text.as_bytes())}
            })),
            None => seen.fail(404, "NotFound", &format!("secrets \"{name}\" not found")),
        }
    }
}

/// Site B, in the operator's own cluster.
fn local_site() -> SiteAccess {
    SiteAccess {
        site: "site-b".into(),
        namespace: "cc-b".into(),
        kubeconfig: None,
        home_namespace: "dr".into(),
    }
}

/// Site B, in another cluster reached through the kubeconfig in Secret dr/site-b-kubeconfig.
fn remote_site() -> SiteAccess {
    SiteAccess {
        kubeconfig: Some(KubeconfigRef {
            secret_name: "site-b-kubeconfig".into(),
            key: "kubeconfig".into(),
        }),
        ..local_site()
    }
}

const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: site-b
  cluster:
    server: https://api.site-b.example:6443
    insecure-skip-tls-verify: true
users:
- name: drover
  user:
    token: kc-token-SENTINEL
contexts:
- name: site-b
  context:
    cluster: site-b
    user: drover
current-context: site-b
";

fn deployment_json(generation: i64, replicas: Option<i32>, status: Value) -> Value {
    let mut spec = json!({
        "selector": {"matchLabels": {"app": "master-scs"}},
        "template": {"metadata": {"labels": {"app": "master-scs"}}, "spec": {"containers": [{"name": "scs", "image": "scs:8.5"}]}}
    });
    if let Some(r) = replicas {
        spec["replicas"] = json!(r);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "master-scs", "namespace": "cc-b", "generation": generation, "resourceVersion": "51"},
        "spec": spec,
        "status": status
    })
}

fn statefulset_json() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "confserv", "namespace": "cc-b", "generation": 7, "resourceVersion": "52"},
        "spec": {
            "replicas": 2,
            "serviceName": "confserv",
            "selector": {"matchLabels": {"app": "confserv"}},
            "template": {"metadata": {"labels": {"app": "confserv"}}, "spec": {"containers": [{"name": "cs", "image": "cs:8.5"}]}}
        },
        "status": {"replicas": 2, "readyReplicas": 1, "currentReplicas": 2, "observedGeneration": 6}
    })
}

fn hook_template() -> JobTemplateSpec {
    JobTemplateSpec {
        metadata: None,
        spec: Some(JobSpec {
            backoff_limit: Some(1),
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "cmdlet".into(),
                        image: Some("registry.example/cs-tools:1".into()),
                        ..Container::default()
                    }],
                    restart_policy: Some("Never".into()),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
    }
}

fn hook(component: &str, action: HookAction) -> Job {
    let ctx = HookContext {
        drsite: "contact-center",
        component,
        site: "site-b",
        action,
        active_site: "site-b",
        run: "1795000000-0",
    };
    let owner = JobOwner::of(
        "DrSite",
        &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some("contact-center".into()),
            namespace: Some("dr".into()),
            uid: Some(DRSITE_UID.into()),
            ..Default::default()
        },
    );
    let build = Build {
        owner: &owner,
        policy: &JobPolicy::default(),
    };
    hook_job(&hook_template(), "cc-b", &ctx, build).expect("the template has a pod")
}

/// The DrSite's UID, which marks its hook Jobs.
const DRSITE_UID: &str = "6d1c5b2e-drsite";

fn ag() -> AvailabilityGroup {
    let replica = |name: &str, site: &str| ReplicaSpec {
        server_name: name.into(),
        site: site.into(),
        endpoint: EndpointSpec {
            host: format!("{}.example", name.to_lowercase()),
            port: 1433,
        },
        availability_mode: AvailabilityMode::AsynchronousCommit,
        fence_hook: None,
        force_quorum_hook: None,
    };
    let mut ag = AvailabilityGroup::new(
        "ag1",
        AvailabilityGroupSpec {
            group_name: "ag1".into(),
            cluster_type: ClusterType::Wsfc,
            databases: vec!["confdb".into()],
            replicas: vec![replica("SQL-A", "site-a"), replica("SQL-B", "site-b")],
            credentials: CredentialsRef {
                secret_name: "ag1-login".into(),
                username_key: "username".into(),
                password_key: "password".into(),
            },
            tls: TlsSpec {
                encryption: Encryption::Off,
                ..TlsSpec::default()
            },
            primary_site: Some("site-a".into()),
            forced_failover: ForcedFailoverPolicy::default(),
            auto_resume: false,
            backup_before_failback: None,
            required_synchronized_secondaries: None,
        },
    );
    ag.metadata.namespace = Some("dr".into());
    ag.metadata.resource_version = Some("88".into());
    ag
}

/// PersistentChatPool dr/pchat: primary data center site-a, backup site-b, active site-a.
fn pool() -> PersistentChatPool {
    let instance = |host: &str| json!({"serverName": host, "endpoint": {"host": host, "port": 1433}});
    serde_json::from_value(json!({
        "apiVersion": "drover.dev/v1alpha1",
        "kind": "PersistentChatPool",
        "metadata": {"name": "pchat", "namespace": "dr", "resourceVersion": "91", "generation": 4},
        "spec": {
            "poolIdentity": "PersistentChatServer:pchat.contoso.com",
            "activeSite": "site-a",
            "primary": {"site": "site-a", "sqlInstance": instance("sql-a"), "activeServers": ["pc-a.contoso.com"]},
            "backup": {"site": "site-b", "sqlInstance": instance("sql-b"), "activeServers": ["pc-b.contoso.com"]},
            "logShipping": {"backupShare": "\\\\fs\\logs", "copyDestination": "D:\\LogShip"},
            "credentials": {"secretName": "pchat-login"},
            "hooks": {"setPoolState": {}, "setActiveServers": {}, "installMirror": {}, "establishLogShipping": {}}
        },
        "status": {"observedGeneration": 4, "activeSite": "site-a", "phase": "Steady", "poolState": "Normal"}
    }))
    .expect("a valid PersistentChatPool")
}

fn drsite() -> DrSite {
    let site = |name: &str, namespace: &str| SiteSpec {
        name: name.into(),
        namespace: namespace.into(),
        kubeconfig: None,
    };
    let mut drs = DrSite::new(
        "contact-center",
        DrSiteSpec {
            sites: vec![site("site-a", "cc-a"), site("site-b", "cc-b")],
            active_site: "site-b".into(),
            availability_groups: vec![ChildRef { name: "ag1".into() }],
            persistent_chat_pools: vec![],
            components: vec![ComponentSpec {
                name: "master-scs".into(),
                placement: Placement::ActiveSite,
                depends_on: vec![],
                requires_writable: vec!["ag1".into()],
                timeout_seconds: 600,
                sites: ["site-a", "site-b"]
                    .into_iter()
                    .map(|s| ComponentAtSite {
                        site: s.into(),
                        workload: Some(WorkloadRef {
                            kind: WorkloadKind::Deployment,
                            name: "master-scs".into(),
                            replicas: 1,
                        }),
                        hooks: None,
                    })
                    .collect(),
            }],
            suspend: false,
        },
    );
    drs.metadata.namespace = Some("dr".into());
    drs.metadata.uid = Some("6b1e2f0a-93c4-4d8e-a1f7-5c2d9e0b3a41".into());
    drs.metadata.generation = Some(2);
    drs
}

// ---------------------------------------------------------------------------
// Workloads

#[tokio::test]
async fn a_deployment_is_read_with_get() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let obs = verify(
        handle,
        |mut api| async move {
            api.get("/apis/apps/v1/namespaces/cc-b/deployments/master-scs")
                .await
                .ok(&deployment_json(
                    4,
                    Some(3),
                    json!({"replicas": 3, "readyReplicas": 2, "observedGeneration": 4}),
                ));
        },
        sites.workload(&local_site(), WorkloadKind::Deployment, "master-scs"),
    )
    .await;
    assert_eq!(
        obs,
        Ok(Some(WorkloadObs {
            desired: 3,
            ready: 2,
            current: 3,
            up_to_date: true
        }))
    );
}

#[tokio::test]
async fn a_deployment_without_replicas_or_status_reads_as_one_wanted_none_seen() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let obs = verify(
        handle,
        |mut api| async move {
            api.get("/apis/apps/v1/namespaces/cc-b/deployments/master-scs")
                .await
                .ok(&deployment_json(1, None, json!({})));
        },
        sites.workload(&local_site(), WorkloadKind::Deployment, "master-scs"),
    )
    .await;
    assert_eq!(
        obs,
        Ok(Some(WorkloadObs {
            desired: 1,
            ready: 0,
            current: 0,
            up_to_date: false
        }))
    );
}

#[tokio::test]
async fn a_statefulset_is_read_with_get() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let obs = verify(
        handle,
        |mut api| async move {
            api.get("/apis/apps/v1/namespaces/cc-b/statefulsets/confserv")
                .await
                .ok(&statefulset_json());
        },
        sites.workload(&local_site(), WorkloadKind::StatefulSet, "confserv"),
    )
    .await;
    assert_eq!(
        obs,
        Ok(Some(WorkloadObs {
            desired: 2,
            ready: 1,
            current: 2,
            up_to_date: false
        })),
        "observedGeneration 6 < generation 7: the status is stale"
    );
}

#[tokio::test]
async fn a_missing_workload_is_none() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let obs = verify(
        handle,
        |mut api| async move {
            api.get("/apis/apps/v1/namespaces/cc-b/statefulsets/confserv")
                .await
                .fail(404, "NotFound", "statefulsets.apps \"confserv\" not found");
        },
        sites.workload(&local_site(), WorkloadKind::StatefulSet, "confserv"),
    )
    .await;
    assert_eq!(obs, Ok(None));
}

#[tokio::test]
async fn a_forbidden_workload_is_an_api_error() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let obs = verify(
        handle,
        |mut api| async move {
            api.get("/apis/apps/v1/namespaces/cc-b/deployments/master-scs").await.fail(
                403,
                "Forbidden",
                "deployments.apps \"master-scs\" is forbidden: User \"system:serviceaccount:drover:drover\" cannot get resource",
            );
        },
        sites.workload(&local_site(), WorkloadKind::Deployment, "master-scs"),
    )
    .await;
    match obs {
        Err(PortError::Api(m)) => assert!(m.contains("is forbidden") && m.contains("403 Forbidden"), "{m}"),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// What the API server answers a `scale` subresource request with.
fn scale_json(name: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {"name": name, "namespace": "cc-b", "resourceVersion": "53"},
        "spec": {"replicas": replicas},
        "status": {"replicas": 1, "selector": format!("app={name}")}
    })
}

#[tokio::test]
async fn scaling_a_deployment_applies_only_its_replicas() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let result = verify(
        handle,
        |mut api| async move {
            api.apply(
                "/apis/apps/v1/namespaces/cc-b/deployments/master-scs/scale?&force=true&fieldManager=drover-drsite",
                &json!({
                    "apiVersion": "autoscaling/v1",
                    "kind": "Scale",
                    "metadata": {"name": "master-scs", "namespace": "cc-b"},
                    "spec": {"replicas": 0}
                }),
            )
            .await
            .ok(&scale_json("master-scs", 0));
        },
        sites.scale(&local_site(), WorkloadKind::Deployment, "master-scs", 0),
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn scaling_a_statefulset_applies_only_its_replicas() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let result = verify(
        handle,
        |mut api| async move {
            api.apply(
                "/apis/apps/v1/namespaces/cc-b/statefulsets/confserv/scale?&force=true&fieldManager=drover-drsite",
                &json!({
                    "apiVersion": "autoscaling/v1",
                    "kind": "Scale",
                    "metadata": {"name": "confserv", "namespace": "cc-b"},
                    "spec": {"replicas": 2}
                }),
            )
            .await
            .ok(&scale_json("confserv", 2));
        },
        sites.scale(&local_site(), WorkloadKind::StatefulSet, "confserv", 2),
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn scaling_in_a_missing_namespace_is_not_found() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let result = verify(
        handle,
        |mut api| async move {
            let seen = api.next("SSA").await;
            seen.fail(404, "NotFound", "namespaces \"cc-b\" not found");
        },
        sites.scale(&local_site(), WorkloadKind::Deployment, "master-scs", 1),
    )
    .await;
    assert_eq!(
        result,
        Err(PortError::NotFound {
            kind: "Deployment",
            namespace: "cc-b".into(),
            name: "master-scs".into()
        })
    );
}

#[tokio::test]
async fn a_site_namespaces_labels_are_read_with_get_in_the_operators_cluster() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let result = verify(
        handle,
        |mut api| async move {
            api.get("/api/v1/namespaces/kube-system").await.ok(&json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "kube-system", "labels": {
                    "kubernetes.io/metadata.name": "kube-system",
                    "allow-from.drover.dev/tenant-a": "true"
                }}
            }));
        },
        sites.namespace_labels("kube-system", "tenant-a"),
    )
    .await;
    let labels = match result {
        Ok(Target::Labels(labels)) => labels,
        other => panic!("expected labels, got {other:?}"),
    };
    assert_eq!(
        labels.get("allow-from.drover.dev/tenant-a").map(String::as_str),
        Some("true")
    );

    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let result = verify(
        handle,
        |mut api| async move {
            api.get("/api/v1/namespaces/nowhere")
                .await
                .fail(404, "NotFound", "namespaces \"nowhere\" not found");
        },
        sites.namespace_labels("nowhere", "tenant-a"),
    )
    .await;
    assert_eq!(result, Ok(Target::Missing));
}

// ---------------------------------------------------------------------------
// A site in another cluster

/// What the injected connector was handed, and how often.
#[derive(Default)]
struct Connections {
    configs: Vec<(String, Option<Duration>, Option<Duration>, bool)>,
}

/// Sites whose remote clients all go to `remote` (a mock standing for the second cluster).
fn two_clusters(local: kube::Client, remote: kube::Client) -> (KubeSites, Arc<Mutex<Connections>>) {
    let seen = Arc::new(Mutex::new(Connections::default()));
    let log = seen.clone();
    let sites = KubeSites::with_connector(local, move |config: kube::Config| {
        log.lock().expect("log").configs.push((
            config.cluster_url.to_string(),
            config.connect_timeout,
            config.read_timeout,
            config.default_retry,
        ));
        Ok(remote.clone())
    });
    (sites, seen)
}

#[tokio::test]
async fn a_remote_site_is_scaled_through_a_client_built_from_its_kubeconfig_secret() {
    let (local, local_handle) = mock_client();
    let (remote, remote_handle) = mock_client();
    let (sites, connections) = two_clusters(local, remote);
    let local_server = serve(local_handle, |mut api| async move {
        // Read on every call; the client is rebuilt only when the Secret changed.
        for version in ["7", "7", "8"] {
            api.kubeconfig_secret("dr", "site-b-kubeconfig", version, Some(("kubeconfig", KUBECONFIG)))
                .await;
        }
    });
    let remote_server = serve(remote_handle, |mut api| async move {
        for replicas in [1, 0, 1] {
            api.apply(
                "/apis/apps/v1/namespaces/cc-b/deployments/master-scs/scale?&force=true&fieldManager=drover-drsite",
                &json!({
                    "apiVersion": "autoscaling/v1",
                    "kind": "Scale",
                    "metadata": {"name": "master-scs", "namespace": "cc-b"},
                    "spec": {"replicas": replicas}
                }),
            )
            .await
            .ok(&scale_json("master-scs", replicas));
        }
    });
    for replicas in [1, 0, 1] {
        let result = sites
            .scale(&remote_site(), WorkloadKind::Deployment, "master-scs", replicas)
            .await;
        assert_eq!(result, Ok(()));
    }
    finish(local_server).await;
    finish(remote_server).await;
    let connections = connections.lock().expect("log");
    let expected = (
        "https://api.site-b.example:6443/".to_string(),
        Some(REMOTE_CONNECT_TIMEOUT),
        Some(REMOTE_READ_TIMEOUT),
        false,
    );
    assert_eq!(
        connections.configs,
        vec![expected.clone(), expected],
        "built for resourceVersion 7, reused, rebuilt for 8; short timeouts, no minutes of retries"
    );
    assert_eq!(REMOTE_CONNECT_TIMEOUT, Duration::from_secs(5));
    assert_eq!(REMOTE_READ_TIMEOUT, Duration::from_secs(15));
    // The kubeconfig skips the certificate check: the DrSite controller is told, to warn.
    assert_eq!(
        sites.transport_warning(&remote_site()).as_deref(),
        Some(
            "site site-b: the kubeconfig in Secret dr/site-b-kubeconfig sets insecure-skip-tls-verify: any \
             server on the path can impersonate that cluster's API and receive its credentials; use \
             certificate-authority-data"
        )
    );
    assert_eq!(sites.transport_warning(&local_site()), None);
}

#[tokio::test]
async fn a_remote_site_without_its_secret_is_an_api_error_naming_the_secret() {
    let (local, local_handle) = mock_client();
    let (remote, remote_handle) = mock_client();
    let (sites, connections) = two_clusters(local, remote);
    // The second cluster must see nothing: its scenario expects no request.
    let remote_server = serve(remote_handle, |_api| async {});
    let result = verify(
        local_handle,
        |mut api| async move { api.kubeconfig_secret("dr", "site-b-kubeconfig", "7", None).await },
        sites.workload(&remote_site(), WorkloadKind::Deployment, "master-scs"),
    )
    .await;
    finish(remote_server).await;
    assert_eq!(
        result,
        Err(PortError::Api(
            "kubeconfig Secret dr/site-b-kubeconfig of site site-b not found".into()
        ))
    );
    assert!(connections.lock().expect("log").configs.is_empty());
}

#[tokio::test]
async fn a_remote_site_whose_secret_may_not_be_read_is_an_api_error_naming_the_secret() {
    let (local, local_handle) = mock_client();
    let (remote, _remote_handle) = mock_client();
    let (sites, _) = two_clusters(local, remote);
    let result = verify(
        local_handle,
        |mut api| async move {
            api.get("/api/v1/namespaces/dr/secrets/site-b-kubeconfig").await.fail(
                403,
                "Forbidden",
                "secrets \"site-b-kubeconfig\" is forbidden",
            );
        },
        sites.scale(&remote_site(), WorkloadKind::Deployment, "master-scs", 1),
    )
    .await;
    assert_eq!(
        result,
        Err(PortError::Api(
            "reading the kubeconfig Secret dr/site-b-kubeconfig of site site-b: \
             secrets \"site-b-kubeconfig\" is forbidden (HTTP 403 Forbidden)"
                .into()
        ))
    );
}

#[tokio::test]
async fn a_remote_site_whose_secret_lacks_the_key_or_a_kubeconfig_is_an_api_error() {
    let cases: [(&str, &str, &str); 3] = [
        ("config", KUBECONFIG, "has no key \"kubeconfig\""),
        (
            "kubeconfig",
            "clusters: [this is: not: a kubeconfig, kc-token-SENTINEL",
            "does not hold a kubeconfig",
        ),
        (
            "kubeconfig",
            "apiVersion: v1\nkind: Config\nclusters: []\nusers: []\ncontexts: []\n",
            "current context",
        ),
    ];
    for (key, text, why) in cases {
        let (local, local_handle) = mock_client();
        let (remote, _remote_handle) = mock_client();
        let (sites, connections) = two_clusters(local, remote);
        let result = verify(
            local_handle,
            move |mut api| async move {
                api.kubeconfig_secret("dr", "site-b-kubeconfig", "7", Some((key, text)))
                    .await
            },
            sites.hook_jobs(&remote_site(), "contact-center"),
        )
        .await;
        match result {
            Err(PortError::Api(m)) => {
                assert!(
                    m.starts_with("kubeconfig Secret dr/site-b-kubeconfig of site site-b: "),
                    "{m}"
                );
                assert!(m.contains(why), "{why:?} in {m}");
                assert!(!m.contains("SENTINEL"), "no credential in the message: {m}");
            }
            other => panic!("expected an API error for {why:?}, got {other:?}"),
        }
        assert!(connections.lock().expect("log").configs.is_empty());
    }
}

#[tokio::test]
async fn a_remote_kubeconfig_that_runs_a_command_is_refused() {
    let (local, local_handle) = mock_client();
    let (remote, _remote_handle) = mock_client();
    let (sites, connections) = two_clusters(local, remote);
    let exec = KUBECONFIG.replace(
        "    token: kc-token-SENTINEL\n",
        "    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: /bin/sh\n      args: [\"-c\", \"id\"]\n",
    );
    let result = verify(
        local_handle,
        move |mut api| async move {
            api.kubeconfig_secret("dr", "site-b-kubeconfig", "7", Some(("kubeconfig", &exec)))
                .await
        },
        sites.workload(&remote_site(), WorkloadKind::Deployment, "master-scs"),
    )
    .await;
    match result {
        Err(PortError::Api(m)) => assert!(m.contains("uses exec"), "{m}"),
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(connections.lock().expect("log").configs.is_empty());
}

/// The real connector, against a port nothing listens on: the site is unreachable, not absent.
#[tokio::test]
async fn a_remote_cluster_nobody_answers_for_is_unreachable() {
    drover::sql::install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    let kubeconfig = KUBECONFIG.replace("https://api.site-b.example:6443", &format!("http://127.0.0.1:{port}"));
    let (local, local_handle) = mock_client();
    let sites = KubeSites::new(local);
    let result = verify(
        local_handle,
        move |mut api| async move {
            api.kubeconfig_secret("dr", "site-b-kubeconfig", "7", Some(("kubeconfig", &kubeconfig)))
                .await
        },
        sites.workload(&remote_site(), WorkloadKind::Deployment, "master-scs"),
    )
    .await;
    match result {
        Err(PortError::Unreachable(m)) => assert!(m.to_lowercase().contains("connect"), "{m}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Hook Jobs

#[tokio::test]
async fn hook_jobs_are_listed_by_the_drsite_label() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let start = hook("master-scs", HookAction::Start);
    let stop = hook("message-server", HookAction::Stop);
    let start_name = start.metadata.name.clone().expect("named");
    let stop_name = stop.metadata.name.clone().expect("named");
    let listed = {
        let mut done = serde_json::to_value(&start).expect("serializes");
        done["status"] = json!({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]});
        let mut failed = serde_json::to_value(&stop).expect("serializes");
        failed["status"] = json!({"failed": 2, "conditions": [{
            "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit"
        }]});
        // Carries the drsite label but none of the others: not one of drover's hooks.
        let stray = json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "by-hand", "namespace": "cc-b", "labels": {"drover.dev/drsite": "contact-center"}},
            "spec": {"template": {"spec": {"containers": [{"name": "x", "image": "x"}], "restartPolicy": "Never"}}}
        });
        json!({
            "apiVersion": "batch/v1", "kind": "JobList", "metadata": {"resourceVersion": "900"},
            "items": [done, failed, stray]
        })
    };
    let jobs = verify(
        handle,
        move |mut api| async move {
            api.get("/apis/batch/v1/namespaces/cc-b/jobs?&labelSelector=drover.dev%2Fdrsite%3Dcontact-center")
                .await
                .ok(&listed);
        },
        sites.hook_jobs(&local_site(), "contact-center"),
    )
    .await;
    assert_eq!(
        jobs,
        Ok(vec![
            HookJob {
                owner_uid: Some(DRSITE_UID.into()),
                name: start_name,
                component: "master-scs".into(),
                site: "site-b".into(),
                action: HookAction::Start,
                run: "1795000000-0".into(),
                phase: JobPhase::Succeeded,
            },
            HookJob {
                owner_uid: Some(DRSITE_UID.into()),
                name: stop_name,
                component: "message-server".into(),
                site: "site-b".into(),
                action: HookAction::Stop,
                run: "1795000000-0".into(),
                phase: JobPhase::Failed("BackoffLimitExceeded: Job has reached the specified backoff limit".into()),
            },
        ])
    );
}

#[tokio::test]
async fn the_label_selector_uses_the_same_label_value_as_the_jobs() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    // A DrSite name (a DNS subdomain) too long for a label value.
    let long = format!("{}.example", "contact-center-".repeat(5));
    let value = drover::components::hook::label_value(&long);
    assert_ne!(value, long);
    let jobs = verify(
        handle,
        move |mut api| async move {
            let seen = api.next("the list").await;
            assert_eq!(
                seen.uri,
                format!("/apis/batch/v1/namespaces/cc-b/jobs?&labelSelector=drover.dev%2Fdrsite%3D{value}")
            );
            seen.ok(&json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": []}));
        },
        sites.hook_jobs(&local_site(), &long),
    )
    .await;
    assert_eq!(jobs, Ok(vec![]));
}

#[tokio::test]
async fn a_hook_job_is_created_with_post() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let job = hook("master-scs", HookAction::Start);
    let expected = serde_json::to_value(&job).expect("serializes");
    let result = verify(
        handle,
        move |mut api| async move {
            let seen = api.next("POST Job").await;
            assert_eq!(seen.method, Method::POST);
            assert_eq!(seen.uri, "/apis/batch/v1/namespaces/cc-b/jobs?");
            assert_eq!(seen.content_type.as_deref(), Some("application/json"));
            assert_eq!(seen.body, expected, "the Job exactly as built");
            assert_eq!(seen.body["metadata"]["labels"]["drover.dev/action"], "start");
            let body = seen.body.clone();
            seen.reply(StatusCode::CREATED, &body);
        },
        sites.create_job(&local_site(), &job),
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn a_hook_job_that_already_exists_is_not_an_error_when_it_carries_the_drsites_uid() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let job = hook("master-scs", HookAction::Start);
    let name = job.metadata.name.clone().expect("named");
    let existing = serde_json::to_value(&job).expect("serializes");
    let result = verify(
        handle,
        move |mut api| async move {
            let seen = api.next("POST Job").await;
            assert_eq!(seen.method, Method::POST);
            seen.fail(409, "AlreadyExists", &format!("jobs.batch \"{name}\" already exists"));
            api.get(&format!("/apis/batch/v1/namespaces/cc-b/jobs/{name}"))
                .await
                .ok(&existing);
        },
        sites.create_job(&local_site(), &job),
    )
    .await;
    assert_eq!(result, Ok(()));
}

/// The takeover attempt: a Job someone created beforehand with the name drover will use is not
/// taken as the hook's run.
#[tokio::test]
async fn a_same_named_job_without_the_drsites_uid_is_not_taken_for_the_hook() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let job = hook("master-scs", HookAction::Start);
    let name = job.metadata.name.clone().expect("named");
    let mut planted = serde_json::to_value(&job).expect("serializes");
    planted["metadata"]["annotations"] = json!({"owner": "sre"});
    let expected_name = name.clone();
    let result = verify(
        handle,
        move |mut api| async move {
            let seen = api.next("POST Job").await;
            seen.fail(409, "AlreadyExists", &format!("jobs.batch \"{name}\" already exists"));
            api.get(&format!("/apis/batch/v1/namespaces/cc-b/jobs/{name}"))
                .await
                .ok(&planted);
        },
        sites.create_job(&local_site(), &job),
    )
    .await;
    assert_eq!(
        result,
        Err(PortError::Api(format!(
            "a Job cc-b/{expected_name} already exists and was not created by drover for this object (no matching owner UID): it is not taken as the hook's run; delete or rename it"
        )))
    );
}

#[tokio::test]
async fn a_rejected_hook_job_is_an_api_error() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let job = hook("master-scs", HookAction::Start);
    let result = verify(
        handle,
        move |mut api| async move {
            api.next("POST Job").await.fail(
                422,
                "Invalid",
                "Job.batch \"x\" is invalid: spec.template.spec.restartPolicy: Required value",
            );
        },
        sites.create_job(&local_site(), &job),
    )
    .await;
    match result {
        Err(PortError::Api(m)) => assert!(m.contains("restartPolicy") && m.contains("422 Invalid"), "{m}"),
        other => panic!("expected an API error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// KubePort as the DrSite controller's port

#[tokio::test]
async fn a_child_availability_group_is_read_with_get() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let child = ag();
    let answer = serde_json::to_value(&child).expect("serializes");
    let (found, missing) = verify(
        handle,
        move |mut api| async move {
            api.get("/apis/drover.dev/v1alpha1/namespaces/dr/availabilitygroups/ag1")
                .await
                .ok(&answer);
            api.get("/apis/drover.dev/v1alpha1/namespaces/dr/availabilitygroups/ag2")
                .await
                .fail(404, "NotFound", "availabilitygroups.drover.dev \"ag2\" not found");
        },
        async {
            (
                port.availability_group("dr", "ag1").await,
                port.availability_group("dr", "ag2").await,
            )
        },
    )
    .await;
    let found = found.expect("read").expect("exists");
    assert_eq!(
        serde_json::to_value(&found).expect("serializes"),
        serde_json::to_value(&child).expect("serializes")
    );
    assert!(matches!(missing, Ok(None)), "{missing:?}");
}

#[tokio::test]
async fn a_child_availability_group_follows_by_a_forced_apply_of_its_primary_site_only() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let mut moved = ag();
    moved.spec.primary_site = Some("site-b".into());
    let answer = serde_json::to_value(&moved).expect("serializes");
    let result = verify(
        handle,
        move |mut api| async move {
            api.apply(
                "/apis/drover.dev/v1alpha1/namespaces/dr/availabilitygroups/ag1?&force=true&fieldManager=drover-drsite",
                &json!({
                    "apiVersion": "drover.dev/v1alpha1",
                    "kind": "AvailabilityGroup",
                    "metadata": {"name": "ag1", "labels": {"drover.dev/drsite": "drs"}},
                    "spec": {"primarySite": "site-b"}
                }),
            )
            .await
            .ok(&answer);
        },
        port.apply_primary_site("dr", "ag1", "site-b", "drs"),
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn a_child_persistent_chat_pool_is_read_with_get() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let child = pool();
    let answer = serde_json::to_value(&child).expect("serializes");
    let (found, missing) = verify(
        handle,
        move |mut api| async move {
            api.get("/apis/drover.dev/v1alpha1/namespaces/dr/persistentchatpools/pchat")
                .await
                .ok(&answer);
            api.get("/apis/drover.dev/v1alpha1/namespaces/dr/persistentchatpools/pchat2")
                .await
                .fail(404, "NotFound", "persistentchatpools.drover.dev \"pchat2\" not found");
        },
        async {
            (
                port.persistent_chat_pool("dr", "pchat").await,
                port.persistent_chat_pool("dr", "pchat2").await,
            )
        },
    )
    .await;
    let found = found.expect("read").expect("exists");
    assert_eq!(
        serde_json::to_value(&found).expect("serializes"),
        serde_json::to_value(&child).expect("serializes")
    );
    assert_eq!(found.status.and_then(|s| s.active_site).as_deref(), Some("site-a"));
    assert!(matches!(missing, Ok(None)), "{missing:?}");
}

#[tokio::test]
async fn a_child_persistent_chat_pool_follows_by_a_forced_apply_of_its_active_site_only() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let mut moved = pool();
    moved.spec.active_site = Some("site-b".into());
    let answer = serde_json::to_value(&moved).expect("serializes");
    let result = verify(
        handle,
        move |mut api| async move {
            api.apply(
                "/apis/drover.dev/v1alpha1/namespaces/dr/persistentchatpools/pchat?&force=true&fieldManager=drover-drsite",
                &json!({
                    "apiVersion": "drover.dev/v1alpha1",
                    "kind": "PersistentChatPool",
                    "metadata": {"name": "pchat", "labels": {"drover.dev/drsite": "drs"}},
                    "spec": {"activeSite": "site-b"}
                }),
            )
            .await
            .ok(&answer);
        },
        port.apply_pool_active_site("dr", "pchat", "site-b", "drs"),
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn applying_to_a_missing_pool_is_not_found_and_a_refused_site_is_an_api_error() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let body = |site: &str| {
        json!({
            "apiVersion": "drover.dev/v1alpha1",
            "kind": "PersistentChatPool",
            "metadata": {"name": "pchat", "labels": {"drover.dev/drsite": "drs"}},
            "spec": {"activeSite": site}
        })
    };
    let uri =
        "/apis/drover.dev/v1alpha1/namespaces/dr/persistentchatpools/pchat?&force=true&fieldManager=drover-drsite";
    let (missing, refused) = verify(
        handle,
        move |mut api| async move {
            api.apply(uri, &body("site-b"))
                .await
                .fail(404, "NotFound", "persistentchatpools.drover.dev \"pchat\" not found");
            api.apply(uri, &body("site-z")).await.fail(
                422,
                "Invalid",
                "PersistentChatPool.drover.dev \"pchat\" is invalid: spec.activeSite: Invalid value: \"site-z\": activeSite must be primary.site or backup.site",
            );
        },
        async {
            (
                port.apply_pool_active_site("dr", "pchat", "site-b", "drs").await,
                port.apply_pool_active_site("dr", "pchat", "site-z", "drs").await,
            )
        },
    )
    .await;
    assert_eq!(
        missing,
        Err(PortError::NotFound {
            kind: "PersistentChatPool",
            namespace: "dr".into(),
            name: "pchat".into(),
        })
    );
    assert!(
        matches!(&refused, Err(PortError::Api(m)) if m.contains("activeSite must be primary.site or backup.site") && m.contains("HTTP 422")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn drsite_status_is_a_forced_server_side_apply_of_the_status_subresource() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let drs = drsite();
    let status = DrSiteStatus {
        observed_generation: Some(2),
        active_site: Some("site-b".into()),
        phase: Some(DrPhase::Steady),
        ready: Some("1/1".into()),
        ..DrSiteStatus::default()
    };
    let mut answer = drs.clone();
    answer.status = Some(status.clone());
    let answer = serde_json::to_value(&answer).expect("serializes");
    let result = verify(
        handle,
        move |mut api| async move {
            api.apply(
                "/apis/drover.dev/v1alpha1/namespaces/dr/drsites/contact-center/status?&force=true&fieldManager=drover",
                &json!({
                    "apiVersion": "drover.dev/v1alpha1",
                    "kind": "DrSite",
                    "status": {
                        "observedGeneration": 2,
                        "activeSite": "site-b",
                        "phase": "Steady",
                        "ready": "1/1"
                    }
                }),
            )
            .await
            .ok(&answer);
        },
        port.patch_drsite_status(&drs, &status),
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn a_drsite_event_is_about_the_drsite() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, Some("drover-5c7d-xk2p9".into()));
    let drs = drsite();
    let result = verify(
        handle,
        |mut api| async move {
            let seen = api.next("Event").await;
            assert_eq!(seen.method, Method::POST);
            assert_eq!(seen.uri, "/apis/events.k8s.io/v1/namespaces/dr/events?");
            let e = seen.body.clone();
            assert_eq!(e["type"], "Warning");
            assert_eq!(e["reason"], "SiteUnreachable");
            assert_eq!(e["action"], "SiteUnreachable");
            assert_eq!(e["note"], "site-a: cannot reach the Kubernetes API");
            assert_eq!(e["reportingController"], "drover");
            assert_eq!(e["reportingInstance"], "drover-5c7d-xk2p9");
            assert_eq!(
                e["regarding"],
                json!({
                    "apiVersion": "drover.dev/v1alpha1",
                    "kind": "DrSite",
                    "name": "contact-center",
                    "namespace": "dr",
                    "uid": "6b1e2f0a-93c4-4d8e-a1f7-5c2d9e0b3a41"
                })
            );
            seen.reply(StatusCode::CREATED, &e);
        },
        port.publish_drsite(
            &drs,
            &Event::warning("SiteUnreachable", "site-a: cannot reach the Kubernetes API"),
        ),
    )
    .await;
    assert_eq!(result, Ok(()));
}

// ---------------------------------------------------------------------------
// No API server

fn assert_unreachable<T: std::fmt::Debug>(what: &str, result: Result<T, PortError>) {
    assert!(
        matches!(result, Err(PortError::Unreachable(_))),
        "{what}: expected Unreachable, got {result:?}"
    );
}

#[tokio::test]
async fn every_call_to_an_api_server_that_is_gone_is_unreachable() {
    let (client, handle) = mock_client();
    // The service fails every request, as a dead connection does.
    drop(handle);
    let sites = KubeSites::new(client.clone());
    let port = KubePort::new(client, None);
    let at = local_site();
    let job = hook("master-scs", HookAction::Start);
    assert_unreachable(
        "workload",
        sites.workload(&at, WorkloadKind::Deployment, "master-scs").await,
    );
    assert_unreachable(
        "scale",
        sites.scale(&at, WorkloadKind::StatefulSet, "confserv", 1).await,
    );
    assert_unreachable("hook_jobs", sites.hook_jobs(&at, "contact-center").await);
    assert_unreachable("create_job", sites.create_job(&at, &job).await);
    assert_unreachable(
        "remote Secret",
        sites
            .workload(&remote_site(), WorkloadKind::Deployment, "master-scs")
            .await,
    );
    assert_unreachable("availability_group", port.availability_group("dr", "ag1").await);
    assert_unreachable(
        "apply_primary_site",
        port.apply_primary_site("dr", "ag1", "site-b", "drs").await,
    );
    assert_unreachable("persistent_chat_pool", port.persistent_chat_pool("dr", "pchat").await);
    assert_unreachable(
        "apply_pool_active_site",
        port.apply_pool_active_site("dr", "pchat", "site-b", "drs").await,
    );
    assert_unreachable(
        "patch_drsite_status",
        port.patch_drsite_status(&drsite(), &DrSiteStatus::default()).await,
    );
    assert_unreachable(
        "publish_drsite",
        port.publish_drsite(&drsite(), &Event::normal("Steady", "x")).await,
    );
}

#[tokio::test]
async fn a_gateway_answering_for_a_dead_api_server_is_unreachable_but_the_servers_own_503_is_not() {
    let (client, handle) = mock_client();
    let sites = KubeSites::new(client);
    let (gateway, server) = verify(
        handle,
        |mut api| async move {
            api.next("GET").await.text(
                503,
                "<html><body><h1>503 Service Unavailable</h1>No server is available</body></html>",
            );
            api.next("GET").await.fail(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
            );
        },
        async {
            let at = local_site();
            (
                sites.workload(&at, WorkloadKind::Deployment, "master-scs").await,
                sites.workload(&at, WorkloadKind::Deployment, "master-scs").await,
            )
        },
    )
    .await;
    match gateway {
        Err(PortError::Unreachable(m)) => assert!(m.contains("HTTP 503") && m.contains("No server"), "{m}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
    match server {
        Err(PortError::Api(m)) => assert!(m.contains("unable to handle"), "{m}"),
        other => panic!("expected an API error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// One writer per desired site: managedFields and the DrSites listing a child

/// ag1 as the API server hands it back (`kubectl get sqlag ag1 -o json --show-managed-fields`)
/// after the DrSite moved it to site-b and Argo CD's self-heal re-applied Git's `site-a` with
/// server-side apply, forced: argocd-controller owns spec.primarySite alone, drover-drsite keeps
/// only its label, drover the status.
fn ag_taken_by_argocd() -> Value {
    let mut ag = serde_json::to_value(ag()).expect("serializes");
    ag["metadata"]["generation"] = json!(5);
    ag["metadata"]["labels"] = json!({"app.kubernetes.io/instance": "cc", "drover.dev/drsite": "contact-center"});
    ag["metadata"]["managedFields"] = json!([
        {
            "manager": "argocd-controller",
            "operation": "Apply",
            "apiVersion": "drover.dev/v1alpha1",
            "time": "2026-12-07T21:40:02Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app.kubernetes.io/instance": {}}},
                "f:spec": {
                    "f:clusterType": {}, "f:credentials": {"f:secretName": {}}, "f:databases": {},
                    "f:groupName": {}, "f:primarySite": {}, "f:replicas": {}
                }
            }
        },
        {
            "manager": "drover-drsite",
            "operation": "Apply",
            "apiVersion": "drover.dev/v1alpha1",
            "time": "2026-12-07T21:31:17Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {"f:drover.dev/drsite": {}}}}
        },
        {
            "manager": "drover",
            "operation": "Apply",
            "apiVersion": "drover.dev/v1alpha1",
            "time": "2026-12-07T21:40:05Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:phase": {}, "f:primarySite": {}}},
            "subresource": "status"
        }
    ]);
    ag
}

#[tokio::test]
async fn a_childs_managed_fields_and_the_drsites_listing_it_tell_whose_primary_site_it_is() {
    use drover::controller::ownership::{ListedBy, foreign_value, owners};
    use drover::plan::drsite::ChildKind;
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let answer = ag_taken_by_argocd();
    let mut listing = drsite();
    listing.metadata.resource_version = Some("77".into());
    let mut unrelated = drsite();
    unrelated.metadata.name = Some("other".into());
    unrelated.spec.availability_groups = vec![ChildRef { name: "ag2".into() }];
    let items = json!([listing, unrelated]);
    let (found, foreign) = verify(
        handle,
        move |mut api| async move {
            api.get("/apis/drover.dev/v1alpha1/namespaces/dr/availabilitygroups/ag1")
                .await
                .ok(&answer);
            // Without a DrSite watch the adapter lists the namespace's DrSites.
            api.get("/apis/drover.dev/v1alpha1/namespaces/dr/drsites?")
                .await
                .ok(&json!({
                    "apiVersion": "drover.dev/v1alpha1",
                    "kind": "DrSiteList",
                    "metadata": {"resourceVersion": "4711"},
                    "items": items
                }));
        },
        async {
            let found = port
                .availability_group("dr", "ag1")
                .await
                .expect("read")
                .expect("exists");
            let foreign = foreign_value(
                &port,
                ChildKind::AvailabilityGroup,
                &found.metadata,
                "primarySite",
                found.spec.primary_site.as_deref(),
            )
            .await;
            (found, foreign)
        },
    )
    .await;
    // The status subresource's entry and the DrSite's label-only entry own no primarySite.
    assert_eq!(owners(&found.metadata, "primarySite"), ["argocd-controller"]);
    assert_eq!(owners(&found.metadata, "groupName"), ["argocd-controller"]);
    let foreign = foreign.expect("no API error").expect("a value the DrSite does not own");
    assert_eq!(foreign.value, "site-a");
    assert_eq!(foreign.owners, ["argocd-controller"]);
    assert_eq!(
        foreign.drsites,
        [ListedBy {
            drsite: "contact-center".into(),
            active_site: "site-b".into(),
        }]
    );
    assert!(
        foreign.is_conflict(Some("site-b")),
        "it would move the group away from site-b"
    );
    assert!(
        foreign.is_conflict(Some("site-a")),
        "even where the group is, it is not where the DrSite wants it"
    );
    let message = foreign.message("keeps the primary at site-b");
    for part in [
        "argocd-controller",
        "drover-drsite",
        "contact-center",
        "spec.primarySite \"site-a\"",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
}

#[tokio::test]
async fn a_primary_site_the_drsites_field_manager_owns_needs_no_lookup() {
    use drover::controller::ownership::foreign_value;
    use drover::plan::drsite::ChildKind;
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let mut ag = ag_taken_by_argocd();
    // Argo CD applied the same value as the DrSite: server-side apply made them co-owners.
    ag["metadata"]["managedFields"][1]["fieldsV1"]["f:spec"] = json!({"f:primarySite": {}});
    let ag: AvailabilityGroup = serde_json::from_value(ag).expect("an AvailabilityGroup");
    let foreign = verify(
        handle,
        |_api| async {},
        foreign_value(
            &port,
            ChildKind::AvailabilityGroup,
            &ag.metadata,
            "primarySite",
            ag.spec.primary_site.as_deref(),
        ),
    )
    .await;
    assert_eq!(
        foreign,
        Ok(None),
        "co-owned by drover-drsite: in force, and no request made"
    );
}

// ---------------------------------------------------------------------------
// Tenancy: the takeover attempt through the real adapters

/// DrSite tenant-a/takeover whose site-b is kube-system, with CoreDNS as a component there.
fn takeover() -> DrSite {
    let mut drs = drsite();
    drs.metadata.name = Some("takeover".into());
    drs.metadata.namespace = Some("tenant-a".into());
    drs.spec.sites[0].namespace = "tenant-a".into();
    drs.spec.sites[1].namespace = "kube-system".into();
    drs.spec.availability_groups.clear();
    let component = &mut drs.spec.components[0];
    component.name = "coredns".into();
    component.placement = Placement::EverySite;
    component.requires_writable.clear();
    for at in &mut component.sites {
        at.workload = Some(WorkloadRef {
            kind: WorkloadKind::Deployment,
            name: "coredns".into(),
            replicas: 2,
        });
    }
    drs
}

const TAKEOVER_REFUSED: &str = "site site-b: namespace kube-system is not this DrSite's namespace (tenant-a) and no \
     administrator allowed it: the namespace needs the label allow-from.drover.dev/tenant-a=true";

#[tokio::test]
async fn a_drsite_naming_kube_system_reads_its_labels_reports_and_sends_nothing_else() {
    use drover::controller::drsite::{Context, NAMESPACE_NOT_ALLOWED, reconcile};
    let (client, handle) = mock_client();
    let ctx = Context::new(
        KubePort::new(client.clone(), None),
        KubeSites::new(client),
        drover::controller::Config::default(),
    );
    let drs = takeover();
    let result = verify(
        handle,
        |mut api| async move {
            api.get("/api/v1/namespaces/kube-system").await.ok(&json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "kube-system", "labels": {"kubernetes.io/metadata.name": "kube-system"}}
            }));
            let seen = api.next("Event NamespaceNotAllowed").await;
            assert_eq!(seen.method, Method::POST);
            assert_eq!(seen.uri, "/apis/events.k8s.io/v1/namespaces/tenant-a/events?");
            assert_eq!(
                (&seen.body["type"], &seen.body["reason"], &seen.body["note"]),
                (
                    &json!("Warning"),
                    &json!(NAMESPACE_NOT_ALLOWED),
                    &json!(TAKEOVER_REFUSED)
                )
            );
            let body = seen.body.clone();
            seen.reply(StatusCode::CREATED, &body);
            let seen = api.next("status").await;
            assert_eq!(seen.method, Method::PATCH);
            assert_eq!(
                seen.uri,
                "/apis/drover.dev/v1alpha1/namespaces/tenant-a/drsites/takeover/status?&force=true&fieldManager=drover"
            );
            let invalid = seen.body["status"]["conditions"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["type"] == "Invalid"))
                .cloned()
                .expect("an Invalid condition");
            assert_eq!(
                (&invalid["status"], &invalid["reason"], &invalid["message"]),
                (&json!("True"), &json!(NAMESPACE_NOT_ALLOWED), &json!(TAKEOVER_REFUSED))
            );
            assert_eq!(seen.body["status"]["phase"], "Invalid");
            let mut answer = serde_json::to_value(takeover()).expect("serializes");
            answer["status"] = seen.body["status"].clone();
            seen.ok(&answer);
            // Nothing more: no workload read in kube-system, no scale, no Job list or create.
        },
        reconcile(&drs, &ctx, jiff::Timestamp::from_second(1_800_000_000).expect("a time")),
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn under_the_lockdown_the_takeover_is_refused_without_a_namespace_read() {
    use drover::components::tenancy::Policy;
    use drover::controller::drsite::{Context, NAMESPACE_NOT_ALLOWED, reconcile};
    let (client, handle) = mock_client();
    let config = drover::controller::Config {
        tenancy: Policy {
            no_cross_namespace_refs: true,
        },
        ..drover::controller::Config::default()
    };
    let ctx = Context::new(KubePort::new(client.clone(), None), KubeSites::new(client), config);
    let drs = takeover();
    let result = verify(
        handle,
        |mut api| async move {
            let seen = api.next("Event NamespaceNotAllowed").await;
            assert_eq!(seen.method, Method::POST);
            assert_eq!(seen.body["reason"], NAMESPACE_NOT_ALLOWED);
            assert!(
                seen.body["note"]
                    .as_str()
                    .is_some_and(|n| n.contains("--no-cross-namespace-refs")),
                "{}",
                seen.body
            );
            let body = seen.body.clone();
            seen.reply(StatusCode::CREATED, &body);
            let seen = api.next("status").await;
            assert_eq!(seen.method, Method::PATCH);
            let mut answer = serde_json::to_value(takeover()).expect("serializes");
            answer["status"] = seen.body["status"].clone();
            seen.ok(&answer);
        },
        reconcile(&drs, &ctx, jiff::Timestamp::from_second(1_800_000_000).expect("a time")),
    )
    .await;
    assert!(result.is_ok(), "{result:?}");
}
