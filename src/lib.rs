//! drover: cross-site disaster recovery for SQL Server-backed application stacks.
//!
//! - [`sql`]: everything drover says to SQL Server — quoting, typed commands,
//!   the observation batch and its parsing, connections over tiberius.
//! - [`api`]: the custom resources and their CRDs.
//! - [`plan`]: the pure planners — spec + observation + journal → the next step.
//! - [`controller`]: the thin shell that observes, executes and writes status.
//! - [`dryrun`]: `drover plan` — read the user's YAML, observe read-only, print the next step.
//! - [`sim`]: the simulated SQL Server world that tests, demos and drills run against.
//! - [`demo`]: `drover demo`, the example played end to end against the simulator.

#![forbid(unsafe_code)]

pub mod api;
pub mod components;
pub mod controller;
pub mod demo;
pub mod drill;
pub mod dryrun;
pub mod plan;
pub mod runtime;
pub mod sim;
pub mod sql;
mod sync;
