//! The simulator: SQL Server replicas that speak TDS on loopback, backed by one
//! model of the world (roles, logs, replication, outages, a workload).
//!
//! - [`model`]: the truth — pure state advanced by simulated time.
//! - [`parse`]: the strict T-SQL parser; [`engine`]: runs batches on the model.
//! - [`tds`]: the wire protocol; [`runtime`]: endpoints, workload, faults.

pub mod clock;
pub mod control;
pub mod engine;
pub mod hooks;
pub mod model;
pub mod parse;
pub mod runtime;
pub mod spec;
pub mod table;
pub mod tds;

pub use runtime::Sim;

pub(crate) use crate::sync::lock;
