//! What the replicas' observations say, read once into the shape the planner
//! asks questions of: per declared replica, its own role and copies; which
//! replica is primary; the configured modes.

use super::Observed;
use crate::api::availability_group::{AvailabilityGroupSpec, LogPoint, ReplicaSpec};
use crate::sql::{
    AvailabilityMode, ConnectedState, DatabaseReplicaState, GroupObservation, QuorumState, ReplicaObservation,
    ReplicaState, Role, SyncState,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tiberius::Uuid;

/// One declared replica as observed.
#[derive(Debug)]
pub struct ReplicaFacts<'a> {
    pub spec: &'a ReplicaSpec,
    /// Why drover cannot use this replica's observation (unreachable, wrong server, no such group).
    pub problem: Option<String>,
    pub group: Option<&'a GroupObservation>,
    /// Everything it reported (the WSFC views among it), when it answered.
    pub observation: Option<&'a ReplicaObservation>,
    /// Its own row of `dm_hadr_availability_replica_states`.
    pub local: Option<&'a ReplicaState>,
}

impl ReplicaFacts<'_> {
    pub fn usable(&self) -> bool {
        self.problem.is_none()
    }

    /// The role the replica reports for itself.
    pub fn role(&self) -> Option<&Role> {
        self.local.and_then(|l| l.state.as_ref()).and_then(|s| s.role.as_ref())
    }

    /// On a secondary: whether it is connected to a primary. A primary counts as connected.
    pub fn connected(&self) -> bool {
        self.local
            .and_then(|l| l.state.as_ref())
            .is_some_and(|s| s.connected == Some(ConnectedState::Connected))
    }

    pub fn name(&self) -> &str {
        &self.spec.server_name
    }

    pub fn site(&self) -> &str {
        &self.spec.site
    }
}

/// The whole group as observed.
#[derive(Debug)]
pub struct Facts<'a> {
    pub spec: &'a AvailabilityGroupSpec,
    pub replicas: Vec<ReplicaFacts<'a>>,
    /// Indexes of usable replicas that report themselves PRIMARY.
    pub primaries: Vec<usize>,
    /// Spec database index by group_database_id, learned from rows that carry a name.
    db_ids: Vec<(Uuid, usize)>,
    /// Problems that make acting unsafe for the whole group (cluster type, missing databases).
    pub blockers: Vec<String>,
}

impl<'a> Facts<'a> {
    pub fn new(spec: &'a AvailabilityGroupSpec, observed: &'a [Observed]) -> Self {
        let mut replicas = Vec::new();
        for (i, r) in spec.replicas.iter().enumerate() {
            let (problem, group) = match observed.get(i) {
                None => (Some("not observed".to_string()), None),
                Some(Observed::Unreachable(e)) => (Some(format!("unreachable: {e}")), None),
                Some(Observed::Reachable(o)) => read_replica(spec, r, o),
            };
            let local = group.and_then(|g| g.local_replica());
            let observation = match observed.get(i) {
                Some(Observed::Reachable(o)) => Some(&**o),
                _ => None,
            };
            replicas.push(ReplicaFacts {
                spec: r,
                problem,
                group,
                observation,
                local,
            });
        }
        let primaries = (0..replicas.len())
            .filter(|&i| replicas[i].usable() && replicas[i].role() == Some(&Role::Primary))
            .collect();
        let mut db_ids = Vec::new();
        let mut blockers = Vec::new();
        for r in replicas.iter().filter(|r| r.usable()) {
            let Some(g) = r.group else { continue };
            if g.cluster_type != spec.cluster_type.observed() {
                blockers.push(format!(
                    "{} reports cluster type {} but the spec says {}",
                    r.name(),
                    g.cluster_type,
                    spec.cluster_type.observed()
                ));
            }
            for row in &g.databases {
                if let Some(name) = &row.database_name
                    && let Some(d) = spec.databases.iter().position(|x| x.eq_ignore_ascii_case(name))
                    && !db_ids.iter().any(|(id, _)| *id == row.group_database_id)
                {
                    db_ids.push((row.group_database_id, d));
                }
            }
        }
        let mut facts = Self {
            spec,
            replicas,
            primaries,
            db_ids,
            blockers,
        };
        // A declared database the primary does not have in the group is a spec error drover must not paper over.
        if let [p] = facts.primaries[..] {
            for (d, name) in spec.databases.iter().enumerate() {
                if facts.copy(p, d).is_none() {
                    facts.blockers.push(format!(
                        "database {name:?} is not in availability group {:?} on {}",
                        spec.group_name,
                        facts.replicas[p].name()
                    ));
                }
            }
        }
        facts
    }

    /// The single primary, when exactly one usable replica reports PRIMARY.
    pub fn primary(&self) -> Option<usize> {
        match self.primaries[..] {
            [p] => Some(p),
            _ => None,
        }
    }

    pub fn index_of_site(&self, site: &str) -> Option<usize> {
        self.replicas.iter().position(|r| r.site() == site)
    }

    pub fn index_of_name(&self, name: &str) -> Option<usize> {
        self.replicas.iter().position(|r| r.name().eq_ignore_ascii_case(name))
    }

    /// The copy of spec database `d` on replica `r`: its own row if it is usable, else the primary's
    /// remote row for it (remote rows exist only on the primary).
    pub fn copy(&self, r: usize, d: usize) -> Option<&'a DatabaseReplicaState> {
        let own = self.replicas[r].local.and_then(|l| self.row(r, l.replica_id, d));
        own.or_else(|| {
            let p = self.primary()?;
            let id = self.replicas[r].replica_id_seen_by(&self.replicas[p])?;
            self.row(p, id, d)
        })
    }

    fn row(&self, observer: usize, replica_id: Uuid, d: usize) -> Option<&'a DatabaseReplicaState> {
        let g = self.replicas[observer].group?;
        g.databases.iter().find(|row| {
            row.replica_id == replica_id
                && self
                    .db_ids
                    .iter()
                    .any(|(id, i)| *id == row.group_database_id && *i == d)
        })
    }

    /// The configured availability mode of replica `r`, as the primary (or else the replica itself) reports it.
    pub fn mode(&self, r: usize) -> Option<&'a AvailabilityMode> {
        let name = self.replicas[r].name();
        let from = |o: usize| {
            self.replicas[o]
                .group?
                .replicas
                .iter()
                .find(|x| x.server_name.eq_ignore_ascii_case(name))
                .map(|x| &x.availability_mode)
        };
        match self.primary() {
            Some(p) => from(p),
            None => from(r),
        }
    }

    /// `sys.availability_groups.sequence_number` as replica `r` reports it.
    pub fn sequence_number(&self, r: usize) -> Option<i64> {
        self.replicas[r].group.and_then(|g| g.sequence_number)
    }

    /// Under WSFC, the quorum replica `r`'s node reports: `None` when it answered with no row in
    /// `sys.dm_hadr_cluster` (its node has no quorum), or did not answer.
    pub fn quorum(&self, r: usize) -> Option<&'a QuorumState> {
        let rep = &self.replicas[r];
        if !rep.usable() {
            return None;
        }
        rep.observation?.wsfc.as_ref().map(|w| &w.quorum_state)
    }

    /// Under WSFC: why `other` cannot hold quorum, as seen from `from` — `from`'s node has normal
    /// quorum (a strict majority) and reports `other`'s node DOWN, so `other` is dead or in a
    /// minority whose lease has expired: it cannot commit. Forced quorum proves nothing (the
    /// other side may have forced its own), and no row means `from` has no quorum itself.
    pub fn quorum_excludes(&self, from: usize, other: usize) -> Option<String> {
        if self.spec.cluster_type != crate::api::availability_group::ClusterType::Wsfc {
            return None;
        }
        let rep = &self.replicas[from];
        let obs = rep.observation.filter(|_| rep.usable())?;
        let wsfc = obs.wsfc.as_ref().filter(|w| w.quorum_state == QuorumState::Normal)?;
        let theirs = self.replicas[other].name();
        let node = obs.node_of(&self.spec.group_name, theirs)?;
        let member = wsfc
            .members
            .iter()
            .find(|m| m.member_type == "CLUSTER_NODE" && m.name.eq_ignore_ascii_case(node))?;
        (!member.up).then(|| {
            format!(
                "{}'s WSFC node holds normal quorum in cluster {} and reports {theirs}'s node {node} DOWN: {theirs} is down or in a minority whose lease has ended, so it cannot commit",
                rep.name(),
                wsfc.cluster_name
            )
        })
    }

    /// REQUIRED_SYNCHRONIZED_SECONDARIES_TO_COMMIT as the primary reports it.
    pub fn required_synchronized(&self) -> Option<i32> {
        self.replicas[self.primary()?].group?.required_synchronized_secondaries
    }

    pub fn sync_state(&self, r: usize, d: usize) -> Option<&'a SyncState> {
        self.copy(r, d).and_then(|c| c.sync_state.as_ref())
    }

    pub fn is_suspended(&self, r: usize, d: usize) -> bool {
        self.copy(r, d).is_some_and(|c| c.is_suspended == Some(true))
    }

    /// The last commit of each declared database on replica `r`.
    pub fn last_commits(&self, r: usize) -> Vec<LogPoint> {
        self.spec
            .databases
            .iter()
            .enumerate()
            .map(|(d, name)| {
                let c = self.copy(r, d);
                LogPoint {
                    database: name.clone(),
                    lsn: c.and_then(|c| c.last_commit_lsn).map(|l| l.to_string()),
                    commit_time: c.and_then(|c| c.last_commit_time).and_then(utc),
                }
            })
            .collect()
    }
}

impl ReplicaFacts<'_> {
    /// This replica's id in another replica's metadata (ids are the same everywhere; found by name).
    fn replica_id_seen_by(&self, other: &ReplicaFacts<'_>) -> Option<Uuid> {
        other
            .group?
            .replicas
            .iter()
            .find(|x| x.server_name.eq_ignore_ascii_case(self.name()))
            .map(|x| x.replica_id)
    }
}

/// Reads a reachable replica's observation, refusing one that is not the declared server or lacks the group.
fn read_replica<'a>(
    spec: &AvailabilityGroupSpec,
    declared: &ReplicaSpec,
    o: &'a ReplicaObservation,
) -> (Option<String>, Option<&'a GroupObservation>) {
    if let Some(actual) = &o.server_name
        && !actual.eq_ignore_ascii_case(&declared.server_name)
    {
        return (
            Some(format!(
                "endpoint {}:{} is server {actual:?}, not the declared {:?}",
                declared.endpoint.host, declared.endpoint.port, declared.server_name
            )),
            None,
        );
    }
    let Some(g) = o.groups.iter().find(|g| g.name.eq_ignore_ascii_case(&spec.group_name)) else {
        return (
            Some(format!(
                "availability group {:?} not found on this server",
                spec.group_name
            )),
            None,
        );
    };
    if g.local_replica().is_none() {
        return (
            Some("the server reports no local replica state for the group".into()),
            Some(g),
        );
    }
    (None, Some(g))
}

/// SQL Server's `datetime` columns carry no zone; drover reads them as UTC.
pub fn utc(dt: jiff::civil::DateTime) -> Option<Time> {
    dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| Time(z.timestamp()))
}

/// Whole seconds from `a` to `b` (negative when `b` is earlier).
pub fn seconds_between(a: &Time, b: &Time) -> i64 {
    b.0.duration_since(a.0).as_secs()
}
