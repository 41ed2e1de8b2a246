//! The one batch drover reads from each replica per poll, and its typed result.
//! Rows are joined in Rust by id so every SELECT stays a plain single-view read
//! the simulator can answer, and every column is read by name, never by position.

use std::collections::HashMap;

use jiff::civil;
use tiberius::{ColumnData, Row, Uuid};

use super::error::SqlError;
use super::types::{
    AvailabilityMode, ClusterType, ConnectedState, DatabaseState, FailoverMode, Lsn, OperationalState, QuorumState,
    Role, SuspendReason, SyncHealth, SyncState,
};

/// Nine single-view SELECTs, one per line, answered as nine result sets in this order.
/// The last three are the WSFC's view of this node: `sys.dm_hadr_cluster` and
/// `sys.dm_hadr_cluster_members` have rows only while the node has quorum (none on a
/// node without quorum, none off a WSFC).
pub const OBSERVATION_BATCH: &str = "\
SELECT @@SERVERNAME AS server_name;
SELECT group_id, name, cluster_type, cluster_type_desc, required_synchronized_secondaries_to_commit, sequence_number FROM sys.availability_groups;
SELECT replica_id, group_id, replica_server_name, endpoint_url, availability_mode_desc, failover_mode_desc FROM sys.availability_replicas;
SELECT replica_id, group_id, is_local, role_desc, operational_state_desc, connected_state_desc, synchronization_health_desc, last_connect_error_number, last_connect_error_description FROM sys.dm_hadr_availability_replica_states;
SELECT database_id, group_id, replica_id, group_database_id, is_local, is_primary_replica, synchronization_state_desc, synchronization_health_desc, database_state_desc, is_suspended, suspend_reason_desc, last_hardened_lsn, last_commit_lsn, last_commit_time, end_of_log_lsn, log_send_queue_size, redo_queue_size, secondary_lag_seconds FROM sys.dm_hadr_database_replica_states;
SELECT database_id, name, state_desc, group_database_id FROM sys.databases;
SELECT cluster_name, quorum_type_desc, quorum_state_desc FROM sys.dm_hadr_cluster;
SELECT member_name, member_type_desc, member_state_desc, number_of_quorum_votes FROM sys.dm_hadr_cluster_members;
SELECT group_name, replica_server_name, node_name FROM sys.dm_hadr_availability_replica_cluster_nodes;
";

/// The source of each result set of [`OBSERVATION_BATCH`], for error messages.
const VIEWS: [&str; 9] = [
    "@@SERVERNAME",
    "sys.availability_groups",
    "sys.availability_replicas",
    "sys.dm_hadr_availability_replica_states",
    "sys.dm_hadr_database_replica_states",
    "sys.databases",
    "sys.dm_hadr_cluster",
    "sys.dm_hadr_cluster_members",
    "sys.dm_hadr_availability_replica_cluster_nodes",
];

/// Everything one replica reports about itself and the AGs it takes part in.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaObservation {
    pub server_name: Option<String>,
    pub groups: Vec<GroupObservation>,
    pub databases: Vec<LocalDatabase>,
    /// The WSFC as this node sees it; `None` when `sys.dm_hadr_cluster` returned no row:
    /// the node has no quorum, or the instance is not on a WSFC.
    pub wsfc: Option<WsfcObservation>,
    /// Which WSFC node hosts each replica (`sys.dm_hadr_availability_replica_cluster_nodes`).
    pub replica_nodes: Vec<ReplicaNode>,
}

/// The row of `sys.dm_hadr_cluster` (present only on a node with quorum) and the rows of
/// `sys.dm_hadr_cluster_members`.
#[derive(Debug, Clone, PartialEq)]
pub struct WsfcObservation {
    pub cluster_name: String,
    /// `quorum_type_desc`, e.g. `NODE_AND_FILE_SHARE_MAJORITY`.
    pub quorum_type: Option<String>,
    pub quorum_state: QuorumState,
    pub members: Vec<ClusterMember>,
}

/// One row of `sys.dm_hadr_cluster_members`: a node or the witness.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterMember {
    pub name: String,
    /// `member_type_desc`: CLUSTER_NODE, DISK_WITNESS, FILE_SHARE_WITNESS, CLOUD_WITNESS.
    pub member_type: String,
    /// `member_state_desc` is UP.
    pub up: bool,
    pub votes: u8,
}

/// One row of `sys.dm_hadr_availability_replica_cluster_nodes`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaNode {
    pub group_name: String,
    pub replica_server_name: String,
    pub node_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupObservation {
    pub group_id: Uuid,
    pub name: String,
    pub cluster_type: ClusterType,
    pub required_synchronized_secondaries: Option<i32>,
    /// `sys.availability_groups.sequence_number`: grows with every configuration change
    /// (a failover among them), so the larger of two replicas' values is the newer view.
    pub sequence_number: Option<i64>,
    pub replicas: Vec<ReplicaState>,
    pub databases: Vec<DatabaseReplicaState>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaState {
    pub replica_id: Uuid,
    pub server_name: String,
    pub endpoint_url: Option<String>,
    pub availability_mode: AvailabilityMode,
    pub failover_mode: FailoverMode,
    /// None when the DMV has no row for it: remote rows exist only on the primary.
    pub state: Option<ReplicaRuntime>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplicaRuntime {
    pub is_local: bool,
    pub role: Option<Role>,
    pub operational_state: Option<OperationalState>,
    pub connected: Option<ConnectedState>,
    pub health: Option<SyncHealth>,
    pub last_connect_error: Option<(i32, String)>,
}

/// One row of `sys.dm_hadr_database_replica_states`: one database on one replica.
#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseReplicaState {
    pub database_id: i32,
    pub group_database_id: Uuid,
    /// From `sys.databases` by group_database_id (or database_id for local rows).
    pub database_name: Option<String>,
    pub replica_id: Uuid,
    pub replica_server_name: Option<String>,
    pub is_local: bool,
    pub is_primary_replica: bool,
    pub sync_state: Option<SyncState>,
    pub health: Option<SyncHealth>,
    pub database_state: Option<DatabaseState>,
    pub is_suspended: Option<bool>,
    pub suspend_reason: Option<SuspendReason>,
    pub last_hardened_lsn: Option<Lsn>,
    pub last_commit_lsn: Option<Lsn>,
    pub last_commit_time: Option<civil::DateTime>,
    pub end_of_log_lsn: Option<Lsn>,
    pub log_send_queue_kb: Option<i64>,
    pub redo_queue_kb: Option<i64>,
    pub secondary_lag_seconds: Option<i64>,
}

/// One row of `sys.databases` on the observed instance.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalDatabase {
    pub database_id: i32,
    pub name: String,
    pub state: DatabaseState,
    pub group_database_id: Option<Uuid>,
}

impl ReplicaObservation {
    pub fn group_named(&self, name: &str) -> Option<&GroupObservation> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The WSFC node hosting replica `replica_server_name` of group `group` (names compared
    /// case-insensitively), from `sys.dm_hadr_availability_replica_cluster_nodes`.
    pub fn node_of(&self, group: &str, replica_server_name: &str) -> Option<&str> {
        self.replica_nodes
            .iter()
            .find(|n| {
                n.group_name.eq_ignore_ascii_case(group)
                    && n.replica_server_name.eq_ignore_ascii_case(replica_server_name)
            })
            .map(|n| n.node_name.as_str())
    }
}

impl GroupObservation {
    /// The replica the observed instance is.
    pub fn local_replica(&self) -> Option<&ReplicaState> {
        self.replicas
            .iter()
            .find(|r| r.state.as_ref().is_some_and(|s| s.is_local))
    }

    /// The replica reported as PRIMARY, if this instance can see one.
    pub fn primary_replica(&self) -> Option<&ReplicaState> {
        self.replicas
            .iter()
            .find(|r| r.state.as_ref().and_then(|s| s.role.as_ref()) == Some(&Role::Primary))
    }

    pub fn database_states_of(&self, replica_id: Uuid) -> impl Iterator<Item = &DatabaseReplicaState> + '_ {
        self.databases.iter().filter(move |d| d.replica_id == replica_id)
    }
}

/// Turns the nine result sets of [`OBSERVATION_BATCH`] into a [`ReplicaObservation`].
/// DMV rows whose group is not in `sys.availability_groups` (a race with DDL) are
/// dropped, as are result sets after the ninth. Cluster members without a
/// `sys.dm_hadr_cluster` row are ignored (the views are read one after the other, so
/// quorum can come in between).
pub fn parse_observation(mut results: Vec<Vec<Row>>) -> Result<ReplicaObservation, SqlError> {
    let missing = |count: usize| SqlError::Decode {
        view: VIEWS.get(count).copied().unwrap_or("observation batch"),
        column: "*",
        detail: format!(
            "result set missing: the batch returned {count} of {} result sets",
            VIEWS.len()
        ),
    };
    let count = results.len();
    results.truncate(VIEWS.len());
    let [
        names,
        groups,
        replicas,
        replica_states,
        db_states,
        databases,
        cluster,
        members,
        replica_nodes,
    ] = <[Vec<Row>; 9]>::try_from(results).map_err(|_| missing(count))?;
    let server_name = match names.first() {
        Some(row) => RowReader::new(VIEWS[0], row).opt("server_name")?,
        None => None,
    };
    let databases = databases
        .iter()
        .map(|r| parse_local_database(RowReader::new(VIEWS[5], r)))
        .collect::<Result<Vec<_>, _>>()?;

    let mut runtimes = HashMap::new();
    for row in &replica_states {
        let (replica_id, runtime) = parse_runtime(RowReader::new(VIEWS[3], row))?;
        runtimes.insert(replica_id, runtime);
    }
    let mut groups = groups
        .iter()
        .map(|r| parse_group(RowReader::new(VIEWS[1], r)))
        .collect::<Result<Vec<_>, _>>()?;
    for row in &replicas {
        let (group_id, mut replica) = parse_replica(RowReader::new(VIEWS[2], row))?;
        replica.state = runtimes.remove(&replica.replica_id);
        if let Some(g) = groups.iter_mut().find(|g| g.group_id == group_id) {
            g.replicas.push(replica);
        }
    }
    for row in &db_states {
        let (group_id, mut db) = parse_db_state(RowReader::new(VIEWS[4], row))?;
        db.database_name = databases
            .iter()
            .find(|d| d.group_database_id == Some(db.group_database_id))
            .or_else(|| {
                db.is_local
                    .then(|| databases.iter().find(|d| d.database_id == db.database_id))
                    .flatten()
            })
            .map(|d| d.name.clone());
        if let Some(g) = groups.iter_mut().find(|g| g.group_id == group_id) {
            db.replica_server_name = g
                .replicas
                .iter()
                .find(|r| r.replica_id == db.replica_id)
                .map(|r| r.server_name.clone());
            g.databases.push(db);
        }
    }
    let wsfc = match cluster.first() {
        Some(row) => {
            let mut wsfc = parse_cluster(RowReader::new(VIEWS[6], row))?;
            wsfc.members = members
                .iter()
                .map(|r| parse_member(RowReader::new(VIEWS[7], r)))
                .collect::<Result<Vec<_>, _>>()?;
            Some(wsfc)
        }
        None => None,
    };
    let replica_nodes = replica_nodes
        .iter()
        .map(|r| parse_replica_node(RowReader::new(VIEWS[8], r)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ReplicaObservation {
        server_name,
        groups,
        databases,
        wsfc,
        replica_nodes,
    })
}

fn parse_cluster(r: RowReader<'_>) -> Result<WsfcObservation, SqlError> {
    Ok(WsfcObservation {
        cluster_name: r.req("cluster_name")?,
        quorum_type: r.opt("quorum_type_desc")?,
        // A NULL state is not a state drover knows: kept as unknown, never as NORMAL.
        quorum_state: r
            .opt_desc("quorum_state_desc", QuorumState::parse)?
            .unwrap_or(QuorumState::UnknownState),
        members: Vec::new(),
    })
}

fn parse_member(r: RowReader<'_>) -> Result<ClusterMember, SqlError> {
    Ok(ClusterMember {
        name: r.req("member_name")?,
        member_type: r.opt("member_type_desc")?.unwrap_or_default(),
        up: r.opt::<String>("member_state_desc")?.as_deref() == Some("UP"),
        votes: r.opt("number_of_quorum_votes")?.unwrap_or(0),
    })
}

fn parse_replica_node(r: RowReader<'_>) -> Result<ReplicaNode, SqlError> {
    Ok(ReplicaNode {
        group_name: r.req("group_name")?,
        replica_server_name: r.req("replica_server_name")?,
        node_name: r.req("node_name")?,
    })
}

fn parse_group(r: RowReader<'_>) -> Result<GroupObservation, SqlError> {
    Ok(GroupObservation {
        group_id: r.req("group_id")?,
        name: r.req("name")?,
        cluster_type: ClusterType::from_code(r.req("cluster_type")?),
        required_synchronized_secondaries: r.opt("required_synchronized_secondaries_to_commit")?,
        sequence_number: r.opt("sequence_number")?,
        replicas: Vec::new(),
        databases: Vec::new(),
    })
}

fn parse_replica(r: RowReader<'_>) -> Result<(Uuid, ReplicaState), SqlError> {
    let replica = ReplicaState {
        replica_id: r.req("replica_id")?,
        server_name: r.req("replica_server_name")?,
        endpoint_url: r.opt("endpoint_url")?,
        availability_mode: AvailabilityMode::parse(&r.req::<String>("availability_mode_desc")?),
        failover_mode: FailoverMode::parse(&r.req::<String>("failover_mode_desc")?),
        state: None,
    };
    Ok((r.req("group_id")?, replica))
}

fn parse_runtime(r: RowReader<'_>) -> Result<(Uuid, ReplicaRuntime), SqlError> {
    let replica_id = r.req("replica_id")?;
    let mut runtime = ReplicaRuntime {
        is_local: r.req("is_local")?,
        role: r.opt_desc("role_desc", Role::parse)?,
        operational_state: r.opt_desc("operational_state_desc", OperationalState::parse)?,
        connected: r.opt_desc("connected_state_desc", ConnectedState::parse)?,
        health: r.opt_desc("synchronization_health_desc", SyncHealth::parse)?,
        last_connect_error: None,
    };
    let error_number: Option<i32> = r.opt("last_connect_error_number")?;
    let error_text: Option<String> = r.opt("last_connect_error_description")?;
    runtime.last_connect_error = error_number.map(|n| (n, error_text.unwrap_or_default()));
    Ok((replica_id, runtime))
}

fn parse_db_state(r: RowReader<'_>) -> Result<(Uuid, DatabaseReplicaState), SqlError> {
    let state = DatabaseReplicaState {
        database_id: r.req("database_id")?,
        group_database_id: r.req("group_database_id")?,
        database_name: None,
        replica_id: r.req("replica_id")?,
        replica_server_name: None,
        is_local: r.req("is_local")?,
        is_primary_replica: r.req("is_primary_replica")?,
        sync_state: r.opt_desc("synchronization_state_desc", SyncState::parse)?,
        health: r.opt_desc("synchronization_health_desc", SyncHealth::parse)?,
        database_state: r.opt_desc("database_state_desc", DatabaseState::parse)?,
        is_suspended: r.opt("is_suspended")?,
        suspend_reason: r.opt_desc("suspend_reason_desc", SuspendReason::parse)?,
        last_hardened_lsn: r.opt("last_hardened_lsn")?,
        last_commit_lsn: r.opt("last_commit_lsn")?,
        last_commit_time: r.opt("last_commit_time")?,
        end_of_log_lsn: r.opt("end_of_log_lsn")?,
        log_send_queue_kb: r.opt("log_send_queue_size")?,
        redo_queue_kb: r.opt("redo_queue_size")?,
        secondary_lag_seconds: r.opt("secondary_lag_seconds")?,
    };
    Ok((r.req("group_id")?, state))
}

fn parse_local_database(r: RowReader<'_>) -> Result<LocalDatabase, SqlError> {
    Ok(LocalDatabase {
        database_id: r.req("database_id")?,
        name: r.req("name")?,
        state: DatabaseState::parse(&r.req::<String>("state_desc")?),
        group_database_id: r.opt("group_database_id")?,
    })
}

/// Reads columns of one row by name, turning every surprise into [`SqlError::Decode`].
/// Public so other read-only queries (via `ReplicaClient::select`) decode the same way.
#[derive(Debug, Clone, Copy)]
pub struct RowReader<'r> {
    view: &'static str,
    row: &'r Row,
}

impl<'r> RowReader<'r> {
    pub fn new(view: &'static str, row: &'r Row) -> Self {
        Self { view, row }
    }

    fn error(&self, column: &'static str, detail: String) -> SqlError {
        SqlError::Decode {
            view: self.view,
            column,
            detail,
        }
    }

    /// A nullable column: SQL NULL is `None`, a wrong type or missing column is an error.
    pub fn opt<T: FromCell>(&self, column: &'static str) -> Result<Option<T>, SqlError> {
        let cell = self
            .row
            .get_column_data(column)
            .map_err(|e| self.error(column, format!("column not in result set ({e})")))?;
        T::from_cell(cell).map_err(|detail| self.error(column, detail))
    }

    /// A column that must not be NULL.
    pub fn req<T: FromCell>(&self, column: &'static str) -> Result<T, SqlError> {
        self.opt(column)?
            .ok_or_else(|| self.error(column, "unexpected NULL".to_string()))
    }

    /// A nullable `*_desc` column mapped through an enum's `parse`.
    pub fn opt_desc<T>(&self, column: &'static str, parse: fn(&str) -> T) -> Result<Option<T>, SqlError> {
        Ok(self.opt::<String>(column)?.map(|s| parse(&s)))
    }
}

/// A Rust value one SQL cell can be read as. `Err` carries a human-readable reason.
pub trait FromCell: Sized {
    fn from_cell(cell: &ColumnData<'static>) -> Result<Option<Self>, String>;
}

fn mismatch(expected: &str, cell: &ColumnData<'_>) -> String {
    format!("expected {expected}, got {}", type_name(cell))
}

impl FromCell for String {
    fn from_cell(cell: &ColumnData<'static>) -> Result<Option<Self>, String> {
        match cell {
            ColumnData::String(s) => Ok(s.as_ref().map(|s| s.to_string())),
            other => Err(mismatch("a string", other)),
        }
    }
}

impl FromCell for bool {
    fn from_cell(cell: &ColumnData<'static>) -> Result<Option<Self>, String> {
        match cell {
            ColumnData::Bit(b) => Ok(*b),
            other => Err(mismatch("bit", other)),
        }
    }
}

impl FromCell for Uuid {
    fn from_cell(cell: &ColumnData<'static>) -> Result<Option<Self>, String> {
        match cell {
            ColumnData::Guid(g) => Ok(*g),
            other => Err(mismatch("uniqueidentifier", other)),
        }
    }
}

/// Any integer cell, range-checked: the servers' int widths are not worth failing over.
fn integer(cell: &ColumnData<'_>, expected: &str) -> Result<Option<i64>, String> {
    match cell {
        ColumnData::U8(v) => Ok(v.map(i64::from)),
        ColumnData::I16(v) => Ok(v.map(i64::from)),
        ColumnData::I32(v) => Ok(v.map(i64::from)),
        ColumnData::I64(v) => Ok(*v),
        other => Err(mismatch(expected, other)),
    }
}

macro_rules! int_from_cell {
    ($($t:ty => $name:literal),+) => {$(
        impl FromCell for $t {
            fn from_cell(cell: &ColumnData<'static>) -> Result<Option<Self>, String> {
                integer(cell, $name)?
                    .map(|v| <$t>::try_from(v).map_err(|_| format!("{v} does not fit in {}", $name)))
                    .transpose()
            }
        }
    )+};
}
int_from_cell!(u8 => "tinyint", i16 => "smallint", i32 => "int", i64 => "bigint");

impl FromCell for Lsn {
    fn from_cell(cell: &ColumnData<'static>) -> Result<Option<Self>, String> {
        match cell {
            ColumnData::Numeric(None) => Ok(None),
            ColumnData::Numeric(Some(n)) if n.scale() != 0 => {
                Err(format!("LSN {n} has scale {}, expected numeric(25,0)", n.scale()))
            }
            ColumnData::Numeric(Some(n)) => u128::try_from(n.value())
                .map(|v| Some(Lsn(v)))
                .map_err(|_| format!("negative LSN {}", n.value())),
            other => Err(mismatch("numeric(25,0)", other)),
        }
    }
}

impl FromCell for civil::DateTime {
    fn from_cell(cell: &ColumnData<'static>) -> Result<Option<Self>, String> {
        match cell {
            ColumnData::DateTime(v) => v.map(datetime_from_sql).transpose(),
            ColumnData::DateTime2(v) => v.map(datetime2_from_sql).transpose(),
            other => Err(mismatch("datetime", other)),
        }
    }
}

/// `datetime`: days since 1900-01-01 and 1/300 s ticks since midnight, rounded to
/// the nearest nanosecond (299 ticks = .996666667 s).
pub fn datetime_from_sql(value: tiberius::time::DateTime) -> Result<civil::DateTime, String> {
    let ticks = u64::from(value.seconds_fragments());
    if ticks >= 300 * 86_400 {
        return Err(format!("datetime time part {ticks}/300 s is past midnight"));
    }
    let nanos = (ticks * 10_000_000 + 1) / 3;
    from_day_offset(civil::date(1900, 1, 1), i64::from(value.days()), nanos)
}

/// `datetime2`: days since 0001-01-01 and 10^-scale s increments since midnight.
pub fn datetime2_from_sql(value: tiberius::time::DateTime2) -> Result<civil::DateTime, String> {
    let time = value.time();
    let scale = u32::from(time.scale());
    let nanos = 10u64
        .checked_pow(9u32.saturating_sub(scale))
        .filter(|_| scale <= 9)
        .and_then(|factor| time.increments().checked_mul(factor))
        .filter(|n| *n < 86_400 * 1_000_000_000)
        .ok_or_else(|| format!("datetime2 time part {}e-{scale} s is invalid", time.increments()))?;
    from_day_offset(civil::date(1, 1, 1), i64::from(value.date().days()), nanos)
}

fn from_day_offset(epoch: civil::Date, days: i64, nanos: u64) -> Result<civil::DateTime, String> {
    let out_of_range = |e: jiff::Error| format!("date {days} days after {epoch} is out of range: {e}");
    let span = jiff::Span::new().try_days(days).map_err(out_of_range)?;
    let date = epoch.checked_add(span).map_err(out_of_range)?;
    let nanos = i64::try_from(nanos).map_err(|_| format!("time part {nanos} ns is invalid"))?;
    date.to_datetime(civil::Time::midnight())
        .checked_add(jiff::SignedDuration::from_nanos(nanos))
        .map_err(out_of_range)
}

fn type_name(cell: &ColumnData<'_>) -> &'static str {
    match cell {
        ColumnData::U8(_) => "tinyint",
        ColumnData::I16(_) => "smallint",
        ColumnData::I32(_) => "int",
        ColumnData::I64(_) => "bigint",
        ColumnData::F32(_) => "real",
        ColumnData::F64(_) => "float",
        ColumnData::Bit(_) => "bit",
        ColumnData::String(_) => "a string",
        ColumnData::Guid(_) => "uniqueidentifier",
        ColumnData::Binary(_) => "binary",
        ColumnData::Numeric(_) => "numeric",
        ColumnData::Xml(_) => "xml",
        ColumnData::DateTime(_) => "datetime",
        ColumnData::SmallDateTime(_) => "smalldatetime",
        ColumnData::Time(_) => "time",
        ColumnData::Date(_) => "date",
        ColumnData::DateTime2(_) => "datetime2",
        ColumnData::DateTimeOffset(_) => "datetimeoffset",
    }
}

#[cfg(test)]
mod tests;
