//! One lazily opened TDS connection per replica. Every network step has its own
//! time limit, and any timeout or I/O failure drops the connection, because
//! tiberius leaves a connection whose response was cut short out of sync.

use std::fmt;
use std::time::{Duration, Instant};

use tiberius::error::{Error as TdsError, IoErrorKind};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel, Row};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};
use tracing::debug;

use super::command::Action;
use super::error::{ErrorCategory, SqlError};
use super::observe::{OBSERVATION_BATCH, ReplicaObservation, RowReader, parse_observation};
use super::pool::{POOL_OBSERVATION_BATCH, PoolInstanceObservation, parse_pool_observation};
use super::quote::quote_literal;

/// How much of the conversation is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encryption {
    /// No TLS at all (tiberius `NotSupported`); what the simulator speaks.
    Off,
    /// TLS for the login packet only (tiberius `Off`).
    LoginOnly,
    /// TLS for everything; fail if the server declines.
    #[default]
    Required,
    /// TDS 8.0: TLS before the first TDS byte.
    Strict,
}

impl Encryption {
    fn level(self) -> EncryptionLevel {
        match self {
            Self::Off => EncryptionLevel::NotSupported,
            Self::LoginOnly => EncryptionLevel::Off,
            Self::Required => EncryptionLevel::Required,
            Self::Strict => EncryptionLevel::Strict,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tls {
    pub encryption: Encryption,
    /// Accept any certificate. Wins over `ca_bundle_pem` (tiberius forbids both).
    pub trust_server_certificate: bool,
    pub ca_bundle_pem: Option<Vec<u8>>,
    pub host_name_in_certificate: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
}

impl Endpoint {
    /// `host:port` (IPv6 hosts bracketed), as used in every error message.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// SQL Server login. Debug never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Login names are not echoed either (status, Events, logs).
        f.debug_struct("Credentials")
            .field("user", &"<redacted>")
            .field("password", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, including name resolution.
    pub connect: Duration,
    /// Prelogin, TLS and login.
    pub handshake: Duration,
    /// Ordinary statements and the observation batch.
    pub command: Duration,
    /// Failovers and backups.
    pub long_command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            handshake: Duration::from_secs(10),
            command: Duration::from_secs(30),
            long_command: Duration::from_secs(600),
        }
    }
}

/// How an accepted action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executed {
    Done,
    /// The server said it was already so (see [`ErrorCategory::AlreadyDone`]):
    /// success, nothing changed.
    AlreadyDone,
}

type TdsClient = Client<Compat<TcpStream>>;

/// A connection to one replica, opened on first use and re-opened after failures.
pub struct ReplicaClient {
    endpoint: Endpoint,
    credentials: Credentials,
    timeouts: Timeouts,
    limit: ResultLimit,
    client: Option<TdsClient>,
}

/// The most one batch's answer may hold; more is refused and the connection dropped, so a broken
/// or hostile server (or a log-shipping folder with a million files) cannot exhaust memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultLimit {
    /// Rows over all result sets.
    pub rows: usize,
    /// Bytes of string and binary cells over all rows (other cells count 16 bytes each).
    pub bytes: usize,
}

impl Default for ResultLimit {
    /// Far above drover's own batches (an observation of 9 replicas × 100 databases is under
    /// 2,000 rows; a log-shipping folder keeping 30 days of 15-minute backups, under 3,000 files).
    fn default() -> Self {
        Self {
            rows: 50_000,
            bytes: 16 * 1024 * 1024,
        }
    }
}

impl fmt::Debug for ReplicaClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicaClient")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("timeouts", &self.timeouts)
            .field("connected", &self.client.is_some())
            .finish()
    }
}

impl ReplicaClient {
    pub fn new(endpoint: Endpoint, credentials: Credentials, timeouts: Timeouts) -> Self {
        Self {
            endpoint,
            credentials,
            timeouts,
            limit: ResultLimit::default(),
            client: None,
        }
    }

    /// With `limit` on every batch's answer instead of the default.
    pub fn with_result_limit(mut self, limit: ResultLimit) -> Self {
        self.limit = limit;
        self
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn is_connected(&self) -> bool {
        self.client.is_some()
    }

    /// Forgets the connection; the next call opens a new one.
    pub fn disconnect(&mut self) {
        self.client = None;
    }

    /// Opens the connection now if it is not open (calls do this themselves).
    pub async fn connect(&mut self) -> Result<(), SqlError> {
        self.connection().await.map(|_| ())
    }

    /// Runs the observation batch and parses it.
    pub async fn observe(&mut self) -> Result<ReplicaObservation, SqlError> {
        let results = self.run("observe", OBSERVATION_BATCH, self.timeouts.command).await?;
        parse_observation(results)
    }

    /// Runs one action. An already-done answer (41122, 4326, 1416, …) counts as success.
    pub async fn execute(&mut self, action: &Action) -> Result<Executed, SqlError> {
        let sql = action.to_sql()?;
        let limit = if action.is_long_running() {
            self.timeouts.long_command
        } else {
            self.timeouts.command
        };
        match self.run(action.kind(), &sql, limit).await {
            Ok(_) => Ok(Executed::Done),
            Err(SqlError::Server {
                category: ErrorCategory::AlreadyDone,
                ..
            }) => Ok(Executed::AlreadyDone),
            Err(e) => Err(e),
        }
    }

    /// Runs the Persistent Chat pool observation batch and parses it.
    pub async fn observe_pool(&mut self) -> Result<PoolInstanceObservation, SqlError> {
        let results = self
            .run("observe_pool", POOL_OBSERVATION_BATCH, self.timeouts.command)
            .await?;
        parse_pool_observation(results)
    }

    /// The names of the files (not folders) in `path`, as `xp_dirtree` lists them.
    /// A missing or unreachable folder lists nothing, as on SQL Server.
    pub async fn list_directory(&mut self, path: &str) -> Result<Vec<String>, SqlError> {
        let sql = format!("EXEC master.sys.xp_dirtree {}, 1, 1;", quote_literal(path)?);
        let results = self.run("list_directory", &sql, self.timeouts.command).await?;
        let mut names = Vec::new();
        for row in results.iter().flatten() {
            let r = RowReader::new("xp_dirtree", row);
            let name: String = r.req("subdirectory")?;
            let _depth: i32 = r.req("depth")?;
            if r.req::<i32>("file")? == 1 {
                names.push(name);
            }
        }
        Ok(names)
    }

    /// Whether `path` is a folder this instance can see (`xp_fileexist`). An
    /// unreachable share is reported as missing, not as an error.
    pub async fn directory_exists(&mut self, path: &str) -> Result<bool, SqlError> {
        let sql = format!("EXEC master.sys.xp_fileexist {};", quote_literal(path)?);
        let results = self.run("directory_exists", &sql, self.timeouts.command).await?;
        let row = results.iter().flatten().next().ok_or_else(|| SqlError::Decode {
            view: "xp_fileexist",
            column: "*",
            detail: "no row returned".into(),
        })?;
        Ok(RowReader::new("xp_fileexist", row).req::<i32>("File is a Directory")? == 1)
    }

    /// A read-only batch, with the ordinary command timeout.
    pub async fn select(&mut self, sql: &str) -> Result<Vec<Vec<Row>>, SqlError> {
        self.run("select", sql, self.timeouts.command).await
    }

    async fn run(&mut self, kind: &'static str, sql: &str, limit: Duration) -> Result<Vec<Vec<Row>>, SqlError> {
        let addr = self.endpoint.addr();
        let bound = self.limit;
        let client = self.connection().await?;
        let started = Instant::now();
        let outcome = tokio::time::timeout(limit, async {
            let stream = client.simple_query(sql).await?;
            collect_bounded(stream, bound).await
        })
        .await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let result = match outcome {
            Ok(Ok(Ok(results))) => Ok(results),
            Ok(Ok(Err(over))) => {
                // The rest of the answer is still on the wire: the connection cannot be reused.
                self.client = None;
                Err(SqlError::ResultTooLarge {
                    addr: addr.clone(),
                    kind,
                    limit: over,
                })
            }
            Ok(Err(e)) => {
                let (error, keep) = command_error(&addr, e);
                if !keep {
                    self.client = None;
                }
                Err(error)
            }
            Err(_) => {
                self.client = None;
                Err(SqlError::CommandTimeout {
                    addr: addr.clone(),
                    kind,
                    after: limit,
                })
            }
        };
        match &result {
            Ok(_) => debug!(replica = %addr, kind, elapsed_ms, "statement done"),
            Err(error) => debug!(replica = %addr, kind, elapsed_ms, %error, "statement failed"),
        }
        result
    }

    async fn connection(&mut self) -> Result<&mut TdsClient, SqlError> {
        let client = match self.client.take() {
            Some(client) => client,
            None => self.open().await?,
        };
        Ok(self.client.insert(client))
    }

    async fn open(&self) -> Result<TdsClient, SqlError> {
        let addr = self.endpoint.addr();
        let Timeouts { connect, handshake, .. } = self.timeouts;
        let started = Instant::now();
        let target = (self.endpoint.host.as_str(), self.endpoint.port);
        let tcp = match tokio::time::timeout(connect, TcpStream::connect(target)).await {
            Err(_) => {
                return Err(SqlError::ConnectTimeout { addr, after: connect });
            }
            Ok(Err(e)) if e.kind() == IoErrorKind::ConnectionRefused => {
                return Err(SqlError::Refused { addr });
            }
            Ok(Err(e)) => {
                return Err(SqlError::Connect {
                    addr,
                    detail: e.to_string(),
                });
            }
            Ok(Ok(tcp)) => tcp,
        };
        tcp.set_nodelay(true).map_err(|e| SqlError::Connect {
            addr: addr.clone(),
            detail: format!("cannot set TCP_NODELAY: {e}"),
        })?;
        let config = self.config();
        // tiberius bounds the handshake too; this outer bound is a backstop.
        let client = match tokio::time::timeout(handshake, Client::connect(config, tcp.compat_write())).await {
            Err(_) => Err(SqlError::HandshakeTimeout {
                addr: addr.clone(),
                after: handshake,
            }),
            Ok(Err(e)) => Err(handshake_error(&addr, handshake, e)),
            Ok(Ok(client)) => Ok(client),
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &client {
            Ok(_) => {
                debug!(replica = %addr, elapsed_ms, "connected")
            }
            Err(error) => debug!(replica = %addr, elapsed_ms, %error, "connection failed"),
        }
        client
    }

    fn config(&self) -> Config {
        let mut config = Config::new();
        config.host(&self.endpoint.host);
        config.port(self.endpoint.port);
        config.application_name("drover");
        config.authentication(AuthMethod::sql_server(
            &self.credentials.user,
            &self.credentials.password,
        ));
        let tls = &self.endpoint.tls;
        config.encryption(tls.encryption.level());
        // tiberius panics if both trust modes are set, so pick exactly one.
        if tls.trust_server_certificate {
            config.trust_cert();
        } else if let Some(pem) = &tls.ca_bundle_pem {
            config.trust_cert_ca_bundle(pem.clone());
        }
        if let Some(name) = &tls.host_name_in_certificate {
            config.hostname_in_certificate(name);
        }
        config.handshake_timeout(Some(self.timeouts.handshake));
        // Per-command limits are enforced by `run`, short or long per statement.
        config.command_timeout(None);
        config
    }
}

/// Maps a failure during prelogin, TLS or login.
fn handshake_error(addr: &str, after: Duration, e: TdsError) -> SqlError {
    let addr = addr.to_string();
    match e {
        TdsError::Io {
            kind: IoErrorKind::TimedOut,
            ..
        } => SqlError::HandshakeTimeout { addr, after },
        TdsError::Io {
            kind: IoErrorKind::ConnectionRefused,
            ..
        } => SqlError::Refused { addr },
        TdsError::Io { message, .. } => SqlError::Connect {
            addr,
            detail: format!("during the TDS handshake: {message}"),
        },
        // The token's message names the login ("Login failed for user 'x'"): only its number.
        TdsError::Server(token) => SqlError::LoginFailed {
            addr,
            number: token.code(),
        },
        TdsError::Tls(detail) => SqlError::Tls { addr, detail },
        TdsError::Protocol(detail) if detail.to_ascii_lowercase().contains("encryption") => {
            SqlError::EncryptionNotSupported {
                addr,
                detail: detail.into_owned(),
            }
        }
        TdsError::Routing { host, port } => SqlError::Protocol {
            addr,
            detail: format!(
                "the server redirected the login to {host}:{port}; drover does not follow redirects, point the endpoint at the replica itself"
            ),
        },
        other => SqlError::Protocol {
            addr,
            detail: other.to_string(),
        },
    }
}

/// Maps a failure while running a batch; the flag says whether the connection is still usable.
fn command_error(addr: &str, e: TdsError) -> (SqlError, bool) {
    let addr = addr.to_string();
    match e {
        // Severity 20 and above closes the connection on the server side.
        TdsError::Server(t) => {
            let keep = t.class() < 20;
            (
                SqlError::server(&addr, t.code(), t.class(), t.state(), t.message()),
                keep,
            )
        }
        TdsError::Io { message, .. } => (SqlError::Disconnected { addr, detail: message }, false),
        TdsError::Tls(detail) => (
            SqlError::Tls {
                addr,
                detail: format!("{detail}; the connection was dropped"),
            },
            false,
        ),
        other => (
            SqlError::Protocol {
                addr,
                detail: format!("{other}; the connection was dropped and will be re-opened on the next call"),
            },
            false,
        ),
    }
}

/// Installs rustls's aws-lc-rs provider as the process default (once; a provider
/// already installed by someone else is kept). tiberius and kube must agree on one.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _already_installed = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}

/// The result sets of `stream`, or which bound of `limit` it passed (the rest is not read).
async fn collect_bounded(
    mut stream: tiberius::QueryStream<'_>,
    limit: ResultLimit,
) -> Result<Result<Vec<Vec<Row>>, String>, TdsError> {
    use futures::TryStreamExt;
    let mut results: Vec<Vec<Row>> = Vec::new();
    let (mut rows, mut bytes) = (0usize, 0usize);
    while let Some(item) = stream.try_next().await? {
        match item {
            tiberius::QueryItem::Metadata(_) => results.push(Vec::new()),
            tiberius::QueryItem::Row(row) => {
                rows += 1;
                bytes = bytes.saturating_add(row.cells().map(|(_, cell)| cell_bytes(cell)).sum());
                if rows > limit.rows {
                    return Ok(Err(format!("{} rows", limit.rows)));
                }
                if bytes > limit.bytes {
                    return Ok(Err(format!("{} bytes", limit.bytes)));
                }
                if results.is_empty() {
                    results.push(Vec::new());
                }
                if let Some(current) = results.last_mut() {
                    current.push(row);
                }
            }
        }
    }
    Ok(Ok(results))
}

fn cell_bytes(cell: &tiberius::ColumnData<'_>) -> usize {
    match cell {
        tiberius::ColumnData::String(Some(s)) => s.len(),
        tiberius::ColumnData::Binary(Some(b)) => b.len(),
        _ => 16,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn client(port: u16, timeouts: Timeouts) -> ReplicaClient {
        let endpoint = Endpoint {
            host: "127.0.0.1".into(),
            port,
            tls: Tls {
                encryption: Encryption::Off,
                ..Tls::default()
            },
        };
        let credentials = Credentials {
            user: "drover".into(),
            password: "s3cret-pa55".into(),
        };
        ReplicaClient::new(endpoint, credentials, timeouts)
    }

    fn quick() -> Timeouts {
        let t = Duration::from_millis(300);
        Timeouts {
            connect: t,
            handshake: t,
            command: t,
            long_command: t,
        }
    }

    #[test]
    fn credentials_debug_redacts_the_password() {
        let c = client(1, quick());
        let text = format!("{c:?} {:?}", c.credentials);
        assert!(!text.contains("s3cret-pa55"), "{text}");
        assert!(!text.contains("drover\""), "the login name is not shown either: {text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn defaults() {
        let t = Timeouts::default();
        assert_eq!(
            (t.connect, t.handshake, t.command, t.long_command),
            (
                Duration::from_secs(5),
                Duration::from_secs(10),
                Duration::from_secs(30),
                Duration::from_secs(600)
            )
        );
        assert_eq!(Tls::default().encryption, Encryption::Required);
        assert_eq!(Encryption::Off.level(), EncryptionLevel::NotSupported);
        assert_eq!(Encryption::LoginOnly.level(), EncryptionLevel::Off);
        assert_eq!(Encryption::Strict.level(), EncryptionLevel::Strict);
        let v6 = Endpoint {
            host: "::1".into(),
            port: 1433,
            tls: Tls::default(),
        };
        assert_eq!(v6.addr(), "[::1]:1433");
    }

    #[test]
    fn both_trust_modes_do_not_panic() {
        let mut c = client(1, quick());
        c.endpoint.tls = Tls {
            encryption: Encryption::Required,
            trust_server_certificate: true,
            ca_bundle_pem: Some(b"not a pem".to_vec()),
            host_name_in_certificate: Some("sql.example".into()),
        };
        let _config = c.config();
        install_crypto_provider();
        install_crypto_provider();
    }

    #[tokio::test]
    async fn closed_port_is_refused_quickly() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let mut c = client(port, quick());
        let started = Instant::now();
        let err = c.observe().await.unwrap_err();
        assert!(
            matches!(&err, SqlError::Refused { addr } if *addr == format!("127.0.0.1:{port}")),
            "{err:?}"
        );
        assert!(err.is_transient());
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(!c.is_connected());
    }

    #[tokio::test]
    async fn silent_server_gives_a_bounded_handshake_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // Accept and hold connections, never answering the prelogin.
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let mut c = client(port, quick());
        for _ in 0..2 {
            let started = Instant::now();
            let err = c.connect().await.unwrap_err();
            let elapsed = started.elapsed();
            assert!(
                matches!(err, SqlError::HandshakeTimeout { after, .. } if after == Duration::from_millis(300)),
                "{err:?}"
            );
            assert!(
                elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
                "{elapsed:?}"
            );
            assert!(!c.is_connected());
        }
        server.abort();
    }

    #[test]
    fn handshake_errors_are_mapped() {
        let after = Duration::from_millis(300);
        let map = |e| handshake_error("db:1433", after, e);
        let io = |kind, message: &str| TdsError::Io {
            kind,
            message: message.into(),
        };
        assert!(matches!(
            map(io(IoErrorKind::TimedOut, "slow")),
            SqlError::HandshakeTimeout { .. }
        ));
        assert!(matches!(
            map(io(IoErrorKind::ConnectionRefused, "no")),
            SqlError::Refused { .. }
        ));
        assert!(matches!(
            map(io(IoErrorKind::UnexpectedEof, "eof")),
            SqlError::Connect { .. }
        ));
        assert!(matches!(map(TdsError::Tls("bad cert".into())), SqlError::Tls { .. }));
        assert!(matches!(
            map(TdsError::Protocol(
                "Server does not allow the requested encryption level.".into()
            )),
            SqlError::EncryptionNotSupported { .. }
        ));
        assert!(matches!(
            map(TdsError::Protocol("weird".into())),
            SqlError::Protocol { .. }
        ));
        let routed = map(TdsError::Routing {
            host: "other".into(),
            port: 1,
        });
        assert!(routed.to_string().contains("other:1"), "{routed}");
    }

    #[test]
    fn command_errors_drop_the_connection() {
        let (e, keep) = command_error(
            "db:1433",
            TdsError::Io {
                kind: IoErrorKind::ConnectionReset,
                message: "reset".into(),
            },
        );
        assert!(!keep);
        assert!(matches!(e, SqlError::Disconnected { .. }) && e.is_transient());
        let (e, keep) = command_error("db:1433", TdsError::Protocol("desync".into()));
        assert!(!keep);
        assert!(e.to_string().contains("re-opened"), "{e}");
    }
}
