//! Database mirroring of standalone databases: the principal's log reaches the
//! RESTORING mirror copy after the replication latency while the two are linked;
//! `SET PARTNER OFF` on either side; `Install-CsMirrorDatabase` as a hook.

use super::config::MirroringConfig;
use super::standalone::StandaloneState;
use super::{LSN_STEP, SimTime, World, guid};
use crate::sim::table::ServerError;

#[derive(Debug, Clone)]
pub(crate) struct MirrorSession {
    pub database: String,
    pub principal: String,
    pub mirror: String,
    pub guid: [u8; 16],
    /// Each side's half of the session. SET PARTNER OFF on one side while the
    /// partner is unreachable leaves the other half until the partner is told.
    pub principal_on: bool,
    pub mirror_on: bool,
    /// Since when log has flowed from principal to mirror; None while cut.
    pub linked_since: Option<SimTime>,
}

impl MirrorSession {
    pub fn new(m: &MirroringConfig, now: SimTime) -> Self {
        Self {
            database: m.database.clone(),
            principal: m.principal.clone(),
            mirror: m.mirror.clone(),
            guid: guid("mirroring", &format!("{}/{}/{}", m.database, m.principal, m.mirror)),
            principal_on: true,
            mirror_on: true,
            linked_since: Some(now),
        }
    }

    fn side_on(&self, instance: &str) -> bool {
        if self.principal.eq_ignore_ascii_case(instance) {
            self.principal_on
        } else {
            self.mirror.eq_ignore_ascii_case(instance) && self.mirror_on
        }
    }
}

/// What `sys.database_mirroring` shows for one side of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MirrorRow {
    pub guid: [u8; 16],
    pub principal: bool,
    pub connected: bool,
    pub partner: String,
}

impl World {
    /// The mirroring session `instance`'s copy of `db` still takes part in.
    pub(crate) fn mirror_of(&self, instance: &str, db: &str) -> Option<usize> {
        self.pool
            .mirrors
            .iter()
            .position(|m| m.database.eq_ignore_ascii_case(db) && m.side_on(instance))
    }

    /// The `sys.database_mirroring` view of `instance`'s copy of `db`.
    pub(crate) fn mirror_row(&self, instance: &str, db: &str) -> Option<MirrorRow> {
        let m = &self.pool.mirrors[self.mirror_of(instance, db)?];
        let principal = m.principal.eq_ignore_ascii_case(instance);
        Some(MirrorRow {
            guid: m.guid,
            principal,
            connected: m.principal_on && m.mirror_on && self.linked(&m.principal, &m.mirror),
            partner: if principal {
                m.mirror.clone()
            } else {
                m.principal.clone()
            },
        })
    }

    /// Tracks links of mirroring sessions; a partner that can be reached again
    /// learns that the other side removed the session.
    pub(crate) fn refresh_mirrors(&mut self, now: SimTime) {
        let linked: Vec<bool> = self
            .pool
            .mirrors
            .iter()
            .map(|m| self.linked(&m.principal, &m.mirror))
            .collect();
        for (m, linked) in self.pool.mirrors.iter_mut().zip(linked) {
            if linked && !(m.principal_on && m.mirror_on) {
                m.principal_on = false;
                m.mirror_on = false;
            }
            match (linked, m.linked_since) {
                (true, None) => m.linked_since = Some(now),
                (false, Some(_)) => m.linked_since = None,
                _ => {}
            }
        }
        self.pool.mirrors.retain(|m| m.principal_on || m.mirror_on);
    }

    /// Ships the principal's log to the mirror copy up to `t`.
    pub(crate) fn replicate_mirrors(&mut self, t: SimTime) {
        let latency = self.cfg.latencies.replication;
        for i in 0..self.pool.mirrors.len() {
            let m = &self.pool.mirrors[i];
            let Some(since) = m.linked_since.filter(|_| m.principal_on && m.mirror_on) else {
                continue;
            };
            let (Some(p), Some(s)) = (
                self.db_index(&m.principal, &m.database),
                self.db_index(&m.mirror, &m.database),
            ) else {
                continue;
            };
            let n = self.pool.dbs[s].log.len();
            let src = &self.pool.dbs[p].log;
            // Defensive: only a prefix of the principal's log ever receives more.
            if n > src.len() || (n > 0 && src[n - 1].txn != self.pool.dbs[s].log[n - 1].txn) {
                continue;
            }
            let due: Vec<_> = src[n..]
                .iter()
                .take_while(|r| r.at.max(since) + latency <= t)
                .copied()
                .collect();
            let dst = &mut self.pool.dbs[s];
            for rec in due {
                dst.end_lsn = dst.end_lsn.max(rec.lsn + LSN_STEP);
                dst.log.push(rec);
            }
        }
    }

    /// `ALTER DATABASE [db] SET PARTNER OFF` on `instance` (either partner).
    pub fn set_partner_off(&mut self, now: SimTime, instance: &str, db: &str) -> Result<(), ServerError> {
        self.advance(now);
        if !self.has_database(instance, db) {
            return Err(ServerError::new(
                15151,
                16,
                format!("Cannot alter the database '{db}', because it does not exist or you do not have permission."),
            ));
        }
        let Some(i) = self.mirror_of(instance, db) else {
            return Err(ServerError::new(
                1416,
                16,
                format!("Database \"{db}\" is not configured for database mirroring."),
            ));
        };
        let m = &mut self.pool.mirrors[i];
        if m.principal.eq_ignore_ascii_case(instance) {
            m.principal_on = false;
        } else {
            m.mirror_on = false;
        }
        let text = format!("mirroring of {} removed on {instance}", m.database);
        self.note(now, text);
        self.refresh(now);
        Ok(())
    }

    /// `Install-CsMirrorDatabase`: each database, ONLINE on `principal`, gets a
    /// RESTORING copy on `mirror` (replacing any) and a mirroring session.
    /// Installing an existing session again changes nothing.
    pub fn install_mirror(
        &mut self,
        now: SimTime,
        principal: &str,
        mirror: &str,
        databases: &[String],
    ) -> Result<(), String> {
        self.advance(now);
        for name in [principal, mirror] {
            self.instance_index(name)
                .ok_or_else(|| format!("no instance named {name:?}"))?;
        }
        if principal.eq_ignore_ascii_case(mirror) {
            return Err("the principal and the mirror are the same instance".into());
        }
        if !self.linked(principal, mirror) {
            return Err(format!("{principal} cannot reach {mirror}"));
        }
        let mut todo = Vec::new();
        for db in databases {
            let p = self
                .db_index(principal, db)
                .ok_or_else(|| format!("database {db:?} does not exist on {principal}"))?;
            if self.pool.dbs[p].state != StandaloneState::Online {
                return Err(format!("database {db:?} on {principal} is not ONLINE"));
            }
            let same = |i: usize| {
                let m = &self.pool.mirrors[i];
                m.principal.eq_ignore_ascii_case(principal) && m.mirror.eq_ignore_ascii_case(mirror)
            };
            match (self.mirror_of(principal, db), self.mirror_of(mirror, db)) {
                (Some(a), Some(b)) if a == b && same(a) => continue,
                (Some(_), _) => return Err(format!("database {db:?} on {principal} is already mirrored")),
                (None, Some(_)) => return Err(format!("database {db:?} on {mirror} is in another mirroring session")),
                (None, None) => {}
            }
            if self.secondary_config(mirror, db).is_some() {
                return Err(format!("database {db:?} on {mirror} is a log-shipping secondary"));
            }
            todo.push(p);
        }
        for p in todo {
            let (name, log, fork) = {
                let d = &self.pool.dbs[p];
                (d.name.clone(), d.log.clone(), d.fork)
            };
            let s = match self.db_index(mirror, &name) {
                Some(s) => s,
                None => self.add_database(mirror, &name, StandaloneState::Restoring, Vec::new(), fork),
            };
            self.close_sessions(mirror, &name);
            let end = self.pool.dbs[p].end_lsn;
            let copy = &mut self.pool.dbs[s];
            copy.log = log;
            copy.end_lsn = end;
            copy.log_backup_lsn = end;
            copy.fork = fork;
            copy.state = StandaloneState::Restoring;
            let cfg = MirroringConfig {
                database: name.clone(),
                principal: self.pool.dbs[p].instance.clone(),
                mirror: self.pool.dbs[s].instance.clone(),
            };
            let mut session = MirrorSession::new(&cfg, now);
            session.guid = self.pool_guid("mirroring", &format!("{name}/{principal}/{mirror}"));
            self.pool.mirrors.push(session);
            self.note(
                now,
                format!("mirroring of {name} installed from {principal} to {mirror}"),
            );
        }
        self.refresh(now);
        Ok(())
    }
}
