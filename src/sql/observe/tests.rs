//! parse_observation on rows built with `tiberius::Row::builder()`.

use tiberius::numeric::Numeric;
use tiberius::time::DateTime;
use tiberius::{ColumnData, ColumnType, Row, Uuid};

use super::*;

const GROUP: Uuid = Uuid::from_bytes([1; 16]);
const REPLICA_A: Uuid = Uuid::from_bytes([0xa; 16]);
const REPLICA_B: Uuid = Uuid::from_bytes([0xb; 16]);
const GROUP_DB: Uuid = Uuid::from_bytes([0xd; 16]);

type Cell = ColumnData<'static>;

fn row(cells: Vec<(&str, Cell)>) -> Row {
    cells
        .into_iter()
        .fold(Row::builder(), |b, (name, value)| {
            let ty = column_type(&value);
            b.column(name, ty, value)
        })
        .build()
}

fn column_type(cell: &Cell) -> ColumnType {
    match cell {
        ColumnData::U8(_) => ColumnType::Int1,
        ColumnData::I32(_) => ColumnType::Int4,
        ColumnData::I64(_) => ColumnType::Int8,
        ColumnData::Bit(_) => ColumnType::Bitn,
        ColumnData::Guid(_) => ColumnType::Guid,
        ColumnData::Numeric(_) => ColumnType::Numericn,
        ColumnData::DateTime(_) => ColumnType::Datetimen,
        _ => ColumnType::NVarchar,
    }
}

fn s(v: &str) -> Cell {
    ColumnData::String(Some(v.to_string().into()))
}
fn null_s() -> Cell {
    ColumnData::String(None)
}
fn g(v: Uuid) -> Cell {
    ColumnData::Guid(Some(v))
}
fn bit(v: bool) -> Cell {
    ColumnData::Bit(Some(v))
}
fn lsn(v: i128) -> Cell {
    ColumnData::Numeric(Some(Numeric::new_with_scale(v, 0)))
}

fn server_row(name: &str) -> Row {
    row(vec![("server_name", s(name))])
}

fn group_row() -> Row {
    row(vec![
        ("group_id", g(GROUP)),
        ("name", s("ag1")),
        ("cluster_type", ColumnData::U8(Some(2))),
        ("cluster_type_desc", s("none")),
        ("required_synchronized_secondaries_to_commit", ColumnData::I32(Some(0))),
        ("sequence_number", ColumnData::I64(Some(7))),
    ])
}

fn replica_row(id: Uuid, name: &str, mode: &str) -> Row {
    row(vec![
        ("replica_id", g(id)),
        ("group_id", g(GROUP)),
        ("replica_server_name", s(name)),
        ("endpoint_url", s(&format!("TCP://{name}:5022"))),
        ("availability_mode_desc", s(mode)),
        ("failover_mode_desc", s("MANUAL")),
    ])
}

fn runtime_row(id: Uuid, local: bool, role: &str, operational: Option<&str>) -> Row {
    row(vec![
        ("replica_id", g(id)),
        ("group_id", g(GROUP)),
        ("is_local", bit(local)),
        ("role_desc", s(role)),
        ("operational_state_desc", operational.map_or_else(null_s, s)),
        ("connected_state_desc", s("CONNECTED")),
        ("synchronization_health_desc", s("HEALTHY")),
        ("last_connect_error_number", ColumnData::I32(None)),
        ("last_connect_error_description", null_s()),
    ])
}

fn db_state_row(replica: Uuid, local: bool, primary: bool, hardened: i128) -> Row {
    row(vec![
        ("database_id", ColumnData::I32(Some(5))),
        ("group_id", g(GROUP)),
        ("replica_id", g(replica)),
        ("group_database_id", g(GROUP_DB)),
        ("is_local", bit(local)),
        ("is_primary_replica", bit(primary)),
        ("synchronization_state_desc", s("SYNCHRONIZED")),
        ("synchronization_health_desc", s("HEALTHY")),
        ("database_state_desc", s("ONLINE")),
        ("is_suspended", bit(false)),
        ("suspend_reason_desc", null_s()),
        ("last_hardened_lsn", lsn(hardened)),
        ("last_commit_lsn", lsn(hardened - 1)),
        // 2024-03-01 12:00:00.5
        (
            "last_commit_time",
            ColumnData::DateTime(Some(DateTime::new(45_350, 12 * 3600 * 300 + 150))),
        ),
        ("end_of_log_lsn", lsn(hardened)),
        ("log_send_queue_size", ColumnData::I64(Some(0))),
        ("redo_queue_size", ColumnData::I64(Some(12))),
        ("secondary_lag_seconds", ColumnData::I64(Some(0))),
    ])
}

fn database_row(id: i32, name: &str, group_db: Option<Uuid>) -> Row {
    row(vec![
        ("database_id", ColumnData::I32(Some(id))),
        ("name", s(name)),
        ("state_desc", s("ONLINE")),
        ("group_database_id", ColumnData::Guid(group_db)),
    ])
}

fn system_databases() -> Vec<Row> {
    vec![
        database_row(1, "master", None),
        database_row(5, "appdb", Some(GROUP_DB)),
    ]
}

fn from_primary() -> Vec<Vec<Row>> {
    vec![
        vec![server_row("sqla")],
        vec![group_row()],
        vec![
            replica_row(REPLICA_A, "sqla", "SYNCHRONOUS_COMMIT"),
            replica_row(REPLICA_B, "sqlb", "SYNCHRONOUS_COMMIT"),
        ],
        vec![
            runtime_row(REPLICA_A, true, "PRIMARY", Some("ONLINE")),
            runtime_row(REPLICA_B, false, "SECONDARY", None),
        ],
        vec![
            db_state_row(REPLICA_A, true, true, 41_000_000_100_000_001),
            db_state_row(REPLICA_B, false, false, 41_000_000_100_000_001),
        ],
        system_databases(),
        // No WSFC (the group above is CLUSTER_TYPE = NONE): the cluster views are empty.
        vec![],
        vec![],
        vec![],
    ]
}

#[test]
fn healthy_ag_seen_from_the_primary() {
    let obs = parse_observation(from_primary()).unwrap();
    assert_eq!(obs.server_name.as_deref(), Some("sqla"));
    assert_eq!(obs.databases.len(), 2);
    let ag = obs.group_named("ag1").unwrap();
    assert_eq!(ag.cluster_type, ClusterType::None);
    assert_eq!(ag.required_synchronized_secondaries, Some(0));
    assert_eq!(ag.sequence_number, Some(7));
    assert_eq!(obs.wsfc, None);
    assert!(obs.replica_nodes.is_empty());
    assert_eq!(ag.replicas.len(), 2);
    assert_eq!(ag.local_replica().unwrap().server_name, "sqla");
    assert_eq!(ag.primary_replica().unwrap().replica_id, REPLICA_A);
    let b = &ag.replicas[1];
    assert_eq!(b.availability_mode, AvailabilityMode::SynchronousCommit);
    assert_eq!(b.failover_mode, FailoverMode::Manual);
    assert_eq!(b.endpoint_url.as_deref(), Some("TCP://sqlb:5022"));
    let b_state = b.state.as_ref().unwrap();
    assert_eq!(b_state.role, Some(Role::Secondary));
    assert_eq!(b_state.operational_state, None);
    assert_eq!(b_state.connected, Some(ConnectedState::Connected));

    let dbs: Vec<_> = ag.database_states_of(REPLICA_B).collect();
    assert_eq!(dbs.len(), 1);
    let db = dbs[0];
    assert_eq!(db.database_name.as_deref(), Some("appdb"));
    assert_eq!(db.replica_server_name.as_deref(), Some("sqlb"));
    assert_eq!(db.sync_state, Some(SyncState::Synchronized));
    assert_eq!(db.last_hardened_lsn, Some(Lsn(41_000_000_100_000_001)));
    assert!(db.last_commit_lsn < db.last_hardened_lsn);
    assert_eq!(db.redo_queue_kb, Some(12));
    assert_eq!(
        db.last_commit_time,
        Some(civil::date(2024, 3, 1).at(12, 0, 0, 500_000_000))
    );
    assert_eq!(ag.database_states_of(REPLICA_A).count(), 1);
}

#[test]
fn same_ag_seen_from_the_secondary() {
    let mut results = from_primary();
    results[0] = vec![server_row("sqlb")];
    results[3] = vec![runtime_row(REPLICA_B, true, "SECONDARY", Some("ONLINE"))];
    results[4] = vec![db_state_row(REPLICA_B, true, false, 41_000_000_100_000_001)];
    let obs = parse_observation(results).unwrap();
    let ag = &obs.groups[0];
    assert_eq!(ag.replicas.len(), 2);
    assert!(ag.replicas[0].state.is_none(), "no remote rows on a secondary");
    assert_eq!(ag.local_replica().unwrap().replica_id, REPLICA_B);
    assert!(ag.primary_replica().is_none());
    assert_eq!(ag.database_states_of(REPLICA_A).count(), 0);
    let db = ag.database_states_of(REPLICA_B).next().unwrap();
    assert!(db.is_local);
    assert_eq!(db.database_name.as_deref(), Some("appdb"));
}

#[test]
fn nulls_everywhere_optional() {
    let mut results = from_primary();
    results[0] = vec![row(vec![("server_name", null_s())])];
    results[1] = vec![row(vec![
        ("group_id", g(GROUP)),
        ("name", s("ag1")),
        ("cluster_type", ColumnData::U8(Some(0))),
        ("cluster_type_desc", s("wsfc")),
        ("required_synchronized_secondaries_to_commit", ColumnData::I32(None)),
        ("sequence_number", ColumnData::I64(None)),
    ])];
    results[2] = vec![row(vec![
        ("replica_id", g(REPLICA_A)),
        ("group_id", g(GROUP)),
        ("replica_server_name", s("sqla")),
        ("endpoint_url", null_s()),
        ("availability_mode_desc", s("ASYNCHRONOUS_COMMIT")),
        ("failover_mode_desc", s("MANUAL")),
    ])];
    results[3] = vec![row(vec![
        ("replica_id", g(REPLICA_A)),
        ("group_id", g(GROUP)),
        ("is_local", bit(true)),
        ("role_desc", null_s()),
        ("operational_state_desc", null_s()),
        ("connected_state_desc", null_s()),
        ("synchronization_health_desc", null_s()),
        ("last_connect_error_number", ColumnData::I32(None)),
        ("last_connect_error_description", null_s()),
    ])];
    let mut cells = vec![
        ("database_id", ColumnData::I32(Some(5))),
        ("group_id", g(GROUP)),
        ("replica_id", g(REPLICA_A)),
        ("group_database_id", g(GROUP_DB)),
        ("is_local", bit(true)),
        ("is_primary_replica", bit(false)),
        ("synchronization_state_desc", null_s()),
        ("synchronization_health_desc", null_s()),
        ("database_state_desc", null_s()),
        ("is_suspended", ColumnData::Bit(None)),
        ("suspend_reason_desc", null_s()),
    ];
    for c in ["last_hardened_lsn", "last_commit_lsn", "end_of_log_lsn"] {
        cells.push((c, ColumnData::Numeric(None)));
    }
    cells.push(("last_commit_time", ColumnData::DateTime(None)));
    for c in ["log_send_queue_size", "redo_queue_size", "secondary_lag_seconds"] {
        cells.push((c, ColumnData::I64(None)));
    }
    results[4] = vec![row(cells)];
    // Not joined by group_database_id: the local row falls back to database_id.
    results[5] = vec![database_row(5, "appdb", None)];

    let obs = parse_observation(results).unwrap();
    assert_eq!(obs.server_name, None);
    let ag = &obs.groups[0];
    assert_eq!(ag.cluster_type, ClusterType::Wsfc);
    assert_eq!(ag.required_synchronized_secondaries, None);
    assert_eq!(ag.sequence_number, None);
    assert_eq!(ag.replicas[0].endpoint_url, None);
    let rt = ag.replicas[0].state.as_ref().unwrap();
    assert_eq!(
        (
            &rt.role,
            &rt.operational_state,
            &rt.connected,
            &rt.health,
            &rt.last_connect_error
        ),
        (&None, &None, &None, &None, &None)
    );
    let db = &ag.databases[0];
    assert_eq!(db.database_name.as_deref(), Some("appdb"));
    assert_eq!(db.sync_state, None);
    assert_eq!(db.is_suspended, None);
    assert_eq!(db.last_hardened_lsn, None);
    assert_eq!(db.last_commit_time, None);
    assert_eq!(db.secondary_lag_seconds, None);
    assert_eq!(obs.databases[0].group_database_id, None);
}

#[test]
fn empty_result_sets_are_fine() {
    let obs = parse_observation((0..9).map(|_| Vec::new()).collect()).unwrap();
    assert_eq!(obs.server_name, None);
    assert!(obs.groups.is_empty() && obs.databases.is_empty());
    assert!(obs.wsfc.is_none() && obs.replica_nodes.is_empty());
}

#[test]
fn unknown_enum_strings_are_kept() {
    let mut results = from_primary();
    results[2][1] = replica_row(REPLICA_B, "sqlb", "QUANTUM_COMMIT");
    results[3][1] = runtime_row(REPLICA_B, false, "WOBBLY", Some("DREAMING"));
    results[1][0] = row(vec![
        ("group_id", g(GROUP)),
        ("name", s("ag1")),
        ("cluster_type", ColumnData::U8(Some(7))),
        ("cluster_type_desc", s("?")),
        ("required_synchronized_secondaries_to_commit", ColumnData::I32(Some(0))),
        ("sequence_number", ColumnData::I64(Some(1))),
    ]);
    let obs = parse_observation(results).unwrap();
    let ag = &obs.groups[0];
    assert_eq!(ag.cluster_type, ClusterType::Other(7));
    let b = &ag.replicas[1];
    assert_eq!(b.availability_mode, AvailabilityMode::Unknown("QUANTUM_COMMIT".into()));
    let rt = b.state.as_ref().unwrap();
    assert_eq!(rt.role, Some(Role::Unknown("WOBBLY".into())));
    assert_eq!(rt.operational_state, Some(OperationalState::Unknown("DREAMING".into())));
}

fn decode_error(results: Vec<Vec<Row>>) -> (&'static str, &'static str, String) {
    match parse_observation(results) {
        Err(SqlError::Decode { view, column, detail }) => (view, column, detail),
        other => panic!("expected a Decode error, got {other:?}"),
    }
}

#[test]
fn wrong_type_is_a_decode_error() {
    let mut results = from_primary();
    let mut cells: Vec<(&str, Cell)> = vec![
        ("replica_id", g(REPLICA_B)),
        ("group_id", g(GROUP)),
        ("is_local", s("yes")),
    ];
    cells.extend(["role_desc", "operational_state_desc", "connected_state_desc"].map(|c| (c, null_s())));
    results[3][1] = row(cells);
    let (view, column, detail) = decode_error(results);
    assert_eq!((view, column), ("sys.dm_hadr_availability_replica_states", "is_local"));
    assert!(detail.contains("bit"), "{detail}");

    // A row missing columns names the first one it needed.
    let mut results = from_primary();
    results[4][0] = row(vec![("database_id", ColumnData::I64(Some(5)))]);
    let (_, column, _) = decode_error(results);
    assert_eq!(column, "group_database_id", "missing column");

    let mut results = from_primary();
    results[1][0] = row(vec![("group_id", s("not a guid"))]);
    let (view, column, _) = decode_error(results);
    assert_eq!((view, column), ("sys.availability_groups", "group_id"));
}

#[test]
fn null_in_required_column_is_a_decode_error() {
    let mut results = from_primary();
    results[2][0] = row(vec![("replica_id", ColumnData::Guid(None))]);
    let (view, column, detail) = decode_error(results);
    assert_eq!((view, column), ("sys.availability_replicas", "replica_id"));
    assert!(detail.contains("NULL"));
}

#[test]
fn missing_result_set_is_a_decode_error() {
    let mut results = from_primary();
    results.truncate(4);
    let (view, _, detail) = decode_error(results);
    assert_eq!(view, "sys.dm_hadr_database_replica_states");
    assert!(detail.contains("4 of 9"), "{detail}");
    // A server that does not know the cluster views answers with an error instead, so a
    // batch of six result sets is a decode error too, naming the first missing view.
    let mut results = from_primary();
    results.truncate(6);
    let (view, _, detail) = decode_error(results);
    assert_eq!(view, "sys.dm_hadr_cluster");
    assert!(detail.contains("6 of 9"), "{detail}");
    let (view, _, _) = decode_error(vec![]);
    assert_eq!(view, "@@SERVERNAME");
}

#[test]
fn bad_lsns_are_decode_errors() {
    let cell = |n: Numeric| ColumnData::Numeric(Some(n));
    assert!(Lsn::from_cell(&cell(Numeric::new_with_scale(-1, 0))).is_err());
    assert!(Lsn::from_cell(&cell(Numeric::new_with_scale(15, 1))).is_err());
    assert!(Lsn::from_cell(&ColumnData::I64(Some(1))).is_err());
    let max = 10i128.pow(25) - 1;
    assert_eq!(
        Lsn::from_cell(&cell(Numeric::new_with_scale(max, 0))),
        Ok(Some(Lsn(max as u128)))
    );
}

#[test]
fn integers_are_range_checked() {
    assert_eq!(i64::from_cell(&ColumnData::I32(Some(-3))), Ok(Some(-3)));
    assert_eq!(u8::from_cell(&ColumnData::I32(Some(2))), Ok(Some(2)));
    assert!(u8::from_cell(&ColumnData::I32(Some(300))).is_err());
    assert!(i32::from_cell(&ColumnData::I64(Some(1 << 40))).is_err());
    assert!(i32::from_cell(&ColumnData::Bit(Some(true))).is_err());
}

#[test]
fn datetime_conversion_is_exact() {
    let epoch = datetime_from_sql(DateTime::new(0, 0)).unwrap();
    assert_eq!(epoch, civil::date(1900, 1, 1).at(0, 0, 0, 0));
    // 299/300 s rounds to the nearest nanosecond.
    let dt = datetime_from_sql(DateTime::new(45_350, (23 * 3600 + 59 * 60 + 59) * 300 + 299)).unwrap();
    assert_eq!(dt, civil::date(2024, 3, 1).at(23, 59, 59, 996_666_667));
    // 1/300 s = 3.333… ms.
    let dt = datetime_from_sql(DateTime::new(1, 1)).unwrap();
    assert_eq!(dt, civil::date(1900, 1, 2).at(0, 0, 0, 3_333_333));
    // The datetime range starts in 1753: negative days.
    let dt = datetime_from_sql(DateTime::new(-53_690, 0)).unwrap();
    assert_eq!(dt, civil::date(1753, 1, 1).at(0, 0, 0, 0));
    assert!(datetime_from_sql(DateTime::new(0, 300 * 86_400)).is_err());
    assert!(datetime_from_sql(DateTime::new(i32::MAX, 0)).is_err());
}

#[test]
fn datetime2_conversion() {
    use tiberius::time::{Date, DateTime2, Time};
    // 1900-01-01 is day 693_595 after 0001-01-01.
    let v = DateTime2::new(Date::new(693_595), Time::new(1_234_567, 7));
    assert_eq!(
        datetime2_from_sql(v).unwrap(),
        civil::date(1900, 1, 1).at(0, 0, 0, 123_456_700)
    );
    let bad = DateTime2::new(Date::new(0), Time::new(86_400, 0));
    assert!(datetime2_from_sql(bad).is_err());
}

#[test]
fn batch_is_one_select_per_line() {
    let lines: Vec<_> = OBSERVATION_BATCH.lines().collect();
    assert_eq!(lines.len(), 9);
    for (line, view) in lines.iter().zip(VIEWS) {
        assert!(line.starts_with("SELECT ") && line.ends_with(';'), "{line}");
        assert!(line.contains(view), "{line} should read {view}");
    }
}

fn cluster_row(name: Option<&str>, quorum_type: Option<&str>, state: Option<&str>) -> Row {
    row(vec![
        ("cluster_name", name.map_or_else(null_s, s)),
        ("quorum_type_desc", quorum_type.map_or_else(null_s, s)),
        ("quorum_state_desc", state.map_or_else(null_s, s)),
    ])
}

fn member_row(name: &str, kind: &str, state: &str, votes: Option<u8>) -> Row {
    row(vec![
        ("member_name", s(name)),
        ("member_type_desc", s(kind)),
        ("member_state_desc", s(state)),
        ("number_of_quorum_votes", ColumnData::U8(votes)),
    ])
}

fn node_row(group: &str, replica: &str, node: &str) -> Row {
    row(vec![
        ("group_name", s(group)),
        ("replica_server_name", s(replica)),
        ("node_name", s(node)),
    ])
}

/// The primary of a WSFC group on a node with quorum: the cluster row, its members
/// (a node down, the witness up), and which node hosts each replica.
fn from_wsfc_primary(state: &str) -> Vec<Vec<Row>> {
    let mut results = from_primary();
    results[6] = vec![cluster_row(
        Some("SIM-WSFC"),
        Some("NODE_AND_FILE_SHARE_MAJORITY"),
        Some(state),
    )];
    results[7] = vec![
        member_row("NODE-A", "CLUSTER_NODE", "UP", Some(1)),
        member_row("NODE-B", "CLUSTER_NODE", "DOWN", Some(1)),
        member_row("\\\\witness\\share", "FILE_SHARE_WITNESS", "UP", Some(1)),
    ];
    results[8] = vec![node_row("ag1", "sqla", "NODE-A"), node_row("ag1", "SQLB", "NODE-B")];
    results
}

#[test]
fn wsfc_with_quorum_members_and_nodes() {
    let obs = parse_observation(from_wsfc_primary("NORMAL_QUORUM")).unwrap();
    let wsfc = obs.wsfc.as_ref().expect("a cluster row");
    assert_eq!(wsfc.cluster_name, "SIM-WSFC");
    assert_eq!(wsfc.quorum_type.as_deref(), Some("NODE_AND_FILE_SHARE_MAJORITY"));
    assert_eq!(wsfc.quorum_state, QuorumState::Normal);
    assert_eq!(wsfc.members.len(), 3);
    assert_eq!(
        wsfc.members[0],
        ClusterMember {
            name: "NODE-A".into(),
            member_type: "CLUSTER_NODE".into(),
            up: true,
            votes: 1,
        }
    );
    assert!(!wsfc.members[1].up, "DOWN is not up");
    assert_eq!(wsfc.members[2].member_type, "FILE_SHARE_WITNESS");
    // Replica to node, case-insensitively on both names.
    assert_eq!(obs.node_of("AG1", "SQLA"), Some("NODE-A"));
    assert_eq!(obs.node_of("ag1", "sqlb"), Some("NODE-B"));
    assert_eq!(obs.node_of("ag1", "sqlc"), None);
    assert_eq!(obs.node_of("ag2", "sqla"), None);

    let forced = parse_observation(from_wsfc_primary("FORCED_QUORUM")).unwrap();
    assert_eq!(forced.wsfc.unwrap().quorum_state, QuorumState::Forced);
    let odd = parse_observation(from_wsfc_primary("WOBBLY_QUORUM")).unwrap();
    assert_eq!(
        odd.wsfc.unwrap().quorum_state,
        QuorumState::Unknown("WOBBLY_QUORUM".into())
    );
}

#[test]
fn wsfc_without_quorum_has_no_cluster_row() {
    // A node without quorum: no cluster row, no members, but the replica-to-node map stays.
    let mut results = from_wsfc_primary("NORMAL_QUORUM");
    results[6].clear();
    results[7].clear();
    let obs = parse_observation(results).unwrap();
    assert_eq!(obs.wsfc, None);
    assert_eq!(obs.node_of("ag1", "sqla"), Some("NODE-A"));
    // Members without a cluster row (quorum came between the two reads) are ignored.
    let mut results = from_wsfc_primary("NORMAL_QUORUM");
    results[6].clear();
    assert_eq!(parse_observation(results).unwrap().wsfc, None);
}

#[test]
fn wsfc_nulls() {
    let mut results = from_wsfc_primary("NORMAL_QUORUM");
    results[6] = vec![cluster_row(Some("SIM-WSFC"), None, None)];
    results[7] = vec![row(vec![
        ("member_name", s("NODE-A")),
        ("member_type_desc", null_s()),
        ("member_state_desc", null_s()),
        ("number_of_quorum_votes", ColumnData::U8(None)),
    ])];
    let wsfc = parse_observation(results).unwrap().wsfc.unwrap();
    assert_eq!(wsfc.quorum_type, None);
    assert_eq!(wsfc.quorum_state, QuorumState::UnknownState, "NULL is never NORMAL");
    assert_eq!(
        wsfc.members,
        vec![ClusterMember {
            name: "NODE-A".into(),
            member_type: String::new(),
            up: false,
            votes: 0,
        }]
    );
    // A NULL cluster name or node name is a decode error naming the view and column.
    let mut results = from_wsfc_primary("NORMAL_QUORUM");
    results[6] = vec![cluster_row(None, None, None)];
    let (view, column, _) = decode_error(results);
    assert_eq!((view, column), ("sys.dm_hadr_cluster", "cluster_name"));
    let mut results = from_wsfc_primary("NORMAL_QUORUM");
    results[8] = vec![row(vec![
        ("group_name", s("ag1")),
        ("replica_server_name", s("sqla")),
        ("node_name", null_s()),
    ])];
    let (view, column, _) = decode_error(results);
    assert_eq!(
        (view, column),
        ("sys.dm_hadr_availability_replica_cluster_nodes", "node_name")
    );
    // Votes are a tinyint: a wider value that fits is read, one that does not is an error.
    let mut results = from_wsfc_primary("NORMAL_QUORUM");
    results[7] = vec![row(vec![
        ("member_name", s("NODE-A")),
        ("member_type_desc", s("CLUSTER_NODE")),
        ("member_state_desc", s("UP")),
        ("number_of_quorum_votes", ColumnData::I32(Some(300))),
    ])];
    let (_, column, _) = decode_error(results);
    assert_eq!(column, "number_of_quorum_votes");
}
