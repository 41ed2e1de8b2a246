//! Unit tests: every statement form, batches, every error number, injection, fuzzing.

use super::ast::*;
use super::parse_batch;
use proptest::prelude::*;

fn one(sql: &str) -> Statement {
    let mut stmts = parse_batch(sql).unwrap_or_else(|e| panic!("{sql:?}: {e:?}"));
    assert_eq!(stmts.len(), 1, "{sql:?}");
    stmts.remove(0)
}

fn err(sql: &str) -> (u32, String) {
    let e = parse_batch(sql).expect_err(sql);
    assert_eq!(e.class, 15, "{sql:?}");
    (e.number, e.message)
}

fn near(sql: &str, token: &str) {
    assert_eq!(err(sql), (102, format!("Incorrect syntax near '{token}'.")), "{sql:?}");
}

fn ag(group: &str, action: AgAction) -> Statement {
    Statement::AlterAvailabilityGroup {
        group: group.into(),
        action,
    }
}

fn col(name: &str, alias: Option<&str>) -> SelectItem {
    SelectItem::Column {
        name: name.into(),
        alias: alias.map(Into::into),
    }
}

fn set(option: &str, value: SetValue) -> Statement {
    Statement::SetOption {
        option: option.into(),
        value,
    }
}

#[test]
fn select_forms() {
    let s = one("SELECT * FROM sys.availability_groups");
    assert_eq!(
        s,
        Statement::Select(Select {
            items: vec![SelectItem::Star],
            from: Some(ObjectName(vec!["sys".into(), "availability_groups".into()])),
            filter: vec![],
        })
    );
    let s = one(
        "select name, [role desc] AS r, \"x\"\"y\" z\n from [sys].[dm_hadr_database_replica_states]\n\
         where database_id = -5 and name = N'a''b' AND x = 'c' AND y = NULL AND z = @P1",
    );
    let Statement::Select(sel) = s else {
        panic!("not a select")
    };
    assert_eq!(
        sel.items,
        vec![col("name", None), col("role desc", Some("r")), col("x\"y", Some("z"))]
    );
    assert_eq!(
        sel.from,
        Some(ObjectName(vec!["sys".into(), "dm_hadr_database_replica_states".into()]))
    );
    let values: Vec<_> = sel.filter.iter().map(|c| c.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            Literal::Int(-5),
            Literal::Str("a'b".into()),
            Literal::Str("c".into()),
            Literal::Null,
            Literal::Param("@P1".into()),
        ]
    );
    for sql in [
        "SELECT * FROM master.sys.databases",
        "SELECT*FROM msdb.dbo.log_shipping_monitor_secondary",
        "SeLeCt /* a /* nested */ comment */ * -- trailing\r\nFROM x",
    ] {
        assert!(matches!(one(sql), Statement::Select(_)), "{sql}");
    }
    assert_eq!(
        one("SELECT @@version, @@SpId AS spid"),
        Statement::Select(Select {
            items: vec![
                SelectItem::Global {
                    global: Global("VERSION".into()),
                    alias: None
                },
                SelectItem::Global {
                    global: Global("SPID".into()),
                    alias: Some("spid".into())
                },
            ],
            from: None,
            filter: vec![],
        })
    );
}

#[test]
fn select_rejections() {
    near("SELECT @@VERSION FROM t", "FROM");
    near("SELECT", "SELECT");
    near("SELECT * FROM", "FROM");
    near("SELECT * FROM a.b.c.d", ".");
    near("SELECT t.a FROM t", ".");
    near("SELECT a FROM t WHERE a > 1", ">");
    near("SELECT a FROM t WHERE a = 1 OR b = 2", "OR");
    near("SELECT a FROM t WHERE a = b", "b");
    near("SELECT a FROM select", "select");
    near("SELECT * AS x FROM t", "AS");
    near("SELECT * FROM sys.availability_groups; GO", "GO");
    near("SELECT * FROM t GO", "GO");
    near("SELECT 1", "1");
}

#[test]
fn alter_availability_group_forms() {
    assert_eq!(
        one("ALTER AVAILABILITY GROUP [ag1] FAILOVER"),
        ag("ag1", AgAction::Failover)
    );
    assert_eq!(
        one("alter\tavailability\n\ngroup ag1 -- c\n force_failover_allow_data_loss;"),
        ag("ag1", AgAction::ForceFailoverAllowDataLoss)
    );
    assert_eq!(
        one("ALTER AVAILABILITY GROUP [ag] MODIFY REPLICA ON N'sql-1\\INST' \
             WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)"),
        ag(
            "ag",
            AgAction::ModifyReplicaAvailabilityMode {
                server: Literal::Str("sql-1\\INST".into()),
                mode: AvailabilityMode::SynchronousCommit
            }
        )
    );
    assert_eq!(
        one("ALTER AVAILABILITY GROUP ag MODIFY REPLICA ON 'r' WITH(availability_mode=asynchronous_commit)"),
        ag(
            "ag",
            AgAction::ModifyReplicaAvailabilityMode {
                server: Literal::Str("r".into()),
                mode: AvailabilityMode::AsynchronousCommit
            }
        )
    );
    for (word, mode) in [("AUTOMATIC", FailoverMode::Automatic), ("manual", FailoverMode::Manual)] {
        assert_eq!(
            one(&format!(
                "ALTER AVAILABILITY GROUP ag MODIFY REPLICA ON 's' WITH (FAILOVER_MODE = {word})"
            )),
            ag(
                "ag",
                AgAction::ModifyReplicaFailoverMode {
                    server: Literal::Str("s".into()),
                    mode
                }
            )
        );
    }
    assert_eq!(
        one("ALTER AVAILABILITY GROUP ag SET (REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = 1)"),
        ag("ag", AgAction::SetRequiredSynchronizedSecondaries(Literal::Int(1)))
    );
    assert_eq!(
        one("ALTER AVAILABILITY GROUP ag SET ( ROLE = SECONDARY )"),
        ag("ag", AgAction::SetRoleSecondary)
    );
    near("ALTER AVAILABILITY GROUP ag [FAILOVER]", "[FAILOVER]");
    near("ALTER AVAILABILITY GROUP ag FAILOVER NOW", "NOW");
    near(
        "ALTER AVAILABILITY GROUP ag MODIFY REPLICA ON 1 WITH (FAILOVER_MODE = MANUAL)",
        "1",
    );
    near(
        "ALTER AVAILABILITY GROUP ag MODIFY REPLICA ON 's' WITH (FAILOVER_MODE = SOMETIMES)",
        "SOMETIMES",
    );
    near("ALTER AVAILABILITY GROUP ag SET (ROLE = PRIMARY)", "PRIMARY");
    near("ALTER AVAILABILITY GROUP ag SET (ROLE = SECONDARY", "SECONDARY");
    near("ALTER AVAILABILITY GROUP FAILOVER", "FAILOVER");
    near("ALTER TABLE t", "TABLE");
}

#[test]
fn injection_stays_inside_names() {
    assert_eq!(
        one("ALTER AVAILABILITY GROUP [x]] FAILOVER; DROP DATABASE [y] FAILOVER"),
        ag("x] FAILOVER; DROP DATABASE [y", AgAction::Failover)
    );
    assert_eq!(
        one("ALTER AVAILABILITY GROUP ag MODIFY REPLICA ON N'x''); DROP DATABASE y; --' WITH (FAILOVER_MODE = MANUAL)"),
        ag(
            "ag",
            AgAction::ModifyReplicaFailoverMode {
                server: Literal::Str("x'); DROP DATABASE y; --".into()),
                mode: FailoverMode::Manual
            }
        )
    );
    near("ALTER AVAILABILITY GROUP [x] FAILOVER; DROP DATABASE [y]", "DROP");
    near("DROP DATABASE x", "DROP");
}

#[test]
fn database_forms() {
    assert_eq!(
        one("ALTER DATABASE [db 1] SET HADR RESUME"),
        Statement::ResumeDatabase {
            database: "db 1".into()
        }
    );
    assert_eq!(
        one("alter database db set hadr suspend ;"),
        Statement::SuspendDatabase { database: "db".into() }
    );
    near("ALTER DATABASE db SET HADR OFF", "OFF");
    assert_eq!(
        one("BACKUP DATABASE [db] TO DISK = N'/var/opt/x.bak' WITH copy_only, CHECKSUM,init,Format , COMPRESSION"),
        Statement::BackupDatabase {
            database: "db".into(),
            disk: Literal::Str("/var/opt/x.bak".into()),
            options: vec![
                BackupOption::CopyOnly,
                BackupOption::Checksum,
                BackupOption::Init,
                BackupOption::Format,
                BackupOption::Compression
            ],
        }
    );
    assert_eq!(
        one("BACKUP DATABASE db TO DISK = @p"),
        Statement::BackupDatabase {
            database: "db".into(),
            disk: Literal::Param("@p".into()),
            options: vec![],
        }
    );
    near("BACKUP DATABASE db TO DISK = N'x' WITH STATS = 10", "STATS");
    near("BACKUP DATABASE db TO DISK = N'x' WITH", "WITH");
    near("BACKUP LOG db TO TAPE = N'x'", "TAPE");
    near("BACKUP DATABASE db TO DISK = N'x' WITH NORECOVERY", "NORECOVERY");
    assert_eq!(
        one("USE [master]"),
        Statement::Use {
            database: "master".into()
        }
    );
    near("USE", "USE");
    near("USE database", "database");
}

#[test]
fn set_options() {
    assert_eq!(one("SET NOCOUNT ON"), set("NOCOUNT", SetValue::On));
    assert_eq!(one("set xact_abort off"), set("XACT_ABORT", SetValue::Off));
    assert_eq!(
        one("SET TEXTSIZE 2147483647"),
        set("TEXTSIZE", SetValue::Int(2147483647))
    );
    assert_eq!(one("SET LOCK_TIMEOUT -1"), set("LOCK_TIMEOUT", SetValue::Int(-1)));
    assert_eq!(
        one("SET DATEFORMAT mdy"),
        set("DATEFORMAT", SetValue::Word("mdy".into()))
    );
    assert_eq!(one("SET DATEFIRST 7"), set("DATEFIRST", SetValue::Int(7)));
    assert_eq!(
        one("SET LANGUAGE us_english"),
        set("LANGUAGE", SetValue::Word("us_english".into()))
    );
    assert_eq!(
        one("SET LANGUAGE N'us_english'"),
        set("LANGUAGE", SetValue::Word("us_english".into()))
    );
    assert_eq!(
        one("set transaction isolation level read committed"),
        set("TRANSACTION ISOLATION LEVEL", SetValue::Word("READ COMMITTED".into()))
    );
    assert_eq!(
        parse_batch("SET ANSI_NULLS, quoted_identifier ON").unwrap(),
        vec![set("ANSI_NULLS", SetValue::On), set("QUOTED_IDENTIFIER", SetValue::On)]
    );
    let login = "set ansi_nulls on\nset ansi_padding on\nset ansi_warnings on\nset arithabort on\n\
                 set concat_null_yields_null on\nset quoted_identifier on\nset ansi_null_dflt_on on\n\
                 set cursor_close_on_commit off\nset implicit_transactions off\nset textsize 2147483647\n\
                 set language us_english\nset dateformat mdy\nset datefirst 7\n\
                 set transaction isolation level read committed";
    assert_eq!(parse_batch(login).unwrap().len(), 14);
    assert_eq!(err("SET FOO ON"), (195, "'FOO' is not a recognized SET option.".into()));
    assert_eq!(err("SET NOCOUNT, bar ON").0, 195);
    near("SET NOCOUNT 1", "1");
    near("SET TEXTSIZE ON", "ON");
    near("SET @x = 1", "@x");
    near("SET TRANSACTION ISOLATION LEVEL READ SOMETIMES", "SOMETIMES");
    near("SET TRANSACTION ISOLATION LEVEL CHAOS", "CHAOS");
}

#[test]
fn batches() {
    let sql = "SET NOCOUNT ON; SELECT @@SERVERNAME\nSELECT * FROM sys.databases;\n";
    assert_eq!(parse_batch(sql).unwrap().len(), 3);
    assert_eq!(parse_batch("").unwrap(), vec![]);
    assert_eq!(parse_batch(" \u{3000}\u{a0}-- only a comment").unwrap(), vec![]);
    near(";", ";");
    near("SELECT * FROM t;;", ";");
    // A syntax error anywhere fails the whole batch.
    near("SET NOCOUNT ON; SELECT * FROM t; FROB", "FROB");
}

#[test]
fn lexical_errors() {
    assert_eq!(
        err("'"),
        (105, "Unclosed quotation mark after the character string ''.".into())
    );
    assert_eq!(
        err("SELECT a FROM t WHERE a = N'abc"),
        (105, "Unclosed quotation mark after the character string 'abc'.".into())
    );
    assert_eq!(err("USE [abc").0, 105);
    assert_eq!(err("USE \"abc").0, 105);
    assert_eq!(
        err("SELECT * /* a /* b */"),
        (113, "Missing end comment mark '*/'.".into())
    );
    let long = "a".repeat(129);
    assert_eq!(
        err(&format!("USE [{long}]")),
        (
            103,
            format!(
                "The identifier that starts with '{}' is too long. Maximum length is 128.",
                "a".repeat(128)
            )
        )
    );
    assert_eq!(err(&format!("USE {long}")).0, 103);
    assert_eq!(err(&format!("USE [{}]", "😀".repeat(65))).0, 103);
    assert!(parse_batch(&format!("USE [{}]", "😀".repeat(64))).is_ok());
    assert!(parse_batch(&format!("USE [{}]", "]".repeat(128).replace(']', "]]"))).is_ok());
    assert_eq!(err("USE []").0, 1038);
    assert_eq!(err("SELECT a AS \"\" FROM t").0, 1038);
    assert_eq!(
        err("SELECT a FROM t WHERE a = 999999999999999999999999999999999999999").0,
        1007
    );
    near("SELECT a FROM t WHERE a = @", "@");
    near("SELECT a FROM t WHERE a = 1 + 1", "+");
}

/// Token soup from fragments that exercise every lexer and parser path.
fn soup() -> impl Strategy<Value = String> {
    let frag = prop::sample::select(vec![
        "SELECT",
        "ALTER",
        "AVAILABILITY",
        "GROUP",
        "DATABASE",
        "BACKUP",
        "SET",
        "USE",
        "FROM",
        "WHERE",
        "AND",
        "AS",
        "ON",
        "OFF",
        "WITH",
        "TO",
        "DISK",
        "FAILOVER",
        "MODIFY",
        "REPLICA",
        "HADR",
        "RESUME",
        "NOCOUNT",
        "TRANSACTION",
        "READ",
        "RESTORE",
        "LOG",
        "RECOVERY",
        "NORECOVERY",
        "REPLACE",
        "PARTNER",
        "KILL",
        "EXEC",
        "(",
        ")",
        ",",
        ";",
        ".",
        "=",
        "*",
        "-",
        "1",
        "N'x'",
        "'",
        "[",
        "]",
        "\"",
        "[a]]b]",
        "@p",
        "@@v",
        "@",
        "--",
        "/*",
        "*/",
        " ",
        "\n",
        "é",
        "😀",
        "NULL",
        "GO",
        "+",
        "\0",
    ]);
    prop::collection::vec(frag, 0..24).prop_map(|v| v.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_on_any_string(s in any::<String>()) {
        let _ = parse_batch(&s);
    }

    /// `any::<String>()` avoids control characters; raw chars include them.
    #[test]
    fn never_panics_on_any_chars(v in prop::collection::vec(any::<char>(), 0..64)) {
        let _ = parse_batch(&String::from_iter(v));
    }

    #[test]
    fn never_panics_on_token_soup(s in soup()) {
        if let Err(e) = parse_batch(&s) {
            prop_assert!(matches!(e.number, 102 | 103 | 105 | 113 | 195 | 1007 | 1038));
        }
    }
}

#[test]
fn ddl_takes_no_parameters_where_t_sql_takes_none() {
    // A client that binds names as parameters instead of quoting them must
    // fail here as it would on SQL Server.
    for sql in [
        "ALTER AVAILABILITY GROUP ag MODIFY REPLICA ON @P1 WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)",
        "ALTER AVAILABILITY GROUP ag SET (REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = @P1)",
    ] {
        assert_eq!(parse_batch(sql).unwrap_err().number, 102, "{sql}");
    }
}
