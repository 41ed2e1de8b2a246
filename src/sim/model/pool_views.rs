//! The views of runbook B as an instance shows them: `sys.database_mirroring`,
//! `sys.dm_exec_sessions`, msdb's log-shipping and restore history tables, and
//! the result sets of `xp_dirtree` and `xp_fileexist`.

use super::{SimTime, World};
use crate::sim::table::{Column, ResultSet, ServerError, SqlType, Value};

const DESC: SqlType = SqlType::NVarChar(60);
const SYSNAME: SqlType = SqlType::NVarChar(128);
const PATH: SqlType = SqlType::NVarChar(500);

fn cols(spec: &[(&str, SqlType, bool)]) -> Vec<Column> {
    spec.iter().map(|(n, t, null)| Column::new(n, *t, *null)).collect()
}

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

fn int(v: impl Into<i64>) -> Value {
    Value::Int(v.into())
}

/// Session ids SQL Server's own background tasks show (is_user_process = 0).
const SYSTEM_SESSIONS: std::ops::RangeInclusive<i16> = 1..=5;

impl World {
    /// The pool views by name; None for any other view.
    pub(crate) fn pool_view(&self, instance: &str, view: &str) -> Option<ResultSet> {
        Some(match view {
            "sys.database_mirroring" => self.database_mirroring(instance),
            "msdb.dbo.log_shipping_monitor_secondary" => self.monitor_secondary(instance),
            "msdb.dbo.log_shipping_secondary_databases" => self.secondary_databases(instance),
            "msdb.dbo.restorehistory" => self.restorehistory(instance),
            _ => return None,
        })
    }

    /// Every database `instance` shows, as (name, id), system databases first.
    pub(crate) fn databases_on(&self, instance: &str) -> Vec<(String, i32)> {
        let mut out: Vec<(String, i32)> = ["master", "tempdb", "model", "msdb"]
            .iter()
            .zip(1..)
            .map(|(n, id)| (n.to_string(), id))
            .collect();
        for ag in self
            .ags
            .iter()
            .filter(|a| a.replicas.iter().any(|r| r.instance.eq_ignore_ascii_case(instance)))
        {
            out.extend(ag.databases.iter().map(|d| (d.name.clone(), d.database_id)));
        }
        out.extend(
            self.pool
                .dbs
                .iter()
                .filter(|d| d.instance.eq_ignore_ascii_case(instance))
                .map(|d| (d.name.clone(), d.database_id)),
        );
        out
    }

    /// One row per database; NULLs for a database not in a mirroring session.
    fn database_mirroring(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("database_id", SqlType::Int, false),
            ("mirroring_guid", SqlType::UniqueIdentifier, true),
            ("mirroring_state", SqlType::TinyInt, true),
            ("mirroring_state_desc", DESC, true),
            ("mirroring_role", SqlType::TinyInt, true),
            ("mirroring_role_desc", DESC, true),
            ("mirroring_safety_level_desc", DESC, true),
            ("mirroring_partner_name", SYSNAME, true),
            ("mirroring_partner_instance", SYSNAME, true),
        ]);
        let rows = self
            .databases_on(instance)
            .into_iter()
            .map(|(name, id)| match self.mirror_row(instance, &name) {
                None => {
                    let mut row = vec![int(id)];
                    row.extend(std::iter::repeat_n(Value::Null, columns.len() - 1));
                    row
                }
                Some(m) => {
                    let (state, state_desc) = if m.connected {
                        (4, "SYNCHRONIZED")
                    } else {
                        (1, "DISCONNECTED")
                    };
                    let (role, role_desc) = if m.principal { (1, "PRINCIPAL") } else { (2, "MIRROR") };
                    vec![
                        int(id),
                        Value::Guid(m.guid),
                        int(state),
                        s(state_desc),
                        int(role),
                        s(role_desc),
                        s("FULL"),
                        s(&format!("TCP://{}.sim.local:5022", m.partner.to_lowercase())),
                        s(&m.partner),
                    ]
                }
            })
            .collect();
        ResultSet { columns, rows }
    }

    fn when(&self, at: Option<SimTime>) -> Value {
        at.map_or(Value::Null, |t| Value::DateTime(self.wall_time(t)))
    }

    fn monitor_secondary(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("secondary_server", SYSNAME, false),
            ("secondary_database", SYSNAME, false),
            ("secondary_id", SqlType::UniqueIdentifier, false),
            ("primary_server", SYSNAME, false),
            ("primary_database", SYSNAME, false),
            ("restore_threshold", SqlType::Int, false),
            ("threshold_alert", SqlType::Int, false),
            ("threshold_alert_enabled", SqlType::Bit, false),
            ("last_copied_file", PATH, true),
            ("last_copied_date", SqlType::DateTime, true),
            ("last_copied_date_utc", SqlType::DateTime, true),
            ("last_restored_file", PATH, true),
            ("last_restored_date", SqlType::DateTime, true),
            ("last_restored_date_utc", SqlType::DateTime, true),
            ("last_restored_latency", SqlType::Int, true),
            ("history_retention_period", SqlType::Int, false),
        ]);
        let rows = self
            .secondaries_on(instance)
            .map(|l| {
                let copied = l.last_copied.as_ref();
                let restored = l.last_restored.as_ref();
                let path = |x: Option<&(String, SimTime)>| x.map_or(Value::Null, |(p, _)| s(p));
                vec![
                    s(&l.cfg.secondary),
                    s(&l.cfg.database),
                    Value::Guid(l.secondary_id),
                    s(&l.cfg.primary),
                    s(&l.cfg.database),
                    int(45),
                    int(14421),
                    Value::Bit(true),
                    path(copied),
                    self.when(copied.map(|c| c.1)),
                    self.when(copied.map(|c| c.1)),
                    path(restored),
                    self.when(restored.map(|c| c.1)),
                    self.when(restored.map(|c| c.1)),
                    restored.map_or(Value::Null, |_| int(0)),
                    int(5760),
                ]
            })
            .collect();
        ResultSet { columns, rows }
    }

    fn secondary_databases(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("secondary_database", SYSNAME, false),
            ("secondary_id", SqlType::UniqueIdentifier, false),
            ("restore_delay", SqlType::Int, false),
            ("restore_all", SqlType::Bit, false),
            ("restore_mode", SqlType::Bit, false),
            ("disconnect_users", SqlType::Bit, false),
            ("block_size", SqlType::Int, true),
            ("buffer_count", SqlType::Int, true),
            ("max_transfer_size", SqlType::Int, true),
            ("last_restored_file", PATH, true),
            ("last_restored_date", SqlType::DateTime, true),
        ]);
        let rows = self
            .secondaries_on(instance)
            .map(|l| {
                let minutes = (l.cfg.restore_delay.as_secs() / 60).min(i32::MAX as u64);
                vec![
                    s(&l.cfg.database),
                    Value::Guid(l.secondary_id),
                    int(minutes as i32),
                    Value::Bit(true),
                    // 0: NORECOVERY, 1: STANDBY.
                    Value::Bit(false),
                    Value::Bit(false),
                    int(-1),
                    int(-1),
                    int(-1),
                    l.last_restored.as_ref().map_or(Value::Null, |(p, _)| s(p)),
                    self.when(l.last_restored.as_ref().map(|r| r.1)),
                ]
            })
            .collect();
        ResultSet { columns, rows }
    }

    fn secondaries_on<'a>(&'a self, instance: &'a str) -> impl Iterator<Item = &'a super::logship::LogShipping> + 'a {
        self.pool
            .shipping
            .iter()
            .filter(move |l| l.secondary_configured && l.cfg.secondary.eq_ignore_ascii_case(instance))
    }

    fn restorehistory(&self, instance: &str) -> ResultSet {
        let columns = cols(&[
            ("restore_history_id", SqlType::Int, false),
            ("restore_date", SqlType::DateTime, true),
            ("destination_database_name", SYSNAME, true),
            ("user_name", SYSNAME, true),
            ("backup_set_id", SqlType::Int, false),
            ("restore_type", SqlType::Char(1), true),
            ("replace", SqlType::Bit, true),
            ("recovery", SqlType::Bit, true),
            ("restart", SqlType::Bit, true),
        ]);
        let rows = self
            .restore_history(instance)
            .into_iter()
            .map(|r| {
                vec![
                    int(r.restore_history_id),
                    Value::DateTime(self.wall_time(r.restore_date)),
                    s(&r.destination_database_name),
                    s(&self.cfg.login.user),
                    int(r.backup_set_id),
                    s(&r.restore_type.to_string()),
                    Value::Bit(r.restore_type == 'D' && r.file.is_some()),
                    Value::Bit(r.recovery),
                    Value::Bit(false),
                ]
            })
            .collect();
        ResultSet { columns, rows }
    }

    /// `sys.dm_exec_sessions` for the session `own` whose current database is `current`.
    pub fn exec_sessions(&mut self, now: SimTime, instance: &str, own: i16, current: &str) -> ResultSet {
        self.advance(now);
        let columns = cols(&[
            ("session_id", SqlType::SmallInt, false),
            ("login_time", SqlType::DateTime, false),
            ("host_name", SYSNAME, true),
            ("program_name", SYSNAME, true),
            ("login_name", SYSNAME, false),
            ("status", SqlType::NVarChar(30), false),
            ("database_id", SqlType::SmallInt, true),
            ("is_user_process", SqlType::Bit, false),
        ]);
        let row = |id: i16, host: &str, program: &str, login: &str, status: &str, db: i32, user: bool| {
            vec![
                int(id),
                Value::DateTime(self.epoch),
                s(host),
                s(program),
                s(login),
                s(status),
                int(db),
                Value::Bit(user),
            ]
        };
        let mut rows: Vec<(i16, Vec<Value>)> = SYSTEM_SESSIONS
            .map(|id| (id, row(id, "", "", "sa", "background", 1, false)))
            .collect();
        let user = self.cfg.login.user.clone();
        let db = self.database_id_on(instance, current).unwrap_or(1);
        rows.push((own, row(own, "drover", "drover", &user, "running", db, true)));
        for x in self
            .pool
            .sessions
            .iter()
            .filter(|x| x.instance.eq_ignore_ascii_case(instance))
        {
            let db = self.database_id_on(instance, &x.database).unwrap_or(1);
            let (host, program) = match &x.owner {
                Some((_, server)) => (server.as_str(), "Persistent Chat"),
                None => ("sim", "simulated session"),
            };
            rows.push((x.id, row(x.id, host, program, &user, "sleeping", db, true)));
        }
        rows.sort_by_key(|(id, _)| *id);
        ResultSet {
            columns,
            rows: rows.into_iter().map(|(_, r)| r).collect(),
        }
    }

    /// `xp_dirtree N'path', depth, file`: sub-folders and (with `file = 1`) files.
    pub fn xp_dirtree(
        &mut self,
        now: SimTime,
        instance: &str,
        path: &str,
        depth: i128,
        file: i128,
    ) -> Result<ResultSet, ServerError> {
        self.advance(now);
        if depth != 1 {
            return Err(ServerError::new(
                super::rules::SIM_UNVERIFIED,
                16,
                format!("[drover simulator] xp_dirtree is simulated with depth 1 only, not {depth}"),
            ));
        }
        let columns = cols(&[
            ("subdirectory", SqlType::NVarChar(512), true),
            ("depth", SqlType::Int, true),
            ("file", SqlType::Int, true),
        ]);
        let mut entries: Vec<(String, bool)> = self
            .subfolders(instance, path)
            .into_iter()
            .map(|d| (d, false))
            .collect();
        if file != 0 {
            entries.extend(self.files(path, instance).into_iter().map(|f| (f, true)));
        }
        entries.sort_by_key(|(name, _)| name.to_lowercase());
        let rows = entries
            .into_iter()
            .map(|(name, is_file)| vec![s(&name), int(1), int(i32::from(is_file))])
            .collect();
        Ok(ResultSet { columns, rows })
    }

    /// `xp_fileexist N'path'`: one row; all zeros when the path cannot be reached.
    pub fn xp_fileexist(&mut self, now: SimTime, instance: &str, path: &str) -> ResultSet {
        self.advance(now);
        let (file, dir, parent) = self.path_status(instance, path);
        ResultSet {
            columns: cols(&[
                ("File Exists", SqlType::Int, true),
                ("File is a Directory", SqlType::Int, true),
                ("Parent Directory Exists", SqlType::Int, true),
            ]),
            rows: vec![vec![int(i32::from(file)), int(i32::from(dir)), int(i32::from(parent))]],
        }
    }
}
