//! Runbook B as steps. Each transition kind has a fixed list, decided when it
//! begins; each step is judged from what the instances, the folders and the
//! hook Jobs show, so a restarted operator finds where it was without the
//! journal — except the two steps SQL Server cannot show were done (the
//! failback's full backup and its restore over a primary that was already
//! ONLINE), which the journal marks done after they succeed.

use super::files::{self, Source};
use super::{Action, Cmdlet, DbObs, Listing, Observed, PoolJob};
use crate::api::persistent_chat_pool::{PersistentChatPoolSpec, PoolState, PoolTransitionKind};
use crate::components::JobPhase;
use crate::sql::{self, Ident};
use jiff::Timestamp;

/// One step of the runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `Set-CsPersistentChatActiveServer -ActiveServers $null`: no new connections anywhere.
    ClearActiveServers {
        site: String,
    },
    /// `KILL` every user session in the chat database on `server`.
    EndSessions {
        server: String,
        site: String,
    },
    /// `ALTER DATABASE … SET PARTNER OFF` for `database` on `server`.
    MirroringOff {
        server: String,
        site: String,
        database: String,
    },
    /// `BACKUP LOG … WITH NORECOVERY` on the primary: every commit, and the primary left RESTORING.
    TailLogBackup,
    /// `sp_delete_log_shipping_secondary_database` on the backup instance.
    RemoveLogShipping,
    /// `RESTORE LOG … WITH NORECOVERY`, one file per reconcile, in chain order.
    RestoreLogs,
    /// `RESTORE DATABASE … WITH RECOVERY` on the backup instance.
    Recover,
    SetPoolState(PoolState),
    /// Install-CsMirrorDatabase for the data center at `site`.
    InstallMirror {
        site: String,
    },
    SetActiveServers {
        site: String,
    },
    /// Full backup of the chat database on the backup instance, to the share.
    FullBackup,
    /// Before the restore over it: a copy-only backup of the old primary's chat database to the
    /// share, so what a failover left there is kept (invariant 9); or a person's consent.
    KeepOldPrimary,
    /// That backup restored over the primary's chat database, WITH REPLACE, RECOVERY.
    RestoreOverPrimary,
    EstablishLogShipping,
}

impl Step {
    /// Name, target, site: the step's key in status.
    pub fn key(&self, spec: &PersistentChatPoolSpec) -> (String, String, String) {
        let primary = || spec.primary.sql_instance.server_name.clone();
        let backup = || spec.backup.sql_instance.server_name.clone();
        let (name, target, site) = match self {
            Self::ClearActiveServers { site } => ("clear-active-servers", spec.pool_identity.clone(), site.clone()),
            Self::EndSessions { server, site } => ("end-sessions", server.clone(), site.clone()),
            Self::MirroringOff { server, site, database } => {
                ("mirroring-off", format!("{database}@{server}"), site.clone())
            }
            Self::TailLogBackup => ("tail-log-backup", primary(), spec.primary.site.clone()),
            Self::RemoveLogShipping => ("remove-log-shipping", backup(), spec.backup.site.clone()),
            Self::RestoreLogs => ("restore-log", backup(), spec.backup.site.clone()),
            Self::Recover => ("recover", backup(), spec.backup.site.clone()),
            Self::SetPoolState(state) => {
                let site = match state {
                    PoolState::Normal => &spec.primary.site,
                    PoolState::FailedOver => &spec.backup.site,
                };
                ("set-pool-state", state.as_str().to_string(), site.clone())
            }
            Self::InstallMirror { site } => (
                "install-mirror",
                spec.data_center(site)
                    .and_then(|dc| dc.mirror_instance.as_ref())
                    .map_or_else(String::new, |m| m.server_name.clone()),
                site.clone(),
            ),
            Self::SetActiveServers { site } => ("set-active-servers", spec.pool_identity.clone(), site.clone()),
            Self::FullBackup => ("full-backup", backup(), spec.backup.site.clone()),
            Self::KeepOldPrimary => ("keep-old-primary", primary(), spec.primary.site.clone()),
            Self::RestoreOverPrimary => ("restore-over-primary", primary(), spec.primary.site.clone()),
            Self::EstablishLogShipping => ("establish-log-shipping", backup(), spec.backup.site.clone()),
        };
        (name.to_string(), target, site)
    }

    /// Steps SQL Server cannot show as done: the journal says so once they succeed.
    pub fn journaled(&self) -> bool {
        matches!(self, Self::FullBackup | Self::KeepOldPrimary | Self::RestoreOverPrimary)
    }
}

/// The runbook of a transition kind, in order.
pub fn runbook(spec: &PersistentChatPoolSpec, kind: PoolTransitionKind) -> Vec<Step> {
    let primary = spec.primary.sql_instance.server_name.clone();
    let backup = spec.backup.sql_instance.server_name.clone();
    let (p_site, b_site) = (spec.primary.site.clone(), spec.backup.site.clone());
    let chat = spec.chat_database.clone();
    let mut steps = Vec::new();
    match kind {
        PoolTransitionKind::Switchover | PoolTransitionKind::Failover => {
            if kind == PoolTransitionKind::Switchover {
                steps.push(Step::ClearActiveServers { site: p_site.clone() });
                steps.push(Step::EndSessions {
                    server: primary.clone(),
                    site: p_site.clone(),
                });
                steps.push(Step::MirroringOff {
                    server: primary,
                    site: p_site,
                    database: chat,
                });
                steps.push(Step::TailLogBackup);
            }
            steps.push(Step::RemoveLogShipping);
            steps.push(Step::RestoreLogs);
            steps.push(Step::EndSessions {
                server: backup,
                site: b_site.clone(),
            });
            steps.push(Step::Recover);
            steps.push(Step::SetPoolState(PoolState::FailedOver));
            if spec.backup.mirror_instance.is_some() {
                steps.push(Step::InstallMirror { site: b_site.clone() });
            }
            steps.push(Step::SetActiveServers { site: b_site });
        }
        PoolTransitionKind::Failback => {
            steps.push(Step::ClearActiveServers { site: b_site.clone() });
            for database in [chat.clone(), spec.compliance_database.clone()] {
                steps.push(Step::MirroringOff {
                    server: backup.clone(),
                    site: b_site.clone(),
                    database,
                });
            }
            steps.push(Step::EndSessions {
                server: backup,
                site: b_site,
            });
            steps.push(Step::FullBackup);
            steps.push(Step::MirroringOff {
                server: primary.clone(),
                site: p_site.clone(),
                database: chat,
            });
            steps.push(Step::EndSessions {
                server: primary,
                site: p_site.clone(),
            });
            steps.push(Step::KeepOldPrimary);
            steps.push(Step::RestoreOverPrimary);
            steps.push(Step::EstablishLogShipping);
            if spec.primary.mirror_instance.is_some() {
                steps.push(Step::InstallMirror { site: p_site.clone() });
            }
            steps.push(Step::SetActiveServers { site: p_site });
            steps.push(Step::SetPoolState(PoolState::Normal));
        }
    }
    steps
}

/// Whether the backup share lists the tail-log backup of the transition begun at `started_at`:
/// then it was taken, whatever the primary can still show.
pub fn tail_on_share(spec: &PersistentChatPoolSpec, observed: &Observed, started_at: Timestamp) -> bool {
    let tail = files::tail_name(&spec.chat_database, started_at);
    matches!(&observed.share, Listing::Files(names) if names.iter().any(|n| files::same(n, &tail)))
}

/// A step as judged now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    Done(Option<String>),
    Due(Box<Action>, String),
    Running(String),
    /// Waits for something outside drover (an instance, a file).
    Blocked(String),
    Failed(String),
    /// Only a person's consent lets it go on: committed data would be discarded (why).
    NeedsConsent(String),
}

/// What a step is judged against.
pub struct Context<'a> {
    pub spec: &'a PersistentChatPoolSpec,
    pub observed: &'a Observed,
    pub kind: PoolTransitionKind,
    pub started_at: Timestamp,
    pub run: &'a str,
    /// The last log backup known restored on the backup instance (a file name).
    pub last_applied: Option<&'a str>,
}

// `Err` carries a verdict too (the early return of `?`), as large as `Ok`'s by design.
#[allow(clippy::result_large_err)]
impl Context<'_> {
    fn ident(&self, name: &str) -> Result<Ident, Judged> {
        Ident::new(name).map_err(|e| Judged::Failed(format!("database name {name:?}: {e}")))
    }

    fn database(&self, server: &str, database: &str) -> Result<Option<&DbObs>, Judged> {
        match self.observed.instance(server) {
            Ok(obs) => Ok(obs.database(database)),
            Err(why) => Err(Judged::Blocked(format!("{server} cannot be observed: {why}"))),
        }
    }

    fn sql(&self, server: &str, action: sql::Action, message: String) -> Judged {
        Judged::Due(
            Box::new(Action::Sql {
                server: server.to_string(),
                action,
            }),
            message,
        )
    }

    fn job(&self, step: &str) -> Option<&PoolJob> {
        self.observed.jobs.iter().find(|j| j.step == step && j.run == self.run)
    }

    /// A hook step: Due until its Job exists, then as the Job goes; `shown` says whether SQL
    /// Server already shows its effect (mirroring, log shipping), `None` when it cannot.
    fn hook(&self, cmdlet: Cmdlet, site: &str, shown: Option<bool>) -> Judged {
        if shown == Some(true) {
            return Judged::Done(None);
        }
        let step = cmdlet.step_name();
        match self.job(step) {
            None => Judged::Due(
                Box::new(Action::Hook {
                    cmdlet,
                    site: site.to_string(),
                    run: self.run.to_string(),
                }),
                format!("creating the {step} hook Job"),
            ),
            Some(job) => match &job.phase {
                JobPhase::Running => Judged::Running(format!("hook Job {} running", job.name)),
                JobPhase::Succeeded if shown.is_none() => {
                    Judged::Done(Some(format!("hook Job {} succeeded", job.name)))
                }
                JobPhase::Succeeded => Judged::Failed(format!(
                    "hook Job {} succeeded but SQL Server does not show its effect (delete the Job to run it again)",
                    job.name
                )),
                JobPhase::Failed(why) => Judged::Failed(format!(
                    "hook Job {} failed: {why} (fix the cause, then delete the Job to run it again)",
                    job.name
                )),
            },
        }
    }

    fn share_path(&self, name: &str) -> String {
        files::join(&self.spec.log_shipping.backup_share, name)
    }

    pub fn judge(&self, step: &Step) -> Judged {
        match self.judge_inner(step) {
            Ok(j) | Err(j) => j,
        }
    }

    fn judge_inner(&self, step: &Step) -> Result<Judged, Judged> {
        let spec = self.spec;
        let chat = spec.chat_database.as_str();
        let primary = spec.primary.sql_instance.server_name.as_str();
        let backup = spec.backup.sql_instance.server_name.as_str();
        Ok(match step {
            Step::ClearActiveServers { site } => self.hook(Cmdlet::SetActiveServers(Vec::new()), site, None),
            Step::SetActiveServers { site } => {
                let servers = spec
                    .data_center(site)
                    .map(|dc| dc.active_servers.clone())
                    .unwrap_or_default();
                self.hook(Cmdlet::SetActiveServers(servers), site, None)
            }
            Step::SetPoolState(state) => {
                let site = match state {
                    PoolState::Normal => &spec.primary.site,
                    PoolState::FailedOver => &spec.backup.site,
                };
                self.hook(Cmdlet::SetPoolState(*state), site, None)
            }
            Step::InstallMirror { site } => {
                let Some(dc) = spec.data_center(site) else {
                    return Err(Judged::Failed(format!("no data center at site {site}")));
                };
                let Some(mirror) = &dc.mirror_instance else {
                    return Ok(Judged::Done(Some("no mirror instance declared".into())));
                };
                let principal = dc.sql_instance.server_name.as_str();
                let shown = self.database(principal, chat)?.is_some_and(|db| {
                    db.mirroring_role
                        .as_deref()
                        .is_some_and(|r| r.eq_ignore_ascii_case("PRINCIPAL"))
                });
                let cmdlet = Cmdlet::InstallMirror {
                    principal: principal.to_string(),
                    mirror: mirror.server_name.clone(),
                    databases: vec![chat.to_string(), spec.compliance_database.clone()],
                    file_share: dc
                        .mirror_file_share
                        .clone()
                        .unwrap_or_else(|| spec.log_shipping.backup_share.clone()),
                };
                self.hook(cmdlet, site, Some(shown))
            }
            Step::EstablishLogShipping => {
                let shown = match self.observed.instance(backup) {
                    Ok(obs) => obs
                        .log_shipping
                        .as_ref()
                        .is_some_and(|ls| ls.configured && ls.primary_server.eq_ignore_ascii_case(primary)),
                    Err(why) => return Err(Judged::Blocked(format!("{backup} cannot be observed: {why}"))),
                };
                let cmdlet = Cmdlet::EstablishLogShipping {
                    database: chat.to_string(),
                    primary: primary.to_string(),
                    secondary: backup.to_string(),
                    backup_share: spec.log_shipping.backup_share.clone(),
                    copy_destination: spec.log_shipping.copy_destination.clone(),
                };
                self.hook(cmdlet, &spec.backup.site, Some(shown))
            }
            Step::EndSessions { server, .. } => match self.database(server, chat)? {
                None => Judged::Done(Some(format!("{chat} does not exist on {server}"))),
                Some(db) => match db.sessions.first() {
                    None => Judged::Done(None),
                    Some(&session_id) => self.sql(
                        server,
                        sql::Action::KillSession { session_id },
                        format!("ending {} session(s) in {chat}", db.sessions.len()),
                    ),
                },
            },
            Step::MirroringOff { server, database, .. } => match self.database(server, database)? {
                Some(db) if db.mirrored() => self.sql(
                    server,
                    sql::Action::MirroringOff {
                        database: self.ident(database)?,
                    },
                    format!("removing mirroring of {database}"),
                ),
                _ => Judged::Done(None),
            },
            Step::TailLogBackup => match self.database(primary, chat) {
                // Taken before the primary was lost: the share still has it.
                Err(_) if tail_on_share(spec, self.observed, self.started_at) => Judged::Done(Some(format!(
                    "{} is on the share",
                    files::tail_name(chat, self.started_at)
                ))),
                Err(blocked) => return Err(blocked),
                Ok(Some(db)) if db.restoring() => Judged::Done(None),
                Ok(Some(db)) if db.online() => {
                    let path = self.share_path(&files::tail_name(chat, self.started_at));
                    self.sql(
                        primary,
                        sql::Action::TailLogBackup {
                            database: self.ident(chat)?,
                            path: path.clone(),
                        },
                        format!("tail-log backup to {path}"),
                    )
                }
                Ok(Some(db)) => Judged::Failed(format!("{chat} on {primary} is {}", db.state)),
                Ok(None) => Judged::Failed(format!("{chat} does not exist on {primary}")),
            },
            Step::RemoveLogShipping => {
                let obs = self
                    .observed
                    .instance(backup)
                    .map_err(|why| Judged::Blocked(format!("{backup} cannot be observed: {why}")))?;
                match &obs.log_shipping {
                    Some(ls) if ls.configured => self.sql(
                        backup,
                        sql::Action::RemoveLogShippingSecondary {
                            database: self.ident(chat)?,
                        },
                        format!("removing the log-shipping secondary configuration of {chat}"),
                    ),
                    _ => Judged::Done(None),
                }
            }
            Step::RestoreLogs => self.restore_logs()?,
            Step::Recover => match self.database(backup, chat)? {
                Some(db) if db.online() => Judged::Done(None),
                Some(db) if db.restoring() => self.sql(
                    backup,
                    sql::Action::RecoverDatabase {
                        database: self.ident(chat)?,
                    },
                    format!("recovering {chat}"),
                ),
                Some(db) => Judged::Failed(format!("{chat} on {backup} is {}", db.state)),
                None => Judged::Failed(format!("{chat} does not exist on {backup}")),
            },
            Step::FullBackup => match self.database(backup, chat)? {
                Some(db) if db.online() => {
                    let path = self.share_path(&files::failback_name(chat, self.started_at));
                    self.sql(
                        backup,
                        sql::Action::FullBackup {
                            database: self.ident(chat)?,
                            path: path.clone(),
                        },
                        format!("full backup to {path}"),
                    )
                }
                Some(db) => Judged::Failed(format!("{chat} on {backup} is {}, not ONLINE", db.state)),
                None => Judged::Failed(format!("{chat} does not exist on {backup}")),
            },
            Step::KeepOldPrimary => {
                match self.database(primary, chat)? {
                    None => Judged::Done(Some(format!("{chat} does not exist on {primary}: nothing to keep"))),
                    Some(db) if db.restoring() => Judged::Done(Some(format!(
                        "{chat} on {primary} is RESTORING (it took no commits since its tail-log backup or restore): nothing to keep"
                    ))),
                    Some(db) if db.online() => {
                        let path = self.share_path(&files::kept_name(chat, self.started_at));
                        self.sql(
                        primary,
                        sql::Action::CopyOnlyBackup {
                            database: self.ident(chat)?,
                            path: path.clone(),
                        },
                        format!("keeping what the old primary committed: copy-only backup of {chat} on {primary} to {path}"),
                    )
                    }
                    Some(db) => Judged::NeedsConsent(format!(
                        "{chat} on {primary} is {}, so drover cannot back it up before restoring over it",
                        db.state
                    )),
                }
            }
            Step::RestoreOverPrimary => {
                self.database(primary, chat)?;
                let path = self.share_path(&files::failback_name(chat, self.started_at));
                self.sql(
                    primary,
                    sql::Action::RestoreDatabaseReplace {
                        database: self.ident(chat)?,
                        path: path.clone(),
                    },
                    format!("restoring {path} over {chat}"),
                )
            }
        })
    }

    /// Every log backup the backup instance can read, in order; a switchover's tail last.
    fn restore_logs(&self) -> Result<Judged, Judged> {
        let spec = self.spec;
        let chat = spec.chat_database.as_str();
        let backup = spec.backup.sql_instance.server_name.as_str();
        match self.database(backup, chat)? {
            Some(db) if db.online() => return Ok(Judged::Done(Some(format!("{chat} is already recovered")))),
            Some(db) if db.restoring() => {}
            Some(db) => return Err(Judged::Failed(format!("{chat} on {backup} is {}", db.state))),
            None => return Err(Judged::Failed(format!("{chat} does not exist on {backup}"))),
        }
        let tail = files::tail_name(chat, self.started_at);
        let switchover = self.kind == PoolTransitionKind::Switchover;
        if switchover && self.last_applied.is_some_and(|last| files::same(last, &tail)) {
            return Ok(Judged::Done(Some(
                "every log backup and the tail-log backup applied".into(),
            )));
        }
        let destination = match &self.observed.destination {
            Listing::Files(names) => names.as_slice(),
            Listing::NotListed => return Ok(Judged::Running("listing the copy destination".into())),
            Listing::Unreachable(why) => {
                return Err(Judged::Blocked(format!(
                    "the copy destination {} cannot be listed: {why}",
                    spec.log_shipping.copy_destination
                )));
            }
        };
        let (share, share_note) = match &self.observed.share {
            Listing::Files(names) => (names.as_slice(), None),
            Listing::Unreachable(why) => (&[][..], Some(format!("the share is unreachable ({why})"))),
            Listing::NotListed => (&[][..], Some("the share was not listed".to_string())),
        };
        let pending = files::unapplied(chat, self.last_applied, destination, share);
        if let Some((name, source)) = pending.first() {
            let folder = match source {
                Source::Destination => &spec.log_shipping.copy_destination,
                Source::Share => &spec.log_shipping.backup_share,
            };
            let path = files::join(folder, name);
            return Ok(self.sql(
                backup,
                sql::Action::RestoreLog {
                    database: self.ident(chat)?,
                    path: path.clone(),
                },
                format!("{} log backup(s) to apply; restoring {path}", pending.len()),
            ));
        }
        if switchover {
            if share.iter().any(|n| files::same(n, &tail)) {
                let path = self.share_path(&tail);
                return Ok(self.sql(
                    backup,
                    sql::Action::RestoreLog {
                        database: self.ident(chat)?,
                        path: path.clone(),
                    },
                    format!("restoring the tail-log backup {path}"),
                ));
            }
            return Err(Judged::Blocked(format!(
                "the tail-log backup {} cannot be read ({}); it holds every commit since the last log backup, so drover waits for it",
                self.share_path(&tail),
                share_note.unwrap_or_else(|| "not on the share".into())
            )));
        }
        Ok(Judged::Done(Some(match share_note {
            Some(note) => format!("every readable log backup applied; {note}: backups not yet copied are lost"),
            None => "every log backup applied".to_string(),
        })))
    }
}
