//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go does it:
//! the leader renews every `retry_period`; it stops acting `renew_deadline`
//! after the start of its last successful renewal; a follower takes the
//! Lease only once it has seen the same record, unchanged, for
//! `lease_duration` by its own clock. Because `renew_deadline <
//! lease_duration`, a leader that cannot renew (API server unreachable,
//! partitioned, paused) has stopped acting before anyone else may start.
//!
//! Every deadline is a local monotonic [`Instant`] (tokio's, so tests run on a
//! paused clock); the wall-clock times written to the Lease are for people
//! reading it, never compared across machines. Updates carry the
//! resourceVersion read, so two candidates racing for a free Lease cannot
//! both win: the API server answers the loser 409.
//!
//! (kube-lease-manager, which the design brief names, was tried first: its
//! leader keeps reporting leadership while renewals fail, and its expiry is
//! judged on `SystemTime`. Neither fits "a leader that cannot renew stops".)

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::PostParams;
use kube::{Api, Client};
use std::future::Future;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The Lease `drover run` elects on unless told otherwise (the Helm chart's Role names it).
pub const DEFAULT_LEASE_NAME: &str = "drover-leader";

/// Which Lease, who we are, and the timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// Unique per process: the pod name and a random suffix.
    pub identity: String,
    /// How long a follower waits on an unchanged record before taking the Lease.
    pub lease_duration: Duration,
    /// How long after the start of its last successful renewal the leader keeps acting.
    pub renew_deadline: Duration,
    /// How often the leader renews and a follower looks.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// client-go's defaults: 15 s, 10 s, 2 s.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>, identity: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The timings keep the two-leaders window closed: deadline shorter than the duration, and
    /// room for more than one renewal attempt before the deadline.
    pub fn check(&self) -> Result<(), String> {
        if self.identity.is_empty() {
            return Err("the leader-election identity is empty".into());
        }
        if self.lease_duration.as_secs() < 1 {
            return Err("the lease duration must be at least 1 s (the Lease stores whole seconds)".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period.saturating_mul(2) > self.renew_deadline {
            return Err(format!(
                "the retry period ({:?}) must be positive and at most half the renew deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// A receiver of this process's claim: cheap to clone, read by every controller.
#[derive(Clone, Debug)]
pub struct Leadership(watch::Receiver<Claim>);

/// Until when this process may act as leader, if it is the leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Claim {
    pub valid_until: Option<Instant>,
}

impl Leadership {
    /// Leading now: the last renewal is recent enough.
    pub fn is_leading(&self) -> bool {
        self.0.borrow().valid_until.is_some_and(|t| Instant::now() < t)
    }

    /// Waits until this process becomes leader (returns at once if it is); `false` if the
    /// elector has stopped.
    pub async fn acquired(&mut self) -> bool {
        loop {
            if self.is_leading() {
                return true;
            }
            if self.0.changed().await.is_err() {
                return false;
            }
        }
    }

    /// Waits until this process stops leading; `false` if the elector has stopped first.
    pub async fn lost(&mut self) -> bool {
        loop {
            let until = self.0.borrow_and_update().valid_until;
            match until {
                None => return true,
                Some(t) if Instant::now() >= t => return true,
                Some(t) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(t) => {}
                        changed = self.0.changed() => if changed.is_err() { return false },
                    }
                }
            }
        }
    }
}

impl Leadership {
    /// One item each time this process becomes leader; ends when the elector stops.
    pub fn gains(self) -> impl futures::Stream<Item = ()> + Send {
        futures::stream::unfold((self, false), |(mut leadership, leading)| async move {
            if leading && !leadership.lost().await {
                return None;
            }
            if !leadership.acquired().await {
                return None;
            }
            Some(((), (leadership, true)))
        })
    }
}

/// Runs the election loop for one process.
pub struct Elector {
    api: Api<Lease>,
    config: LeaseConfig,
    claim: watch::Sender<Claim>,
    /// The record last read (its resourceVersion) and when it was first seen as it is.
    observed: Option<(String, Instant)>,
}

/// Why a Lease call failed.
#[derive(Debug, thiserror::Error)]
enum LeaseError {
    #[error(transparent)]
    Kubernetes(#[from] kube::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// An elector and the handle controllers read. Nothing happens until [`Elector::run`].
pub fn elector(client: Client, config: LeaseConfig) -> (Elector, Leadership) {
    let (claim, receiver) = watch::channel(Claim::default());
    let api = Api::namespaced(client, &config.namespace);
    (
        Elector {
            api,
            config,
            claim,
            observed: None,
        },
        Leadership(receiver),
    )
}

impl Elector {
    /// Campaigns and renews until `release` completes, then hands the Lease back (if held) so a
    /// follower takes over at its next look rather than after a full lease duration.
    pub async fn run(mut self, release: impl Future<Output = ()>) {
        tokio::pin!(release);
        loop {
            self.round().await;
            tokio::select! {
                _ = &mut release => break,
                _ = tokio::time::sleep(self.config.retry_period) => {}
            }
        }
        // Stop acting first: nothing may start between now and the hand-back.
        self.publish(None);
        match tokio::time::timeout(self.config.renew_deadline, self.release()).await {
            Ok(Ok(true)) => tracing::info!(lease = %self.config.name, "released the leader lease"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not release the leader lease; it expires on its own"),
            Err(_) => tracing::warn!("releasing the leader lease timed out; it expires on its own"),
        }
    }

    /// One attempt to take or renew the Lease.
    async fn round(&mut self) {
        let started = Instant::now();
        let was_leading = self.claim.borrow().valid_until.is_some_and(|t| started < t);
        let limit = self.config.renew_deadline;
        let outcome = tokio::time::timeout(limit, self.try_acquire_or_renew())
            .await
            .unwrap_or(Err(LeaseError::Timeout(limit)));
        match outcome {
            Ok(true) => {
                if !was_leading {
                    tracing::info!(identity = %self.config.identity, lease = %self.config.name, "became leader");
                }
                self.publish(Some(started + self.config.renew_deadline));
            }
            Ok(false) => {
                if was_leading {
                    tracing::warn!(identity = %self.config.identity, "another process holds the leader lease: stopped acting");
                }
                self.publish(None);
            }
            Err(e) => {
                // The claim runs out by itself at its deadline; say so when it has.
                let valid_until = self.claim.borrow().valid_until;
                if let Some(t) = valid_until
                    && Instant::now() >= t
                {
                    tracing::warn!(error = %e, "could not renew the leader lease within the renew deadline: stopped acting");
                    self.publish(None);
                } else {
                    tracing::warn!(error = %e, "leader lease call failed");
                }
            }
        }
    }

    fn publish(&self, valid_until: Option<Instant>) {
        self.claim.send_if_modified(|c| {
            let changed = c.valid_until != valid_until;
            c.valid_until = valid_until;
            changed
        });
    }

    /// `Ok(true)` when this process holds the Lease after the call.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaseError> {
        let now = MicroTime(jiff::Timestamp::now());
        let Some(current) = self.api.get_opt(&self.config.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.config.name.clone()),
                    namespace: Some(self.config.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.config.identity.clone()),
                    lease_duration_seconds: Some(self.config.duration_seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(true)
                }
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e.into()),
            };
        };
        let seen_at = self.observe(&current);
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let mine = holder == Some(self.config.identity.as_str());
        if holder.is_some() && !mine {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.config.lease_duration, Duration::from_secs);
            if Instant::now() < seen_at + duration {
                return Ok(false);
            }
            tracing::info!(holder = ?holder, "the leader lease was not renewed for its duration: taking it");
        }
        let mut lease = current;
        lease.spec = Some(LeaseSpec {
            holder_identity: Some(self.config.identity.clone()),
            lease_duration_seconds: Some(self.config.duration_seconds()),
            acquire_time: if mine { spec.acquire_time } else { Some(now.clone()) },
            renew_time: Some(now),
            // As client-go counts: every change of holder, a released lease's taking included.
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0) + i32::from(!mine)),
            ..spec
        });
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observe(&updated);
                Ok(true)
            }
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Notes `lease` as seen; when its record was first seen as it is now.
    fn observe(&mut self, lease: &Lease) -> Instant {
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        match &self.observed {
            Some((v, at)) if *v == version => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((version, at));
                at
            }
        }
    }

    /// Empties the holder if it is this process. `Ok(true)` if it did.
    async fn release(&mut self) -> Result<bool, LeaseError> {
        let Some(mut lease) = self.api.get_opt(&self.config.name).await? else {
            return Ok(false);
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(false);
        };
        if spec.holder_identity.as_deref() != Some(self.config.identity.as_str()) {
            return Ok(false);
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(jiff::Timestamp::now()));
        match self
            .api
            .replace(&self.config.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_that_could_allow_two_leaders_are_refused() {
        let ok = LeaseConfig::new("ns", "drover", "me");
        assert_eq!(ok.check(), Ok(()));
        let mut c = ok.clone();
        c.renew_deadline = c.lease_duration;
        assert!(c.check().unwrap_err().contains("renew deadline"));
        let mut c = ok.clone();
        c.retry_period = Duration::from_secs(6);
        assert!(c.check().unwrap_err().contains("retry period"));
        let mut c = ok.clone();
        c.identity.clear();
        assert!(c.check().is_err());
        let mut c = ok;
        c.lease_duration = Duration::from_millis(500);
        assert!(c.check().is_err());
    }
}
