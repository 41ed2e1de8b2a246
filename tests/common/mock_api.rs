//! A mocked Kubernetes API server (tower-test), in the style of controller-rs's
//! `ApiServerVerifier`: a scenario takes the requests one at a time, checks
//! them and answers each with a canned response. A request that never comes
//! fails the scenario by timeout; a surplus request fails because the mock is
//! closed once the scenario ends. Every request is also checked against the
//! RBAC catalogue ([`drover::controller::rbac`]) the Helm chart grants.

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::task::JoinHandle;
use tower_test::mock::{self, Handle};

pub type ApiHandle = Handle<Request<Body>, Response<Body>>;

/// A client whose every request goes to the returned handle.
pub fn mock_client() -> (kube::Client, ApiHandle) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    (kube::Client::new(service, "default"), handle)
}

/// One request as the API server saw it.
pub struct Seen {
    pub method: Method,
    /// Path and query, exactly as sent.
    pub uri: String,
    pub content_type: Option<String>,
    /// The body parsed as JSON (`Null` when empty).
    pub body: Value,
    pub respond: mock::SendResponse<Response<Body>>,
}

impl Seen {
    pub fn reply(self, status: StatusCode, body: &Value) {
        let response = Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(body).expect("response serializes")))
            .expect("response builds");
        self.respond.send_response(response);
    }

    pub fn ok(self, body: &Value) {
        self.reply(StatusCode::OK, body);
    }

    /// A `Status` failure as the API server sends it.
    pub fn fail(self, code: u16, reason: &str, message: &str) {
        let status = StatusCode::from_u16(code).expect("a status code");
        self.reply(
            status,
            &json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code
            }),
        );
    }

    /// A non-JSON answer, as a proxy or load balancer in front of the API server gives.
    pub fn text(self, code: u16, text: &str) {
        let response = Response::builder()
            .status(StatusCode::from_u16(code).expect("a status code"))
            .header("content-type", "text/html")
            .body(Body::from(text.as_bytes().to_vec()))
            .expect("response builds");
        self.respond.send_response(response);
    }
}

/// The mocked API server's side: hands out requests one at a time.
pub struct ApiServer {
    pub handle: ApiHandle,
    /// How long to wait for each expected request.
    pub patience: Duration,
}

impl ApiServer {
    pub fn new(handle: ApiHandle) -> Self {
        Self {
            handle,
            patience: Duration::from_secs(10),
        }
    }

    /// The next request; panics if none comes within `patience`.
    pub async fn next(&mut self, expected: &str) -> Seen {
        let (request, respond) = tokio::time::timeout(self.patience, self.handle.next_request())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {expected}"))
            .unwrap_or_else(|| panic!("the client went away before {expected}"));
        let method = request.method().clone();
        let uri = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        // Every request an adapter sends must be one the chart's RBAC grants.
        if let Err(e) = drover::controller::rbac::permitted(method.as_str(), &uri) {
            panic!("{expected}: {e}");
        }
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().expect("ASCII content-type").to_string());
        let bytes = request.into_body().collect_bytes().await.expect("request body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{expected}: body is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Seen {
            method,
            uri,
            content_type,
            body,
            respond,
        }
    }

    /// A GET of `uri` (no body).
    pub async fn get(&mut self, uri: &str) -> Seen {
        let seen = self.next(&format!("GET {uri}")).await;
        assert_eq!(seen.method, Method::GET, "{uri}");
        assert_eq!(seen.uri, uri);
        assert_eq!(seen.body, Value::Null, "a GET has no body");
        seen
    }

    /// A forced server-side apply to `uri` of exactly `body`.
    pub async fn apply(&mut self, uri: &str, body: &Value) -> Seen {
        let seen = self.next(&format!("SSA {uri}")).await;
        assert_eq!(seen.method, Method::PATCH, "{uri}");
        assert_eq!(seen.uri, uri);
        assert_eq!(seen.content_type.as_deref(), Some("application/apply-patch+yaml"));
        assert_eq!(&seen.body, body, "the applied object, field for field");
        seen
    }
}

/// Standard base64 without a dependency (only for building canned Secrets).
pub mod base64_free {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
        }
    }
}

/// Starts `scenario` as an API server on `handle`.
pub fn serve<S, F>(handle: ApiHandle, scenario: S) -> JoinHandle<()>
where
    S: FnOnce(ApiServer) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(scenario(ApiServer::new(handle)))
}

/// Waits for a scenario; its panic (a failed check, a request that never came) fails the test.
pub async fn finish(server: JoinHandle<()>) {
    match tokio::time::timeout(Duration::from_secs(30), server).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the API server scenario did not finish: a request never came"),
    }
}

/// Runs `scenario` as the API server, then `work` as the client. Returns what `work` returned;
/// panics (with the scenario's message) if the scenario failed or a request never came.
/// Dropping the server (and its handle) at the end closes the mock: any further request fails.
pub async fn verify<T, S, F>(handle: ApiHandle, scenario: S, work: impl Future<Output = T>) -> T
where
    S: FnOnce(ApiServer) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let server = serve(handle, scenario);
    let out = work.await;
    finish(server).await;
    out
}
