//! The data-loss gate of a failover whose primary is unreachable: what the newest readable
//! log backup says would be lost, and whether the policy, a person's token or the automatic
//! bounds let it go on.

use super::*;

impl<'a> Planner<'a> {
    /// A failover with the primary unreachable: allowed by policy, confirmed, or waiting.
    pub(super) fn gate(&mut self, t: &PoolTransition) -> Result<String, Outcome> {
        let spec = self.spec();
        let chat = &spec.chat_database;
        let newest = [&self.observed().destination, &self.observed().share]
            .into_iter()
            .filter_map(|l| match l {
                super::super::Listing::Files(names) => Some(names),
                _ => None,
            })
            .flatten()
            .filter(|n| files::is_shipped_log(n, chat))
            .max_by_key(|n| n.to_lowercase())
            .cloned()
            .or_else(|| t.last_applied_backup.clone());
        let since = newest.as_deref().and_then(|n| files::stamp_of(n, chat));
        // The primary committed until it was last seen (first missed); after that drover cannot
        // know. Measured to then, not to now, the estimate holds still while the outage lasts.
        let last_seen = self
            .status
            .primary_unreachable_since
            .as_ref()
            .map_or(t.started_at.0, |s| s.0);
        let loss_seconds = since.map(|at| (last_seen.as_second() - at.as_second()).max(0));
        let what = match (&newest, since) {
            (Some(name), Some(at)) => format!(
                "commits at {} after {at} (the end of the newest log backup drover can read, {name}) would be lost",
                self.primary()
            ),
            _ => format!(
                "every commit at {} since an unknown time would be lost (no log backup readable)",
                self.primary()
            ),
        };
        let policy = &spec.forced_failover;
        match policy.policy {
            ForcePolicy::Never => Err(Outcome::Waiting(format!(
                "the primary instance {} is unreachable and forcedFailover.policy is Never: waiting for it to return ({what})",
                self.primary()
            ))),
            ForcePolicy::Automatic => {
                let down = self
                    .status
                    .primary_unreachable_since
                    .as_ref()
                    .map(|s| self.input.now.as_second() - s.0.as_second());
                let min = i64::from(policy.min_unreachable_seconds.unwrap_or(u32::MAX));
                let max = i64::from(policy.max_data_loss_seconds.unwrap_or(0));
                match (down, loss_seconds) {
                    (Some(d), Some(l)) if d >= min && l <= max => Ok("automatic".into()),
                    _ => Err(Outcome::Waiting(format!(
                        "automatic failover waits: primary unreachable since {last_seen} (needs {min}s), known loss {} (at most {max}s allowed); {what}",
                        loss_seconds.map_or_else(|| "unknown".to_string(), |l| format!("{l}s"))
                    ))),
                }
            }
            ForcePolicy::Confirm => {
                // Bound to the outage too: a confirmation is good for one outage only.
                let binding = format!(
                    "{}/{}/{}/{}/{}/{}",
                    self.input.namespace,
                    self.input.name,
                    t.to_site,
                    t.started_at.0.as_second(),
                    newest.as_deref().unwrap_or(""),
                    last_seen.as_second()
                );
                let (token, issued) = self.data_loss_token(&binding);
                let request = ConfirmationRequest {
                    token: token.clone(),
                    target: self.backup().to_string(),
                    known_loss_seconds: loss_seconds,
                    unknown_since: Some(Time(last_seen)),
                    command: format!(
                        "kubectl annotate pchat {} -n {} {CONFIRM_ANNOTATION}={token} --overwrite",
                        self.input.name, self.input.namespace
                    ),
                    issued: Some(issued),
                };
                if self.input.confirmation == Some(token.as_str()) {
                    self.status.confirmation = None;
                    return Ok(token);
                }
                let message = match self.input.confirmation {
                    Some(given) => format!(
                        "the confirmation {given:?} is not the current token; failing over to {} means {what}; confirm with: {}",
                        self.backup(),
                        request.command
                    ),
                    None => format!(
                        "failing over to {} means {what}; confirm with: {}",
                        self.backup(),
                        request.command
                    ),
                };
                if self.status.confirmation.as_ref() != Some(&request) {
                    self.notices.push(Notice::ConfirmationRequested {
                        message: message.clone(),
                    });
                }
                self.status.confirmation = Some(request);
                Err(Outcome::Confirm(message))
            }
        }
    }
}

impl Planner<'_> {
    /// The data-loss token for `binding` through the shared scheme (`plan::confirm`): a nonce kept
    /// in status, an expiry. A renewal and a consumption are noticed here; a request and a wrong
    /// token by the gate, as before.
    fn data_loss_token(&mut self, binding: &str) -> (String, crate::api::confirmation::TokenIssue) {
        use crate::plan::confirm::{self, Previous};
        let previous = self.input.status.confirmation.as_ref().map(Previous::of);
        let asked = confirm::ask(
            binding,
            previous,
            self.input.confirmation,
            self.input.now,
            self.input.tokens,
        );
        let by = self.input.confirmed_by.unwrap_or(confirm::UNKNOWN);
        for notice in asked.events(true) {
            self.notices.push(Notice::Token {
                what: format!("the failover of the pool to {}", self.backup()),
                annotation: CONFIRM_ANNOTATION,
                notice: notice.clone(),
                by: by.to_string(),
            });
        }
        (asked.token, asked.issue)
    }
}
