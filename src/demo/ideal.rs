//! The critical-path ideal of a transition: how long it would take if every step started the
//! instant it could and nothing waited on a poll, from the simulator's latencies alone. Branches
//! that run in parallel (components that do not depend on each other, one component at several
//! sites) count as their longest. Pure: the spec, the transition and the latencies in, seconds out.
//!
//! The model, per transition kind:
//! - **stop** (Switchover, Failback): the old site's `ActiveSite` components, each after the
//!   components that depend on it; a workload takes its stop latency, a hook server the hook Job
//!   plus its stop latency.
//! - **group**: ColdStart and Repair none (the group is where it should be); Failover a forced
//!   failover; Switchover a planned one (synchronize, fail over, synchronize); Failback the copy-only
//!   backups one after another (when the group takes them), the returning replica's revert, its
//!   catch-up, then a planned failover.
//! - **start**: ColdStart every component (`ActiveSite` at the new site, `EverySite` at each of
//!   its sites); the other kinds the `ActiveSite` components at the new site. Each after the
//!   components it depends on; a workload takes its start latency, a hook server the hook Job plus
//!   its start latency.

use crate::api::dr_site::{ComponentSpec, DrSiteSpec, Placement, TransitionKind};
use crate::components::memory::Latencies as SiteLatencies;
use crate::sim::model::config::Latencies as SqlLatencies;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// What the latencies of a world are.
#[derive(Debug, Clone)]
pub struct Costs {
    pub sql: SqlLatencies,
    pub sites: SiteLatencies,
    /// AvailabilityGroups the DrSite moves (in parallel).
    pub groups: usize,
    /// Databases in the largest group.
    pub databases: usize,
    /// The group backs its databases up before a failback.
    pub backup_before_failback: bool,
}

/// One leg of the critical path.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Leg {
    /// e.g. `start master-confserv → master-scs → message-server`.
    pub what: String,
    pub seconds: f64,
}

/// The ideal of one transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ideal {
    pub seconds: f64,
    /// The legs, one after another, whose sum is `seconds`.
    pub legs: Vec<Leg>,
}

/// The ideal of a `kind` transition of `spec` from `from` (if any) to `to`.
pub fn ideal(spec: &DrSiteSpec, kind: TransitionKind, from: Option<&str>, to: &str, costs: &Costs) -> Ideal {
    let mut legs = Vec::new();
    if let (TransitionKind::Switchover | TransitionKind::Failback, Some(from)) = (kind, from) {
        let stopping: Vec<(&ComponentSpec, Vec<&str>)> = spec
            .components
            .iter()
            .filter(|c| c.placement == Placement::ActiveSite && c.at(from).is_some())
            .map(|c| (c, vec![from]))
            .collect();
        legs.extend(critical_path("stop", &stopping, true, costs));
    }
    legs.extend(group_leg(kind, costs));
    let starting: Vec<(&ComponentSpec, Vec<&str>)> = spec
        .components
        .iter()
        .filter_map(|c| {
            let sites: Vec<&str> = match (kind, c.placement) {
                (TransitionKind::ColdStart, Placement::EverySite) => c
                    .sites
                    .iter()
                    .map(|s| s.site.as_str())
                    .filter(|s| spec.site(s).is_some())
                    .collect(),
                (_, Placement::EverySite) => Vec::new(),
                (_, Placement::ActiveSite) => c.at(to).map(|_| vec![to]).unwrap_or_default(),
            };
            (!sites.is_empty()).then_some((c, sites))
        })
        .collect();
    legs.extend(critical_path("start", &starting, false, costs));
    Ideal {
        seconds: legs.iter().map(|l| l.seconds).sum(),
        legs,
    }
}

/// `ideal` with a child moved beside the groups, in parallel with them: the children's leg is the
/// longer of the groups' and `chain` (a pool's serial runbook, from the steps it ran).
pub fn beside(mut ideal: Ideal, what: &str, chain: &Ideal) -> Ideal {
    if chain.legs.is_empty() {
        return ideal;
    }
    let parts: Vec<&str> = chain.legs.iter().map(|l| l.what.as_str()).collect();
    let leg = Leg {
        what: format!("{what}: {}", parts.join(", ")),
        seconds: chain.seconds,
    };
    match ideal.legs.iter().position(|l| l.what.starts_with("group:")) {
        Some(i) if ideal.legs[i].seconds >= leg.seconds => {}
        Some(i) => ideal.legs[i] = leg,
        None => {
            let at = ideal
                .legs
                .iter()
                .position(|l| l.what.starts_with("start"))
                .unwrap_or(ideal.legs.len());
            ideal.legs.insert(at, leg);
        }
    }
    ideal.seconds = ideal.legs.iter().map(|l| l.seconds).sum();
    ideal
}

/// The group's share of a `kind` transition (a DrSite's `Move` step at best), in seconds.
pub fn group_seconds(kind: TransitionKind, costs: &Costs) -> f64 {
    group_leg(kind, costs).map_or(0.0, |l| l.seconds)
}

/// How long component `name` of `spec` takes to start (or stop) at `site` at best.
pub fn component_seconds(spec: &DrSiteSpec, name: &str, site: &str, stopping: bool, costs: &Costs) -> f64 {
    spec.components
        .iter()
        .find(|c| c.name == name)
        .map_or(0.0, |c| cost(c, site, stopping, costs).as_secs_f64())
}

fn group_leg(kind: TransitionKind, costs: &Costs) -> Option<Leg> {
    if costs.groups == 0 {
        return None;
    }
    let sql = &costs.sql;
    let planned = sql.replication + sql.failover + sql.replication;
    let (what, took) = match kind {
        TransitionKind::ColdStart | TransitionKind::Repair => return None,
        TransitionKind::Failover => ("group: forced failover".to_string(), sql.failover),
        TransitionKind::Switchover => ("group: synchronize, planned failover, synchronize".to_string(), planned),
        TransitionKind::Failback => {
            let backups = if costs.backup_before_failback {
                costs.databases as u32
            } else {
                0
            };
            let what = if backups > 0 {
                format!("group: {backups} backup(s), revert, catch up, planned failover, synchronize")
            } else {
                "group: revert, catch up, planned failover, synchronize".to_string()
            };
            (what, sql.backup * backups + sql.revert + planned)
        }
    };
    Some(Leg {
        what,
        seconds: took.as_secs_f64(),
    })
}

/// How long `c` takes to start (or stop) at `site`: its latency, after its hook Job if it has hooks.
fn cost(c: &ComponentSpec, site: &str, stopping: bool, costs: &Costs) -> Duration {
    let (start, stop) = costs.sites.of(&c.name);
    let own = if stopping { stop } else { start };
    let hook = c
        .at(site)
        .and_then(|a| a.hooks.as_ref())
        .map_or(Duration::ZERO, |_| costs.sites.hook);
    hook + own
}

/// The longest chain through `members` (each with the sites it starts or stops at, in parallel):
/// a start waits for what the component depends on; a stop for what depends on the component.
/// `None` when nothing is to be done.
fn critical_path(verb: &str, members: &[(&ComponentSpec, Vec<&str>)], stopping: bool, costs: &Costs) -> Option<Leg> {
    let index: BTreeMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, (c, _))| (c.name.as_str(), i))
        .collect();
    // Which members must finish before member i: its dependencies (start), its dependents (stop).
    let before: Vec<Vec<usize>> = members
        .iter()
        .map(|(c, _)| {
            if stopping {
                members
                    .iter()
                    .enumerate()
                    .filter(|(_, (d, _))| d.depends_on.contains(&c.name))
                    .map(|(j, _)| j)
                    .collect()
            } else {
                c.depends_on
                    .iter()
                    .filter_map(|n| index.get(n.as_str()).copied())
                    .collect()
            }
        })
        .collect();
    // finish[i] = max(finish[before]) + cost[i], with the chain that gave it; memoized, and a
    // cycle (which validation refuses) is cut rather than followed.
    let mut memo: Vec<Option<(Duration, Vec<usize>)>> = vec![None; members.len()];
    fn finish(
        i: usize,
        members: &[(&ComponentSpec, Vec<&str>)],
        before: &[Vec<usize>],
        stopping: bool,
        costs: &Costs,
        memo: &mut Vec<Option<(Duration, Vec<usize>)>>,
        visiting: &mut Vec<usize>,
    ) -> (Duration, Vec<usize>) {
        if let Some(done) = &memo[i] {
            return done.clone();
        }
        visiting.push(i);
        let mut best = (Duration::ZERO, Vec::new());
        for &j in &before[i] {
            if visiting.contains(&j) {
                continue;
            }
            let got = finish(j, members, before, stopping, costs, memo, visiting);
            if got.0 > best.0 {
                best = got;
            }
        }
        visiting.pop();
        let (c, sites) = &members[i];
        let own = sites
            .iter()
            .map(|s| cost(c, s, stopping, costs))
            .max()
            .unwrap_or_default();
        let mut chain = best.1;
        chain.push(i);
        let result = (best.0 + own, chain);
        memo[i] = Some(result.clone());
        result
    }
    let (took, chain) = (0..members.len())
        .map(|i| finish(i, members, &before, stopping, costs, &mut memo, &mut Vec::new()))
        .max_by_key(|(d, _)| *d)?;
    let names: Vec<&str> = chain.iter().map(|&i| members[i].0.name.as_str()).collect();
    Some(Leg {
        what: format!("{verb} {}", names.join(" → ")),
        seconds: took.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests;
