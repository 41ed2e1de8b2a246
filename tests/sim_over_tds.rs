//! drover's SQL layer (tiberius) against the TDS simulator over loopback:
//! the behaviours of SQL Server the rest of drover relies on.

use drover::sim::Sim;
use drover::sim::model::config::{AvailabilityMode as SimMode, InstanceConfig, ReplicaConfig, WorldConfig};
use drover::sql::{
    Action, CommitMode, Credentials, Encryption, Endpoint, ErrorCategory, Executed, Ident, ReplicaClient,
    ReplicaObservation, ResultLimit, Role, SqlError, SuspendReason, SyncState, Timeouts, Tls,
};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use drover::demo::world::fast;

async fn start(cfg: WorldConfig) -> Arc<Sim> {
    let epoch = jiff::civil::date(2026, 11, 21).at(3, 0, 0, 0);
    Sim::start_at(cfg, epoch, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .expect("simulator starts")
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        handshake: Duration::from_secs(2),
        command: Duration::from_secs(5),
        long_command: Duration::from_secs(30),
    }
}

fn client_with(sim: &Sim, instance: &str, password: &str) -> ReplicaClient {
    let addr = sim.addr(instance).expect("instance exists");
    let endpoint = Endpoint {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls: Tls {
            encryption: Encryption::Off,
            ..Tls::default()
        },
    };
    let (user, _) = sim.login();
    ReplicaClient::new(
        endpoint,
        Credentials {
            user: user.into(),
            password: password.into(),
        },
        timeouts(),
    )
}

fn client(sim: &Sim, instance: &str) -> ReplicaClient {
    let (_, password) = sim.login();
    let password = password.to_string();
    client_with(sim, instance, &password)
}

/// Sets each replica's availability mode through `primary`.
async fn set_modes(primary: &mut ReplicaClient, ag: &Ident, servers: &[&str], mode: CommitMode) {
    for server in servers {
        let act = Action::SetAvailabilityMode {
            group: ag.clone(),
            replica_server_name: server.to_string(),
            mode,
        };
        assert_eq!(
            primary.execute(&act).await.expect("mode change on the primary"),
            Executed::Done
        );
    }
}

fn ident(s: &str) -> Ident {
    Ident::new(s).expect("valid identifier")
}

/// Roles as `instance` reports them, by server name.
fn role_of(obs: &ReplicaObservation, ag: &str, server: &str) -> Option<Role> {
    let g = obs.group_named(ag)?;
    let r = g.replicas.iter().find(|r| r.server_name == server)?;
    r.state.as_ref()?.role.clone()
}

/// Synchronization state of every database copy on `server`, seen by the observer.
fn states_of(obs: &ReplicaObservation, ag: &str, server: &str) -> Vec<Option<SyncState>> {
    let Some(g) = obs.group_named(ag) else { return vec![] };
    let Some(r) = g.replicas.iter().find(|r| r.server_name == server) else {
        return vec![];
    };
    g.database_states_of(r.replica_id)
        .map(|d| d.sync_state.clone())
        .collect()
}

/// Polls `instance` until `pred` holds (or panics after `limit` of simulated time).
async fn wait_for(
    c: &mut ReplicaClient,
    limit: Duration,
    what: &str,
    pred: impl Fn(&ReplicaObservation) -> bool,
) -> ReplicaObservation {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Ok(obs) = c.observe().await
            && pred(&obs)
        {
            return obs;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn login_and_observe_a_healthy_ag() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut a = client(&sim, "SQL-A");
    let obs = a.observe().await.expect("observe the primary");
    assert_eq!(obs.server_name.as_deref(), Some("SQL-A"));
    let g = obs.group_named("ag1").expect("ag1 visible");
    assert_eq!(g.replicas.len(), 2);
    assert_eq!(role_of(&obs, "ag1", "SQL-A"), Some(Role::Primary));
    // The primary sees the remote replica and its databases.
    assert_eq!(role_of(&obs, "ag1", "SQL-B"), Some(Role::Secondary));
    assert_eq!(states_of(&obs, "ag1", "SQL-A"), vec![Some(SyncState::Synchronized); 2]);
    assert_eq!(states_of(&obs, "ag1", "SQL-B"), vec![Some(SyncState::Synchronizing); 2]);
    let names: Vec<_> = g
        .databases
        .iter()
        .filter(|d| d.is_local)
        .filter_map(|d| d.database_name.clone())
        .collect();
    assert_eq!(names, vec!["confdb".to_string(), "logdb".to_string()]);
    let primary_db = g.databases.iter().find(|d| d.is_local).expect("local row");
    assert!(
        primary_db
            .last_commit_time
            .is_some_and(|t| t >= jiff::civil::date(2026, 11, 21).at(3, 0, 0, 0))
    );
    assert!(primary_db.end_of_log_lsn.is_some());
    // A secondary shows only itself.
    let mut b = client(&sim, "SQL-B");
    let obs = b.observe().await.expect("observe the secondary");
    let g = obs.group_named("ag1").expect("ag1 visible on the secondary");
    assert!(
        g.replicas
            .iter()
            .filter(|r| r.state.is_some())
            .all(|r| r.server_name == "SQL-B")
    );
    assert!(g.databases.iter().all(|d| d.is_local));
    assert_eq!(role_of(&obs, "ag1", "SQL-B"), Some(Role::Secondary));
}

#[tokio::test(start_paused = true)]
async fn planned_failover_with_the_workload_running_loses_nothing() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a = client(&sim, "SQL-A");
    let mut b = client(&sim, "SQL-B");
    let ag = ident("ag1");
    set_modes(&mut a, &ag, &["SQL-A", "SQL-B"], CommitMode::Synchronous).await;
    wait_for(&mut a, Duration::from_secs(5), "SQL-B synchronized", |o| {
        states_of(o, "ag1", "SQL-B") == vec![Some(SyncState::Synchronized); 2]
    })
    .await;
    assert_eq!(
        b.execute(&Action::PlannedFailover { group: ag.clone() })
            .await
            .expect("failover accepted"),
        Executed::Done
    );
    wait_for(&mut b, Duration::from_secs(5), "SQL-B primary", |o| {
        role_of(o, "ag1", "SQL-B") == Some(Role::Primary)
    })
    .await;
    // Restore the declared asynchronous modes on the new primary.
    set_modes(&mut b, &ag, &["SQL-A", "SQL-B"], CommitMode::Asynchronous).await;
    // A second FAILOVER on the new primary is "already primary": success.
    assert_eq!(
        b.execute(&Action::PlannedFailover { group: ag.clone() })
            .await
            .expect("41122"),
        Executed::AlreadyDone
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    sim.with_world(|w, now| {
        assert!(w.acknowledged("ag1", "confdb") > 50, "the workload kept committing");
        assert_eq!(w.lost_transactions(now, "ag1", "confdb"), Some(0));
        assert_eq!(w.lost_transactions(now, "ag1", "logdb"), Some(0));
        assert_eq!(w.writable_primaries(now, "ag1"), vec!["SQL-B".to_string()]);
        assert!(w.split_brain_moments().is_empty());
    });
}

#[tokio::test(start_paused = true)]
async fn failover_to_an_async_or_unsynchronized_target_is_refused_and_changes_nothing() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a = client(&sim, "SQL-A");
    let mut b = client(&sim, "SQL-B");
    let ag = ident("ag1");
    let err = b
        .execute(&Action::PlannedFailover { group: ag.clone() })
        .await
        .expect_err("async target refused");
    assert_eq!(err.number(), Some(41142), "{err}");
    assert_eq!(err.category(), Some(ErrorCategory::NotReady));
    // Synchronous, but the target cannot catch up: still refused.
    sim.pause_replication("SQL-B", true).unwrap();
    set_modes(&mut a, &ag, &["SQL-A", "SQL-B"], CommitMode::Synchronous).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let err = b
        .execute(&Action::PlannedFailover { group: ag.clone() })
        .await
        .expect_err("unsynchronized target refused");
    assert_eq!(err.number(), Some(41142));
    let obs = a.observe().await.unwrap();
    assert_eq!(role_of(&obs, "ag1", "SQL-A"), Some(Role::Primary));
    assert_eq!(states_of(&obs, "ag1", "SQL-B"), vec![Some(SyncState::Synchronizing); 2]);
    sim.with_world(|w, now| assert_eq!(w.writable_primaries(now, "ag1"), vec!["SQL-A".to_string()]));
}

#[tokio::test(start_paused = true)]
async fn forced_failover_loses_exactly_the_tail_and_the_old_primary_comes_back_suspended_then_reverts() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.pause_replication("SQL-B", true).unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    sim.stop_instance("SQL-A").await.unwrap();
    let tail = sim.with_world(|w, _| {
        w.log_length("ag1", "confdb", "SQL-A").unwrap() - w.log_length("ag1", "confdb", "SQL-B").unwrap()
    });
    assert!(tail >= 30, "about 40 commits never reached SQL-B, got {tail}");
    sim.pause_replication("SQL-B", false).unwrap();

    let mut a = client(&sim, "SQL-A");
    let mut b = client(&sim, "SQL-B");
    let obs = b.observe().await.unwrap();
    assert_eq!(role_of(&obs, "ag1", "SQL-B"), Some(Role::Resolving));
    // What drover reads to estimate the loss: the survivor's end of log.
    let eol = obs
        .group_named("ag1")
        .unwrap()
        .databases
        .iter()
        .find(|d| d.is_local)
        .unwrap()
        .end_of_log_lsn;
    assert!(eol.is_some());
    let ag = ident("ag1");
    b.execute(&Action::ForcedFailover { group: ag.clone() })
        .await
        .expect("forced failover accepted");
    wait_for(&mut b, Duration::from_secs(5), "SQL-B primary", |o| {
        role_of(o, "ag1", "SQL-B") == Some(Role::Primary)
    })
    .await;
    sim.with_world(|w, now| assert_eq!(w.lost_transactions(now, "ag1", "confdb"), Some(tail as u64)));

    // The old primary returns as a secondary, suspended from its partner.
    sim.start_instance("SQL-A").unwrap();
    let obs = wait_for(&mut a, Duration::from_secs(5), "SQL-A back", |o| {
        role_of(o, "ag1", "SQL-A").is_some()
    })
    .await;
    assert_eq!(role_of(&obs, "ag1", "SQL-A"), Some(Role::Secondary));
    let mine: Vec<_> = obs
        .group_named("ag1")
        .unwrap()
        .databases
        .iter()
        .filter(|d| d.is_local)
        .cloned()
        .collect();
    assert_eq!(mine.len(), 2);
    for d in &mine {
        assert_eq!(d.is_suspended, Some(true));
        assert_eq!(d.suspend_reason, Some(SuspendReason::FromPartner));
        assert_eq!(d.sync_state, Some(SyncState::NotSynchronizing));
    }
    sim.with_world(|w, now| assert_eq!(w.writable_primaries(now, "ag1"), vec!["SQL-B".to_string()]));

    // Resume: the divergent tail is rolled back (REVERTING), then SYNCHRONIZING.
    for db in ["confdb", "logdb"] {
        a.execute(&Action::ResumeDataMovement { database: ident(db) })
            .await
            .expect("resume accepted");
    }
    wait_for(&mut a, Duration::from_secs(2), "REVERTING", |o| {
        states_of(o, "ag1", "SQL-A").contains(&Some(SyncState::Reverting))
    })
    .await;
    wait_for(&mut a, Duration::from_secs(5), "SYNCHRONIZING", |o| {
        states_of(o, "ag1", "SQL-A") == vec![Some(SyncState::Synchronizing); 2]
    })
    .await;
    sim.with_world(|w, now| {
        assert_eq!(
            w.lost_transactions(now, "ag1", "confdb"),
            Some(tail as u64),
            "the loss is what it was, no more"
        );
        assert!(w.split_brain_moments().is_empty());
    });
}

#[tokio::test]
async fn wrong_password_and_unreachable_replicas_give_typed_errors_within_bounds() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    let mut bad = client_with(&sim, "SQL-A", "not-the-password");
    match bad.observe().await {
        Err(SqlError::LoginFailed { number, .. }) => assert_eq!(number, 18456),
        other => panic!("expected a login failure, got {other:?}"),
    }
    sim.stop_instance("SQL-B").await.unwrap();
    let mut b = client(&sim, "SQL-B");
    let started = std::time::Instant::now();
    match b.observe().await {
        Err(SqlError::Refused { .. }) => {}
        other => panic!("expected connection refused, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // A hung server: the handshake bound applies.
    sim.hang_instance("SQL-A").unwrap();
    let mut a = client(&sim, "SQL-A");
    let started = std::time::Instant::now();
    match a.observe().await {
        Err(SqlError::HandshakeTimeout { .. }) => {}
        other => panic!("expected a handshake timeout, got {other:?}"),
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(4),
        "bounded by the 2 s handshake timeout: {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn names_with_brackets_quotes_semicolons_and_non_ascii_letters_are_quoted() {
    let ag_name = "ag]'; DROP DATABASE [x";
    let dbs = ["cönf]db", "lög'db;--"];
    let cfg = WorldConfig {
        instances: vec![
            InstanceConfig {
                name: "SQL-Ä".into(),
                site: "site-a".into(),
                port: 0,
            },
            InstanceConfig {
                name: "O'SQL]B".into(),
                site: "site-b".into(),
                port: 0,
            },
        ],
        availability_groups: vec![drover::sim::model::config::AgConfig {
            name: ag_name.into(),
            cluster_type: drover::sim::model::config::ClusterType::Wsfc,
            databases: dbs.iter().map(|d| d.to_string()).collect(),
            replicas: vec![
                ReplicaConfig {
                    instance: "SQL-Ä".into(),
                    availability_mode: SimMode::AsynchronousCommit,
                    primary: true,
                },
                ReplicaConfig {
                    instance: "O'SQL]B".into(),
                    availability_mode: SimMode::AsynchronousCommit,
                    primary: false,
                },
            ],
        }],
        ..WorldConfig::two_sites()
    };
    let sim = start(fast(cfg)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut a = client(&sim, "SQL-Ä");
    let mut b = client(&sim, "O'SQL]B");
    let ag = ident(ag_name);
    set_modes(&mut a, &ag, &["SQL-Ä", "O'SQL]B"], CommitMode::Synchronous).await;
    wait_for(&mut a, Duration::from_secs(5), "synchronized", |o| {
        states_of(o, ag_name, "O'SQL]B") == vec![Some(SyncState::Synchronized); 2]
    })
    .await;
    b.execute(&Action::PlannedFailover { group: ag.clone() })
        .await
        .expect("quoted failover");
    let obs = wait_for(&mut b, Duration::from_secs(5), "new primary", |o| {
        role_of(o, ag_name, "O'SQL]B") == Some(Role::Primary)
    })
    .await;
    let names: Vec<_> = obs
        .group_named(ag_name)
        .unwrap()
        .databases
        .iter()
        .filter(|d| d.is_local)
        .filter_map(|d| d.database_name.clone())
        .collect();
    assert_eq!(names, dbs.iter().map(|d| d.to_string()).collect::<Vec<_>>());
    let backup = Action::CopyOnlyBackup {
        database: ident(dbs[1]),
        path: "C:\\backups\\it's here.bak".into(),
    };
    a.execute(&backup).await.expect("quoted backup on the secondary");
    sim.with_world(|w, _| {
        let b = w.backups().last().expect("backup recorded");
        assert_eq!(b.database, dbs[1]);
        assert_eq!(b.path, "C:\\backups\\it's here.bak");
        assert!(b.copy_only && b.checksum);
    });
}

#[tokio::test(start_paused = true)]
async fn unknown_statements_and_objects_are_rejected() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    let mut a = client(&sim, "SQL-A");
    for (sql, number) in [
        ("DROP DATABASE confdb", 102),
        ("ALTER AVAILABILITY GROUP [ag1] OFFLINE", 102),
        ("SELECT * FROM sys.no_such_view", 208),
        ("SELECT no_such_column FROM sys.availability_groups", 207),
        ("SELECT name FROM sys.databases WHERE name = 'x", 105),
    ] {
        match a.select(sql).await {
            Err(e) => assert_eq!(e.number(), Some(number), "{sql}: {e}"),
            Ok(_) => panic!("{sql} must be rejected"),
        }
    }
    // Nothing was executed: the world is as it was.
    sim.with_world(|w, now| {
        assert_eq!(w.writable_primaries(now, "ag1"), vec!["SQL-A".to_string()]);
        assert_eq!(w.statement_count("SQL-A", "alter_ag"), 0);
    });
    // A well-formed filtered SELECT works, with the documented types.
    let rows = a
        .select("SELECT name, database_id FROM sys.databases WHERE name = N'confdb'")
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].len(), 1);
    let id: Option<i32> = rows[0][0].try_get("database_id").unwrap();
    assert_eq!(id, Some(5));
}

#[tokio::test]
async fn a_command_that_times_out_drops_the_connection_and_the_next_call_reconnects() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    let addr = sim.addr("SQL-A").unwrap();
    let (user, password) = sim.login();
    let endpoint = Endpoint {
        host: addr.ip().to_string(),
        port: addr.port(),
        tls: Tls {
            encryption: Encryption::Off,
            ..Tls::default()
        },
    };
    let short = Timeouts {
        command: Duration::from_millis(300),
        ..timeouts()
    };
    let mut a = ReplicaClient::new(
        endpoint,
        Credentials {
            user: user.into(),
            password: password.into(),
        },
        short,
    );
    a.observe().await.expect("first observation");
    assert!(a.is_connected());
    sim.hang_instance("SQL-A").unwrap();
    let started = std::time::Instant::now();
    match a.observe().await {
        Err(e @ SqlError::CommandTimeout { .. }) => assert!(e.is_transient()),
        other => panic!("expected a command timeout, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "bounded by the command timeout"
    );
    assert!(!a.is_connected(), "a timed-out connection is not reused");
    sim.unhang_instance("SQL-A").unwrap();
    let obs = a.observe().await.expect("a fresh connection re-reads the state");
    assert_eq!(role_of(&obs, "ag1", "SQL-A"), Some(Role::Primary));
}

#[tokio::test(start_paused = true)]
async fn cluster_type_none_switchover_by_demote_force_and_resume_loses_nothing() {
    let mut cfg = fast(WorldConfig::two_sites());
    cfg.availability_groups[0].cluster_type = drover::sim::model::config::ClusterType::None;
    let sim = start(cfg).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut a = client(&sim, "SQL-A");
    let mut b = client(&sim, "SQL-B");
    let ag = ident("ag1");
    // Plain FAILOVER is refused on a NONE group: only FORCE_FAILOVER_ALLOW_DATA_LOSS exists (47122).
    assert_eq!(
        b.execute(&Action::PlannedFailover { group: ag.clone() })
            .await
            .unwrap_err()
            .number(),
        Some(47122)
    );
    set_modes(&mut a, &ag, &["SQL-A", "SQL-B"], CommitMode::Synchronous).await;
    wait_for(&mut a, Duration::from_secs(5), "synchronized", |o| {
        states_of(o, "ag1", "SQL-B") == vec![Some(SyncState::Synchronized); 2]
    })
    .await;
    a.execute(&Action::SetRequiredSynchronizedSecondaries {
        group: ag.clone(),
        count: 1,
    })
    .await
    .unwrap();
    a.execute(&Action::DemoteToSecondary { group: ag.clone() })
        .await
        .unwrap();
    // Demoted: no writable primary anywhere, and no second one either.
    sim.with_world(|w, now| assert!(w.writable_primaries(now, "ag1").is_empty()));
    b.execute(&Action::ForcedFailover { group: ag.clone() }).await.unwrap();
    wait_for(&mut b, Duration::from_secs(5), "SQL-B primary", |o| {
        role_of(o, "ag1", "SQL-B") == Some(Role::Primary)
    })
    .await;
    for db in ["confdb", "logdb"] {
        a.execute(&Action::ResumeDataMovement { database: ident(db) })
            .await
            .unwrap();
    }
    wait_for(&mut b, Duration::from_secs(5), "SQL-A synchronized again", |o| {
        states_of(o, "ag1", "SQL-A") == vec![Some(SyncState::Synchronized); 2]
    })
    .await;
    sim.with_world(|w, now| {
        assert_eq!(w.lost_transactions(now, "ag1", "confdb"), Some(0));
        assert_eq!(w.lost_transactions(now, "ag1", "logdb"), Some(0));
        assert!(w.split_brain_moments().is_empty());
    });
}

#[tokio::test(start_paused = true)]
async fn the_simulator_is_driven_over_its_control_port() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let sim = start(fast(WorldConfig::two_sites())).await;
    let control = drover::sim::control::listen(sim.clone(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let stream = tokio::net::TcpStream::connect(control).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let mut ask = async |cmd: &str| -> Vec<String> {
        w.write_all(format!("{cmd}\n").as_bytes()).await.unwrap();
        let mut reply = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.is_empty() {
                break;
            }
            reply.push(line);
        }
        reply
    };
    assert_eq!(ask("stop SQL-B").await, vec!["ok SQL-B stopped".to_string()]);
    assert!(matches!(
        client(&sim, "SQL-B").observe().await,
        Err(SqlError::Refused { .. })
    ));
    let status = ask("status").await;
    assert!(
        status.iter().any(|l| l.contains("SQL-B") && l.contains("DOWN")),
        "{status:?}"
    );
    assert!(ask("frobnicate").await[0].starts_with("error unknown command"));
    assert_eq!(ask("start SQL-B").await, vec!["ok SQL-B starting".to_string()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let obs = client(&sim, "SQL-B")
        .observe()
        .await
        .expect("back after the restart latency");
    assert_eq!(role_of(&obs, "ag1", "SQL-B"), Some(Role::Secondary));
    let history = ask("history 5").await;
    assert!(
        history.iter().any(|l| l.contains("instance SQL-B started")),
        "{history:?}"
    );
}

/// The benchmarks' "SQL round trips" are the simulator's batch count: one per batch received,
/// however many statements it holds (the observation is one batch of several SELECTs).
#[tokio::test(start_paused = true)]
async fn the_simulator_counts_each_batch_once_whatever_it_holds() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    let mut a = client(&sim, "SQL-A");
    a.connect().await.expect("connects");
    let counts = |sim: &Sim| {
        sim.with_world(|w, _| {
            (
                w.batch_count("SQL-A"),
                w.statement_count("SQL-A", "select"),
                w.batch_count("SQL-B"),
            )
        })
    };
    let (batches, selects, other) = counts(&sim);
    a.observe().await.expect("observe the primary");
    let (batches_after, selects_after, other_after) = counts(&sim);
    assert_eq!(batches_after, batches + 1);
    assert!(selects_after > selects + 1, "the observation holds several SELECTs");
    assert_eq!(other_after, other, "SQL-B received nothing");
    a.select("SELECT name FROM sys.databases")
        .await
        .expect("a plain select");
    assert_eq!(counts(&sim).0, batches + 2);
}

/// The WSFC views through tiberius: the three cluster SELECTs of the observation batch come back
/// with SQL Server's column names and types and parse; quorum lost behind a partition empties
/// `sys.dm_hadr_cluster` and refuses a forced failover with 35220; forced quorum shows as
/// FORCED_QUORUM and lets it through.
#[tokio::test(start_paused = true)]
async fn wsfc_quorum_is_observed_and_enforced_over_tds() {
    use drover::sql::{OBSERVATION_BATCH, OperationalState, QuorumState, parse_observation};
    use tiberius::{ColumnData, ColumnType};
    let sim = start(fast(WorldConfig::two_sites())).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut b = client(&sim, "SQL-B");

    // Column names and types, read raw.
    let cluster_lines: Vec<&str> = OBSERVATION_BATCH
        .lines()
        .filter(|l| l.contains("dm_hadr_cluster") || l.contains("cluster_nodes"))
        .collect();
    assert_eq!(cluster_lines.len(), 3, "{OBSERVATION_BATCH}");
    let sets = b
        .select(&cluster_lines.join("\n"))
        .await
        .expect("the cluster views answer");
    assert_eq!(sets.len(), 3);
    let types = |row: &tiberius::Row| -> Vec<(String, ColumnType)> {
        row.columns()
            .iter()
            .map(|c| (c.name().to_string(), c.column_type()))
            .collect()
    };
    assert_eq!(sets[0].len(), 1, "one row on a node with quorum");
    assert_eq!(
        types(&sets[0][0]),
        vec![
            ("cluster_name".to_string(), ColumnType::NVarchar),
            ("quorum_type_desc".to_string(), ColumnType::BigVarChar),
            ("quorum_state_desc".to_string(), ColumnType::BigVarChar),
        ]
    );
    assert_eq!(sets[1].len(), 3, "two nodes and the witness");
    let votes = sets[1][0].get_column_data("number_of_quorum_votes").expect("votes");
    assert!(matches!(votes, ColumnData::U8(Some(1))), "tinyint: {votes:?}");
    assert_eq!(
        types(&sets[2][0]).into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
        ["group_name", "replica_server_name", "node_name"]
    );

    // The whole batch, parsed as drover does.
    let obs = parse_observation(b.select(OBSERVATION_BATCH).await.expect("batch")).expect("parses");
    let wsfc = obs.wsfc.as_ref().expect("quorum at the start");
    assert_eq!(wsfc.cluster_name, "SIM-WSFC");
    assert_eq!(wsfc.quorum_type.as_deref(), Some("NODE_AND_FILE_SHARE_MAJORITY"));
    assert_eq!(wsfc.quorum_state, QuorumState::Normal);
    let members: Vec<(&str, &str, bool, u8)> = wsfc
        .members
        .iter()
        .map(|m| (m.name.as_str(), m.member_type.as_str(), m.up, m.votes))
        .collect();
    assert_eq!(
        members,
        [
            ("SQL-A", "CLUSTER_NODE", true, 1),
            ("SQL-B", "CLUSTER_NODE", true, 1),
            (r"\\witness\SIM-WSFC", "FILE_SHARE_WITNESS", true, 1)
        ]
    );
    assert_eq!(obs.node_of("AG1", "sql-a"), Some("SQL-A"));
    assert_eq!(obs.group_named("ag1").and_then(|g| g.sequence_number), Some(1));

    // Cut off from site-a, which keeps the witness (it holds the primary): no quorum at SQL-B.
    sim.partition("site-a", "site-b").expect("partition");
    let obs = b.observe().await.expect("observe");
    assert_eq!(obs.wsfc, None);
    assert_eq!(obs.node_of("ag1", "SQL-B"), Some("SQL-B"), "the node map stays");
    let local = obs.group_named("ag1").and_then(|g| g.local_replica()).expect("local");
    let rt = local.state.as_ref().expect("runtime");
    assert_eq!(rt.role, Some(Role::Resolving));
    assert_eq!(rt.operational_state, Some(OperationalState::FailedNoQuorum));
    let ag = ident("ag1");
    let err = b
        .execute(&Action::ForcedFailover { group: ag.clone() })
        .await
        .expect_err("no quorum, no forced failover");
    assert_eq!(err.number(), Some(35220), "{err}");
    // Site-a still has quorum and a primary.
    let obs = client(&sim, "SQL-A").observe().await.expect("observe SQL-A");
    assert_eq!(obs.wsfc.map(|w| w.quorum_state), Some(QuorumState::Normal));

    // A person forces quorum at site-b: FORCED_QUORUM, and the forced failover goes through.
    sim.force_quorum("SQL-B").expect("force quorum");
    let obs = b.observe().await.expect("observe");
    let wsfc = obs.wsfc.expect("forced quorum");
    assert_eq!(wsfc.quorum_state, QuorumState::Forced);
    let up: Vec<bool> = wsfc.members.iter().map(|m| m.up).collect();
    assert_eq!(up, [false, true, false], "site-a and the witness are on the other side");
    assert_eq!(
        b.execute(&Action::ForcedFailover { group: ag }).await.expect("forced"),
        Executed::Done
    );
    wait_for(&mut b, Duration::from_secs(5), "SQL-B primary", |o| {
        role_of(o, "ag1", "SQL-B") == Some(Role::Primary)
    })
    .await;
    sim.shutdown();
}

/// An instance cut off from clients: drover's login times out, while the instance keeps its
/// primary role and its workload keeps committing; reachable again, it answers.
#[tokio::test(start_paused = true)]
async fn an_instance_isolated_from_clients_times_out_and_keeps_committing() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    sim.isolate_from_clients("SQL-A", true).expect("isolate");
    sim.partition("site-a", "site-b").expect("partition");
    let before = sim.with_world(|w, _| w.acknowledged("ag1", "confdb"));
    let mut a = client(&sim, "SQL-A");
    let started = tokio::time::Instant::now();
    let err = a.observe().await.expect_err("unreachable for clients");
    assert!(
        started.elapsed() >= timeouts().handshake.min(timeouts().command),
        "it timed out rather than being refused at once: {err}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = sim.with_world(|w, _| w.acknowledged("ag1", "confdb"));
    assert!(after > before + 50, "the workload kept committing: {before} -> {after}");
    assert_eq!(
        sim.with_world(|w, now| w.writable_primaries(now, "ag1")),
        ["SQL-A"],
        "still the one writable primary (quorum with the witness)"
    );
    // Restarted while isolated, it comes back isolated.
    sim.heal();
    sim.stop_instance("SQL-A").await.expect("stop");
    sim.start_instance("SQL-A").expect("start");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(sim.with_world(|w, _| w.instances().iter().any(|(n, _, up)| n == "SQL-A" && *up)));
    assert!(client(&sim, "SQL-A").observe().await.is_err(), "still isolated");
    sim.isolate_from_clients("SQL-A", false).expect("reachable again");
    let obs = client(&sim, "SQL-A").observe().await.expect("answers again");
    assert_eq!(role_of(&obs, "ag1", "SQL-A"), Some(Role::Primary));
    assert!(sim.isolate_from_clients("nobody", true).is_err());
    sim.shutdown();
}

/// An answer larger than the client's result limit is refused (rows or bytes), the connection
/// dropped (the rest of the answer is still on the wire), and the next call opens a new one.
#[tokio::test(start_paused = true)]
async fn an_answer_over_the_result_limit_is_refused_and_the_connection_dropped() {
    let sim = start(fast(WorldConfig::two_sites())).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (limit, says) in [
        (
            ResultLimit {
                rows: 3,
                bytes: 1 << 20,
            },
            "more than 3 rows",
        ),
        (
            ResultLimit {
                rows: 50_000,
                bytes: 64,
            },
            "more than 64 bytes",
        ),
    ] {
        let mut a = client(&sim, "SQL-A").with_result_limit(limit);
        let error = a.observe().await.expect_err("the observation batch is over the limit");
        assert!(matches!(error, SqlError::ResultTooLarge { .. }), "{error:?}");
        assert!(error.to_string().contains(says), "{error}");
        assert!(!error.is_transient(), "not worth retrying unchanged");
        assert!(!a.is_connected(), "the connection is dropped");
    }
    // Within the default limit the same batch passes whole.
    let mut a = client(&sim, "SQL-A");
    let obs = a.observe().await.expect("observe within the default limit");
    assert_eq!(role_of(&obs, "ag1", "SQL-A"), Some(Role::Primary));
    assert!(a.is_connected());
}
