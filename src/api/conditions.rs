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

/// The longest message drover writes into a condition or a status row, in bytes: what it quotes
/// (an API server's or a SQL server's answer, names from a spec) cannot grow the object.
pub const MAX_MESSAGE: usize = 1024;

/// `message` cut to [`MAX_MESSAGE`] bytes (at a character boundary, marked with `...`), with
/// control characters other than newline and tab replaced, so that a remote answer can neither
/// grow the status nor forge lines in it.
pub fn bounded(message: &str) -> String {
    let clean: String = message
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{fffd}'
            } else {
                c
            }
        })
        .collect();
    if clean.len() <= MAX_MESSAGE {
        return clean;
    }
    let mut cut = MAX_MESSAGE - 3;
    while !clean.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &clean[..cut])
}

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
                message: bounded(&d.message),
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
    fn messages_are_bounded_and_carry_no_control_characters() {
        let long = "é".repeat(MAX_MESSAGE);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_MESSAGE && cut.ends_with("..."), "{}", cut.len());
        assert_eq!(bounded("a\u{1b}[31mb\rc\nd"), "a\u{fffd}[31mb\u{fffd}c\nd");
        let merged = merge(
            &[],
            &[Desired {
                type_: READY,
                status: false,
                reason: "R",
                message: "x".repeat(100_000),
            }],
            None,
            &at(1),
        );
        assert!(merged[0].message.len() <= MAX_MESSAGE);
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
