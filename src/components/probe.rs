//! Liveness probes of servers outside Kubernetes, run from the operator: a TCP
//! connect, or a plain HTTP/1.1 GET. Small enough to write on a socket, so no
//! HTTP client dependency; every probe is bounded by its `timeoutSeconds`.

use crate::api::dr_site::{HttpProbe, Probe, TcpProbe};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most of a response read while looking for its status line.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// `Ok` when the server answers its probe within the timeout; `Err` says why not, e.g.
/// `tcp sql-a:1433: connection refused`, `http://chat-1:8080/health: HTTP 503`,
/// `tcp sql-a:1433: timed out after 2 s`.
pub async fn probe(p: &Probe) -> Result<(), String> {
    let seconds = p.timeout_seconds.max(1);
    let limit = Duration::from_secs(u64::from(seconds));
    let target = match (&p.tcp, &p.http) {
        (Some(tcp), None) => format!("tcp {}", authority(&tcp.host, tcp.port)),
        (None, Some(http)) => format!("http://{}{}", authority(&http.host, http.port), http.path),
        _ => return Err("the probe must give exactly one of tcp and http".to_string()),
    };
    let work = async {
        match (&p.tcp, &p.http) {
            (Some(tcp), _) => tcp_probe(tcp).await,
            (_, Some(http)) => http_probe(http).await,
            (None, None) => Err("no target".to_string()),
        }
    };
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(format!("{target}: {why}")),
        Err(_) => Err(format!("{target}: timed out after {seconds} s")),
    }
}

async fn tcp_probe(tcp: &TcpProbe) -> Result<(), String> {
    check_host(&tcp.host)?;
    TcpStream::connect((tcp.host.as_str(), tcp.port))
        .await
        .map(drop)
        .map_err(|e| io_error(&e))
}

async fn http_probe(http: &HttpProbe) -> Result<(), String> {
    check_host(&http.host)?;
    // The path goes on the request line as given: anything that would break out of it is refused.
    if !http.path.starts_with('/') || http.path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!(
            "the path {:?} must start with '/' and contain no spaces or control characters",
            http.path
        ));
    }
    let mut stream = TcpStream::connect((http.host.as_str(), http.port))
        .await
        .map_err(|e| io_error(&e))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: drover\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        http.path,
        authority(&http.host, http.port)
    );
    stream.write_all(request.as_bytes()).await.map_err(|e| io_error(&e))?;
    let code = read_status(&mut stream).await?;
    if (200..400).contains(&code) {
        Ok(())
    } else {
        Err(format!("HTTP {code}"))
    }
}

/// The status code of the response's first line (`HTTP/1.x NNN reason`).
async fn read_status(stream: &mut TcpStream) -> Result<u16, String> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    let line_end = loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            break i;
        }
        if buf.len() > MAX_STATUS_LINE {
            return Err("no HTTP status line in the first 8 KiB of the response".to_string());
        }
        let n = stream.read(&mut chunk).await.map_err(|e| io_error(&e))?;
        if n == 0 {
            return Err(if buf.is_empty() {
                "the connection was closed without a response".to_string()
            } else {
                format!("not an HTTP response: {:?}", String::from_utf8_lossy(&buf))
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let line = String::from_utf8_lossy(&buf[..line_end]);
    let mut words = line.split(' ');
    let version = words.next().unwrap_or_default();
    let code = words.next().and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(code) if version.starts_with("HTTP/") && (100..600).contains(&code) => Ok(code),
        _ => Err(format!("not an HTTP response: {:?}", truncate(&line, 80))),
    }
}

/// `host:port`, with an IPv6 address in brackets.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A host name goes into the Host header too: no whitespace or control characters.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() || host.bytes().any(|b| b.is_ascii_control() || b.is_ascii_whitespace()) {
        Err(format!("{host:?} is not a host name"))
    } else {
        Ok(())
    }
}

/// The usual causes in plain words; the OS's message otherwise.
fn io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        io::ErrorKind::HostUnreachable => "host unreachable".to_string(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".to_string(),
        _ => e.to_string(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;

    fn tcp(port: u16) -> Probe {
        Probe {
            tcp: Some(TcpProbe {
                host: "127.0.0.1".into(),
                port,
            }),
            http: None,
            timeout_seconds: 2,
        }
    }

    fn http(port: u16, path: &str) -> Probe {
        Probe {
            tcp: None,
            http: Some(HttpProbe {
                host: "127.0.0.1".into(),
                port,
                path: path.into(),
            }),
            timeout_seconds: 2,
        }
    }

    async fn listener() -> (TcpListener, u16) {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let port = l.local_addr().expect("address").port();
        (l, port)
    }

    /// A port nothing listens on (bound, then released).
    async fn closed_port() -> u16 {
        let (l, port) = listener().await;
        drop(l);
        port
    }

    /// Serves one connection: reads the request head, hands it over, answers `response`.
    async fn responder(response: &'static str) -> (u16, oneshot::Receiver<String>) {
        let (l, port) = listener().await;
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.expect("accepts");
            let mut head = Vec::new();
            let mut chunk = [0u8; 512];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut chunk).await.expect("reads");
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&chunk[..n]);
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            s.write_all(response.as_bytes()).await.expect("writes");
            s.shutdown().await.expect("closes");
        });
        (port, rx)
    }

    #[tokio::test]
    async fn tcp_is_alive_when_the_port_accepts() {
        let (l, port) = listener().await;
        let accepted = tokio::spawn(async move { l.accept().await.map(|_| ()) });
        assert_eq!(probe(&tcp(port)).await, Ok(()));
        accepted.await.expect("joins").expect("the probe connected");
    }

    #[tokio::test]
    async fn tcp_to_a_closed_port_is_refused() {
        let port = closed_port().await;
        assert_eq!(
            probe(&tcp(port)).await,
            Err(format!("tcp 127.0.0.1:{port}: connection refused"))
        );
    }

    #[tokio::test]
    async fn http_200_is_alive_and_the_request_is_plain_http_1_1() {
        let (port, request) = responder("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        assert_eq!(probe(&http(port, "/health?deep=1")).await, Ok(()));
        let request = request.await.expect("the request was seen");
        let lines: Vec<&str> = request.split("\r\n").collect();
        assert_eq!(lines[0], "GET /health?deep=1 HTTP/1.1");
        assert!(lines.contains(&format!("Host: 127.0.0.1:{port}").as_str()), "{request}");
        assert!(lines.contains(&"Connection: close"), "{request}");
        assert!(request.ends_with("\r\n\r\n"), "{request:?}");
    }

    #[tokio::test]
    async fn http_3xx_is_alive() {
        let (port, _) = responder("HTTP/1.0 302 Found\r\nLocation: /login\r\n\r\n").await;
        assert_eq!(probe(&http(port, "/")).await, Ok(()));
    }

    #[tokio::test]
    async fn http_503_is_not_alive() {
        let (port, _) = responder("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
        assert_eq!(
            probe(&http(port, "/health")).await,
            Err(format!("http://127.0.0.1:{port}/health: HTTP 503"))
        );
    }

    #[tokio::test]
    async fn http_to_a_closed_port_is_refused() {
        let port = closed_port().await;
        let e = probe(&http(port, "/")).await.expect_err("refused");
        assert!(e.ends_with(": connection refused"), "{e}");
    }

    #[tokio::test]
    async fn something_that_is_not_http_is_not_alive() {
        let (port, _) = responder("SSH-2.0-OpenSSH_9.6\r\n").await;
        let e = probe(&http(port, "/")).await.expect_err("not HTTP");
        assert!(e.contains("not an HTTP response") && e.contains("SSH-2.0"), "{e}");
        let (port, _) = responder("").await;
        let e = probe(&http(port, "/")).await.expect_err("closed");
        assert!(e.contains("closed without a response"), "{e}");
    }

    #[tokio::test]
    async fn a_path_that_would_break_the_request_line_is_refused() {
        for path in ["health", "/a b", "/x\r\nHost: evil"] {
            let e = probe(&http(1, path)).await.expect_err("refused");
            assert!(e.contains("must start with '/'"), "{path:?}: {e}");
        }
    }

    #[tokio::test]
    async fn a_probe_with_both_or_neither_target_is_an_error() {
        let mut both = tcp(1);
        both.http = http(1, "/").http;
        let neither = Probe {
            tcp: None,
            http: None,
            timeout_seconds: 2,
        };
        for p in [both, neither] {
            let e = probe(&p).await.expect_err("invalid");
            assert!(e.contains("exactly one of tcp and http"), "{e}");
        }
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(authority("::1", 8080), "[::1]:8080");
        assert_eq!(authority("chat-1.example", 80), "chat-1.example:80");
    }

    // Paused time: the server accepts and never answers; the clock jumps to the timeout once every
    // task waits, so the test takes no real time and its outcome does not depend on the machine.
    #[tokio::test(start_paused = true)]
    async fn a_server_that_never_answers_times_out() {
        let (l, port) = listener().await;
        let held = tokio::spawn(async move {
            let (s, _) = l.accept().await.expect("accepts");
            std::future::pending::<()>().await;
            drop(s);
        });
        let started = tokio::time::Instant::now();
        assert_eq!(
            probe(&http(port, "/health")).await,
            Err(format!("http://127.0.0.1:{port}/health: timed out after 2 s"))
        );
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "the probe's own timeout, not another"
        );
        held.abort();
    }
}
