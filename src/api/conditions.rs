//! metav1 Conditions: set one while keeping its lastTransitionTime unless its
//! status flips, so an unchanged world produces an unchanged status.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition types drover uses.
pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";
pub const CONFIRMATION_REQUIRED: &str = "DataLossConfirmationRequired";
pub const INVALID: &str = "Invalid";
pub const SITE_LOST_CONFIRMATION_REQUIRED: &str = "SiteLostConfirmationRequired";
pub const CONFLICT: &str = "Conflict";

/// A condition to set; the time comes from the caller so the result is reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desired<'a> {
    pub type_: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

/// Replaces `conditions` with `desired` (in that order), carrying over each
/// type's lastTransitionTime when its status did not change.
pub fn merge(previous: &[Condition], desired: &[Desired<'_>], generation: Option<i64>, now: &Time) -> Vec<Condition> {
    desired
        .iter()
        .map(|d| {
            let status = if d.status { "True" } else { "False" }.to_string();
            let since = previous
                .iter()
                .find(|c| c.type_ == d.type_ && c.status == status)
                .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
            Condition {
                type_: d.type_.to_string(),
                status,
                reason: d.reason.to_string(),
                message: d.message.clone(),
                observed_generation: generation,
                last_transition_time: since,
            }
        })
        .collect()
}

/// Whether a condition of `type_` is True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions.iter().any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let ready = |status| Desired {
            type_: READY,
            status,
            reason: "R",
            message: "m".into(),
        };
        let first = merge(&[], &[ready(false)], Some(1), &at(10));
        let same = merge(&first, &[ready(false)], Some(2), &at(20));
        assert_eq!(same[0].last_transition_time, at(10));
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = merge(&same, &[ready(true)], Some(2), &at(30));
        assert_eq!(flipped[0].last_transition_time, at(30));
        assert!(is_true(&flipped, READY));
    }
}
