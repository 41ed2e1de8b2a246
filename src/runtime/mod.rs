//! The operator process around the controllers: leader election, the gate
//! every controller asks before acting, and what the process shares.
//!
//! - [`client`]: the API client, with a deadline on every call.
//! - [`bounds`]: an overall deadline and a size cap on remote sites' API servers' answers.
//! - [`lease`]: leader election on a coordination.k8s.io Lease.
//! - [`gate`]: "may this process start a step now?" (leader and not stopping).
//! - [`ready`]: readiness, once every watch has listed once.
//! - [`operator`]: `drover run` — every controller, per namespace, and shutdown.
//! - [`wiring`]: what the controllers' kube-runtime wirings share.
//! - [`poison`]: each watched object decoded on its own; an unreadable one reported, not fatal.
//! - [`metrics`]: the Prometheus registry the controllers record into.
//! - [`http`]: `/metrics`, `/healthz` and `/readyz`.
//! - [`telemetry`]: logs (text or JSON) and their filter.

pub mod bounds;
pub mod client;
pub mod gate;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod operator;
pub mod poison;
pub mod ready;
pub mod telemetry;
pub mod wiring;

pub use gate::Gate;
pub use lease::{Leadership, LeaseConfig};
pub use metrics::Metrics;
pub use ready::Readiness;
use std::sync::Arc;
pub use wiring::Wiring;

/// What every controller of one process shares.
#[derive(Clone, Debug, Default)]
pub struct Shared {
    pub gate: Gate,
    pub metrics: Arc<Metrics>,
}
