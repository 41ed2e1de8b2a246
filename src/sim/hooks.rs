//! What a PersistentChatPool's hook Jobs do to the simulated pool: each cmdlet's effect, read
//! from the Job's `DROVER_*` variables exactly as a script in the Job would read them. The
//! in-memory Kubernetes side ([`crate::controller::memory`]) runs a Job by calling this.

use super::Sim;
use super::model::config::ChatPoolState;
use k8s_openapi::api::batch::v1::Job;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Makes the next N runs of a hook step (its `drover.dev/action` label) fail, as a cmdlet that
/// cannot reach the pool would.
pub type HookFailures = Arc<Mutex<BTreeMap<String, u32>>>;

/// Runs a hook Job against the simulated pool `pool`: Ok once the cmdlet's effect is applied,
/// Err with what the cmdlet would have written to its log.
pub fn run_chat_hook(sim: &Sim, pool: &str, failures: &HookFailures, job: &Job) -> Result<(), String> {
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
        let mut f = crate::sync::lock(failures);
        if let Some(left) = f.get_mut(&step)
            && *left > 0
        {
            *left -= 1;
            return Err(format!(
                "Set-CsPersistentChatState : Cannot connect to the pool ({step})"
            ));
        }
    }
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
}
