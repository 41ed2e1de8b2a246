//! Typed result sets, the common currency between the simulator's SQL engine
//! (which produces them) and its TDS server (which puts them on the wire).

/// A SQL Server column type, as far as the simulator needs to speak them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// `nvarchar(n)`; `n` in characters (1..=4000). `sysname` is `NVarChar(128)`.
    NVarChar(u16),
    /// `char(n)` (1..=8000), single-byte; values are ASCII, padded with spaces.
    Char(u16),
    /// `varchar(n)` (1..=8000), single-byte; values are ASCII.
    VarChar(u16),
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    Bit,
    /// `numeric(precision, scale)`; LSN columns are `numeric(25,0)`.
    Numeric {
        precision: u8,
        scale: u8,
    },
    /// Legacy `datetime` (1/300 s resolution), as the DMVs use.
    DateTime,
    /// `uniqueidentifier`.
    UniqueIdentifier,
}

/// One cell value. `Null` is allowed only in nullable columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Str(String),
    /// Any integer type (tinyint, smallint, int, bigint); the column type decides the width.
    Int(i64),
    Bit(bool),
    /// The unscaled integer of a `numeric` (for scale 0, the number itself).
    Numeric(i128),
    /// A civil date-time (SQL Server `datetime` has no time zone).
    DateTime(jiff::civil::DateTime),
    /// A GUID in its canonical textual byte order (as `uuid::Uuid::as_bytes`).
    Guid([u8; 16]),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
}

impl Column {
    pub fn new(name: &str, ty: SqlType, nullable: bool) -> Self {
        Self {
            name: name.to_string(),
            ty,
            nullable,
        }
    }
}

/// A result set: columns and rows (each row has one value per column).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

/// An error raised by the server, as SQL Server reports it in an ERROR token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    pub number: u32,
    pub state: u8,
    /// Severity: 16 for ordinary statement errors, 14 for login failures, 15 for syntax.
    pub class: u8,
    pub message: String,
}

impl ServerError {
    pub fn new(number: u32, class: u8, message: impl Into<String>) -> Self {
        Self {
            number,
            state: 1,
            class,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Msg {}, Level {}, State {}: {}",
            self.number, self.class, self.state, self.message
        )
    }
}

impl std::error::Error for ServerError {}

/// What one statement of a batch produced, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A result set (SELECT).
    Rows(ResultSet),
    /// A statement that completed without a result set; `Some(n)` when it counts rows.
    Done { rows_affected: Option<u64> },
    /// An informational message (severity <= 10), e.g. "Data movement resumed".
    Info { number: u32, message: String },
    /// A statement-level error; the batch goes on with the next statement,
    /// unless the error is the batch's compile error (then it is the only outcome).
    Error(ServerError),
}

/// A parameter of an RPC `sp_executesql` call (`@P1`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The name with its `@`, e.g. `@P1`.
    pub name: String,
    pub value: Value,
}
