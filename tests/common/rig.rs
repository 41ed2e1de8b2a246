//! Settings shared by the scenario tests that run the controllers against the
//! TDS simulator.

use drover::sim::model::config::WorldConfig;
use std::time::Duration;

/// Two sites with short simulated latencies and a steady committing workload.
pub fn world() -> WorldConfig {
    let mut cfg = WorldConfig::two_sites();
    cfg.latencies.replication = Duration::from_millis(20);
    cfg.latencies.failover = Duration::from_millis(150);
    cfg.latencies.revert = Duration::from_millis(300);
    cfg.latencies.restart = Duration::from_millis(100);
    cfg.latencies.backup = Duration::from_millis(50);
    cfg.workload.commits_per_second = 100;
    cfg
}
