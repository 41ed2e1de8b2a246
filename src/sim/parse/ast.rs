//! The statements the simulator understands. Anything else is a syntax error.
//! Names are kept unquoted (the parser removes `[...]` / `"..."` quoting and
//! undoubles `]]` / `""`); keywords are matched case-insensitively.

/// A literal or a parameter reference in an expression position.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `N'…'` or `'…'`, with `''` undoubled.
    Str(String),
    /// An integer, optionally negative.
    Int(i128),
    /// `NULL`.
    Null,
    /// `@name` (an `sp_executesql` parameter), name kept with its `@`.
    Param(String),
}

/// A possibly multi-part object name, e.g. `master.sys.databases` → `["master", "sys", "databases"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName(pub Vec<String>);

/// A `@@` global, e.g. `@@VERSION` → `"VERSION"` (upper-cased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global(pub String);

/// One item of a SELECT list.
#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*`
    Star,
    /// A column name, with an optional alias (`col AS alias` or `col alias`).
    Column { name: String, alias: Option<String> },
    /// `@@NAME` with an optional alias (only in a FROM-less SELECT).
    Global { global: Global, alias: Option<String> },
}

/// `col = literal` (only equality, only AND-ed).
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub value: Literal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub items: Vec<SelectItem>,
    /// `None` for a FROM-less select such as `SELECT @@VERSION`.
    pub from: Option<ObjectName>,
    pub filter: Vec<Condition>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvailabilityMode {
    SynchronousCommit,
    AsynchronousCommit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverMode {
    Automatic,
    Manual,
}

/// What an `ALTER AVAILABILITY GROUP [ag] …` does.
#[derive(Debug, Clone, PartialEq)]
pub enum AgAction {
    /// `FAILOVER`
    Failover,
    /// `FORCE_FAILOVER_ALLOW_DATA_LOSS`
    ForceFailoverAllowDataLoss,
    /// `MODIFY REPLICA ON N'server' WITH (AVAILABILITY_MODE = …)`
    ModifyReplicaAvailabilityMode { server: Literal, mode: AvailabilityMode },
    /// `MODIFY REPLICA ON N'server' WITH (FAILOVER_MODE = …)`
    ModifyReplicaFailoverMode { server: Literal, mode: FailoverMode },
    /// `SET (REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT = n)`
    SetRequiredSynchronizedSecondaries(Literal),
    /// `SET (ROLE = SECONDARY)`
    SetRoleSecondary,
}

/// Options of `BACKUP DATABASE|LOG … WITH …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupOption {
    CopyOnly,
    Checksum,
    Init,
    Format,
    Compression,
    /// `BACKUP LOG` only: a tail-log backup that leaves the database RESTORING.
    NoRecovery,
}

/// What a `RESTORE` restores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreKind {
    Database,
    Log,
}

/// Options of `RESTORE … WITH …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreOption {
    Recovery,
    NoRecovery,
    Replace,
    Checksum,
}

/// One argument of `EXEC proc …`: `@name = value` or a bare value.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecArg {
    /// The parameter name with its `@`, when given.
    pub name: Option<String>,
    pub value: Literal,
}

/// A session `SET` option, e.g. `SET NOCOUNT ON`, `SET TEXTSIZE 2147483647`.
#[derive(Debug, Clone, PartialEq)]
pub enum SetValue {
    On,
    Off,
    Int(i128),
    Word(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Select(Select),
    AlterAvailabilityGroup {
        group: String,
        action: AgAction,
    },
    /// `ALTER DATABASE [db] SET HADR RESUME`
    ResumeDatabase {
        database: String,
    },
    /// `ALTER DATABASE [db] SET HADR SUSPEND`
    SuspendDatabase {
        database: String,
    },
    /// `BACKUP DATABASE [db] TO DISK = N'…' [WITH opt, …]`
    BackupDatabase {
        database: String,
        disk: Literal,
        options: Vec<BackupOption>,
    },
    /// `SET <option> <value>` for session options (ANSI_NULLS, NOCOUNT, TEXTSIZE, …).
    SetOption {
        option: String,
        value: SetValue,
    },
    /// `USE [db]`
    Use {
        database: String,
    },
    /// `BACKUP LOG [db] TO DISK = N'…' [WITH opt, …]`
    BackupLog {
        database: String,
        disk: Literal,
        options: Vec<BackupOption>,
    },
    /// `RESTORE DATABASE|LOG [db] [FROM DISK = N'…'] [WITH opt, …]` (LOG needs FROM).
    Restore {
        kind: RestoreKind,
        database: String,
        disk: Option<Literal>,
        options: Vec<RestoreOption>,
    },
    /// `ALTER DATABASE [db] SET PARTNER OFF`
    SetPartnerOff {
        database: String,
    },
    /// `KILL n`
    Kill {
        session: i128,
    },
    /// `EXEC[UTE] [db.][schema.]proc [arg, …]`; the procedure is resolved when it runs.
    Exec {
        procedure: ObjectName,
        args: Vec<ExecArg>,
    },
}
