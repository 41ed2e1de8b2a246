//! A child resource read into what the DrSite runbook needs: where it is asked
//! to be, where it is writable, whether it has settled, what it waits for.
//!
//! Children are keyed `Kind/name` ([`ChildKind::key`]) everywhere the planner
//! and its journal name them: an AvailabilityGroup and a PersistentChatPool in
//! the same namespace may share a name.

use crate::api::availability_group::{AvailabilityGroup, Phase};
use crate::api::conditions;
use crate::api::dr_site::{ChildRef, DrSiteSpec};
use crate::api::persistent_chat_pool::{PersistentChatPool, PoolPhase};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// The kinds of child a DrSite moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChildKind {
    AvailabilityGroup,
    PersistentChatPool,
}

impl ChildKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AvailabilityGroup => "AvailabilityGroup",
            Self::PersistentChatPool => "PersistentChatPool",
        }
    }

    /// The spec field holding its desired site (the one the DrSite applies).
    pub fn desired_field(self) -> &'static str {
        match self {
            Self::AvailabilityGroup => "spec.primarySite",
            Self::PersistentChatPool => "spec.activeSite",
        }
    }

    /// `Kind/name`: the child's key in [`super::Observed::children`] and [`super::Journal::applied`],
    /// and a `Move` step's target.
    pub fn key(self, name: &str) -> String {
        format!("{}/{name}", self.as_str())
    }

    /// The kind named `kind` (as in a status row).
    pub fn parse(kind: &str) -> Option<Self> {
        [Self::AvailabilityGroup, Self::PersistentChatPool]
            .into_iter()
            .find(|k| k.as_str() == kind)
    }
}

impl std::fmt::Display for ChildKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every child the spec lists, availability groups first, in declaration order.
pub fn listed(spec: &DrSiteSpec) -> impl Iterator<Item = (ChildKind, &ChildRef)> {
    let groups = spec
        .availability_groups
        .iter()
        .map(|c| (ChildKind::AvailabilityGroup, c));
    let pools = spec
        .persistent_chat_pools
        .iter()
        .map(|c| (ChildKind::PersistentChatPool, c));
    groups.chain(pools)
}

/// A child as the runbook sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildObs {
    pub kind: ChildKind,
    /// It exists.
    pub found: bool,
    /// The site its spec asks for.
    pub desired_site: Option<String>,
    /// The site it reports writable at (an AG's observed primary, a pool's active site).
    pub active_site: Option<String>,
    /// Its status describes its current spec and no transition of its own is in flight.
    pub settled: bool,
    /// Its phase, for status.
    pub phase: Option<String>,
    /// Its pending data-loss confirmation: the command that gives it.
    pub confirmation: Option<String>,
    /// The sites it can be active at (an AG's replicas' sites, a pool's two data centers).
    pub sites: Vec<String>,
    /// What is wrong with it (invalid spec, cannot be moved by drover).
    pub problem: Option<String>,
}

impl ChildObs {
    /// A child that does not exist.
    pub fn absent(kind: ChildKind) -> Self {
        Self {
            kind,
            found: false,
            desired_site: None,
            active_site: None,
            settled: false,
            phase: None,
            confirmation: None,
            sites: Vec::new(),
            problem: None,
        }
    }

    /// Writable at `site` and settled there.
    pub fn writable_at(&self, site: &str) -> bool {
        self.found && self.settled && self.active_site.as_deref() == Some(site)
    }
}

/// Whether a status computed for `observed` describes the object's `generation`.
fn current(observed: Option<i64>, generation: Option<i64>) -> bool {
    match (observed, generation) {
        (Some(seen), Some(generation)) => seen >= generation,
        // Without generations (objects built in memory) the status is taken as current.
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

/// The message of the Invalid condition, or a generic one.
fn invalid_message(conditions: &[Condition]) -> String {
    conditions
        .iter()
        .find(|c| c.type_ == conditions::INVALID)
        .map_or_else(|| "its spec is invalid".to_string(), |c| c.message.clone())
}

/// An AvailabilityGroup (or its absence) as a child.
pub fn from_availability_group(ag: Option<&AvailabilityGroup>) -> ChildObs {
    let Some(ag) = ag else {
        return ChildObs::absent(ChildKind::AvailabilityGroup);
    };
    let status = ag.status.clone().unwrap_or_default();
    let problem = match status.phase {
        Some(Phase::Invalid) => Some(invalid_message(&status.conditions)),
        Some(Phase::Unmanaged)
            if ag
                .spec
                .primary_site
                .as_deref()
                .is_some_and(|desired| status.primary_site.as_deref() != Some(desired)) =>
        {
            Some("cluster type EXTERNAL: drover does not move it; its cluster manager must".to_string())
        }
        _ => None,
    };
    let settled = current(status.observed_generation, ag.metadata.generation)
        && status.transition.is_none()
        && (matches!(status.phase, Some(Phase::Steady | Phase::Degraded | Phase::Unmanaged))
            // Serving at its desired site; only the returning old primary's resume waits on a person.
            || (status.phase == Some(Phase::AwaitingConfirmation) && status.discard_confirmation.is_some()));
    ChildObs {
        kind: ChildKind::AvailabilityGroup,
        found: true,
        desired_site: ag.spec.primary_site.clone(),
        active_site: status.primary_site.clone(),
        settled,
        phase: status.phase.map(|p| format!("{p:?}")),
        confirmation: status
            .confirmation
            .as_ref()
            .map(|c| c.command.clone())
            .or_else(|| status.discard_confirmation.as_ref().map(|c| c.command.clone())),
        sites: ag.spec.replicas.iter().map(|r| r.site.clone()).collect(),
        problem,
    }
}

/// A PersistentChatPool (or its absence) as a child.
pub fn from_persistent_chat_pool(pool: Option<&PersistentChatPool>) -> ChildObs {
    let Some(pool) = pool else {
        return ChildObs::absent(ChildKind::PersistentChatPool);
    };
    let status = pool.status.clone().unwrap_or_default();
    let problem = match status.phase {
        Some(PoolPhase::Invalid) => Some(invalid_message(&status.conditions)),
        _ => None,
    };
    let settled = current(status.observed_generation, pool.metadata.generation)
        && status.transition.is_none()
        && matches!(status.phase, Some(PoolPhase::Steady | PoolPhase::Degraded));
    ChildObs {
        kind: ChildKind::PersistentChatPool,
        found: true,
        desired_site: pool.spec.active_site.clone(),
        active_site: status.active_site.clone(),
        settled,
        phase: status.phase.map(|p| p.as_str().to_string()),
        confirmation: status
            .confirmation
            .as_ref()
            .map(|c| c.command.clone())
            .or_else(|| status.discard_confirmation.as_ref().map(|c| c.command.clone())),
        sites: vec![pool.spec.primary.site.clone(), pool.spec.backup.site.clone()],
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::availability_group::ConfirmationRequest;
    use crate::api::persistent_chat_pool::{PersistentChatPoolStatus, PoolTransition, PoolTransitionKind};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// The fixture pool (sites `site-a`, `site-b`) asking for `site-b`, at generation 3.
    fn pool(status: Option<PersistentChatPoolStatus>) -> PersistentChatPool {
        let mut pool = crate::api::dr_site::fixtures::chat_pool("dr", "pchat", "site-b");
        pool.metadata.generation = Some(3);
        pool.status = status;
        pool
    }

    fn status(phase: PoolPhase) -> PersistentChatPoolStatus {
        PersistentChatPoolStatus {
            observed_generation: Some(3),
            active_site: Some("site-b".into()),
            phase: Some(phase),
            ..PersistentChatPoolStatus::default()
        }
    }

    #[test]
    fn a_steady_pool_is_writable_at_its_active_site() {
        let obs = from_persistent_chat_pool(Some(&pool(Some(status(PoolPhase::Steady)))));
        assert_eq!(
            obs,
            ChildObs {
                kind: ChildKind::PersistentChatPool,
                found: true,
                desired_site: Some("site-b".into()),
                active_site: Some("site-b".into()),
                settled: true,
                phase: Some("Steady".into()),
                confirmation: None,
                sites: vec!["site-a".into(), "site-b".into()],
                problem: None,
            }
        );
        assert!(obs.writable_at("site-b") && !obs.writable_at("site-a"));
        // Degraded at the right site still counts: the database is writable there.
        assert!(from_persistent_chat_pool(Some(&pool(Some(status(PoolPhase::Degraded))))).writable_at("site-b"));
    }

    #[test]
    fn a_pool_is_not_settled_while_its_status_is_stale_or_a_runbook_runs() {
        let mut stale = status(PoolPhase::Steady);
        stale.observed_generation = Some(2);
        assert!(!from_persistent_chat_pool(Some(&pool(Some(stale)))).settled);
        let mut running = status(PoolPhase::Steady);
        running.transition = Some(PoolTransition {
            kind: PoolTransitionKind::Failback,
            from_site: "site-b".into(),
            to_site: "site-a".into(),
            started_at: Time(jiff::Timestamp::UNIX_EPOCH),
            attempt: 1,
            steps: vec![],
            confirmed_token: None,
            last_applied_backup: None,
            applied_backups: 0,
            kept_backup: None,
            discard_confirmed: None,
        });
        assert!(!from_persistent_chat_pool(Some(&pool(Some(running)))).settled);
        for phase in [
            PoolPhase::Switchover,
            PoolPhase::Failover,
            PoolPhase::Failback,
            PoolPhase::AwaitingConfirmation,
            PoolPhase::Waiting,
            PoolPhase::Suspended,
        ] {
            let obs = from_persistent_chat_pool(Some(&pool(Some(status(phase)))));
            assert!(!obs.settled, "{phase:?}");
            assert_eq!(obs.phase.as_deref(), Some(phase.as_str()));
        }
        // No status yet: nothing is known.
        let fresh = from_persistent_chat_pool(Some(&pool(None)));
        assert!(fresh.found && !fresh.settled && fresh.active_site.is_none());
    }

    #[test]
    fn a_pool_awaiting_confirmation_carries_its_command() {
        let mut waiting = status(PoolPhase::AwaitingConfirmation);
        waiting.active_site = None;
        waiting.confirmation = Some(ConfirmationRequest {
            token: "t0k".into(),
            target: "sql2".into(),
            known_loss_seconds: None,
            unknown_since: None,
            command: "kubectl annotate pchat pchat drover.dev/confirm-data-loss=t0k".into(),
            issued: None,
        });
        let obs = from_persistent_chat_pool(Some(&pool(Some(waiting))));
        assert_eq!(
            obs.confirmation.as_deref(),
            Some("kubectl annotate pchat pchat drover.dev/confirm-data-loss=t0k")
        );
        assert!(!obs.writable_at("site-b"));
    }

    #[test]
    fn a_pool_waiting_to_discard_the_old_primarys_data_carries_that_command() {
        let mut waiting = status(PoolPhase::AwaitingConfirmation);
        waiting.active_site = None;
        waiting.discard_confirmation = Some(crate::api::confirmation::DiscardRequest {
            token: "d15c".into(),
            replica: "sql1".into(),
            databases: vec![],
            message: "restoring over mgc discards …".into(),
            command: "kubectl annotate pchat pchat -n chat drover.dev/confirm-discard=d15c --overwrite".into(),
            issued: None,
        });
        let obs = from_persistent_chat_pool(Some(&pool(Some(waiting))));
        assert_eq!(
            obs.confirmation.as_deref(),
            Some("kubectl annotate pchat pchat -n chat drover.dev/confirm-discard=d15c --overwrite")
        );
        assert!(!obs.settled);
    }

    #[test]
    fn an_invalid_pool_says_why_and_a_missing_one_is_not_found() {
        let mut invalid = status(PoolPhase::Invalid);
        invalid.conditions = vec![Condition {
            type_: conditions::INVALID.into(),
            status: "True".into(),
            reason: "InvalidSpec".into(),
            message: "spec.chatDatabase: \"a]b\" is not a database name".into(),
            last_transition_time: Time(jiff::Timestamp::UNIX_EPOCH),
            observed_generation: Some(3),
        }];
        let obs = from_persistent_chat_pool(Some(&pool(Some(invalid))));
        assert_eq!(
            obs.problem.as_deref(),
            Some("spec.chatDatabase: \"a]b\" is not a database name")
        );
        let bare = from_persistent_chat_pool(Some(&pool(Some(status(PoolPhase::Invalid)))));
        assert_eq!(bare.problem.as_deref(), Some("its spec is invalid"));

        let missing = from_persistent_chat_pool(None);
        assert_eq!(missing, ChildObs::absent(ChildKind::PersistentChatPool));
        assert!(!missing.found && !missing.writable_at("site-b"));
    }

    #[test]
    fn children_are_keyed_by_kind_and_name() {
        assert_eq!(ChildKind::AvailabilityGroup.key("cc"), "AvailabilityGroup/cc");
        assert_eq!(ChildKind::PersistentChatPool.key("cc"), "PersistentChatPool/cc");
        for kind in [ChildKind::AvailabilityGroup, ChildKind::PersistentChatPool] {
            assert_eq!(ChildKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChildKind::parse("Deployment"), None);
        let mut spec = crate::api::dr_site::fixtures::spec();
        spec.persistent_chat_pools.push(ChildRef { name: "ag1".into() });
        let keys: Vec<String> = listed(&spec).map(|(k, c)| k.key(&c.name)).collect();
        assert_eq!(keys, ["AvailabilityGroup/ag1", "PersistentChatPool/ag1"]);
    }
}
