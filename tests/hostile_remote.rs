//! A remote site's API server that misbehaves — an endless answer, an answer that trickles one
//! byte a second — is refused with a clear error (the site reads as unreachable, with why), and
//! the operator reads no more than the size cap of it. The servers are real TCP listeners on
//! loopback speaking HTTP/1.1; the kubeconfig Secret comes from the stateful fake API server.
//! The deadline's exact timing is asserted with tokio's paused clock in `runtime::bounds`'s
//! unit tests; here only the outcome is.

mod common;

use common::fake_api::FakeApi;
use drover::api::dr_site::KubeconfigRef;
use drover::components::kube::KubeSites;
use drover::components::{SiteAccess, Sites};
use drover::controller::PortError;
use drover::runtime::bounds::BoundsLayer;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const CAP: usize = 1024 * 1024;

/// Reads one request's head.
async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&byte[..n]),
        }
    }
}

/// A server answering every request with `answer`, which returns how many body bytes it sent.
async fn hostile<F, Fut>(answer: F) -> (u16, JoinHandle<Vec<usize>>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = usize> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut sent = Vec::new();
        // One connection is all the call makes (no retries: the client's default retry is off).
        if let Ok((mut stream, _)) = listener.accept().await {
            read_head(&mut stream).await;
            sent.push(answer(stream).await);
        }
        sent
    });
    (port, task)
}

/// An endless chunked answer of 64 KiB chunks, until the client hangs up.
async fn endless(mut stream: TcpStream) -> usize {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    loop {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if stream.write_all(&framed).await.is_err() {
            return sent;
        }
        sent += chunk.len();
        if sent > 1 << 30 {
            return sent;
        }
    }
}

/// An answer announcing a small JSON body and sending one byte of it every 200 ms, for ever.
async fn trickling(mut stream: TcpStream) -> usize {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
    if stream.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let mut sent = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if stream.write_all(b" ").await.is_err() {
            return sent;
        }
        sent += 1;
    }
}

fn kubeconfig(port: u16) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: site-b
  cluster:
    server: http://127.0.0.1:{port}
users:
- name: drover
  user:
    token: kc-token
contexts:
- name: site-b
  context:
    cluster: site-b
    user: drover
current-context: site-b
"
    )
}

/// KubeSites whose remote calls are bounded by `deadline` and [`CAP`], and the site at `port`.
fn sites(port: u16, deadline: Duration) -> (KubeSites, SiteAccess) {
    let api = FakeApi::default();
    let encoded = base64(kubeconfig(port).as_bytes());
    api.put(
        "/api/v1/namespaces/dr/secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "site-b-kubeconfig", "namespace": "dr"},
               "data": {"kubeconfig": encoded}}),
    );
    let bounds = BoundsLayer {
        deadline,
        max_body: CAP,
    };
    let at = SiteAccess {
        site: "site-b".into(),
        namespace: "cc-b".into(),
        kubeconfig: Some(KubeconfigRef {
            secret_name: "site-b-kubeconfig".into(),
            key: "kubeconfig".into(),
        }),
        home_namespace: "dr".into(),
    };
    (KubeSites::with_bounds(api.client("drover"), bounds), at)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unreachable_because(result: Result<Vec<drover::components::HookJob>, PortError>) -> String {
    match result {
        Err(PortError::Unreachable(why)) => why,
        other => panic!("not refused as unreachable: {other:?}"),
    }
}

#[tokio::test]
async fn an_endless_answer_is_refused_at_the_size_cap() {
    let (port, server) = hostile(endless).await;
    let (sites, at) = sites(port, Duration::from_secs(60));
    let why = unreachable_because(sites.hook_jobs(&at, "system").await);
    assert!(why.contains(&format!("larger than {CAP} bytes")), "{why}");
    // The operator stopped reading and hung up: the server's writes failed long before the
    // gigabyte it would send (what it got out is the cap plus the sockets' buffers).
    let sent = server.await.expect("server ends");
    assert_eq!(sent.len(), 1, "one call, no retry: {sent:?}");
    assert!(sent[0] < 64 * 1024 * 1024, "the server sent {} bytes", sent[0]);
}

#[tokio::test]
async fn a_trickling_answer_is_refused_at_the_overall_deadline() {
    let (port, server) = hostile(trickling).await;
    // 200 ms between bytes resets any per-read timeout; only the overall deadline ends it.
    let (sites, at) = sites(port, Duration::from_secs(2));
    let why = unreachable_because(sites.hook_jobs(&at, "system").await);
    assert!(why.contains("did not answer in full within 2s"), "{why}");
    let sent = server.await.expect("server ends");
    assert_eq!(sent.len(), 1, "one call, no retry: {sent:?}");
}

#[tokio::test]
async fn an_announced_oversize_answer_is_refused_before_its_body() {
    let (port, server) = hostile(|mut stream: TcpStream| async move {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n";
        let _ = stream.write_all(head.as_bytes()).await;
        // Then nothing: the refusal must not wait for the body.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        0
    })
    .await;
    let (sites, at) = sites(port, Duration::from_secs(60));
    let why = unreachable_because(sites.hook_jobs(&at, "system").await);
    assert!(why.contains(&format!("larger than {CAP} bytes")), "{why}");
    server.await.expect("server ends");
}
