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
use super::loss;
use super::{Input, Journal, Next, Notice, Plan, Step};
use crate::api::availability_group::{
    AvailabilityGroupSpec, BackupTaken, ClusterType, ConfirmationRequest, DataLoss, FailoverRecord, ForcePolicy,
    LossEstimate, Phase, PrimarySnapshot, Transition, TransitionKind,
};
use crate::sql::{Action, AvailabilityMode, Command, CommitMode, Ident, QuorumState, Role, SyncState};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

mod discard;
mod forced;
mod stale;
mod steady;
mod switchover;
mod tokens;

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
    // A discard request stands only while a pass asks for it again (see `discard.rs`).
    planner.journal.discard = None;
    let (next, phase) = planner.decide();
    // A data-loss confirmation is asked only beside its estimate. In a pass that cannot estimate
    // (the target cannot be observed just now) the request is withdrawn rather than shown without
    // one; it is asked again, with the same token if nothing changed, once the target answers.
    // Found by the chaos bench (a TDS reset on the target while the request was pending).
    if planner.estimate.is_none() {
        // Kept aside with its nonce, so the token stays the same when it is asked again.
        if let Some(request) = planner.journal.confirmation.take()
            && let Some(t) = planner.journal.transition.as_mut()
        {
            t.withheld_confirmation = Some(request);
        }
    }
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
        report: super::report::report(&planner.facts, input.observed),
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

/// Why a group with no desired site and no primary in sight waits.
pub const NO_DESIRED_SITE: &str = "no primarySite is in force (none is set, or the one set was not written by the \
     DrSite listing this group: see the Conflict condition), so drover does not choose where to fail over; \
     set spec.primarySite or the DrSite's activeSite";

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

    /// The site the primary should be at; `None`: wherever it is (`spec.primarySite` left out).
    fn desired_site(&self) -> Option<&'a str> {
        self.spec().primary_site.as_deref()
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
            return self.two_primaries().unwrap_or_else(|d| d);
        }
        let target = match self.desired_site() {
            Some(site) => match self.facts.index_of_site(site) {
                Some(target) => target,
                None => return blocked(format!("spec.primarySite {site:?} has no replica"), Phase::Invalid),
            },
            // No desired site: the primary stays where it is; none seen, drover does not pick one.
            None => match self.facts.primary() {
                Some(p) => p,
                None => return blocked(NO_DESIRED_SITE, Phase::Waiting),
            },
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
        let target = self
            .desired_site()
            .map_or(Some(p), |site| self.facts.index_of_site(site))?;
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
                seconds: loss.seconds,
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
        // The outage is over: its fence and force-quorum runs are history.
        self.journal.hooks.clear();
        self.journal.confirmation = None;
        let primary = self.facts.primary().map(|p| self.name(p).to_string());
        if let Some(t) = self.journal.transition.as_mut()
            && t.kind == TransitionKind::Failover
            && !t.failover_issued
        {
            // The target is primary and the fork was journalled before the FORCE: the statement
            // ran and drover stopped before recording it (found by the chaos runner). Finish it as
            // issued, so the failover is recorded and its loss measured, not forgotten.
            let forced_here = !t.fork.is_empty()
                && primary
                    .as_deref()
                    .is_some_and(|p| p.eq_ignore_ascii_case(&t.to_replica));
            if forced_here {
                t.failover_issued = true;
            } else {
                self.journal.transition = None;
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
                    withheld_confirmation: None,
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
}
