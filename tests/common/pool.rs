//! The runbook-B world the pool scenarios (and the pool's chaos runs) play in, and what its hook
//! Jobs do to the simulated pool. Each test crate compiles this module on its own.
#![allow(dead_code)]

use drover::sim::Sim;
use drover::sim::hooks::{HookFailures, run_chat_hook};
use drover::sim::model::config::{ShareConfig, WorldConfig};
use k8s_openapi::api::batch::v1::Job;
use std::sync::Arc;
use std::time::Duration;

/// The runbook-B world with a backlog: log backups every second, copied every 4 s and restored
/// once 5 s old, so a failover finds uncopied and unapplied backups. The share is on a
/// file server of its own at site-a (`FS-A`), so an instance can be lost without its share.
pub fn world() -> WorldConfig {
    let mut cfg = WorldConfig::persistent_chat();
    cfg.instances.push(drover::sim::model::config::InstanceConfig {
        name: "FS-A".into(),
        site: "site-a".into(),
        port: 0,
    });
    cfg.shares = vec![ShareConfig {
        path: r"\\fs-a\pchat-logship".into(),
        host: "FS-A".into(),
    }];
    for ls in &mut cfg.log_shipping {
        ls.backup_share = r"\\fs-a\pchat-logship".into();
        ls.backup_interval = Duration::from_secs(1);
        ls.copy_interval = Duration::from_secs(4);
        ls.restore_interval = Duration::from_secs(1);
        ls.restore_delay = Duration::from_secs(5);
    }
    cfg.latencies.replication = Duration::from_millis(20);
    cfg.latencies.restore = Duration::from_millis(50);
    cfg.latencies.backup = Duration::from_millis(50);
    cfg.latencies.restart = Duration::from_millis(100);
    cfg.workload.commits_per_second = 50;
    cfg
}

/// The hook Jobs' effect: what each cmdlet does to the simulated pool (`drover::sim::hooks`).
/// `failures` makes the next N runs of a step fail.
pub fn runner(sim: Arc<Sim>, failures: HookFailures) -> drover::controller::memory::JobRunner {
    Arc::new(move |job: &Job| run_chat_hook(&sim, "pchat", &failures, job))
}
