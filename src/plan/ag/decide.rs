//! The runbooks of an availability group, as one ordered list of rules. Each
//! reconcile asks them, top to bottom, for the first thing that is due.
//!
//! - The primary is at the desired site: finish a transition (NONE's demoted
//!   replica resumed, REQUIRED_SYNCHRONIZED_SECONDARIES and declared modes
//!   restored), then keep steady state (modes, resume if allowed).
//! - The primary is reachable elsewhere: planned switchover (or failback):
//!   backups, resume the target, synchronous commit, wait for SYNCHRONIZED,
//!   fail over by the cluster type's procedure.
//! - No primary can be seen: wait for a role change drover started, finish
//!   NONE's lossless demote-then-force, or a forced failover as the policy allows.

use super::facts::{Facts, seconds_between};
use super::loss::{self, confirmation_token};
use super::{Input, Journal, Next, Notice, Plan, Step};
use crate::api::availability_group::{
    AvailabilityGroupSpec, BackupTaken, ClusterType, ConfirmationRequest, DataLoss, FailoverRecord, ForcePolicy,
    LossEstimate, Phase, PrimarySnapshot, Transition, TransitionKind,
};
use crate::sql::{Action, AvailabilityMode, Command, CommitMode, Ident, Role, SyncState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Plans the next step for one availability group. Pure: same input, same plan.
pub fn plan(input: &Input<'_>) -> Plan {
    let facts = Facts::new(input.spec, input.observed);
    let mut planner = Planner {
        input,
        facts,
        journal: input.journal.clone(),
        notices: Vec::new(),
        degraded: Vec::new(),
        estimate: None,
    };
    let (next, phase) = planner.decide();
    let primary_seen = planner.facts.primary().map(|p| PrimarySnapshot {
        replica: Some(planner.facts.replicas[p].name().to_string()),
        site: Some(planner.facts.replicas[p].site().to_string()),
        detected_at: None,
        last_seen: Some(Time(input.now)),
        databases: planner.facts.last_commits(p),
    });
    Plan {
        next,
        journal: planner.journal,
        phase,
        estimate: planner.estimate,
        notices: planner.notices,
        degraded: planner.degraded,
        primary_seen,
    }
}

struct Planner<'a> {
    input: &'a Input<'a>,
    facts: Facts<'a>,
    journal: Journal,
    notices: Vec<Notice>,
    degraded: Vec<String>,
    estimate: Option<LossEstimate>,
}

type Decision = (Next, Phase);

fn wait(reason: impl Into<String>, phase: Phase) -> Decision {
    (Next::Wait(reason.into()), phase)
}

fn blocked(reason: impl Into<String>, phase: Phase) -> Decision {
    (Next::Blocked(reason.into()), phase)
}

fn phase_of(kind: TransitionKind) -> Phase {
    match kind {
        TransitionKind::Switchover => Phase::Switchover,
        TransitionKind::Failover => Phase::Failover,
        TransitionKind::Failback => Phase::Failback,
    }
}

fn is_sync(mode: Option<&AvailabilityMode>) -> bool {
    mode == Some(&AvailabilityMode::SynchronousCommit)
}

fn declared(mode: crate::api::availability_group::AvailabilityMode) -> AvailabilityMode {
    AvailabilityMode::from(CommitMode::from(mode))
}

impl<'a> Planner<'a> {
    fn spec(&self) -> &'a AvailabilityGroupSpec {
        self.input.spec
    }

    fn now(&self) -> Time {
        Time(self.input.now)
    }

    fn name(&self, r: usize) -> &'a str {
        &self.spec().replicas[r].server_name
    }

    fn group(&self) -> Result<Ident, Decision> {
        Ident::new(&self.spec().group_name).map_err(|e| blocked(format!("spec.groupName: {e}"), Phase::Invalid))
    }

    fn database(&self, d: usize) -> Result<Ident, Decision> {
        Ident::new(&self.spec().databases[d]).map_err(|e| blocked(format!("spec.databases[{d}]: {e}"), Phase::Invalid))
    }

    /// A step whose journal afterwards is the current one, edited by `after`.
    fn step(&self, on: usize, action: Action, reason: String, after: impl FnOnce(&mut Journal)) -> Next {
        let mut journal = self.journal.clone();
        after(&mut journal);
        Next::Act(Box::new(Step {
            command: Command {
                replica_server_name: self.name(on).to_string(),
                action,
            },
            reason,
            after: journal,
        }))
    }

    fn decide(&mut self) -> Decision {
        for r in &self.facts.replicas {
            if let Some(problem) = &r.problem {
                self.degraded.push(format!("{}: {problem}", r.name()));
            }
        }
        if !self.facts.blockers.is_empty() {
            return blocked(self.facts.blockers.join("; "), Phase::Degraded);
        }
        if self.facts.primaries.len() > 1 {
            let names: Vec<&str> = self.facts.primaries.iter().map(|&p| self.name(p)).collect();
            return blocked(
                format!(
                    "replicas {} all report PRIMARY; drover will not act until only one does",
                    names.join(", ")
                ),
                Phase::Degraded,
            );
        }
        let Some(target) = self.facts.index_of_site(&self.spec().primary_site) else {
            return blocked(
                format!("spec.primarySite {:?} has no replica", self.spec().primary_site),
                Phase::Invalid,
            );
        };
        self.measure_loss();
        match self.facts.primary() {
            Some(p) => {
                self.primary_is_back();
                let decision = if p == target {
                    self.at_desired_site(p)
                } else {
                    self.switch_over(p, target)
                };
                if self.estimate.is_none() {
                    self.estimate = self.best_secondary(p).map(|s| loss::estimate(&self.facts, s, None));
                }
                decision
            }
            None => self.without_primary(target),
        }
        .unwrap_or_else(|d| d)
    }

    /// The secondary a failover would most sensibly go to: the desired site's if it is not the
    /// primary, else the one with the most recent commits among those receiving log (a suspended
    /// copy's gap only grows with the clock; status says it is suspended instead).
    fn best_secondary(&self, p: usize) -> Option<usize> {
        let target = self.facts.index_of_site(&self.spec().primary_site)?;
        if target != p {
            return Some(target);
        }
        let receiving = |r: usize| (0..self.spec().databases.len()).all(|d| !self.facts.is_suspended(r, d));
        (0..self.facts.replicas.len())
            .filter(|&r| r != p && receiving(r))
            .max_by_key(|&r| {
                self.facts
                    .last_commits(r)
                    .iter()
                    .filter_map(|c| c.commit_time.as_ref().map(|t| t.0))
                    .min()
            })
    }

    /// After a forced failover, read what the old primary had beyond the fork as soon as it can
    /// be observed, before anything resumes it and rolls that tail back.
    fn measure_loss(&mut self) {
        let Some(record) = &self.journal.last_failover else {
            return;
        };
        if record.kind != TransitionKind::Failover || record.data_loss.is_some() {
            return;
        }
        if record.fork.is_empty() {
            let loss = DataLoss {
                seconds: None,
                note: Some("the fork point was not recorded, so the loss cannot be measured".into()),
                databases: Vec::new(),
            };
            if let Some(r) = self.journal.last_failover.as_mut() {
                r.data_loss = Some(loss);
            }
            return;
        }
        if let Some(loss) = loss::measure(&self.facts, record) {
            self.notices.push(Notice::LossMeasured {
                seconds: loss.seconds.unwrap_or(0),
                detail: loss::describe(&loss),
            });
            if let Some(r) = self.journal.last_failover.as_mut() {
                r.data_loss = Some(loss);
            }
        }
    }

    /// A reachable primary ends any outage bookkeeping, and an unstarted forced failover.
    fn primary_is_back(&mut self) {
        self.journal.primary_lost = None;
        self.journal.confirmation = None;
        if self
            .journal
            .transition
            .as_ref()
            .is_some_and(|t| t.kind == TransitionKind::Failover && !t.failover_issued)
        {
            self.journal.transition = None;
        }
    }

    fn at_desired_site(&mut self, p: usize) -> Result<Decision, Decision> {
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
            if t.to_replica.eq_ignore_ascii_case(self.name(p)) {
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
    fn finishing_step(&mut self, p: usize, t: &Transition) -> Result<Option<Next>, Decision> {
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
            && self.facts.replicas[old].usable()
            && !self.loss_unmeasured_on(old)
        {
            for d in 0..self.spec().databases.len() {
                if self.facts.is_suspended(old, d) && self.facts.sync_state(old, d) != Some(&SyncState::Reverting) {
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
        }
        self.restore_modes(p)
    }

    /// MODIFY REPLICA for the first replica whose configured mode is not the declared one.
    fn restore_modes(&mut self, p: usize) -> Result<Option<Next>, Decision> {
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

    /// Steady state: resume suspended secondary copies when the policy allows.
    fn resume_secondaries(&mut self, p: usize) -> Result<Option<Next>, Decision> {
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
                let database = self.database(d)?;
                return Ok(Some(self.step(
                    r,
                    Action::ResumeDataMovement { database },
                    format!("resume {db} on {} (suspended: {why}; autoResume is on)", self.name(r)),
                    |_| {},
                )));
            }
        }
        Ok(None)
    }

    /// Cluster type EXTERNAL is observed only: what differs from the spec is reported, not changed.
    fn report_unmanaged(&mut self, p: usize) {
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

    /// Whether `r` is the old primary of a forced failover whose loss is not yet recorded.
    fn loss_unmeasured_on(&self, r: usize) -> bool {
        self.journal.last_failover.as_ref().is_some_and(|f| {
            f.kind == TransitionKind::Failover
                && f.data_loss.is_none()
                && f.from_replica
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(self.name(r)))
        })
    }

    /// Starts a transition to `target` unless one to it is already journalled.
    /// A journalled one from another replica is stale (the primary moved meanwhile): it is started afresh.
    fn begin(&mut self, kind: TransitionKind, from: Option<usize>, target: usize) -> Transition {
        let target_name = self.name(target);
        let same_from = |t: &Transition| match (t.from_replica.as_deref(), from.map(|f| self.name(f))) {
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a.is_none() && b.is_none(),
        };
        match &self.journal.transition {
            Some(t) if t.to_replica.eq_ignore_ascii_case(target_name) && t.kind == kind && same_from(t) => t.clone(),
            _ => {
                let t = Transition {
                    kind,
                    to_site: self.spec().replicas[target].site.clone(),
                    to_replica: target_name.to_string(),
                    from_site: from.map(|f| self.spec().replicas[f].site.clone()),
                    from_replica: from.map(|f| self.name(f).to_string()),
                    started_at: self.now(),
                    backups: Vec::new(),
                    required_synchronized_before: None,
                    demoted: false,
                    failover_issued: false,
                    fork: Vec::new(),
                    confirmed_token: None,
                };
                self.journal.transition = Some(t.clone());
                t
            }
        }
    }

    fn set_transition(&mut self, edit: impl FnOnce(&mut Transition)) {
        if let Some(t) = self.journal.transition.as_mut() {
            edit(t);
        }
    }

    /// The primary is reachable at another site: the planned path, lossless by construction.
    fn switch_over(&mut self, p: usize, target: usize) -> Result<Decision, Decision> {
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

    /// No replica reports PRIMARY.
    fn without_primary(&mut self, target: usize) -> Result<Decision, Decision> {
        let tn = self.name(target);
        if let Some(t) = &self.journal.transition
            && t.failover_issued
            && t.to_replica.eq_ignore_ascii_case(tn)
        {
            let role = self.facts.replicas[target]
                .role()
                .map_or("unreachable".to_string(), |r| r.to_string());
            return Ok(wait(
                format!("waiting for {tn} to finish becoming primary (now {role})"),
                phase_of(t.kind),
            ));
        }
        if self.spec().cluster_type == ClusterType::External {
            return Err(blocked(
                "no primary, and cluster type EXTERNAL: fail over through the cluster manager",
                Phase::Unmanaged,
            ));
        }
        if let Some(decision) = self.lossless_force_after_demote(target)? {
            return Ok(decision);
        }
        if self.facts.replicas.iter().all(|r| !r.usable()) {
            // Nothing observed is not evidence of a lost primary (wrong login, drover's own network).
            return Ok(blocked(
                "no replica can be observed (see status.replicas); drover acts on nothing it cannot see",
                Phase::Waiting,
            ));
        }
        let lost = self.note_primary_lost();
        let old = lost.replica.as_deref().and_then(|n| self.facts.index_of_name(n));
        if old == Some(target) {
            return Ok(blocked(
                format!(
                    "the primary {tn} at the desired site is unreachable; waiting for it (set primarySite to another site to fail over)"
                ),
                Phase::Waiting,
            ));
        }
        let tr = &self.facts.replicas[target];
        if let Some(problem) = &tr.problem {
            return Ok(blocked(
                format!("no replica reports PRIMARY and the target {tn} cannot be used: {problem}"),
                Phase::Waiting,
            ));
        }
        let estimate = loss::estimate(&self.facts, target, Some(&lost));
        self.estimate = Some(estimate.clone());
        match tr.role() {
            Some(Role::Secondary | Role::Resolving) => {}
            other => {
                let role = other.map_or("no role".to_string(), |r| r.to_string());
                return Ok(wait(format!("target {tn} reports {role}"), Phase::Failover));
            }
        }
        if tr.connected() {
            return Ok(wait(
                format!(
                    "{tn} is still connected to a primary drover cannot reach; forcing now could make two primaries"
                ),
                Phase::Waiting,
            ));
        }
        for (d, db) in self.spec().databases.iter().enumerate() {
            match self.facts.sync_state(target, d) {
                Some(SyncState::Reverting | SyncState::Initializing) => {
                    return Ok(wait(
                        format!(
                            "{db} on {tn} is {}; never forced onto",
                            self.facts.sync_state(target, d).map_or("", |s| s.as_str())
                        ),
                        Phase::Waiting,
                    ));
                }
                None => return Ok(wait(format!("{db} on {tn} is not reported"), Phase::Waiting)),
                Some(_) => {}
            }
        }
        let from = old.filter(|&o| o != target);
        self.begin(TransitionKind::Failover, from, target);
        let outage = lost.detected_at.as_ref().map_or_else(String::new, |t| t.0.to_string());
        let known = estimate
            .known_loss_seconds
            .map_or_else(|| "unknown".to_string(), |s| format!("{s} s"));
        let window = match &estimate.unknown_since {
            Some(since) => format!(
                ", plus anything committed since {} (when drover last saw the primary)",
                since.0
            ),
            None => ", plus everything since an unknown time (drover did not see the primary before it was lost)"
                .to_string(),
        };
        let policy = &self.spec().forced_failover;
        match policy.policy {
            ForcePolicy::Never => Ok(blocked(
                format!(
                    "the primary is unreachable and forcedFailover.policy is Never: waiting for it to return (a forced failover to {tn} would lose {known}{window})"
                ),
                Phase::Waiting,
            )),
            ForcePolicy::Confirm => {
                let token = confirmation_token(&self.spec().group_name, &estimate, &outage);
                let request = ConfirmationRequest {
                    token: token.clone(),
                    target: tn.to_string(),
                    known_loss_seconds: estimate.known_loss_seconds,
                    unknown_since: estimate.unknown_since.clone(),
                    command: format!(
                        "kubectl annotate sqlag {} {}={token} --overwrite",
                        self.input.resource_name,
                        crate::api::availability_group::CONFIRM_ANNOTATION
                    ),
                };
                if self.journal.confirmation.as_ref() != Some(&request) {
                    self.notices.push(Notice::ConfirmationRequested {
                        token: token.clone(),
                        target: tn.to_string(),
                    });
                    self.journal.confirmation = Some(request.clone());
                }
                match self.input.confirmation {
                    Some(given) if given == token => Ok((self.force(target, Some(token)), Phase::Failover)),
                    Some(given) => {
                        self.notices.push(Notice::ConfirmationStale {
                            given: given.to_string(),
                            current: token.clone(),
                        });
                        Ok(blocked(
                            format!(
                                "the confirmation token {given:?} is not the current one (the target or the estimate changed); a forced failover to {tn} would lose {known}{window}; confirm with: {}",
                                request.command
                            ),
                            Phase::AwaitingConfirmation,
                        ))
                    }
                    None => Ok(blocked(
                        format!(
                            "a forced failover to {tn} would lose {known}{window}; confirm with: {}",
                            request.command
                        ),
                        Phase::AwaitingConfirmation,
                    )),
                }
            }
            ForcePolicy::Automatic => {
                let (Some(min_down), Some(max_loss)) = (policy.min_unreachable_seconds, policy.max_data_loss_seconds)
                else {
                    return Err(blocked("forcedFailover: Automatic needs both bounds", Phase::Invalid));
                };
                let down_for = lost.detected_at.as_ref().map_or(0, |t| seconds_between(t, &self.now()));
                if down_for < i64::from(min_down) {
                    return Ok(wait(
                        format!(
                            "the primary has been unreachable for {down_for} s; policy Automatic waits {min_down} s"
                        ),
                        Phase::Waiting,
                    ));
                }
                match estimate.known_loss_seconds {
                    Some(s) if s <= i64::from(max_loss) => Ok((self.force(target, None), Phase::Failover)),
                    Some(s) => Ok(blocked(
                        format!(
                            "a forced failover to {tn} would lose {s} s, more than maxDataLossSeconds {max_loss}: waiting"
                        ),
                        Phase::Waiting,
                    )),
                    None => Ok(blocked(
                        format!(
                            "the loss of a forced failover to {tn} is unknown, so policy Automatic cannot bound it: waiting"
                        ),
                        Phase::Waiting,
                    )),
                }
            }
        }
    }

    /// Records the lost primary the first time no primary is seen.
    fn note_primary_lost(&mut self) -> PrimarySnapshot {
        if let Some(lost) = &self.journal.primary_lost {
            return lost.clone();
        }
        let snapshot = match self.input.last_seen_primary {
            Some(seen) => PrimarySnapshot {
                detected_at: Some(self.now()),
                ..seen.clone()
            },
            None => {
                // Never saw it: if exactly one replica cannot be used, that one was the primary.
                let unusable: Vec<usize> = (0..self.facts.replicas.len())
                    .filter(|&r| !self.facts.replicas[r].usable())
                    .collect();
                let guess = match unusable[..] {
                    [only] => Some(only),
                    _ => None,
                };
                PrimarySnapshot {
                    replica: guess.map(|r| self.name(r).to_string()),
                    site: guess.map(|r| self.spec().replicas[r].site.clone()),
                    detected_at: Some(self.now()),
                    last_seen: None,
                    databases: Vec::new(),
                }
            }
        };
        self.notices.push(Notice::PrimaryLost {
            replica: snapshot.replica.clone().unwrap_or_else(|| "unknown".into()),
        });
        self.journal.primary_lost = Some(snapshot.clone());
        snapshot
    }

    /// Cluster type NONE, after drover demoted the old primary: forcing the target loses nothing
    /// when its log holds everything the demoted replica has. Verified, not assumed.
    fn lossless_force_after_demote(&mut self, target: usize) -> Result<Option<Decision>, Decision> {
        let Some(t) = self.journal.transition.clone() else {
            return Ok(None);
        };
        if self.spec().cluster_type != ClusterType::None
            || t.kind == TransitionKind::Failover
            || !t.to_replica.eq_ignore_ascii_case(self.name(target))
        {
            return Ok(None);
        }
        let Some(old) = t.from_replica.as_deref().and_then(|n| self.facts.index_of_name(n)) else {
            return Ok(None);
        };
        let (o, tr) = (&self.facts.replicas[old], &self.facts.replicas[target]);
        if !o.usable() || !tr.usable() || o.role() != Some(&Role::Secondary) {
            return Ok(None);
        }
        let tn = self.name(target);
        if !matches!(tr.role(), Some(Role::Secondary | Role::Resolving)) {
            let role = tr.role().map_or("no role".to_string(), |r| r.to_string());
            return Ok(Some(wait(format!("target {tn} reports {role}"), phase_of(t.kind))));
        }
        if tr.connected() {
            return Ok(Some(wait(
                format!("{tn} is still connected to a primary drover cannot see; forcing now could make two primaries"),
                phase_of(t.kind),
            )));
        }
        for (d, db) in self.spec().databases.iter().enumerate() {
            if let Some(state @ (SyncState::Reverting | SyncState::Initializing)) = self.facts.sync_state(target, d) {
                return Ok(Some(wait(
                    format!("{db} on {tn} is {state}; never forced onto"),
                    phase_of(t.kind),
                )));
            }
        }
        let end = |r: usize, d: usize| {
            self.facts
                .copy(r, d)
                .and_then(|c| c.end_of_log_lsn.or(c.last_hardened_lsn))
        };
        let complete = (0..self.spec().databases.len()).all(|d| match (end(target, d), end(old, d)) {
            (Some(a), Some(b)) => a >= b,
            _ => false,
        });
        if !complete {
            return Ok(Some(wait(
                format!(
                    "{} is demoted; waiting until {} has all of its log before forcing",
                    self.name(old),
                    self.name(target)
                ),
                phase_of(t.kind),
            )));
        }
        let group = self.group()?;
        let next = self.step(
            target,
            Action::ForcedFailover { group },
            format!(
                "force {} to primary (cluster type NONE): it holds all of the demoted {}'s log, so nothing is lost",
                self.name(target),
                self.name(old)
            ),
            |j| {
                if let Some(t) = j.transition.as_mut() {
                    t.failover_issued = true;
                }
            },
        );
        Ok(Some((next, phase_of(t.kind))))
    }

    /// FORCE_FAILOVER_ALLOW_DATA_LOSS on the target. The fork point and the token are journalled
    /// before the statement runs, so the loss can be measured even if drover stops right after.
    fn force(&mut self, target: usize, token: Option<String>) -> Next {
        let fork = self.facts.last_commits(target);
        self.set_transition(|t| {
            t.fork = fork;
            t.confirmed_token = token;
        });
        let group = match self.group() {
            Ok(g) => g,
            Err((next, _)) => return next,
        };
        let tn = self.name(target);
        let known = self
            .estimate
            .as_ref()
            .and_then(|e| e.known_loss_seconds)
            .map_or_else(|| "an unknown amount".to_string(), |s| format!("{s} s"));
        self.step(
            target,
            Action::ForcedFailover { group },
            format!("forced failover to {tn} (the primary is unreachable; estimated loss {known})"),
            |j| {
                j.confirmation = None;
                if let Some(t) = j.transition.as_mut() {
                    t.failover_issued = true;
                }
            },
        )
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
