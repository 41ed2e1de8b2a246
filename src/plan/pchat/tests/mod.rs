//! Planner tests against a small model of the pool's world ([`world`]): the driver plans,
//! checks the safety invariants against the model, applies the one action, journals it with
//! [`record_executed`], stores the status as the API server would and lets time move on.
//! `PCHAT_TRACE=1` prints each pass (phase, step line, action) to follow a failing case.

mod execute;
mod failback;
mod failover;
mod properties;
mod restart;
mod steady;
mod switchover;
mod world;

use super::{Action, Cmdlet, Input, Notice, Plan, plan, record_executed};
use crate::api::dr_site::StepState;
use crate::api::persistent_chat_pool::fixtures::pool_spec;
use crate::api::persistent_chat_pool::{PersistentChatPoolSpec, PersistentChatPoolStatus, PoolState};
use crate::controller::as_stored;
use crate::sql;
use jiff::Timestamp;
use world::{Outcome, Sql};

pub(super) const A: &str = "SQL-CHAT-A";
pub(super) const A_MIR: &str = "SQL-CHAT-A-MIR";
pub(super) const B: &str = "SQL-CHAT-B";
pub(super) const B_MIR: &str = "SQL-CHAT-B-MIR";
pub(super) const CHAT: &str = "mgc";
pub(super) const COMP: &str = "mgccomp";
pub(super) const SHARE: &str = r"\\fs-dc1.contoso.com\pchat-logship";
pub(super) const DEST: &str = r"D:\PChatLogShip";

/// How a pass goes wrong, as an operator restart would make it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    Normal,
    /// The Job cache and the folder listings are empty this pass.
    Blind,
    /// The status is written, then the operator dies before executing the action.
    NoExecute,
    /// The action runs, then the operator dies before journaling it.
    NoRecord,
}

/// An executed action and what it came to.
#[derive(Debug, Clone)]
pub(super) struct Ran {
    pub tick: u32,
    pub action: Action,
    pub outcome: Outcome,
}

pub(super) struct World {
    pub spec: PersistentChatPoolSpec,
    pub sql: Sql,
    pub status: PersistentChatPoolStatus,
    pub tick: u32,
    /// The confirm-data-loss annotation.
    pub confirmation: Option<String>,
    /// The confirm-discard annotation.
    pub discard: Option<String>,
    pub log: Vec<Ran>,
    pub notices: Vec<Notice>,
    /// Log shipping's jobs run every tick.
    pub auto_ship: bool,
    pub last: Option<Plan>,
}

impl World {
    /// Steady at `dc1` with nothing yet planned.
    pub fn new() -> Self {
        let spec = pool_spec();
        let sql = Sql::steady(&spec.primary.active_servers);
        Self {
            spec,
            sql,
            status: PersistentChatPoolStatus::default(),
            tick: 0,
            confirmation: None,
            discard: None,
            log: Vec::new(),
            notices: Vec::new(),
            auto_ship: false,
            last: None,
        }
    }

    /// [`World::new`] planned until steady, with the log-shipping history of [`World::history`].
    pub fn steady() -> Self {
        let mut w = Self::new();
        w.history();
        w.settle(5);
        w.log.clear();
        w.notices.clear();
        w
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_second(1_795_341_600 + i64::from(self.tick) * 10).expect("valid")
    }

    /// The name log shipping gives a backup taken at `tick`.
    pub fn stamp(&self, tick: u32) -> String {
        let at = Timestamp::from_second(1_795_341_600 + i64::from(tick) * 10).expect("valid");
        format!("{CHAT}_{}.trn", at.strftime("%Y%m%d%H%M%S"))
    }

    /// Three log backups: the first restored on B, the second copied, the third only on the
    /// share; and one commit after them only A has. Returns their names.
    pub fn history(&mut self) -> [String; 3] {
        let mut names = Vec::new();
        for (commits, copy, restore) in [(3, true, true), (2, true, false), (2, false, false)] {
            self.sql.commit(commits);
            self.sql.log_backup(self.now());
            names.push(self.stamp(self.tick));
            if copy {
                self.sql.copy();
            }
            if restore {
                self.sql.restore_job();
            }
            self.tick += 1;
        }
        self.sql.commit(1);
        names.try_into().expect("three")
    }

    pub fn flip(&mut self, site: &str) {
        self.spec.active_site = Some(site.into());
    }

    pub fn pass(&mut self) -> Plan {
        self.pass_as(Pass::Normal)
    }

    /// One reconcile: observe, plan, check, act, journal, store, then one tick passes.
    pub fn pass_as(&mut self, how: Pass) -> Plan {
        let listings = super::needs_runbook_inputs(&self.spec, &self.status) && how != Pass::Blind;
        let mut observed = self.sql.observe(listings);
        if how == Pass::Blind {
            observed.jobs.clear();
        }
        // A new nonce every pass, as the controller draws one.
        let nonce = format!("nonce-{}", self.tick);
        let p = plan(Input {
            spec: &self.spec,
            name: "pchat",
            namespace: "chat",
            generation: Some(1),
            status: &self.status,
            observed: &observed,
            now: self.now(),
            confirmation: self.confirmation.as_deref(),
            confirmed_by: Some("tester"),
            discard_confirmation: self
                .discard
                .as_deref()
                .map(|token| crate::plan::confirm::Given { token, by: "tester" }),
            tokens: crate::plan::confirm::Tokens {
                nonce: &nonce,
                ttl: crate::plan::confirm::DEFAULT_TTL,
            },
            refused_jobs: &[],
        });
        let mut status = as_stored(p.status.clone());
        if let Some(action) = p.action.clone().filter(|_| how != Pass::NoExecute) {
            if let Err(why) = self.check(&action, &p.status) {
                panic!("tick {}: {why}\nplan: {:#?}", self.tick, p.status.transition);
            }
            let outcome = self.sql.apply(&action);
            if let Err(e) = &outcome {
                assert!(
                    !e.starts_with("4305") && !e.starts_with("3138"),
                    "tick {}: a log backup out of chain order: {e}",
                    self.tick
                );
            }
            match (&outcome, how) {
                (_, Pass::NoRecord) => {}
                (Ok(already), _) => record_executed(&mut status, &action, *already, self.now()),
                // What the controller does with a failed action.
                (Err(e), _) => {
                    if let Some(step) = status
                        .transition
                        .as_mut()
                        .and_then(|t| t.steps.iter_mut().find(|s| s.state != StepState::Done))
                    {
                        step.state = StepState::Failed;
                        step.message = Some(e.clone());
                    }
                }
            }
            self.log.push(Ran {
                tick: self.tick,
                action,
                outcome,
            });
        }
        self.status = as_stored(status);
        self.notices.extend(p.notices.iter().cloned());
        self.advance();
        if std::env::var_os("PCHAT_TRACE").is_some() {
            eprintln!(
                "tick {} {:?} {:?}: {:?}",
                self.tick - 1,
                p.status.phase,
                p.status.step,
                self.log
                    .last()
                    .filter(|r| r.tick + 1 == self.tick)
                    .map(|r| describe(&r.action))
            );
        }
        self.last = Some(p.clone());
        p
    }

    pub fn advance(&mut self) {
        self.tick += 1;
        self.sql.finish_jobs();
        if self.auto_ship {
            let now = self.now();
            self.sql.commit(1);
            self.sql.ship(now);
        }
    }

    /// Passes until nothing is due and no transition is in flight, at most `limit`.
    pub fn settle(&mut self, limit: u32) -> Plan {
        for _ in 0..limit {
            let p = self.pass();
            if p.action.is_none() && !p.busy {
                return p;
            }
        }
        panic!(
            "not settled in {limit} passes: {:?} {:?}\n{:#?}",
            self.status.phase, self.status.step, self.status.transition
        );
    }

    /// `n` passes; the last plan.
    pub fn passes(&mut self, n: u32) -> Plan {
        (0..n).map(|_| self.pass()).last().expect("at least one pass")
    }

    /// The safety rules an action must keep, against the world just before it runs.
    fn check(&self, action: &Action, planned: &PersistentChatPoolStatus) -> Result<(), String> {
        let chat = |s: &str| self.sql.db(s, CHAT);
        match action {
            Action::Sql { server, action } => {
                if !self.sql.up(server) {
                    return Err(format!("{} sent to the unobservable {server}", action.kind()));
                }
                match action {
                    sql::Action::RecoverDatabase { .. } | sql::Action::RestoreDatabaseReplace { .. }
                        if !self.sql.active_servers.is_empty()
                            && [A, B]
                                .iter()
                                .any(|s| s != server && self.sql.up(s) && chat(s).is_some_and(|d| d.online)) =>
                    {
                        return Err(format!(
                            "{} made a second chat database writable while the pool has active servers",
                            action.kind()
                        ));
                    }
                    sql::Action::RecoverDatabase { .. } => {
                        if self.sql.shipping.is_some() {
                            return Err("RECOVERY while log shipping is configured".into());
                        }
                        let tail = chat(B).is_some_and(|d| d.restored.iter().any(|f| f.ends_with("_tail.trn")));
                        if self.sql.pool_state == PoolState::Normal && self.sql.up(A) && !tail {
                            return Err("RECOVERY on B with the pool Normal, A reachable and no tail applied".into());
                        }
                    }
                    sql::Action::TailLogBackup { .. } | sql::Action::RestoreDatabaseReplace { .. }
                        if !self.sql.active_servers.is_empty() =>
                    {
                        return Err(format!("{} while the pool has active servers", action.kind()));
                    }
                    // Invariant 9: restoring over the old primary discards only what a backup on
                    // the share keeps (a full backup, or the log backups a RESTORING old primary's
                    // tail went to), or what a person consented to discard.
                    sql::Action::RestoreDatabaseReplace { .. } if let Some(current) = chat(server) => {
                        let kept = |txn: &u64| {
                            self.sql.share.values().any(|b| match b {
                                world::Backup::Full { log } => log.contains(txn),
                                world::Backup::Log { records, .. } => records.contains(txn),
                            })
                        };
                        let lost = current.log.iter().filter(|x| !kept(x)).count();
                        let consented = planned
                            .transition
                            .as_ref()
                            .is_some_and(|t| t.discard_confirmed.is_some());
                        if lost > 0 && !consented {
                            return Err(format!(
                                "RESTORE WITH REPLACE over {server} discards {lost} committed transaction(s) nobody kept or consented to"
                            ));
                        }
                    }
                    _ => {}
                }
            }
            Action::Hook {
                cmdlet: Cmdlet::SetPoolState(state),
                ..
            } => {
                let (to, from) = match state {
                    PoolState::Normal => (A, B),
                    PoolState::FailedOver => (B, A),
                };
                if !chat(to).is_some_and(|d| d.online) {
                    return Err(format!("pool state {state:?} while {CHAT} on {to} is not ONLINE"));
                }
                // A failover's old primary may come back ONLINE after the backup was recovered: a
                // split drover did not make and cannot undo. A failback re-initialised B itself.
                if *state == PoolState::Normal && self.sql.up(from) && chat(from).is_some_and(|d| d.online) {
                    return Err(format!("pool state {state:?} while {CHAT} on {from} is still ONLINE"));
                }
            }
            Action::Hook { .. } => {}
        }
        Ok(())
    }

    /// The actions run, one line each; `(already)` or `(error …)` when not done.
    pub fn script(&self) -> Vec<String> {
        self.log
            .iter()
            .map(|r| {
                let line = describe(&r.action);
                match &r.outcome {
                    Ok(false) => line,
                    Ok(true) => format!("{line} (already)"),
                    Err(e) => format!("{line} (error {e})"),
                }
            })
            .collect()
    }
}

/// `step target@where`.
pub(super) fn describe(action: &Action) -> String {
    use sql::Action as S;
    match action {
        Action::Sql { server, action } => match action {
            S::KillSession { session_id } => format!("kill {session_id}@{server}"),
            S::MirroringOff { database } => format!("mirroring-off {}@{server}", database.as_str()),
            S::TailLogBackup { path, .. } => format!("tail-log-backup {}@{server}", super::files::file_name(path)),
            S::RemoveLogShippingSecondary { .. } => format!("remove-log-shipping@{server}"),
            S::RestoreLog { path, .. } => {
                let folder = if path.starts_with(r"\\") { "share" } else { "dest" };
                format!("restore-log {folder}/{}@{server}", super::files::file_name(path))
            }
            S::RecoverDatabase { .. } => format!("recover@{server}"),
            S::FullBackup { path, .. } => format!("full-backup {}@{server}", super::files::file_name(path)),
            S::CopyOnlyBackup { path, .. } => format!("keep {}@{server}", super::files::file_name(path)),
            S::RestoreDatabaseReplace { path, .. } => {
                format!("restore-over {}@{server}", super::files::file_name(path))
            }
            other => format!("{}@{server}", other.kind()),
        },
        Action::Hook { cmdlet, site, .. } => match cmdlet {
            Cmdlet::SetPoolState(state) => format!("hook set-pool-state {}@{site}", state.as_str()),
            Cmdlet::InstallMirror { principal, mirror, .. } => {
                format!("hook install-mirror {principal}>{mirror}@{site}")
            }
            other => format!("hook {}@{site}", other.step_name()),
        },
    }
}
