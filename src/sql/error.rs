//! Errors of the SQL layer, worded for the SRE reading a condition or an Event,
//! and the classification of server error numbers that drives retries.

use std::time::Duration;

use super::quote::QuoteError;

/// What drover should do about a server error number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCategory {
    /// The server already is what we asked for; treat as success: 41122 (already
    /// primary), 4326 (log backup already applied), 3153 (database already
    /// recovered), 1416 (not mirrored), 6106 (no such session), 32014 (not a
    /// log-shipping secondary).
    AlreadyDone,
    /// 41142: the target is not ready for a planned failover; wait, or force if allowed.
    /// 41125: the WSFC cluster was started in forced quorum mode, so a planned failover is refused;
    /// the planner re-reads the quorum state and forces onto the SYNCHRONIZED target instead.
    NotReady,
    /// 41113: a failover is already pending; 41140: the replica drover sent a primary's statement
    /// to is not (or no longer) the primary. Back off and re-read the roles.
    Pending,
    /// Retry with backoff (lost connection to the primary, deadlock, busy replica).
    Transient,
    /// Anything else: surface it, take no further action.
    Fatal,
}

/// Classifies a SQL Server error number.
pub fn classify(number: u32) -> ErrorCategory {
    match number {
        41122 | 4326 | 3153 | 1416 | 6106 | 32014 => ErrorCategory::AlreadyDone,
        41142 | 41125 => ErrorCategory::NotReady,
        // 41140: the role moved since drover observed it (a failover by the cluster, a person);
        // the next observation shows where the primary is now.
        41113 | 41140 => ErrorCategory::Pending,
        // 3101: a session holds the database RESTORE/BACKUP LOG needs exclusively.
        // 35220: the replica manager waits for its WSFC node to come online or regain quorum;
        // the planner reads quorum before forcing, so this is a race worth a retry.
        // (41131, "failed to bring the group online", is severity 10: an informational message,
        // never an error token, so it is not classified.)
        35250 | 1205 | 41165 | 41138 | 983 | 3101 | 35220 => ErrorCategory::Transient,
        _ => ErrorCategory::Fatal,
    }
}

/// What a refused login's error number says, in drover's words (the server's message is not
/// repeated: it names the login).
pub fn login_hint(number: u32) -> &'static str {
    match number {
        18456 => "Login failed: wrong login name or password, or the login is disabled or may not connect",
        18452 => "Login failed: the server accepts only Windows logins",
        18486 => "Login failed: the login is locked out",
        18487 | 18488 => "Login failed: the login's password expired or must be changed",
        4060 => "Login failed: the login's default database cannot be opened",
        _ => "Login failed; see the server's error log for this error number",
    }
}

/// Everything that can go wrong talking to one replica. `addr` is `host:port`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlError {
    #[error("connection to {addr} was refused: nothing is listening on that port")]
    Refused { addr: String },
    #[error("TCP connection to {addr} did not complete within {after:?}: host down, unreachable or filtered")]
    ConnectTimeout { addr: String, after: Duration },
    #[error("cannot connect to {addr}: {detail}")]
    Connect { addr: String, detail: String },
    #[error(
        "{addr} accepted the TCP connection but the TDS handshake (prelogin, TLS, login) did not finish within {after:?}: check that it is a SQL Server port and that the TLS settings match"
    )]
    HandshakeTimeout { addr: String, after: Duration },
    /// The server refused the login. Neither the login name nor the server's own message (which
    /// names the login, and which a server the spec points at may fill with anything) is kept:
    /// only its error number, which says what to check.
    #[error("login to {addr} failed (SQL Server error {number}): {}", login_hint(*number))]
    LoginFailed { addr: String, number: u32 },
    #[error("TLS with {addr} failed: {detail}")]
    Tls { addr: String, detail: String },
    #[error(
        "{addr} does not allow the requested encryption level ({detail}); change the endpoint's encryption setting"
    )]
    EncryptionNotSupported { addr: String, detail: String },
    #[error(
        "{kind} on {addr} got no answer within {after:?}; the connection was dropped and the replica's state must be re-read before deciding again"
    )]
    CommandTimeout {
        addr: String,
        kind: &'static str,
        after: Duration,
    },
    #[error("{addr} answered with error {number} (severity {class}, state {state}): {message}")]
    Server {
        addr: String,
        number: u32,
        class: u8,
        state: u8,
        message: String,
        category: ErrorCategory,
    },
    #[error("TDS protocol error with {addr}: {detail}")]
    Protocol { addr: String, detail: String },
    #[error("cannot read column {column} of {view}: {detail}")]
    Decode {
        view: &'static str,
        column: &'static str,
        detail: String,
    },
    #[error("connection to {addr} was lost: {detail}; it will be re-opened on the next call")]
    Disconnected { addr: String, detail: String },
    #[error("{kind} on {addr} answered with more than {limit}; the answer was refused and the connection dropped")]
    ResultTooLarge {
        addr: String,
        kind: &'static str,
        limit: String,
    },
    #[error("refusing to build T-SQL: {0}")]
    BadName(#[from] QuoteError),
}

impl SqlError {
    /// A server error with its number already classified.
    pub fn server(addr: &str, number: u32, class: u8, state: u8, message: &str) -> Self {
        Self::Server {
            addr: addr.to_string(),
            number,
            class,
            state,
            message: message.to_string(),
            category: classify(number),
        }
    }

    /// Worth retrying later without changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Server { category, .. } => *category == ErrorCategory::Transient,
            Self::Refused { .. }
            | Self::ConnectTimeout { .. }
            | Self::Connect { .. }
            | Self::HandshakeTimeout { .. }
            | Self::CommandTimeout { .. }
            | Self::Disconnected { .. } => true,
            _ => false,
        }
    }

    /// The server's category, for server errors only.
    pub fn category(&self) -> Option<ErrorCategory> {
        match self {
            Self::Server { category, .. } => Some(*category),
            _ => None,
        }
    }

    /// The server's error number, for server and login errors.
    pub fn number(&self) -> Option<u32> {
        match self {
            Self::Server { number, .. } | Self::LoginFailed { number, .. } => Some(*number),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_every_listed_number() {
        for n in [41122, 4326, 3153, 1416, 6106, 32014] {
            assert_eq!(classify(n), ErrorCategory::AlreadyDone, "{n}");
        }
        assert_eq!(classify(41142), ErrorCategory::NotReady);
        assert_eq!(
            classify(41125),
            ErrorCategory::NotReady,
            "forced quorum: re-read, then force"
        );
        assert_eq!(classify(41113), ErrorCategory::Pending);
        assert_eq!(classify(41140), ErrorCategory::Pending, "the role moved: re-read it");
        for n in [35250, 1205, 41165, 41138, 983, 3101, 35220] {
            assert_eq!(classify(n), ErrorCategory::Transient, "{n}");
        }
        // Log chain gap, not restoring, no device, second error of a failed
        // BACKUP/RESTORE, unknown database, mirrored, own session, own KILL.
        for n in [4305, 3117, 3201, 3013, 911, 3104, 3102, 6104, 4330, 3159, 3154] {
            assert_eq!(classify(n), ErrorCategory::Fatal, "{n}");
        }
        for n in [
            0, 18456, 41104, 35253, 976, 50000, 47104, 47115, 47122, 35211, 35248, 3059, 3062,
        ] {
            assert_eq!(classify(n), ErrorCategory::Fatal, "{n}");
        }
    }

    #[test]
    fn transience() {
        let addr = "db1:1433";
        assert!(SqlError::server(addr, 1205, 13, 1, "deadlock").is_transient());
        assert!(!SqlError::server(addr, 41142, 16, 1, "not ready").is_transient());
        assert!(SqlError::Refused { addr: addr.into() }.is_transient());
        assert!(
            SqlError::CommandTimeout {
                addr: addr.into(),
                kind: "planned_failover",
                after: Duration::from_secs(1)
            }
            .is_transient()
        );
        assert!(
            !SqlError::LoginFailed {
                addr: addr.into(),
                number: 18456,
            }
            .is_transient()
        );
        assert!(!SqlError::BadName(QuoteError::Empty).is_transient());
    }

    #[test]
    fn a_refused_login_says_what_to_check_without_the_login_or_the_servers_words() {
        let e = SqlError::LoginFailed {
            addr: "db:1433".into(),
            number: 18456,
        };
        assert_eq!(
            e.to_string(),
            "login to db:1433 failed (SQL Server error 18456): Login failed: wrong login name or password, \
             or the login is disabled or may not connect"
        );
        assert!(login_hint(99999).contains("error log"));
    }

    #[test]
    fn messages_name_the_replica() {
        let e = SqlError::CommandTimeout {
            addr: "db1:1433".into(),
            kind: "copy_only_backup",
            after: Duration::from_secs(600),
        };
        let text = e.to_string();
        assert!(text.contains("db1:1433") && text.contains("dropped"), "{text}");
        let e = SqlError::server("db2:14330", 41142, 16, 1, "cannot fail over");
        assert!(e.to_string().contains("db2:14330"));
        assert_eq!(e.category(), Some(ErrorCategory::NotReady));
        assert_eq!(e.number(), Some(41142));
    }
}
