//! The `AvailabilityGroup` (and `PersistentChatPool`) spec that manages a running simulator's group, as a
//! user would write it: replicas at their sites and TDS addresses, databases,
//! cluster type and steady-state modes as the world is configured, TLS off
//! (the simulator does not speak it).

use super::Sim;
use super::model::config::{AvailabilityMode as SimMode, ClusterType as SimCluster};
use crate::api::availability_group::{
    AvailabilityGroupSpec, AvailabilityMode, ClusterType, CredentialsRef, Encryption, EndpointSpec,
    ForcedFailoverPolicy, ReplicaSpec, TlsSpec,
};
use crate::api::persistent_chat_pool::{DataCenter, LogShippingSpec, PersistentChatPoolSpec, PoolHooks, SqlInstance};
use k8s_openapi::api::batch::v1::{JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

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
                fence_hook: None,
                force_quorum_hook: None,
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
        primary_site: Some(primary_site.into()),
        forced_failover: ForcedFailoverPolicy::default(),
        auto_resume: false,
        backup_before_failback: None,
        required_synchronized_secondaries: None,
    })
}

/// The PersistentChatPool spec for the simulator's chat pool `pool`, served now from its primary
/// instance's site, with hook Jobs that would run the cmdlets (in memory, a runner acts for them)
/// and the login in Secret `secret`. Mirror instances are those the world mirrors each data
/// center's chat database to, if any.
pub fn persistent_chat_pool_spec(sim: &Sim, pool: &str, secret: &str) -> Option<PersistentChatPoolSpec> {
    let (world, sites) = sim.with_world(|w, _| {
        let sites: Vec<(String, String)> = w.instances().into_iter().map(|(n, s, _)| (n, s)).collect();
        (w.config().clone(), sites)
    });
    let chat = world.chat_pools.iter().find(|p| p.name == pool)?;
    let ls = world
        .log_shipping
        .iter()
        .find(|l| l.database.eq_ignore_ascii_case(&chat.database))?;
    let site_of = |instance: &str| sites.iter().find(|(n, _)| n == instance).map(|(_, s)| s.clone());
    let instance = |name: &str| {
        let addr = sim.addr(name)?;
        Some(SqlInstance {
            server_name: name.to_string(),
            endpoint: EndpointSpec {
                host: addr.ip().to_string(),
                port: addr.port(),
            },
        })
    };
    let mirror_of = |principal: &str| {
        world
            .mirroring
            .iter()
            .find(|m| m.principal == principal && m.database.eq_ignore_ascii_case(&chat.database))
            .and_then(|m| instance(&m.mirror))
    };
    let data_center = |sql: &str, servers: Vec<String>| {
        Some(DataCenter {
            site: site_of(sql)?,
            sql_instance: instance(sql)?,
            mirror_instance: mirror_of(sql).or_else(|| {
                // A data center's mirror is the other instance at its site, when the world has one.
                let site = site_of(sql)?;
                let other = sites.iter().find(|(n, s)| *s == site && n != sql)?;
                instance(&other.0)
            }),
            mirror_file_share: None,
            active_servers: servers,
        })
    };
    let primary_site = site_of(&chat.primary)?;
    let backup_site = site_of(&chat.backup)?;
    let servers_at = |site: &str| vec![format!("chat-{site}-1.sim.local"), format!("chat-{site}-2.sim.local")];
    let hook = |what: &str| sim_hook_template(what);
    Some(PersistentChatPoolSpec {
        pool_identity: format!("PersistentChatServer:{pool}.sim.local"),
        active_site: Some(primary_site.clone()),
        chat_database: chat.database.clone(),
        compliance_database: chat.compliance_database.clone(),
        primary: data_center(&chat.primary, servers_at(&primary_site))?,
        backup: data_center(&chat.backup, servers_at(&backup_site))?,
        log_shipping: LogShippingSpec {
            backup_share: ls.backup_share.clone(),
            copy_destination: ls.copy_destination.clone(),
        },
        credentials: CredentialsRef {
            secret_name: secret.into(),
            username_key: "username".into(),
            password_key: "password".into(),
        },
        tls: TlsSpec {
            encryption: Encryption::Off,
            ..TlsSpec::default()
        },
        forced_failover: ForcedFailoverPolicy::default(),
        hooks: PoolHooks {
            set_pool_state: hook("set-pool-state"),
            set_active_servers: hook("set-active-servers"),
            install_mirror: hook("install-mirror"),
            establish_log_shipping: hook("establish-log-shipping"),
        },
        suspend: false,
    })
}

/// A minimal hook Job template: one container, never restarted.
fn sim_hook_template(what: &str) -> JobTemplateSpec {
    JobTemplateSpec {
        metadata: None,
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![Container {
                        name: "cmdlet".into(),
                        image: Some("mcr.microsoft.com/powershell:latest".into()),
                        command: Some(vec!["pwsh".into(), "-Command".into(), format!("drover-sim-{what}")]),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
    }
}
