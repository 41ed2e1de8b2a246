//! The pool's transitions around the runbook steps: when one begins and of
//! which kind, the data-loss gate of a failover, the cursor through the steps,
//! the finish with its record, and the phase, step line and conditions.

mod discard;
mod gate;
mod report;

use super::files;
use super::steps::{Context, Judged, Step, runbook, tail_on_share};
use super::{Action, Input, Notice, Observed, Plan};
use crate::api::availability_group::{CONFIRM_ANNOTATION, ConfirmationRequest, ForcePolicy};
use crate::api::conditions::{self, Desired};
use crate::api::dr_site::StepState;
use crate::api::persistent_chat_pool::{
    InstanceStatus, LogShippingStatus, PersistentChatPoolSpec, PersistentChatPoolStatus, PoolDatabaseStatus, PoolPhase,
    PoolState, PoolStepStatus, PoolTransition, PoolTransitionKind, PoolTransitionRecord, validate,
};
use crate::components::hook::run_label;
use crate::sql;
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Why a pool with no desired site does not move.
pub const NO_DESIRED_SITE: &str = "no activeSite is in force (none is set, or the one set was not written by the \
     DrSite listing this pool: see the Conflict condition), so drover does not choose where the pool is active; \
     set spec.activeSite or the DrSite's activeSite";

/// What a step row says once the transition's kind changed and its runbook no longer has it.
const PASSED_OVER: &str = "no longer part of the runbook";

/// Whether this reconcile needs what only a runbook reads — the backup instance's folder
/// listings and the hook Jobs: during a transition, when one is about to begin, and (listings)
/// once after a failover to learn what it could not apply. At rest neither is read.
pub fn needs_runbook_inputs(spec: &PersistentChatPoolSpec, status: &PersistentChatPoolStatus) -> bool {
    status.transition.is_some()
        || spec
            .active_site
            .as_deref()
            .is_some_and(|desired| status.active_site.as_deref() != Some(desired))
        || status
            .last_transition
            .as_ref()
            .is_some_and(|r| r.kind == PoolTransitionKind::Failover && !r.share_checked)
}

/// Journals what an executed action did that SQL Server cannot show later. `already`: the server
/// said it was already so (a log backup applied before).
pub fn record_executed(status: &mut PersistentChatPoolStatus, action: &Action, already: bool, now: Timestamp) {
    let Some(t) = status.transition.as_mut() else {
        return;
    };
    let Action::Sql { action, .. } = action else {
        return;
    };
    match action {
        sql::Action::RestoreLog { path, .. } => {
            t.last_applied_backup = Some(files::file_name(path).to_string());
            if !already {
                t.applied_backups += 1;
            }
        }
        sql::Action::CopyOnlyBackup { path, .. } => {
            t.kept_backup = Some(path.clone());
            if let Some(step) = t.steps.iter_mut().find(|s| s.state != StepState::Done) {
                step.state = StepState::Done;
                step.finished_at = Some(Time(now));
                step.message = Some(format!("the old primary's data is kept in {path}"));
            }
        }
        sql::Action::FullBackup { .. } | sql::Action::RestoreDatabaseReplace { .. } => {
            if let Some(step) = t.steps.iter_mut().find(|s| s.state != StepState::Done) {
                step.state = StepState::Done;
                step.finished_at = Some(Time(now));
                step.message = None;
            }
        }
        _ => {}
    }
}

/// One planning pass: the status to write and the action due now.
pub fn plan(input: Input<'_>) -> Plan {
    let mut p = Planner {
        input,
        status: input.status.clone(),
        notices: Vec::new(),
        action: None,
    };
    // A discard request stands only while a pass asks for it again (see `discard.rs`).
    p.status.discard_confirmation = None;
    let phase = p.run();
    p.finish(phase)
}

struct Planner<'a> {
    input: Input<'a>,
    status: PersistentChatPoolStatus,
    notices: Vec<Notice>,
    action: Option<Action>,
}

/// The outcome of a pass, for phase and conditions.
enum Outcome {
    Invalid(String),
    Steady,
    Degraded(String),
    Waiting(String),
    Confirm(String),
    /// A failback waits for consent to discard the old primary's data.
    ConfirmDiscard(String),
    InTransition {
        kind: PoolTransitionKind,
        blocked: Option<String>,
        /// A desired-site change that waits for this transition to finish.
        note: Option<String>,
    },
}

impl<'a> Planner<'a> {
    fn spec(&self) -> &'a PersistentChatPoolSpec {
        self.input.spec
    }

    fn observed(&self) -> &'a Observed {
        self.input.observed
    }

    fn primary(&self) -> &'a str {
        &self.spec().primary.sql_instance.server_name
    }

    fn backup(&self) -> &'a str {
        &self.spec().backup.sql_instance.server_name
    }

    fn chat(&self, server: &str) -> Option<&'a super::DbObs> {
        self.observed()
            .instance(server)
            .ok()
            .and_then(|o| o.database(&self.spec().chat_database))
    }

    fn run(&mut self) -> Outcome {
        self.status.observed_generation = self.input.generation;
        let errors = validate(self.spec());
        if !errors.is_empty() || !self.input.refused_jobs.is_empty() {
            let text = errors
                .iter()
                .map(ToString::to_string)
                .chain(self.input.refused_jobs.iter().map(ToString::to_string))
                .collect::<Vec<_>>()
                .join("; ");
            return Outcome::Invalid(text);
        }
        self.observe_into_status();
        if let Some(t) = self.status.transition.clone() {
            return self.continue_transition(t);
        }
        self.status.confirmation = None;
        self.learn_unapplied();
        let state = self.status.pool_state;
        let Some(desired) = self.desired_site().map(str::to_string).or_else(|| self.where_it_is()) else {
            self.status.active_site = None;
            return Outcome::Waiting(NO_DESIRED_SITE.into());
        };
        let at_primary = desired == self.spec().primary.site;
        let serving = if at_primary {
            state == Some(PoolState::Normal) && self.chat(self.primary()).is_some_and(|d| d.online())
        } else {
            state == Some(PoolState::FailedOver) && self.chat(self.backup()).is_some_and(|d| d.online())
        };
        if serving {
            self.status.active_site = Some(desired);
            return match self.health(at_primary) {
                Some(problem) => Outcome::Degraded(problem),
                None => Outcome::Steady,
            };
        }
        self.status.active_site = None;
        if self.desired_site().is_none() {
            // Not where the pool state says: drover does not choose where to go.
            return Outcome::Waiting(format!("the pool is not served from {desired}, and {NO_DESIRED_SITE}"));
        }
        self.begin(at_primary)
    }

    /// The site the pool should be active at; `None`: wherever it is (`spec.activeSite` left out).
    fn desired_site(&self) -> Option<&'a str> {
        self.spec().active_site.as_deref()
    }

    /// Where the pool is active, as its state says (Normal: the primary data center, FailedOver:
    /// the backup's), for a pool with no desired site.
    fn where_it_is(&self) -> Option<String> {
        match self.status.pool_state? {
            PoolState::Normal => Some(self.spec().primary.site.clone()),
            PoolState::FailedOver => Some(self.spec().backup.site.clone()),
        }
    }

    /// After a failover, once the share is readable: the backups it held that never got applied.
    fn learn_unapplied(&mut self) {
        let chat = self.spec().chat_database.clone();
        let super::Listing::Files(share) = &self.observed().share else {
            return;
        };
        let Some(record) = self.status.last_transition.as_mut() else {
            return;
        };
        if record.kind != PoolTransitionKind::Failover || record.share_checked {
            return;
        }
        let started = record.started_at.0;
        record.unapplied_backups = files::unapplied(&chat, record.last_applied_backup.as_deref(), &[], share)
            .into_iter()
            .filter(|(name, _)| files::stamp_of(name, &chat).is_some_and(|at| at <= started))
            .map(|(name, _)| name.to_string())
            .collect();
        record.share_checked = true;
    }

    fn begin(&mut self, to_primary: bool) -> Outcome {
        let spec = self.spec();
        let (primary, backup) = (self.primary().to_string(), self.backup().to_string());
        let backup_obs = self.observed().instance(&backup);
        let kind = if to_primary {
            if let Err(why) = self.observed().instance(&primary) {
                return Outcome::Waiting(format!(
                    "failback waits for the primary instance {primary} (rebuild the primary data center): {why}"
                ));
            }
            if let Err(why) = backup_obs {
                return Outcome::Waiting(format!("the backup instance {backup} cannot be observed: {why}"));
            }
            if !self.chat(&backup).is_some_and(|d| d.online()) {
                return Outcome::Degraded(format!(
                    "the pool is not served from {} and {} is not ONLINE on {backup}: nothing to fail back from",
                    spec.primary.site, spec.chat_database
                ));
            }
            PoolTransitionKind::Failback
        } else {
            if let Err(why) = backup_obs {
                return Outcome::Waiting(format!("failover waits for the backup instance {backup}: {why}"));
            }
            match self.chat(&backup) {
                Some(d) if d.restoring() || d.online() => {}
                Some(d) => {
                    return Outcome::Waiting(format!("{} on {backup} is {}", spec.chat_database, d.state));
                }
                None => {
                    return Outcome::Degraded(format!("{} does not exist on {backup}", spec.chat_database));
                }
            }
            if self.chat(&primary).is_some_and(|d| d.online()) {
                PoolTransitionKind::Switchover
            } else {
                PoolTransitionKind::Failover
            }
        };
        let (from, to) = if to_primary {
            (spec.backup.site.clone(), spec.primary.site.clone())
        } else {
            (spec.primary.site.clone(), spec.backup.site.clone())
        };
        let last_applied = self
            .observed()
            .instance(&backup)
            .ok()
            .and_then(|o| o.log_shipping.as_ref())
            .and_then(|ls| ls.last_restored_file.as_deref())
            .map(|f| files::file_name(f).to_string())
            // Log shipping a failback re-established that has restored nothing yet: the backup
            // copy holds what the share had then; older log backups there may be of the chain
            // the failback replaced (a lossy failover leaves some never applied) and do not fit.
            .or_else(|| {
                self.status
                    .last_transition
                    .as_ref()
                    .filter(|r| r.kind == PoolTransitionKind::Failback)
                    .and_then(|r| r.last_applied_backup.clone())
            });
        let t = PoolTransition {
            kind,
            from_site: from.clone(),
            to_site: to.clone(),
            started_at: Time(self.input.now),
            attempt: 1,
            steps: self.step_rows(kind, &[]),
            confirmed_token: None,
            last_applied_backup: last_applied,
            applied_backups: 0,
            kept_backup: None,
            discard_confirmed: None,
        };
        self.notices.push(Notice::TransitionStarted {
            message: format!("{} of the pool from {from} to {to} begins", kind.as_str()),
        });
        self.continue_transition(t)
    }

    /// The runbook of `kind` as status rows, in its order, keeping the state of the rows already
    /// started (done, or running a hook Job whose effect is still to come). A row an earlier shape
    /// of the transition passed over is not done in this one: it is judged again. Started rows
    /// this runbook has not are kept first (the loop passes over them): the transition has begun.
    fn step_rows(&self, kind: PoolTransitionKind, previous: &[PoolStepStatus]) -> Vec<PoolStepStatus> {
        let key = |r: &PoolStepStatus| (r.name.clone(), r.target.clone(), r.site.clone());
        let steps: Vec<_> = runbook(self.spec(), kind).iter().map(|s| s.key(self.spec())).collect();
        let started = |r: &&PoolStepStatus| r.state != StepState::Pending && r.message.as_deref() != Some(PASSED_OVER);
        let mut rows: Vec<PoolStepStatus> = previous
            .iter()
            .filter(|r| r.state != StepState::Pending && !steps.contains(&key(r)))
            .cloned()
            .collect();
        for (name, target, site) in steps {
            match previous
                .iter()
                .filter(started)
                .find(|r| r.name == name && r.target == target && r.site == site)
            {
                Some(row) => rows.push(row.clone()),
                None => rows.push(PoolStepStatus {
                    name,
                    target,
                    site,
                    state: StepState::Pending,
                    started_at: None,
                    finished_at: None,
                    message: None,
                }),
            }
        }
        rows
    }

    fn continue_transition(&mut self, mut t: PoolTransition) -> Outcome {
        let spec = self.spec();
        let primary = self.primary().to_string();
        let started = t.steps.iter().any(|s| s.state != StepState::Pending);
        if self.desired_site() != Some(t.to_site.as_str()) && !started {
            // Nothing done yet: the new desired site simply replaces this transition.
            self.status.transition = None;
            self.status.confirmation = None;
            return self.run();
        }
        // A failover whose primary answers again with its chat database ONLINE, or whose tail-log
        // backup turns out to have been taken (on the share, or the primary RESTORING after this
        // transition sent it), before the backup is recovered: recovering would leave the pool
        // Normal on a writable primary beside a second writable copy, or drop the commits the tail
        // holds. It continues as a switchover, whose tail-log backup carries every commit: the
        // restore step runs again for the tail, and a new outage needs a new consent.
        let backup_restoring = self.chat(self.backup()).is_some_and(|d| d.restoring());
        let tail_sent = t
            .steps
            .iter()
            .any(|s| s.name == "tail-log-backup" && s.state != StepState::Pending);
        let primary_back = self
            .chat(&primary)
            .is_some_and(|d| d.online() || (d.restoring() && tail_sent))
            || tail_on_share(spec, self.observed(), t.started_at.0);
        if t.kind == PoolTransitionKind::Failover && backup_restoring && primary_back {
            let kept: Vec<_> = t.steps.iter().filter(|s| s.name != "restore-log").cloned().collect();
            t.kind = PoolTransitionKind::Switchover;
            t.steps = self.step_rows(PoolTransitionKind::Switchover, &kept);
            t.confirmed_token = None;
            self.notices.push(Notice::TransitionStarted {
                message: format!(
                    "the primary instance {primary} answers again before {} is recovered: the failover continues as a switchover",
                    self.backup()
                ),
            });
        }
        // A switchover whose primary is lost before its tail-log backup can no longer be lossless;
        // one lost just after it (before a pass saw it done) still is: the share has the tail.
        let tail_done = t
            .steps
            .iter()
            .any(|s| s.name == "tail-log-backup" && s.state == StepState::Done)
            || tail_on_share(spec, self.observed(), t.started_at.0);
        if t.kind == PoolTransitionKind::Switchover && !tail_done && self.observed().instance(&primary).is_err() {
            t.kind = PoolTransitionKind::Failover;
            t.steps = self.step_rows(PoolTransitionKind::Failover, &t.steps);
            self.notices.push(Notice::TransitionStarted {
                message: format!(
                    "the primary instance {primary} became unreachable before the tail-log backup: the switchover continues as a failover"
                ),
            });
        }
        let Some(desired) = self.desired_site() else {
            // Started, and no desired site in force any more: nothing more is sent until there is one.
            let kind = t.kind;
            let held = format!(
                "the {} to {} is held: {NO_DESIRED_SITE}",
                kind.as_str().to_lowercase(),
                t.to_site
            );
            self.status.transition = Some(t);
            return Outcome::InTransition {
                kind,
                blocked: Some(held),
                note: None,
            };
        };
        let pending_flip = (t.to_site != desired).then(|| {
            format!(
                "spec.activeSite changed to {desired} mid-{}: steps already run cannot be undone safely, so this transition finishes first",
                t.kind.as_str().to_lowercase()
            )
        });
        if t.kind == PoolTransitionKind::Failover && t.confirmed_token.is_none() {
            match self.gate(&t) {
                Ok(token) => t.confirmed_token = Some(token),
                Err(outcome) => {
                    self.status.transition = Some(t);
                    return outcome;
                }
            }
        }
        self.status.confirmation = None;
        let kind = t.kind;
        let run = run_label(t.started_at.0, t.attempt, &t.to_site);
        let keys: Vec<(Step, (String, String, String))> = runbook(spec, kind)
            .into_iter()
            .map(|s| {
                let k = s.key(spec);
                (s, k)
            })
            .collect();
        let now = Time(self.input.now);
        let mut blocked = None;
        let mut awaiting = None;
        for i in 0..t.steps.len() {
            if t.steps[i].state == StepState::Done {
                continue;
            }
            let row = &t.steps[i];
            let Some((step, _)) = keys
                .iter()
                .find(|(_, (n, tg, s))| *n == row.name && *tg == row.target && *s == row.site)
            else {
                // A row from an earlier runbook shape that is no longer part of it.
                t.steps[i].state = StepState::Done;
                t.steps[i].message = Some(PASSED_OVER.into());
                continue;
            };
            let ctx = Context {
                spec,
                observed: self.observed(),
                kind,
                started_at: t.started_at.0,
                run: &run,
                last_applied: t.last_applied_backup.as_deref(),
            };
            let judged = if step.journaled() && t.steps[i].state == StepState::Done {
                Judged::Done(None)
            } else {
                ctx.judge(step)
            };
            let judged = match judged {
                Judged::NeedsConsent(why) => match self.discard_gate(&mut t, &why) {
                    Ok(()) => Judged::Done(Some(format!("not kept, with consent: {why}"))),
                    Err(message) => {
                        awaiting = Some(message.clone());
                        Judged::Blocked(message)
                    }
                },
                other => other,
            };
            let row = &mut t.steps[i];
            match judged {
                Judged::Done(message) => {
                    row.state = StepState::Done;
                    row.started_at.get_or_insert_with(|| now.clone());
                    row.finished_at = Some(now.clone());
                    row.message = message;
                    self.journal_effect(step);
                    if *step == Step::EstablishLogShipping {
                        // The backup copy was just initialised from the primary: the chain it
                        // continues starts after the newest log backup on the share (or, unread,
                        // after any taken by now; none since holds a commit, the pool is not
                        // Normal yet).
                        let chat = &spec.chat_database;
                        let newest = match &self.observed().share {
                            super::Listing::Files(names) => names
                                .iter()
                                .filter(|n| files::is_shipped_log(n, chat))
                                .max_by_key(|n| n.to_lowercase())
                                .cloned(),
                            _ => None,
                        };
                        t.last_applied_backup = Some(newest.unwrap_or_else(|| files::log_name(chat, self.input.now)));
                    }
                    continue;
                }
                Judged::Due(action, message) => {
                    // Suspended, the action will not run: the step has not started.
                    if !spec.suspend {
                        row.state = StepState::Running;
                        row.started_at.get_or_insert_with(|| now.clone());
                    }
                    row.message = Some(message);
                    self.action = Some(*action);
                }
                Judged::Running(message) => {
                    row.state = StepState::Running;
                    row.started_at.get_or_insert_with(|| now.clone());
                    row.message = Some(message);
                }
                Judged::Blocked(message) | Judged::NeedsConsent(message) => {
                    row.state = StepState::Blocked;
                    row.message = Some(message.clone());
                    blocked = Some(message);
                }
                Judged::Failed(message) => {
                    if row.state != StepState::Failed || row.message.as_deref() != Some(message.as_str()) {
                        self.notices.push(Notice::StepFailed {
                            step: format!("{}@{}", row.name, row.site),
                            message: message.clone(),
                        });
                    }
                    row.state = StepState::Failed;
                    row.message = Some(message.clone());
                    blocked = Some(message);
                }
            }
            break;
        }
        if t.steps.iter().all(|s| s.state == StepState::Done) {
            self.finish_transition(t);
            // Steady now, or the next transition (the desired site changed meanwhile).
            return self.run();
        }
        self.status.transition = Some(t);
        if let Some(message) = awaiting {
            return Outcome::ConfirmDiscard(message);
        }
        Outcome::InTransition {
            kind,
            blocked,
            note: pending_flip,
        }
    }

    /// What a finished hook step told the pool, kept because SQL Server cannot show it.
    fn journal_effect(&mut self, step: &Step) {
        match step {
            Step::SetPoolState(state) => self.status.pool_state = Some(*state),
            Step::ClearActiveServers { .. } => self.status.active_servers = Some(Vec::new()),
            Step::SetActiveServers { site } => {
                self.status.active_servers = self.spec().data_center(site).map(|dc| dc.active_servers.clone());
            }
            _ => {}
        }
    }

    fn finish_transition(&mut self, t: PoolTransition) {
        let now = Time(self.input.now);
        let lossless = t.kind != PoolTransitionKind::Failover;
        let lost_after = (!lossless)
            .then(|| {
                t.last_applied_backup
                    .as_deref()
                    .and_then(|n| files::stamp_of(n, &self.spec().chat_database))
                    .map(Time)
            })
            .flatten();
        self.notices.push(Notice::TransitionFinished {
            message: format!(
                "{} from {} to {} finished: {} log backup(s) applied{}",
                t.kind.as_str(),
                t.from_site,
                t.to_site,
                t.applied_backups,
                if lossless {
                    ", nothing lost".to_string()
                } else {
                    match &lost_after {
                        Some(at) => format!("; commits after {} at the old primary are lost", at.0),
                        None => "; commits after the last applied log backup at the old primary are lost".to_string(),
                    }
                }
            ),
        });
        self.status.last_transition = Some(PoolTransitionRecord {
            kind: t.kind,
            from_site: t.from_site,
            to_site: t.to_site,
            started_at: t.started_at,
            finished_at: now,
            applied_backups: t.applied_backups,
            last_applied_backup: t.last_applied_backup,
            unapplied_backups: Vec::new(),
            lost_after,
            lossless,
            share_checked: lossless,
            kept_backup: t.kept_backup.clone(),
        });
        self.status.transition = None;
    }
}
