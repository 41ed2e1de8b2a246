//! SQL Server's rules for the statements drover sends: where each must run,
//! what it refuses and with which error, and what it changes.

use super::config::{AvailabilityMode, ClusterType};
use super::replication::common_prefix;
use super::{BackupRecord, EventKind, RoleChange, SimTime, StoredRole, SuspendReason, SyncState, World};
use crate::sim::table::ServerError;

/// Errors for situations where SQL Server's own number is not documented in
/// the sources we have; the message says it comes from the simulator.
pub const SIM_UNVERIFIED: u32 = 50000;

fn err(number: u32, message: String) -> ServerError {
    ServerError::new(number, 16, message)
}

fn unverified(message: String) -> ServerError {
    ServerError::new(SIM_UNVERIFIED, 16, format!("[drover simulator] {message}"))
}

fn no_such(kind: &str, name: &str) -> ServerError {
    err(
        15151,
        format!("Cannot alter the {kind} '{name}', because it does not exist or you do not have permission."),
    )
}

fn not_primary(ag: &str) -> ServerError {
    err(
        41140,
        format!(
            "Availability group '{ag}' cannot process the ALTER AVAILABILITY GROUP command, because the local availability replica is not the primary replica. Connect to the server instance that is currently hosting the primary replica of this availability group, and rerun the command."
        ),
    )
}

fn cannot_become_primary(ag: &str) -> ServerError {
    err(
        41142,
        format!(
            "The availability replica for availability group '{ag}' on this instance of SQL Server cannot become the primary replica. One or more databases are not synchronized or have not joined the availability group. If the availability replica uses the asynchronous-commit mode, consider performing a forced manual failover (with possible data loss). Otherwise, once all local secondary databases are joined and synchronized, you can perform a planned manual failover to this secondary replica (without data loss). For more information, see SQL Server Books Online."
        ),
    )
}

/// 35220: the node hosting the replica is not online in a WSFC cluster with quorum.
fn no_quorum(what: &str) -> ServerError {
    err(
        35220,
        format!(
            "Could not process the operation ({what}). The Always On Availability Groups replica manager is waiting for the local Windows Server Failover Clustering (WSFC) node to be online in a cluster with quorum, and it is not: this node has lost quorum. Wait until quorum is restored (or force quorum on this node's side of the cluster), then retry the operation."
        ),
    )
}

impl World {
    /// The (AG, replica) indexes of `ag` on `instance`.
    fn ag_on(&self, instance: &str, ag: &str) -> Result<(usize, usize), ServerError> {
        let a = self.ag_index(ag).ok_or_else(|| no_such("availability group", ag))?;
        let r = self.ags[a]
            .replicas
            .iter()
            .position(|x| x.instance.eq_ignore_ascii_case(instance))
            .ok_or_else(|| no_such("availability group", ag))?;
        Ok((a, r))
    }

    /// The (AG, replica, database) indexes of database `db` hosted on `instance`.
    fn database_on(&self, instance: &str, db: &str) -> Option<(usize, usize, usize)> {
        self.ags.iter().enumerate().find_map(|(a, ag)| {
            let r = ag
                .replicas
                .iter()
                .position(|x| x.instance.eq_ignore_ascii_case(instance))?;
            let d = ag.databases.iter().position(|x| x.name.eq_ignore_ascii_case(db))?;
            Some((a, r, d))
        })
    }

    /// Whether `instance` knows a database called `db` (system, AG or standalone database).
    pub fn has_database(&self, instance: &str, db: &str) -> bool {
        ["master", "tempdb", "model", "msdb"]
            .iter()
            .any(|s| s.eq_ignore_ascii_case(db))
            || self.database_on(instance, db).is_some()
            || self.is_standalone(instance, db)
    }

    /// Whether a session on `instance` may use `db` (USE, login database,
    /// three-part names): an AG database only where the local replica is a
    /// writable primary (secondaries do not allow connections) and it is online.
    pub fn database_access(&self, instance: &str, db: &str) -> Result<(), ServerError> {
        if !self.has_database(instance, db) {
            return Err(err(
                911,
                format!("Database '{db}' does not exist. Make sure that the name is entered correctly."),
            ));
        }
        if let Some(access) = self.standalone_access(instance, db) {
            return access;
        }
        let Some((a, r, d)) = self.database_on(instance, db) else {
            return Ok(());
        };
        if self.ags[a].replicas[r].copies[d].recovery_pending {
            return Err(err(
                945,
                format!(
                    "Database '{db}' cannot be opened due to inaccessible files or insufficient memory or disk space.  See the SQL Server errorlog for details."
                ),
            ));
        }
        if !self.writable(a).contains(&r) {
            return Err(ServerError::new(
                976,
                14,
                format!(
                    "The target database, '{db}', is participating in an availability group and is currently not accessible for queries. Either data movement is suspended or the availability replica is not enabled for read access. To allow read-only access to this and other databases in the availability group, enable read access to one or more secondary availability replicas in the group.  For more information, see the ALTER AVAILABILITY GROUP statement in SQL Server Books Online."
                ),
            ));
        }
        Ok(())
    }

    /// `ALTER AVAILABILITY GROUP [ag] FAILOVER` (forced: `FORCE_FAILOVER_ALLOW_DATA_LOSS`), run on `instance`.
    pub fn failover(&mut self, now: SimTime, instance: &str, ag: &str, forced: bool) -> Result<(), ServerError> {
        self.advance(now);
        let (a, r) = self.ag_on(instance, ag)?;
        let name = self.ags[a].name.clone();
        if self.ags[a].cluster_type == ClusterType::External {
            return Err(err(
                47104,
                format!(
                    "This operation cannot be performed on the availability group '{name}' because it has EXTERNAL cluster type. Use the cluster management tools to perform the operation."
                ),
            ));
        }
        if !forced && self.ags[a].cluster_type == ClusterType::None {
            return Err(err(
                47122,
                format!(
                    "Cannot failover an availability replica for availability group '{name}' since it has CLUSTER_TYPE = NONE. Only force failover is supported in this version of SQL Server."
                ),
            ));
        }
        if !self.quorum_ok(a, r) {
            let what = if forced {
                "FORCE_FAILOVER_ALLOW_DATA_LOSS"
            } else {
                "FAILOVER"
            };
            return Err(no_quorum(&format!("{what} of availability group '{name}'")));
        }
        if !forced && self.quorum_forced(a, r) {
            return Err(err(
                41125,
                format!(
                    "Cannot perform a planned manual failover of availability group '{name}' to this instance: the WSFC cluster was started in forced quorum mode. Perform a forced manual failover (FORCE_FAILOVER_ALLOW_DATA_LOSS) instead; onto a SYNCHRONIZED replica it loses nothing."
                ),
            ));
        }
        if self.ags[a].pending.is_some() {
            return Err(err(
                41113,
                format!(
                    "Cannot failover availability group '{name}' to this instance of SQL Server. The availability group is already failing over. Wait for the failover to complete, then retry the command if needed."
                ),
            ));
        }
        if self.ags[a].replicas[r].role == StoredRole::Primary {
            return Err(err(
                41122,
                format!(
                    "Cannot failover availability group '{name}' to this instance of SQL Server. The local availability replica is already the primary replica of the availability group. To failover this availability group to another instance, run the failover command on that instance. If local instance is intended to be the primary replica of the availability group, then no action is required."
                ),
            ));
        }
        let leader = self.leader_for(a, r);
        let me = &self.ags[a].replicas[r];
        let synchronized = match leader {
            Some(p) => self.sync_pair(a, p, r) && me.copies.iter().all(|c| c.link_ok && c.synchronized),
            None => me.mode == AvailabilityMode::SynchronousCommit && me.copies.iter().all(|c| c.failover_ready),
        };
        let planned = if forced {
            // Under WSFC, forcing onto a synchronized secondary of a reachable
            // primary is carried out as a planned failover.
            self.ags[a].cluster_type == ClusterType::Wsfc && leader.is_some() && synchronized
        } else {
            let primary_exists = !self.writable(a).is_empty();
            let allowed = match self.ags[a].cluster_type {
                ClusterType::None => !primary_exists && synchronized,
                _ => synchronized,
            };
            if !allowed {
                return Err(cannot_become_primary(&name));
            }
            true
        };
        self.ags[a].pending = Some(RoleChange {
            target: r,
            forced: !planned,
        });
        for p in 0..self.ags[a].replicas.len() {
            if p != r && self.in_role_change(a, p) {
                // The old primary stops taking commits; those in flight are in doubt.
                for c in &mut self.ags[a].replicas[p].copies {
                    c.pending_acks.clear();
                }
            }
        }
        let at = now + self.cfg.latencies.failover;
        self.schedule(at, EventKind::CompleteRoleChange { ag: a });
        let kind = if planned {
            "FAILOVER"
        } else {
            "FORCE_FAILOVER_ALLOW_DATA_LOSS"
        };
        self.note(now, format!("{name}: {kind} accepted on {instance}"));
        self.refresh(now);
        Ok(())
    }

    /// `ALTER AVAILABILITY GROUP [ag] SET (ROLE = SECONDARY)`, run on the primary.
    pub fn demote(&mut self, now: SimTime, instance: &str, ag: &str) -> Result<(), ServerError> {
        self.advance(now);
        let (a, r) = self.ag_on(instance, ag)?;
        let name = self.ags[a].name.clone();
        if self.ags[a].cluster_type == ClusterType::Wsfc {
            // 47115 is documented for an option not valid on a WSFC group; that ROLE is what
            // raises it is our reading, not a documented mapping.
            return Err(err(
                47115,
                format!(
                    "The 'ROLE' option is not valid for WSFC availability group '{name}'. Remove the option or set the 'CLUSTER_TYPE' option to a different value, then retry the operation."
                ),
            ));
        }
        if !self.writable(a).contains(&r) {
            return Err(not_primary(&name));
        }
        // The demotion completes once synchronized partners hardened the log
        // already sent to them, so a switch done by the book loses nothing.
        for s in 0..self.ags[a].replicas.len() {
            if s == r || self.leader_for(a, s) != Some(r) {
                continue;
            }
            for d in 0..self.ags[a].databases.len() {
                if self.ags[a].replicas[s].copies[d].synchronized {
                    let log = self.ags[a].replicas[r].copies[d].log.clone();
                    self.ags[a].replicas[s].copies[d].log = log;
                }
            }
        }
        // A stale primary demoted after a forced failover elsewhere (NONE) keeps its divergent
        // log: its copies wait, suspended, to be resumed (which rolls that log back).
        let epoch = self.ags[a].replicas[r].epoch;
        let stale = self.ags[a]
            .replicas
            .iter()
            .enumerate()
            .any(|(p, o)| p != r && o.role == StoredRole::Primary && o.epoch > epoch);
        let rep = &mut self.ags[a].replicas[r];
        rep.role = StoredRole::Secondary;
        for c in &mut rep.copies {
            c.pending_acks.clear();
            if stale {
                c.suspended = Some(SuspendReason::Partner);
                c.synchronized = false;
            }
        }
        let how = if stale {
            ", databases suspended (it diverged)"
        } else {
            ""
        };
        self.note(now, format!("{name}: {instance} demoted to SECONDARY{how}"));
        self.refresh(now);
        Ok(())
    }

    /// For `MODIFY REPLICA ON N'server'`: run on the writable primary of `ag`,
    /// naming an existing replica. Returns (AG, named replica).
    fn replica_via_primary(
        &mut self,
        now: SimTime,
        instance: &str,
        ag: &str,
        server: &str,
    ) -> Result<(usize, usize), ServerError> {
        self.advance(now);
        let (a, r) = self.ag_on(instance, ag)?;
        if !self.writable(a).contains(&r) {
            return Err(not_primary(&self.ags[a].name));
        }
        let t = self.ags[a]
            .replicas
            .iter()
            .position(|x| x.instance.eq_ignore_ascii_case(server))
            .ok_or_else(|| no_such("availability replica", server))?;
        Ok((a, t))
    }

    /// `ALTER AVAILABILITY GROUP [ag] MODIFY REPLICA ON N'server' WITH (AVAILABILITY_MODE = …)`.
    pub fn set_availability_mode(
        &mut self,
        now: SimTime,
        instance: &str,
        ag: &str,
        server: &str,
        mode: AvailabilityMode,
    ) -> Result<(), ServerError> {
        let (a, t) = self.replica_via_primary(now, instance, ag, server)?;
        self.ags[a].replicas[t].mode = mode;
        let text = format!(
            "{}: replica {} set to {}",
            self.ags[a].name,
            self.ags[a].replicas[t].instance,
            mode.desc()
        );
        self.note(now, text);
        self.refresh(now);
        Ok(())
    }

    /// `… MODIFY REPLICA ON N'server' WITH (FAILOVER_MODE = …)`.
    pub fn set_failover_mode(
        &mut self,
        now: SimTime,
        instance: &str,
        ag: &str,
        server: &str,
        automatic: bool,
    ) -> Result<(), ServerError> {
        let (a, t) = self.replica_via_primary(now, instance, ag, server)?;
        if automatic && self.ags[a].replicas[t].mode != AvailabilityMode::SynchronousCommit {
            return Err(err(
                35211,
                format!(
                    "The MODIFY REPLICA operation is not allowed. The availability replica '{server}' would be in asynchronous-commit availability mode with automatic failover, which is an invalid configuration. Either change the failover mode to manual or the availability mode to synchronous commit, and retry the operation."
                ),
            ));
        }
        self.ags[a].replicas[t].failover_mode_automatic = automatic;
        Ok(())
    }

    /// `ALTER AVAILABILITY GROUP [ag] SET (REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = n)`.
    pub fn set_required_sync(&mut self, now: SimTime, instance: &str, ag: &str, n: i128) -> Result<(), ServerError> {
        self.advance(now);
        let (a, r) = self.ag_on(instance, ag)?;
        if !self.writable(a).contains(&r) {
            return Err(not_primary(&self.ags[a].name));
        }
        if n < 0 {
            return Err(unverified(format!(
                "REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = {n} is negative for availability group '{}'.",
                self.ags[a].name
            )));
        }
        // SQL Server compares with the synchronous-commit secondaries, not with every replica.
        let possible = self.ags[a]
            .replicas
            .iter()
            .enumerate()
            .filter(|&(i, rep)| i != r && rep.mode == AvailabilityMode::SynchronousCommit)
            .count() as i128;
        if n > possible {
            return Err(err(
                35248,
                format!(
                    "The operation is not allowed. The required_synchronized_secondaries_to_commit {n} is greater than the {possible} possible secondary synchronous-commit availability replicas in availability group '{}'. Change one of the existing asynchronous-commit replicas to the synchronous-commit availability mode, and retry the operation.",
                    self.ags[a].name
                ),
            ));
        }
        self.ags[a].required_sync = n as u32;
        let text = format!(
            "{}: REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = {n}",
            self.ags[a].name
        );
        self.note(now, text);
        Ok(())
    }

    /// `ALTER DATABASE [db] SET HADR RESUME`, run on the replica hosting the copy.
    /// Returns whether data movement was suspended (and is now resuming).
    pub fn resume_database(&mut self, now: SimTime, instance: &str, db: &str) -> Result<bool, ServerError> {
        self.advance(now);
        let (a, r, d) = self.database_on(instance, db).ok_or_else(|| no_such("database", db))?;
        let copy = &self.ags[a].replicas[r].copies[d];
        if copy.suspended.is_none() || copy.reverting_until.is_some() {
            return Ok(false);
        }
        if !self.quorum_ok(a, r) {
            return Err(no_quorum(&format!(
                "SET HADR RESUME of database '{}'",
                self.ags[a].databases[d].name
            )));
        }
        if self.ags[a].replicas[r].role == StoredRole::Primary {
            self.ags[a].replicas[r].copies[d].suspended = None;
        } else {
            let p = self.leader_for(a, r).ok_or_else(|| {
                err(
                    35250,
                    "The connection to the primary replica is not active.  The command cannot be processed.".into(),
                )
            })?;
            let mine = &self.ags[a].replicas[r].copies[d].log;
            let keep = common_prefix(mine, &self.ags[a].replicas[p].copies[d].log);
            if keep == mine.len() {
                self.ags[a].replicas[r].copies[d].suspended = None;
            } else {
                // Divergent log (a former primary's tail) is rolled back first.
                let until = now + self.cfg.latencies.revert;
                self.ags[a].replicas[r].copies[d].reverting_until = Some(until);
                self.schedule(
                    until,
                    EventKind::FinishRevert {
                        ag: a,
                        replica: r,
                        db: d,
                    },
                );
            }
        }
        let text = format!(
            "{}: data movement resumed for {} on {instance}",
            self.ags[a].name, self.ags[a].databases[d].name
        );
        self.note(now, text);
        self.refresh(now);
        Ok(true)
    }

    /// `ALTER DATABASE [db] SET HADR SUSPEND`.
    pub fn suspend_database(&mut self, now: SimTime, instance: &str, db: &str) -> Result<(), ServerError> {
        self.advance(now);
        let (a, r, d) = self.database_on(instance, db).ok_or_else(|| no_such("database", db))?;
        self.ags[a].replicas[r].copies[d].suspended = Some(SuspendReason::User);
        self.refresh(now);
        Ok(())
    }

    /// Checks a `BACKUP DATABASE` and returns what it will record and how long it runs.
    pub fn begin_backup(
        &mut self,
        now: SimTime,
        instance: &str,
        db: &str,
        path: &str,
        copy_only: bool,
        checksum: bool,
    ) -> Result<(BackupRecord, std::time::Duration), ServerError> {
        self.advance(now);
        let (a, r, d) = self.database_on(instance, db).ok_or_else(|| {
            err(
                911,
                format!("Database '{db}' does not exist. Make sure that the name is entered correctly."),
            )
        })?;
        if path.trim().is_empty() {
            return Err(err(
                3201,
                "Cannot open backup device ''. Operating system error 3(The system cannot find the path specified.)."
                    .into(),
            ));
        }
        let rep = &self.ags[a].replicas[r];
        let copy = &rep.copies[d];
        if rep.role == StoredRole::Secondary {
            if !copy_only {
                // A secondary takes only copy-only full backups.
                return Err(err(
                    3059,
                    "This BACKUP or RESTORE command is not supported on a database mirror or secondary replica.".into(),
                ));
            }
            // A secondary backs up only while it talks to the primary and is
            // SYNCHRONIZED or SYNCHRONIZING.
            if !matches!(
                self.sync_state(a, r, d),
                SyncState::Synchronized | SyncState::Synchronizing
            ) {
                return Err(err(
                    3062,
                    format!(
                        "Cannot backup from a HADRON secondary because it is not in Synchronizing or Synchronized state (database '{db}' on {instance})."
                    ),
                ));
            }
        }
        if copy.recovery_pending {
            return Err(err(
                945,
                format!(
                    "Database '{db}' cannot be opened due to inaccessible files or insufficient memory or disk space.  See the SQL Server errorlog for details."
                ),
            ));
        }
        let record = BackupRecord {
            instance: rep.instance.clone(),
            database: self.ags[a].databases[d].name.clone(),
            path: path.to_string(),
            copy_only,
            checksum,
            last_lsn: copy.log.last().map_or(0, |l| l.lsn),
            transactions: copy.log.len(),
            at: now,
        };
        Ok((record, self.cfg.latencies.backup))
    }

    /// Records a backup that ran to completion.
    pub fn record_backup(&mut self, now: SimTime, record: BackupRecord) {
        self.advance(now);
        self.note(
            now,
            format!(
                "backup of {} on {} written to {}",
                record.database, record.instance, record.path
            ),
        );
        self.backups.push(record);
    }
}
