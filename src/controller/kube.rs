//! The [`Port`] and [`DrPort`] over the Kubernetes API: objects read with GET,
//! status and a child's desired site written by server-side apply with
//! drover's field managers, Events through [`EventRecorder`] (events.k8s.io/v1,
//! the same Event repeated becomes a series). [`port_error`] is the one mapping of kube's
//! errors, shared with the sites' adapter ([`crate::components::kube`]).

use super::events::EventRecorder;
use super::{DRSITE_FIELD_MANAGER, DrPort, Event, FIELD_MANAGER, PoolPort, Port, PortError};
use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus};
use crate::api::dr_site::{DrSite, DrSiteStatus};
use crate::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus};
use crate::components::LABEL_DRSITE;
use crate::controller::SecretData;
use crate::controller::ownership::{ListedBy, listing};
use crate::plan::drsite::ChildKind;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ObjectReference, Pod, Secret};
use kube::api::{ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// The Kubernetes side, for real.
#[derive(Clone)]
pub struct KubePort {
    client: Client,
    recorder: EventRecorder,
    /// The DrSites as a watch keeps them, to tell which list a child without an API request;
    /// without it, they are listed from the API server when needed.
    drsites: Option<Store<DrSite>>,
}

/// How long a reconcile waits for the DrSite watch's first list before it gives up.
const DRSITES_READY: std::time::Duration = std::time::Duration::from_secs(10);

impl KubePort {
    /// `instance` names this operator process in Events (its pod name).
    pub fn new(client: Client, instance: Option<String>) -> Self {
        Self {
            recorder: EventRecorder::new(client.clone(), FIELD_MANAGER, instance),
            client,
            drsites: None,
        }
    }

    /// Tells which DrSites list a child from `store` (a watch's) instead of listing them.
    pub fn with_drsites(mut self, store: Store<DrSite>) -> Self {
        self.drsites = Some(store);
        self
    }
}

/// kube's reason for an error response whose body is not a `Status` (a proxy's or a load
/// balancer's page rather than the API server's answer).
const NOT_A_STATUS: &str = "Failed to parse error data";

/// Maps a failed kube call. The API server's answer (a `Status`) is [`PortError::Api`]; no answer
/// at all — connection, TLS, timeout, or a gateway in front of it reporting it could not get one —
/// is [`PortError::Unreachable`], so the state behind it is reported unknown, never guessed.
/// A 404 the caller can name becomes `NotFound` at the call site ([`is_not_found`]).
pub(crate) fn port_error(e: kube::Error) -> PortError {
    match e {
        kube::Error::Api(s) if s.reason == NOT_A_STATUS && matches!(s.code, 502..=504) => {
            PortError::Unreachable(format!("HTTP {} from a gateway: {}", s.code, cut(&s.message, 200)))
        }
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() || s.reason == NOT_A_STATUS {
                String::new()
            } else {
                format!(" {}", s.reason)
            };
            let message = if s.message.is_empty() {
                "no message".to_string()
            } else {
                cut(&s.message, 512)
            };
            PortError::Api(format!("{message} (HTTP {}{reason})", s.code))
        }
        // The request was built or its answer read wrongly: the server was reached.
        kube::Error::SerdeError(_)
        | kube::Error::BuildRequest(_)
        | kube::Error::HttpError(_)
        | kube::Error::FromUtf8(_)
        | kube::Error::LinesCodecMaxLineLengthExceeded => PortError::Api(chain(&e)),
        _ => PortError::Unreachable(chain(&e)),
    }
}

/// Whether the API server answered 404.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.reason == "NotFound")
}

/// Whether the API server answered 409 to a create: the object exists.
pub(crate) fn is_already_exists(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 || s.reason == "AlreadyExists")
}

/// GET that maps a 404 to `None`.
pub(crate) async fn get_opt<K>(api: &Api<K>, name: &str) -> Result<Option<K>, PortError>
where
    K: Clone + DeserializeOwned + Debug,
{
    match api.get(name).await {
        Ok(object) => Ok(Some(object)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(port_error(e)),
    }
}

/// The error and its causes on one line (hyper's own message is often just "client error").
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn cut(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push_str("...");
        out
    }
}

impl Port for KubePort {
    async fn secret(&self, namespace: &str, name: &str) -> Result<SecretData, PortError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        match get_opt(&api, name).await? {
            Some(secret) => Ok(SecretData {
                type_: secret.type_,
                labels: secret.metadata.labels.unwrap_or_default(),
                data: secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
            }),
            None => Err(PortError::NotFound {
                kind: "Secret",
                namespace: namespace.to_string(),
                name: name.to_string(),
            }),
        }
    }

    async fn patch_status(&self, ag: &AvailabilityGroup, status: &AvailabilityGroupStatus) -> Result<(), PortError> {
        self.apply_status(ag, status).await
    }

    async fn publish(&self, ag: &AvailabilityGroup, event: &Event) -> Result<(), PortError> {
        self.publish_about(event, &ag.object_ref(&())).await
    }

    async fn drsites_listing(&self, kind: ChildKind, namespace: &str, name: &str) -> Result<Vec<ListedBy>, PortError> {
        match &self.drsites {
            Some(store) => {
                // Before the watch's first list an empty store would say "listed by none".
                tokio::time::timeout(DRSITES_READY, store.wait_until_ready())
                    .await
                    .map_err(|_| PortError::Unreachable("the DrSite watch has not listed DrSites yet".into()))?
                    .map_err(|e| PortError::Unreachable(format!("the DrSite watch: {e}")))?;
                let all = store.state();
                Ok(listing(all.iter().map(|d| &**d), kind, namespace, name))
            }
            None => {
                // Each decoded on its own: one unreadable DrSite (reported by its controller) does
                // not hide the others.
                let api: Api<kube::core::DeserializeGuard<DrSite>> = Api::namespaced(self.client.clone(), namespace);
                let list = api.list(&ListParams::default()).await.map_err(port_error)?;
                let readable: Vec<DrSite> = list.items.into_iter().filter_map(|d| d.0.ok()).collect();
                Ok(listing(&readable, kind, namespace, name))
            }
        }
    }
}

impl KubePort {
    /// The one way drover publishes an Event, whatever it is about.
    async fn publish_about(&self, event: &Event, about: &ObjectReference) -> Result<(), PortError> {
        self.recorder.publish(event, about).await.map_err(port_error)
    }
}

impl KubePort {
    /// Server-side apply of `object`'s status subresource with drover's field manager, forced: the
    /// status is drover's alone.
    async fn apply_status<K>(&self, object: &K, status: &impl serde::Serialize) -> Result<(), PortError>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &object.namespace().unwrap_or_default());
        let body = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "status": status,
        });
        api.patch_status(
            &object.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map(|_| ())
        .map_err(port_error)
    }

    /// Sets one child's desired-site field by server-side apply with the DrSite's field manager,
    /// forced, and only that field: every other field stays with its manager.
    async fn apply_desired_site<K>(
        &self,
        kind: &'static str,
        namespace: &str,
        name: &str,
        field: &str,
        site: &str,
        drsite: &str,
    ) -> Result<(), PortError>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), namespace);
        let body = serde_json::json!({
            "apiVersion": K::api_version(&()),
            "kind": K::kind(&()),
            "metadata": {"name": name, "labels": {LABEL_DRSITE: drsite}},
            "spec": {field: site},
        });
        match api
            .patch(
                name,
                &PatchParams::apply(DRSITE_FIELD_MANAGER).force(),
                &Patch::Apply(body),
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Err(PortError::NotFound {
                kind,
                namespace: namespace.to_string(),
                name: name.to_string(),
            }),
            Err(e) => Err(port_error(e)),
        }
    }
}

impl DrPort for KubePort {
    async fn availability_group(&self, namespace: &str, name: &str) -> Result<Option<AvailabilityGroup>, PortError> {
        let api: Api<AvailabilityGroup> = Api::namespaced(self.client.clone(), namespace);
        get_opt(&api, name).await
    }

    async fn apply_primary_site(&self, namespace: &str, name: &str, site: &str, drsite: &str) -> Result<(), PortError> {
        self.apply_desired_site::<AvailabilityGroup>("AvailabilityGroup", namespace, name, "primarySite", site, drsite)
            .await
    }

    async fn persistent_chat_pool(&self, namespace: &str, name: &str) -> Result<Option<PersistentChatPool>, PortError> {
        let api: Api<PersistentChatPool> = Api::namespaced(self.client.clone(), namespace);
        get_opt(&api, name).await
    }

    async fn apply_pool_active_site(
        &self,
        namespace: &str,
        name: &str,
        site: &str,
        drsite: &str,
    ) -> Result<(), PortError> {
        self.apply_desired_site::<PersistentChatPool>("PersistentChatPool", namespace, name, "activeSite", site, drsite)
            .await
    }

    async fn patch_drsite_status(&self, drs: &DrSite, status: &DrSiteStatus) -> Result<(), PortError> {
        self.apply_status(drs, status).await
    }

    async fn publish_drsite(&self, drs: &DrSite, event: &Event) -> Result<(), PortError> {
        self.publish_about(event, &drs.object_ref(&())).await
    }
}

impl PoolPort for KubePort {
    async fn patch_pool_status(
        &self,
        pool: &PersistentChatPool,
        status: &PersistentChatPoolStatus,
    ) -> Result<(), PortError> {
        self.apply_status(pool, status).await
    }

    async fn publish_pool(&self, pool: &PersistentChatPool, event: &Event) -> Result<(), PortError> {
        self.publish_about(event, &pool.object_ref(&())).await
    }

    async fn jobs(&self, namespace: &str, key: &str, value: &str) -> Result<Vec<Job>, PortError> {
        let api: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        let list = api
            .list(&ListParams::default().labels(&format!("{key}={value}")))
            .await
            .map_err(port_error)?;
        Ok(list.items)
    }

    async fn create_job(&self, namespace: &str, job: &Job) -> Result<(), PortError> {
        let api: Api<Job> = Api::namespaced(self.client.clone(), namespace);
        match api.create(&PostParams::default(), job).await {
            Ok(_) => Ok(()),
            // Created by an earlier pass if it carries the same owner UID; not otherwise.
            Err(e) if is_already_exists(&e) => crate::components::kube::existing_is_ours(&api, namespace, job).await,
            Err(e) => Err(port_error(e)),
        }
    }

    async fn job_log(&self, namespace: &str, job: &str) -> Result<String, PortError> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let list = pods
            .list(&ListParams::default().labels(&format!("job-name={job}")))
            .await
            .map_err(port_error)?;
        // The newest pod ran last: its log says why the Job gave up.
        let Some(pod) = list
            .items
            .iter()
            .max_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0))
        else {
            return Ok(String::new());
        };
        let params = LogParams {
            tail_lines: Some(JOB_LOG_LINES),
            // Twenty lines may be any size: the kubelet stops at this many bytes.
            limit_bytes: Some(JOB_LOG_BYTES),
            ..LogParams::default()
        };
        pods.logs(&pod.name_any(), &params).await.map_err(port_error)
    }
}

/// How many lines of a failed hook's log go into its Event.
const JOB_LOG_LINES: i64 = 20;
/// The most of a failed hook's log read (its Event note is cut to 1 KiB anyway).
const JOB_LOG_BYTES: i64 = 16 * 1024;
