//! Contract tests of the Kubernetes adapter ([`KubePort`]) and of `reconcile`
//! over it, against a mocked API server (tower-test), in the style of
//! controller-rs's `ApiServerVerifier`: every request the code makes is
//! checked (method, path and query, headers, JSON body) and answered with a
//! canned response. A request that never comes fails the scenario by timeout;
//! a surplus request fails because the mock is closed once the scenario ends
//! (the call returns an error the test then sees).

mod common;

use common::mock_api::*;
use drover::api::availability_group::{
    AvailabilityGroup, AvailabilityGroupSpec, AvailabilityGroupStatus, AvailabilityMode, CONFIRM_ANNOTATION,
    ClusterType, CredentialsRef, Encryption, EndpointSpec, ForcedFailoverPolicy, Phase, ReplicaSpec, TlsSpec,
};
use drover::controller::ag::{Context, Error, Requeue, reconcile};
use drover::controller::kube::KubePort;
use drover::controller::{Config, Event, Port, PortError};
use drover::sim::Sim;
use drover::sim::model::Role;
use drover::sim::model::config::WorldConfig;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

const PASSWORD_SENTINEL: &str = "s3cr3t-Passw0rd!";

impl ApiServer {
    /// GET of a Secret; answers with `data` (values base64-encoded by k8s-openapi) or 404.
    async fn secret_get(&mut self, ns: &str, name: &str, data: Option<&[(&str, &str)]>) {
        let seen = self.next(&format!("GET Secret {ns}/{name}")).await;
        assert_eq!(seen.method, Method::GET, "Secret read is a GET");
        assert_eq!(seen.uri, format!("/api/v1/namespaces/{ns}/secrets/{name}"));
        assert_eq!(seen.body, Value::Null, "a GET has no body");
        match data {
            Some(data) => seen.ok(&secret_json(ns, name, data)),
            None => seen.reply(
                StatusCode::NOT_FOUND,
                &json!({
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": format!("secrets \"{name}\" not found"),
                    "reason": "NotFound",
                    "details": {"name": name, "kind": "secrets"},
                    "code": 404
                }),
            ),
        }
    }

    /// A list of the DrSites in `ns` (the adapter without a DrSite watch, asking which list a
    /// group whose primarySite the DrSite's field manager does not own); answers with `items`.
    async fn drsite_list(&mut self, ns: &str, items: &[Value]) {
        let seen = self
            .get(&format!("/apis/drover.dev/v1alpha1/namespaces/{ns}/drsites?"))
            .await;
        seen.ok(&json!({
            "apiVersion": "drover.dev/v1alpha1",
            "kind": "DrSiteList",
            "metadata": {"resourceVersion": "4711"},
            "items": items
        }));
    }

    /// A server-side apply of `ag`'s status; returns the applied status. Answers with the object.
    async fn status_patch(&mut self, ag: &AvailabilityGroup) -> AvailabilityGroupStatus {
        let ns = ag.metadata.namespace.as_deref().expect("namespaced");
        let name = ag.metadata.name.as_deref().expect("named");
        let seen = self.next(&format!("status SSA of {ns}/{name}")).await;
        assert_eq!(seen.method, Method::PATCH);
        assert_eq!(
            seen.uri,
            format!(
                "/apis/drover.dev/v1alpha1/namespaces/{ns}/availabilitygroups/{name}/status?&force=true&fieldManager=drover"
            )
        );
        assert_eq!(seen.content_type.as_deref(), Some("application/apply-patch+yaml"));
        let top: BTreeSet<&str> = seen
            .body
            .as_object()
            .expect("the patch is a JSON object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            top,
            BTreeSet::from(["apiVersion", "kind", "status"]),
            "an SSA status patch carries apiVersion, kind and status, nothing else: {}",
            seen.body
        );
        assert_eq!(seen.body["apiVersion"], "drover.dev/v1alpha1");
        assert_eq!(seen.body["kind"], "AvailabilityGroup");
        let status: AvailabilityGroupStatus = serde_json::from_value(seen.body["status"].clone())
            .expect("the patched status is an AvailabilityGroupStatus");
        let mut answer = ag.clone();
        answer.status = Some(status.clone());
        seen.ok(&serde_json::to_value(&answer).expect("object serializes"));
        status
    }

    /// A POST of an events.k8s.io/v1 Event about `ag`; checks the fixed fields and returns the body.
    async fn event(&mut self, ag: &AvailabilityGroup, type_: &str, reason: &str) -> Value {
        let ns = ag.metadata.namespace.as_deref().expect("namespaced");
        let seen = self.next(&format!("Event {type_} {reason}")).await;
        assert_eq!(
            seen.method,
            Method::POST,
            "a new Event is created with POST: {}",
            seen.body
        );
        assert_eq!(seen.uri, format!("/apis/events.k8s.io/v1/namespaces/{ns}/events?"));
        assert_eq!(seen.content_type.as_deref(), Some("application/json"));
        let e = &seen.body;
        assert_eq!(e["apiVersion"], "events.k8s.io/v1");
        assert_eq!(e["kind"], "Event");
        assert_eq!(e["metadata"]["namespace"], ns);
        assert_eq!(e["type"], type_, "{e}");
        assert_eq!(e["reason"], reason, "{e}");
        assert_eq!(e["action"], reason, "drover's action is the reason: {e}");
        assert_eq!(e["reportingController"], "drover");
        assert!(
            e["eventTime"].is_string(),
            "eventTime is required by events.k8s.io/v1: {e}"
        );
        let regarding = &e["regarding"];
        assert_eq!(regarding["apiVersion"], "drover.dev/v1alpha1");
        assert_eq!(regarding["kind"], "AvailabilityGroup");
        assert_eq!(regarding["name"], ag.metadata.name.as_deref().unwrap());
        assert_eq!(regarding["namespace"], ns);
        assert_eq!(regarding["uid"], ag.metadata.uid.as_deref().unwrap());
        let body = seen.body.clone();
        seen.reply(StatusCode::CREATED, &body);
        body
    }
}

fn secret_json(ns: &str, name: &str, data: &[(&str, &str)]) -> Value {
    use common::mock_api::base64_free::encode;
    let data: serde_json::Map<String, Value> = data
        .iter()
        .map(|(k, v)| (k.to_string(), Value::String(encode(v.as_bytes()))))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns, "uid": "secret-uid", "resourceVersion": "7"},
        "type": "kubernetes.io/basic-auth",
        "data": data
    })
}

fn replica(name: &str, site: &str, host: &str, port: u16) -> ReplicaSpec {
    ReplicaSpec {
        server_name: name.into(),
        site: site.into(),
        endpoint: EndpointSpec {
            host: host.into(),
            port,
        },
        availability_mode: AvailabilityMode::AsynchronousCommit,
        fence_hook: None,
        force_quorum_hook: None,
    }
}

fn spec(primary_site: &str, replicas: Vec<ReplicaSpec>) -> AvailabilityGroupSpec {
    AvailabilityGroupSpec {
        group_name: "ag1".into(),
        cluster_type: ClusterType::Wsfc,
        databases: vec!["confdb".into(), "logdb".into()],
        replicas,
        credentials: CredentialsRef {
            secret_name: "ag1-login".into(),
            username_key: "username".into(),
            password_key: "password".into(),
        },
        tls: TlsSpec {
            encryption: Encryption::Off,
            ..TlsSpec::default()
        },
        primary_site: Some(primary_site.into()),
        forced_failover: ForcedFailoverPolicy::default(),
        auto_resume: false,
        backup_before_failback: None,
        required_synchronized_secondaries: None,
    }
}

fn object(spec: AvailabilityGroupSpec) -> AvailabilityGroup {
    let mut ag = AvailabilityGroup::new("ag1", spec);
    ag.metadata.namespace = Some("dr".into());
    ag.metadata.uid = Some("0f6c1d2e-5b8a-4c3e-9d71-2a4b6c8d0e1f".into());
    ag.metadata.generation = Some(3);
    ag.metadata.resource_version = Some("1234".into());
    ag
}

/// Replicas nobody listens on (the tests that use them must not reach SQL).
fn unreachable_spec(primary_site: &str) -> AvailabilityGroupSpec {
    spec(
        primary_site,
        vec![
            replica("SQL-A", "site-a", "sql-a.invalid", 1433),
            replica("SQL-B", "site-b", "sql-b.invalid", 1433),
        ],
    )
}

fn config() -> Config {
    Config {
        sql: drover::sql::Timeouts {
            connect: Duration::from_secs(2),
            handshake: Duration::from_secs(2),
            command: Duration::from_secs(5),
            long_command: Duration::from_secs(30),
        },
        ..Config::default()
    }
}

fn condition<'a>(
    status: &'a AvailabilityGroupStatus,
    type_: &str,
) -> &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {:?}", status.conditions))
}

// ---------------------------------------------------------------------------
// KubePort, call by call

#[tokio::test]
async fn patch_status_is_a_forced_server_side_apply_of_the_status_subresource() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let ag = object(unreachable_spec("site-a"));
    let status = AvailabilityGroupStatus {
        observed_generation: Some(3),
        phase: Some(Phase::Steady),
        primary_site: Some("site-a".into()),
        conditions: vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Steady".into(),
            message: "primary SQL-A at site site-a".into(),
            observed_generation: Some(3),
            last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-21T03:00:00Z".parse().unwrap(),
            ),
        }],
        ..AvailabilityGroupStatus::default()
    };
    let sent = status.clone();
    let target = ag.clone();
    let result = verify(
        handle,
        move |mut api| async move {
            // The exact body, field for field.
            let seen = api.next("status SSA").await;
            assert_eq!(seen.method, Method::PATCH);
            assert_eq!(
                seen.uri,
                "/apis/drover.dev/v1alpha1/namespaces/dr/availabilitygroups/ag1/status?&force=true&fieldManager=drover"
            );
            assert_eq!(seen.content_type.as_deref(), Some("application/apply-patch+yaml"));
            assert_eq!(
                seen.body,
                json!({
                    "apiVersion": "drover.dev/v1alpha1",
                    "kind": "AvailabilityGroup",
                    "status": {
                        "observedGeneration": 3,
                        "phase": "Steady",
                        "primarySite": "site-a",
                        "conditions": [{
                            "type": "Ready",
                            "status": "True",
                            "reason": "Steady",
                            "message": "primary SQL-A at site site-a",
                            "observedGeneration": 3,
                            "lastTransitionTime": "2026-11-21T03:00:00Z"
                        }]
                    }
                })
            );
            let mut answer = target.clone();
            answer.status = Some(sent);
            seen.ok(&serde_json::to_value(&answer).unwrap());
        },
        port.patch_status(&ag, &status),
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn patch_status_reports_an_api_error() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let ag = object(unreachable_spec("site-a"));
    let result = verify(
        handle,
        move |mut api| async move {
            let seen = api.next("status SSA").await;
            assert_eq!(seen.method, Method::PATCH);
            seen.reply(
                StatusCode::CONFLICT,
                &json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "Apply failed with 1 conflict", "reason": "Conflict", "code": 409
                }),
            );
        },
        port.patch_status(&ag, &AvailabilityGroupStatus::default()),
    )
    .await;
    match result {
        Err(PortError::Api(message)) => assert!(message.contains("Apply failed"), "{message}"),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn publish_posts_an_events_k8s_io_v1_event_about_the_object() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, Some("drover-7d9f-abcde".into()));
    let ag = object(unreachable_spec("site-a"));
    let target = ag.clone();
    let result = verify(
        handle,
        move |mut api| async move {
            let warning = api.event(&target, "Warning", "PrimaryUnreachable").await;
            assert_eq!(
                warning["note"],
                "no reachable replica reports PRIMARY (last primary: SQL-A)"
            );
            assert_eq!(warning["reportingInstance"], "drover-7d9f-abcde");
            assert!(
                warning["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("ag1.")),
                "{warning}"
            );
            assert!(
                warning.get("series").is_none_or(Value::is_null),
                "a first Event is not a series"
            );
            let normal = api.event(&target, "Normal", "TransitionFinished").await;
            assert_eq!(normal["note"], "Switchover to SQL-B finished");
        },
        async {
            port.publish(
                &ag,
                &Event::warning(
                    "PrimaryUnreachable",
                    "no reachable replica reports PRIMARY (last primary: SQL-A)",
                ),
            )
            .await?;
            port.publish(
                &ag,
                &Event::normal("TransitionFinished", "Switchover to SQL-B finished"),
            )
            .await
        },
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn publish_of_a_repeated_event_patches_it_into_a_series() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let ag = object(unreachable_spec("site-a"));
    let target = ag.clone();
    let event = Event::warning(
        "StepFailed",
        "`ALTER AVAILABILITY GROUP [ag1] FAILOVER` on SQL-B did not run",
    );
    let result = verify(
        handle,
        move |mut api| async move {
            let first = api.event(&target, "Warning", "StepFailed").await;
            assert_eq!(
                first["reportingInstance"], "drover",
                "without an instance the controller name is used"
            );
            let name = first["metadata"]["name"].as_str().unwrap().to_string();
            let seen = api.next("the repeated Event").await;
            assert_eq!(seen.method, Method::PATCH);
            assert_eq!(seen.uri, format!("/apis/events.k8s.io/v1/namespaces/dr/events/{name}?"));
            assert_eq!(seen.content_type.as_deref(), Some("application/merge-patch+json"));
            assert_eq!(seen.body["series"]["count"], 2);
            assert_eq!(seen.body["reason"], "StepFailed");
            let body = seen.body.clone();
            seen.ok(&body);
        },
        async {
            port.publish(&ag, &event).await?;
            port.publish(&ag, &event).await
        },
    )
    .await;
    assert_eq!(result, Ok(()));
}

/// kube's own recorder would fold the second statement's Event into the first's series and keep
/// only the first note; drover's Events are its record of what it ran, so each distinct one stays.
#[tokio::test]
async fn events_with_the_same_reason_but_different_notes_are_two_events() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let ag = object(unreachable_spec("site-a"));
    let target = ag.clone();
    let result = verify(
        handle,
        move |mut api| async move {
            let first = api.event(&target, "Normal", "SetAvailabilityMode").await;
            assert_eq!(first["note"], "ran `A` on SQL-A");
            let second = api.event(&target, "Normal", "SetAvailabilityMode").await;
            assert_eq!(second["note"], "ran `B` on SQL-A");
            assert_ne!(first["metadata"]["name"], second["metadata"]["name"]);
        },
        async {
            port.publish(&ag, &Event::normal("SetAvailabilityMode", "ran `A` on SQL-A"))
                .await?;
            port.publish(&ag, &Event::normal("SetAvailabilityMode", "ran `B` on SQL-A"))
                .await
        },
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn secret_is_read_with_get_and_its_data_decoded() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let data = verify(
        handle,
        move |mut api| async move {
            api.secret_get(
                "dr",
                "ag1-login",
                Some(&[("username", "drover"), ("password", "pä55:wörd")]),
            )
            .await;
        },
        port.secret("dr", "ag1-login"),
    )
    .await
    .expect("the Secret is read");
    assert_eq!(data.data.len(), 2);
    assert_eq!(data.data["username"], b"drover".to_vec());
    assert_eq!(data.data["password"], "pä55:wörd".as_bytes().to_vec());
    assert_eq!(data.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert!(
        !format!("{data:?}").contains("drover"),
        "Debug shows no value: {data:?}"
    );
}

#[tokio::test]
async fn a_missing_secret_is_not_found() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let result = verify(
        handle,
        move |mut api| async move { api.secret_get("dr", "ag1-login", None).await },
        port.secret("dr", "ag1-login"),
    )
    .await;
    assert_eq!(
        result,
        Err(PortError::NotFound {
            kind: "Secret",
            namespace: "dr".into(),
            name: "ag1-login".into(),
        })
    );
}

#[tokio::test]
async fn a_forbidden_secret_is_an_api_error_not_a_missing_one() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let result = verify(
        handle,
        move |mut api| async move {
            let seen = api.next("GET Secret").await;
            assert_eq!(seen.uri, "/api/v1/namespaces/dr/secrets/ag1-login");
            seen.reply(
                StatusCode::FORBIDDEN,
                &json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "secrets \"ag1-login\" is forbidden", "reason": "Forbidden", "code": 403
                }),
            );
        },
        port.secret("dr", "ag1-login"),
    )
    .await;
    assert!(
        matches!(result, Err(PortError::Api(ref m)) if m.contains("forbidden")),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------
// reconcile over the mocked API server

#[tokio::test]
async fn reconcile_without_its_secret_reports_credentials_unavailable() {
    let (client, handle) = mock_client();
    let ctx = Context::new(KubePort::new(client, None), config());
    let ag = object(unreachable_spec("site-a"));
    let target = ag.clone();
    let result = verify(
        handle,
        move |mut api| async move {
            api.secret_get("dr", "ag1-login", None).await;
            let event = api.event(&target, "Warning", "CredentialsUnavailable").await;
            assert!(
                event["note"]
                    .as_str()
                    .unwrap()
                    .contains("Secret dr/ag1-login not found"),
                "{event}"
            );
            let status = api.status_patch(&target).await;
            assert_eq!(status.observed_generation, Some(3));
            let ready = condition(&status, "Ready");
            assert_eq!(ready.status, "False");
            assert_eq!(ready.reason, "CredentialsUnavailable");
            assert_eq!(ready.observed_generation, Some(3));
            assert_eq!(condition(&status, "Degraded").status, "True");
            assert_eq!(condition(&status, "Invalid").status, "False");
        },
        reconcile(&ag, &ctx, jiff::Timestamp::now()),
    )
    .await;
    match result {
        Err(e @ Error::Credentials(_)) => assert_eq!(e.label(), "CredentialsUnavailable"),
        other => panic!("expected a credentials error, got {other:?}"),
    }
}

#[tokio::test]
async fn reconcile_of_an_invalid_spec_reports_it_and_reads_nothing() {
    let (client, handle) = mock_client();
    let ctx = Context::new(KubePort::new(client, None), config());
    // site-c holds no replica.
    let ag = object(unreachable_spec("site-c"));
    let target = ag.clone();
    let result = verify(
        handle,
        move |mut api| async move {
            let event = api.event(&target, "Warning", "InvalidSpec").await;
            assert!(event["note"].as_str().unwrap().contains("primarySite"), "{event}");
            let status = api.status_patch(&target).await;
            assert_eq!(status.phase, Some(Phase::Invalid));
            assert_eq!(status.observed_generation, Some(3));
            let invalid = condition(&status, "Invalid");
            assert_eq!(invalid.status, "True");
            assert_eq!(invalid.reason, "InvalidSpec");
            assert_eq!(invalid.observed_generation, Some(3));
            assert_eq!(condition(&status, "Ready").status, "False");
        },
        reconcile(&ag, &ctx, jiff::Timestamp::now()),
    )
    .await;
    assert_eq!(result.expect("an invalid spec is not a failure"), Requeue::OnChange);
}

#[tokio::test]
async fn reconcile_of_an_invalid_spec_already_reported_makes_no_request() {
    let (client, handle) = mock_client();
    let ctx = Context::new(KubePort::new(client, None), config());
    let mut ag = object(unreachable_spec("site-c"));
    let target = ag.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let first = verify(
        handle,
        move |mut api| async move {
            api.event(&target, "Warning", "InvalidSpec").await;
            tx.send(api.status_patch(&target).await).unwrap();
        },
        reconcile(&ag, &ctx, jiff::Timestamp::now()),
    )
    .await;
    assert_eq!(first.unwrap(), Requeue::OnChange);
    // The object as the watch delivers it next, with the status written: nothing new to say or write.
    ag.status = Some(rx.await.unwrap());
    let (client, handle) = mock_client();
    let ctx = Context::new(KubePort::new(client, None), config());
    let second = verify(handle, |_api| async {}, reconcile(&ag, &ctx, jiff::Timestamp::now())).await;
    assert_eq!(
        second.unwrap(),
        Requeue::OnChange,
        "any request would have failed against the closed mock"
    );
}

// ---------------------------------------------------------------------------
// A forced failover confirmed by annotation, through the real adapter and real SQL

async fn wait_for_role(sim: &Sim, instance: &str, role: Role, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let roles = sim.with_world(|w, now| w.roles(now, "ag1"));
        if roles.iter().any(|(i, r)| i == instance && r.as_ref() == Some(&role)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{instance} did not become {role:?}: {roles:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// The simulator and tiberius run on the real clock: a paused clock would
// auto-advance past SQL timeouts while the test waits on sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_forced_failover_through_the_annotation() {
    let mut world = WorldConfig::two_sites();
    world.login.password = PASSWORD_SENTINEL.into();
    let epoch = jiff::civil::date(2026, 11, 21).at(3, 0, 0, 0);
    let sim = Sim::start_at(world, epoch, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .expect("simulator starts");
    let (user, password) = sim.login();
    let (user, password) = (user.to_string(), password.to_string());
    assert_eq!(password, PASSWORD_SENTINEL);
    let addr_a = sim.addr("SQL-A").unwrap();
    let addr_b = sim.addr("SQL-B").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.stop_instance("SQL-A").await.expect("SQL-A stops");

    let ag = object(spec(
        "site-b",
        vec![
            replica("SQL-A", "site-a", &addr_a.ip().to_string(), addr_a.port()),
            replica("SQL-B", "site-b", &addr_b.ip().to_string(), addr_b.port()),
        ],
    ));
    // One client and one Context for both passes, as the controller keeps them.
    let (client, handle) = mock_client();
    let ctx = Context::new(KubePort::new(client, None), config());

    // What the API server saw in the first pass, handed to the client side for the second.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<(AvailabilityGroupStatus, Value)>();
    // What it saw in the second pass: the status patches and the step's Event.
    let (second_tx, second_rx) = tokio::sync::oneshot::channel::<(Vec<AvailabilityGroupStatus>, Value)>();
    let target = ag.clone();
    let login = (user.clone(), password.clone());
    let (first, seen_first, second) = verify(
        handle,
        move |mut api| async move {
            let secret = [("username", login.0.as_str()), ("password", login.1.as_str())];
            // Pass 1. The code writes status before it publishes the planner's notices. First, once
            // per generation: the simulator's connections are not encrypted.
            api.secret_get("dr", "ag1-login", Some(&secret)).await;
            let weak = api.event(&target, "Warning", "InsecureTransport").await;
            assert!(
                weak["note"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("spec.tls: encryption Off")),
                "{weak}"
            );
            // No managedFields on this object: who wrote primarySite is unknown, so the DrSites
            // are asked whether one lists the group. None does: the value is in force.
            api.drsite_list("dr", &[]).await;
            let status = api.status_patch(&target).await;
            api.event(&target, "Warning", "PrimaryUnreachable").await;
            let asked = api.event(&target, "Warning", "DataLossConfirmationRequired").await;
            // SQL-A newly unusable: one Event naming it.
            api.event(&target, "Warning", "ReplicaUnavailable").await;
            first_tx.send((status, asked)).unwrap();
            // Pass 2: the journal (fork point, consumed token) is written before the statement
            // runs, then the journal after it, then the step's Event (a refused Event must not
            // lose the journal).
            api.secret_get("dr", "ag1-login", Some(&secret)).await;
            api.drsite_list("dr", &[]).await;
            let before = api.status_patch(&target).await;
            // Who confirmed: the annotation's field manager, read from the object's managedFields.
            let accepted = api.event(&target, "Normal", "ConfirmationAccepted").await;
            assert!(
                accepted["note"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("by kubectl-annotate")),
                "{accepted}"
            );
            let after = api.status_patch(&target).await;
            let forced = api.event(&target, "Normal", "ForcedFailover").await;
            second_tx.send((vec![before, after], forced)).unwrap();
        },
        async {
            let first = reconcile(&ag, &ctx, jiff::Timestamp::now()).await;
            let Ok((status, asked)) = first_rx.await else {
                return (first, None, None);
            };
            // The person confirms: the annotation holds the token; the object carries the status written.
            let mut confirmed = ag.clone();
            if let Some(c) = &status.confirmation {
                // As `kubectl annotate` leaves it: the value, and its managed-fields entry.
                drover::controller::confirmer::annotate(
                    &mut confirmed.metadata,
                    CONFIRM_ANNOTATION,
                    &c.token,
                    "kubectl-annotate",
                    jiff::Timestamp::now(),
                );
            }
            confirmed.metadata.resource_version = Some("1235".into());
            confirmed.status = Some(status.clone());
            let second = reconcile(&confirmed, &ctx, jiff::Timestamp::now()).await;
            (first, Some((status, asked)), Some(second))
        },
    )
    .await;

    // Pass 1: blocked on a person, with a token in status, condition and Event.
    assert!(
        matches!(first, Ok(Requeue::After(_))),
        "waiting for a person is not a failure: {first:?}"
    );
    let (status, asked) = seen_first.expect("the first pass was seen");
    assert_eq!(status.phase, Some(Phase::AwaitingConfirmation));
    let confirmation = status.confirmation.clone().expect("status.confirmation is set");
    assert_eq!(confirmation.target, "SQL-B");
    assert_eq!(confirmation.token.len(), 12, "{confirmation:?}");
    assert_eq!(
        confirmation.command,
        format!(
            "kubectl annotate sqlag ag1 {CONFIRM_ANNOTATION}={} --overwrite",
            confirmation.token
        )
    );
    let required = condition(&status, "DataLossConfirmationRequired");
    assert_eq!(required.status, "True");
    assert_eq!(required.reason, "AwaitingConfirmation");
    assert_eq!(required.observed_generation, Some(3));
    assert!(
        asked["note"].as_str().unwrap().contains(&confirmation.token),
        "the Event names the token: {asked}"
    );
    assert!(!asked.to_string().contains(PASSWORD_SENTINEL));

    // Pass 2: the forced failover ran on SQL-B and was reported without the password.
    let second = second.expect("the second pass ran");
    assert!(matches!(second, Ok(Requeue::After(_))), "{second:?}");
    let (patches, forced) = second_rx.await.expect("the second pass was seen");
    let note = forced["note"].as_str().unwrap();
    assert!(note.contains("FORCE_FAILOVER_ALLOW_DATA_LOSS"), "{note}");
    assert!(note.contains("SQL-B"), "{note}");
    assert!(!forced.to_string().contains(PASSWORD_SENTINEL), "{forced}");
    let [before, after] = &patches[..] else {
        panic!("two status patches: {patches:?}")
    };
    assert_eq!(before.phase, Some(Phase::Failover));
    let transition = before.transition.as_ref().expect("the transition is journalled");
    assert_eq!(transition.to_replica, "SQL-B");
    assert_eq!(transition.confirmed_token.as_deref(), Some(confirmation.token.as_str()));
    assert!(!transition.failover_issued, "not issued before the statement ran");
    assert_eq!(
        transition.fork.len(),
        2,
        "the fork point of both databases: {transition:?}"
    );
    assert!(after.confirmation.is_none(), "the token is consumed");
    assert!(after.transition.as_ref().is_some_and(|t| t.failover_issued));
    assert_eq!(condition(after, "DataLossConfirmationRequired").status, "False");
    for p in &patches {
        assert!(!serde_json::to_string(p).unwrap().contains(PASSWORD_SENTINEL));
    }

    wait_for_role(&sim, "SQL-B", Role::Primary, Duration::from_secs(10)).await;
}

// The same, but drover saw the primary before it was lost, with SQL-B over a second behind: the
// estimate then comes from commit times, which the status keeps in whole seconds only. (Before
// the fix in reconcile, the token computed when asking never matched the one computed from the
// status the API server handed back.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_bound_to_a_seen_primary_survives_the_status_round_trip() {
    let mut world = WorldConfig::two_sites();
    world.login.password = PASSWORD_SENTINEL.into();
    world.workload.commits_per_second = 50;
    let epoch = jiff::civil::date(2026, 11, 21).at(3, 0, 0, 0);
    let sim = Sim::start_at(world, epoch, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .expect("simulator starts");
    let (user, password) = sim.login();
    let login = (user.to_string(), password.to_string());
    let addr_a = sim.addr("SQL-A").unwrap();
    let addr_b = sim.addr("SQL-B").unwrap();
    let replicas = vec![
        replica("SQL-A", "site-a", &addr_a.ip().to_string(), addr_a.port()),
        replica("SQL-B", "site-b", &addr_b.ip().to_string(), addr_b.port()),
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let steady = object(spec("site-a", replicas.clone()));
    let (client, handle) = mock_client();
    let ctx = Context::new(KubePort::new(client, None), config());

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<AvailabilityGroupStatus>();
    let target = steady.clone();
    let outcome = verify(
        handle,
        move |mut api| async move {
            let secret = [("username", login.0.as_str()), ("password", login.1.as_str())];
            // Pass 0: the primary is seen at site-a (SQL-B lagging: no step; the one Event says
            // the simulator's connections are not encrypted, once for this generation).
            api.secret_get("dr", "ag1-login", Some(&secret)).await;
            api.event(&target, "Warning", "InsecureTransport").await;
            api.drsite_list("dr", &[]).await;
            tx.send(api.status_patch(&target).await).unwrap();
            // Pass 1: it is gone, and spec.primarySite now says site-b (a new generation, so the
            // transport warning again, which kube's recorder folds into the first one's series).
            api.secret_get("dr", "ag1-login", Some(&secret)).await;
            let seen = api.next("Event series InsecureTransport").await;
            assert_eq!(seen.method, Method::PATCH, "{}", seen.body);
            assert_eq!(seen.body["reason"], "InsecureTransport");
            assert_eq!(seen.body["series"]["count"], 2);
            let body = seen.body.clone();
            seen.ok(&body);
            api.drsite_list("dr", &[]).await;
            tx.send(api.status_patch(&target).await).unwrap();
            api.event(&target, "Warning", "PrimaryUnreachable").await;
            api.event(&target, "Warning", "DataLossConfirmationRequired").await;
            api.event(&target, "Warning", "ReplicaUnavailable").await;
            // Pass 2: confirmed.
            api.secret_get("dr", "ag1-login", Some(&secret)).await;
            api.drsite_list("dr", &[]).await;
            tx.send(api.status_patch(&target).await).unwrap();
            api.event(&target, "Normal", "ConfirmationAccepted").await;
            tx.send(api.status_patch(&target).await).unwrap();
            api.event(&target, "Normal", "ForcedFailover").await;
        },
        async {
            let mut rx = rx;
            let mut results = Vec::new();
            let mut ag = steady.clone();
            // SQL-B falls more than a second behind; drover sees the primary ahead of it; SQL-A dies.
            sim.pause_replication("SQL-B", true).unwrap();
            tokio::time::sleep(Duration::from_millis(1700)).await;
            results.push(reconcile(&ag, &ctx, jiff::Timestamp::now()).await);
            let Some(status) = rx.recv().await else {
                return (results, None);
            };
            assert_eq!(status.primary_replica.as_deref(), Some("SQL-A"), "{status:?}");
            ag.status = Some(status);
            sim.stop_instance("SQL-A").await.unwrap();
            ag.spec.primary_site = Some("site-b".into());
            ag.metadata.generation = Some(4);
            results.push(reconcile(&ag, &ctx, jiff::Timestamp::now()).await);
            let Some(status) = rx.recv().await else {
                return (results, None);
            };
            let token = status.confirmation.as_ref().map(|c| c.token.clone());
            if let Some(token) = &token {
                ag.metadata
                    .annotations
                    .get_or_insert_default()
                    .insert(CONFIRM_ANNOTATION.into(), token.clone());
            }
            let asked = status.clone();
            ag.status = Some(status);
            results.push(reconcile(&ag, &ctx, jiff::Timestamp::now()).await);
            let before = rx.recv().await;
            (results, Some((asked, before)))
        },
    )
    .await;
    let (results, seen) = outcome;
    assert!(
        results.iter().all(|r| matches!(r, Ok(Requeue::After(_)))),
        "{results:?}"
    );
    let (asked, before) = seen.expect("all passes were seen");
    let confirmation = asked.confirmation.expect("confirmation requested");
    let estimate = asked.estimate.expect("an estimate");
    assert!(estimate.primary_unreachable);
    assert!(
        estimate.unknown_since.is_some(),
        "drover saw the primary, so the unknown window starts then"
    );
    assert!(
        confirmation.known_loss_seconds.is_some_and(|s| s >= 1),
        "SQL-B was over a second behind: {confirmation:?}"
    );
    let before = before.expect("the journal before the step");
    assert_eq!(
        before.transition.and_then(|t| t.confirmed_token),
        Some(confirmation.token),
        "the token from status was accepted"
    );
    wait_for_role(&sim, "SQL-B", Role::Primary, Duration::from_secs(10)).await;
}
