//! The data-loss confirmation's token through the shared scheme (`plan::confirm`): bound to the
//! estimate, carrying a nonce kept in status, expiring.

use super::*;
use crate::api::availability_group::CONFIRM_ANNOTATION;
use crate::api::confirmation::TokenIssue;
use crate::plan::confirm::{self, Previous};

impl Planner<'_> {
    /// The current data-loss token for failing over with `estimate` during `outage`, and its issue.
    /// A renewal (the last request expired) and a consumption are noticed here; a request and a
    /// refusal by the caller, as before.
    pub(super) fn data_loss_token(&mut self, estimate: &LossEstimate, outage: &str) -> (String, TokenIssue) {
        let binding = loss::confirmation_binding(&self.spec().group_name, estimate, outage);
        let journal = self.input.journal;
        let previous = journal.confirmation.as_ref().or_else(|| {
            journal
                .transition
                .as_ref()
                .and_then(|t| t.withheld_confirmation.as_ref())
        });
        let asked = confirm::ask(
            &binding,
            previous.map(Previous::of),
            self.input.confirmation,
            self.input.now,
            self.input.tokens,
        );
        for notice in asked.events(true) {
            self.notices.push(Notice::Token {
                what: format!("the forced failover to {}", estimate.target),
                annotation: CONFIRM_ANNOTATION,
                notice: notice.clone(),
                by: self.input.confirmed_by.unwrap_or(confirm::UNKNOWN).to_string(),
            });
        }
        self.set_transition(|t| t.withheld_confirmation = None);
        (asked.token, asked.issue)
    }
}
