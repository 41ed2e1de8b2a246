//! Runbook B's statements: every form drover sends, and what stays a syntax error.

use super::ast::*;
use super::parse_batch;

fn one(sql: &str) -> Statement {
    let mut stmts = parse_batch(sql).unwrap_or_else(|e| panic!("{sql:?}: {e:?}"));
    assert_eq!(stmts.len(), 1, "{sql:?}");
    stmts.remove(0)
}

fn near(sql: &str, token: &str) {
    let e = parse_batch(sql).expect_err(sql);
    assert_eq!(
        (e.number, e.message),
        (102, format!("Incorrect syntax near '{token}'.")),
        "{sql:?}"
    );
}

fn s(v: &str) -> Literal {
    Literal::Str(v.into())
}

fn restore(kind: RestoreKind, disk: Option<&str>, options: Vec<RestoreOption>) -> Statement {
    Statement::Restore {
        kind,
        database: "m]g'c".into(),
        disk: disk.map(s),
        options,
    }
}

#[test]
fn restore_forms() {
    use RestoreOption::*;
    assert_eq!(
        one(r"RESTORE LOG [m]]g'c] FROM DISK = N'\\fs-a\share\it''s.trn' WITH NORECOVERY;"),
        restore(RestoreKind::Log, Some(r"\\fs-a\share\it's.trn"), vec![NoRecovery])
    );
    assert_eq!(
        one("restore database [m]]g'c] with recovery"),
        restore(RestoreKind::Database, None, vec![Recovery])
    );
    assert_eq!(
        one("RESTORE DATABASE [m]]g'c] FROM DISK = N'x.bak' WITH REPLACE, RECOVERY, CHECKSUM"),
        restore(RestoreKind::Database, Some("x.bak"), vec![Replace, Recovery, Checksum])
    );
    assert_eq!(
        one("RESTORE LOG [m]]g'c] FROM DISK = N'x'"),
        restore(RestoreKind::Log, Some("x"), vec![])
    );
    near("RESTORE LOG mgc WITH RECOVERY", "WITH");
    near("RESTORE LOG mgc FROM TAPE = N'x'", "TAPE");
    near("RESTORE DATABASE mgc WITH STANDBY = N'x'", "STANDBY");
    near("RESTORE DATABASE mgc WITH", "WITH");
    near("RESTORE HEADERONLY FROM DISK = N'x'", "HEADERONLY");
    near("RESTORE DATABASE mgc FROM DISK = N'x' WITH MOVE N'a' TO N'b'", "MOVE");
}

#[test]
fn backup_log_forms() {
    assert_eq!(
        one("BACKUP LOG [mgc] TO DISK = N'D:\\t.trn' WITH NORECOVERY, CHECKSUM;"),
        Statement::BackupLog {
            database: "mgc".into(),
            disk: s("D:\\t.trn"),
            options: vec![BackupOption::NoRecovery, BackupOption::Checksum],
        }
    );
    assert_eq!(
        one("BACKUP DATABASE [mgc] TO DISK = N'x' WITH INIT, CHECKSUM"),
        Statement::BackupDatabase {
            database: "mgc".into(),
            disk: s("x"),
            options: vec![BackupOption::Init, BackupOption::Checksum],
        }
    );
    near("BACKUP LOG mgc TO DISK = N'x' WITH NO_TRUNCATE", "NO_TRUNCATE");
}

#[test]
fn set_partner_off_and_kill() {
    assert_eq!(
        one("ALTER DATABASE [mgc] SET PARTNER OFF;"),
        Statement::SetPartnerOff { database: "mgc".into() }
    );
    near("ALTER DATABASE mgc SET PARTNER FAILOVER", "FAILOVER");
    near("ALTER DATABASE mgc SET PARTNER = N'TCP://x:5022'", "=");
    assert_eq!(one("KILL 57;"), Statement::Kill { session: 57 });
    // SQL Server range-checks the number when it runs, not when it parses.
    assert_eq!(one("kill -1"), Statement::Kill { session: -1 });
    near("KILL @spid", "@spid");
    near("KILL 57 WITH STATUSONLY", "WITH");
    near("KILL", "KILL");
}

#[test]
fn exec_forms() {
    let exec = |parts: &[&str], args: Vec<ExecArg>| Statement::Exec {
        procedure: ObjectName(parts.iter().map(|p| p.to_string()).collect()),
        args,
    };
    let pos = |value: Literal| ExecArg { name: None, value };
    assert_eq!(
        one("EXEC master.dbo.sp_delete_log_shipping_secondary_database @secondary_database = N'mgc';"),
        exec(
            &["master", "dbo", "sp_delete_log_shipping_secondary_database"],
            vec![ExecArg {
                name: Some("@secondary_database".into()),
                value: s("mgc"),
            }]
        )
    );
    assert_eq!(
        one(r"EXEC master.sys.xp_dirtree N'\\fs-a\x', 1, 1;"),
        exec(
            &["master", "sys", "xp_dirtree"],
            vec![pos(s(r"\\fs-a\x")), pos(Literal::Int(1)), pos(Literal::Int(1))]
        )
    );
    // The runbook's own spelling: a bare name is a string argument.
    assert_eq!(
        one("exec sp_delete_log_shipping_secondary_database mgc"),
        exec(&["sp_delete_log_shipping_secondary_database"], vec![pos(s("mgc"))])
    );
    assert_eq!(
        one("EXECUTE xp_fileexist [D:\\x]"),
        exec(&["xp_fileexist"], vec![pos(s("D:\\x"))])
    );
    assert_eq!(one("EXEC sp_who2"), exec(&["sp_who2"], vec![]));
    // A statement after an argument-less EXEC is the next statement.
    assert_eq!(parse_batch("EXEC sp_who2 SELECT @@SPID").unwrap().len(), 2);
    near("EXEC master.sys.xp_dirtree N'x',", ",");
    near("EXEC xp_dirtree N'x' 1", "1");
    near("EXEC (N'SELECT 1')", "(");
    near("EXEC @rc = sp_x", "@rc");
}
