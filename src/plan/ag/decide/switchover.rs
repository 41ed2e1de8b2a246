//! The primary is reachable at another site: the planned path, lossless by construction —
//! failback backups, resume the target, synchronous commit, SYNCHRONIZED, then the cluster
//! type's failover procedure.

use super::*;

impl Planner<'_> {
    /// The primary is reachable at another site: the planned path, lossless by construction.
    pub(super) fn switch_over(&mut self, p: usize, target: usize) -> Result<Decision, Decision> {
        if self.spec().cluster_type == ClusterType::External {
            return Err(blocked(
                "cluster type EXTERNAL: fail over through the cluster manager; drover only observes this group",
                Phase::Unmanaged,
            ));
        }
        let failback = self.journal.last_failover.as_ref().is_some_and(|f| {
            f.kind == TransitionKind::Failover
                && f.from_replica
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(self.name(target)))
        });
        let kind = if failback {
            TransitionKind::Failback
        } else {
            TransitionKind::Switchover
        };
        let phase = phase_of(kind);
        let t = self.begin(kind, Some(p), target);
        let (pn, tn) = (self.name(p), self.name(target));
        let group = self.group()?;
        self.estimate = Some(loss::estimate(&self.facts, target, None));

        let tr = &self.facts.replicas[target];
        if let Some(problem) = &tr.problem {
            return Ok(wait(format!("target {tn}: {problem}"), phase));
        }
        if tr.role() != Some(&Role::Secondary) {
            let role = tr.role().map_or("no role".to_string(), |r| r.to_string());
            return Ok(wait(
                format!("target {tn} reports {role}; waiting for SECONDARY"),
                phase,
            ));
        }
        if kind == TransitionKind::Failback
            && let Some(target_dir) = &self.spec().backup_before_failback
        {
            for (d, db) in self.spec().databases.iter().enumerate() {
                if t.backups.iter().any(|b| b.database.eq_ignore_ascii_case(db)) {
                    continue;
                }
                let path = backup_path(&target_dir.directory, db, &t.started_at);
                let database = self.database(d)?;
                let taken = BackupTaken {
                    database: db.clone(),
                    replica: pn.to_string(),
                    path: path.clone(),
                };
                let next = self.step(
                    p,
                    Action::CopyOnlyBackup {
                        database,
                        path: path.clone(),
                    },
                    format!("copy-only backup of {db} on {pn} to {path} before failing back"),
                    |j| {
                        if let Some(t) = j.transition.as_mut() {
                            t.backups.push(taken);
                        }
                    },
                );
                return Ok((next, phase));
            }
        }
        for d in 0..self.spec().databases.len() {
            let db = &self.spec().databases[d];
            match self.facts.sync_state(target, d) {
                Some(SyncState::Reverting) => {
                    return Ok(wait(
                        format!("{db} on {tn} is REVERTING; waiting for it to finish"),
                        phase,
                    ));
                }
                _ if self.facts.is_suspended(target, d) => {
                    if self.loss_unmeasured_on(target) {
                        return Ok(wait(
                            format!("measuring the last failover's loss on {tn} before resuming it"),
                            phase,
                        ));
                    }
                    if let Some(why) = self.discard_unconfirmed(target) {
                        return Ok(blocked(why, Phase::AwaitingConfirmation));
                    }
                    let database = self.database(d)?;
                    let next = self.step(
                        target,
                        Action::ResumeDataMovement { database },
                        format!("resume {db} on {tn} so it can catch up before the switch"),
                        |_| {},
                    );
                    return Ok((next, phase));
                }
                Some(SyncState::Synchronizing | SyncState::Synchronized) => {}
                other => {
                    let state = other.map_or("not reported".to_string(), |s| s.to_string());
                    return Ok(wait(
                        format!("{db} on {tn} is {state}; waiting for data movement"),
                        phase,
                    ));
                }
            }
        }
        for (r, name) in [(target, tn), (p, pn)] {
            if !is_sync(self.facts.mode(r)) {
                let next = self.step(
                    p,
                    Action::SetAvailabilityMode {
                        group: group.clone(),
                        replica_server_name: name.to_string(),
                        mode: CommitMode::Synchronous,
                    },
                    format!("set {name} to SYNCHRONOUS_COMMIT so the switch loses nothing"),
                    |_| {},
                );
                return Ok((next, phase));
            }
        }
        for (d, db) in self.spec().databases.iter().enumerate() {
            let state = self.facts.sync_state(target, d);
            if state != Some(&SyncState::Synchronized) {
                let state = state.map_or("not reported".to_string(), |s| s.to_string());
                return Ok(wait(
                    format!("waiting for {db} on {tn} to be SYNCHRONIZED (it is {state})"),
                    phase,
                ));
            }
        }
        let next = match self.spec().cluster_type {
            // Under forced quorum SQL Server refuses a planned FAILOVER (41125); forcing onto a
            // SYNCHRONIZED synchronous-commit target of a reachable primary is carried out as a
            // planned failover and loses nothing (the failback after a forced quorum).
            ClusterType::Wsfc if self.facts.quorum(target) == Some(&QuorumState::Forced) => self.step(
                target,
                Action::ForcedFailover { group },
                format!(
                    "failover to {tn} by FORCE_FAILOVER_ALLOW_DATA_LOSS: the cluster runs under forced quorum, where a planned FAILOVER is refused (41125); every database is SYNCHRONIZED, so nothing is lost"
                ),
                |j| {
                    if let Some(t) = j.transition.as_mut() {
                        t.failover_issued = true;
                    }
                },
            ),
            ClusterType::Wsfc => self.step(
                target,
                Action::PlannedFailover { group },
                format!("planned failover to {tn}: every database is SYNCHRONIZED"),
                |j| {
                    if let Some(t) = j.transition.as_mut() {
                        t.failover_issued = true;
                    }
                },
            ),
            ClusterType::None | ClusterType::External => {
                // `p` is primary, so a force journalled as issued did not hold (the target is forced only
                // once no replica is primary). Forget it, or after demoting `p` drover would wait forever
                // for the target instead of forcing it again.
                self.set_transition(|t| t.failover_issued = false);
                let required = self.facts.required_synchronized().unwrap_or(0);
                if required < 1 {
                    // Write-ahead: the value to restore is journalled before it is changed.
                    self.set_transition(|t| {
                        t.required_synchronized_before.get_or_insert(required);
                    });
                    self.step(
                        p,
                        Action::SetRequiredSynchronizedSecondaries { group, count: 1 },
                        format!("require one synchronized secondary on {pn} before demoting it"),
                        |_| {},
                    )
                } else {
                    self.step(
                        p,
                        Action::DemoteToSecondary { group },
                        format!("demote {pn} to SECONDARY (cluster type NONE): {tn} is SYNCHRONIZED"),
                        |j| {
                            if let Some(t) = j.transition.as_mut() {
                                t.demoted = true;
                            }
                        },
                    )
                }
            }
        };
        Ok((next, phase))
    }
}

/// `<directory><sep><database>_<UTC start>.bak`, with the directory's own separator.
fn backup_path(directory: &str, database: &str, started: &Time) -> String {
    let sep = if directory.contains('\\') { '\\' } else { '/' };
    let stamp = jiff::fmt::strtime::format("%Y%m%dT%H%M%SZ", started.0).unwrap_or_else(|_| "start".into());
    let safe: String = database
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{}{sep}{safe}_{stamp}.bak", directory.trim_end_matches(['/', '\\']))
}
