//! One tiberius connection per replica, kept across reconciles and opened
//! again after any error; all replicas observed at once.

use crate::api::availability_group::AvailabilityGroupSpec;
use crate::plan::ag::Observed;
use crate::sql::{Action, Credentials, Endpoint, Executed, ReplicaClient, SqlError, Timeouts, Tls};
use std::collections::HashMap;
use std::sync::Mutex;

/// Connections by object (`namespace/name`), one per declared replica in spec order.
#[derive(Default)]
pub struct Pool {
    clients: Mutex<HashMap<String, Vec<Option<ReplicaClient>>>>,
}

/// Where and as whom to connect to one replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoint: Endpoint,
    pub credentials: Credentials,
}

/// Every replica of `spec`, in spec order, reached with `tls` and logged in as `credentials`.
pub fn targets(spec: &AvailabilityGroupSpec, credentials: &Credentials, tls: &Tls) -> Vec<Target> {
    spec.replicas
        .iter()
        .map(|r| Target {
            endpoint: Endpoint {
                host: r.endpoint.host.clone(),
                port: r.endpoint.port,
                tls: tls.clone(),
            },
            credentials: credentials.clone(),
        })
        .collect()
}

impl Pool {
    /// Takes the object's clients out (they are used without the lock held), making new ones
    /// where the endpoint or the login changed.
    pub(crate) fn take(&self, key: &str, targets: &[Target], timeouts: Timeouts) -> Vec<ReplicaClient> {
        let mut kept = crate::sync::lock(&self.clients).remove(key).unwrap_or_default();
        kept.resize_with(targets.len(), || None);
        kept.into_iter()
            .zip(targets)
            .map(|(client, t)| match client {
                Some(c) if c.endpoint() == &t.endpoint && c.credentials() == &t.credentials => c,
                _ => ReplicaClient::new(t.endpoint.clone(), t.credentials.clone(), timeouts),
            })
            .collect()
    }

    /// Closes (drops) the connections of `key`, an object deleted.
    pub fn forget(&self, key: &str) {
        crate::sync::lock(&self.clients).remove(key);
    }

    /// The objects holding connections (open or not yet opened).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = crate::sync::lock(&self.clients).keys().cloned().collect();
        keys.sort();
        keys
    }

    pub(crate) fn put_back(&self, key: &str, clients: Vec<ReplicaClient>) {
        crate::sync::lock(&self.clients).insert(key.to_string(), clients.into_iter().map(Some).collect());
    }

    /// Runs the observation batch on every replica concurrently.
    pub async fn observe(&self, key: &str, targets: &[Target], timeouts: Timeouts) -> Vec<Observed> {
        let mut clients = self.take(key, targets, timeouts);
        let results = futures::future::join_all(clients.iter_mut().map(|c| c.observe())).await;
        self.put_back(key, clients);
        results
            .into_iter()
            .map(|r| match r {
                Ok(o) => Observed::Reachable(Box::new(o)),
                Err(e) => Observed::Unreachable(e.to_string()),
            })
            .collect()
    }

    /// Runs one action on replica `index`.
    pub async fn execute(
        &self,
        key: &str,
        targets: &[Target],
        timeouts: Timeouts,
        index: usize,
        action: &Action,
    ) -> Result<Executed, SqlError> {
        let mut clients = self.take(key, targets, timeouts);
        let result = clients[index].execute(action).await;
        self.put_back(key, clients);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str) -> Target {
        Target {
            endpoint: Endpoint {
                host: host.into(),
                port: 1433,
                tls: Tls::default(),
            },
            credentials: Credentials {
                user: "drover".into(),
                password: "secret".into(),
            },
        }
    }

    #[test]
    fn a_deleted_objects_connections_are_dropped_and_the_others_kept() {
        let pool = Pool::default();
        for key in ["dr/ag1", "dr/ag2"] {
            let clients = pool.take(key, &[target("a"), target("b")], Timeouts::default());
            pool.put_back(key, clients);
        }
        assert_eq!(pool.keys(), ["dr/ag1", "dr/ag2"]);
        pool.forget("dr/ag1");
        assert_eq!(pool.keys(), ["dr/ag2"]);
        pool.forget("dr/absent");
        assert_eq!(pool.keys(), ["dr/ag2"]);
    }
}
