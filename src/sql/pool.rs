//! What drover reads from a Persistent Chat pool's SQL instance per poll: its
//! databases with their mirroring, the log-shipping secondaries it hosts (from
//! msdb) and the user sessions holding databases. Like [`super::observe`], every
//! SELECT reads one view and rows are joined here, by id or name.

use jiff::Timestamp;
use jiff::civil;
use tiberius::{Row, Uuid};

use super::error::SqlError;
use super::observe::RowReader;
use super::types::{DatabaseState, MirroringRole, MirroringState};

/// Six single-view SELECTs, answered as six result sets in this order.
pub const POOL_OBSERVATION_BATCH: &str = "\
SELECT @@SERVERNAME AS server_name;
SELECT database_id, name, state_desc FROM sys.databases;
SELECT database_id, mirroring_guid, mirroring_state_desc, mirroring_role_desc, mirroring_partner_instance FROM sys.database_mirroring;
SELECT primary_server, primary_database, secondary_server, secondary_database, last_copied_file, last_copied_date_utc, last_restored_file, last_restored_date_utc FROM msdb.dbo.log_shipping_monitor_secondary;
SELECT secondary_database, restore_mode, restore_delay, last_restored_file FROM msdb.dbo.log_shipping_secondary_databases;
SELECT session_id, database_id, is_user_process FROM sys.dm_exec_sessions;
";

/// The source of each result set of [`POOL_OBSERVATION_BATCH`], for error messages.
const VIEWS: [&str; 6] = [
    "@@SERVERNAME",
    "sys.databases",
    "sys.database_mirroring",
    "msdb.dbo.log_shipping_monitor_secondary",
    "msdb.dbo.log_shipping_secondary_databases",
    "sys.dm_exec_sessions",
];

/// Everything one pool instance reports.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolInstanceObservation {
    pub server_name: Option<String>,
    /// From `sys.databases`, joined with `sys.database_mirroring` by id.
    pub databases: Vec<PoolDatabase>,
    /// Monitor rows joined with `log_shipping_secondary_databases` by secondary database.
    pub log_shipping: Vec<LogShippingSecondary>,
    /// User sessions only (`is_user_process = 1`), the caller's own included.
    pub sessions: Vec<Session>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PoolDatabase {
    pub database_id: i32,
    pub name: String,
    pub state: DatabaseState,
    /// `None` when the database is not in a mirroring session.
    pub mirroring: Option<Mirroring>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mirroring {
    pub role: MirroringRole,
    pub state: MirroringState,
    pub partner_instance: Option<String>,
}

/// One database this instance is the log-shipping secondary of.
#[derive(Debug, Clone, PartialEq)]
pub struct LogShippingSecondary {
    pub primary_server: String,
    pub primary_database: String,
    pub secondary_database: String,
    /// Full path of the newest log backup the copy job copied.
    pub last_copied_file: Option<String>,
    pub last_copied_at: Option<Timestamp>,
    /// Full path of the newest log backup the restore job applied.
    pub last_restored_file: Option<String>,
    pub last_restored_at: Option<Timestamp>,
    pub restore_delay_minutes: Option<i32>,
    /// A `log_shipping_secondary_databases` row exists for it.
    pub configured: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub session_id: i16,
    pub database_id: i32,
}

impl PoolInstanceObservation {
    /// The database called `name` (SQL Server compares names case-insensitively).
    pub fn database(&self, name: &str) -> Option<&PoolDatabase> {
        self.databases.iter().find(|d| d.name.eq_ignore_ascii_case(name))
    }

    /// The log-shipping secondary configuration of database `name`, if any.
    pub fn log_shipping_of(&self, name: &str) -> Option<&LogShippingSecondary> {
        self.log_shipping
            .iter()
            .find(|l| l.secondary_database.eq_ignore_ascii_case(name))
    }

    /// User sessions whose current database is `name`.
    pub fn sessions_in(&self, name: &str) -> Vec<Session> {
        let Some(db) = self.database(name) else {
            return Vec::new();
        };
        self.sessions
            .iter()
            .filter(|s| s.database_id == db.database_id)
            .copied()
            .collect()
    }
}

/// Turns the six result sets of [`POOL_OBSERVATION_BATCH`] into a [`PoolInstanceObservation`].
pub fn parse_pool_observation(mut results: Vec<Vec<Row>>) -> Result<PoolInstanceObservation, SqlError> {
    let count = results.len();
    results.truncate(VIEWS.len());
    let [names, databases, mirroring, monitor, secondaries, sessions] =
        <[Vec<Row>; 6]>::try_from(results).map_err(|_| SqlError::Decode {
            view: VIEWS.get(count).copied().unwrap_or("pool observation batch"),
            column: "*",
            detail: format!("result set missing: the batch returned {count} of 6 result sets"),
        })?;
    let server_name = match names.first() {
        Some(row) => RowReader::new(VIEWS[0], row).opt("server_name")?,
        None => None,
    };
    let mut mirrors = Vec::new();
    for row in &mirroring {
        let r = RowReader::new(VIEWS[2], row);
        let id: i32 = r.req("database_id")?;
        // sys.database_mirroring has a row per database; NULLs mean "not mirrored".
        if r.opt::<Uuid>("mirroring_guid")?.is_none() {
            continue;
        }
        let role = r.opt::<String>("mirroring_role_desc")?.unwrap_or_default();
        let state = r.opt::<String>("mirroring_state_desc")?.unwrap_or_default();
        mirrors.push((
            id,
            Mirroring {
                role: MirroringRole::parse(&role),
                state: MirroringState::parse(&state),
                partner_instance: r.opt("mirroring_partner_instance")?,
            },
        ));
    }
    let databases = databases
        .iter()
        .map(|row| {
            let r = RowReader::new(VIEWS[1], row);
            let database_id = r.req("database_id")?;
            Ok(PoolDatabase {
                database_id,
                name: r.req("name")?,
                state: DatabaseState::parse(&r.req::<String>("state_desc")?),
                mirroring: mirrors
                    .iter()
                    .find(|(id, _)| *id == database_id)
                    .map(|(_, m)| m.clone()),
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    let mut configured = Vec::new();
    for row in &secondaries {
        let r = RowReader::new(VIEWS[4], row);
        let name: String = r.req("secondary_database")?;
        configured.push((name, r.opt::<i32>("restore_delay")?));
    }
    let log_shipping = monitor
        .iter()
        .map(|row| {
            let r = RowReader::new(VIEWS[3], row);
            let secondary_database: String = r.req("secondary_database")?;
            let config = configured
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&secondary_database));
            Ok(LogShippingSecondary {
                primary_server: r.req("primary_server")?,
                primary_database: r.req("primary_database")?,
                last_copied_file: r.opt("last_copied_file")?,
                last_copied_at: utc(r, "last_copied_date_utc")?,
                last_restored_file: r.opt("last_restored_file")?,
                last_restored_at: utc(r, "last_restored_date_utc")?,
                restore_delay_minutes: config.and_then(|(_, delay)| *delay),
                configured: config.is_some(),
                secondary_database,
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    let mut user_sessions = Vec::new();
    for row in &sessions {
        let r = RowReader::new(VIEWS[5], row);
        let session_id = r.req("session_id")?;
        let database_id = r.opt("database_id")?.unwrap_or(0);
        if r.req("is_user_process")? {
            user_sessions.push(Session {
                session_id,
                database_id,
            });
        }
    }
    Ok(PoolInstanceObservation {
        server_name,
        databases,
        log_shipping,
        sessions: user_sessions,
    })
}

/// A `*_utc` datetime column as a timestamp.
fn utc(r: RowReader<'_>, column: &'static str) -> Result<Option<Timestamp>, SqlError> {
    r.opt::<civil::DateTime>(column)?
        .map(|dt| {
            jiff::tz::TimeZone::UTC.to_timestamp(dt).map_err(|e| SqlError::Decode {
                view: VIEWS[3],
                column,
                detail: format!("{dt} is not a valid UTC time: {e}"),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests;
