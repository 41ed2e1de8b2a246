//! The runbook-B world the pool scenarios (and the pool's chaos runs) play in, and what its hook
//! Jobs do to the simulated pool. Each test crate compiles this module on its own.
#![allow(dead_code)]

use drover::sim::Sim;
use drover::sim::model::config::{ChatPoolState, ShareConfig, WorldConfig};
use k8s_openapi::api::batch::v1::Job;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
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

/// The hook Jobs' effect: what each cmdlet does to the simulated pool, read from the Job's
/// `DROVER_*` variables exactly as a script in the Job would. `failures` makes the next N runs
/// of a step fail.
pub fn runner(sim: Arc<Sim>, failures: Arc<Mutex<BTreeMap<String, u32>>>) -> drover::controller::memory::JobRunner {
    Arc::new(move |job: &Job| {
        let env: BTreeMap<String, String> = job
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|p| p.containers.first())
            .and_then(|c| c.env.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.name, e.value.unwrap_or_default()))
            .collect();
        let var = |k: &str| env.get(k).cloned().unwrap_or_default();
        let step = job
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("drover.dev/action"))
            .cloned()
            .unwrap_or_default();
        {
            let mut f = failures.lock().unwrap();
            if let Some(left) = f.get_mut(&step)
                && *left > 0
            {
                *left -= 1;
                return Err(format!(
                    "Set-CsPersistentChatState : Cannot connect to the pool ({step})"
                ));
            }
        }
        let pool = "pchat";
        sim.with_world(|w, now| match var("DROVER_ACTION").as_str() {
            "set-pool-state" => {
                let state = match var("DROVER_POOL_STATE").as_str() {
                    "Normal" => ChatPoolState::Normal,
                    "FailedOver" => ChatPoolState::FailedOver,
                    other => return Err(format!("unknown pool state {other:?}")),
                };
                w.chat_set_state(now, pool, state)
            }
            "set-active-servers" => {
                let servers = var("DROVER_ACTIVE_SERVERS");
                let list = servers.split(',').filter(|s| !s.is_empty()).map(String::from).collect();
                w.chat_set_active_servers(now, pool, list)
            }
            "install-mirror" => {
                let dbs: Vec<String> = var("DROVER_DATABASES").split(',').map(String::from).collect();
                w.install_mirror(now, &var("DROVER_SQL_SERVER"), &var("DROVER_MIRROR_SERVER"), &dbs)
            }
            "establish-log-shipping" => w.establish_log_shipping(
                now,
                &var("DROVER_DATABASE"),
                &var("DROVER_PRIMARY_SERVER"),
                &var("DROVER_SECONDARY_SERVER"),
                &var("DROVER_BACKUP_SHARE"),
                &var("DROVER_COPY_DESTINATION"),
            ),
            other => Err(format!("unknown hook action {other:?}")),
        })
    })
}
