//! Data loss: what a forced failover would lose now (an estimate, with the
//! window drover cannot know stated), and what one did lose (measured from the
//! old primary's log once it is seen again).

use super::facts::{Facts, seconds_between};
use crate::api::availability_group::{DataLoss, DatabaseLoss, FailoverRecord, LogPoint, LossEstimate, PrimarySnapshot};
use crate::sql::{Lsn, Role};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// Seconds of commits the primary has that `target` does not, per database, the worst of them.
/// `None` when a commit time is missing on either side, or nothing is known of the primary.
fn behind(primary: &[LogPoint], target: &[LogPoint]) -> Option<i64> {
    if primary.is_empty() {
        return None;
    }
    let mut worst = 0;
    for p in primary {
        let t = target.iter().find(|t| t.database == p.database)?;
        let (pt, tt) = (p.commit_time.as_ref()?, t.commit_time.as_ref()?);
        worst = worst.max(seconds_between(tt, pt).max(0));
    }
    Some(worst)
}

/// The estimate for failing over to replica `target` now.
pub fn estimate(facts: &Facts<'_>, target: usize, lost: Option<&PrimarySnapshot>) -> LossEstimate {
    let target_commits = facts.last_commits(target);
    match facts.primary() {
        Some(p) => LossEstimate {
            target: facts.replicas[target].name().to_string(),
            known_loss_seconds: behind(&facts.last_commits(p), &target_commits),
            unknown_since: None,
            primary_unreachable: false,
            old_primary_fenced: None,
        },
        None => LossEstimate {
            target: facts.replicas[target].name().to_string(),
            known_loss_seconds: lost.and_then(|s| behind(&s.databases, &target_commits)),
            unknown_since: lost.and_then(|s| s.last_seen.clone()),
            primary_unreachable: true,
            old_primary_fenced: None,
        },
    }
}

/// What a data-loss token is bound to: the target, the estimate and the outage it is for (when the
/// primary was last seen, or first missed); different for every outage and every estimate, so a
/// token is good for one failover only. The token itself also carries a nonce (`plan::confirm`).
pub fn confirmation_binding(group: &str, estimate: &LossEstimate, outage: &str) -> String {
    format!(
        "{group}\0{}\0{:?}\0{outage}",
        estimate.target.to_lowercase(),
        estimate.known_loss_seconds
    )
}

fn parse_lsn(text: Option<&String>) -> Option<Lsn> {
    text.and_then(|t| t.parse::<u128>().ok()).map(Lsn)
}

/// Measures a forced failover's loss from the old primary's own copies: everything it committed
/// beyond the fork. Only while each copy is still suspended and not yet reverting: once resumed,
/// the divergent tail is rolled back and cannot be seen. `None` until that can be read.
pub fn measure(facts: &Facts<'_>, record: &FailoverRecord) -> Option<DataLoss> {
    let old = facts.index_of_name(record.from_replica.as_deref()?)?;
    let replica = &facts.replicas[old];
    if !replica.usable() || replica.local.is_none() {
        return None;
    }
    // Once it has rejoined as a secondary, a copy resumed behind drover's back (or a fork never
    // recorded) will never be readable: say so, rather than leave the loss pending (and a
    // failback waiting on it) for ever.
    let settled = replica.role() == Some(&Role::Secondary);
    let unmeasurable = |why: String| {
        settled.then(|| DataLoss {
            seconds: None,
            note: Some(format!("the loss cannot be measured: {why}")),
            databases: Vec::new(),
        })
    };
    let mut loss = DataLoss {
        seconds: Some(0),
        ..DataLoss::default()
    };
    for (d, name) in facts.spec.databases.iter().enumerate() {
        // A copy not (yet) reported, or without its last LSN, may still be readable later.
        let copy = facts.copy(old, d).filter(|c| c.is_local)?;
        if copy.is_suspended != Some(true) {
            return unmeasurable(format!(
                "data movement of {name} on {} was resumed before its divergent log could be read",
                replica.name()
            ));
        }
        let Some(fork) = record.fork.iter().find(|f| f.database.eq_ignore_ascii_case(name)) else {
            return unmeasurable(format!("no fork point was recorded for {name}"));
        };
        let Some(from) = parse_lsn(fork.lsn.as_ref()) else {
            return unmeasurable(format!("the fork point of {name} has no LSN"));
        };
        let to = copy.last_commit_lsn?;
        let to_time: Option<Time> = copy.last_commit_time.and_then(super::facts::utc);
        let (to, to_time) = if to > from {
            (to, to_time)
        } else {
            (from, fork.commit_time.clone())
        };
        if let (Some(a), Some(b)) = (&fork.commit_time, &to_time) {
            loss.seconds = loss.seconds.max(Some(seconds_between(a, b).max(0)));
        }
        loss.databases.push(DatabaseLoss {
            database: name.clone(),
            from_lsn: from.to_string(),
            to_lsn: to.to_string(),
            from_time: fork.commit_time.clone(),
            to_time,
        });
    }
    Some(loss)
}

/// One line per database for the Event.
pub fn describe(loss: &DataLoss) -> String {
    if let Some(note) = &loss.note {
        return note.clone();
    }
    if loss.databases.iter().all(|d| d.from_lsn == d.to_lsn) {
        return "nothing was lost: the old primary had no commits beyond the fork".into();
    }
    loss.databases
        .iter()
        .map(|d| format!("{}: log ({}, {}] lost", d.database, d.from_lsn, d.to_lsn))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_primary_never_seen_gives_an_unknown_loss_not_zero() {
        let target = vec![LogPoint {
            database: "confdb".into(),
            lsn: Some("1".into()),
            commit_time: Some(Time(jiff::Timestamp::from_second(100).unwrap())),
        }];
        assert_eq!(behind(&[], &target), None);
        let primary = vec![LogPoint {
            commit_time: Some(Time(jiff::Timestamp::from_second(103).unwrap())),
            ..target[0].clone()
        }];
        assert_eq!(behind(&primary, &target), Some(3));
    }
}
