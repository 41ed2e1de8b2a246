//! The simulated world's shape and timing, loadable from YAML (`drover sim --config`).

use serde::Deserialize;
use std::time::Duration;

mod pool;

pub use pool::{
    ChatPoolConfig, ChatPoolState, DatabaseConfig, DatabaseStateConfig, LogShippingConfig, MirroringConfig, ShareConfig,
};

/// A whole simulated world: SQL Server instances, the availability groups on
/// them, standalone databases with log shipping and mirroring, Persistent Chat
/// pools, latencies, the workload and the login every instance accepts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorldConfig {
    pub instances: Vec<InstanceConfig>,
    #[serde(default)]
    pub availability_groups: Vec<AgConfig>,
    /// Databases outside any availability group (log shipping, mirroring).
    #[serde(default)]
    pub databases: Vec<DatabaseConfig>,
    /// UNC file shares, for backups.
    #[serde(default)]
    pub shares: Vec<ShareConfig>,
    #[serde(default)]
    pub log_shipping: Vec<LogShippingConfig>,
    #[serde(default)]
    pub mirroring: Vec<MirroringConfig>,
    #[serde(default)]
    pub chat_pools: Vec<ChatPoolConfig>,
    /// The Windows Server Failover Cluster under the CLUSTER_TYPE = WSFC groups: its name,
    /// its witness, node names and votes. Default: no witness, every node one vote.
    #[serde(default)]
    pub wsfc: WsfcConfig,
    #[serde(default)]
    pub latencies: Latencies,
    #[serde(default)]
    pub workload: WorkloadConfig,
    #[serde(default)]
    pub login: LoginConfig,
    /// Seed for everything random in the world (workload jitter).
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_seed() -> u64 {
    1
}

/// One SQL Server instance (one TDS endpoint).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InstanceConfig {
    /// The server name (`@@SERVERNAME`, `replica_server_name`), e.g. `SQL-A`.
    pub name: String,
    /// The site (data center) it runs in; partitions cut links between sites.
    pub site: String,
    /// Loopback TCP port for its TDS endpoint; 0 picks a free one.
    #[serde(default)]
    pub port: u16,
}

/// The world's one WSFC cluster (its rules: `crate::sim::model` `wsfc.rs`). Its nodes are the
/// instances hosting a replica of a WSFC group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WsfcConfig {
    /// `sys.dm_hadr_cluster.cluster_name`. Default `SIM-WSFC`.
    pub cluster_name: String,
    /// The quorum witness, one vote. Default none: a node majority.
    pub witness: Option<WitnessConfig>,
    /// Node names and votes of particular instances (the others: the instance's name, 1 vote).
    pub nodes: Vec<NodeConfig>,
}

impl Default for WsfcConfig {
    fn default() -> Self {
        Self {
            cluster_name: "SIM-WSFC".into(),
            witness: None,
            nodes: Vec::new(),
        }
    }
}

/// Where the witness is. A site no instance uses is a third location: a partition between
/// the instances' sites leaves it reachable from both (it then sides with one).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WitnessConfig {
    pub site: String,
    /// Default FILE_SHARE_WITNESS.
    #[serde(default)]
    pub kind: WitnessKind,
}

impl WitnessConfig {
    /// A file share witness at `site`.
    pub fn file_share(site: &str) -> Self {
        Self {
            site: site.into(),
            kind: WitnessKind::FileShareWitness,
        }
    }
}

/// `member_type_desc` of the witness in `sys.dm_hadr_cluster_members`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WitnessKind {
    #[default]
    FileShareWitness,
    DiskWitness,
    CloudWitness,
}

impl WitnessKind {
    /// (`member_type`, `member_type_desc`).
    pub fn member_type(self) -> (u8, &'static str) {
        match self {
            WitnessKind::DiskWitness => (1, "DISK_WITNESS"),
            WitnessKind::FileShareWitness => (2, "FILE_SHARE_WITNESS"),
            WitnessKind::CloudWitness => (3, "CLOUD_WITNESS"),
        }
    }

    /// (`quorum_type`, `quorum_type_desc`) of a cluster with this witness.
    pub fn quorum_type(self) -> (u8, &'static str) {
        match self {
            WitnessKind::DiskWitness => (1, "NODE_AND_DISK_MAJORITY"),
            WitnessKind::FileShareWitness => (2, "NODE_AND_FILE_SHARE_MAJORITY"),
            WitnessKind::CloudWitness => (5, "CLOUD_WITNESS"),
        }
    }
}

/// One instance's WSFC node: its name and its vote.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeConfig {
    pub instance: String,
    /// The node name (`node_name`, `member_name`). Default: the instance's name.
    #[serde(default)]
    pub node: Option<String>,
    /// 0 or 1 (WSFC's NodeWeight). Default 1.
    #[serde(default)]
    pub votes: Option<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ClusterType {
    Wsfc,
    External,
    None,
}

impl ClusterType {
    /// `sys.availability_groups.cluster_type`.
    pub fn code(self) -> u8 {
        match self {
            ClusterType::Wsfc => 0,
            ClusterType::External => 1,
            ClusterType::None => 2,
        }
    }
    pub fn desc(self) -> &'static str {
        match self {
            ClusterType::Wsfc => "wsfc",
            ClusterType::External => "external",
            ClusterType::None => "none",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AvailabilityMode {
    SynchronousCommit,
    AsynchronousCommit,
}

impl AvailabilityMode {
    pub fn desc(self) -> &'static str {
        match self {
            AvailabilityMode::SynchronousCommit => "SYNCHRONOUS_COMMIT",
            AvailabilityMode::AsynchronousCommit => "ASYNCHRONOUS_COMMIT",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            AvailabilityMode::AsynchronousCommit => 0,
            AvailabilityMode::SynchronousCommit => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgConfig {
    pub name: String,
    #[serde(default = "default_cluster_type")]
    pub cluster_type: ClusterType,
    pub databases: Vec<String>,
    pub replicas: Vec<ReplicaConfig>,
}

fn default_cluster_type() -> ClusterType {
    ClusterType::Wsfc
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplicaConfig {
    /// Name of the instance hosting this replica.
    pub instance: String,
    pub availability_mode: AvailabilityMode,
    /// Exactly one replica of an AG starts as primary.
    #[serde(default)]
    pub primary: bool,
}

/// How long things take in the simulated world.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Latencies {
    /// Log send + harden time from a primary to a connected secondary.
    #[serde(with = "millis")]
    pub replication: Duration,
    /// From an accepted FAILOVER / FORCE_FAILOVER to the completed role change.
    #[serde(with = "millis")]
    pub failover: Duration,
    /// How long a resumed, divergent secondary stays REVERTING.
    #[serde(with = "millis")]
    pub revert: Duration,
    /// How long a BACKUP DATABASE statement runs.
    #[serde(with = "millis")]
    pub backup: Duration,
    /// How long a stopped instance takes to come back after `start`.
    #[serde(with = "millis")]
    pub restart: Duration,
    /// SESSION_TIMEOUT: how long commits wait for a stalled synchronous
    /// partner before it is dropped (SQL Server's default is 10 s).
    #[serde(with = "millis")]
    pub session_timeout: Duration,
    /// How long one RESTORE statement runs.
    #[serde(with = "millis")]
    pub restore: Duration,
    /// Under WSFC, how long a primary whose node lost quorum keeps reporting PRIMARY before it
    /// goes RESOLVING (its lease running out). It commits nothing from the moment quorum is lost.
    #[serde(with = "millis")]
    pub lease_timeout: Duration,
}

impl Default for Latencies {
    fn default() -> Self {
        Self {
            replication: Duration::from_millis(50),
            failover: Duration::from_millis(500),
            revert: Duration::from_millis(800),
            backup: Duration::from_millis(300),
            restart: Duration::from_millis(1000),
            session_timeout: Duration::from_secs(10),
            restore: Duration::from_millis(200),
            lease_timeout: Duration::from_millis(1000),
        }
    }
}

/// Transactions committed on every AG database's current primary.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WorkloadConfig {
    pub enabled: bool,
    /// Commits per second per database.
    pub commits_per_second: u32,
    /// Log generated per commit, for `log_send_queue_size` (KB).
    pub kb_per_commit: u32,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            commits_per_second: 20,
            kb_per_commit: 4,
        }
    }
}

/// The SQL login every simulated instance accepts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LoginConfig {
    pub user: String,
    pub password: String,
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            user: "drover".into(),
            password: "Simulated-Passw0rd".into(),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl WorldConfig {
    /// The default two-site world: AG `ag1` with `confdb` and `logdb`, `SQL-A`
    /// primary at `site-a`, `SQL-B` asynchronous secondary at `site-b`, and the WSFC's file
    /// share witness at a third location (`witness`), so either site alone keeps quorum when
    /// the other is lost.
    pub fn two_sites() -> Self {
        Self {
            instances: vec![
                InstanceConfig {
                    name: "SQL-A".into(),
                    site: "site-a".into(),
                    port: 0,
                },
                InstanceConfig {
                    name: "SQL-B".into(),
                    site: "site-b".into(),
                    port: 0,
                },
            ],
            availability_groups: vec![AgConfig {
                name: "ag1".into(),
                cluster_type: ClusterType::Wsfc,
                databases: vec!["confdb".into(), "logdb".into()],
                replicas: vec![
                    ReplicaConfig {
                        instance: "SQL-A".into(),
                        availability_mode: AvailabilityMode::AsynchronousCommit,
                        primary: true,
                    },
                    ReplicaConfig {
                        instance: "SQL-B".into(),
                        availability_mode: AvailabilityMode::AsynchronousCommit,
                        primary: false,
                    },
                ],
            }],
            databases: Vec::new(),
            shares: Vec::new(),
            log_shipping: Vec::new(),
            mirroring: Vec::new(),
            chat_pools: Vec::new(),
            wsfc: WsfcConfig {
                witness: Some(WitnessConfig::file_share("witness")),
                ..WsfcConfig::default()
            },
            latencies: Latencies::default(),
            workload: WorkloadConfig::default(),
            login: LoginConfig::default(),
            seed: 1,
        }
    }

    /// Parses YAML and checks the world is coherent.
    pub fn from_yaml(text: &str) -> Result<Self, String> {
        let cfg: WorldConfig = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        let mut names = std::collections::BTreeSet::new();
        for i in &self.instances {
            if !names.insert(i.name.to_lowercase()) {
                return Err(format!("instance {:?} is declared twice", i.name));
            }
        }
        let mut ag_names = std::collections::BTreeSet::new();
        for ag in &self.availability_groups {
            if !ag_names.insert(ag.name.to_lowercase()) {
                return Err(format!("availability group {:?} is declared twice", ag.name));
            }
            if ag.databases.is_empty() {
                return Err(format!("availability group {:?} has no databases", ag.name));
            }
            let primaries = ag.replicas.iter().filter(|r| r.primary).count();
            if primaries != 1 {
                return Err(format!(
                    "availability group {:?} must have exactly one primary replica, has {primaries}",
                    ag.name
                ));
            }
            let mut dbs = std::collections::BTreeSet::new();
            for d in &ag.databases {
                if !dbs.insert(d.to_lowercase()) {
                    return Err(format!("availability group {:?}: database {d:?} listed twice", ag.name));
                }
            }
            let mut seen = std::collections::BTreeSet::new();
            for r in &ag.replicas {
                if !names.contains(&r.instance.to_lowercase()) {
                    return Err(format!(
                        "availability group {:?}: unknown instance {:?}",
                        ag.name, r.instance
                    ));
                }
                if !seen.insert(r.instance.to_lowercase()) {
                    return Err(format!(
                        "availability group {:?}: instance {:?} listed twice",
                        ag.name, r.instance
                    ));
                }
            }
        }
        // A database lives in one AG per instance.
        let mut hosted = std::collections::BTreeSet::new();
        for ag in &self.availability_groups {
            for r in &ag.replicas {
                for d in &ag.databases {
                    if !hosted.insert((r.instance.to_lowercase(), d.to_lowercase())) {
                        return Err(format!(
                            "database {d:?} on instance {:?} belongs to more than one availability group",
                            r.instance
                        ));
                    }
                }
            }
        }
        self.validate_wsfc()?;
        self.validate_pool()
    }

    fn validate_wsfc(&self) -> Result<(), String> {
        let w = &self.wsfc;
        if w.cluster_name.trim().is_empty() || w.cluster_name.chars().count() > 128 {
            return Err("wsfc.clusterName must have 1 to 128 characters".into());
        }
        if let Some(witness) = &w.witness
            && witness.site.trim().is_empty()
        {
            return Err("wsfc.witness.site must not be empty".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in &w.nodes {
            if !self.instances.iter().any(|i| i.name.eq_ignore_ascii_case(&n.instance)) {
                return Err(format!("wsfc.nodes: unknown instance {:?}", n.instance));
            }
            if !seen.insert(n.instance.to_lowercase()) {
                return Err(format!("wsfc.nodes: instance {:?} listed twice", n.instance));
            }
            if n.votes.is_some_and(|v| v > 1) {
                return Err(format!(
                    "wsfc.nodes: instance {:?} has {} votes; a WSFC node has 0 or 1",
                    n.instance,
                    n.votes.unwrap_or_default()
                ));
            }
            if n.node.as_ref().is_some_and(|x| x.trim().is_empty()) {
                return Err(format!("wsfc.nodes: instance {:?} has an empty node name", n.instance));
            }
        }
        Ok(())
    }
}
