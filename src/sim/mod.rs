//! The simulator: SQL Server replicas that speak TDS on loopback, backed by one
//! model of the world (roles, logs, replication, outages, a workload).

pub mod parse;
pub mod table;
pub mod tds;
