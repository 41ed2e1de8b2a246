//! The primary is at the desired site: finish a transition (NONE's settings and demoted
//! replica, declared modes), then keep steady state (modes, resume when allowed).

use super::*;

impl Planner<'_> {
    pub(super) fn at_desired_site(&mut self, p: usize) -> Result<Decision, Decision> {
        if self.spec().cluster_type == ClusterType::External {
            self.report_unmanaged(p);
            let phase = if self.degraded.is_empty() {
                Phase::Steady
            } else {
                Phase::Degraded
            };
            return Ok((Next::Steady, phase));
        }
        if let Some(t) = self.journal.transition.clone() {
            if let Some(next) = self.finishing_step(p, &t)? {
                return Ok((next, phase_of(t.kind)));
            }
            let here = t.to_replica.eq_ignore_ascii_case(self.name(p));
            if here && !t.failover_issued {
                // Recording it would put a lossless-looking switch over the record of the forced
                // failover that really moved the role, and with it the tail that failover left.
                self.notices.push(Notice::TransitionOvertaken {
                    to: t.to_replica.clone(),
                });
            } else if here {
                // Copies with an earlier failover's unmeasured tail are never resumed here.
                let resume_demoted = t.demoted
                    && !t
                        .from_replica
                        .as_deref()
                        .and_then(|n| self.facts.index_of_name(n))
                        .is_some_and(|old| self.loss_unmeasured_on(old));
                self.journal.last_failover = Some(FailoverRecord {
                    kind: t.kind,
                    from_site: t.from_site.clone(),
                    from_replica: t.from_replica.clone(),
                    to_site: t.to_site.clone(),
                    to_replica: t.to_replica.clone(),
                    started_at: t.started_at.clone(),
                    finished_at: self.now(),
                    fork: t.fork.clone(),
                    data_loss: (t.kind != TransitionKind::Failover).then(|| DataLoss {
                        seconds: Some(0),
                        ..DataLoss::default()
                    }),
                    discard_confirmed: None,
                    resume_demoted,
                });
                self.notices.push(Notice::TransitionFinished {
                    kind: t.kind.as_str(),
                    to: t.to_replica.clone(),
                });
                self.measure_loss();
            } else {
                self.notices.push(Notice::TransitionCancelled {
                    to: t.to_replica.clone(),
                });
            }
            self.journal.transition = None;
        }
        if let Some(next) = self.restore_modes(p)? {
            return Ok((next, Phase::Degraded));
        }
        if let Some(next) = self.restore_required_synchronized(p)? {
            return Ok((next, Phase::Degraded));
        }
        if let Some(next) = self.resume_demoted_after_switch()? {
            return Ok((next, Phase::Degraded));
        }
        if let Some(next) = self.resume_secondaries(p)? {
            return Ok((next, Phase::Degraded));
        }
        if self.degraded.is_empty() {
            Ok((Next::Steady, Phase::Steady))
        } else {
            Ok((Next::Steady, Phase::Degraded))
        }
    }

    /// What is left after the role change: NONE's settings and demoted replica, then the declared modes.
    pub(super) fn finishing_step(&mut self, p: usize, t: &Transition) -> Result<Option<Next>, Decision> {
        let group = self.group()?;
        if let Some(before) = t.required_synchronized_before
            && let Some(now) = self.facts.required_synchronized()
            && now != before
        {
            let count = u8::try_from(before.max(0)).unwrap_or(u8::MAX);
            return Ok(Some(self.step(
                p,
                Action::SetRequiredSynchronizedSecondaries { group, count },
                format!(
                    "restore REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = {count} on {}",
                    self.name(p)
                ),
                |_| {},
            )));
        }
        if t.demoted
            && let Some(old) = t.from_replica.as_deref().and_then(|n| self.facts.index_of_name(n))
            && let Some(next) = self.resume_demoted(old)?
        {
            return Ok(Some(next));
        }
        self.restore_modes(p)
    }

    /// The next copy of the demoted former primary `old` to resume, if it can be observed and
    /// has one suspended (the demotion suspended them; it was verified complete, so nothing
    /// diverged).
    fn resume_demoted(&mut self, old: usize) -> Result<Option<Next>, Decision> {
        if !self.facts.replicas[old].usable() || self.loss_unmeasured_on(old) {
            return Ok(None);
        }
        for d in 0..self.spec().databases.len() {
            if self.facts.is_suspended(old, d) && self.facts.sync_state(old, d) != Some(&SyncState::Reverting) {
                if let Some(why) = self.discard_unconfirmed(old) {
                    return Err(blocked(why, Phase::AwaitingConfirmation));
                }
                let database = self.database(d)?;
                return Ok(Some(self.step(
                    old,
                    Action::ResumeDataMovement { database },
                    format!(
                        "resume {} on the demoted former primary {} (it was synchronized: nothing diverged)",
                        self.spec().databases[d],
                        self.name(old)
                    ),
                    |_| {},
                )));
            }
        }
        Ok(None)
    }

    /// A NONE switch that finished while its demoted former primary could not be reached: its
    /// copies are resumed when it answers again, and the record says so until then.
    fn resume_demoted_after_switch(&mut self) -> Result<Option<Next>, Decision> {
        let Some(record) = self.journal.last_failover.as_ref().filter(|r| r.resume_demoted) else {
            return Ok(None);
        };
        let Some(old) = record.from_replica.as_deref().and_then(|n| self.facts.index_of_name(n)) else {
            return Ok(None);
        };
        if !self.facts.replicas[old].usable() {
            self.degraded.push(format!(
                "{} (demoted by the last switch) cannot be reached; its copies are resumed when it answers",
                self.name(old)
            ));
            return Ok(None);
        }
        if let Some(next) = self.resume_demoted(old)? {
            return Ok(Some(next));
        }
        // Its copies are suspended by the new primary a moment after the force: the duty ends only
        // once every copy is seen moving data again.
        let moving = (0..self.spec().databases.len()).all(|d| {
            matches!(
                self.facts.sync_state(old, d),
                Some(SyncState::Synchronizing | SyncState::Synchronized)
            )
        });
        if moving && let Some(record) = self.journal.last_failover.as_mut() {
            record.resume_demoted = false;
        }
        Ok(None)
    }

    /// MODIFY REPLICA for the first replica whose configured mode is not the declared one.
    pub(super) fn restore_modes(&mut self, p: usize) -> Result<Option<Next>, Decision> {
        let group = self.group()?;
        for (r, replica) in self.spec().replicas.iter().enumerate() {
            let want = declared(replica.availability_mode);
            match self.facts.mode(r) {
                Some(m) if *m == want => {}
                Some(m) => {
                    return Ok(Some(self.step(
                        p,
                        Action::SetAvailabilityMode {
                            group,
                            replica_server_name: replica.server_name.clone(),
                            mode: replica.availability_mode.into(),
                        },
                        format!("set {} back to its declared {want} (it is {m})", replica.server_name),
                        |_| {},
                    )));
                }
                None => self.degraded.push(format!(
                    "{}: not listed in the group's replicas on the primary",
                    replica.server_name
                )),
            }
        }
        Ok(None)
    }

    /// The declared REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT, set only once that many
    /// synchronous secondaries are SYNCHRONIZED: setting it earlier would stop every commit.
    pub(super) fn restore_required_synchronized(&mut self, p: usize) -> Result<Option<Next>, Decision> {
        let Some(want) = self.spec().required_synchronized_secondaries else {
            return Ok(None);
        };
        let now = self.facts.required_synchronized();
        if now == Some(i32::from(want)) {
            return Ok(None);
        }
        let group = self.group()?;
        let dbs = self.spec().databases.len();
        let ready = (0..self.facts.replicas.len())
            .filter(|&r| {
                r != p
                    && is_sync(self.facts.mode(r))
                    && (0..dbs).all(|d| self.facts.sync_state(r, d) == Some(&SyncState::Synchronized))
            })
            .count();
        // Lowering it never stops commits; raising it waits for enough SYNCHRONIZED partners.
        if now.is_some_and(|n| n > i32::from(want)) || ready >= usize::from(want) {
            return Ok(Some(self.step(
                p,
                Action::SetRequiredSynchronizedSecondaries { group, count: want },
                format!(
                    "set REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = {want} on {} as declared (it is {})",
                    self.name(p),
                    now.map_or("not reported".to_string(), |n| n.to_string())
                ),
                |_| {},
            )));
        }
        self.degraded.push(format!(
            "requiredSynchronizedSecondaries {want} is not set yet: only {ready} synchronous secondar{} SYNCHRONIZED, and requiring more would stop every commit",
            if ready == 1 { "y is" } else { "ies are" }
        ));
        Ok(None)
    }

    /// Steady state: resume suspended secondary copies when the policy allows.
    pub(super) fn resume_secondaries(&mut self, p: usize) -> Result<Option<Next>, Decision> {
        let mut awaiting = None;
        for r in (0..self.facts.replicas.len()).filter(|&r| r != p) {
            for d in 0..self.spec().databases.len() {
                let db = &self.spec().databases[d];
                if self.facts.sync_state(r, d) == Some(&SyncState::Reverting) {
                    self.degraded.push(format!(
                        "{db} on {}: REVERTING (rolling back divergent log)",
                        self.name(r)
                    ));
                    continue;
                }
                if !self.facts.is_suspended(r, d) {
                    continue;
                }
                let why = self
                    .facts
                    .copy(r, d)
                    .and_then(|c| c.suspend_reason.as_ref())
                    .map_or_else(|| "no reason given".to_string(), |x| x.to_string());
                if !self.spec().auto_resume {
                    self.degraded.push(format!(
                        "{db} on {}: data movement suspended ({why}); autoResume is off, so resume it by hand or enable autoResume",
                        self.name(r)
                    ));
                    continue;
                }
                if !self.facts.replicas[r].usable() {
                    continue;
                }
                if self.loss_unmeasured_on(r) {
                    self.degraded.push(format!(
                        "{db} on {}: not resumed until the last failover's loss is measured on it",
                        self.name(r)
                    ));
                    continue;
                }
                if let Some(why) = self.discard_unconfirmed(r) {
                    // One consent covers all of the replica's copies: the others wait with it.
                    awaiting = Some(why);
                    break;
                }
                let database = self.database(d)?;
                return Ok(Some(self.step(
                    r,
                    Action::ResumeDataMovement { database },
                    format!("resume {db} on {} (suspended: {why}; autoResume is on)", self.name(r)),
                    |_| {},
                )));
            }
        }
        match awaiting {
            Some(why) => Err(blocked(why, Phase::AwaitingConfirmation)),
            None => Ok(None),
        }
    }

    /// Cluster type EXTERNAL is observed only: what differs from the spec is reported, not changed.
    pub(super) fn report_unmanaged(&mut self, p: usize) {
        for (r, replica) in self.spec().replicas.iter().enumerate() {
            let want = declared(replica.availability_mode);
            if let Some(m) = self.facts.mode(r)
                && *m != want
            {
                self.degraded.push(format!(
                    "{}: availability mode is {m}, declared {want}; cluster type EXTERNAL, so drover does not change it",
                    replica.server_name
                ));
            }
            if r == p {
                continue;
            }
            for (d, db) in self.spec().databases.iter().enumerate() {
                if self.facts.is_suspended(r, d) {
                    self.degraded.push(format!(
                        "{db} on {}: data movement suspended; cluster type EXTERNAL, so drover does not resume it",
                        replica.server_name
                    ));
                }
            }
        }
    }
}
