//! Readiness: the process is ready once every watch it started has listed
//! its objects once. Each watch takes a ticket when it is set up and punches
//! it on its first complete list (the watcher's `InitDone`).

use futures::{Stream, StreamExt};
use kube::runtime::watcher;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Shared by every watch of the process; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    registered: Arc<AtomicUsize>,
    synced: Arc<AtomicUsize>,
}

impl Readiness {
    /// All watches registered so far have listed once (and there is at least one).
    pub fn is_ready(&self) -> bool {
        let registered = self.registered.load(Ordering::Acquire);
        registered > 0 && self.synced.load(Ordering::Acquire) >= registered
    }

    /// (watches synced, watches registered), for the readiness endpoint's message.
    pub fn progress(&self) -> (usize, usize) {
        (
            self.synced.load(Ordering::Acquire),
            self.registered.load(Ordering::Acquire),
        )
    }

    /// `events` (a watcher's stream), counted as one watch that is synced at its first `InitDone`.
    pub fn track<K, S>(
        &self,
        events: S,
    ) -> impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + use<K, S>
    where
        K: Send + 'static,
        S: Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    {
        self.registered.fetch_add(1, Ordering::AcqRel);
        let synced = self.synced.clone();
        let mut pending = true;
        events.inspect(move |event| {
            if pending && matches!(event, Ok(watcher::Event::InitDone)) {
                pending = false;
                synced.fetch_add(1, Ordering::AcqRel);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::stream;

    #[tokio::test]
    async fn ready_once_every_watch_listed_once() {
        let readiness = Readiness::default();
        assert!(!readiness.is_ready(), "nothing registered is not ready");
        let a = readiness.track(stream::iter(vec![
            Ok::<_, watcher::Error>(watcher::Event::<u8>::Init),
            Ok(watcher::Event::InitDone),
            Ok(watcher::Event::Init),
            Ok(watcher::Event::InitDone),
        ]));
        let b = readiness.track(stream::iter(vec![
            Ok::<_, watcher::Error>(watcher::Event::<u8>::Init),
            Ok(watcher::Event::InitDone),
        ]));
        let c = readiness.track(stream::iter(vec![Ok::<_, watcher::Error>(watcher::Event::<u8>::Init)]));
        assert_eq!(readiness.progress(), (0, 3));
        a.collect::<Vec<_>>().await;
        assert_eq!(readiness.progress(), (1, 3), "a relist does not count twice");
        b.collect::<Vec<_>>().await;
        c.collect::<Vec<_>>().await;
        assert!(!readiness.is_ready(), "c never finished its list");
        let late = Readiness::default();
        let only = late.track(stream::iter(vec![Ok::<_, watcher::Error>(
            watcher::Event::<u8>::InitDone,
        )]));
        only.collect::<Vec<_>>().await;
        assert!(late.is_ready());
    }
}
