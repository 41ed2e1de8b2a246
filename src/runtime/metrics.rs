//! The operator's Prometheus metrics: one [`Registry`] per process, shared by
//! the controllers through [`super::Shared`] and served by [`super::http`].
//!
//! Controllers report three things and nothing else: a reconcile's outcome
//! ([`Metrics::reconciled`]), a step's outcome ([`Metrics::step`]), and the
//! status a reconcile left ([`Metrics::observe_ag`], [`Metrics::observe_drsite`],
//! [`Metrics::observe_pool`]). Everything derived from status — transitions
//! finished, per-object gauges, when a series must disappear — is decided here
//! ([`status`] reads each kind's status into one shape).

mod status;
#[cfg(test)]
mod tests;

use crate::api::availability_group::AvailabilityGroupStatus;
use crate::api::dr_site::DrSiteStatus;
use crate::api::persistent_chat_pool::PersistentChatPoolStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use status::{Copy, Finished, ObjectView};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

/// The resource kinds drover reconciles; the `kind` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    AvailabilityGroup,
    DrSite,
    PersistentChatPool,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AvailabilityGroup => "AvailabilityGroup",
            Self::DrSite => "DrSite",
            Self::PersistentChatPool => "PersistentChatPool",
        }
    }
}

/// Reconciles take milliseconds when nothing is due and up to the SQL long-command timeout.
const RECONCILE_BUCKETS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// A switchover takes seconds; a failback with backups and component restarts can take hours.
const TRANSITION_BUCKETS: [f64; 12] = [
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
    error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    kind: &'static str,
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabels {
    kind: &'static str,
    step: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    kind: &'static str,
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AgLabels {
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CopyLabels {
    namespace: String,
    name: String,
    replica: String,
    database: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// What this process remembers about one object's series, so they can be removed.
#[derive(Debug, Default)]
struct Seen {
    /// The last finished transition counted (`startedAt`, `finishedAt`): a status rewritten from
    /// a stale cache must not count it twice.
    counted: Option<(i64, i64)>,
    /// AvailabilityGroups: the (replica, database) copies with series.
    copies: BTreeSet<(String, String)>,
}

type ObjectKey = (Kind, String, String);

/// The registry and every metric family drover exposes.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<KindLabels, Counter>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    reconcile_duration: HistogramFamily<KindLabels>,
    transitions: Family<TransitionLabels, Counter>,
    transition_duration: HistogramFamily<TransitionLabels>,
    transition_started: Family<ObjectLabels, Gauge>,
    steps: Family<StepLabels, Counter>,
    confirmations: Family<ObjectLabels, Gauge>,
    ag_data_loss: Family<AgLabels, Gauge>,
    ag_lag: Family<CopyLabels, Gauge>,
    ag_synchronizing: Family<CopyLabels, Gauge>,
    leader: Gauge,
    invalid_objects: Family<KindLabels, Counter>,
    seen: Mutex<HashMap<ObjectKey, Seen>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry holding every family (names without a prefix: they start with `drover_`).
    pub fn new() -> Self {
        let metrics = Self {
            registry: Registry::default(),
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(|| Histogram::new(RECONCILE_BUCKETS)),
            transitions: Family::default(),
            transition_duration: Family::new_with_constructor(|| Histogram::new(TRANSITION_BUCKETS)),
            transition_started: Family::default(),
            steps: Family::default(),
            confirmations: Family::default(),
            ag_data_loss: Family::default(),
            ag_lag: Family::default(),
            ag_synchronizing: Family::default(),
            leader: Gauge::default(),
            invalid_objects: Family::default(),
            seen: Mutex::default(),
        };
        metrics.registered()
    }

    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "drover_reconciles",
            "Reconciles run (a follower's skipped ones are not counted)",
            self.reconciles.clone(),
        );
        r.register(
            "drover_reconcile_errors",
            "Reconciles that ended in an error, by error",
            self.reconcile_errors.clone(),
        );
        r.register_with_unit(
            "drover_reconcile_duration",
            "How long a reconcile took",
            Unit::Seconds,
            self.reconcile_duration.clone(),
        );
        r.register(
            "drover_transitions",
            "Transitions finished, by type (planned, forced, failback, start)",
            self.transitions.clone(),
        );
        r.register_with_unit(
            "drover_transition_duration",
            "How long a finished transition took, from its journaled start to its end",
            Unit::Seconds,
            self.transition_duration.clone(),
        );
        r.register_with_unit(
            "drover_transition_started_timestamp",
            "When the object's transition in progress started (present only while it runs)",
            Unit::Seconds,
            self.transition_started.clone(),
        );
        r.register(
            "drover_steps",
            "Runbook steps executed, by action and outcome",
            self.steps.clone(),
        );
        r.register(
            "drover_confirmations_pending",
            "1 while a person is asked to confirm a data loss or a lost site",
            self.confirmations.clone(),
        );
        r.register_with_unit(
            "drover_ag_estimated_data_loss",
            "Seconds of commits a forced failover would lose now, as far as drover knows",
            Unit::Seconds,
            self.ag_data_loss.clone(),
        );
        r.register_with_unit(
            "drover_ag_synchronization_lag",
            "How far a secondary copy's last commit is behind the primary's",
            Unit::Seconds,
            self.ag_lag.clone(),
        );
        r.register(
            "drover_ag_database_synchronizing",
            "1 if the copy is SYNCHRONIZED or SYNCHRONIZING and not suspended, else 0",
            self.ag_synchronizing.clone(),
        );
        r.register(
            "drover_leader",
            "1 while this process holds the leader lease",
            self.leader.clone(),
        );
        r.register(
            "drover_invalid_objects",
            "Objects drover could not read (skipped and reported Invalid), counted once per object and error",
            self.invalid_objects.clone(),
        );
        self
    }

    /// The OpenMetrics text exposition, ending with `# EOF`.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail; a label value that could break the format is escaped.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode the metrics");
        }
        out
    }

    /// Whether this process leads (set by the leader election). A follower does not reconcile, so
    /// the per-object gauges it would keep are dropped rather than left to go stale beside the
    /// leader's.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
        if !leading {
            self.transition_started.clear();
            self.confirmations.clear();
            self.ag_data_loss.clear();
            self.ag_lag.clear();
            self.ag_synchronizing.clear();
            crate::sync::lock(&self.seen).clear();
        }
    }

    /// An object of `kind` that does not deserialize was skipped and reported.
    pub fn invalid_object(&self, kind: Kind) {
        self.invalid_objects
            .get_or_create(&KindLabels { kind: kind.as_str() })
            .inc();
    }

    /// One reconcile that passed the gate: its duration and, if it failed, the error's label.
    pub fn reconciled(&self, kind: Kind, took: Duration, error: Option<&'static str>) {
        let labels = KindLabels { kind: kind.as_str() };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
        if let Some(error) = error {
            self.reconcile_errors
                .get_or_create(&ErrorLabels {
                    kind: kind.as_str(),
                    error,
                })
                .inc();
        }
    }

    /// One step executed: `step` is the action kind (`planned_failover`, `scale`, …).
    pub fn step(&self, kind: Kind, step: &'static str, ok: bool) {
        self.steps
            .get_or_create(&StepLabels {
                kind: kind.as_str(),
                step,
                outcome: if ok { "ok" } else { "failed" },
            })
            .inc();
    }

    /// What an AvailabilityGroup's reconcile left in status (`previous`: what it started from).
    pub fn observe_ag(
        &self,
        namespace: &str,
        name: &str,
        previous: &AvailabilityGroupStatus,
        status: &AvailabilityGroupStatus,
    ) {
        let key = (Kind::AvailabilityGroup, namespace.to_string(), name.to_string());
        self.observe(&key, &status::ag(previous), &status::ag(status));
        let labels = AgLabels {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        match status.estimated_data_loss_seconds {
            Some(seconds) => {
                self.ag_data_loss.get_or_create(&labels).set(seconds);
            }
            None => {
                self.ag_data_loss.remove(&labels);
            }
        }
        self.observe_copies(&key, &status::ag_copies(status));
    }

    /// What a DrSite's reconcile left in status.
    pub fn observe_drsite(&self, namespace: &str, name: &str, previous: &DrSiteStatus, status: &DrSiteStatus) {
        let key = (Kind::DrSite, namespace.to_string(), name.to_string());
        self.observe(&key, &status::drsite(previous), &status::drsite(status));
    }

    /// What a PersistentChatPool's reconcile left in status.
    pub fn observe_pool(
        &self,
        namespace: &str,
        name: &str,
        previous: &PersistentChatPoolStatus,
        status: &PersistentChatPoolStatus,
    ) {
        let key = (Kind::PersistentChatPool, namespace.to_string(), name.to_string());
        self.observe(&key, &status::pool(previous), &status::pool(status));
    }

    /// The object is gone: drop every series that names it.
    pub fn forget(&self, kind: Kind, namespace: &str, name: &str) {
        let key = (kind, namespace.to_string(), name.to_string());
        let labels = object_labels(&key);
        self.transition_started.remove(&labels);
        self.confirmations.remove(&labels);
        if kind == Kind::AvailabilityGroup {
            self.observe_copies(&key, &[]);
            self.ag_data_loss.remove(&AgLabels {
                namespace: key.1.clone(),
                name: key.2.clone(),
            });
        }
        crate::sync::lock(&self.seen).remove(&key);
    }

    /// The series every kind has: a finished transition, the one in progress, a pending confirmation.
    fn observe(&self, key: &ObjectKey, previous: &ObjectView, now: &ObjectView) {
        let labels = object_labels(key);
        match now.running_since {
            Some(started) => {
                self.transition_started.get_or_create(&labels).set(started);
            }
            None => {
                self.transition_started.remove(&labels);
            }
        }
        if now.confirmation_pending {
            self.confirmations.get_or_create(&labels).set(1);
        } else {
            self.confirmations.remove(&labels);
        }
        if let Some(finished) = &now.finished
            && previous.finished.as_ref().map(Finished::id) != Some(finished.id())
            && self.newly_counted(key, finished.id())
        {
            let labels = TransitionLabels {
                kind: key.0.as_str(),
                r#type: finished.kind,
            };
            self.transitions.get_or_create(&labels).inc();
            self.transition_duration
                .get_or_create(&labels)
                .observe(finished.seconds() as f64);
        }
    }

    /// Records `id` as the object's last counted transition; false if it already was.
    fn newly_counted(&self, key: &ObjectKey, id: (i64, i64)) -> bool {
        let mut seen = crate::sync::lock(&self.seen);
        let entry = seen.entry(key.clone()).or_default();
        let new = entry.counted != Some(id);
        entry.counted = Some(id);
        new
    }

    /// Sets the per-copy gauges of an AvailabilityGroup and removes those of copies no longer in status.
    fn observe_copies(&self, key: &ObjectKey, copies: &[Copy]) {
        let labels = |(replica, database): &(String, String)| CopyLabels {
            namespace: key.1.clone(),
            name: key.2.clone(),
            replica: replica.clone(),
            database: database.clone(),
        };
        for copy in copies {
            let labels = labels(&copy.id);
            match copy.lag_seconds {
                Some(lag) => {
                    self.ag_lag.get_or_create(&labels).set(lag);
                }
                None => {
                    self.ag_lag.remove(&labels);
                }
            }
            self.ag_synchronizing
                .get_or_create(&labels)
                .set(i64::from(copy.synchronizing));
        }
        let now: BTreeSet<_> = copies.iter().map(|c| c.id.clone()).collect();
        let gone: Vec<_> = {
            let mut seen = crate::sync::lock(&self.seen);
            let entry = seen.entry(key.clone()).or_default();
            let gone = entry.copies.difference(&now).cloned().collect();
            entry.copies = now;
            gone
        };
        for id in &gone {
            let labels = labels(id);
            self.ag_lag.remove(&labels);
            self.ag_synchronizing.remove(&labels);
        }
    }
}

fn object_labels((kind, namespace, name): &ObjectKey) -> ObjectLabels {
    ObjectLabels {
        kind: kind.as_str(),
        namespace: namespace.clone(),
        name: name.clone(),
    }
}
