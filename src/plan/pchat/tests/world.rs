//! The pool's four instances as a tiny model of SQL Server and the chat cmdlets: each copy of a
//! database is a log of transaction ids; log backups carry a slice of that log, so RESTORE LOG
//! refuses a gap (4305) or a file from another recovery path, and says "already applied" (4326)
//! for one it has. Hook Jobs finish one tick after they are created and then do what
//! their cmdlet does. Transaction ids are unique, so a log backup's records say which recovery
//! path it belongs to: one that does not continue the copy's own log is refused.

use super::super::files;
use super::super::{Cmdlet, DbObs, InstanceObs, Listing, LogShippingObs, Observed, PoolJob};
use super::{A, A_MIR, B, B_MIR, CHAT, COMP, DEST, SHARE};
use crate::api::persistent_chat_pool::PoolState;
use crate::components::JobPhase;
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// A database copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Db {
    pub online: bool,
    /// Transaction ids, in log order.
    pub log: Vec<u64>,
    /// Where the next log backup starts.
    pub backed_up: usize,
    /// `PRINCIPAL` or `MIRROR`, and the partner.
    pub mirror: Option<(&'static str, String)>,
    pub sessions: Vec<i16>,
    /// Log backups restored onto it since its last full restore, in order.
    pub restored: Vec<String>,
    /// Shown in a state other than ONLINE or RESTORING (e.g. `SUSPECT`): it cannot be backed up.
    pub damaged: Option<&'static str>,
}

impl Db {
    pub fn online(log: Vec<u64>) -> Self {
        Self {
            online: true,
            log,
            backed_up: 0,
            mirror: None,
            sessions: Vec::new(),
            restored: Vec::new(),
            damaged: None,
        }
    }
}

/// A backup file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Backup {
    Log { start: usize, records: Vec<u64> },
    Full { log: Vec<u64> },
}

/// The log-shipping secondary configuration on the backup instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Shipping {
    pub primary: String,
    pub last_copied: Option<String>,
    pub last_restored: Option<String>,
    /// The newest log backup when it was set up: the jobs start after it.
    pub set_up_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Job {
    pub cmdlet: Cmdlet,
    pub phase: JobPhase,
}

#[derive(Debug, Clone)]
pub(crate) struct Sql {
    /// Instance → database (lower case) → copy.
    pub instances: BTreeMap<String, BTreeMap<String, Db>>,
    pub down: BTreeSet<String>,
    /// The backup share as the backup instance reaches it (the primary always does).
    pub share_reachable: bool,
    pub share: BTreeMap<String, Backup>,
    pub destination: BTreeMap<String, Backup>,
    pub shipping: Option<Shipping>,
    /// The instance whose log-shipping backup job writes to the share.
    pub backup_job: Option<String>,
    pub pool_state: PoolState,
    pub active_servers: Vec<String>,
    /// By (step, run).
    pub jobs: BTreeMap<(String, String), Job>,
    /// Steps whose next hook Job fails.
    pub failing: BTreeSet<String>,
    pub next_txn: u64,
    pub next_session: i16,
    /// Every transaction the pool acknowledged.
    pub acked: Vec<u64>,
}

/// What executing an action came to: done, already so (`Ok(true)`), or an error.
pub(crate) type Outcome = Result<bool, String>;

impl Sql {
    /// Runbook B at rest in the primary data center: `mgc` ONLINE on A mirrored to A-MIR and
    /// log-shipped to B, the compliance database at both, both active servers connected.
    pub fn steady(active: &[String]) -> Self {
        let mut instances: BTreeMap<String, BTreeMap<String, Db>> = BTreeMap::new();
        for i in [A, A_MIR, B, B_MIR] {
            instances.insert(i.into(), BTreeMap::new());
        }
        let mut s = Self {
            instances,
            down: BTreeSet::new(),
            share_reachable: true,
            share: BTreeMap::new(),
            destination: BTreeMap::new(),
            shipping: None,
            backup_job: None,
            pool_state: PoolState::Normal,
            active_servers: Vec::new(),
            jobs: BTreeMap::new(),
            failing: BTreeSet::new(),
            next_txn: 1,
            next_session: 51,
            acked: Vec::new(),
        };
        for db in [CHAT, COMP] {
            s.db_insert(A, db, Db::online(Vec::new()));
        }
        s.db_insert(B, COMP, Db::online(Vec::new()));
        s.install_mirror(A, A_MIR, &[CHAT.into(), COMP.into()]).expect("steady");
        s.establish(A, B).expect("steady");
        s.set_active(active.to_vec());
        s
    }

    pub fn db(&self, server: &str, name: &str) -> Option<&Db> {
        self.instances.get(server)?.get(name)
    }

    pub fn db_mut(&mut self, server: &str, name: &str) -> Option<&mut Db> {
        self.instances.get_mut(server)?.get_mut(name)
    }

    fn db_insert(&mut self, server: &str, name: &str, db: Db) {
        self.instances.get_mut(server).expect("known").insert(name.into(), db);
    }

    /// The instance is back after a crash: its sessions are gone.
    pub fn restart(&mut self, server: &str) {
        self.down.remove(server);
        for db in self.instances.get_mut(server).expect("known").values_mut() {
            db.sessions.clear();
        }
    }

    pub fn up(&self, server: &str) -> bool {
        !self.down.contains(server)
    }

    /// The instance the pool state points at.
    pub fn serving(&self) -> &'static str {
        match self.pool_state {
            PoolState::Normal => A,
            PoolState::FailedOver => B,
        }
    }

    /// The pool commits `n` transactions if its database is writable and it has active servers.
    pub fn commit(&mut self, n: u64) {
        let server = self.serving();
        if self.active_servers.is_empty() || !self.up(server) || !self.db(server, CHAT).is_some_and(|d| d.online) {
            return;
        }
        let ids: Vec<u64> = (self.next_txn..self.next_txn + n).collect();
        self.next_txn += n;
        self.db_mut(server, CHAT).expect("online").log.extend(&ids);
        self.acked.extend(ids);
    }

    /// Acknowledged transactions missing from the serving copy.
    pub fn lost(&self) -> Vec<u64> {
        let log = self.db(self.serving(), CHAT).map(|d| d.log.as_slice()).unwrap_or(&[]);
        self.acked.iter().copied().filter(|t| !log.contains(t)).collect()
    }

    /// Log shipping's three jobs, each if it can run: back up to the share, copy to the
    /// destination, restore what was copied.
    pub fn ship(&mut self, now: Timestamp) {
        self.log_backup(now);
        self.copy();
        self.restore_job();
    }

    pub fn log_backup(&mut self, now: Timestamp) {
        let Some(primary) = self.backup_job.clone() else { return };
        if !self.up(&primary) {
            return;
        }
        let Some(db) = self.db_mut(&primary, CHAT).filter(|d| d.online) else {
            return;
        };
        let file = Backup::Log {
            start: db.backed_up,
            records: db.log[db.backed_up..].to_vec(),
        };
        db.backed_up = db.log.len();
        let name = format!("{CHAT}_{}.trn", now.strftime("%Y%m%d%H%M%S"));
        self.share.insert(name, file);
    }

    pub fn copy(&mut self) {
        if !self.up(B) || !self.share_reachable {
            return;
        }
        let Some(ls) = self.shipping.as_mut() else { return };
        let newer: Vec<String> = self
            .share
            .keys()
            .filter(|n| files::is_shipped_log(n, CHAT) && ls.last_copied.as_deref().is_none_or(|l| n.as_str() > l))
            .cloned()
            .collect();
        for name in newer {
            self.destination.insert(name.clone(), self.share[&name].clone());
            ls.last_copied = Some(name);
        }
    }

    pub fn restore_job(&mut self) {
        if !self.up(B) {
            return;
        }
        let Some(last) = self
            .shipping
            .as_ref()
            .map(|ls| ls.last_restored.clone().max(ls.set_up_after.clone()))
        else {
            return;
        };
        let due: Vec<String> = self
            .destination
            .keys()
            .filter(|n| last.as_deref().is_none_or(|l| n.as_str() > l))
            .cloned()
            .collect();
        for name in due {
            let file = self.destination[&name].clone();
            if self.restore_log(&name, &file).is_err() {
                return;
            }
            self.shipping.as_mut().expect("configured").last_restored = Some(name);
        }
    }

    pub fn restore_log(&mut self, name: &str, file: &Backup) -> Outcome {
        let db = self.db_mut(B, CHAT).ok_or("911: no such database")?;
        if db.online {
            return Err("3117: no files are ready to rollforward".into());
        }
        let Backup::Log { start, records } = file else {
            return Err("3241: not a log backup".into());
        };
        let (start, have, end) = (*start, db.log.len(), start + records.len());
        if start > have {
            return Err(format!("4305: {name} is too recent to apply"));
        }
        let common = end.min(have);
        if db.log[start..common] != records[..common - start] {
            return Err(format!("3138: {name} is on another recovery path"));
        }
        if end < have || (end == have && start < have) {
            return Ok(true); // 4326
        }
        db.log.extend_from_slice(&records[have - start..]);
        db.restored.push(name.to_string());
        Ok(false)
    }

    /// Install-CsMirrorDatabase: each database ONLINE on `principal` gets a RESTORING copy on `mirror`.
    pub fn install_mirror(&mut self, principal: &str, mirror: &str, databases: &[String]) -> Result<(), String> {
        if !self.up(principal) || !self.up(mirror) {
            return Err("an instance is unreachable".into());
        }
        for name in databases {
            let db = self
                .db_mut(principal, name)
                .filter(|d| d.online)
                .ok_or(format!("{name} is not ONLINE"))?;
            db.mirror = Some(("PRINCIPAL", mirror.to_string()));
            let copy = Db {
                online: false,
                mirror: Some(("MIRROR", principal.to_string())),
                sessions: Vec::new(),
                restored: Vec::new(),
                ..db.clone()
            };
            self.db_insert(mirror, name, copy);
        }
        Ok(())
    }

    /// The establish-log-shipping hook: the secondary's copy re-initialised from the primary's.
    pub fn establish(&mut self, primary: &str, secondary: &str) -> Result<(), String> {
        if !self.up(primary) || !self.up(secondary) {
            return Err("an instance is unreachable".into());
        }
        let db = self
            .db_mut(primary, CHAT)
            .filter(|d| d.online)
            .ok_or("mgc is not ONLINE")?;
        db.backed_up = db.log.len();
        let copy = Db {
            online: false,
            mirror: None,
            sessions: Vec::new(),
            restored: Vec::new(),
            ..db.clone()
        };
        self.db_insert(secondary, CHAT, copy);
        // The copy job starts after the initialising backup: older files are not copied.
        let newest = self
            .share
            .keys()
            .filter(|n| files::is_shipped_log(n, CHAT))
            .max()
            .cloned();
        self.shipping = Some(Shipping {
            primary: primary.into(),
            last_copied: newest.clone(),
            last_restored: None,
            set_up_after: newest,
        });
        self.backup_job = Some(primary.into());
        Ok(())
    }

    /// Set-CsPersistentChatActiveServer: each server opens a session in the database the pool
    /// points at (if ONLINE); they stay until KILLed or the instance restarts, as the cmdlet
    /// clearing the list does not close them.
    pub fn set_active(&mut self, servers: Vec<String>) {
        let server = self.serving();
        let up = self.up(server);
        let mut next = self.next_session;
        if let Some(db) = self.db_mut(server, CHAT).filter(|d| up && d.online) {
            for _ in &servers {
                db.sessions.push(next);
                next += 1;
            }
        }
        self.next_session = next;
        self.active_servers = servers;
    }

    pub fn observe_instance(&self, server: &str) -> Result<InstanceObs, String> {
        if !self.up(server) {
            return Err("login timeout: the instance does not answer".into());
        }
        let databases = self.instances[server]
            .iter()
            .map(|(name, db)| {
                let partner_up = db.mirror.as_ref().is_some_and(|(_, p)| self.up(p));
                let obs = DbObs {
                    state: db
                        .damaged
                        .unwrap_or(if db.online { "ONLINE" } else { "RESTORING" })
                        .into(),
                    mirroring_role: db.mirror.as_ref().map(|(r, _)| r.to_string()),
                    mirroring_state: db
                        .mirror
                        .as_ref()
                        .map(|_| if partner_up { "SYNCHRONIZED" } else { "DISCONNECTED" }.to_string()),
                    mirroring_partner: db.mirror.as_ref().map(|(_, p)| p.clone()),
                    sessions: db.sessions.clone(),
                };
                (name.clone(), obs)
            })
            .collect();
        let at = |name: &Option<String>| name.as_ref().map(|n| files::join(DEST, n));
        let log_shipping = (server == B)
            .then_some(self.shipping.as_ref())
            .flatten()
            .map(|ls| LogShippingObs {
                primary_server: ls.primary.clone(),
                configured: true,
                last_copied_file: at(&ls.last_copied),
                last_copied_at: None,
                last_restored_file: at(&ls.last_restored),
                last_restored_at: None,
            });
        Ok(InstanceObs {
            databases,
            log_shipping,
        })
    }

    /// What drover reads; the folders only when `listings`.
    pub fn observe(&self, listings: bool) -> Observed {
        let listing = |folder: &BTreeMap<String, Backup>, reachable: bool, what: &str| {
            if !listings {
                Listing::NotListed
            } else if !self.up(B) {
                Listing::Unreachable(format!("{B} is unreachable"))
            } else if !reachable {
                Listing::Unreachable(format!("{what} is not reachable from the backup instance"))
            } else {
                Listing::Files(folder.keys().cloned().collect())
            }
        };
        Observed {
            instances: [A, A_MIR, B, B_MIR]
                .iter()
                .map(|s| (s.to_string(), self.observe_instance(s)))
                .collect(),
            destination: listing(&self.destination, true, DEST),
            share: listing(&self.share, self.share_reachable, SHARE),
            jobs: self
                .jobs
                .iter()
                .map(|((step, run), job)| PoolJob {
                    name: format!("pchat-{step}-{run}"),
                    step: step.clone(),
                    run: run.clone(),
                    phase: job.phase.clone(),
                })
                .collect(),
        }
    }
}
