//! The simulated twin of a user's AvailabilityGroup: one simulated SQL Server instance per
//! declared replica (same server names, sites, databases and availability modes, the replica at
//! `spec.primarySite` primary), each listening on a free loopback port.

use crate::api::availability_group::{AvailabilityGroup, AvailabilityMode, ClusterType};
use crate::api::persistent_chat_pool::PersistentChatPool;
use crate::sim::model::config::{
    AgConfig, AvailabilityMode as SimMode, ClusterType as SimCluster, InstanceConfig, ReplicaConfig, WorldConfig,
};

/// The simulated world of a DrSite's children: every group's replicas (an instance serving
/// several groups once), and the pool's instances, share, log shipping and mirroring. Bad input:
/// one server name declared at two sites.
pub fn world_config_all(
    groups: &[AvailabilityGroup],
    pool: Option<&PersistentChatPool>,
) -> Result<WorldConfig, String> {
    let mut cfg = match groups.split_first() {
        Some((first, _)) => world_config(first),
        None => crate::demo::world::fast(WorldConfig {
            availability_groups: Vec::new(),
            ..WorldConfig::two_sites()
        }),
    };
    if groups.is_empty() {
        cfg.instances.clear();
    }
    for g in groups.iter().skip(1) {
        let other = world_config(g);
        add_instances(&mut cfg, other.instances)?;
        cfg.availability_groups.extend(other.availability_groups);
    }
    if let Some(p) = pool {
        let other = crate::drill::pool::twin::world_config(p);
        add_instances(&mut cfg, other.instances)?;
        cfg.databases.extend(other.databases);
        cfg.shares.extend(other.shares);
        cfg.log_shipping.extend(other.log_shipping);
        cfg.mirroring.extend(other.mirroring);
        cfg.chat_pools.extend(other.chat_pools);
        cfg.latencies.restore = other.latencies.restore;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// `more` added to `cfg`'s instances; a name already there must be at the same site.
fn add_instances(cfg: &mut WorldConfig, more: Vec<InstanceConfig>) -> Result<(), String> {
    for i in more {
        match cfg.instances.iter().find(|x| x.name.eq_ignore_ascii_case(&i.name)) {
            Some(x) if x.site == i.site => {}
            Some(x) => {
                return Err(format!(
                    "server {} is declared at site {} and at site {}",
                    i.name, x.site, i.site
                ));
            }
            None => cfg.instances.push(i),
        }
    }
    Ok(())
}

/// The simulated world for `group`, with the demo's short latencies.
pub fn world_config(group: &AvailabilityGroup) -> WorldConfig {
    let spec = &group.spec;
    // Left out, the declared group starts where its first replica is.
    let primary = match spec.primary_site.as_deref() {
        Some(site) => spec.replicas.iter().position(|r| r.site == site),
        None => Some(0),
    };
    let mut cfg = WorldConfig::two_sites();
    cfg.instances = spec
        .replicas
        .iter()
        .map(|r| InstanceConfig {
            name: r.server_name.clone(),
            site: r.site.clone(),
            port: 0,
        })
        .collect();
    cfg.availability_groups = vec![AgConfig {
        name: spec.group_name.clone(),
        cluster_type: match spec.cluster_type {
            ClusterType::Wsfc => SimCluster::Wsfc,
            ClusterType::None => SimCluster::None,
            ClusterType::External => SimCluster::External,
        },
        databases: spec.databases.clone(),
        replicas: spec
            .replicas
            .iter()
            .enumerate()
            .map(|(i, r)| ReplicaConfig {
                instance: r.server_name.clone(),
                availability_mode: match r.availability_mode {
                    AvailabilityMode::SynchronousCommit => SimMode::SynchronousCommit,
                    AvailabilityMode::AsynchronousCommit => SimMode::AsynchronousCommit,
                },
                primary: Some(i) == primary,
            })
            .collect(),
    }];
    crate::demo::world::fast(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_instance_per_declared_replica_the_primary_at_the_primary_site() {
        let group = crate::demo::world::example_declared_group().expect("the example");
        let cfg = world_config(&group);
        let names: Vec<(&str, &str)> = cfg
            .instances
            .iter()
            .map(|i| (i.name.as_str(), i.site.as_str()))
            .collect();
        assert_eq!(names, [("SQLNODE1", "site-a"), ("SQLNODE2", "site-b")]);
        let ag = &cfg.availability_groups[0];
        assert_eq!(ag.name, "cc_ag");
        assert_eq!(ag.databases, ["confdb", "logdb"]);
        assert_eq!(ag.replicas.iter().map(|r| r.primary).collect::<Vec<_>>(), [true, false]);
        assert!(
            ag.replicas
                .iter()
                .all(|r| r.availability_mode == SimMode::AsynchronousCommit)
        );
    }
}
