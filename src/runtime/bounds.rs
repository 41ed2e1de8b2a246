//! An overall deadline and a size cap on every answer of an API server drover does not trust to
//! behave: the API servers of remote sites, reached through a kubeconfig Secret.
//!
//! kube's `Config` timeouts bound each connect, read and write on their own, so an answer that
//! trickles one byte every few seconds never ends, and an answer of any size is collected in
//! memory (a hostile or broken server took the operator from 14 MiB to over 1 GiB). This layer
//! gives the whole call — connecting, the answer's head and every byte of its body — one
//! deadline, and refuses a body larger than a cap (at once when `Content-Length` says so, else
//! as soon as the bytes read pass it). Remote sites are never watched (they are polled), so no
//! long-lived stream goes through it.

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tower::{BoxError, Layer, Service};

/// How long one call to a remote site's API server may take, answer included.
pub const REMOTE_CALL_DEADLINE: Duration = Duration::from_secs(20);
/// The largest answer taken from a remote site's API server: far above what drover asks for (a
/// workload, a few hook Jobs by label), far below the operator's memory limit.
pub const REMOTE_MAX_BODY: usize = 8 * 1024 * 1024;

/// Why an answer was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error("the API server did not answer in full within {0:?} (overall deadline)")]
    Deadline(Duration),
    #[error("the API server's answer is larger than {0} bytes (refused)")]
    TooLarge(usize),
}

/// The layer: `deadline` for the whole call, at most `max_body` bytes of answer.
#[derive(Debug, Clone, Copy)]
pub struct BoundsLayer {
    pub deadline: Duration,
    pub max_body: usize,
}

impl BoundsLayer {
    /// The bounds of remote sites' API servers.
    pub fn remote() -> Self {
        Self {
            deadline: REMOTE_CALL_DEADLINE,
            max_body: REMOTE_MAX_BODY,
        }
    }
}

impl<S> Layer<S> for BoundsLayer {
    type Service = Bounded<S>;

    fn layer(&self, inner: S) -> Bounded<S> {
        Bounded { inner, bounds: *self }
    }
}

/// The service [`BoundsLayer`] makes.
#[derive(Debug, Clone)]
pub struct Bounded<S> {
    inner: S,
    bounds: BoundsLayer,
}

impl<S, Req, B> Service<Request<Req>> for Bounded<S>
where
    S: Service<Request<Req>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<BoundedBody<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<Req>) -> Self::Future {
        let BoundsLayer { deadline, max_body } = self.bounds;
        let end = Instant::now() + deadline;
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = tokio::time::timeout_at(end, answer)
                .await
                .map_err(|_| Refused::Deadline(deadline))?
                .map_err(Into::into)?;
            let announced = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if announced.is_some_and(|n| n > max_body as u64) {
                return Err(Refused::TooLarge(max_body).into());
            }
            Ok(response.map(|body| BoundedBody {
                inner: Box::pin(body),
                deadline: Box::pin(tokio::time::sleep_until(end)),
                after: deadline,
                read: 0,
                max: max_body,
                failed: false,
            }))
        })
    }
}

/// An answer's body that ends in an error at the deadline or past the size cap.
pub struct BoundedBody<B> {
    inner: Pin<Box<B>>,
    deadline: Pin<Box<Sleep>>,
    after: Duration,
    read: usize,
    max: usize,
    failed: bool,
}

impl<B> Body for BoundedBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.failed = true;
            return Poll::Ready(Some(Err(Refused::Deadline(this.after).into())));
        }
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.read = this.read.saturating_add(data.len());
                    if this.read > this.max {
                        this.failed = true;
                        return Poll::Ready(Some(Err(Refused::TooLarge(this.max).into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    type Chunks = http_body_util::StreamBody<futures::stream::BoxStream<'static, Result<Frame<Bytes>, BoxError>>>;

    /// A service answering `chunks` chunks of `chunk` bytes, each after `gap`.
    fn trickle(
        chunks: usize,
        chunk: usize,
        gap: Duration,
    ) -> impl Service<Request<()>, Response = Response<Chunks>, Error = BoxError, Future: Send + 'static> {
        tower::service_fn(move |_: Request<()>| async move {
            let frames = futures::stream::unfold(0usize, move |i| async move {
                if i == chunks {
                    return None;
                }
                tokio::time::sleep(gap).await;
                Some((Ok(Frame::data(Bytes::from(vec![b'x'; chunk]))), i + 1))
            });
            let stream: futures::stream::BoxStream<'static, _> = Box::pin(frames);
            Ok::<_, BoxError>(Response::new(http_body_util::StreamBody::new(stream)))
        })
    }

    async fn collect<S, B>(mut svc: S) -> Result<Bytes, BoxError>
    where
        S: Service<Request<()>, Response = Response<B>, Error = BoxError>,
        B: Body<Data = Bytes, Error = BoxError>,
    {
        let response = svc.call(Request::new(())).await?;
        Ok(response.into_body().collect().await?.to_bytes())
    }

    fn small(deadline: Duration, max_body: usize) -> BoundsLayer {
        BoundsLayer { deadline, max_body }
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_within_the_bounds_passes_whole() {
        let svc = small(Duration::from_secs(10), 1000).layer(trickle(10, 100, Duration::from_millis(10)));
        assert_eq!(collect(svc).await.expect("passes").len(), 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_answer_ends_at_the_deadline() {
        // One byte a second would reset any per-read timeout for ever.
        let svc = small(Duration::from_secs(20), 1 << 20).layer(trickle(usize::MAX, 1, Duration::from_secs(1)));
        let started = Instant::now();
        let error = collect(svc).await.expect_err("refused");
        assert_eq!(started.elapsed(), Duration::from_secs(20));
        assert_eq!(
            error.downcast_ref::<Refused>(),
            Some(&Refused::Deadline(Duration::from_secs(20))),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_endless_answer_is_cut_at_the_cap() {
        let svc = small(Duration::from_secs(3600), 64 * 1024).layer(trickle(usize::MAX, 4096, Duration::ZERO));
        let error = collect(svc).await.expect_err("refused");
        assert_eq!(
            error.downcast_ref::<Refused>(),
            Some(&Refused::TooLarge(64 * 1024)),
            "{error}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_announced_oversize_answer_is_refused_before_its_body() {
        let svc = small(Duration::from_secs(10), 100).layer(tower::service_fn(|_: Request<()>| async {
            let mut r = Response::new(http_body_util::Full::new(Bytes::from_static(b"x")));
            r.headers_mut().insert(
                http::header::CONTENT_LENGTH,
                http::HeaderValue::from_static("1073741824"),
            );
            Ok::<_, BoxError>(r)
        }));
        let mut svc = svc;
        let Err(error) = svc.call(Request::new(())).await else {
            panic!("an announced 1 GiB answer passed")
        };
        assert_eq!(error.downcast_ref::<Refused>(), Some(&Refused::TooLarge(100)));
    }
}
