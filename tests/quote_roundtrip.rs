//! Client-side quoting must round-trip through the simulator's parser: whatever
//! name or literal drover quotes is exactly what the (simulated) server sees.

use drover::sim::parse::{ast::*, parse_batch};
use drover::sql::quote::{Ident, quote_ident, quote_literal};
use proptest::prelude::*;

/// Strings biased towards quoting hazards: brackets, quotes, comment starters, astral chars.
fn hazardous() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "]",
        "]]",
        "[",
        "'",
        "''",
        "\"",
        ";",
        "--",
        "/*",
        "*/",
        " ",
        "\u{3000}",
        "a",
        "Z",
        "_",
        "é",
        "ß",
        "Ω",
        "中",
        "😀",
        "𝔘",
        "N'",
        "GO",
        "FAILOVER",
        "DROP DATABASE x",
        "@",
        "\\",
    ]);
    prop::collection::vec(piece, 1..20).prop_map(|v| v.concat())
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), hazardous()].prop_filter("valid sysname", |s| Ident::new(s).is_ok())
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), hazardous()].prop_filter("no NUL", |s| !s.contains('\0'))
}

/// Any chars, control characters included (`any::<String>()` avoids them).
fn any_chars() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<char>(), 0..40),
        prop::collection::vec(any::<char>(), 100..200),
    ]
    .prop_map(String::from_iter)
}

fn one(sql: &str) -> Statement {
    match parse_batch(sql) {
        Ok(mut stmts) if stmts.len() == 1 => stmts.remove(0),
        other => panic!("{sql:?} parsed to {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ag_name_round_trips(name in name()) {
        let sql = format!("ALTER AVAILABILITY GROUP {} FAILOVER", quote_ident(&name).unwrap());
        prop_assert_eq!(
            one(&sql),
            Statement::AlterAvailabilityGroup { group: name, action: AgAction::Failover }
        );
    }

    #[test]
    fn replica_literal_round_trips(s in literal()) {
        let sql = format!(
            "ALTER AVAILABILITY GROUP [ag] MODIFY REPLICA ON {} WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)",
            quote_literal(&s).unwrap()
        );
        prop_assert_eq!(
            one(&sql),
            Statement::AlterAvailabilityGroup {
                group: "ag".into(),
                action: AgAction::ModifyReplicaAvailabilityMode {
                    server: Literal::Str(s),
                    mode: AvailabilityMode::SynchronousCommit,
                },
            }
        );
    }

    #[test]
    fn backup_round_trips(db in name(), path in literal()) {
        let sql = format!(
            "BACKUP DATABASE {} TO DISK = {} WITH COPY_ONLY, CHECKSUM",
            Ident::new(&db).unwrap(),
            quote_literal(&path).unwrap()
        );
        prop_assert_eq!(
            one(&sql),
            Statement::BackupDatabase {
                database: db,
                disk: Literal::Str(path),
                options: vec![BackupOption::CopyOnly, BackupOption::Checksum],
            }
        );
    }

    #[test]
    fn resume_round_trips(db in name()) {
        let sql = format!("ALTER DATABASE {} SET HADR RESUME", quote_ident(&db).unwrap());
        prop_assert_eq!(one(&sql), Statement::ResumeDatabase { database: db });
    }

    /// Names `Ident::new` refuses are refused; hand-quoted, the empty and
    /// over-long ones are refused by the server too (1038, 103).
    #[test]
    fn invalid_names_are_rejected(s in any_chars()) {
        let units = s.encode_utf16().count();
        let valid = (1..=128).contains(&units) && !s.chars().any(char::is_control);
        prop_assert_eq!(quote_ident(&s).is_ok(), valid);
        if units > 128 {
            let sql = format!("ALTER DATABASE [{}] SET HADR RESUME", s.replace(']', "]]"));
            prop_assert_eq!(parse_batch(&sql).map_err(|e| e.number), Err(103));
        }
    }
}

#[test]
fn boundary_names() {
    assert!(quote_ident("").is_err());
    assert_eq!(
        parse_batch("ALTER DATABASE [] SET HADR RESUME").map_err(|e| e.number),
        Err(1038)
    );
    for ok in ["a".repeat(128), "é".repeat(128), "😀".repeat(64), "]".repeat(128)] {
        let sql = format!("ALTER DATABASE {} SET HADR RESUME", quote_ident(&ok).unwrap());
        assert_eq!(one(&sql), Statement::ResumeDatabase { database: ok });
    }
    for long in ["a".repeat(129), "😀".repeat(65), "]".repeat(129)] {
        assert!(quote_ident(&long).is_err());
        let sql = format!("ALTER DATABASE [{}] SET HADR RESUME", long.replace(']', "]]"));
        assert_eq!(parse_batch(&sql).map_err(|e| e.number), Err(103));
    }
    for ctl in ["a\nb", "\u{0}", "x\u{7f}", "\u{85}"] {
        assert!(quote_ident(ctl).is_err(), "{ctl:?}");
    }
}
