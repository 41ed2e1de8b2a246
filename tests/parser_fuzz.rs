//! Property tests (fuzzing in CI) of the T-SQL drover writes and of the simulator's statement
//! parser that reads it: every [`Action`] drover can send, built from hostile names and paths,
//! parses back to exactly one statement naming exactly what was given (no injection, nothing
//! lost to quoting); and the parser never panics, whatever the text. `fuzz/` has the same two
//! properties as cargo-fuzz targets for longer runs (nightly, not in CI).

use drover::sim::parse::ast::{ExecArg, Literal, Statement};
use drover::sim::parse::parse_batch;
use drover::sql::quote::Ident;
use drover::sql::{Action, CommitMode};
use proptest::prelude::*;

/// Pieces that break naive quoting, T-SQL keywords, and ordinary characters.
fn hazardous() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "]",
        "]]",
        "[",
        "'",
        "''",
        "N'",
        "\"",
        ";",
        "--",
        "/*",
        "*/",
        " ",
        "\t",
        "\u{3000}",
        "a",
        "Z",
        "_",
        "é",
        "中",
        "😀",
        "GO",
        "FAILOVER",
        "DROP DATABASE x",
        "@",
        "@@",
        "\\",
        ")",
        "(",
        ",",
        "=",
        "0x",
        "\u{200b}",
        "\u{feff}",
    ]);
    prop::collection::vec(piece, 1..24).prop_map(|v| v.concat())
}

fn ident() -> impl Strategy<Value = Ident> {
    prop_oneof![any::<String>(), hazardous()].prop_filter_map("a valid sysname", |s| Ident::new(&s).ok())
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), hazardous()].prop_filter("no NUL", |s| !s.contains('\0'))
}

/// Every action drover can send, with hostile names and paths.
fn action() -> impl Strategy<Value = Action> {
    let mode = prop_oneof![Just(CommitMode::Synchronous), Just(CommitMode::Asynchronous)];
    prop_oneof![
        ident().prop_map(|group| Action::PlannedFailover { group }),
        ident().prop_map(|group| Action::ForcedFailover { group }),
        (ident(), literal(), mode).prop_map(|(group, replica_server_name, mode)| Action::SetAvailabilityMode {
            group,
            replica_server_name,
            mode
        }),
        (ident(), 0u8..=2).prop_map(|(group, count)| Action::SetRequiredSynchronizedSecondaries { group, count }),
        ident().prop_map(|group| Action::DemoteToSecondary { group }),
        ident().prop_map(|database| Action::ResumeDataMovement { database }),
        (ident(), literal()).prop_map(|(database, path)| Action::CopyOnlyBackup { database, path }),
        ident().prop_map(|database| Action::RemoveLogShippingSecondary { database }),
        (ident(), literal()).prop_map(|(database, path)| Action::RestoreLog { database, path }),
        ident().prop_map(|database| Action::RecoverDatabase { database }),
        (ident(), literal()).prop_map(|(database, path)| Action::RestoreDatabaseReplace { database, path }),
        (ident(), literal()).prop_map(|(database, path)| Action::FullBackup { database, path }),
        (ident(), literal()).prop_map(|(database, path)| Action::TailLogBackup { database, path }),
        ident().prop_map(|database| Action::MirroringOff { database }),
        (1i16..=i16::MAX).prop_map(|session_id| Action::KillSession { session_id }),
    ]
}

/// The names and strings an action carries, in order.
fn given(a: &Action) -> Vec<String> {
    match a {
        Action::PlannedFailover { group }
        | Action::ForcedFailover { group }
        | Action::SetRequiredSynchronizedSecondaries { group, .. }
        | Action::DemoteToSecondary { group } => vec![group.as_str().into()],
        Action::SetAvailabilityMode {
            group,
            replica_server_name,
            ..
        } => vec![group.as_str().into(), replica_server_name.clone()],
        Action::ResumeDataMovement { database }
        | Action::RemoveLogShippingSecondary { database }
        | Action::RecoverDatabase { database }
        | Action::MirroringOff { database } => vec![database.as_str().into()],
        Action::CopyOnlyBackup { database, path }
        | Action::RestoreLog { database, path }
        | Action::RestoreDatabaseReplace { database, path }
        | Action::FullBackup { database, path }
        | Action::TailLogBackup { database, path } => vec![database.as_str().into(), path.clone()],
        Action::KillSession { session_id } => vec![session_id.to_string()],
    }
}

fn text(l: &Literal) -> String {
    match l {
        Literal::Str(s) | Literal::Param(s) => s.clone(),
        Literal::Int(n) => n.to_string(),
        Literal::Null => "NULL".into(),
    }
}

/// The names and strings the parsed statement carries, in the same order as [`given`].
fn parsed(s: &Statement) -> Vec<String> {
    use drover::sim::parse::ast::AgAction;
    match s {
        Statement::AlterAvailabilityGroup { group, action } => match action {
            AgAction::ModifyReplicaAvailabilityMode { server, .. } => vec![group.clone(), text(server)],
            _ => vec![group.clone()],
        },
        Statement::ResumeDatabase { database }
        | Statement::SuspendDatabase { database }
        | Statement::Use { database }
        | Statement::SetPartnerOff { database } => vec![database.clone()],
        Statement::BackupDatabase { database, disk, .. } | Statement::BackupLog { database, disk, .. } => {
            vec![database.clone(), text(disk)]
        }
        Statement::Restore { database, disk, .. } => {
            let mut v = vec![database.clone()];
            v.extend(disk.as_ref().map(text));
            v
        }
        Statement::Exec { args, .. } => args.iter().map(|ExecArg { value, .. }| text(value)).collect(),
        Statement::Kill { session } => vec![session.to_string()],
        Statement::Select(_) | Statement::SetOption { .. } => vec![format!("{s:?}")],
    }
}

/// Text made of T-SQL tokens and hazards, so the parser gets past the lexer often.
fn token_soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "ALTER ",
        "AVAILABILITY ",
        "GROUP ",
        "DATABASE ",
        "SET ",
        "HADR ",
        "RESUME",
        "FAILOVER",
        "FORCE_FAILOVER_ALLOW_DATA_LOSS",
        "MODIFY REPLICA ON ",
        "WITH ",
        "(",
        ")",
        "AVAILABILITY_MODE",
        " = ",
        "SYNCHRONOUS_COMMIT",
        "BACKUP ",
        "LOG ",
        "TO DISK = ",
        "RESTORE ",
        "FROM ",
        "NORECOVERY",
        "RECOVERY",
        "REPLACE",
        "EXEC ",
        "master.dbo.sp_delete_log_shipping_secondary_database ",
        "@secondary_database",
        "SELECT ",
        "* ",
        "FROM sys.availability_groups",
        "WHERE ",
        "1",
        "-1",
        "99999999999999999999999999999999999999999",
        "N'",
        "'",
        "''",
        "[",
        "]",
        "]]",
        ";",
        "--",
        "/*",
        "*/",
        ",",
        ".",
        "KILL ",
        "USE ",
        "GO",
        "\n",
        "\0",
        "\u{7f}",
        "😀",
        "@@VERSION",
        "PARTNER OFF",
        "ROLE = SECONDARY",
        "0x",
        "$",
        "#",
    ]);
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8192))]

    /// Whatever drover sends is one statement, naming exactly what it was given.
    #[test]
    fn every_action_parses_back_to_what_was_given(a in action()) {
        let sql = a.to_sql().expect("no NUL in the inputs");
        let statements = parse_batch(&sql).map_err(|e| TestCaseError::fail(format!("{sql:?}: {e:?}")))?;
        prop_assert_eq!(statements.len(), 1, "{:?} is {} statements", sql, statements.len());
        prop_assert_eq!(parsed(&statements[0]), given(&a), "{:?}", sql);
    }

    /// The parser answers every text with statements or a server error, never a panic.
    #[test]
    fn the_parser_never_panics(sql in prop_oneof![any::<String>(), token_soup(), hazardous()]) {
        if let Err(e) = parse_batch(&sql) {
            prop_assert!(e.number > 0 && !e.message.is_empty(), "{:?}: {:?}", sql, e);
        }
    }

    /// Raw bytes through the lossy UTF-8 path: the same.
    #[test]
    fn the_parser_takes_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let sql = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_batch(&sql) {
            prop_assert!(e.number > 0 && !e.message.is_empty(), "{:?}: {:?}", sql, e);
        }
    }
}
