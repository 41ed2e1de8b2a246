//! The imperative shell around the planners: observe over tiberius, execute
//! the planned step, write status and Events through a [`Port`] to Kubernetes.
//!
//! - [`port`]: what the controllers need from Kubernetes, as a trait; the kube
//!   client implements it in [`kube`], tests and the demo in memory.
//! - [`ag`]: the AvailabilityGroup controller.

pub mod ag;
pub mod confirmer;
pub mod drsite;
pub mod events;
pub mod kube;
pub mod login;
pub mod memory;
pub mod ownership;
pub mod pchat;
pub mod port;
pub mod rbac;

pub use port::{DrPort, Event, PoolPort, Port, PortError, SecretData};

use std::time::Duration;

/// Field manager for everything drover writes with server-side apply.
pub const FIELD_MANAGER: &str = "drover";

/// Field manager for what the DrSite controller writes to other objects (a child's desired site, a
/// workload's replicas): its own, so `managedFields` shows who moved what.
pub const DRSITE_FIELD_MANAGER: &str = "drover-drsite";

/// How often to look again, and how to back off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// While a transition is in flight or a step just ran.
    pub transition_poll: Duration,
    /// At steady state, or while blocked on a person.
    pub steady_poll: Duration,
    /// First delay after a failed reconcile; doubles per failure up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub sql: crate::sql::Timeouts,
    /// How long a confirmation token stays good before a new request replaces it.
    pub confirmation_ttl: Duration,
    /// What the administrator allows in the Jobs drover creates from users' templates.
    pub jobs: crate::components::jobs::JobPolicy,
    /// Where a DrSite may act besides its own namespace (`--no-cross-namespace-refs`).
    pub tenancy: crate::components::tenancy::Policy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            transition_poll: Duration::from_secs(2),
            steady_poll: Duration::from_secs(30),
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            sql: crate::sql::Timeouts::default(),
            confirmation_ttl: crate::plan::confirm::DEFAULT_TTL,
            jobs: crate::components::jobs::JobPolicy::default(),
            tenancy: crate::components::tenancy::Policy::default(),
        }
    }
}

/// Consecutive failed reconciles per object, for exponential backoff.
#[derive(Debug, Default)]
pub struct Failures(std::sync::Mutex<std::collections::HashMap<String, u32>>);

impl Failures {
    /// Counts one more failure of `key`; the delay before retrying it.
    pub fn failed(&self, config: &Config, key: &str) -> Duration {
        let mut failures = crate::sync::lock(&self.0);
        let n = failures.entry(key.to_string()).or_default();
        *n = n.saturating_add(1);
        backoff(config, *n)
    }

    /// `key` reconciled: its next failure starts the backoff over.
    pub fn succeeded(&self, key: &str) {
        crate::sync::lock(&self.0).remove(key);
    }
}

/// `now` without its fraction: status times (metav1.Time) are whole seconds, and what a planner
/// journals must read back from status as it was planned.
pub fn whole_seconds(now: jiff::Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// A status as the API server will hand it back (times in whole seconds), so comparing it with
/// the stored one says whether anything really changed and no write is made for nothing.
pub fn as_stored<T: serde::Serialize + serde::de::DeserializeOwned>(status: T) -> T {
    serde_json::to_value(&status)
        .and_then(serde_json::from_value)
        .unwrap_or(status)
}

/// A namespaced resource's API in `namespace`, or in all namespaces.
pub fn api_in<K>(client: &::kube::Client, namespace: Option<&str>) -> ::kube::Api<K>
where
    K: ::kube::Resource<Scope = ::kube::core::NamespaceResourceScope>,
    <K as ::kube::Resource>::DynamicType: Default,
{
    match namespace {
        Some(ns) => ::kube::Api::namespaced(client.clone(), ns),
        None => ::kube::Api::all(client.clone()),
    }
}

/// A warning Event (reason from `types`) for each condition of `types` that is True `now` and was
/// not before, with the condition's message: problems are announced once, when they appear.
pub fn newly_true_events(
    previous: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    now: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    types: &[(&str, &str)],
) -> Vec<Event> {
    use crate::api::conditions::is_true;
    types
        .iter()
        .filter(|(type_, _)| is_true(now, type_) && !is_true(previous, type_))
        .map(|(type_, reason)| {
            let message = now
                .iter()
                .find(|c| c.type_ == *type_)
                .map(|c| c.message.clone())
                .unwrap_or_default();
            Event::warning(reason, message)
        })
        .collect()
}

/// Exponential backoff for the `failures`-th consecutive failure (1-based).
pub fn backoff(config: &Config, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(16));
    config.base_backoff.saturating_mul(factor).min(config.max_backoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let c = Config::default();
        assert_eq!(backoff(&c, 1), Duration::from_secs(2));
        assert_eq!(backoff(&c, 2), Duration::from_secs(4));
        assert_eq!(backoff(&c, 5), Duration::from_secs(32));
        assert_eq!(backoff(&c, 40), Duration::from_secs(300));
    }
}
