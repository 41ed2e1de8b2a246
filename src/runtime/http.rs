//! The operator's HTTP endpoint: `/metrics` for Prometheus, `/healthz` for the
//! kubelet's liveness probe and `/readyz` for its readiness probe. What "alive"
//! and "ready" mean is the caller's (e.g. ready once the watches have synced),
//! so this module only asks.

use super::Metrics;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

/// The content type of the OpenMetrics text format, as Prometheus negotiates it.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A yes/no question the probes ask on every request.
pub type Check = Arc<dyn Fn() -> bool + Send + Sync>;

/// The answers behind `/healthz` and `/readyz`.
#[derive(Clone)]
pub struct Health {
    pub alive: Check,
    pub ready: Check,
}

impl Health {
    pub fn new(
        alive: impl Fn() -> bool + Send + Sync + 'static,
        ready: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            alive: Arc::new(alive),
            ready: Arc::new(ready),
        }
    }
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health")
            .field("alive", &(self.alive)())
            .field("ready", &(self.ready)())
            .finish()
    }
}

#[derive(Clone)]
struct Served {
    metrics: Arc<Metrics>,
    health: Health,
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    health: Health,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, health))
        .with_graceful_shutdown(shutdown)
        .await
}

fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(Served { metrics, health })
}

async fn scrape(State(served): State<Served>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS)], served.metrics.encode()).into_response()
}

async fn healthz(State(served): State<Served>) -> Response {
    probe((served.health.alive)(), "not alive")
}

async fn readyz(State(served): State<Served>) -> Response {
    probe((served.health.ready)(), "not ready")
}

fn probe(ok: bool, why_not: &'static str) -> Response {
    if ok {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("{why_not}\n")).into_response()
    }
}
