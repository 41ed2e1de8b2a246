//! Invariant 9: resuming a returning old primary's suspended copy rolls back whatever it committed
//! beyond a forced failover's fork (it goes REVERTING). Drover measures that tail first (see
//! `loss::measure`); when it is empty the copy resumes freely, otherwise — or when it could not be
//! measured — only after a person confirms the discard. A suspended copy that is NOT SYNCHRONIZING
//! cannot be backed up (BACKUP on a secondary needs SYNCHRONIZING or SYNCHRONIZED, error 3062), so
//! drover cannot keep the tail itself.

use super::*;
use crate::api::confirmation::{ConfirmationConsumed, DISCARD_ANNOTATION, DiscardRequest, DiscardedRange};
use crate::plan::confirm::{self, Previous};

/// Whether a measured loss is empty: every database ends at its fork.
pub(super) fn nothing_diverged(loss: &DataLoss) -> bool {
    loss.note.is_none()
        && loss.databases.iter().all(|d| d.from_lsn == d.to_lsn)
        && (!loss.databases.is_empty() || loss.seconds == Some(0))
}

impl Planner<'_> {
    /// Before resuming a suspended copy on replica `r`: `None` when that discards nothing that was
    /// not consented to; otherwise why it waits (the request is in the journal and status).
    /// Call only once the loss is measured (see `loss_unmeasured_on`).
    pub(super) fn discard_unconfirmed(&mut self, r: usize) -> Option<String> {
        let name = self.name(r);
        let record = self.journal.last_failover.as_ref()?;
        let old = record.kind == TransitionKind::Failover
            && record
                .from_replica
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name));
        if !old || record.discard_confirmed.is_some() {
            return None;
        }
        let loss = record.data_loss.as_ref()?;
        if nothing_diverged(loss) {
            return None;
        }
        let ranges: Vec<DiscardedRange> = if loss.databases.is_empty() {
            self.spec()
                .databases
                .iter()
                .map(|db| DiscardedRange {
                    database: db.clone(),
                    note: loss.note.clone(),
                    ..DiscardedRange::default()
                })
                .collect()
        } else {
            loss.databases
                .iter()
                .filter(|d| d.from_lsn != d.to_lsn)
                .map(|d| DiscardedRange {
                    database: d.database.clone(),
                    from_lsn: Some(d.from_lsn.clone()),
                    to_lsn: Some(d.to_lsn.clone()),
                    from_time: d.from_time.clone(),
                    to_time: d.to_time.clone(),
                    transactions: None,
                    note: None,
                })
                .collect()
        };
        let what = ranges
            .iter()
            .map(|d| match (&d.from_lsn, &d.to_lsn) {
                (Some(from), Some(to)) => {
                    let times = match (&d.from_time, &d.to_time) {
                        (Some(a), Some(b)) => format!(", commits from {} to {}", a.0, b.0),
                        _ => String::new(),
                    };
                    format!("{}: log ({from}, {to}]{times}", d.database)
                }
                _ => format!(
                    "{}: an unmeasured range ({})",
                    d.database,
                    d.note.as_deref().unwrap_or("not measured")
                ),
            })
            .collect::<Vec<_>>()
            .join("; ");
        // Bound to the ranges by LSN (commit times are shown, but status keeps them to the second,
        // so a binding on them would change the token between the first pass and the next).
        let ranges_bound: String = ranges
            .iter()
            .map(|d| format!("{}:{:?}:{:?}:{:?}", d.database, d.from_lsn, d.to_lsn, d.note))
            .collect::<Vec<_>>()
            .join(";");
        let binding = format!(
            "discard\0{}\0{}\0{}\0{ranges_bound}",
            self.spec().group_name,
            name.to_lowercase(),
            record.started_at.0.as_second()
        );
        let previous = self.input.journal.discard.as_ref().map(Previous::of);
        let given = self.input.discard_confirmation;
        let asked = confirm::ask(
            &binding,
            previous,
            given.map(|g| g.token),
            self.input.now,
            self.input.tokens,
        );
        let subject = format!("the discard of {name}'s diverged commits");
        for notice in asked.events(false) {
            self.notices.push(Notice::Token {
                what: subject.clone(),
                annotation: DISCARD_ANNOTATION,
                notice: notice.clone(),
                by: given.map_or(confirm::UNKNOWN, |g| g.by).to_string(),
            });
        }
        if asked.confirmed() {
            let consumed = ConfirmationConsumed {
                token: asked.token,
                at: self.now(),
                by: given.map_or(confirm::UNKNOWN, |g| g.by).to_string(),
            };
            if let Some(f) = self.journal.last_failover.as_mut() {
                f.discard_confirmed = Some(consumed);
            }
            self.journal.discard = None;
            return None;
        }
        let command = format!(
            "kubectl annotate sqlag {} {DISCARD_ANNOTATION}={} --overwrite",
            self.input.resource_name, asked.token
        );
        let message = format!(
            "{}resuming data movement on the old primary {name} (ALTER DATABASE … SET HADR RESUME) rolls back what it committed beyond the forced failover: {what}. \
             drover cannot back that up first: its copies are suspended (NOT SYNCHRONIZING) and BACKUP on a secondary needs SYNCHRONIZING or SYNCHRONIZED (error 3062). \
             To keep it, take a database snapshot of each database on {name} (CREATE DATABASE … AS SNAPSHOT OF) or copy the data off, then confirm the discard (token expires at {}) with: {command}",
            asked.refusal(),
            asked.issue.expires_at.0
        );
        self.journal.discard = Some(DiscardRequest {
            token: asked.token,
            replica: name.to_string(),
            databases: ranges,
            message: message.clone(),
            command,
            issued: Some(asked.issue),
        });
        Some(message)
    }
}
