//! Issue 18, credentials: whoever may write an AvailabilityGroup names any Secret of its namespace
//! as its login. drover reads only Secrets that opted in (type `kubernetes.io/basic-auth`, or the
//! label `drover.dev/credentials=true`); any other is refused with a condition and an Event before
//! any connection is made. A login name never appears in status or Events, even when the server
//! refuses the login and quotes it.

mod common;

use common::rig::{ag_start, config, world};
use drover::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus};
use drover::controller::ag;
use drover::controller::memory::MemoryPort;
use std::net::TcpListener;
use std::time::Duration;

const SENTINEL: &str = "login-name-SENTINEL";

fn now() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000).expect("a time")
}

/// Everything the group's status and Events say, as text.
fn everything_said(port: &MemoryPort, ag: &AvailabilityGroup) -> String {
    let status = port.status(ag).unwrap_or_default();
    let events: Vec<String> = port
        .snapshot()
        .events
        .into_iter()
        .map(|(_, e)| format!("{} {}", e.reason, e.note))
        .collect();
    format!(
        "{}\n{}",
        serde_json::to_string(&status).expect("serializes"),
        events.join("\n")
    )
}

fn condition<'a>(status: &'a AvailabilityGroupStatus, type_: &str) -> (&'a str, &'a str, &'a str) {
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status:#?}"));
    (c.status.as_str(), c.reason.as_str(), c.message.as_str())
}

#[tokio::test]
async fn a_secret_that_did_not_opt_in_is_never_read_and_no_connection_is_made() {
    let start = ag_start(world()).await;
    let mut ag = start.ag.clone();
    // The replicas point at a listener that only counts connections.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let port_number = listener.local_addr().expect("addr").port();
    for r in &mut ag.spec.replicas {
        r.endpoint.host = "127.0.0.1".into();
        r.endpoint.port = port_number;
    }
    // The attack: name another application's Secret (an ordinary Opaque one) and its keys.
    ag.spec.credentials.secret_name = "payments-api".into();
    ag.spec.credentials.username_key = "client-id".into();
    ag.spec.credentials.password_key = "api-key".into();
    let port = MemoryPort::default();
    port.put_secret_as(
        "dr",
        "payments-api",
        Some("Opaque"),
        &[],
        &[("client-id", SENTINEL), ("api-key", "api-key-SENTINEL")],
    );
    let ctx = ag::Context::new(port, config(Duration::from_millis(200)));
    let result = ag::reconcile(&ag, &ctx, now()).await;
    assert!(result.is_err(), "the reconcile reports it: {result:?}");

    let expected = "credentials: Secret dr/payments-api may not be used as a SQL login: drover reads only Secrets of type \
                    kubernetes.io/basic-auth or labelled drover.dev/credentials=true, so that the Secret's owner decides";
    let status = ctx.port.status(&ag).expect("status written");
    assert_eq!(
        condition(&status, "Ready"),
        ("False", "CredentialsUnavailable", expected)
    );
    let events: Vec<(bool, String, String)> = ctx
        .port
        .snapshot()
        .events
        .into_iter()
        .map(|(_, e)| (e.warning, e.reason, e.note))
        .collect();
    assert_eq!(
        events,
        [(true, "CredentialsUnavailable".to_string(), expected.to_string())]
    );
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no connection (so no login) was attempted"
    );
    assert!(!everything_said(&ctx.port, &ag).contains("SENTINEL"));

    // Opted in by its owner's label, the same Secret is used: a connection is made.
    ctx.port.put_secret_as(
        "dr",
        "payments-api",
        Some("Opaque"),
        &[("drover.dev/credentials", "true")],
        &[("client-id", SENTINEL), ("api-key", "api-key-SENTINEL")],
    );
    ag.status = ctx.port.status(&ag);
    let _ = ag::reconcile(&ag, &ctx, now()).await;
    let mut connected = false;
    for _ in 0..50 {
        if listener.accept().is_ok() {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(connected, "an opted-in Secret is read and a login attempted");
    assert!(!everything_said(&ctx.port, &ag).contains("SENTINEL"));
}

#[tokio::test]
async fn a_refused_login_is_reported_without_the_login_name() {
    let start = ag_start(world()).await;
    let ag = start.ag.clone();
    // Opted in (basic-auth), but not a login the servers know: they refuse it, quoting the name.
    start
        .port
        .put_secret("dr", "ag1-login", &[("username", SENTINEL), ("password", "wrong")]);
    let ctx = ag::Context::new(start.port, config(Duration::from_millis(200)));
    let mut ag = ag;
    for _ in 0..3 {
        ag.status = ctx.port.status(&ag);
        let _ = ag::reconcile(&ag, &ctx, now()).await;
    }
    let said = everything_said(&ctx.port, &ag);
    assert!(
        said.contains("SQL Server error 18456"),
        "the refusal is reported: {said}"
    );
    assert!(said.contains("Login failed"), "{said}");
    assert!(!said.contains("SENTINEL"), "the login name is echoed: {said}");
    drop(start.sim);
}
