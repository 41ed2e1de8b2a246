//! What every confirmation drover asks of a person shares: when the request was made, when its
//! token expires, the nonce that makes the token unguessable; and the request to discard
//! committed data that a forced failover left on an old primary (invariant 9).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The annotation whose value allows one discard of committed data (`status.discardConfirmation`).
pub const DISCARD_ANNOTATION: &str = "drover.dev/confirm-discard";

/// The life of one confirmation token (drover's journal: do not edit).
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenIssue {
    /// A random value drawn when the request was made; the token is derived from it and from
    /// what is being confirmed, so it cannot be guessed or computed ahead of the request.
    pub nonce: String,
    /// When the request was made.
    pub requested_at: Time,
    /// After this the token is refused and a new request (new nonce, new token) replaces it.
    pub expires_at: Time,
    /// The expired token this request replaced, so a confirmation that gives it is told it expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_token: Option<String>,
}

/// Committed data that resuming or restoring over an old primary would discard, waiting for a
/// person's consent.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DiscardRequest {
    /// Set `drover.dev/confirm-discard` to this value to allow this discard, once.
    pub token: String,
    /// The replica (or instance) whose copy holds the data.
    pub replica: String,
    /// What would be discarded, per database.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DiscardedRange>,
    /// What drover would run, why it needs consent, and how to keep the data first.
    pub message: String,
    /// The command that confirms it.
    pub command: String,
    /// When the token was issued and when it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<TokenIssue>,
}

/// One database's committed data that would be discarded.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DiscardedRange {
    /// The database whose committed data would be discarded.
    pub database: String,
    /// The log that would be discarded lies in (fromLsn, toLsn], when known (numeric(25,0) LSNs
    /// as decimal strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_lsn: Option<String>,
    /// The end of that range: the copy's last commit LSN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_lsn: Option<String>,
    /// Commit times at either end of that range, when known (`toTime` absent: up to the copy's end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_time: Option<Time>,
    /// The copy's last commit time, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_time: Option<Time>,
    /// Committed transactions in the range, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transactions: Option<i64>,
    /// What is not known about the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A confirmation drover consumed: the token, and when.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmationConsumed {
    /// The token that was given.
    pub token: String,
    /// When drover took it.
    pub at: Time,
    /// Who set the annotation (its field manager), `unknown` when Kubernetes did not say.
    pub by: String,
}
