//! The model executing drover's actions: T-SQL as SQL Server answers it (with the error
//! numbers drover reads), hook Jobs as the API server creates them, and the cmdlets they run.

use super::super::files;
use super::super::{Action, Cmdlet};
use super::B;
use super::world::{Backup, Db, Job, Outcome, Sql};
use crate::components::JobPhase;
use crate::sql;

impl Sql {
    /// Executes one action as SQL Server or the API server would.
    pub fn apply(&mut self, action: &Action) -> Outcome {
        match action {
            Action::Hook { cmdlet, run, .. } => {
                let key = (cmdlet.step_name().to_string(), run.clone());
                if self.jobs.contains_key(&key) {
                    return Ok(true); // 409: the Job exists
                }
                self.jobs.insert(
                    key,
                    Job {
                        cmdlet: cmdlet.clone(),
                        phase: JobPhase::Running,
                    },
                );
                Ok(false)
            }
            Action::Sql { server, action } => {
                if !self.up(server) {
                    return Err(format!("{server}: login timeout"));
                }
                self.run_sql(server, action)
            }
        }
    }

    fn read(&self, server: &str, path: &str) -> Result<Backup, String> {
        let name = files::file_name(path);
        let (folder, reachable) = if path.starts_with(r"\\") {
            (&self.share, server != B || self.share_reachable)
        } else {
            (&self.destination, server == B)
        };
        if !reachable {
            return Err(format!("3201: cannot open {path} (OS error 53)"));
        }
        folder
            .get(name)
            .cloned()
            .ok_or_else(|| format!("3201: cannot open {path} (OS error 2)"))
    }

    fn run_sql(&mut self, server: &str, action: &sql::Action) -> Outcome {
        use sql::Action as S;
        let name = |d: &sql::Ident| d.as_str().to_lowercase();
        match action {
            S::KillSession { session_id } => {
                for db in self.instances.get_mut(server).expect("known").values_mut() {
                    if let Some(i) = db.sessions.iter().position(|s| s == session_id) {
                        db.sessions.remove(i);
                        return Ok(false);
                    }
                }
                Ok(true) // 6106
            }
            S::MirroringOff { database } => {
                let db = self.db_mut(server, &name(database)).ok_or("911: no such database")?;
                let Some((_, partner)) = db.mirror.take() else {
                    return Ok(true); // 1416
                };
                if self.up(&partner)
                    && let Some(other) = self.db_mut(&partner, &name(database))
                {
                    other.mirror = None;
                }
                Ok(false)
            }
            S::TailLogBackup { database, path } => {
                let target = files::file_name(path).to_string();
                let db = self.db_mut(server, &name(database)).ok_or("911: no such database")?;
                if !db.online {
                    return Err("4208: the database is not ONLINE".into());
                }
                if db.mirror.is_some() {
                    return Err("1468: the database is mirrored".into());
                }
                if !db.sessions.is_empty() {
                    return Err("3101: exclusive access could not be obtained".into());
                }
                let file = Backup::Log {
                    start: db.backed_up,
                    records: db.log[db.backed_up..].to_vec(),
                };
                db.backed_up = db.log.len();
                db.online = false;
                self.share.insert(target, file);
                Ok(false)
            }
            S::RemoveLogShippingSecondary { .. } => {
                assert_eq!(server, B, "log shipping is removed on the secondary");
                Ok(self.shipping.take().is_none())
            }
            S::RestoreLog { path, .. } => {
                assert_eq!(server, B, "logs are restored on the backup instance");
                let file = self.read(server, path)?;
                self.restore_log(files::file_name(path), &file)
            }
            S::RecoverDatabase { database } => {
                let db = self.db_mut(server, &name(database)).ok_or("911: no such database")?;
                if db.online {
                    return Ok(true); // 3153
                }
                db.online = true;
                db.backed_up = db.log.len();
                Ok(false)
            }
            S::CopyOnlyBackup { database, path } | S::FullBackup { database, path } => {
                let db = self.db(server, &name(database)).ok_or("911: no such database")?;
                if !db.online || db.damaged.is_some() {
                    return Err("3007: the database is not ONLINE".into());
                }
                if server == B && !self.share_reachable {
                    return Err("3201: cannot open the share (OS error 53)".into());
                }
                let file = Backup::Full { log: db.log.clone() };
                self.share.insert(files::file_name(path).to_string(), file);
                Ok(false)
            }
            S::RestoreDatabaseReplace { database, path } => {
                let Backup::Full { log } = self.read(server, path)? else {
                    return Err("3241: not a full backup".into());
                };
                let db = self.db_mut(server, &name(database)).ok_or("911: no such database")?;
                if db.mirror.is_some() {
                    return Err("1468: the database is mirrored".into());
                }
                if !db.sessions.is_empty() {
                    return Err("3101: exclusive access could not be obtained".into());
                }
                *db = Db {
                    backed_up: log.len(),
                    ..Db::online(log)
                };
                Ok(false)
            }
            other => panic!("the pool planner sent {other:?}"),
        }
    }

    /// Running hook Jobs finish: the cmdlet's effect, or a failure when the test said so.
    pub fn finish_jobs(&mut self) {
        let running: Vec<(String, String)> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.phase == JobPhase::Running)
            .map(|(k, _)| k.clone())
            .collect();
        for key in running {
            let cmdlet = self.jobs[&key].cmdlet.clone();
            let result = if self.failing.contains(&key.0) {
                Err("BackoffLimitExceeded".to_string())
            } else {
                self.run_cmdlet(&cmdlet)
            };
            self.jobs.get_mut(&key).expect("listed").phase = match result {
                Ok(()) => JobPhase::Succeeded,
                Err(why) => JobPhase::Failed(why),
            };
        }
    }

    fn run_cmdlet(&mut self, cmdlet: &Cmdlet) -> Result<(), String> {
        match cmdlet {
            Cmdlet::SetPoolState(state) => {
                self.pool_state = *state;
                Ok(())
            }
            Cmdlet::SetActiveServers(servers) => {
                self.set_active(servers.clone());
                Ok(())
            }
            Cmdlet::InstallMirror {
                principal,
                mirror,
                databases,
                ..
            } => self.install_mirror(principal, mirror, databases),
            Cmdlet::EstablishLogShipping { primary, secondary, .. } => self.establish(primary, secondary),
        }
    }
}
