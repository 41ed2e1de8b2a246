//! A crash in the middle of a reconcile, for the chaos runners: the future dropped unfinished.

use std::task::Poll;

/// Polls `fut` at most `polls` times: `None` when it was dropped unfinished, as a crash there
/// would leave it.
pub async fn cut<F: Future>(fut: F, polls: u32) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut n = 0;
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(v) => Poll::Ready(Some(v)),
        Poll::Pending => {
            n += 1;
            if n >= polls { Poll::Ready(None) } else { Poll::Pending }
        }
    })
    .await
}
