//! The simulated twin of a user's PersistentChatPool: one simulated SQL Server instance per
//! declared instance (the SQL instance and the mirror of each data center, under their declared
//! server names and sites), the log-shipping share on a file server of its own at the primary
//! data center (so it goes away with that data center, as the example's comments say of theirs),
//! the chat database log-shipped to the backup instance and mirrored inside the primary data
//! center, and the pool served from the primary with its declared active servers.

use crate::api::availability_group::{Encryption, EndpointSpec, TlsSpec};
use crate::api::persistent_chat_pool::{PersistentChatPool, SqlInstance};
use crate::sim::Sim;
use crate::sim::model::config::{
    ChatPoolConfig, ChatPoolState, DatabaseConfig, DatabaseStateConfig, InstanceConfig, LogShippingConfig,
    MirroringConfig, ShareConfig, WorldConfig,
};
use std::time::Duration;

/// The UNC host of `share` (`\\host\share\…` → `host`), if it is a UNC path.
fn unc_host(share: &str) -> Option<&str> {
    share.strip_prefix(r"\\")?.split('\\').next().filter(|h| !h.is_empty())
}

/// The simulator's instance that serves the backup share: the primary SQL instance when the share
/// is on it (`\\SQL-CHAT-A\…`, or its first DNS label), else a file server named after the UNC
/// host.
fn share_host(pool: &PersistentChatPool) -> String {
    let spec = &pool.spec;
    let host = unc_host(&spec.log_shipping.backup_share).unwrap_or("fileserver");
    let label = host.split('.').next().unwrap_or(host);
    let primary = &spec.primary.sql_instance.server_name;
    if primary.eq_ignore_ascii_case(host) || primary.eq_ignore_ascii_case(label) {
        primary.clone()
    } else {
        host.to_string()
    }
}

/// The simulated world for `pool`, with the demo's short latencies and log shipping every second
/// (copied every 2 s, restored once 3 s old), so a failover finds backups not yet applied.
pub fn world_config(pool: &PersistentChatPool) -> WorldConfig {
    let spec = &pool.spec;
    let (p, b) = (&spec.primary, &spec.backup);
    let (chat, comp) = (&spec.chat_database, &spec.compliance_database);
    let instance = |name: &str, site: &str| InstanceConfig {
        name: name.into(),
        site: site.into(),
        port: 0,
    };
    let mut instances = vec![instance(&p.sql_instance.server_name, &p.site)];
    instances.extend(p.mirror_instance.iter().map(|m| instance(&m.server_name, &p.site)));
    instances.push(instance(&b.sql_instance.server_name, &b.site));
    instances.extend(b.mirror_instance.iter().map(|m| instance(&m.server_name, &b.site)));
    let host = share_host(pool);
    if !instances.iter().any(|i| i.name == host) {
        instances.push(instance(&host, &p.site));
    }
    let database = |instance: &str, name: &str, state| DatabaseConfig {
        instance: instance.into(),
        name: name.into(),
        state,
    };
    let mut cfg = WorldConfig::persistent_chat();
    cfg.instances = instances;
    cfg.databases = vec![
        database(&p.sql_instance.server_name, chat, DatabaseStateConfig::Online),
        database(&p.sql_instance.server_name, comp, DatabaseStateConfig::Online),
        database(&b.sql_instance.server_name, chat, DatabaseStateConfig::Restoring),
        database(&b.sql_instance.server_name, comp, DatabaseStateConfig::Online),
    ];
    cfg.shares = vec![ShareConfig {
        path: spec.log_shipping.backup_share.clone(),
        host,
    }];
    cfg.log_shipping = vec![LogShippingConfig {
        database: chat.clone(),
        primary: p.sql_instance.server_name.clone(),
        secondary: b.sql_instance.server_name.clone(),
        backup_share: spec.log_shipping.backup_share.clone(),
        copy_destination: spec.log_shipping.copy_destination.clone(),
        backup_interval: Duration::from_secs(1),
        copy_interval: Duration::from_secs(2),
        restore_interval: Duration::from_secs(1),
        restore_delay: Duration::from_secs(3),
    }];
    cfg.mirroring = p
        .mirror_instance
        .iter()
        .flat_map(|m| {
            [chat, comp].map(|db| MirroringConfig {
                database: db.clone(),
                principal: p.sql_instance.server_name.clone(),
                mirror: m.server_name.clone(),
            })
        })
        .collect();
    cfg.chat_pools = vec![ChatPoolConfig {
        name: pool_name(pool),
        database: chat.clone(),
        compliance_database: comp.clone(),
        primary: p.sql_instance.server_name.clone(),
        backup: b.sql_instance.server_name.clone(),
        state: ChatPoolState::Normal,
        active_servers: p.active_servers.clone(),
    }];
    let mut cfg = crate::demo::world::fast(cfg);
    cfg.latencies.restore = Duration::from_millis(50);
    cfg.workload.commits_per_second = 50;
    cfg
}

/// The simulator's name of the pool: the resource's name.
pub fn pool_name(pool: &PersistentChatPool) -> String {
    pool.metadata.name.clone().unwrap_or_default()
}

/// `declared` pointed at the twin: every instance at its simulated endpoint, TLS off (the
/// simulator does not speak it). Everything else (names, sites, active servers, the share, the
/// forced-failover policy, the hook templates) stays as declared.
pub fn twin_pool(sim: &Sim, declared: &PersistentChatPool) -> Result<PersistentChatPool, String> {
    let mut pool = declared.clone();
    let at = |i: &mut SqlInstance| -> Result<(), String> {
        let addr = sim
            .addr(&i.server_name)
            .ok_or_else(|| format!("the twin has no instance {}", i.server_name))?;
        i.endpoint = EndpointSpec {
            host: addr.ip().to_string(),
            port: addr.port(),
        };
        Ok(())
    };
    for dc in [&mut pool.spec.primary, &mut pool.spec.backup] {
        at(&mut dc.sql_instance)?;
        if let Some(m) = dc.mirror_instance.as_mut() {
            at(m)?;
        }
    }
    pool.spec.tls = TlsSpec {
        encryption: Encryption::Off,
        ..TlsSpec::default()
    };
    pool.status = None;
    pool.metadata.generation = Some(1);
    Ok(pool)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> PersistentChatPool {
        let text = include_str!("../../../examples/persistent-chat.yaml");
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).expect("parses");
        let doc = docs
            .into_iter()
            .find(|d| d["kind"] == "PersistentChatPool")
            .expect("a pool");
        serde_json::from_value(doc).expect("a PersistentChatPool")
    }

    #[test]
    fn one_instance_per_declared_instance_and_the_share_on_a_file_server_at_the_primary() {
        let cfg = world_config(&example());
        let names: Vec<(&str, &str)> = cfg
            .instances
            .iter()
            .map(|i| (i.name.as_str(), i.site.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("SQL-CHAT-A", "dc1"),
                ("SQL-CHAT-A-MIR", "dc1"),
                ("SQL-CHAT-B", "dc2"),
                ("SQL-CHAT-B-MIR", "dc2"),
                ("fs-dc1.contoso.com", "dc1"),
            ]
        );
        assert_eq!(cfg.shares[0].path, r"\\fs-dc1.contoso.com\pchat-logship");
        assert_eq!(cfg.log_shipping[0].copy_destination, r"D:\PChatLogShip");
        assert_eq!(
            cfg.chat_pools[0].active_servers,
            ["pchat-a1.contoso.com", "pchat-a2.contoso.com"]
        );
        assert_eq!(cfg.mirroring.len(), 2, "mgc and mgccomp mirrored inside dc1");
        cfg.validate().expect("a world the simulator accepts");
    }

    #[test]
    fn a_share_on_the_primary_instance_is_served_by_it() {
        let mut pool = example();
        pool.spec.log_shipping.backup_share = r"\\sql-chat-a.contoso.com\logship".into();
        assert_eq!(share_host(&pool), "SQL-CHAT-A");
        pool.spec.log_shipping.backup_share = r"\\SQL-CHAT-A\logship".into();
        assert_eq!(share_host(&pool), "SQL-CHAT-A");
        assert_eq!(unc_host("D:\\x"), None);
    }
}
