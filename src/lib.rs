//! drover: cross-site disaster recovery for SQL Server-backed application stacks.
//!
//! - [`sql`]: everything drover says to SQL Server — quoting, typed commands,
//!   the observation batch and its parsing, connections over tiberius.
//! - [`sim`]: the simulated SQL Server world that tests, demos and drills run against.

pub mod sim;
pub mod sql;
