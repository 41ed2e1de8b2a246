//! The simulated twin of a user's AvailabilityGroup: one simulated SQL Server instance per
//! declared replica (same server names, sites, databases and availability modes, the replica at
//! `spec.primarySite` primary), each listening on a free loopback port.

use crate::api::availability_group::{AvailabilityGroup, AvailabilityMode, ClusterType};
use crate::sim::model::config::{
    AgConfig, AvailabilityMode as SimMode, ClusterType as SimCluster, InstanceConfig, ReplicaConfig, WorldConfig,
};

/// The simulated world for `group`, with the demo's short latencies.
pub fn world_config(group: &AvailabilityGroup) -> WorldConfig {
    let spec = &group.spec;
    let primary = spec.replicas.iter().position(|r| r.site == spec.primary_site);
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
