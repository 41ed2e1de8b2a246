//! A child resource read into what the DrSite runbook needs: where it is asked
//! to be, where it is writable, whether it has settled, what it waits for.

use crate::api::availability_group::{AvailabilityGroup, Phase};
use crate::api::conditions;

/// A child as the runbook sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChildObs {
    /// `AvailabilityGroup` (later `PersistentChatPool`).
    pub kind: &'static str,
    /// It exists.
    pub found: bool,
    /// The site its spec asks for.
    pub desired_site: Option<String>,
    /// The site it reports writable at (an AG's observed primary).
    pub active_site: Option<String>,
    /// Its status describes its current spec and no transition of its own is in flight.
    pub settled: bool,
    /// Its phase, for status.
    pub phase: Option<String>,
    /// Its pending data-loss confirmation: the command that gives it.
    pub confirmation: Option<String>,
    /// The sites it has a replica at.
    pub sites: Vec<String>,
    /// What is wrong with it (invalid spec, cannot be moved by drover).
    pub problem: Option<String>,
}

impl ChildObs {
    /// Writable at `site` and settled there.
    pub fn writable_at(&self, site: &str) -> bool {
        self.found && self.settled && self.active_site.as_deref() == Some(site)
    }
}

/// An AvailabilityGroup (or its absence) as a child.
pub fn from_availability_group(ag: Option<&AvailabilityGroup>) -> ChildObs {
    let Some(ag) = ag else {
        return ChildObs {
            kind: "AvailabilityGroup",
            ..ChildObs::default()
        };
    };
    let status = ag.status.clone().unwrap_or_default();
    let current = match (status.observed_generation, ag.metadata.generation) {
        (Some(seen), Some(generation)) => seen >= generation,
        // Without generations (objects built in memory) the status is taken as current.
        (_, None) => true,
        (None, Some(_)) => false,
    };
    let problem = match status.phase {
        Some(Phase::Invalid) => Some(
            status
                .conditions
                .iter()
                .find(|c| c.type_ == conditions::INVALID)
                .map_or_else(|| "its spec is invalid".to_string(), |c| c.message.clone()),
        ),
        Some(Phase::Unmanaged) if status.primary_site.as_deref() != Some(ag.spec.primary_site.as_str()) => {
            Some("cluster type EXTERNAL: drover does not move it; its cluster manager must".to_string())
        }
        _ => None,
    };
    let settled = current
        && status.transition.is_none()
        && matches!(status.phase, Some(Phase::Steady | Phase::Degraded | Phase::Unmanaged));
    ChildObs {
        kind: "AvailabilityGroup",
        found: true,
        desired_site: Some(ag.spec.primary_site.clone()),
        active_site: status.primary_site.clone(),
        settled,
        phase: status.phase.map(|p| format!("{p:?}")),
        confirmation: status.confirmation.as_ref().map(|c| c.command.clone()),
        sites: ag.spec.replicas.iter().map(|r| r.site.clone()).collect(),
        problem,
    }
}
