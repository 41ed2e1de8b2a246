//! What the three controllers' kube-runtime wirings share: the watches that
//! count for readiness, reconciling everything again when this process
//! becomes leader, graceful shutdown, and the stream of results.

use super::metrics::Kind;
use super::poison::{InvalidReporter, guarded, valid_only};
use super::{Readiness, Shared};
use crate::controller::Config;
use futures::{FutureExt, Stream, StreamExt, TryFuture, TryFutureExt};
use kube::core::NamespaceResourceScope;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A failed reconcile of `key`: logged, and retried after `delay` (the controller's backoff).
pub fn retry_after(key: &str, error: &dyn std::fmt::Display, delay: std::time::Duration) -> Action {
    tracing::warn!(object = %key, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// The most reconciles one process runs at once, over all controllers and namespaces: each holds
/// SQL connections, remote API calls and memory, so a burst of objects (a relist, a leader
/// change reconciling everything) queues instead of fanning out without limit.
pub const MAX_CONCURRENT_RECONCILES: usize = 16;

/// What each controller's `run` gets from the process.
#[derive(Clone)]
pub struct Wiring {
    pub client: Client,
    pub config: Config,
    /// This process's name in Events (the pod name).
    pub instance: Option<String>,
    pub shared: Shared,
    pub readiness: Readiness,
    /// Permits for reconciles in flight, shared by every controller of the process
    /// ([`MAX_CONCURRENT_RECONCILES`]).
    pub reconciles: Arc<tokio::sync::Semaphore>,
}

/// Permits for [`Wiring::reconciles`].
pub fn reconcile_permits() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_RECONCILES))
}

impl Wiring {
    /// A controller of `api`'s objects (of `kind`) whose watch counts for readiness. An object
    /// deleted takes its metric series with it. Each object is decoded on its own: one that
    /// cannot be read is skipped and reported Invalid ([`super::poison`]), the others go on.
    pub fn controller<K>(&self, kind: Kind, api: Api<K>) -> Controller<K>
    where
        K: Clone
            + Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + DeserializeOwned
            + Serialize
            + Debug
            + Send
            + Sync
            + 'static,
    {
        self.controller_closing(kind, api, |_: &str| {})
    }

    /// [`Self::controller`], calling `close` with `namespace/name` when an object is deleted (or
    /// turns unreadable): what the controller holds for it (SQL connections) goes with it.
    pub fn controller_closing<K>(
        &self,
        kind: Kind,
        api: Api<K>,
        close: impl Fn(&str) + Send + Sync + 'static,
    ) -> Controller<K>
    where
        K: Clone
            + Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + DeserializeOwned
            + Serialize
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let writer = reflector::store::Writer::<K>::default();
        let reader: Store<K> = writer.as_reader();
        let events = watcher(guarded(api), watcher::Config::default().any_semantic()).default_backoff();
        let reporter = Arc::new(InvalidReporter::new(
            self.client.clone(),
            kind,
            self.instance.clone(),
            self.shared.clone(),
        ));
        let metrics = self.shared.metrics.clone();
        let objects = valid_only(self.readiness.track(events), Some(reader.clone()), Some(reporter))
            .inspect(move |event| {
                if let Ok(watcher::Event::Delete(gone)) = event {
                    let (namespace, name) = (gone.namespace().unwrap_or_default(), gone.name_any());
                    metrics.forget(kind, &namespace, &name);
                    close(&format!("{namespace}/{name}"));
                }
            })
            .reflect(writer)
            .applied_objects();
        Controller::for_stream(objects, reader)
    }

    /// The objects of a watch that triggers reconciles (its changes, through a mapper), counted
    /// for readiness.
    pub fn watch<K>(
        &self,
        api: Api<K>,
        config: watcher::Config,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + use<K>
    where
        K: Clone + Resource + DeserializeOwned + Debug + Send + 'static,
    {
        self.readiness
            .track(watcher(api, config).default_backoff())
            .touched_objects()
    }

    /// [`Self::watch`] of a kind another controller owns, each object decoded on its own: one
    /// that cannot be read triggers nothing here (its own controller reports it).
    pub fn watch_valid<K>(
        &self,
        api: Api<K>,
        config: watcher::Config,
    ) -> impl Stream<Item = Result<K, watcher::Error>> + Send + use<K>
    where
        K: Clone
            + Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + DeserializeOwned
            + Serialize
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let events = self.readiness.track(watcher(guarded(api), config).default_backoff());
        valid_only(events, None, None).touched_objects()
    }

    /// A watch kept in a store (for lookups) whose changes also trigger reconciles (through a
    /// mapper), counted for readiness. Each object is decoded on its own; one that cannot be read
    /// is left out of the store (its own controller reports it).
    pub fn reflect<K>(&self, api: Api<K>) -> (Store<K>, impl Stream<Item = Result<K, watcher::Error>> + Send + use<K>)
    where
        K: Clone
            + Resource<DynamicType = (), Scope = NamespaceResourceScope>
            + DeserializeOwned
            + Serialize
            + Debug
            + Send
            + Sync
            + 'static,
    {
        let writer = reflector::store::Writer::<K>::default();
        let reader = writer.as_reader();
        let events = watcher(guarded(api), watcher::Config::default().any_semantic()).default_backoff();
        let objects = valid_only(self.readiness.track(events), Some(reader.clone()), None)
            .reflect(writer)
            .touched_objects();
        (reader, objects)
    }

    /// Runs `controller` until `stop` is cancelled: each object reconciled at most once at a time;
    /// when this process becomes leader every object is reconciled again (followers skipped them).
    /// On `stop` it takes no new work and waits for the reconciles in flight.
    ///
    /// Reconciles run at most [`MAX_CONCURRENT_RECONCILES`] at once in this controller (kube's
    /// own limit) and in the whole process (a semaphore all controllers share).
    pub fn drive<K, R, F, E, C, P>(
        &self,
        controller: Controller<K>,
        reconcile: R,
        error_policy: P,
        ctx: Arc<C>,
        stop: CancellationToken,
    ) -> impl Future<Output = ()> + Send + use<K, R, F, E, C, P>
    where
        K: Clone + Resource + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Eq + Hash + Clone + Debug + Unpin,
        R: FnMut(Arc<K>, Arc<C>) -> F + Send + 'static,
        F: TryFuture<Ok = Action, Error = E> + Send + 'static,
        E: std::error::Error + Send + 'static,
        C: Send + Sync + 'static,
        P: Fn(Arc<K>, &E, Arc<C>) -> Action + Send + Sync + 'static,
    {
        let reconcile = limited(self.reconciles.clone(), reconcile);
        let controller = controller
            .with_config(kube::runtime::controller::Config::default().concurrency(MAX_CONCURRENT_RECONCILES as u16));
        let controller = match self.shared.gate.leadership() {
            Some(leadership) => controller.reconcile_all_on(leadership.clone().gains()),
            None => controller,
        };
        let store = controller.store();
        let running = controller
            .graceful_shutdown_on(stop.clone().cancelled_owned())
            .run(reconcile, error_policy, ctx)
            .for_each(|result| async move {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "controller event");
                }
            });
        async move {
            tokio::select! {
                () = running => {}
                // kube's runner takes no work before the first list and does not end before it
                // either: with the API server unreachable since start, nothing can be in flight, so
                // a stop ends it at once instead of hanging until the kubelet kills the pod.
                () = async {
                    stop.cancelled().await;
                    if store.wait_until_ready().now_or_never().is_some() {
                        std::future::pending::<()>().await;
                    }
                } => tracing::info!("stopped before the first list of its objects"),
            }
        }
    }
}

/// `reconcile`, each run holding one of `permits` (never closed, so a permit always comes). The
/// reconcile's future does nothing until polled, so it is made before the permit is held.
fn limited<K, C, R, F, E>(
    permits: Arc<tokio::sync::Semaphore>,
    mut reconcile: R,
) -> impl FnMut(Arc<K>, Arc<C>) -> futures::future::BoxFuture<'static, Result<Action, E>> + Send + 'static
where
    R: FnMut(Arc<K>, Arc<C>) -> F + Send + 'static,
    F: TryFuture<Ok = Action, Error = E> + Send + 'static,
    E: Send + 'static,
{
    move |object, ctx| {
        let run = TryFutureExt::into_future(reconcile(object, ctx));
        let permits = permits.clone();
        Box::pin(async move {
            let _permit = permits.acquire_owned().await;
            run.await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn reconciles_beyond_the_permits_wait_their_turn() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (r, m) = (running.clone(), most.clone());
        let mut reconcile = limited(
            Arc::new(tokio::sync::Semaphore::new(2)),
            move |_: Arc<()>, _: Arc<()>| {
                let (r, m) = (r.clone(), m.clone());
                async move {
                    let now = r.fetch_add(1, Ordering::SeqCst) + 1;
                    m.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    r.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, std::io::Error>(Action::await_change())
                }
            },
        );
        let started = tokio::time::Instant::now();
        let runs: Vec<_> = (0..5).map(|_| reconcile(Arc::new(()), Arc::new(()))).collect();
        for result in futures::future::join_all(runs).await {
            assert!(result.is_ok());
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "at most two at once");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(3),
            "five one-second runs, two at a time"
        );
        assert_eq!(running.load(Ordering::SeqCst), 0);
    }
}
