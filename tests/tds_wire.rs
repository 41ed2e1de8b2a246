//! The simulator's TDS server against tiberius, the project's real client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use drover::sim::table::{Column, Outcome, Param, ResultSet, ServerError, SqlType, Value};
use drover::sim::tds::{Availability, Backend, LoginRequest, Session, spawn_endpoint};
use tiberius::numeric::Numeric;
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, Uuid};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type Calls = Arc<Mutex<Vec<(String, Vec<Param>)>>>;

struct TestBackend {
    calls: Calls,
    logins: Arc<Mutex<Vec<LoginRequest>>>,
}

struct TestSession {
    db: String,
    calls: Calls,
}

impl Backend for TestBackend {
    type Session = TestSession;

    fn login(&self, req: &LoginRequest) -> Result<TestSession, ServerError> {
        self.logins.lock().unwrap().push(req.clone());
        if req.user != "sa" || req.password != "Pässw0rd!" {
            let msg = format!("Login failed for user '{}'.", req.user);
            return Err(ServerError::new(18456, 14, msg));
        }
        Ok(TestSession {
            db: req.database.clone().unwrap_or_else(|| "master".into()),
            calls: self.calls.clone(),
        })
    }

    fn server_name(&self) -> String {
        "SQL-A".into()
    }
}

const GUID: &str = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
const TEXT: &str = "Grüße, 日本 ✓ 𝄞";

fn all_types() -> ResultSet {
    let col = |name: &str, ty| Column::new(name, ty, true);
    let dt = jiff::civil::date(2024, 2, 29).at(13, 45, 30, 500_000_000);
    ResultSet {
        columns: vec![
            col("s", SqlType::NVarChar(64)),
            col("ti", SqlType::TinyInt),
            col("si", SqlType::SmallInt),
            col("i", SqlType::Int),
            col("bi", SqlType::BigInt),
            col("b", SqlType::Bit),
            col(
                "lsn",
                SqlType::Numeric {
                    precision: 25,
                    scale: 0,
                },
            ),
            col(
                "amount",
                SqlType::Numeric {
                    precision: 10,
                    scale: 2,
                },
            ),
            col("dt", SqlType::DateTime),
            col("g", SqlType::UniqueIdentifier),
        ],
        rows: vec![
            vec![
                Value::Str(TEXT.into()),
                Value::Int(255),
                Value::Int(-32768),
                Value::Int(-7),
                Value::Int(i64::MAX),
                Value::Bit(true),
                Value::Numeric(1234567890123456789012345),
                Value::Numeric(-12345),
                Value::DateTime(dt),
                Value::Guid(*Uuid::parse_str(GUID).unwrap().as_bytes()),
            ],
            vec![Value::Null; 10],
        ],
    }
}

fn answer(sql: &str, params: &[Param]) -> Vec<Outcome> {
    let one_int = |v| ResultSet {
        columns: vec![Column::new("v", SqlType::Int, false)],
        rows: vec![vec![Value::Int(v)]],
    };
    match sql.split_whitespace().next().unwrap_or("") {
        "rows" => vec![Outcome::Rows(all_types())],
        "many" => vec![Outcome::Rows(ResultSet {
            columns: vec![
                Column::new("n", SqlType::Int, false),
                Column::new("s", SqlType::NVarChar(200), false),
            ],
            rows: (0..500)
                .map(|i| vec![Value::Int(i), Value::Str(format!("row {i} {}", "x".repeat(100)))])
                .collect(),
        })],
        "err" => vec![Outcome::Error(ServerError::new(
            41142,
            16,
            "The availability replica for availability group 'ag1' cannot be brought online.",
        ))],
        "two" => vec![
            Outcome::Rows(one_int(1)),
            Outcome::Done { rows_affected: Some(3) },
            Outcome::Error(ServerError::new(50000, 16, "third statement failed")),
        ],
        "upd" => vec![
            Outcome::Info {
                number: 3014,
                message: "processed".into(),
            },
            Outcome::Done { rows_affected: Some(3) },
        ],
        "count" => vec![Outcome::Rows(one_int(params.len() as i64))],
        _ => vec![],
    }
}

impl Session for TestSession {
    async fn batch(&mut self, sql: String, params: Vec<Param>) -> Vec<Outcome> {
        let out = answer(&sql, &params);
        self.calls.lock().unwrap().push((sql, params));
        out
    }

    fn database(&self) -> String {
        self.db.clone()
    }
}

struct Endpoint {
    addr: SocketAddr,
    calls: Calls,
    logins: Arc<Mutex<Vec<LoginRequest>>>,
    availability: watch::Sender<Availability>,
}

async fn endpoint() -> Endpoint {
    let calls = Calls::default();
    let logins = Arc::new(Mutex::new(Vec::new()));
    let backend = Arc::new(TestBackend {
        calls: calls.clone(),
        logins: logins.clone(),
    });
    let (availability, rx) = watch::channel(Availability::Up);
    let (addr, _task) = spawn_endpoint("127.0.0.1:0".parse().unwrap(), backend, rx)
        .await
        .unwrap();
    Endpoint {
        addr,
        calls,
        logins,
        availability,
    }
}

type TdsClient = Client<Compat<TcpStream>>;

async fn connect_as(addr: SocketAddr, user: &str, pw: &str) -> tiberius::Result<TdsClient> {
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(addr.port());
    config.database("appdb");
    config.authentication(AuthMethod::sql_server(user, pw));
    config.encryption(EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

async fn connect(addr: SocketAddr) -> TdsClient {
    connect_as(addr, "sa", "Pässw0rd!").await.unwrap()
}

fn server_error(e: tiberius::error::Error) -> tiberius::error::TokenError {
    match e {
        tiberius::error::Error::Server(e) => e,
        other => panic!("expected a server error, got {other:?}"),
    }
}

/// The error a batch ends with (tiberius reports it either when the stream
/// opens or when it is drained).
async fn batch_error(client: &mut TdsClient, sql: &str) -> tiberius::error::TokenError {
    let err = match client.simple_query(sql).await {
        Err(e) => e,
        Ok(stream) => stream.into_results().await.unwrap_err(),
    };
    server_error(err)
}

#[tokio::test]
async fn login_reports_request_and_database() {
    let ep = endpoint().await;
    let mut client = connect(ep.addr).await;
    let rows = client.simple_query("count").await.unwrap();
    let row = rows.into_row().await.unwrap().unwrap();
    assert_eq!(row.get::<i32, _>(0), Some(0));
    let login = ep.logins.lock().unwrap()[0].clone();
    assert_eq!(login.database.as_deref(), Some("appdb"));
    assert_eq!(login.tds_version, 0x7400_0004);
    assert_eq!(login.app_name, "tiberius");
}

#[tokio::test]
async fn wrong_password_is_login_failed() {
    let ep = endpoint().await;
    let err = connect_as(ep.addr, "sa", "nope").await.err().unwrap();
    let err = server_error(err);
    assert_eq!(err.code(), 18456);
    assert_eq!(err.class(), 14);
    assert_eq!(err.message(), "Login failed for user 'sa'.");
    assert_eq!(err.server(), "SQL-A");
}

#[tokio::test]
async fn every_type_round_trips() {
    let ep = endpoint().await;
    let mut client = connect(ep.addr).await;
    let rows = client.simple_query("rows").await.unwrap();
    let rows = rows.into_first_result().await.unwrap();
    assert_eq!(rows.len(), 2);
    let r = &rows[0];
    assert_eq!(r.try_get::<&str, _>("s").unwrap(), Some(TEXT));
    assert_eq!(r.try_get::<u8, _>("ti").unwrap(), Some(255));
    assert_eq!(r.try_get::<i16, _>("si").unwrap(), Some(-32768));
    assert_eq!(r.try_get::<i32, _>("i").unwrap(), Some(-7));
    assert_eq!(r.try_get::<i64, _>("bi").unwrap(), Some(i64::MAX));
    assert_eq!(r.try_get::<bool, _>("b").unwrap(), Some(true));
    let lsn = r.try_get::<Numeric, _>("lsn").unwrap().unwrap();
    assert_eq!((lsn.value(), lsn.scale()), (1234567890123456789012345, 0));
    let amount = r.try_get::<Numeric, _>("amount").unwrap().unwrap();
    assert_eq!((amount.value(), amount.scale()), (-12345, 2));
    match r.get_column_data("dt").unwrap() {
        ColumnData::DateTime(Some(dt)) => {
            assert_eq!(dt.days(), 45349);
            assert_eq!(dt.seconds_fragments(), (13 * 3600 + 45 * 60 + 30) * 300 + 150);
        }
        other => panic!("unexpected {other:?}"),
    }
    let g = r.try_get::<Uuid, _>("g").unwrap().unwrap();
    assert_eq!(g, Uuid::parse_str(GUID).unwrap());

    let n = &rows[1];
    assert_eq!(n.try_get::<&str, _>("s").unwrap(), None);
    assert_eq!(n.try_get::<u8, _>("ti").unwrap(), None);
    assert_eq!(n.try_get::<i64, _>("bi").unwrap(), None);
    assert_eq!(n.try_get::<bool, _>("b").unwrap(), None);
    assert_eq!(n.try_get::<Numeric, _>("lsn").unwrap(), None);
    assert_eq!(n.try_get::<Uuid, _>("g").unwrap(), None);
    assert!(matches!(n.get_column_data("dt").unwrap(), ColumnData::DateTime(None)));
}

#[tokio::test]
async fn multi_packet_requests_and_responses() {
    let ep = endpoint().await;
    let mut config_client = {
        let mut config = Config::new();
        config.host("127.0.0.1");
        config.port(ep.addr.port());
        config.authentication(AuthMethod::sql_server("sa", "Pässw0rd!"));
        config.encryption(EncryptionLevel::NotSupported);
        config.packet_size(512);
        let tcp = TcpStream::connect(ep.addr).await.unwrap();
        Client::connect(config, tcp.compat_write()).await.unwrap()
    };
    for client in [&mut connect(ep.addr).await, &mut config_client] {
        let rows = client.simple_query("many").await.unwrap();
        let rows = rows.into_first_result().await.unwrap();
        assert_eq!(rows.len(), 500);
        assert_eq!(rows[499].get::<i32, _>("n"), Some(499));
        assert!(rows[499].get::<&str, _>("s").unwrap().starts_with("row 499 x"));
    }
    let long_sql = format!("count -- {}", "é".repeat(20_000));
    config_client
        .simple_query(long_sql.as_str())
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap();
    assert_eq!(ep.calls.lock().unwrap().last().unwrap().0, long_sql);
}

#[tokio::test]
async fn errors_carry_number_class_and_message_and_keep_the_connection() {
    let ep = endpoint().await;
    let mut client = connect(ep.addr).await;
    let err = batch_error(&mut client, "err").await;
    assert_eq!((err.code(), err.class(), err.state()), (41142, 16, 1));
    assert!(err.message().starts_with("The availability replica"));
    assert_eq!(err.server(), "SQL-A");

    // Rows, a row count, then an error: tiberius reports the error at the end.
    assert_eq!(batch_error(&mut client, "two").await.code(), 50000);
    let err = client.execute("two", &[]).await;
    assert_eq!(server_error(err.unwrap_err()).code(), 50000);

    let res = client.execute("upd", &[]).await.unwrap();
    assert_eq!(res.rows_affected(), &[3]);
    let err = client.execute("nothing", &[]).await.unwrap();
    assert_eq!(err.rows_affected(), &[] as &[u64]);
}

#[tokio::test]
async fn rpc_parameters_reach_the_backend() {
    let ep = endpoint().await;
    let mut client = connect(ep.addr).await;
    let long = "ü".repeat(5000);
    let none: Option<&str> = None;
    let guid = Uuid::parse_str(GUID).unwrap();
    let row = client
        .query(
            "count @P1, @P2",
            &[
                &"x",
                &42i32,
                &long.as_str(),
                &none,
                &true,
                &guid,
                &Numeric::new_with_scale(25, 0),
                &7i64,
            ],
        )
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.get::<i32, _>(0), Some(8));
    let (sql, params) = ep.calls.lock().unwrap().last().unwrap().clone();
    assert_eq!(sql, "count @P1, @P2");
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["@P1", "@P2", "@P3", "@P4", "@P5", "@P6", "@P7", "@P8"]);
    let values: Vec<Value> = params.into_iter().map(|p| p.value).collect();
    assert_eq!(
        values,
        vec![
            Value::Str("x".into()),
            Value::Int(42),
            Value::Str(long),
            Value::Null,
            Value::Bit(true),
            Value::Guid(*guid.as_bytes()),
            Value::Numeric(25),
            Value::Int(7),
        ]
    );
}

#[tokio::test]
async fn down_refuses_and_up_serves_the_same_port_again() {
    let ep = endpoint().await;
    let mut client = connect(ep.addr).await;
    ep.availability.send(Availability::Down).unwrap();
    // The open connection is closed...
    assert!(client.simple_query("count").await.is_err());
    // ...and new ones are refused (the listener may take a moment to drop).
    let mut refused = false;
    for _ in 0..100 {
        match TcpStream::connect(ep.addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert!(refused);
    ep.availability.send(Availability::Up).unwrap();
    for _ in 0..100 {
        if let Ok(mut client) = connect_as(ep.addr, "sa", "Pässw0rd!").await {
            client.simple_query("count").await.unwrap().into_row().await.unwrap();
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("endpoint did not come back on {}", ep.addr);
}

#[tokio::test]
async fn hang_makes_logins_and_queries_time_out() {
    let ep = endpoint().await;
    let mut client = connect(ep.addr).await;
    ep.availability.send(Availability::Hang).unwrap();
    let wait = Duration::from_millis(300);
    let login = tokio::time::timeout(wait, connect_as(ep.addr, "sa", "Pässw0rd!")).await;
    assert!(login.is_err(), "login should hang");
    let query = tokio::time::timeout(wait, async { client.simple_query("count").await?.into_row().await }).await;
    assert!(query.is_err(), "query should hang");
}

#[tokio::test]
async fn clients_requiring_encryption_fail_cleanly() {
    let ep = endpoint().await;
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(ep.addr.port());
    config.authentication(AuthMethod::sql_server("sa", "Pässw0rd!"));
    config.encryption(EncryptionLevel::Required);
    let tcp = TcpStream::connect(ep.addr).await.unwrap();
    let res = tokio::time::timeout(Duration::from_secs(5), Client::connect(config, tcp.compat_write()))
        .await
        .expect("the client must not hang");
    match res {
        Err(tiberius::error::Error::Protocol(msg)) => assert!(msg.contains("encryption"), "{msg}"),
        other => panic!("unexpected {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn garbage_and_tls_are_closed_not_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ep = endpoint().await;
    for garbage in [
        &[0x16, 0x03, 0x01, 0x00, 0x05, 1, 0, 0, 0, 0][..],
        &[0x12, 0x01, 0x00, 0x0A, 0, 0, 1, 0, 0x42, 0x42][..],
        &[0x10, 0x01, 0x00, 0x0C, 0, 0, 1, 0, 1, 2, 3, 4][..],
    ] {
        let mut s = TcpStream::connect(ep.addr).await.unwrap();
        s.write_all(garbage).await.unwrap();
        let mut buf = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
            .await
            .unwrap();
        assert!(n.is_err() || buf.is_empty(), "answered {buf:?}");
    }
    // The endpoint still serves proper clients.
    connect(ep.addr).await;
}

/// Not run by default: keeps an endpoint up for manual third-party client
/// checks (FreeTDS `tsql`, python-tds). User `sa`, password `Pässw0rd!`.
/// `TDS_SERVE_PORT=14330 TDS_SERVE_SECS=120 cargo test --test tds_wire serve_for_manual_clients -- --ignored --nocapture`
#[tokio::test]
#[ignore]
async fn serve_for_manual_clients() {
    let env = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let port = env("TDS_SERVE_PORT", 14330) as u16;
    let _ = tracing_subscriber::fmt().with_env_filter("debug").try_init();
    let backend = Arc::new(TestBackend {
        calls: Calls::default(),
        logins: Arc::default(),
    });
    let (_tx, rx) = watch::channel(Availability::Up);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let (addr, _task) = spawn_endpoint(addr, backend, rx).await.unwrap();
    println!("serving TDS on {addr}");
    tokio::time::sleep(Duration::from_secs(env("TDS_SERVE_SECS", 60))).await;
}
