//! Persistent Chat pools (what the pool cmdlets change), their workload and
//! the user sessions chat servers hold; KILL; the loss measured from the model.

use super::config::{ChatPoolConfig, ChatPoolState};
use super::standalone::{FIRST_USER_SPID, StandaloneState, UserSession};
use super::{LSN_STEP, LogRec, SimTime, World};
use crate::sim::table::ServerError;
use std::collections::BTreeSet;

#[derive(Debug, Clone)]
pub(crate) struct ChatPool {
    pub name: String,
    pub database: String,
    pub compliance_database: String,
    pub primary: String,
    pub backup: String,
    pub state: ChatPoolState,
    pub active_servers: Vec<String>,
    /// Transactions committed and acknowledged to chat clients.
    pub acked: BTreeSet<u64>,
}

impl ChatPool {
    pub fn new(c: &ChatPoolConfig) -> Self {
        Self {
            name: c.name.clone(),
            database: c.database.clone(),
            compliance_database: c.compliance_database.clone(),
            primary: c.primary.clone(),
            backup: c.backup.clone(),
            state: c.state,
            active_servers: c.active_servers.clone(),
            acked: BTreeSet::new(),
        }
    }

    /// The instance whose chat database serves the pool in its state.
    pub fn serving(&self) -> &str {
        match self.state {
            ChatPoolState::Normal => &self.primary,
            ChatPoolState::FailedOver => &self.backup,
        }
    }
}

/// What tests and hooks see of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPoolView {
    pub name: String,
    pub database: String,
    pub compliance_database: String,
    pub state: ChatPoolState,
    pub active_servers: Vec<String>,
    /// Transactions acknowledged so far.
    pub acked: u64,
    pub serving_instance: String,
}

impl World {
    fn pool_index(&self, pool: &str) -> Result<usize, String> {
        self.pool
            .pools
            .iter()
            .position(|p| p.name.eq_ignore_ascii_case(pool))
            .ok_or_else(|| format!("no chat pool named {pool:?}"))
    }

    /// `Set-CsPersistentChatState -PoolState Normal|FailedOver`.
    pub fn chat_set_state(&mut self, now: SimTime, pool: &str, state: ChatPoolState) -> Result<(), String> {
        self.advance(now);
        let p = self.pool_index(pool)?;
        self.pool.pools[p].state = state;
        self.note(now, format!("chat pool {pool} state set to {state:?}"));
        self.refresh(now);
        Ok(())
    }

    /// `Set-CsPersistentChatActiveServer`: the servers accepting new connections.
    /// Servers taken off the list keep their sessions.
    pub fn chat_set_active_servers(&mut self, now: SimTime, pool: &str, servers: Vec<String>) -> Result<(), String> {
        self.advance(now);
        let p = self.pool_index(pool)?;
        let text = format!("chat pool {pool} active servers set to [{}]", servers.join(", "));
        self.pool.pools[p].active_servers = servers;
        self.note(now, text);
        self.refresh(now);
        Ok(())
    }

    pub fn chat_pool(&self, pool: &str) -> Option<ChatPoolView> {
        let p = &self.pool.pools[self.pool_index(pool).ok()?];
        Some(ChatPoolView {
            name: p.name.clone(),
            database: p.database.clone(),
            compliance_database: p.compliance_database.clone(),
            state: p.state,
            active_servers: p.active_servers.clone(),
            acked: p.acked.len() as u64,
            serving_instance: p.serving().to_string(),
        })
    }

    /// Names of every chat pool.
    pub fn chat_pools(&self) -> Vec<String> {
        self.pool.pools.iter().map(|p| p.name.clone()).collect()
    }

    /// The pool's serving copy, if it is ONLINE on an up instance.
    fn serving_copy(&self, p: usize) -> Option<usize> {
        let pool = &self.pool.pools[p];
        let d = self.db_index(pool.serving(), &pool.database)?;
        (self.is_up(pool.serving()) && self.pool.dbs[d].state == StandaloneState::Online).then_some(d)
    }

    /// One chat transaction: committed into the serving copy and acknowledged,
    /// while the pool has active servers. Returns whether it was committed.
    pub fn chat_commit(&mut self, now: SimTime, pool: &str) -> bool {
        self.advance(now);
        let Ok(p) = self.pool_index(pool) else { return false };
        if self.pool.pools[p].active_servers.is_empty() {
            return false;
        }
        let Some(d) = self.serving_copy(p) else { return false };
        let txn = self.next_txn;
        self.next_txn += 1;
        let db = &mut self.pool.dbs[d];
        db.log.push(LogRec {
            lsn: db.end_lsn,
            txn,
            at: now,
        });
        db.end_lsn += LSN_STEP;
        self.pool.pools[p].acked.insert(txn);
        self.replicate_mirrors(now);
        true
    }

    /// Acknowledged transactions missing from the pool's serving copy; None while
    /// that copy is not ONLINE on an up instance.
    pub fn chat_lost(&self, pool: &str) -> Option<u64> {
        let p = self.pool_index(pool).ok()?;
        let d = self.serving_copy(p)?;
        let have: BTreeSet<u64> = self.pool.dbs[d].log.iter().map(|l| l.txn).collect();
        Some(self.pool.pools[p].acked.iter().filter(|t| !have.contains(t)).count() as u64)
    }

    /// A session id for a new session on `instance` (TDS connections included).
    pub fn allocate_spid(&mut self, instance: &str) -> u16 {
        let next = self
            .pool
            .spids
            .entry(instance.to_lowercase())
            .or_insert(FIRST_USER_SPID);
        let id = *next;
        *next = if *next >= i16::MAX as u16 {
            FIRST_USER_SPID
        } else {
            *next + 1
        };
        id
    }

    /// Opens a user session in `database` on `instance` (a fault: any existing
    /// database, a RESTORING one too, as a stale or STANDBY reader would hold it).
    pub fn open_session(&mut self, now: SimTime, instance: &str, database: &str) -> Result<i16, String> {
        self.advance(now);
        let i = self
            .instance_index(instance)
            .ok_or_else(|| format!("no instance named {instance:?}"))?;
        if !self.instances[i].up {
            return Err(format!("{instance} is down"));
        }
        if !self.has_database(instance, database) {
            return Err(format!("database {database:?} does not exist on {instance}"));
        }
        let id = self.allocate_spid(instance) as i16;
        let instance = self.instances[i].name.clone();
        self.pool.sessions.push(UserSession {
            id,
            instance,
            database: database.to_string(),
            owner: None,
        });
        Ok(id)
    }

    /// User sessions (other than TDS connections) in `database` on `instance`.
    pub(crate) fn user_sessions_in(&self, instance: &str, database: &str) -> usize {
        self.pool
            .sessions
            .iter()
            .filter(|s| s.instance.eq_ignore_ascii_case(instance) && s.database.eq_ignore_ascii_case(database))
            .count()
    }

    pub(crate) fn close_sessions(&mut self, instance: &str, database: &str) {
        self.pool
            .sessions
            .retain(|s| !(s.instance.eq_ignore_ascii_case(instance) && s.database.eq_ignore_ascii_case(database)));
    }

    /// `KILL n` run by session `own` on `instance`.
    pub fn kill(&mut self, now: SimTime, instance: &str, own: i16, target: i128) -> Result<(), ServerError> {
        self.advance(now);
        let max = i16::MAX;
        let Some(target) = i16::try_from(target).ok().filter(|t| *t >= 1) else {
            return Err(ServerError::new(
                6101,
                16,
                format!("Process ID {target} is not a valid process ID. Choose a number between 1 and {max}."),
            ));
        };
        if target == own {
            return Err(ServerError::new(6104, 16, "Cannot use KILL to kill your own process."));
        }
        if target < FIRST_USER_SPID as i16 {
            return Err(ServerError::new(6107, 16, "Only user processes can be killed."));
        }
        let found = self
            .pool
            .sessions
            .iter()
            .position(|s| s.id == target && s.instance.eq_ignore_ascii_case(instance));
        let Some(s) = found else {
            return Err(ServerError::new(
                6106,
                16,
                format!("Process ID {target} is not an active process ID."),
            ));
        };
        let gone = self.pool.sessions.remove(s);
        self.note(
            now,
            format!("session {target} in {} killed on {instance}", gone.database),
        );
        self.refresh(now);
        Ok(())
    }

    /// Keeps sessions in step with the world: an instance that stops loses its
    /// sessions; an active chat server holds one in the pool's serving copy.
    fn settle_sessions(&mut self) {
        let up: Vec<bool> = self.pool.sessions.iter().map(|s| self.is_up(&s.instance)).collect();
        let mut keep = up.into_iter();
        self.pool.sessions.retain(|_| keep.next().unwrap_or(false));
        for p in 0..self.pool.pools.len() {
            if self.serving_copy(p).is_none() {
                continue;
            }
            let pool = self.pool.pools[p].clone();
            for server in &pool.active_servers {
                let holds = self.pool.sessions.iter().any(|s| {
                    s.instance.eq_ignore_ascii_case(pool.serving())
                        && s.database.eq_ignore_ascii_case(&pool.database)
                        && s.owner.as_ref().is_some_and(|(p, x)| *p == pool.name && x == server)
                });
                if !holds {
                    let id = self.allocate_spid(pool.serving()) as i16;
                    self.pool.sessions.push(UserSession {
                        id,
                        instance: pool.serving().to_string(),
                        database: pool.database.clone(),
                        owner: Some((pool.name.clone(), server.clone())),
                    });
                }
            }
        }
    }

    /// The pool side of `refresh`: mirroring links, sessions.
    pub(crate) fn refresh_pool(&mut self, now: SimTime) {
        self.refresh_mirrors(now);
        self.settle_sessions();
    }
}
