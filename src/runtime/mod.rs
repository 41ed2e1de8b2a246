//! The operator process around the controllers: leader election, the gate
//! every controller asks before acting, and what the process shares.
//!
//! - [`lease`]: leader election on a coordination.k8s.io Lease.
//! - [`gate`]: "may this process start a step now?" (leader and not stopping).
//! - [`metrics`]: the Prometheus registry the controllers record into.
//! - [`http`]: `/metrics`, `/healthz` and `/readyz`.
//! - [`telemetry`]: logs (text or JSON) and their filter.

pub mod gate;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod telemetry;

pub use gate::Gate;
pub use lease::{Leadership, LeaseConfig};
pub use metrics::Metrics;
use std::sync::Arc;

/// What every controller of one process shares.
#[derive(Clone, Debug, Default)]
pub struct Shared {
    pub gate: Gate,
    pub metrics: Arc<Metrics>,
}
