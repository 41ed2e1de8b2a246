//! The statements drover may run, as typed actions. Each knows its T-SQL text
//! (built only through `quote`), the replica it must run on and how long it may take.

use std::fmt;

use super::quote::{Ident, QuoteError, quote_literal};
use super::types::AvailabilityMode;

/// The two modes `MODIFY REPLICA … AVAILABILITY_MODE` can set. A separate type
/// so that CONFIGURATION_ONLY or an unknown mode cannot even be expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommitMode {
    Synchronous,
    Asynchronous,
}

impl CommitMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synchronous => "SYNCHRONOUS_COMMIT",
            Self::Asynchronous => "ASYNCHRONOUS_COMMIT",
        }
    }
}

/// Refused conversion of an observed mode that cannot be set by MODIFY REPLICA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("availability mode {0} cannot be set with MODIFY REPLICA; only SYNCHRONOUS_COMMIT or ASYNCHRONOUS_COMMIT")]
pub struct UnsettableMode(pub AvailabilityMode);

impl TryFrom<AvailabilityMode> for CommitMode {
    type Error = UnsettableMode;
    fn try_from(mode: AvailabilityMode) -> Result<Self, Self::Error> {
        match mode {
            AvailabilityMode::SynchronousCommit => Ok(Self::Synchronous),
            AvailabilityMode::AsynchronousCommit => Ok(Self::Asynchronous),
            other => Err(UnsettableMode(other)),
        }
    }
}

impl From<CommitMode> for AvailabilityMode {
    fn from(mode: CommitMode) -> Self {
        match mode {
            CommitMode::Synchronous => Self::SynchronousCommit,
            CommitMode::Asynchronous => Self::AsynchronousCommit,
        }
    }
}

/// Which replica an action must be sent to; sending it elsewhere fails on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunsOn {
    /// FAILOVER and FORCE_FAILOVER run on the secondary that is to become primary.
    TargetSecondary,
    /// Most ALTER AVAILABILITY GROUP options run on the current primary.
    Primary,
    /// RESUME and BACKUP run where the database copy lives.
    ReplicaHostingDatabase,
}

/// One thing drover can do to SQL Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    PlannedFailover {
        group: Ident,
    },
    ForcedFailover {
        group: Ident,
    },
    SetAvailabilityMode {
        group: Ident,
        /// `host\instance`, up to 256 characters: a string literal, not an identifier.
        replica_server_name: String,
        mode: CommitMode,
    },
    SetRequiredSynchronizedSecondaries {
        group: Ident,
        count: u8,
    },
    DemoteToSecondary {
        group: Ident,
    },
    ResumeDataMovement {
        database: Ident,
    },
    CopyOnlyBackup {
        database: Ident,
        path: String,
    },
    /// `sp_delete_log_shipping_secondary_database`, in master on the log-shipping secondary.
    RemoveLogShippingSecondary {
        database: Ident,
    },
    /// One log backup onto a RESTORING database, leaving it RESTORING.
    RestoreLog {
        database: Ident,
        path: String,
    },
    /// Ends the restore sequence: RESTORING → ONLINE.
    RecoverDatabase {
        database: Ident,
    },
    /// Overwrites the database with a full backup and brings it ONLINE.
    RestoreDatabaseReplace {
        database: Ident,
        path: String,
    },
    FullBackup {
        database: Ident,
        path: String,
    },
    /// A tail-log backup that leaves the database RESTORING.
    TailLogBackup {
        database: Ident,
        path: String,
    },
    /// `SET PARTNER OFF`: removes database mirroring (on either partner).
    MirroringOff {
        database: Ident,
    },
    KillSession {
        session_id: i16,
    },
}

impl Action {
    /// Builds a mode change from an observed mode, refusing CONFIGURATION_ONLY and unknowns.
    pub fn set_availability_mode(
        group: Ident,
        replica_server_name: impl Into<String>,
        mode: AvailabilityMode,
    ) -> Result<Self, UnsettableMode> {
        Ok(Self::SetAvailabilityMode {
            group,
            replica_server_name: replica_server_name.into(),
            mode: CommitMode::try_from(mode)?,
        })
    }

    /// The exact T-SQL batch. Fails only if a literal contains NUL.
    pub fn to_sql(&self) -> Result<String, QuoteError> {
        Ok(match self {
            Self::PlannedFailover { group } => {
                format!("ALTER AVAILABILITY GROUP {} FAILOVER;", group.quoted())
            }
            Self::ForcedFailover { group } => format!(
                "ALTER AVAILABILITY GROUP {} FORCE_FAILOVER_ALLOW_DATA_LOSS;",
                group.quoted()
            ),
            Self::SetAvailabilityMode {
                group,
                replica_server_name,
                mode,
            } => format!(
                "ALTER AVAILABILITY GROUP {} MODIFY REPLICA ON {} WITH (AVAILABILITY_MODE = {});",
                group.quoted(),
                quote_literal(replica_server_name)?,
                mode.as_str()
            ),
            Self::SetRequiredSynchronizedSecondaries { group, count } => format!(
                "ALTER AVAILABILITY GROUP {} SET (REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = {count});",
                group.quoted()
            ),
            Self::DemoteToSecondary { group } => {
                format!("ALTER AVAILABILITY GROUP {} SET (ROLE = SECONDARY);", group.quoted())
            }
            Self::ResumeDataMovement { database } => {
                format!("ALTER DATABASE {} SET HADR RESUME;", database.quoted())
            }
            Self::CopyOnlyBackup { database, path } => format!(
                "BACKUP DATABASE {} TO DISK = {} WITH COPY_ONLY, CHECKSUM;",
                database.quoted(),
                quote_literal(path)?
            ),
            // The procedure takes the name as a string, not an identifier.
            Self::RemoveLogShippingSecondary { database } => format!(
                "EXEC master.dbo.sp_delete_log_shipping_secondary_database @secondary_database = {};",
                quote_literal(database.as_str())?
            ),
            Self::RestoreLog { database, path } => format!(
                "RESTORE LOG {} FROM DISK = {} WITH NORECOVERY;",
                database.quoted(),
                quote_literal(path)?
            ),
            Self::RecoverDatabase { database } => {
                format!("RESTORE DATABASE {} WITH RECOVERY;", database.quoted())
            }
            Self::RestoreDatabaseReplace { database, path } => format!(
                "RESTORE DATABASE {} FROM DISK = {} WITH REPLACE, RECOVERY;",
                database.quoted(),
                quote_literal(path)?
            ),
            Self::FullBackup { database, path } => format!(
                "BACKUP DATABASE {} TO DISK = {} WITH INIT, CHECKSUM;",
                database.quoted(),
                quote_literal(path)?
            ),
            Self::TailLogBackup { database, path } => format!(
                "BACKUP LOG {} TO DISK = {} WITH NORECOVERY, CHECKSUM;",
                database.quoted(),
                quote_literal(path)?
            ),
            Self::MirroringOff { database } => {
                format!("ALTER DATABASE {} SET PARTNER OFF;", database.quoted())
            }
            Self::KillSession { session_id } => {
                if *session_id < 1 {
                    return Err(QuoteError::InvalidSessionId(*session_id));
                }
                format!("KILL {session_id};")
            }
        })
    }

    pub fn runs_on(&self) -> RunsOn {
        match self {
            Self::PlannedFailover { .. } | Self::ForcedFailover { .. } => RunsOn::TargetSecondary,
            Self::SetAvailabilityMode { .. }
            | Self::SetRequiredSynchronizedSecondaries { .. }
            | Self::DemoteToSecondary { .. } => RunsOn::Primary,
            Self::ResumeDataMovement { .. }
            | Self::CopyOnlyBackup { .. }
            | Self::RemoveLogShippingSecondary { .. }
            | Self::RestoreLog { .. }
            | Self::RecoverDatabase { .. }
            | Self::RestoreDatabaseReplace { .. }
            | Self::FullBackup { .. }
            | Self::TailLogBackup { .. }
            | Self::MirroringOff { .. }
            | Self::KillSession { .. } => RunsOn::ReplicaHostingDatabase,
        }
    }

    /// Failovers, backups and restores can legitimately take minutes: use the long timeout.
    pub fn is_long_running(&self) -> bool {
        matches!(
            self,
            Self::PlannedFailover { .. }
                | Self::ForcedFailover { .. }
                | Self::CopyOnlyBackup { .. }
                | Self::RestoreLog { .. }
                | Self::RecoverDatabase { .. }
                | Self::RestoreDatabaseReplace { .. }
                | Self::FullBackup { .. }
                | Self::TailLogBackup { .. }
        )
    }

    /// A stable snake_case name for logs, events and metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::PlannedFailover { .. } => "planned_failover",
            Self::ForcedFailover { .. } => "forced_failover",
            Self::SetAvailabilityMode { .. } => "set_availability_mode",
            Self::SetRequiredSynchronizedSecondaries { .. } => "set_required_synchronized_secondaries",
            Self::DemoteToSecondary { .. } => "demote_to_secondary",
            Self::ResumeDataMovement { .. } => "resume_data_movement",
            Self::CopyOnlyBackup { .. } => "copy_only_backup",
            Self::RemoveLogShippingSecondary { .. } => "remove_log_shipping_secondary",
            Self::RestoreLog { .. } => "restore_log",
            Self::RecoverDatabase { .. } => "recover_database",
            Self::RestoreDatabaseReplace { .. } => "restore_database",
            Self::FullBackup { .. } => "full_backup",
            Self::TailLogBackup { .. } => "tail_log_backup",
            Self::MirroringOff { .. } => "mirroring_off",
            Self::KillSession { .. } => "kill_session",
        }
    }
}

/// An action bound to the replica (by `replica_server_name`) it will be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub replica_server_name: String,
    pub action: Action,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.action.kind(), self.replica_server_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> Ident {
        Ident::new(name).unwrap()
    }

    #[test]
    fn exact_text_for_plain_names() {
        let ag = id("ag");
        let cases = [
            (
                Action::PlannedFailover { group: ag.clone() },
                "ALTER AVAILABILITY GROUP [ag] FAILOVER;",
            ),
            (
                Action::ForcedFailover { group: ag.clone() },
                "ALTER AVAILABILITY GROUP [ag] FORCE_FAILOVER_ALLOW_DATA_LOSS;",
            ),
            (
                Action::SetAvailabilityMode {
                    group: ag.clone(),
                    replica_server_name: "srv".into(),
                    mode: CommitMode::Synchronous,
                },
                "ALTER AVAILABILITY GROUP [ag] MODIFY REPLICA ON N'srv' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT);",
            ),
            (
                Action::SetRequiredSynchronizedSecondaries {
                    group: ag.clone(),
                    count: 1,
                },
                "ALTER AVAILABILITY GROUP [ag] SET (REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = 1);",
            ),
            (
                Action::DemoteToSecondary { group: ag.clone() },
                "ALTER AVAILABILITY GROUP [ag] SET (ROLE = SECONDARY);",
            ),
            (
                Action::ResumeDataMovement { database: id("db") },
                "ALTER DATABASE [db] SET HADR RESUME;",
            ),
            (
                Action::CopyOnlyBackup {
                    database: id("db"),
                    path: "path".into(),
                },
                "BACKUP DATABASE [db] TO DISK = N'path' WITH COPY_ONLY, CHECKSUM;",
            ),
        ];
        for (action, sql) in cases {
            assert_eq!(action.to_sql().unwrap(), sql);
        }
    }

    #[test]
    fn hostile_names_stay_quoted() {
        let evil = "x] FAILOVER; DROP DATABASE [y";
        let sql = Action::PlannedFailover { group: id(evil) }.to_sql().unwrap();
        assert_eq!(
            sql,
            "ALTER AVAILABILITY GROUP [x]] FAILOVER; DROP DATABASE [y] FAILOVER;"
        );

        let sql = Action::ForcedFailover { group: id("a'b]c") }.to_sql().unwrap();
        assert_eq!(sql, "ALTER AVAILABILITY GROUP [a'b]]c] FORCE_FAILOVER_ALLOW_DATA_LOSS;");

        let sql = Action::SetRequiredSynchronizedSecondaries {
            group: id("grüppe;]"),
            count: 0,
        }
        .to_sql()
        .unwrap();
        assert!(sql.starts_with("ALTER AVAILABILITY GROUP [grüppe;]]] SET"));

        let sql = Action::DemoteToSecondary { group: id("日本]") }.to_sql().unwrap();
        assert_eq!(sql, "ALTER AVAILABILITY GROUP [日本]]] SET (ROLE = SECONDARY);");

        let sql = Action::ResumeDataMovement {
            database: id("d]b'; --"),
        }
        .to_sql()
        .unwrap();
        assert_eq!(sql, "ALTER DATABASE [d]]b'; --] SET HADR RESUME;");

        let sql = Action::CopyOnlyBackup {
            database: id("o'db]"),
            path: "C:\\b\\it's]; DROP--.bak".into(),
        }
        .to_sql()
        .unwrap();
        assert_eq!(
            sql,
            "BACKUP DATABASE [o'db]]] TO DISK = N'C:\\b\\it''s]; DROP--.bak' WITH COPY_ONLY, CHECKSUM;"
        );
    }

    /// The Persistent Chat runbook's statements, plain and with hostile names.
    fn pool_actions(db: &str, path: &str) -> Vec<Action> {
        let d = || id(db);
        let p = || path.to_string();
        vec![
            Action::RemoveLogShippingSecondary { database: d() },
            Action::RestoreLog {
                database: d(),
                path: p(),
            },
            Action::RecoverDatabase { database: d() },
            Action::RestoreDatabaseReplace {
                database: d(),
                path: p(),
            },
            Action::FullBackup {
                database: d(),
                path: p(),
            },
            Action::TailLogBackup {
                database: d(),
                path: p(),
            },
            Action::MirroringOff { database: d() },
            Action::KillSession { session_id: 57 },
        ]
    }

    #[test]
    fn exact_text_for_the_pool_runbook() {
        let texts: Vec<String> = pool_actions("mgc", "\\\\fs-a\\pchat-logship\\mgc_20261121030002.trn")
            .iter()
            .map(|a| a.to_sql().unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "EXEC master.dbo.sp_delete_log_shipping_secondary_database @secondary_database = N'mgc';",
                "RESTORE LOG [mgc] FROM DISK = N'\\\\fs-a\\pchat-logship\\mgc_20261121030002.trn' WITH NORECOVERY;",
                "RESTORE DATABASE [mgc] WITH RECOVERY;",
                "RESTORE DATABASE [mgc] FROM DISK = N'\\\\fs-a\\pchat-logship\\mgc_20261121030002.trn' WITH REPLACE, RECOVERY;",
                "BACKUP DATABASE [mgc] TO DISK = N'\\\\fs-a\\pchat-logship\\mgc_20261121030002.trn' WITH INIT, CHECKSUM;",
                "BACKUP LOG [mgc] TO DISK = N'\\\\fs-a\\pchat-logship\\mgc_20261121030002.trn' WITH NORECOVERY, CHECKSUM;",
                "ALTER DATABASE [mgc] SET PARTNER OFF;",
                "KILL 57;",
            ]
        );
    }

    #[test]
    fn hostile_pool_names_stay_quoted() {
        let texts: Vec<String> = pool_actions("m]g'c; DROP DATABASE [x", "D:\\it's]; --.trn")
            .iter()
            .map(|a| a.to_sql().unwrap())
            .collect();
        assert_eq!(
            texts[..7],
            [
                "EXEC master.dbo.sp_delete_log_shipping_secondary_database @secondary_database = N'm]g''c; DROP DATABASE [x';",
                "RESTORE LOG [m]]g'c; DROP DATABASE [x] FROM DISK = N'D:\\it''s]; --.trn' WITH NORECOVERY;",
                "RESTORE DATABASE [m]]g'c; DROP DATABASE [x] WITH RECOVERY;",
                "RESTORE DATABASE [m]]g'c; DROP DATABASE [x] FROM DISK = N'D:\\it''s]; --.trn' WITH REPLACE, RECOVERY;",
                "BACKUP DATABASE [m]]g'c; DROP DATABASE [x] TO DISK = N'D:\\it''s]; --.trn' WITH INIT, CHECKSUM;",
                "BACKUP LOG [m]]g'c; DROP DATABASE [x] TO DISK = N'D:\\it''s]; --.trn' WITH NORECOVERY, CHECKSUM;",
                "ALTER DATABASE [m]]g'c; DROP DATABASE [x] SET PARTNER OFF;",
            ]
        );
        for action in pool_actions("db", "a\0b").into_iter().filter(|a| {
            matches!(
                a,
                Action::RestoreLog { .. }
                    | Action::RestoreDatabaseReplace { .. }
                    | Action::FullBackup { .. }
                    | Action::TailLogBackup { .. }
            )
        }) {
            assert_eq!(action.to_sql(), Err(QuoteError::NulInLiteral), "{}", action.kind());
        }
        for bad in [0, -1, i16::MIN] {
            assert_eq!(
                Action::KillSession { session_id: bad }.to_sql(),
                Err(QuoteError::InvalidSessionId(bad))
            );
        }
        assert_eq!(
            Action::KillSession { session_id: i16::MAX }.to_sql().unwrap(),
            "KILL 32767;"
        );
    }

    #[test]
    fn pool_routing_and_duration() {
        let expected = [
            ("remove_log_shipping_secondary", false),
            ("restore_log", true),
            ("recover_database", true),
            ("restore_database", true),
            ("full_backup", true),
            ("tail_log_backup", true),
            ("mirroring_off", false),
            ("kill_session", false),
        ];
        let actions = pool_actions("mgc", "p");
        assert_eq!(actions.len(), expected.len());
        for (action, (kind, long)) in actions.iter().zip(expected) {
            assert_eq!(action.kind(), kind);
            assert_eq!(action.is_long_running(), long, "{kind}");
            assert_eq!(action.runs_on(), RunsOn::ReplicaHostingDatabase, "{kind}");
        }
    }

    #[test]
    fn replica_literal_is_not_capped_at_128() {
        let long = format!("{}\\inst'ance;]", "h".repeat(244));
        assert_eq!(long.chars().count(), 256);
        let sql = Action::SetAvailabilityMode {
            group: id("ag]"),
            replica_server_name: long.clone(),
            mode: CommitMode::Asynchronous,
        }
        .to_sql()
        .unwrap();
        let expected_literal = format!("N'{}'", long.replace('\'', "''"));
        assert_eq!(
            sql,
            format!(
                "ALTER AVAILABILITY GROUP [ag]]] MODIFY REPLICA ON {expected_literal} WITH (AVAILABILITY_MODE = ASYNCHRONOUS_COMMIT);"
            )
        );
    }

    #[test]
    fn nul_in_literal_is_refused() {
        let a = Action::CopyOnlyBackup {
            database: id("db"),
            path: "a\0b".into(),
        };
        assert_eq!(a.to_sql(), Err(QuoteError::NulInLiteral));
        let a = Action::SetAvailabilityMode {
            group: id("ag"),
            replica_server_name: "a\0".into(),
            mode: CommitMode::Synchronous,
        };
        assert_eq!(a.to_sql(), Err(QuoteError::NulInLiteral));
    }

    #[test]
    fn only_commit_modes_can_be_set() {
        let ok = Action::set_availability_mode(id("ag"), "srv", AvailabilityMode::SynchronousCommit);
        assert!(matches!(
            ok,
            Ok(Action::SetAvailabilityMode {
                mode: CommitMode::Synchronous,
                ..
            })
        ));
        assert!(Action::set_availability_mode(id("ag"), "s", AvailabilityMode::ConfigurationOnly).is_err());
        assert!(Action::set_availability_mode(id("ag"), "s", AvailabilityMode::Unknown("X".into())).is_err());
        assert_eq!(
            AvailabilityMode::from(CommitMode::Asynchronous),
            AvailabilityMode::AsynchronousCommit
        );
    }

    #[test]
    fn routing_and_duration() {
        let g = id("ag");
        let d = id("db");
        let table = [
            (
                Action::PlannedFailover { group: g.clone() },
                RunsOn::TargetSecondary,
                true,
                "planned_failover",
            ),
            (
                Action::ForcedFailover { group: g.clone() },
                RunsOn::TargetSecondary,
                true,
                "forced_failover",
            ),
            (
                Action::SetAvailabilityMode {
                    group: g.clone(),
                    replica_server_name: "s".into(),
                    mode: CommitMode::Synchronous,
                },
                RunsOn::Primary,
                false,
                "set_availability_mode",
            ),
            (
                Action::SetRequiredSynchronizedSecondaries {
                    group: g.clone(),
                    count: 1,
                },
                RunsOn::Primary,
                false,
                "set_required_synchronized_secondaries",
            ),
            (
                Action::DemoteToSecondary { group: g.clone() },
                RunsOn::Primary,
                false,
                "demote_to_secondary",
            ),
            (
                Action::ResumeDataMovement { database: d.clone() },
                RunsOn::ReplicaHostingDatabase,
                false,
                "resume_data_movement",
            ),
            (
                Action::CopyOnlyBackup {
                    database: d,
                    path: "p".into(),
                },
                RunsOn::ReplicaHostingDatabase,
                true,
                "copy_only_backup",
            ),
        ];
        for (action, runs_on, long, kind) in table {
            assert_eq!(action.runs_on(), runs_on, "{kind}");
            assert_eq!(action.is_long_running(), long, "{kind}");
            assert_eq!(action.kind(), kind);
        }
        let c = Command {
            replica_server_name: "sqlb\\inst".into(),
            action: Action::ForcedFailover { group: g },
        };
        assert_eq!(c.to_string(), "forced_failover on sqlb\\inst");
    }
}
