//! The PersistentChatPool side of the kube adapter against a mocked API server:
//! the exact requests for its status, its hook Jobs and a failed hook's log.

mod common;

use common::mock_api::*;
use drover::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus, PoolPhase, PoolState};
use drover::controller::kube::KubePort;
use drover::controller::{PoolPort, PortError};
use http::Method;
use k8s_openapi::api::batch::v1::Job;
use serde_json::json;

/// The example's pool, as stored.
fn pool() -> PersistentChatPool {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/persistent-chat.yaml"))
        .expect("example exists");
    let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).expect("example parses");
    let doc = docs
        .into_iter()
        .find(|d| d["kind"] == "PersistentChatPool")
        .expect("the example has a pool");
    serde_json::from_value(doc).expect("a PersistentChatPool")
}

#[tokio::test]
async fn pool_status_is_a_forced_server_side_apply_of_the_status_subresource() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let pool = pool();
    let status = PersistentChatPoolStatus {
        observed_generation: Some(3),
        active_site: Some("dc1".into()),
        pool_state: Some(PoolState::Normal),
        phase: Some(PoolPhase::Steady),
        ..PersistentChatPoolStatus::default()
    };
    let sent = status.clone();
    let mut stored = pool.clone();
    stored.metadata.namespace = Some("persistent-chat".into());
    stored.status = Some(status.clone());
    let answer = serde_json::to_value(&stored).unwrap();
    let result = verify(
        handle,
        move |mut api| async move {
            let body = json!({
                "apiVersion": "drover.dev/v1alpha1",
                "kind": "PersistentChatPool",
                "status": serde_json::to_value(&sent).unwrap(),
            });
            api.apply(
                "/apis/drover.dev/v1alpha1/namespaces/persistent-chat/persistentchatpools/pchat/status?&force=true&fieldManager=drover",
                &body,
            )
            .await
            .ok(&answer);
        },
        port.patch_pool_status(&pool, &status),
    )
    .await;
    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn hook_jobs_are_listed_by_label_and_a_create_that_already_happened_is_not_an_error() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let job: Job = serde_json::from_value(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pchat-set-pool-state-1a2b3c4d", "namespace": "persistent-chat",
                     "labels": {"drover.dev/pchat": "pchat", "drover.dev/action": "set-pool-state", "drover.dev/run": "1795000000-1"},
                     "annotations": {"drover.dev/owner-uid": "uid-pchat"}},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}
    }))
    .unwrap();
    let sent = job.clone();
    let existing = serde_json::to_value(&job).unwrap();
    let mut planted = existing.clone();
    planted["metadata"]["annotations"] = json!({});
    let (listed, created, again, foreign) = verify(
        handle,
        move |mut api| async move {
            api.get("/apis/batch/v1/namespaces/persistent-chat/jobs?&labelSelector=drover.dev%2Fpchat%3Dpchat")
                .await
                .ok(&json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": [serde_json::to_value(&sent).unwrap()]}));
            for (i, answer) in [201u16, 409, 409].into_iter().enumerate() {
                let seen = api.next("POST a Job").await;
                assert_eq!(seen.method, Method::POST, "create {i}");
                assert_eq!(seen.uri, "/apis/batch/v1/namespaces/persistent-chat/jobs?");
                assert_eq!(seen.body["metadata"]["name"], "pchat-set-pool-state-1a2b3c4d");
                if answer == 201 {
                    let body = seen.body.clone();
                    seen.reply(http::StatusCode::CREATED, &body);
                } else {
                    seen.fail(409, "AlreadyExists", "jobs.batch \"pchat-set-pool-state-1a2b3c4d\" already exists");
                    // Read back: taken only when it carries the pool's UID.
                    let found = if i == 1 { &existing } else { &planted };
                    api.get("/apis/batch/v1/namespaces/persistent-chat/jobs/pchat-set-pool-state-1a2b3c4d")
                        .await
                        .ok(found);
                }
            }
        },
        async {
            (
                port.jobs("persistent-chat", "drover.dev/pchat", "pchat").await,
                port.create_job("persistent-chat", &job).await,
                port.create_job("persistent-chat", &job).await,
                port.create_job("persistent-chat", &job).await,
            )
        },
    )
    .await;
    let listed = listed.expect("listed");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].metadata.name.as_deref(),
        Some("pchat-set-pool-state-1a2b3c4d")
    );
    assert_eq!(created, Ok(()));
    assert_eq!(
        again,
        Ok(()),
        "409: the Job exists, as wanted (it carries the pool's UID)"
    );
    assert!(
        matches!(&foreign, Err(drover::controller::PortError::Api(m)) if m.contains("was not created by drover for this object")),
        "a same-named Job without the UID is someone else's: {foreign:?}"
    );
}

#[tokio::test]
async fn a_failed_hooks_log_is_the_tail_of_its_newest_pod() {
    let (client, handle) = mock_client();
    let port = KubePort::new(client, None);
    let pod = |name: &str, created: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "persistent-chat", "creationTimestamp": created},
               "spec": {"containers": [{"name": "c", "image": "i"}]}})
    };
    let (log, missing) = verify(
        handle,
        move |mut api| async move {
            api.get("/api/v1/namespaces/persistent-chat/pods?&labelSelector=job-name%3Dpchat-set-pool-state-1a2b3c4d")
                .await
                .ok(&json!({"apiVersion": "v1", "kind": "PodList", "metadata": {},
                            "items": [pod("old", "2026-11-22T03:00:00Z"), pod("new", "2026-11-22T03:01:00Z")]}));
            let seen = api.next("GET the newest pod's log").await;
            assert_eq!(seen.method, Method::GET);
            assert_eq!(
                seen.uri,
                "/api/v1/namespaces/persistent-chat/pods/new/log?&limitBytes=16384&tailLines=20"
            );
            let response = http::Response::builder()
                .status(200)
                .body(kube::client::Body::from(
                    b"Set-CsPersistentChatState : access denied\n".to_vec(),
                ))
                .unwrap();
            seen.respond.send_response(response);
            api.get("/api/v1/namespaces/persistent-chat/pods?&labelSelector=job-name%3Dgone")
                .await
                .fail(500, "InternalError", "etcdserver: request timed out");
        },
        async {
            (
                port.job_log("persistent-chat", "pchat-set-pool-state-1a2b3c4d").await,
                port.job_log("persistent-chat", "gone").await,
            )
        },
    )
    .await;
    assert_eq!(log.as_deref(), Ok("Set-CsPersistentChatState : access denied\n"));
    assert!(matches!(missing, Err(PortError::Api(_))), "{missing:?}");
}
