//! `drover run`: every controller in one process, per watched namespace,
//! behind one gate; leader election; graceful shutdown.
//!
//! Shutdown order: the gate closes (no step starts), the controllers stop
//! taking work and wait for the reconciles in flight (a statement in flight
//! finishes or meets its SQL timeout), then the lease is handed back so a
//! follower takes over at its next look.

use super::lease::{self, LeaseConfig};
use super::{Gate, Readiness, Shared, Wiring};
use crate::controller::{Config, ag, drsite, pchat};
use futures::future::join_all;
use kube::Client;
use std::future::Future;
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
}

/// The running operator's handles, for the HTTP endpoints and tests.
#[derive(Clone, Debug)]
pub struct Handles {
    pub shared: Shared,
    pub readiness: Readiness,
}

/// Runs every controller until `shutdown` completes, then stops as described above. `started`
/// receives the handles once everything is set up.
pub async fn run(
    client: Client,
    options: Options,
    started: impl FnOnce(Handles),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
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
    let shared = Shared { gate };
    let wiring = Wiring {
        client,
        config: options.config,
        instance: options.instance,
        shared: shared.clone(),
        readiness: Readiness::default(),
    };
    let namespaces: Vec<Option<&str>> = if options.namespaces.is_empty() {
        vec![None]
    } else {
        options.namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    // Every watch is set up (and counted for readiness) before anything runs.
    let mut controllers = Vec::new();
    for namespace in namespaces {
        controllers.push(tokio::spawn(ag::run::run(
            &wiring,
            namespace,
            stop.clone().cancelled_owned(),
        )));
        controllers.push(tokio::spawn(drsite::run::run(
            &wiring,
            namespace,
            stop.clone().cancelled_owned(),
        )));
        controllers.push(tokio::spawn(pchat::run::run(
            &wiring,
            namespace,
            stop.clone().cancelled_owned(),
        )));
    }
    started(Handles {
        shared,
        readiness: wiring.readiness.clone(),
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
    tracing::info!("stopped");
    Ok(())
}
