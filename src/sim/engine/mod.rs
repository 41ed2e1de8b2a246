//! The SQL engine of one simulated instance: runs a parsed batch against the
//! shared world model and turns the results into TDS outcomes.

mod pool;
mod select;

use crate::sim::clock::SimClock;
use crate::sim::model::World;
use crate::sim::model::config::AvailabilityMode;
use crate::sim::parse::ast::{self, AgAction, BackupOption, Literal, Statement};
use crate::sim::parse::parse_batch;
use crate::sim::table::{Column, Outcome, Param, ResultSet, ServerError, SqlType, Value};
use select::{Scalar, format_guid};
use std::sync::{Arc, Mutex, MutexGuard};

/// `@@VERSION` of the simulated instances.
pub const VERSION: &str = "Microsoft SQL Server 2022 (RTM-CU15) (KB5041321) - 16.0.4135.4 (X64) (drover simulator)";

/// One connection's state: which instance it is on and its current database.
pub struct Engine {
    pub instance: String,
    pub database: String,
    pub world: Arc<Mutex<World>>,
    pub clock: SimClock,
    pub spid: u16,
}

/// What a statement does once the model has been consulted: most finish at
/// once; a backup runs for a while before it is recorded; a BACKUP or RESTORE
/// of a standalone database runs for a while and then takes effect.
enum Step {
    Now(Vec<Outcome>),
    Backup {
        record: crate::sim::model::BackupRecord,
        takes: std::time::Duration,
    },
    Media {
        op: crate::sim::model::MediaOp,
        takes: std::time::Duration,
    },
}

/// Errors that abort the rest of the batch (name-resolution errors), as
/// opposed to statement-level errors after which the batch goes on.
fn aborts_batch(e: &ServerError) -> bool {
    matches!(e.number, 207 | 208 | 137 | 911 | 927 | 945 | 976)
}

impl Engine {
    fn world(&self) -> MutexGuard<'_, World> {
        crate::sim::lock(&self.world)
    }

    /// Runs a batch: a syntax error anywhere means nothing runs.
    pub async fn run_batch(&mut self, sql: &str, params: &[Param]) -> Vec<Outcome> {
        let instance = self.instance.clone();
        self.world().count_batch(&instance);
        let statements = match parse_batch(sql) {
            Ok(s) => s,
            Err(e) => return vec![Outcome::Error(e)],
        };
        let mut out = Vec::new();
        for st in &statements {
            match self.step(st, params) {
                Ok(Step::Now(o)) => out.extend(o),
                Ok(Step::Backup { record, takes }) => {
                    tokio::time::sleep(takes).await;
                    let now = self.clock.now();
                    let db = record.database.clone();
                    let pages = 1000 + record.transactions as u64 * 8;
                    self.world().record_backup(now, record);
                    out.push(Outcome::Info {
                        number: 4035,
                        message: format!("Processed {pages} pages for database '{db}', file '{db}' on file 1."),
                    });
                    out.push(Outcome::Info {
                        number: 3014,
                        message: format!(
                            "BACKUP DATABASE successfully processed {pages} pages in {:.3} seconds.",
                            takes.as_secs_f64()
                        ),
                    });
                    out.push(Outcome::Done { rows_affected: None });
                }
                Ok(Step::Media { op, takes }) => {
                    tokio::time::sleep(takes).await;
                    out.extend(self.finish_media(&op, takes));
                }
                Err(e) => {
                    let abort = aborts_batch(&e);
                    out.push(Outcome::Error(e));
                    if abort {
                        break;
                    }
                }
            }
        }
        out
    }

    fn step(&mut self, st: &Statement, params: &[Param]) -> Result<Step, ServerError> {
        let now = self.clock.now();
        let kind = match st {
            Statement::Select(_) => "select",
            Statement::AlterAvailabilityGroup { .. } => "alter_ag",
            Statement::ResumeDatabase { .. } | Statement::SuspendDatabase { .. } => "alter_database",
            Statement::BackupDatabase { .. } => "backup",
            Statement::SetOption { .. } => "set",
            Statement::Use { .. } => "use",
            Statement::Restore { .. } => "restore",
            Statement::BackupLog { .. } => "backup",
            Statement::Exec { .. } => "exec",
            Statement::Kill { .. } => "kill",
            Statement::SetPartnerOff { .. } => "alter_database",
        };
        let instance = self.instance.clone();
        self.world().count_statement(&instance, kind);
        let done = || Ok(Step::Now(vec![Outcome::Done { rows_affected: None }]));
        match st {
            Statement::Select(sel) => self.select(sel, params).map(|rs| Step::Now(vec![Outcome::Rows(rs)])),
            Statement::AlterAvailabilityGroup { group, action } => {
                let mut w = self.world();
                match action {
                    AgAction::Failover => w.failover(now, &instance, group, false)?,
                    AgAction::ForceFailoverAllowDataLoss => w.failover(now, &instance, group, true)?,
                    AgAction::SetRoleSecondary => w.demote(now, &instance, group)?,
                    AgAction::ModifyReplicaAvailabilityMode { server, mode } => {
                        let server = string_arg(server, params)?;
                        let mode = match mode {
                            ast::AvailabilityMode::SynchronousCommit => AvailabilityMode::SynchronousCommit,
                            ast::AvailabilityMode::AsynchronousCommit => AvailabilityMode::AsynchronousCommit,
                        };
                        w.set_availability_mode(now, &instance, group, &server, mode)?
                    }
                    AgAction::ModifyReplicaFailoverMode { server, mode } => {
                        let server = string_arg(server, params)?;
                        w.set_failover_mode(now, &instance, group, &server, *mode == ast::FailoverMode::Automatic)?
                    }
                    AgAction::SetRequiredSynchronizedSecondaries(n) => {
                        let n = match resolve(n, params)? {
                            Scalar::Int(n) => n,
                            other => {
                                return Err(ServerError::new(
                                    102,
                                    15,
                                    format!("Incorrect syntax near '{}'.", scalar_text(&other)),
                                ));
                            }
                        };
                        w.set_required_sync(now, &instance, group, n)?
                    }
                }
                done()
            }
            Statement::ResumeDatabase { database } => {
                let resumed = self.world().resume_database(now, &instance, database)?;
                let mut out = Vec::new();
                if resumed {
                    out.push(Outcome::Info {
                        number: 35265,
                        message: format!(
                            "Data movement to database '{database}' has been resumed for the following reason: \"user\"."
                        ),
                    });
                }
                out.push(Outcome::Done { rows_affected: None });
                Ok(Step::Now(out))
            }
            Statement::SuspendDatabase { database } => {
                self.world().suspend_database(now, &instance, database)?;
                done()
            }
            Statement::BackupDatabase {
                database,
                disk,
                options,
            } if self.world().is_standalone(&instance, database) => {
                let op = crate::sim::model::MediaOp::BackupDatabase {
                    database: database.clone(),
                    path: string_arg(disk, params)?,
                    init: options.contains(&BackupOption::Init),
                };
                Ok(self.start_media(op))
            }
            Statement::BackupDatabase {
                database,
                disk,
                options,
            } => {
                let path = string_arg(disk, params)?;
                let copy_only = options.contains(&BackupOption::CopyOnly);
                let checksum = options.contains(&BackupOption::Checksum);
                let (record, takes) = self
                    .world()
                    .begin_backup(now, &instance, database, &path, copy_only, checksum)?;
                Ok(Step::Backup { record, takes })
            }
            Statement::SetOption { .. } => done(),
            Statement::Use { database } => {
                self.world().database_access(&instance, database)?;
                self.database = database.clone();
                done()
            }
            Statement::Restore { .. }
            | Statement::BackupLog { .. }
            | Statement::Exec { .. }
            | Statement::Kill { .. }
            | Statement::SetPartnerOff { .. } => self.pool_step(st, params),
        }
    }

    fn select(&self, sel: &ast::Select, params: &[Param]) -> Result<ResultSet, ServerError> {
        let Some(from) = &sel.from else {
            return self.select_globals(&sel.items);
        };
        let view = self.resolve_view(from)?;
        let now = self.clock.now();
        let full = if view == "sys.dm_exec_sessions" {
            // The only view that depends on who asks.
            let own = self.spid as i16;
            self.world().exec_sessions(now, &self.instance, own, &self.database)
        } else {
            self.world()
                .view(now, &self.instance, &view)
                .ok_or_else(|| invalid_object(from))?
        };
        let filter = sel
            .filter
            .iter()
            .map(|c| resolve(&c.value, params).map(|v| (c.clone(), v)))
            .collect::<Result<Vec<_>, _>>()?;
        select::select(full, &sel.items, &filter)
    }

    /// `sys.x`, `[sys].[x]` or `db.sys.x` (db must exist here) → `"sys.x"`;
    /// msdb's tables (`msdb.dbo.x`, or `dbo.x` while in msdb) → `"msdb.dbo.x"`.
    fn resolve_view(&self, name: &ast::ObjectName) -> Result<String, ServerError> {
        let parts = &name.0;
        let (db, schema, object) = match parts.as_slice() {
            [schema, object] => (self.database.as_str(), schema, object),
            [db, schema, object] => {
                self.world().database_access(&self.instance, db)?;
                (db.as_str(), schema, object)
            }
            _ => return Err(invalid_object(name)),
        };
        let (schema, object) = (schema.to_lowercase(), object.to_lowercase());
        if schema == "dbo" && db.eq_ignore_ascii_case("msdb") {
            return Ok(format!("msdb.dbo.{object}"));
        }
        Ok(format!("{schema}.{object}"))
    }

    fn select_globals(&self, items: &[ast::SelectItem]) -> Result<ResultSet, ServerError> {
        let mut rs = ResultSet::default();
        let mut row = Vec::new();
        for item in items {
            let ast::SelectItem::Global { global, alias } = item else {
                let text = match item {
                    ast::SelectItem::Column { name, .. } => name.clone(),
                    _ => "*".into(),
                };
                return Err(if text == "*" {
                    ServerError::new(263, 16, "Must specify table to select from.")
                } else {
                    ServerError::new(207, 16, format!("Invalid column name '{text}'."))
                });
            };
            let (ty, value) = match global.0.as_str() {
                "VERSION" => (SqlType::NVarChar(300), Value::Str(VERSION.into())),
                "SERVERNAME" => (SqlType::NVarChar(128), Value::Str(self.instance.clone())),
                "SERVICENAME" => (SqlType::NVarChar(128), Value::Str("MSSQLSERVER".into())),
                "SPID" => (SqlType::SmallInt, Value::Int(i64::from(self.spid))),
                "LANGUAGE" => (SqlType::NVarChar(128), Value::Str("us_english".into())),
                "TRANCOUNT" => (SqlType::Int, Value::Int(0)),
                other => {
                    return Err(ServerError::new(
                        137,
                        15,
                        format!("Must declare the scalar variable \"@@{other}\"."),
                    ));
                }
            };
            rs.columns.push(Column::new(alias.as_deref().unwrap_or(""), ty, true));
            row.push(value);
        }
        rs.rows.push(row);
        Ok(rs)
    }
}

fn invalid_object(name: &ast::ObjectName) -> ServerError {
    ServerError::new(208, 16, format!("Invalid object name '{}'.", name.0.join(".")))
}

fn resolve(lit: &Literal, params: &[Param]) -> Result<Scalar, ServerError> {
    Ok(match lit {
        Literal::Str(s) => Scalar::Str(s.clone()),
        Literal::Int(n) => Scalar::Int(*n),
        Literal::Null => Scalar::Null,
        Literal::Param(name) => {
            let p = params
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| ServerError::new(137, 15, format!("Must declare the scalar variable \"{name}\".")))?;
            match &p.value {
                Value::Null => Scalar::Null,
                Value::Str(s) => Scalar::Str(s.clone()),
                Value::Int(n) => Scalar::Int(i128::from(*n)),
                Value::Bit(b) => Scalar::Int(i128::from(*b)),
                Value::Numeric(n) => Scalar::Int(*n),
                Value::Guid(g) => Scalar::Str(format_guid(g)),
                Value::DateTime(d) => Scalar::Str(d.to_string()),
            }
        }
    })
}

fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Str(s) => s.clone(),
        Scalar::Int(n) => n.to_string(),
        Scalar::Null => "NULL".into(),
    }
}

/// A string argument (replica name, backup path): a literal or a string parameter.
fn string_arg(lit: &Literal, params: &[Param]) -> Result<String, ServerError> {
    match resolve(lit, params)? {
        Scalar::Str(s) => Ok(s),
        other => Err(ServerError::new(
            102,
            15,
            format!("Incorrect syntax near '{}'.", scalar_text(&other)),
        )),
    }
}
