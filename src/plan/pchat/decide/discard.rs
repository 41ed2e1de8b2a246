//! Invariant 9 for a failback: restoring WITH REPLACE over the old primary's chat database
//! discards what a failover left on it. The runbook keeps it first (a copy-only backup to the
//! share, `keep-old-primary`); only when that database cannot be backed up (neither ONLINE nor
//! RESTORING) does the restore wait for a person's consent, shown in `status.discardConfirmation`.

use super::*;
use crate::api::confirmation::{ConfirmationConsumed, DISCARD_ANNOTATION, DiscardRequest, DiscardedRange};
use crate::plan::confirm::{self, Previous};

impl Planner<'_> {
    /// `Ok` once a person consented to discarding the old primary's chat database (`why`: why
    /// drover cannot keep it); otherwise the request is in status and `Err` says what waits.
    pub(super) fn discard_gate(&mut self, t: &mut PoolTransition, why: &str) -> Result<(), String> {
        if t.discard_confirmed.is_some() {
            return Ok(());
        }
        let spec = self.spec();
        let (primary, chat) = (self.primary(), spec.chat_database.as_str());
        let failover = self
            .status
            .last_transition
            .as_ref()
            .filter(|r| r.kind == PoolTransitionKind::Failover);
        let lost_after = failover.and_then(|r| r.lost_after.clone());
        let range = DiscardedRange {
            database: chat.to_string(),
            from_time: lost_after.clone(),
            note: Some(match &lost_after {
                Some(_) => "commits after fromTime (the end of the last log backup the failover applied), up to the database's end; their LSNs and count are unknown".into(),
                None => "the range is unknown: no failover of this pool recorded what it applied".into(),
            }),
            ..DiscardedRange::default()
        };
        let what = match &lost_after {
            Some(at) => format!("what it committed after {} (never shipped to the backup)", at.0),
            None => "an unmeasured range of commits".to_string(),
        };
        let binding = format!(
            "discard\0{}/{}\0{}\0{}\0{why}\0{what}",
            self.input.namespace,
            self.input.name,
            primary.to_lowercase(),
            t.started_at.0.as_second()
        );
        let previous = self.input.status.discard_confirmation.as_ref().map(Previous::of);
        let given = self.input.discard_confirmation;
        let by = given.map_or(confirm::UNKNOWN, |g| g.by);
        let asked = confirm::ask(
            &binding,
            previous,
            given.map(|g| g.token),
            self.input.now,
            self.input.tokens,
        );
        for notice in asked.events(false) {
            self.notices.push(Notice::Token {
                what: format!("the discard of {chat} on the old primary {primary}"),
                annotation: DISCARD_ANNOTATION,
                notice: notice.clone(),
                by: by.to_string(),
            });
        }
        if asked.confirmed() {
            t.discard_confirmed = Some(ConfirmationConsumed {
                token: asked.token,
                at: Time(self.input.now),
                by: by.to_string(),
            });
            self.status.discard_confirmation = None;
            return Ok(());
        }
        let command = format!(
            "kubectl annotate pchat {} -n {} {DISCARD_ANNOTATION}={} --overwrite",
            self.input.name, self.input.namespace, asked.token
        );
        let message = format!(
            "{}restoring the failback backup over {chat} on {primary} (RESTORE DATABASE … WITH REPLACE) discards {what}; {why}. \
             To keep it, copy the database off {primary} (or bring it ONLINE so drover backs it up itself), then confirm the discard (token expires at {}) with: {command}",
            asked.refusal(),
            asked.issue.expires_at.0
        );
        self.status.discard_confirmation = Some(DiscardRequest {
            token: asked.token,
            replica: primary.to_string(),
            databases: vec![range],
            message: message.clone(),
            command,
            issued: Some(asked.issue),
        });
        Err(message)
    }
}
