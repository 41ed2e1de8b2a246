//! parse_pool_observation on rows built with `tiberius::Row::builder()`.

use tiberius::time::DateTime;
use tiberius::{ColumnData, ColumnType, Row, Uuid};

use super::*;

type Cell = ColumnData<'static>;

fn row(cells: Vec<(&str, Cell)>) -> Row {
    cells
        .into_iter()
        .fold(Row::builder(), |b, (name, value)| {
            let ty = match &value {
                ColumnData::I16(_) => ColumnType::Int2,
                ColumnData::I32(_) => ColumnType::Int4,
                ColumnData::Bit(_) => ColumnType::Bitn,
                ColumnData::Guid(_) => ColumnType::Guid,
                ColumnData::DateTime(_) => ColumnType::Datetimen,
                _ => ColumnType::NVarchar,
            };
            b.column(name, ty, value)
        })
        .build()
}

fn s(v: &str) -> Cell {
    ColumnData::String(Some(v.to_string().into()))
}
fn null_s() -> Cell {
    ColumnData::String(None)
}
fn int(v: i32) -> Cell {
    ColumnData::I32(Some(v))
}
fn small(v: i16) -> Cell {
    ColumnData::I16(Some(v))
}
fn bit(v: bool) -> Cell {
    ColumnData::Bit(Some(v))
}

fn database(id: i32, name: &str, state: &str) -> Row {
    row(vec![
        ("database_id", int(id)),
        ("name", s(name)),
        ("state_desc", s(state)),
    ])
}

fn mirroring(id: i32, mirrored: Option<(&str, &str, &str)>) -> Row {
    let (guid, state, role, partner) = match mirrored {
        Some((state, role, partner)) => (
            ColumnData::Guid(Some(Uuid::from_bytes([7; 16]))),
            s(state),
            s(role),
            s(partner),
        ),
        None => (ColumnData::Guid(None), null_s(), null_s(), null_s()),
    };
    row(vec![
        ("database_id", int(id)),
        ("mirroring_guid", guid),
        ("mirroring_state_desc", state),
        ("mirroring_role_desc", role),
        ("mirroring_partner_instance", partner),
    ])
}

/// 2026-11-21 03:00:04.
fn at_four_seconds() -> Cell {
    ColumnData::DateTime(Some(DateTime::new(46_345, (3 * 3600 + 4) * 300)))
}

fn monitor(secondary_database: &str, restored: bool) -> Row {
    row(vec![
        ("primary_server", s("SQL-CHAT-A")),
        ("primary_database", s("mgc")),
        ("secondary_server", s("SQL-CHAT-B")),
        ("secondary_database", s(secondary_database)),
        ("last_copied_file", s("D:\\pchat-logship\\mgc_20261121030004.trn")),
        ("last_copied_date_utc", at_four_seconds()),
        (
            "last_restored_file",
            if restored {
                s("D:\\pchat-logship\\mgc_20261121030002.trn")
            } else {
                null_s()
            },
        ),
        (
            "last_restored_date_utc",
            if restored {
                at_four_seconds()
            } else {
                ColumnData::DateTime(None)
            },
        ),
    ])
}

fn secondary(name: &str, delay: i32) -> Row {
    row(vec![
        ("secondary_database", s(name)),
        ("restore_mode", bit(false)),
        ("restore_delay", int(delay)),
        ("last_restored_file", null_s()),
    ])
}

fn session(id: i16, database: i16, user: bool) -> Row {
    row(vec![
        ("session_id", small(id)),
        ("database_id", small(database)),
        ("is_user_process", bit(user)),
    ])
}

fn batch() -> Vec<Vec<Row>> {
    vec![
        vec![row(vec![("server_name", s("SQL-CHAT-B"))])],
        vec![
            database(1, "master", "ONLINE"),
            database(5, "mgc", "RESTORING"),
            database(6, "mgccomp", "ONLINE"),
        ],
        vec![
            mirroring(1, None),
            mirroring(5, None),
            mirroring(6, Some(("DISCONNECTED", "PRINCIPAL", "SQL-CHAT-B-MIR"))),
        ],
        vec![monitor("MGC", true)],
        vec![secondary("mgc", 0)],
        vec![session(1, 1, false), session(51, 1, true), session(57, 5, true)],
    ]
}

#[test]
fn a_log_shipping_secondary_is_read_whole() {
    let obs = parse_pool_observation(batch()).unwrap();
    assert_eq!(obs.server_name.as_deref(), Some("SQL-CHAT-B"));
    let mgc = obs.database("MGC").unwrap();
    assert_eq!(
        (mgc.database_id, mgc.state.clone(), mgc.mirroring.clone()),
        (5, DatabaseState::Restoring, None)
    );
    assert_eq!(
        obs.database("mgccomp").unwrap().mirroring,
        Some(Mirroring {
            role: MirroringRole::Principal,
            state: MirroringState::Disconnected,
            partner_instance: Some("SQL-CHAT-B-MIR".into()),
        })
    );
    let four = Timestamp::from_second(1_795_230_004).unwrap();
    assert_eq!(
        obs.log_shipping_of("mgc").unwrap(),
        &LogShippingSecondary {
            primary_server: "SQL-CHAT-A".into(),
            primary_database: "mgc".into(),
            secondary_database: "MGC".into(),
            last_copied_file: Some("D:\\pchat-logship\\mgc_20261121030004.trn".into()),
            last_copied_at: Some(four),
            last_restored_file: Some("D:\\pchat-logship\\mgc_20261121030002.trn".into()),
            last_restored_at: Some(four),
            restore_delay_minutes: Some(0),
            configured: true,
        }
    );
    // System sessions are left out; the caller's own is kept.
    assert_eq!(
        obs.sessions,
        vec![
            Session {
                session_id: 51,
                database_id: 1
            },
            Session {
                session_id: 57,
                database_id: 5
            }
        ]
    );
    assert_eq!(obs.sessions_in("mgc").len(), 1);
    assert!(obs.sessions_in("nope").is_empty());
}

#[test]
fn a_monitor_row_without_configuration_is_not_configured() {
    let mut b = batch();
    b[3] = vec![monitor("mgc", false)];
    b[4] = vec![secondary("other", 5)];
    let obs = parse_pool_observation(b).unwrap();
    let ls = obs.log_shipping_of("mgc").unwrap();
    assert!(!ls.configured);
    assert_eq!(
        (
            ls.last_restored_file.clone(),
            ls.last_restored_at,
            ls.restore_delay_minutes
        ),
        (None, None, None)
    );
}

#[test]
fn wrong_types_and_missing_sets_are_decode_errors() {
    let mut b = batch();
    b[5] = vec![row(vec![
        ("session_id", s("57")),
        ("database_id", small(5)),
        ("is_user_process", bit(true)),
    ])];
    match parse_pool_observation(b).unwrap_err() {
        SqlError::Decode { view, column, detail } => {
            assert_eq!((view, column), ("sys.dm_exec_sessions", "session_id"));
            assert!(detail.contains("smallint"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    let mut b = batch();
    b[1] = vec![row(vec![("database_id", int(5)), ("name", s("mgc"))])];
    assert!(matches!(
        parse_pool_observation(b),
        Err(SqlError::Decode {
            column: "state_desc",
            ..
        })
    ));
    let mut b = batch();
    b[2] = vec![row(vec![
        ("database_id", s("five")),
        ("mirroring_guid", ColumnData::Guid(None)),
    ])];
    assert!(matches!(
        parse_pool_observation(b),
        Err(SqlError::Decode {
            view: "sys.database_mirroring",
            ..
        })
    ));
    let mut b = batch();
    b.truncate(4);
    match parse_pool_observation(b).unwrap_err() {
        SqlError::Decode { view, detail, .. } => {
            assert_eq!(view, "msdb.dbo.log_shipping_secondary_databases");
            assert!(detail.contains("4 of 6"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_batch_reads_one_view_per_line() {
    let lines: Vec<&str> = POOL_OBSERVATION_BATCH.lines().collect();
    assert_eq!(lines.len(), VIEWS.len());
    for (line, view) in lines.iter().zip(VIEWS).skip(1) {
        assert!(line.ends_with(&format!("FROM {view};")), "{line}");
    }
}
