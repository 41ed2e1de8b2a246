//! The Persistent Chat part of a world: standalone databases, shares, log
//! shipping, mirroring and chat pools, their validation, and the example world.

use super::millis;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::time::Duration;

/// The state a standalone database starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum DatabaseStateConfig {
    #[default]
    Online,
    /// Restored WITH NORECOVERY: a log-shipping secondary or a mirror.
    Restoring,
}

/// A database outside any availability group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DatabaseConfig {
    pub instance: String,
    pub name: String,
    #[serde(default)]
    pub state: DatabaseStateConfig,
}

/// A UNC share (`\\host\share`); reachable from an instance linked to `host`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShareConfig {
    pub path: String,
    /// The instance whose site serves the share: it goes away with that instance.
    pub host: String,
}

/// Log shipping of one database from a primary to a secondary instance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogShippingConfig {
    pub database: String,
    pub primary: String,
    pub secondary: String,
    /// Where the primary's backup job writes log backups (a declared share).
    pub backup_share: String,
    /// Where the secondary's copy job puts them (usually a local folder of the secondary).
    pub copy_destination: String,
    #[serde(rename = "backupIntervalMs", with = "millis", default = "two_seconds")]
    pub backup_interval: Duration,
    #[serde(rename = "copyIntervalMs", with = "millis", default = "two_seconds")]
    pub copy_interval: Duration,
    #[serde(rename = "restoreIntervalMs", with = "millis", default = "two_seconds")]
    pub restore_interval: Duration,
    /// Log backups younger than this are not restored yet.
    #[serde(rename = "restoreDelayMs", with = "millis", default)]
    pub restore_delay: Duration,
}

fn two_seconds() -> Duration {
    Duration::from_secs(2)
}

/// A database mirroring session; the mirror copy is RESTORING.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MirroringConfig {
    pub database: String,
    pub principal: String,
    pub mirror: String,
}

/// `Normal`: the pool uses its primary databases; `FailedOver`: its backup databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum ChatPoolState {
    #[default]
    Normal,
    FailedOver,
}

/// A Persistent Chat pool: its chat and compliance databases on a primary and a backup instance.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatPoolConfig {
    pub name: String,
    pub database: String,
    pub compliance_database: String,
    /// Serves the pool in state Normal.
    pub primary: String,
    /// Serves the pool in state FailedOver.
    pub backup: String,
    #[serde(default)]
    pub state: ChatPoolState,
    /// Chat servers accepting connections; each holds a session in the serving database.
    #[serde(default)]
    pub active_servers: Vec<String>,
}

impl super::WorldConfig {
    /// The Persistent Chat world of runbook B: `mgc` log-shipped from `SQL-CHAT-A`
    /// (site-a) to `SQL-CHAT-B` (site-b) and, with `mgccomp`, mirrored inside
    /// site-a; pool `pchat` served from `SQL-CHAT-A` by `chat-a1` and `chat-a2`.
    pub fn persistent_chat() -> Self {
        let instance = |name: &str, site: &str| super::InstanceConfig {
            name: name.into(),
            site: site.into(),
            port: 0,
        };
        let database = |instance: &str, name: &str, state| DatabaseConfig {
            instance: instance.into(),
            name: name.into(),
            state,
        };
        let mirror = |database: &str| MirroringConfig {
            database: database.into(),
            principal: "SQL-CHAT-A".into(),
            mirror: "SQL-CHAT-A-MIR".into(),
        };
        Self {
            instances: vec![
                instance("SQL-CHAT-A", "site-a"),
                instance("SQL-CHAT-A-MIR", "site-a"),
                instance("SQL-CHAT-B", "site-b"),
                instance("SQL-CHAT-B-MIR", "site-b"),
            ],
            availability_groups: Vec::new(),
            databases: vec![
                database("SQL-CHAT-A", "mgc", DatabaseStateConfig::Online),
                database("SQL-CHAT-A", "mgccomp", DatabaseStateConfig::Online),
                database("SQL-CHAT-B", "mgc", DatabaseStateConfig::Restoring),
                database("SQL-CHAT-B", "mgccomp", DatabaseStateConfig::Online),
            ],
            shares: vec![
                ShareConfig {
                    path: r"\\fs-a\pchat-logship".into(),
                    host: "SQL-CHAT-A".into(),
                },
                ShareConfig {
                    path: r"\\fs-b\pchat-backup".into(),
                    host: "SQL-CHAT-B".into(),
                },
            ],
            log_shipping: vec![LogShippingConfig {
                database: "mgc".into(),
                primary: "SQL-CHAT-A".into(),
                secondary: "SQL-CHAT-B".into(),
                backup_share: r"\\fs-a\pchat-logship".into(),
                copy_destination: r"D:\pchat-logship".into(),
                backup_interval: two_seconds(),
                copy_interval: two_seconds(),
                restore_interval: two_seconds(),
                restore_delay: Duration::ZERO,
            }],
            mirroring: vec![mirror("mgc"), mirror("mgccomp")],
            chat_pools: vec![ChatPoolConfig {
                name: "pchat".into(),
                database: "mgc".into(),
                compliance_database: "mgccomp".into(),
                primary: "SQL-CHAT-A".into(),
                backup: "SQL-CHAT-B".into(),
                state: ChatPoolState::Normal,
                active_servers: vec!["chat-a1".into(), "chat-a2".into()],
            }],
            wsfc: super::WsfcConfig::default(),
            latencies: super::Latencies::default(),
            workload: super::WorkloadConfig::default(),
            login: super::LoginConfig::default(),
            seed: 1,
        }
    }

    /// Checks the standalone databases, shares, log shipping, mirroring and pools.
    pub(super) fn validate_pool(&self) -> Result<(), String> {
        let instances: BTreeSet<String> = self.instances.iter().map(|i| i.name.to_lowercase()).collect();
        let known = |what: String, instance: &str| {
            if instances.contains(&instance.to_lowercase()) {
                Ok(())
            } else {
                Err(format!("{what}: unknown instance {instance:?}"))
            }
        };
        let mut declared = BTreeSet::new();
        for d in &self.databases {
            let what = format!("database {:?}", d.name);
            known(what.clone(), &d.instance)?;
            if d.name.trim().is_empty() {
                return Err(format!("a database on instance {:?} has an empty name", d.instance));
            }
            if SYSTEM_DATABASES.iter().any(|s| s.eq_ignore_ascii_case(&d.name)) {
                return Err(format!("{what} on {:?} is a system database name", d.instance));
            }
            if !declared.insert((d.instance.to_lowercase(), d.name.to_lowercase())) {
                return Err(format!("{what} is declared twice on instance {:?}", d.instance));
            }
            let in_ag = self.availability_groups.iter().find(|ag| {
                ag.databases.iter().any(|x| x.eq_ignore_ascii_case(&d.name))
                    && ag.replicas.iter().any(|r| r.instance.eq_ignore_ascii_case(&d.instance))
            });
            if let Some(ag) = in_ag {
                return Err(format!(
                    "{what} on instance {:?} is also in availability group {:?}",
                    d.instance, ag.name
                ));
            }
        }
        let state_of = |instance: &str, name: &str| {
            self.databases
                .iter()
                .find(|d| d.instance.eq_ignore_ascii_case(instance) && d.name.eq_ignore_ascii_case(name))
                .map(|d| d.state)
        };
        let mut shares = BTreeSet::new();
        for s in &self.shares {
            let what = format!("share {:?}", s.path);
            known(what.clone(), &s.host)?;
            let key = s.path.trim_end_matches('\\').to_lowercase();
            let parts: Vec<&str> = key
                .strip_prefix(r"\\")
                .map(|r| r.split('\\').collect())
                .unwrap_or_default();
            if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
                return Err(format!("{what} is not a UNC path like \\\\server\\share"));
            }
            if !shares.insert(key) {
                return Err(format!("{what} is declared twice"));
            }
        }
        let on_share = |path: &str| {
            let p = path.trim_end_matches('\\').to_lowercase();
            shares
                .iter()
                .any(|s| p == *s || p.strip_prefix(s.as_str()).is_some_and(|r| r.starts_with('\\')))
        };
        let mut secondaries = BTreeSet::new();
        for l in &self.log_shipping {
            let what = format!(
                "log shipping of {:?} from {:?} to {:?}",
                l.database, l.primary, l.secondary
            );
            known(what.clone(), &l.primary)?;
            known(what.clone(), &l.secondary)?;
            if l.primary.eq_ignore_ascii_case(&l.secondary) {
                return Err(format!("{what}: primary and secondary are the same instance"));
            }
            match state_of(&l.primary, &l.database) {
                Some(DatabaseStateConfig::Online) => {}
                Some(DatabaseStateConfig::Restoring) => {
                    return Err(format!("{what}: the primary copy must be ONLINE, not RESTORING"));
                }
                None => return Err(format!("{what}: the database is not declared on the primary")),
            }
            match state_of(&l.secondary, &l.database) {
                Some(DatabaseStateConfig::Restoring) => {}
                Some(DatabaseStateConfig::Online) => {
                    return Err(format!(
                        "{what}: the secondary copy must be RESTORING (restored WITH NORECOVERY), not ONLINE"
                    ));
                }
                None => return Err(format!("{what}: the database is not declared on the secondary")),
            }
            if !l.backup_share.starts_with(r"\\") || !on_share(&l.backup_share) {
                return Err(format!(
                    "{what}: backupShare {:?} is not on a declared share",
                    l.backup_share
                ));
            }
            if l.copy_destination.trim().is_empty() {
                return Err(format!("{what}: copyDestination is empty"));
            }
            if l.copy_destination.starts_with(r"\\") && !on_share(&l.copy_destination) {
                return Err(format!(
                    "{what}: copyDestination {:?} is not on a declared share",
                    l.copy_destination
                ));
            }
            if [l.backup_interval, l.copy_interval, l.restore_interval].contains(&Duration::ZERO) {
                return Err(format!("{what}: job intervals must be positive"));
            }
            if !secondaries.insert((l.secondary.to_lowercase(), l.database.to_lowercase())) {
                return Err(format!("{what}: that secondary copy is already log-shipped"));
            }
        }
        let mut mirrored = BTreeSet::new();
        for m in &self.mirroring {
            let what = format!("mirroring of {:?} from {:?} to {:?}", m.database, m.principal, m.mirror);
            known(what.clone(), &m.principal)?;
            known(what.clone(), &m.mirror)?;
            if m.principal.eq_ignore_ascii_case(&m.mirror) {
                return Err(format!("{what}: principal and mirror are the same instance"));
            }
            match state_of(&m.principal, &m.database) {
                Some(DatabaseStateConfig::Online) => {}
                Some(DatabaseStateConfig::Restoring) => {
                    return Err(format!("{what}: the principal copy must be ONLINE, not RESTORING"));
                }
                None => return Err(format!("{what}: the database is not declared on the principal")),
            }
            if state_of(&m.mirror, &m.database) == Some(DatabaseStateConfig::Online) {
                return Err(format!("{what}: the mirror copy must be RESTORING, not ONLINE"));
            }
            for side in [&m.principal, &m.mirror] {
                let key = (side.to_lowercase(), m.database.to_lowercase());
                if secondaries.contains(&key) {
                    return Err(format!("{what}: the copy on {side:?} is a log-shipping secondary"));
                }
                if !mirrored.insert(key) {
                    return Err(format!("{what}: the copy on {side:?} is already mirrored"));
                }
            }
        }
        let mut pools = BTreeSet::new();
        for p in &self.chat_pools {
            let what = format!("chat pool {:?}", p.name);
            if !pools.insert(p.name.to_lowercase()) {
                return Err(format!("{what} is declared twice"));
            }
            known(what.clone(), &p.primary)?;
            known(what.clone(), &p.backup)?;
            if p.primary.eq_ignore_ascii_case(&p.backup) {
                return Err(format!("{what}: primary and backup are the same instance"));
            }
            if p.database.eq_ignore_ascii_case(&p.compliance_database) {
                return Err(format!("{what}: the chat and compliance databases are the same"));
            }
            for (instance, db) in [
                (&p.primary, &p.database),
                (&p.primary, &p.compliance_database),
                (&p.backup, &p.database),
            ] {
                if state_of(instance, db).is_none() {
                    return Err(format!("{what}: database {db:?} is not declared on {instance:?}"));
                }
            }
        }
        Ok(())
    }
}

const SYSTEM_DATABASES: [&str; 4] = ["master", "tempdb", "model", "msdb"];

#[cfg(test)]
mod tests;
