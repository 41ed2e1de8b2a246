//! The `AvailabilityGroup` spec that manages a running simulator's group, as a
//! user would write it: replicas at their sites and TDS addresses, databases,
//! cluster type and steady-state modes as the world is configured, TLS off
//! (the simulator does not speak it).

use super::Sim;
use super::model::config::{AvailabilityMode as SimMode, ClusterType as SimCluster};
use crate::api::availability_group::{
    AvailabilityGroupSpec, AvailabilityMode, ClusterType, CredentialsRef, Encryption, EndpointSpec,
    ForcedFailoverPolicy, ReplicaSpec, TlsSpec,
};

/// The spec for AG `group` with its desired primary at `primary_site` and the login in Secret `secret`.
pub fn availability_group_spec(
    sim: &Sim,
    group: &str,
    primary_site: &str,
    secret: &str,
) -> Option<AvailabilityGroupSpec> {
    let (config, sites) = sim.with_world(|w, _| {
        let sites: Vec<(String, String)> = w.instances().into_iter().map(|(n, s, _)| (n, s)).collect();
        (
            w.config().availability_groups.iter().find(|a| a.name == group).cloned(),
            sites,
        )
    });
    let config = config?;
    let replicas = config
        .replicas
        .iter()
        .map(|r| {
            let addr = sim.addr(&r.instance)?;
            let site = sites.iter().find(|(n, _)| *n == r.instance)?.1.clone();
            Some(ReplicaSpec {
                server_name: r.instance.clone(),
                site,
                endpoint: EndpointSpec {
                    host: addr.ip().to_string(),
                    port: addr.port(),
                },
                availability_mode: match r.availability_mode {
                    SimMode::SynchronousCommit => AvailabilityMode::SynchronousCommit,
                    SimMode::AsynchronousCommit => AvailabilityMode::AsynchronousCommit,
                },
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(AvailabilityGroupSpec {
        group_name: config.name.clone(),
        cluster_type: match config.cluster_type {
            SimCluster::Wsfc => ClusterType::Wsfc,
            SimCluster::None => ClusterType::None,
            SimCluster::External => ClusterType::External,
        },
        databases: config.databases.clone(),
        replicas,
        credentials: CredentialsRef {
            secret_name: secret.into(),
            username_key: "username".into(),
            password_key: "password".into(),
        },
        tls: TlsSpec {
            encryption: Encryption::Off,
            ..TlsSpec::default()
        },
        primary_site: primary_site.into(),
        forced_failover: ForcedFailoverPolicy::default(),
        auto_resume: false,
        backup_before_failback: None,
    })
}
