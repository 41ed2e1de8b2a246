//! Log shipping: the primary's backup job writes log backups to the share, the
//! secondary's copy job copies them to its copy destination and its restore
//! job applies them WITH NORECOVERY, each on its own schedule (world events).

use super::config::LogShippingConfig;
use super::files::BackupSet;
use super::standalone::StandaloneState;
use super::{EventKind, SimTime, World};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Job {
    Backup,
    Copy,
    Restore,
}

#[derive(Debug, Clone)]
pub(crate) struct LogShipping {
    pub cfg: LogShippingConfig,
    pub secondary_id: [u8; 16],
    /// The primary's backup job runs.
    pub primary_active: bool,
    /// The secondary's side exists: msdb rows, copy and restore jobs.
    pub secondary_configured: bool,
    /// (full path at the copy destination, when) of the newest copied file.
    pub last_copied: Option<(String, SimTime)>,
    /// (full path, when) of the newest restored file.
    pub last_restored: Option<(String, SimTime)>,
    pub generation: u64,
}

/// The order key of a log-shipping backup file of `db`: (timestamp, suffix).
/// None for any other file.
pub(crate) fn log_file_key(db: &str, name: &str) -> Option<(String, u32)> {
    let lower = name.to_lowercase();
    let rest = lower.strip_prefix(&format!("{}_", db.to_lowercase()))?;
    let stem = rest.strip_suffix(".trn")?;
    let (stamp, n) = match stem.split_once('_') {
        Some((stamp, n)) => (stamp, n.parse().ok()?),
        None => (stem, 0),
    };
    (stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit())).then(|| (stamp.to_string(), n))
}

/// The file name part of a path.
pub(crate) fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

fn join(folder: &str, name: &str) -> String {
    format!("{}\\{name}", folder.trim_end_matches(['\\', '/']))
}

impl World {
    /// Adds (or replaces) a log-shipping configuration and schedules its jobs.
    pub(crate) fn add_log_shipping(&mut self, now: SimTime, cfg: LogShippingConfig) {
        self.pool.generation += 1;
        let generation = self.pool.generation;
        // One configuration per primary copy and per secondary copy.
        let clash = |l: &LogShipping| {
            l.cfg.database.eq_ignore_ascii_case(&cfg.database)
                && (l.cfg.primary.eq_ignore_ascii_case(&cfg.primary)
                    || l.cfg.secondary.eq_ignore_ascii_case(&cfg.secondary))
        };
        for l in self.pool.shipping.iter_mut().filter(|l| clash(l)) {
            l.primary_active = false;
            l.secondary_configured = false;
        }
        self.ensure_folder(&cfg.secondary.clone(), &cfg.copy_destination.clone());
        let secondary_id = self.pool_guid("log-shipping", &format!("{}/{}", cfg.secondary, cfg.database));
        let index = self.pool.shipping.len();
        let jobs = [
            (Job::Backup, cfg.backup_interval),
            (Job::Copy, cfg.copy_interval),
            (Job::Restore, cfg.restore_interval),
        ];
        self.pool.shipping.push(LogShipping {
            cfg,
            secondary_id,
            primary_active: true,
            secondary_configured: true,
            last_copied: None,
            last_restored: None,
            generation,
        });
        for (job, every) in jobs {
            self.schedule(now + every, EventKind::LogShipping { job, index, generation });
        }
    }

    /// The configured log-shipping secondary of `db` on `instance`.
    pub(crate) fn secondary_config(&self, instance: &str, db: &str) -> Option<usize> {
        self.pool.shipping.iter().position(|l| {
            l.secondary_configured
                && l.cfg.secondary.eq_ignore_ascii_case(instance)
                && l.cfg.database.eq_ignore_ascii_case(db)
        })
    }

    /// Runs one job and schedules its next run (unless it was removed).
    pub(crate) fn run_log_shipping_job(&mut self, at: SimTime, job: Job, index: usize, generation: u64) {
        let Some(l) = self.pool.shipping.get(index).filter(|l| l.generation == generation) else {
            return;
        };
        let (alive, every) = match job {
            Job::Backup => (l.primary_active, l.cfg.backup_interval),
            Job::Copy => (l.secondary_configured, l.cfg.copy_interval),
            Job::Restore => (l.secondary_configured, l.cfg.restore_interval),
        };
        if !alive {
            return;
        }
        self.schedule(at + every, EventKind::LogShipping { job, index, generation });
        match job {
            Job::Backup => self.backup_job(at, index),
            Job::Copy => self.copy_job(at, index),
            Job::Restore => self.restore_job(at, index),
        }
    }

    /// Writes `<db>_<yyyyMMddHHmmss>.trn` with the log since the last log backup.
    fn backup_job(&mut self, at: SimTime, index: usize) {
        let cfg = self.pool.shipping[index].cfg.clone();
        let Some(d) = self.db_index(&cfg.primary, &cfg.database) else {
            return;
        };
        if !self.is_up(&cfg.primary) || self.pool.dbs[d].state != StandaloneState::Online {
            return;
        }
        let stamp = self.wall_time(at).strftime("%Y%m%d%H%M%S").to_string();
        let mut name = format!("{}_{stamp}.trn", self.pool.dbs[d].name);
        let mut n = 0;
        while self.file_exists(&cfg.primary, &join(&cfg.backup_share, &name)) {
            n += 1;
            name = format!("{}_{stamp}_{n}.trn", self.pool.dbs[d].name);
        }
        let path = join(&cfg.backup_share, &name);
        if self.check_writable(&cfg.primary, &path).is_err() {
            // The records wait for the next run.
            return;
        }
        let set = self.take_log_backup(at, d);
        if self.write_backup(&cfg.primary, &path, Arc::new(set)).is_ok() {
            self.note(at, format!("log shipping: {} backed up to {path}", cfg.database));
        }
    }

    /// Copies files newer than the last copied one from the share to the copy destination.
    fn copy_job(&mut self, at: SimTime, index: usize) {
        let l = &self.pool.shipping[index];
        let cfg = l.cfg.clone();
        let last = l
            .last_copied
            .as_ref()
            .and_then(|(p, _)| log_file_key(&cfg.database, base_name(p)));
        if !self.is_up(&cfg.secondary) {
            return;
        }
        let mut todo: Vec<_> = self
            .folder_files(&cfg.secondary, &cfg.backup_share)
            .into_iter()
            .filter_map(|(name, set)| Some((log_file_key(&cfg.database, &name)?, name, set)))
            .filter(|(key, _, _)| last.as_ref().is_none_or(|l| key > l))
            .collect();
        todo.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, name, set) in todo {
            let dest = join(&cfg.copy_destination, &name);
            if self.write_backup(&cfg.secondary, &dest, set).is_err() {
                return;
            }
            self.pool.shipping[index].last_copied = Some((dest, at));
        }
    }

    /// Applies copied files older than the restore delay, in order, WITH NORECOVERY.
    /// Files the database already has are skipped; a gap in the chain stops the run.
    fn restore_job(&mut self, at: SimTime, index: usize) {
        let l = &self.pool.shipping[index];
        let cfg = l.cfg.clone();
        let last = l
            .last_restored
            .as_ref()
            .and_then(|(p, _)| log_file_key(&cfg.database, base_name(p)));
        let Some(d) = self.db_index(&cfg.secondary, &cfg.database) else {
            return;
        };
        let blocked = self.pool.dbs[d].state != StandaloneState::Restoring
            || self.mirror_of(&cfg.secondary, &cfg.database).is_some()
            || self.user_sessions_in(&cfg.secondary, &cfg.database) > 0;
        if !self.is_up(&cfg.secondary) || blocked {
            return;
        }
        let mut todo: Vec<_> = self
            .folder_files(&cfg.secondary, &cfg.copy_destination)
            .into_iter()
            .filter_map(|(name, set)| Some((log_file_key(&cfg.database, &name)?, name, set)))
            .filter(|(key, _, set)| last.as_ref().is_none_or(|l| key > l) && set.taken_at + cfg.restore_delay <= at)
            .collect();
        todo.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, name, set) in todo {
            let path = join(&cfg.copy_destination, &name);
            match self.check_log_restore(d, &set) {
                Ok(()) => {
                    self.apply_log_restore(d, &set);
                    self.record_restore(at, d, 'L', false, Some(path.clone()));
                    self.pool.shipping[index].last_restored = Some((path, at));
                }
                // Already applied, or from another recovery fork: not part of this chain.
                Err(e) if matches!(e.number, 4326 | 4330) => {}
                Err(_) => break,
            }
        }
    }

    /// `sp_delete_log_shipping_secondary_database` on `instance`: the secondary's
    /// monitor and configuration rows and its copy and restore jobs go away; the
    /// primary's backup job keeps running. Returns whether there was one.
    pub fn delete_log_shipping_secondary(&mut self, now: SimTime, instance: &str, db: &str) -> bool {
        self.advance(now);
        let Some(i) = self.secondary_config(instance, db) else {
            return false;
        };
        self.pool.shipping[i].secondary_configured = false;
        self.note(now, format!("log shipping secondary {db} removed on {instance}"));
        true
    }

    /// Re-establishes log shipping `primary` → `secondary`: the primary copy must
    /// be ONLINE; the secondary's copy is re-initialised from it (RESTORING, its
    /// sessions closed), the configuration recreated and the jobs started.
    pub fn establish_log_shipping(
        &mut self,
        now: SimTime,
        database: &str,
        primary: &str,
        secondary: &str,
        backup_share: &str,
        copy_destination: &str,
    ) -> Result<(), String> {
        self.advance(now);
        let p = self
            .db_index(primary, database)
            .ok_or_else(|| format!("database {database:?} does not exist on {primary}"))?;
        if self.pool.dbs[p].state != StandaloneState::Online {
            return Err(format!("database {database:?} on {primary} is not ONLINE"));
        }
        self.instance_index(secondary)
            .ok_or_else(|| format!("no instance named {secondary:?}"))?;
        if !self.linked(primary, secondary) {
            return Err(format!("{primary} cannot reach {secondary}"));
        }
        if !backup_share.starts_with(r"\\") || self.check_writable(primary, &join(backup_share, "x")).is_err() {
            return Err(format!("{primary} cannot write to the backup share {backup_share:?}"));
        }
        if self.mirror_of(secondary, database).is_some() {
            return Err(format!("database {database:?} on {secondary} is mirrored"));
        }
        let (name, log, end, fork) = {
            let d = &self.pool.dbs[p];
            (d.name.clone(), d.log.clone(), d.end_lsn, d.fork)
        };
        let s = match self.db_index(secondary, &name) {
            Some(s) => s,
            None => self.add_database(secondary, &name, StandaloneState::Restoring, Vec::new(), fork),
        };
        self.close_sessions(secondary, &name);
        let copy = &mut self.pool.dbs[s];
        copy.log = log;
        copy.end_lsn = end;
        copy.log_backup_lsn = end;
        copy.fork = fork;
        copy.state = StandaloneState::Restoring;
        let every = Duration::from_secs(2);
        let previous = self
            .pool
            .shipping
            .iter()
            .rev()
            .find(|l| l.cfg.database.eq_ignore_ascii_case(database) && l.cfg.primary.eq_ignore_ascii_case(primary));
        let cfg = LogShippingConfig {
            database: name.clone(),
            primary: self.pool.dbs[p].instance.clone(),
            secondary: self.pool.dbs[s].instance.clone(),
            backup_share: backup_share.to_string(),
            copy_destination: copy_destination.to_string(),
            backup_interval: previous.map_or(every, |l| l.cfg.backup_interval),
            copy_interval: previous.map_or(every, |l| l.cfg.copy_interval),
            restore_interval: previous.map_or(every, |l| l.cfg.restore_interval),
            restore_delay: previous.map_or(Duration::ZERO, |l| l.cfg.restore_delay),
        };
        self.add_log_shipping(now, cfg);
        self.note(
            now,
            format!("log shipping of {name} established from {primary} to {secondary}"),
        );
        self.refresh(now);
        Ok(())
    }

    /// Takes a log backup of standalone database `d`: the records since the last
    /// log backup; the next one begins where this one ends.
    pub(crate) fn take_log_backup(&mut self, at: SimTime, d: usize) -> BackupSet {
        let id = self.next_backup_set();
        let db = &mut self.pool.dbs[d];
        let first = db.log_backup_lsn;
        // The backup itself writes log, so every log backup ends past its start.
        db.end_lsn += super::LSN_STEP;
        let last = db.end_lsn;
        db.log_backup_lsn = last;
        BackupSet {
            id,
            kind: super::files::BackupKind::Log,
            database: db.name.clone(),
            fork: db.fork,
            first_lsn: first,
            last_lsn: last,
            records: db
                .log
                .iter()
                .filter(|r| r.lsn >= first && r.lsn < last)
                .copied()
                .collect(),
            taken_at: at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_order_by_time_then_suffix() {
        let k = |n: &str| log_file_key("mgc", n);
        assert_eq!(k("MGC_20261121030002.trn"), Some(("20261121030002".into(), 0)));
        assert_eq!(k("mgc_20261121030002_2.trn"), Some(("20261121030002".into(), 2)));
        assert!(k("mgc_20261121030002_10.trn") > k("mgc_20261121030002_9.trn"));
        assert!(k("mgc_20261121030004.trn") > k("mgc_20261121030002_9.trn"));
        for other in [
            "mgccomp_20261121030002.trn",
            "mgc_2026.trn",
            "mgc_20261121030002.bak",
            "mgc_2026112103000x.trn",
        ] {
            assert_eq!(k(other), None, "{other}");
        }
        assert_eq!(base_name(r"D:\x\mgc_1.trn"), "mgc_1.trn");
        assert_eq!(join(r"\\fs\s\", "a"), r"\\fs\s\a");
    }
}
