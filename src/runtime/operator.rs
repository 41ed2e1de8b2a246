//! `drover run`: every controller in one process, per watched namespace,
//! behind one gate; leader election; graceful shutdown.
//!
//! Shutdown order: the gate closes (no step starts), the controllers stop
//! taking work and wait for the reconciles in flight (a statement in flight
//! finishes or meets its SQL timeout), then the lease is handed back so a
//! follower takes over at its next look.

use super::http::{self, Health};
use super::lease::{self, Leadership, LeaseConfig};
use super::metrics::Metrics;
use super::{Gate, Readiness, Shared, Wiring};
use crate::controller::{Config, ag, drsite, pchat};
use futures::future::join_all;
use kube::Client;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How `drover run` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The namespaces to watch; empty: all namespaces.
    pub namespaces: Vec<String>,
    /// `None`: no leader election (one replica only).
    pub lease: Option<LeaseConfig>,
    pub config: Config,
    /// This process's name in Events (the pod name).
    pub instance: Option<String>,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` (`None`: nowhere).
    pub metrics_addr: Option<SocketAddr>,
}

/// The running operator's handles, for the HTTP endpoints and tests.
#[derive(Clone, Debug)]
pub struct Handles {
    pub shared: Shared,
    pub readiness: Readiness,
    /// The address `/metrics` is served on, once bound.
    pub metrics_addr: Option<SocketAddr>,
}

/// Runs every controller until `shutdown` completes, then stops as described above. `started`
/// receives the handles once everything is set up.
pub async fn run(
    client: Client,
    options: Options,
    started: impl FnOnce(Handles),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    // Bound first, so a taken port is an error at start, not a silent absence of metrics.
    let listener = match options.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot serve metrics on {addr}: {e}"))?,
        ),
        None => None,
    };
    let stop = CancellationToken::new();
    let release = CancellationToken::new();
    let mut elector_task = None;
    let gate = match options.lease {
        Some(lease_config) => {
            lease_config.check()?;
            let (elector, leadership) = lease::elector(client.clone(), lease_config);
            elector_task = Some(tokio::spawn(elector.run(release.clone().cancelled_owned())));
            Gate::elected(leadership, stop.clone())
        }
        None => Gate::unelected(stop.clone()),
    };
    let metrics = Arc::new(Metrics::new());
    match gate.leadership() {
        Some(leadership) => {
            tokio::spawn(follow_leadership(leadership.clone(), metrics.clone()));
        }
        None => metrics.set_leader(true),
    }
    let shared = Shared { gate, metrics };
    let wiring = Wiring {
        client,
        config: options.config,
        instance: options.instance,
        shared: shared.clone(),
        readiness: Readiness::default(),
        reconciles: super::wiring::reconcile_permits(),
    };
    let (controllers, ended) = spawn_controllers(&wiring, &options.namespaces, &stop);
    let serving = CancellationToken::new();
    let metrics_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
    let server = listener.map(|listener| {
        let (readiness, stopping) = (wiring.readiness.clone(), stop.clone());
        let health = Health::new(
            move || ended.load(Ordering::Acquire) == 0 || stopping.is_cancelled(),
            move || readiness.is_ready(),
        );
        tokio::spawn(http::serve(
            listener,
            shared.metrics.clone(),
            health,
            serving.clone().cancelled_owned(),
        ))
    });
    started(Handles {
        shared,
        readiness: wiring.readiness.clone(),
        metrics_addr,
    });
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new step starts; waiting for the reconciles in flight");
        trigger.cancel();
    });
    for result in join_all(controllers).await {
        if let Err(e) = result {
            tracing::error!(error = %e, "a controller task ended abnormally");
        }
    }
    release.cancel();
    if let Some(task) = elector_task {
        let _ = task.await;
    }
    serving.cancel();
    if let Some(server) = server
        && let Ok(Err(e)) = server.await
    {
        tracing::warn!(error = %e, "the metrics server failed");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The three controllers for each namespace (one set for all namespaces when none is given), each
/// on its own task; the count of those that ended. Every watch is set up (and counted for
/// readiness) before this returns. A controller that ends before shutdown was asked for makes the
/// process not alive, so that it is restarted.
fn spawn_controllers(
    wiring: &Wiring,
    namespaces: &[String],
    stop: &CancellationToken,
) -> (Vec<JoinHandle<()>>, Arc<AtomicUsize>) {
    let namespaces: Vec<Option<&str>> = if namespaces.is_empty() {
        vec![None]
    } else {
        namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    let ended = Arc::new(AtomicUsize::new(0));
    let mut controllers = Vec::new();
    for namespace in namespaces {
        let runs: [Pin<Box<dyn Future<Output = ()> + Send>>; 3] = [
            Box::pin(ag::run::run(wiring, namespace, stop.clone())),
            Box::pin(drsite::run::run(wiring, namespace, stop.clone())),
            Box::pin(pchat::run::run(wiring, namespace, stop.clone())),
        ];
        for run in runs {
            let ended = ended.clone();
            controllers.push(tokio::spawn(async move {
                run.await;
                ended.fetch_add(1, Ordering::AcqRel);
            }));
        }
    }
    (controllers, ended)
}

/// Keeps `drover_leader` in step with the lease.
async fn follow_leadership(mut leadership: Leadership, metrics: Arc<Metrics>) {
    loop {
        if !leadership.acquired().await {
            break;
        }
        metrics.set_leader(true);
        if !leadership.lost().await {
            break;
        }
        metrics.set_leader(false);
    }
    metrics.set_leader(false);
}
