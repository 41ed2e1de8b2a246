//! The statements of runbook B on one connection: BACKUP LOG and RESTORE
//! (long-running), SET PARTNER OFF, KILL, and the three procedures drover calls.

use super::{Engine, Step, resolve, scalar_text, select::Scalar, string_arg};
use crate::sim::model::{Caller, MediaOp};
use crate::sim::parse::ast::{BackupOption, ExecArg, ObjectName, RestoreKind, RestoreOption, Statement};
use crate::sim::table::{Outcome, Param, ServerError};

const SP_DELETE: &str = "sp_delete_log_shipping_secondary_database";

/// The procedures the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Procedure {
    DirTree,
    FileExist,
    DeleteSecondary,
}

/// `[master.][dbo|sys.]name`; anything else is error 2812, as for a missing procedure.
fn procedure(name: &ObjectName) -> Result<(Procedure, bool), ServerError> {
    let missing = || {
        ServerError::new(
            2812,
            16,
            format!("Could not find stored procedure '{}'.", name.0.join(".")),
        )
    };
    let (db, schema, proc) = match name.0.as_slice() {
        [p] => (None, None, p),
        [s, p] => (None, Some(s), p),
        [d, s, p] => (Some(d), Some(s), p),
        _ => return Err(missing()),
    };
    if db.is_some_and(|d| !d.eq_ignore_ascii_case("master"))
        || schema.is_some_and(|s| !s.eq_ignore_ascii_case("dbo") && !s.eq_ignore_ascii_case("sys"))
    {
        return Err(missing());
    }
    let p = match proc.to_ascii_lowercase().as_str() {
        "xp_dirtree" => Procedure::DirTree,
        "xp_fileexist" => Procedure::FileExist,
        SP_DELETE => Procedure::DeleteSecondary,
        _ => return Err(missing()),
    };
    Ok((p, db.is_some()))
}

fn unverified(message: String) -> ServerError {
    ServerError::new(
        crate::sim::model::SIM_UNVERIFIED,
        16,
        format!("[drover simulator] {message}"),
    )
}

/// Positional arguments of an extended procedure: strings or ints only.
fn positional(proc: &str, args: &[ExecArg], params: &[Param]) -> Result<Vec<Scalar>, ServerError> {
    args.iter()
        .map(|a| match &a.name {
            Some(n) => Err(unverified(format!("{proc} takes positional arguments, not {n}"))),
            None => resolve(&a.value, params),
        })
        .collect()
}

impl Engine {
    pub(super) fn caller(&self) -> Caller<'_> {
        Caller {
            spid: self.spid as i16,
            database: &self.database,
        }
    }

    /// Checks a BACKUP/RESTORE now; errors come at once, each followed by 3013.
    pub(super) fn start_media(&mut self, op: MediaOp) -> Step {
        let now = self.clock.now();
        let checked = self.world().check_media(now, &self.instance, self.caller(), &op);
        match checked {
            Ok(takes) => Step::Media { op, takes },
            Err(e) => Step::Now(vec![Outcome::Error(e), Outcome::Error(op.verb().terminated())]),
        }
    }

    /// Carries out a BACKUP/RESTORE whose time has passed.
    pub(super) fn finish_media(&mut self, op: &MediaOp, took: std::time::Duration) -> Vec<Outcome> {
        let now = self.clock.now();
        let result = self.world().run_media(now, &self.instance, self.caller(), op, took);
        match result {
            Ok(messages) => messages
                .into_iter()
                .map(|(number, message)| Outcome::Info { number, message })
                .chain([Outcome::Done { rows_affected: None }])
                .collect(),
            Err(e) => vec![Outcome::Error(e), Outcome::Error(op.verb().terminated())],
        }
    }

    pub(super) fn pool_step(&mut self, st: &Statement, params: &[Param]) -> Result<Step, ServerError> {
        let now = self.clock.now();
        let instance = self.instance.clone();
        let done = || Ok(Step::Now(vec![Outcome::Done { rows_affected: None }]));
        match st {
            Statement::BackupLog {
                database,
                disk,
                options,
            } => {
                let op = MediaOp::BackupLog {
                    database: database.clone(),
                    path: string_arg(disk, params)?,
                    init: options.contains(&BackupOption::Init),
                    norecovery: options.contains(&BackupOption::NoRecovery),
                };
                Ok(self.start_media(op))
            }
            Statement::Restore {
                kind,
                database,
                disk,
                options,
            } => {
                let recovery = !options.contains(&RestoreOption::NoRecovery);
                if !recovery && options.contains(&RestoreOption::Recovery) {
                    return Err(ServerError::new(
                        3031,
                        16,
                        "Option 'norecovery' conflicts with option(s) 'recovery'. Remove the conflicting option and reissue the statement.",
                    ));
                }
                let path = disk.as_ref().map(|d| string_arg(d, params)).transpose()?;
                let database = database.clone();
                let op = match (kind, path) {
                    (RestoreKind::Log, Some(path)) => MediaOp::RestoreLog {
                        database,
                        path,
                        recovery,
                    },
                    (_, path) => MediaOp::RestoreDatabase {
                        database,
                        path,
                        replace: options.contains(&RestoreOption::Replace),
                        recovery,
                    },
                };
                Ok(self.start_media(op))
            }
            Statement::SetPartnerOff { database } => {
                self.world().set_partner_off(now, &instance, database)?;
                done()
            }
            Statement::Kill { session } => {
                let own = self.spid as i16;
                self.world().kill(now, &instance, own, *session)?;
                done()
            }
            Statement::Exec { procedure: name, args } => self.exec(name, args, params),
            other => Err(unverified(format!("{other:?} is not a pool statement"))),
        }
    }

    fn exec(&mut self, name: &ObjectName, args: &[ExecArg], params: &[Param]) -> Result<Step, ServerError> {
        let now = self.clock.now();
        let instance = self.instance.clone();
        let (proc, qualified) = procedure(name)?;
        let rows = |rs| Ok(Step::Now(vec![Outcome::Rows(rs)]));
        match proc {
            Procedure::DirTree => {
                let args = positional("xp_dirtree", args, params)?;
                let (path, depth, file) = match args.as_slice() {
                    [Scalar::Str(p)] => (p.clone(), 0, 0),
                    [Scalar::Str(p), Scalar::Int(d)] => (p.clone(), *d, 0),
                    [Scalar::Str(p), Scalar::Int(d), Scalar::Int(f)] => (p.clone(), *d, *f),
                    _ => return Err(unverified("xp_dirtree takes (path, depth, file)".into())),
                };
                rows(self.world().xp_dirtree(now, &instance, &path, depth, file)?)
            }
            Procedure::FileExist => match positional("xp_fileexist", args, params)?.as_slice() {
                [Scalar::Str(p)] => rows(self.world().xp_fileexist(now, &instance, p)),
                _ => Err(unverified("xp_fileexist takes one path (no OUTPUT parameter)".into())),
            },
            Procedure::DeleteSecondary => {
                let database = self.delete_secondary_args(args, params)?;
                // It must run in master; `master.dbo.…` runs there from anywhere.
                if !qualified && !self.database.eq_ignore_ascii_case("master") {
                    return Err(unverified(format!("{SP_DELETE} must be run from the master database")));
                }
                self.world().delete_log_shipping_secondary(now, &instance, &database);
                Ok(Step::Now(vec![Outcome::Done { rows_affected: None }]))
            }
        }
    }

    /// Binds `@secondary_database` (and the ignored `@ignoreremotemonitor`).
    fn delete_secondary_args(&self, args: &[ExecArg], params: &[Param]) -> Result<String, ServerError> {
        const NAMES: [&str; 2] = ["@secondary_database", "@ignoreremotemonitor"];
        let mut bound: [Option<Scalar>; 2] = [None, None];
        for (i, a) in args.iter().enumerate() {
            let slot = match &a.name {
                None if i < NAMES.len() => i,
                None => {
                    return Err(ServerError::new(
                        8144,
                        16,
                        format!("Procedure or function {SP_DELETE} has too many arguments specified."),
                    ));
                }
                Some(n) => NAMES.iter().position(|x| x.eq_ignore_ascii_case(n)).ok_or_else(|| {
                    ServerError::new(8145, 16, format!("{n} is not a parameter for procedure {SP_DELETE}."))
                })?,
            };
            bound[slot] = Some(resolve(&a.value, params)?);
        }
        match &bound[0] {
            Some(Scalar::Str(s)) => Ok(s.clone()),
            Some(other) => Err(unverified(format!(
                "@secondary_database must be a name, not {}",
                scalar_text(other)
            ))),
            None => Err(ServerError::new(
                201,
                16,
                format!(
                    "Procedure or function '{SP_DELETE}' expects parameter '@secondary_database', which was not supplied."
                ),
            )),
        }
    }
}
