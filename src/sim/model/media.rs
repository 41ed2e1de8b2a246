//! BACKUP and RESTORE of standalone databases, with SQL Server's preconditions
//! and error numbers. A statement is checked when it starts (errors come at
//! once), then checked again and carried out when its latency has passed.

use super::files::{BackupKind, BackupSet};
use super::standalone::{StandaloneState, not_exists};
use super::{SimTime, World};
use crate::sim::table::ServerError;
use std::sync::Arc;
use std::time::Duration;

/// A BACKUP or RESTORE statement on a standalone database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOp {
    BackupDatabase {
        database: String,
        path: String,
        init: bool,
    },
    BackupLog {
        database: String,
        path: String,
        init: bool,
        norecovery: bool,
    },
    RestoreLog {
        database: String,
        path: String,
        recovery: bool,
    },
    /// Without a path: recovery only.
    RestoreDatabase {
        database: String,
        path: Option<String>,
        replace: bool,
        recovery: bool,
    },
}

/// The statement's name in messages ("RESTORE LOG is terminating abnormally.").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaVerb {
    BackupDatabase,
    BackupLog,
    RestoreDatabase,
    RestoreLog,
}

impl MediaVerb {
    pub fn text(self) -> &'static str {
        match self {
            Self::BackupDatabase => "BACKUP DATABASE",
            Self::BackupLog => "BACKUP LOG",
            Self::RestoreDatabase => "RESTORE DATABASE",
            Self::RestoreLog => "RESTORE LOG",
        }
    }

    /// Error 3013, which follows the specific error of a failed BACKUP or RESTORE.
    pub fn terminated(self) -> ServerError {
        ServerError::new(3013, 16, format!("{} is terminating abnormally.", self.text()))
    }
}

impl MediaOp {
    pub fn verb(&self) -> MediaVerb {
        match self {
            Self::BackupDatabase { .. } => MediaVerb::BackupDatabase,
            Self::BackupLog { .. } => MediaVerb::BackupLog,
            Self::RestoreLog { .. } => MediaVerb::RestoreLog,
            Self::RestoreDatabase { .. } => MediaVerb::RestoreDatabase,
        }
    }

    fn database(&self) -> &str {
        match self {
            Self::BackupDatabase { database, .. }
            | Self::BackupLog { database, .. }
            | Self::RestoreLog { database, .. }
            | Self::RestoreDatabase { database, .. } => database,
        }
    }
}

/// The session running a statement: its id and current database.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub spid: i16,
    pub database: &'a str,
}

fn sim_error(message: String) -> ServerError {
    ServerError::new(
        super::rules::SIM_UNVERIFIED,
        16,
        format!("[drover simulator] {message}"),
    )
}

fn in_use() -> ServerError {
    ServerError::new(
        3101,
        16,
        "Exclusive access could not be obtained because the database is in use.",
    )
}

/// (number, text) of the informational messages of a BACKUP/RESTORE that succeeded.
pub type MediaMessages = Vec<(u32, String)>;

impl World {
    /// Checks a BACKUP/RESTORE as it would start now; Ok(how long it runs).
    pub fn check_media(
        &mut self,
        now: SimTime,
        instance: &str,
        caller: Caller<'_>,
        op: &MediaOp,
    ) -> Result<Duration, ServerError> {
        self.advance(now);
        self.media(now, instance, caller, op, false)?;
        Ok(match op {
            MediaOp::BackupDatabase { .. } | MediaOp::BackupLog { .. } => self.cfg.latencies.backup,
            _ => self.cfg.latencies.restore,
        })
    }

    /// Carries out a BACKUP/RESTORE (checked again: the world may have moved on).
    pub fn run_media(
        &mut self,
        now: SimTime,
        instance: &str,
        caller: Caller<'_>,
        op: &MediaOp,
        took: Duration,
    ) -> Result<MediaMessages, ServerError> {
        self.advance(now);
        let pages = self.media(now, instance, caller, op, true)?;
        self.refresh(now);
        let db = op.database();
        let secs = took.as_secs_f64().max(0.001);
        let rate = pages as f64 * 8.0 / 1024.0 / secs;
        let done = |verb: &str, pages: u64| {
            (
                3014,
                format!("{verb} successfully processed {pages} pages in {secs:.3} seconds ({rate:.3} MB/sec)."),
            )
        };
        let data = (
            4035,
            format!("Processed {pages} pages for database '{db}', file '{db}' on file 1."),
        );
        let log = |n: u64| {
            (
                4035,
                format!("Processed {n} pages for database '{db}', file '{db}_log' on file 1."),
            )
        };
        Ok(match op {
            MediaOp::BackupDatabase { .. } => vec![data, log(2), done("BACKUP DATABASE", pages + 2)],
            MediaOp::BackupLog { .. } => vec![log(pages), done("BACKUP LOG", pages)],
            MediaOp::RestoreLog { .. } => vec![log(pages), done("RESTORE LOG", pages)],
            MediaOp::RestoreDatabase { path: None, .. } => vec![done("RESTORE DATABASE", 0)],
            MediaOp::RestoreDatabase { .. } => vec![data, log(2), done("RESTORE DATABASE", pages + 2)],
        })
    }

    /// Checks `op` and, if `apply`, carries it out; returns the pages it moved.
    fn media(
        &mut self,
        now: SimTime,
        instance: &str,
        caller: Caller<'_>,
        op: &MediaOp,
        apply: bool,
    ) -> Result<u64, ServerError> {
        let name = op.database();
        let d = self.db_index(instance, name);
        let restoring = matches!(op, MediaOp::RestoreLog { .. } | MediaOp::RestoreDatabase { .. });
        let system = self.database_id_on(instance, name).filter(|id| *id <= 4);
        if restoring && system.is_some_and(|id| id > 1) {
            return Err(sim_error(format!(
                "restoring system database '{name}' is not simulated"
            )));
        }
        if restoring && system == Some(1) {
            return Err(ServerError::new(
                3108,
                16,
                "To restore the master database, the server must be running in single-user mode. For information on starting in single-user mode, see \"How to: Start an Instance of SQL Server (sqlservr.exe)\" in Books Online.",
            ));
        }
        if d.is_none() && self.has_database(instance, name) {
            return Err(if restoring {
                ServerError::new(
                    3104,
                    16,
                    format!(
                        "RESTORE cannot operate on database '{name}' because it is configured for database mirroring or has joined an availability group. If you intend to restore the database, use ALTER DATABASE to remove mirroring or to remove the database from its availability group."
                    ),
                )
            } else {
                sim_error(format!("'{name}' is not a standalone database on {instance}"))
            });
        }
        if restoring {
            if caller.database.eq_ignore_ascii_case(name) {
                return Err(ServerError::new(
                    3102,
                    16,
                    format!(
                        "RESTORE cannot process database '{name}' because it is in use by this session. It is recommended that the master database be used when performing this operation."
                    ),
                ));
            }
            if d.is_some() && self.mirror_of(instance, name).is_some() {
                return Err(ServerError::new(
                    3104,
                    16,
                    format!(
                        "RESTORE cannot operate on database '{name}' because it is configured for database mirroring or has joined an availability group. If you intend to restore the database, use ALTER DATABASE to remove mirroring or to remove the database from its availability group."
                    ),
                ));
            }
            if d.is_some() && self.user_sessions_in(instance, name) > 0 {
                return Err(in_use());
            }
        }
        match op {
            MediaOp::BackupDatabase { path, init, .. } | MediaOp::BackupLog { path, init, .. } => {
                let d = d.ok_or_else(|| not_exists(name))?;
                let norecovery = matches!(op, MediaOp::BackupLog { norecovery: true, .. });
                self.check_backup(instance, caller, d, path, *init, norecovery)?;
                if !apply {
                    return Ok(0);
                }
                let set = if matches!(op, MediaOp::BackupLog { .. }) {
                    self.take_log_backup(now, d)
                } else {
                    self.take_full_backup(now, d)
                };
                let pages = pages(&set);
                self.write_backup(instance, path, Arc::new(set))?;
                if norecovery {
                    self.pool.dbs[d].state = StandaloneState::Restoring;
                }
                self.note(
                    now,
                    format!("{} of {name} on {instance} written to {path}", op.verb().text()),
                );
                Ok(pages)
            }
            MediaOp::RestoreLog { path, recovery, .. } => {
                let d = d.ok_or_else(|| not_exists(name))?;
                let set = self.read_backup(instance, path)?;
                if self.pool.dbs[d].state != StandaloneState::Restoring {
                    return Err(ServerError::new(
                        3117,
                        16,
                        "The log or differential backup cannot be restored because no files are ready to rollforward.",
                    ));
                }
                self.check_log_restore(d, &set)?;
                if apply {
                    self.apply_log_restore(d, &set);
                    if *recovery {
                        self.recover(d);
                    }
                    self.record_restore(now, d, 'L', *recovery, Some(path.clone()));
                    self.note(now, format!("RESTORE LOG of {name} on {instance} from {path}"));
                }
                Ok(pages(&set))
            }
            MediaOp::RestoreDatabase {
                path: None, recovery, ..
            } => {
                let d = d.ok_or_else(|| not_exists(name))?;
                if self.pool.dbs[d].state == StandaloneState::Online {
                    return Err(ServerError::new(3153, 16, "The database is already fully recovered."));
                }
                if !recovery {
                    return Err(sim_error("RESTORE DATABASE without FROM needs WITH RECOVERY".into()));
                }
                if apply {
                    self.recover(d);
                    self.record_restore(now, d, 'D', true, None);
                    self.note(now, format!("{name} on {instance} recovered: ONLINE"));
                }
                Ok(0)
            }
            MediaOp::RestoreDatabase {
                path: Some(path),
                replace,
                recovery,
                ..
            } => {
                let set = self.read_backup(instance, path)?;
                if set.kind != BackupKind::Full {
                    return Err(sim_error(format!(
                        "'{path}' holds a log backup, not a full database backup"
                    )));
                }
                if let Some(d) = d.filter(|_| !replace) {
                    if !set.database.eq_ignore_ascii_case(name) {
                        return Err(ServerError::new(
                            3154,
                            16,
                            format!(
                                "The backup set holds a backup of a database other than the existing '{name}' database."
                            ),
                        ));
                    }
                    if self.pool.dbs[d].state == StandaloneState::Online {
                        return Err(ServerError::new(
                            3159,
                            16,
                            format!(
                                "The tail of the log for the database \"{name}\" has not been backed up. Use BACKUP LOG WITH NORECOVERY to backup the log if it contains work you do not want to lose. Use the WITH REPLACE or WITH STOPAT clause of the RESTORE statement to just overwrite the contents of the log."
                            ),
                        ));
                    }
                }
                if apply {
                    let d = match d {
                        Some(d) => d,
                        None => self.add_database(instance, name, StandaloneState::Restoring, Vec::new(), set.fork),
                    };
                    let db = &mut self.pool.dbs[d];
                    db.log = set.records.clone();
                    db.end_lsn = set.last_lsn;
                    db.log_backup_lsn = set.last_lsn;
                    db.fork = set.fork;
                    db.state = StandaloneState::Restoring;
                    db.last_backup_set = set.id;
                    if *recovery {
                        self.recover(d);
                    }
                    self.record_restore(now, d, 'D', *recovery, Some(path.clone()));
                    self.note(now, format!("RESTORE DATABASE {name} on {instance} from {path}"));
                }
                Ok(pages(&set))
            }
        }
    }

    fn check_backup(
        &self,
        instance: &str,
        caller: Caller<'_>,
        d: usize,
        path: &str,
        init: bool,
        norecovery: bool,
    ) -> Result<(), ServerError> {
        let db = &self.pool.dbs[d];
        if db.state != StandaloneState::Online {
            return Err(sim_error(format!(
                "database '{}' is RESTORING and cannot be backed up",
                db.name
            )));
        }
        let others = self.user_sessions_in(instance, &db.name) > 0;
        if norecovery && (others || caller.database.eq_ignore_ascii_case(&db.name)) {
            return Err(in_use());
        }
        if norecovery && self.mirror_of(instance, &db.name).is_some() {
            return Err(sim_error(format!(
                "database '{}' is mirrored: remove mirroring before BACKUP LOG WITH NORECOVERY",
                db.name
            )));
        }
        self.check_writable(instance, path)?;
        if !init && self.file_exists(instance, path) {
            return Err(sim_error(format!(
                "'{path}' exists; appending backup sets is not simulated, use WITH INIT"
            )));
        }
        Ok(())
    }

    /// Whether log backup `set` continues database `d`'s restore sequence.
    pub(crate) fn check_log_restore(&self, d: usize, set: &BackupSet) -> Result<(), ServerError> {
        let db = &self.pool.dbs[d];
        if set.kind != BackupKind::Log {
            return Err(sim_error(
                "the backup set is a full database backup, not a log backup".into(),
            ));
        }
        if !set.database.eq_ignore_ascii_case(&db.name) {
            return Err(ServerError::new(
                3154,
                16,
                format!(
                    "The backup set holds a backup of a database other than the existing '{}' database.",
                    db.name
                ),
            ));
        }
        if set.fork != db.fork {
            return Err(ServerError::new(
                4330,
                16,
                "This backup set cannot be applied because it is on a recovery path that is inconsistent with the database. The recovery path is the sequence of data and log backups that have brought the database to a particular recovery point. Find a compatible backup to restore, or restore the rest of the database to match a recovery point within this backup set, which will restore the database to a different point in time.",
            ));
        }
        let redo = db.end_lsn;
        if set.first_lsn > redo {
            return Err(ServerError::new(
                4305,
                16,
                format!(
                    "The log in this backup set begins at LSN {}, which is too recent to apply to the database. An earlier log backup that includes LSN {redo} can be restored.",
                    set.first_lsn
                ),
            ));
        }
        if set.last_lsn <= redo {
            return Err(ServerError::new(
                4326,
                16,
                format!(
                    "The log in this backup set terminates at LSN {}, which is too early to apply to the database. A more recent log backup that includes LSN {redo} can be restored.",
                    set.last_lsn
                ),
            ));
        }
        Ok(())
    }

    /// Rolls database `d` forward with `set` from its redo point (an overlap is skipped).
    pub(crate) fn apply_log_restore(&mut self, d: usize, set: &BackupSet) {
        let db = &mut self.pool.dbs[d];
        let redo = db.end_lsn;
        db.log.extend(set.records.iter().filter(|r| r.lsn >= redo).copied());
        db.end_lsn = set.last_lsn;
        db.log_backup_lsn = set.last_lsn;
        db.last_backup_set = set.id;
    }

    /// Ends the restore sequence: ONLINE, on a new recovery fork.
    fn recover(&mut self, d: usize) {
        let fork = self.new_fork();
        let db = &mut self.pool.dbs[d];
        db.state = StandaloneState::Online;
        db.fork = fork;
    }

    /// A full backup of database `d`: its whole log.
    fn take_full_backup(&mut self, at: SimTime, d: usize) -> BackupSet {
        let id = self.next_backup_set();
        let db = &mut self.pool.dbs[d];
        db.end_lsn += super::LSN_STEP;
        BackupSet {
            id,
            kind: BackupKind::Full,
            database: db.name.clone(),
            fork: db.fork,
            first_lsn: db.log.first().map_or(db.end_lsn, |l| l.lsn),
            last_lsn: db.end_lsn,
            records: db.log.clone(),
            taken_at: at,
        }
    }
}

fn pages(set: &BackupSet) -> u64 {
    1 + set.records.len() as u64 * 2
}
