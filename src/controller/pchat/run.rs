//! The kube-runtime wiring: watch PersistentChatPools, their hook Jobs and the
//! Secrets they name; reconcile each at most once at a time.

use super::{Context, Error, key_of, reconcile};
use crate::api::dr_site::DrSite;
use crate::api::persistent_chat_pool::PersistentChatPool;
use crate::components::LABEL_POOL;
use crate::controller::api_in;
use crate::controller::kube::KubePort;
use crate::controller::login::naming_secret;
use crate::runtime::Wiring;
use crate::runtime::metrics::Kind;
use crate::runtime::wiring::retry_after;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

async fn reconcile_kube(pool: Arc<PersistentChatPool>, ctx: Arc<Context<KubePort>>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", kind = "PersistentChatPool", object = %key_of(&pool));
    let requeue = reconcile(&pool, &ctx, jiff::Timestamp::now()).instrument(span).await?;
    Ok(requeue.into())
}

fn error_policy(pool: Arc<PersistentChatPool>, error: &Error, ctx: Arc<Context<KubePort>>) -> Action {
    let key = key_of(&pool);
    retry_after(&key, error, ctx.failed(&key))
}

/// Runs the controller until `stop` is cancelled. `namespace`: watch only that one (default: all).
///
/// The watches are set up (and counted for readiness) when this is called; the returned future runs
/// them.
pub fn run(
    wiring: &Wiring,
    namespace: Option<&str>,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + use<> {
    let client = &wiring.client;
    // The DrSites, to tell which list a pool (only their field manager may move it), and to
    // look at the pools a DrSite lists again when it changes.
    let (drsites, drsite_changes) = wiring.reflect(api_in::<DrSite>(client, namespace));
    let ctx = Arc::new(
        Context::new(
            KubePort::new(client.clone(), wiring.instance.clone()).with_drsites(drsites),
            wiring.config,
        )
        .with_shared(wiring.shared.clone()),
    );
    // A deleted pool's SQL connections are closed.
    let connections = ctx.clone();
    let controller = wiring.controller_closing(
        Kind::PersistentChatPool,
        api_in::<PersistentChatPool>(client, namespace),
        move |key| connections.forget_connections(key),
    );
    let store = controller.store();
    let by_label = store.clone();
    // A hook Job that finishes moves the runbook on at once, not at the next poll.
    let jobs = wiring.watch(
        api_in::<PartialObjectMeta<Job>>(client, namespace),
        watcher::Config::default().labels(LABEL_POOL),
    );
    // A Secret that changes (a rotated password, a created Secret) re-runs the pools naming it.
    let secrets = wiring.watch(
        api_in::<PartialObjectMeta<Secret>>(client, namespace),
        watcher::Config::default(),
    );
    let controller = controller
        .watches_stream(jobs, move |job| {
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
        .watches_stream(secrets, move |secret| naming_secret(&store, &secret))
        .watches_stream(drsite_changes, |drs| {
            let ns = drs.namespace().unwrap_or_default();
            drs.spec
                .persistent_chat_pools
                .iter()
                .map(|c| ObjectRef::<PersistentChatPool>::new(&c.name).within(&ns))
                .collect::<Vec<_>>()
        });
    wiring.drive(controller, reconcile_kube, error_policy, ctx, stop)
}
