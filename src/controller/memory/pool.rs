//! The PersistentChatPool controller's side of the in-memory port: stored pools
//! (whose `spec.activeSite` a DrSite may apply), their status and Events, and
//! hook Jobs that "run" after a latency by calling a runner the test or the demo
//! gives — the simulated pool cmdlets acting on the simulated world.

use super::{MemoryPort, MemoryState, round_trip};
use crate::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus};
use crate::controller::{Event, PoolPort, PortError};
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use kube::ResourceExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a hook Job does when it runs: `Err` fails it with that log line.
pub type JobRunner = Arc<dyn Fn(&Job) -> Result<(), String> + Send + Sync>;

/// A Job in memory: it finishes `latency` after it was created.
#[derive(Debug, Clone)]
pub struct MemoryJob {
    pub job: Job,
    pub finishes_at: Instant,
    /// Set once it ran: `Ok` or the log of its failure.
    pub outcome: Option<Result<(), String>>,
}

pub(super) fn pool_key(pool: &PersistentChatPool) -> String {
    format!("{}/{}", pool.namespace().unwrap_or_default(), pool.name_any())
}

/// The key of a pool's Events in [`MemoryState::events`].
pub fn pool_event_key(pool: &PersistentChatPool) -> String {
    format!("PersistentChatPool/{}", pool_key(pool))
}

impl MemoryPort {
    /// Jobs created from now on run `runner` `latency` after their creation.
    pub fn set_job_runner(&self, latency: Duration, runner: JobRunner) {
        *crate::sync::lock(&self.runner) = Some((latency, runner));
    }

    /// Stores a pool (its status kept current by the controller's writes).
    pub fn put_pool(&self, pool: PersistentChatPool) {
        let mut state = crate::sync::lock(&self.state);
        let key = pool_key(&pool);
        state.pools.insert(key, pool);
    }

    /// The stored pool `namespace/name`.
    pub fn stored_pool(&self, namespace: &str, name: &str) -> Option<PersistentChatPool> {
        crate::sync::lock(&self.state)
            .pools
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// Sets an annotation on a stored pool (a person confirming data loss).
    /// The writer recorded is `kubectl-annotate`, as the API server records `kubectl annotate`.
    pub fn annotate_pool(&self, namespace: &str, name: &str, key: &str, value: &str) -> bool {
        self.annotate_pool_as(namespace, name, key, value, "kubectl-annotate")
    }

    /// Sets an annotation on a stored pool as field manager `manager` (its managed-fields entry
    /// owns the annotation, as the API server would record it).
    pub fn annotate_pool_as(&self, namespace: &str, name: &str, key: &str, value: &str, manager: &str) -> bool {
        let mut state = crate::sync::lock(&self.state);
        let Some(pool) = state.pools.get_mut(&format!("{namespace}/{name}")) else {
            return false;
        };
        crate::controller::confirmer::annotate(&mut pool.metadata, key, value, manager, jiff::Timestamp::now());
        true
    }

    /// A Job deleted, as `kubectl delete job` does (to retry a failed hook).
    pub fn delete_job(&self, namespace: &str, name: &str) -> bool {
        crate::sync::lock(&self.state)
            .jobs
            .remove(&(namespace.to_string(), name.to_string()))
            .is_some()
    }

    /// Every Job, in creation order.
    pub fn all_jobs(&self) -> Vec<MemoryJob> {
        let mut jobs: Vec<MemoryJob> = crate::sync::lock(&self.state).jobs.values().cloned().collect();
        jobs.sort_by_key(|j| j.finishes_at);
        jobs
    }

    /// Runs every Job whose time has come, in creation order.
    fn run_due_jobs(&self, state: &mut MemoryState) {
        let now = Instant::now();
        let runner = crate::sync::lock(&self.runner).as_ref().map(|(_, r)| r.clone());
        let mut due: Vec<&mut MemoryJob> = state
            .jobs
            .values_mut()
            .filter(|j| j.outcome.is_none() && j.finishes_at <= now)
            .collect();
        due.sort_by_key(|j| j.finishes_at);
        for job in due {
            let outcome = match &runner {
                Some(run) => run(&job.job),
                None => Ok(()),
            };
            let (type_, reason, message) = match &outcome {
                Ok(()) => ("Complete", None, None),
                Err(log) => (
                    "Failed",
                    Some("BackoffLimitExceeded".to_string()),
                    Some(format!("hook failed: {log}")),
                ),
            };
            job.job.status = Some(JobStatus {
                conditions: Some(vec![JobCondition {
                    type_: type_.into(),
                    status: "True".into(),
                    reason,
                    message,
                    ..JobCondition::default()
                }]),
                succeeded: outcome.is_ok().then_some(1),
                failed: outcome.is_err().then_some(1),
                ..JobStatus::default()
            });
            job.outcome = Some(outcome);
        }
    }
}

impl PoolPort for MemoryPort {
    async fn patch_pool_status(
        &self,
        pool: &PersistentChatPool,
        status: &PersistentChatPoolStatus,
    ) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("patch_pool_status")?;
        let stored = round_trip(status)?;
        let key = pool_key(pool);
        if let Some(object) = state.pools.get_mut(&key) {
            object.status = Some(stored.clone());
        }
        state.pool_statuses.insert(key, stored);
        state.pool_status_writes += 1;
        Ok(())
    }

    async fn publish_pool(&self, pool: &PersistentChatPool, event: &Event) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("publish_pool")?;
        state.events.push((pool_event_key(pool), event.clone()));
        Ok(())
    }

    async fn jobs(&self, namespace: &str, key: &str, value: &str) -> Result<Vec<Job>, PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("jobs")?;
        self.run_due_jobs(&mut state);
        Ok(state
            .jobs
            .iter()
            .filter(|((ns, _), j)| {
                ns == namespace
                    && j.job
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(key))
                        .map(String::as_str)
                        == Some(value)
            })
            .map(|(_, j)| j.job.clone())
            .collect())
    }

    async fn create_job(&self, namespace: &str, job: &Job) -> Result<(), PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("create_job")?;
        let Some(name) = job.metadata.name.clone() else {
            return Err(PortError::Api(
                "Job.batch is invalid: metadata.name: Required value".into(),
            ));
        };
        let key = (namespace.to_string(), name);
        if let Some(existing) = state.jobs.get(&key) {
            // Created by an earlier pass if it carries the same owner UID; anyone else's Job of
            // that name is not taken for it.
            return if crate::components::jobs::owner_uid(&existing.job) == crate::components::jobs::owner_uid(job) {
                Ok(())
            } else {
                Err(PortError::Api(crate::components::jobs::not_ours(namespace, &key.1)))
            };
        }
        let latency = crate::sync::lock(&self.runner)
            .as_ref()
            .map_or(Duration::ZERO, |(l, _)| *l);
        let mut stored = job.clone();
        stored.metadata.namespace = Some(namespace.to_string());
        state.jobs.insert(
            key,
            MemoryJob {
                job: stored,
                finishes_at: Instant::now() + latency,
                outcome: None,
            },
        );
        Ok(())
    }

    async fn job_log(&self, namespace: &str, job: &str) -> Result<String, PortError> {
        let mut state = crate::sync::lock(&self.state);
        state.call("job_log")?;
        Ok(match state.jobs.get(&(namespace.to_string(), job.to_string())) {
            Some(MemoryJob {
                outcome: Some(Err(log)),
                ..
            }) => log.clone(),
            _ => String::new(),
        })
    }
}
