//! The operator's client of its own cluster's API server.
//!
//! kube's client has no read timeout of its own (its watches would break on
//! one), so a call to an API server that stopped answering — a blackholed
//! route, a hung apiserver — would wait forever: the reconcile stuck, and a
//! SIGTERM waiting on it until the kubelet kills the pod. Every call gets a
//! deadline for its answer to begin instead; a watch's answer begins at once
//! and then streams, so watches are unaffected.

use kube::Client;
use kube::client::ClientBuilder;
use std::time::Duration;
use tower::timeout::TimeoutLayer;

/// How long an API call may wait for its answer to begin.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The client from KUBECONFIG or the pod's service account, with [`CALL_TIMEOUT`].
pub async fn infer() -> Result<Client, String> {
    let config = kube::Config::infer()
        .await
        .map_err(|e| format!("cannot reach the Kubernetes API: {e}"))?;
    let builder = ClientBuilder::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))?;
    Ok(bounded(builder))
}

/// `builder`'s client with [`CALL_TIMEOUT`] on every call.
pub fn bounded<S, B>(builder: ClientBuilder<S>) -> Client
where
    S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<tower::BoxError>,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<tower::BoxError>,
{
    builder.with_layer(&TimeoutLayer::new(CALL_TIMEOUT)).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Secret;
    use kube::Api;

    #[tokio::test(start_paused = true)]
    async fn a_call_without_an_answer_fails_at_the_deadline() {
        let silent = tower::service_fn(|_: http::Request<kube::client::Body>| {
            std::future::pending::<Result<http::Response<kube::client::Body>, std::convert::Infallible>>()
        });
        let client = bounded(ClientBuilder::new(silent, "default"));
        let started = tokio::time::Instant::now();
        let result = Api::<Secret>::namespaced(client, "dr").get("x").await;
        assert!(result.is_err(), "{result:?}");
        assert_eq!(started.elapsed(), CALL_TIMEOUT);
    }
}
