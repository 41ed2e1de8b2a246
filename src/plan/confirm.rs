//! One scheme for every confirmation token drover asks a person for (a forced failover's data
//! loss, a lost site, a discard of committed data):
//!
//! - **bound** to what is shown: the token is derived from a `binding` (the target, the estimate,
//!   the range to discard); a different binding is a different request;
//! - **unguessable**: it is derived from a random nonce too, drawn by the controller (the planners
//!   are pure, so it comes in through their input) and kept in status with the request, so every
//!   pass and a restarted operator show the same token;
//! - **short-lived**: a request expires (default 15 minutes); the next pass replaces it with a
//!   fresh one (new nonce, new token) and says so, and a confirmation giving the expired token is
//!   refused as expired.
//!
//! Who confirmed is the controller's to tell (it reads the annotation's field manager).

use super::fnv1a;
use crate::api::confirmation::TokenIssue;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

/// Who confirmed, when Kubernetes did not say.
pub const UNKNOWN: &str = "unknown";

/// How long a confirmation request stays good unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// What the controller gives a planner for the tokens of this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tokens<'a> {
    /// A fresh random nonce, used only if this pass makes a new request.
    pub nonce: &'a str,
    /// How long a request stays good.
    pub ttl: Duration,
}

impl Default for Tokens<'static> {
    fn default() -> Self {
        Self {
            nonce: "",
            ttl: DEFAULT_TTL,
        }
    }
}

/// A fresh nonce: 128 bits from the process's OS-seeded hasher keys, the clock and a counter.
pub fn fresh_nonce() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let word = || {
        // Every RandomState draws new keys (seeded from the OS once per thread, then stepped).
        let mut h = RandomState::new().build_hasher();
        h.write_u64(n);
        h.write_u128(nanos);
        h.finish()
    };
    format!("{:016x}{:016x}", word(), word())
}

/// The token for `binding` under `nonce`: 12 hex digits.
pub fn token(binding: &str, nonce: &str) -> String {
    let text = format!("{binding}\0{nonce}");
    format!("{:012x}", fnv1a(text.as_bytes()) & 0xffff_ffff_ffff)
}

/// An annotation's value and who set it (its field manager, or `unknown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Given<'a> {
    pub token: &'a str,
    pub by: &'a str,
}

/// A request as journalled: its token and issue.
#[derive(Debug, Clone, Copy)]
pub struct Previous<'a> {
    pub token: &'a str,
    pub issue: Option<&'a TokenIssue>,
}

/// A journalled request of any kind: its token and issue.
pub trait Request {
    fn token(&self) -> &str;
    fn issued(&self) -> Option<&TokenIssue>;
}

impl<'a> Previous<'a> {
    /// The request as [`ask`] takes it.
    pub fn of(request: &'a impl Request) -> Self {
        Self {
            token: request.token(),
            issue: request.issued(),
        }
    }
}

macro_rules! request {
    ($($t:ty),*) => {$(
        impl Request for $t {
            fn token(&self) -> &str {
                &self.token
            }
            fn issued(&self) -> Option<&TokenIssue> {
                self.issued.as_ref()
            }
        }
    )*};
}

request!(
    crate::api::availability_group::ConfirmationRequest,
    crate::api::confirmation::DiscardRequest,
    crate::api::dr_site::SiteLostRequest
);

/// What the annotation's value means for the current request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It is the current token: go ahead, once.
    Confirmed,
    /// No annotation.
    Pending,
    /// Some other value (an older request's token, a typo).
    Wrong { given: String },
    /// The token of a request that expired.
    Expired { given: String, expired_at: Timestamp },
}

/// Something worth an Event about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenNotice {
    /// A new request was made.
    Requested { token: String, expires_at: Timestamp },
    /// The request expired unconfirmed and this one replaces it.
    Renewed {
        expired: String,
        expired_at: Timestamp,
        token: String,
        expires_at: Timestamp,
    },
    /// The annotation's value was refused.
    Refused { given: String, reason: String },
    /// The token was consumed.
    Accepted { token: String },
}

/// The request this pass shows, and what the annotation means for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub token: String,
    pub issue: TokenIssue,
    pub verdict: Verdict,
    pub notices: Vec<TokenNotice>,
}

impl Asked {
    pub fn confirmed(&self) -> bool {
        self.verdict == Verdict::Confirmed
    }

    /// The notices worth an Event. `caller_reports` says the caller already reports a new
    /// request and a wrong token its own way (the older data-loss and site-lost Events): then
    /// only renewals, acceptances and refusals of an expired token are left.
    pub fn events(&self, caller_reports: bool) -> impl Iterator<Item = &TokenNotice> {
        let expired = matches!(self.verdict, Verdict::Expired { .. });
        self.notices.iter().filter(move |n| {
            !caller_reports
                || match n {
                    TokenNotice::Renewed { .. } | TokenNotice::Accepted { .. } => true,
                    TokenNotice::Refused { .. } => expired,
                    TokenNotice::Requested { .. } => false,
                }
        })
    }

    /// A sentence for a refused annotation, empty otherwise (to prefix a blocked message).
    pub fn refusal(&self) -> String {
        match &self.verdict {
            Verdict::Wrong { given } => format!("the token {given:?} in the annotation is not the current one; "),
            Verdict::Expired { given, expired_at } => {
                format!("the token {given:?} in the annotation expired at {expired_at} and is refused; ")
            }
            _ => String::new(),
        }
    }
}

fn issue(nonce: &str, now: Timestamp, ttl: Duration, replaced: Option<String>) -> TokenIssue {
    let ttl = SignedDuration::try_from(ttl).unwrap_or(SignedDuration::from_secs(15 * 60));
    TokenIssue {
        nonce: nonce.to_string(),
        requested_at: Time(now),
        expires_at: Time(now.checked_add(ttl).unwrap_or(now)),
        replaced_token: replaced,
    }
}

/// Asks for a confirmation of `binding`: keeps the journalled request's nonce and expiry while it
/// is unexpired (the token follows the binding), replaces it with a fresh nonce once expired, and
/// judges the annotation's value `given`.
pub fn ask(
    binding: &str,
    previous: Option<Previous<'_>>,
    given: Option<&str>,
    now: Timestamp,
    tokens: Tokens<'_>,
) -> Asked {
    let mut notices = Vec::new();
    // The request series keeps its nonce and expiry while what it binds changes (an estimate that
    // moves and moves back shows the token it showed before); it ends when it expires.
    let same = previous.and_then(|p| Some((p.token, p.issue?)));
    let (token_now, issue_now, expired) = match same {
        Some((t, i)) if now < i.expires_at.0 => {
            let current = token(binding, &i.nonce);
            if current != t {
                notices.push(TokenNotice::Requested {
                    token: current.clone(),
                    expires_at: i.expires_at.0,
                });
            }
            (current, i.clone(), None)
        }
        Some((t, i)) => {
            let fresh = issue(tokens.nonce, now, tokens.ttl, Some(t.to_string()));
            let new = token(binding, tokens.nonce);
            notices.push(TokenNotice::Renewed {
                expired: t.to_string(),
                expired_at: i.expires_at.0,
                token: new.clone(),
                expires_at: fresh.expires_at.0,
            });
            (new, fresh, Some((t.to_string(), i.expires_at.0)))
        }
        None => {
            let fresh = issue(tokens.nonce, now, tokens.ttl, None);
            let new = token(binding, tokens.nonce);
            notices.push(TokenNotice::Requested {
                token: new.clone(),
                expires_at: fresh.expires_at.0,
            });
            (new, fresh, None)
        }
    };
    // The token a renewal replaced, remembered in the request (this pass's or an earlier one's).
    let expired = expired.or_else(|| {
        let replaced = issue_now.replaced_token.clone()?;
        Some((replaced, issue_now.requested_at.0))
    });
    let verdict = match given {
        None => Verdict::Pending,
        Some(g) if g == token_now => Verdict::Confirmed,
        Some(g) => match &expired {
            Some((old, at)) if old == g => Verdict::Expired {
                given: g.to_string(),
                expired_at: *at,
            },
            _ => Verdict::Wrong { given: g.to_string() },
        },
    };
    match &verdict {
        Verdict::Confirmed => notices.push(TokenNotice::Accepted {
            token: token_now.clone(),
        }),
        Verdict::Wrong { given } => notices.push(TokenNotice::Refused {
            given: given.clone(),
            reason: format!("it is not the current token {token_now:?} (what is being confirmed changed)"),
        }),
        Verdict::Expired { given, expired_at } => notices.push(TokenNotice::Refused {
            given: given.clone(),
            reason: format!("it expired at {expired_at}; the current token is {token_now:?}"),
        }),
        Verdict::Pending => {}
    }
    Asked {
        token: token_now,
        issue: issue_now,
        verdict,
        notices,
    }
}

/// The reason and note of an Event about `what` ("the discard of …"); `by` names the confirming
/// field manager for an accepted token.
pub fn event_text(notice: &TokenNotice, what: &str, annotation: &str, by: &str) -> (bool, &'static str, String) {
    match notice {
        TokenNotice::Requested { token, expires_at } => (
            true,
            "ConfirmationRequested",
            format!("{what} needs confirmation: annotate with {annotation}={token} (expires at {expires_at})"),
        ),
        TokenNotice::Renewed {
            expired,
            expired_at,
            token,
            expires_at,
        } => (
            true,
            "ConfirmationExpired",
            format!(
                "the confirmation token {expired:?} for {what} expired at {expired_at} unconfirmed; the new token is {token:?} (annotate with {annotation}={token}, expires at {expires_at})"
            ),
        ),
        TokenNotice::Refused { given, reason } => (
            true,
            "ConfirmationRefused",
            format!("refused {annotation}={given:?} for {what}: {reason}"),
        ),
        TokenNotice::Accepted { token } => (
            false,
            "ConfirmationAccepted",
            format!("{what} confirmed with token {token:?} by {by}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn tokens(nonce: &str) -> Tokens<'_> {
        Tokens {
            nonce,
            ttl: Duration::from_secs(900),
        }
    }

    #[test]
    fn a_request_keeps_its_token_until_it_expires_then_a_new_nonce_replaces_it() {
        let first = ask("b", None, None, at(0), tokens("n1"));
        assert_eq!(first.verdict, Verdict::Pending);
        assert!(matches!(first.notices[..], [TokenNotice::Requested { .. }]));
        assert_eq!(first.issue.expires_at.0, at(900));
        let prev = Previous {
            token: &first.token,
            issue: Some(&first.issue),
        };
        // The next pass draws another nonce, but the journalled request stands.
        let again = ask("b", Some(prev), None, at(899), tokens("n2"));
        assert_eq!((again.token.as_str(), again.notices.len()), (first.token.as_str(), 0));
        let late = ask("b", Some(prev), Some(&first.token), at(900), tokens("n3"));
        assert_ne!(late.token, first.token);
        assert_eq!(late.issue.nonce, "n3");
        assert!(matches!(late.verdict, Verdict::Expired { .. }), "{late:?}");
        assert!(matches!(late.notices[0], TokenNotice::Renewed { .. }));
        // Later passes still recognise the expired token.
        let prev = Previous {
            token: &late.token,
            issue: Some(&late.issue),
        };
        let after = ask("b", Some(prev), Some(&first.token), at(901), tokens("n4"));
        assert_eq!(after.token, late.token);
        assert!(matches!(after.verdict, Verdict::Expired { .. }));
        let ok = ask("b", Some(prev), Some(&late.token), at(902), tokens("n5"));
        assert!(ok.confirmed());
    }

    #[test]
    fn a_different_binding_or_nonce_is_a_different_token() {
        assert_ne!(token("b", "n1"), token("c", "n1"));
        assert_ne!(token("b", "n1"), token("b", "n2"));
        let first = ask("b", None, None, at(0), tokens("n1"));
        let prev = Previous {
            token: &first.token,
            issue: Some(&first.issue),
        };
        let moved = ask("c", Some(prev), Some(&first.token), at(1), tokens("n2"));
        assert_ne!(moved.token, first.token);
        assert_eq!(moved.issue, first.issue, "same series: same nonce and expiry");
        assert!(matches!(moved.verdict, Verdict::Wrong { .. }));
        assert!(matches!(moved.notices[0], TokenNotice::Requested { .. }));
        // Back to what was shown first: the token shown first.
        let prev = Previous {
            token: &moved.token,
            issue: Some(&moved.issue),
        };
        let back = ask("b", Some(prev), Some(&first.token), at(2), tokens("n3"));
        assert!(back.confirmed());
    }

    #[test]
    fn fresh_nonces_differ() {
        assert_ne!(fresh_nonce(), fresh_nonce());
        assert_eq!(fresh_nonce().len(), 32);
    }
}
