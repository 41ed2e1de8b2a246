//! Each kind's status read into what the metrics need: the transition in
//! progress, a pending confirmation, the last finished transition (with the
//! `type` label its kind maps to) and, for an AvailabilityGroup, its copies.

use crate::api::availability_group::{AvailabilityGroupStatus, TransitionKind as AgKind};
use crate::api::dr_site::{DrSiteStatus, TransitionKind as DrKind};
use crate::api::persistent_chat_pool::{PersistentChatPoolStatus, PoolTransitionKind};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// One object's status as the metrics see it, whatever its kind.
#[derive(Debug, Default, PartialEq)]
pub(super) struct ObjectView {
    /// When the transition in progress started (Unix seconds).
    pub running_since: Option<i64>,
    /// A data-loss (AvailabilityGroup, pool) or site-lost (DrSite) confirmation is asked for.
    pub confirmation_pending: bool,
    /// The last finished transition.
    pub finished: Option<Finished>,
}

/// A finished transition.
#[derive(Debug, PartialEq)]
pub(super) struct Finished {
    /// `planned`, `forced`, `failback` or `start`.
    pub kind: &'static str,
    pub started: i64,
    pub finished: i64,
}

impl Finished {
    fn new(kind: &'static str, started: &Time, finished: &Time) -> Self {
        Self {
            kind,
            started: started.0.as_second(),
            finished: finished.0.as_second(),
        }
    }

    /// What tells two transitions of one object apart (a record is rewritten after it finished,
    /// e.g. when a forced failover's loss is measured).
    pub fn id(&self) -> (i64, i64) {
        (self.started, self.finished)
    }

    pub fn seconds(&self) -> i64 {
        (self.finished - self.started).max(0)
    }
}

/// One database copy of an AvailabilityGroup: (replica, database), its lag and health.
#[derive(Debug, PartialEq)]
pub(super) struct Copy {
    pub id: (String, String),
    pub lag_seconds: Option<i64>,
    pub synchronizing: bool,
}

pub(super) fn ag(status: &AvailabilityGroupStatus) -> ObjectView {
    ObjectView {
        running_since: status.transition.as_ref().map(|t| t.started_at.0.as_second()),
        confirmation_pending: status.confirmation.is_some() || status.discard_confirmation.is_some(),
        finished: status.last_failover.as_ref().map(|f| {
            let kind = match f.kind {
                AgKind::Switchover => "planned",
                AgKind::Failover => "forced",
                AgKind::Failback => "failback",
            };
            Finished::new(kind, &f.started_at, &f.finished_at)
        }),
    }
}

pub(super) fn ag_copies(status: &AvailabilityGroupStatus) -> Vec<Copy> {
    status
        .databases
        .iter()
        .map(|db| Copy {
            id: (db.replica.clone(), db.name.clone()),
            lag_seconds: db.lag_seconds,
            synchronizing: !db.suspended
                && matches!(
                    db.synchronization_state.as_deref(),
                    Some("SYNCHRONIZED" | "SYNCHRONIZING")
                ),
        })
        .collect()
}

pub(super) fn drsite(status: &DrSiteStatus) -> ObjectView {
    ObjectView {
        running_since: status.transition.as_ref().map(|t| t.started_at.0.as_second()),
        confirmation_pending: status.site_lost_confirmation.is_some(),
        finished: status.last_transition.as_ref().map(|t| {
            let kind = match t.kind {
                DrKind::Switchover => "planned",
                DrKind::Failover => "forced",
                DrKind::Failback => "failback",
                DrKind::ColdStart | DrKind::Repair => "start",
            };
            Finished::new(kind, &t.started_at, &t.finished_at)
        }),
    }
}

pub(super) fn pool(status: &PersistentChatPoolStatus) -> ObjectView {
    ObjectView {
        running_since: status.transition.as_ref().map(|t| t.started_at.0.as_second()),
        confirmation_pending: status.confirmation.is_some() || status.discard_confirmation.is_some(),
        finished: status.last_transition.as_ref().map(|t| {
            let kind = match t.kind {
                PoolTransitionKind::Switchover => "planned",
                PoolTransitionKind::Failover => "forced",
                PoolTransitionKind::Failback => "failback",
            };
            Finished::new(kind, &t.started_at, &t.finished_at)
        }),
    }
}
