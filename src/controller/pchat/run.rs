//! The kube-runtime wiring: watch PersistentChatPools, their hook Jobs and the
//! Secrets they name; reconcile each at most once at a time.

use super::{Context, Error, Requeue, key_of, reconcile};
use crate::api::persistent_chat_pool::PersistentChatPool;
use crate::components::LABEL_POOL;
use crate::controller::kube::KubePort;
use crate::controller::{Config, api_in};
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

async fn reconcile_kube(pool: Arc<PersistentChatPool>, ctx: Arc<Context<KubePort>>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", kind = "PersistentChatPool", object = %key_of(&pool));
    let requeue = reconcile(&pool, &ctx, jiff::Timestamp::now()).instrument(span).await?;
    Ok(match requeue {
        Requeue::After(d) => Action::requeue(d),
        Requeue::OnChange => Action::await_change(),
    })
}

fn error_policy(pool: Arc<PersistentChatPool>, error: &Error, ctx: Arc<Context<KubePort>>) -> Action {
    let key = key_of(&pool);
    let delay = ctx.failed(&key);
    tracing::warn!(object = %key, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Runs the controller until `shutdown` completes. `namespace`: watch only that one (default: all).
pub async fn run(
    client: Client,
    config: Config,
    namespace: Option<&str>,
    instance: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let pools: Api<PersistentChatPool> = api_in(&client, namespace);
    let jobs: Api<PartialObjectMeta<Job>> = api_in(&client, namespace);
    let secrets: Api<PartialObjectMeta<Secret>> = api_in(&client, namespace);
    let ctx = Arc::new(Context::new(KubePort::new(client, instance), config));
    let controller = Controller::new(pools, watcher::Config::default().any_semantic());
    let store = controller.store();
    let by_label = store.clone();
    controller
        // A hook Job that finishes moves the runbook on at once, not at the next poll.
        .watches(jobs, watcher::Config::default().labels(LABEL_POOL), move |job| {
            let ns = job.namespace();
            let pool = job.labels().get(LABEL_POOL).cloned();
            by_label
                .state()
                .into_iter()
                .filter(|p| {
                    p.namespace() == ns
                        && pool.as_deref() == Some(crate::components::hook::label_value(&p.name_any()).as_str())
                })
                .map(|p| ObjectRef::from_obj(&*p))
                .collect::<Vec<_>>()
        })
        // A Secret that changes (a rotated password, a created Secret) re-runs the pools naming it.
        .watches(secrets, watcher::Config::default(), move |secret| {
            let (ns, name) = (secret.namespace(), secret.name_any());
            store
                .state()
                .into_iter()
                .filter(|p| {
                    p.namespace() == ns
                        && (p.spec.credentials.secret_name == name
                            || p.spec.tls.ca_secret.as_ref().is_some_and(|c| c.name == name))
                })
                .map(|p| ObjectRef::from_obj(&*p))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile_kube, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}
