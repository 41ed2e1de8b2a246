//! The rows of status that describe the group as observed: one per replica,
//! one per database copy, and the `2/2` synchronized count.

use super::facts::Facts;
use super::{Observed, facts::seconds_between};
use crate::api::availability_group::{DatabaseStatus, ReplicaStatus};
use crate::sql::{AvailabilityMode, SyncState};

/// What status shows about the group, apart from the plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub primary_site: Option<String>,
    pub primary_replica: Option<String>,
    pub synchronized: Option<String>,
    pub replicas: Vec<ReplicaStatus>,
    pub databases: Vec<DatabaseStatus>,
}

/// The rows, read from the same facts the planner decided on.
pub(super) fn report(facts: &Facts<'_>, observed: &[Observed]) -> Report {
    let spec = facts.spec;
    let primary = facts.primary();
    let mut out = Report {
        primary_site: primary.map(|p| facts.replicas[p].site().to_string()),
        primary_replica: primary.map(|p| facts.replicas[p].name().to_string()),
        ..Report::default()
    };
    let (mut healthy, mut copies) = (0, 0);
    let primary_commits = primary.map(|p| facts.last_commits(p));
    for (r, replica) in facts.replicas.iter().enumerate() {
        let state = replica.local.and_then(|l| l.state.as_ref());
        out.replicas.push(ReplicaStatus {
            server_name: replica.name().to_string(),
            site: replica.site().to_string(),
            reachable: matches!(observed.get(r), Some(Observed::Reachable(_))),
            role: replica.role().map(|x| x.to_string()),
            connected: state.map(|_| replica.connected()),
            health: state.and_then(|s| s.health.as_ref()).map(|h| h.to_string()),
            availability_mode: facts.mode(r).map(|m| m.to_string()),
            // What a replica said (a server the spec points at may say anything): bounded.
            message: replica.problem.as_deref().map(crate::api::conditions::bounded),
        });
        let commits = facts.last_commits(r);
        for (d, name) in spec.databases.iter().enumerate() {
            let Some(copy) = facts.copy(r, d) else { continue };
            // Only a copy that is moving data has a lag; a stopped one's would just be a clock.
            let moving = copy.is_suspended != Some(true)
                && matches!(
                    copy.sync_state,
                    Some(SyncState::Synchronizing | SyncState::Synchronized)
                );
            let lag = (Some(r) != primary && moving)
                .then(|| {
                    let p = primary_commits.as_ref()?.get(d)?.commit_time.as_ref()?;
                    let mine = commits.get(d)?.commit_time.as_ref()?;
                    Some(seconds_between(mine, p).max(0))
                })
                .flatten();
            if Some(r) != primary {
                copies += 1;
                let good = match copy.sync_state {
                    Some(SyncState::Synchronized) => true,
                    Some(SyncState::Synchronizing) => facts.mode(r) == Some(&AvailabilityMode::AsynchronousCommit),
                    _ => false,
                };
                healthy += usize::from(good && copy.is_suspended != Some(true));
            }
            out.databases.push(DatabaseStatus {
                name: name.clone(),
                replica: replica.name().to_string(),
                synchronization_state: copy.sync_state.as_ref().map(|s| s.to_string()),
                suspended: copy.is_suspended == Some(true),
                suspend_reason: copy.suspend_reason.as_ref().map(|s| s.to_string()),
                lag_seconds: lag,
            });
        }
    }
    if copies > 0 {
        out.synchronized = Some(format!("{healthy}/{copies}"));
    }
    out
}
