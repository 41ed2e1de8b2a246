//! The AvailabilityGroup controller, as one pass of a readable pipeline:
//! validate → credentials → observe every replica → plan → write status →
//! run the one step that is due → write status again → say when to look again.
//! Only the ends touch the world (SQL through [`connections`], Kubernetes
//! through the [`Port`]); the middle is the pure planner and [`status`].

pub mod connections;
pub mod run;
pub mod status;

use super::login::{LoginError, login};
use super::ownership::{conflict_condition, foreign_value};
use super::{Config, Event, Failures, PoolPort, Port, PortError, as_stored, whole_seconds};
use crate::api::availability_group::AgHook;
use crate::api::availability_group::{
    AvailabilityGroup, AvailabilityGroupSpec, AvailabilityGroupStatus, CONFIRM_ANNOTATION, Phase, PrimarySnapshot,
    validate,
};
use crate::api::confirmation::DISCARD_ANNOTATION;
use crate::components::LABEL_AG;
use crate::components::hook::{AgHookContext, Build, ag_hook_job, label_value, parse_ag_job};
use crate::components::jobs::JobOwner;
use crate::plan::ag::{self, Input, Next, Notice};
use crate::plan::drsite::ChildKind;
use crate::runtime::Shared;
use crate::runtime::metrics::{Kind, Metrics};
use crate::sql::{ErrorCategory, Executed, SqlError};
use connections::{Pool, Target};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Why a reconcile failed; the controller backs off and tries again.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kubernetes(#[from] PortError),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("{0}")]
    Step(String),
}

impl Error {
    /// A PascalCase label for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Kubernetes(_) => "KubernetesError",
            Self::Credentials(_) => "CredentialsUnavailable",
            Self::Step(_) => "StepFailed",
        }
    }
}

impl From<LoginError> for Error {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Kubernetes(e) => Self::Kubernetes(e),
            LoginError::Credentials(why) => Self::Credentials(why),
        }
    }
}

/// Shared by every reconcile of the controller.
pub struct Context<P> {
    pub port: P,
    pub config: Config,
    pub pool: Pool,
    /// The primary as last seen, per object: what a forced failover's estimate starts from.
    last_seen: Mutex<HashMap<String, PrimarySnapshot>>,
    failures: Failures,
    /// The gate and metrics shared with the process's other controllers.
    pub shared: Shared,
}

impl<P: Port + PoolPort> Context<P> {
    pub fn new(port: P, config: Config) -> Self {
        Self {
            port,
            config,
            pool: Pool::default(),
            last_seen: Mutex::default(),
            failures: Failures::default(),
            shared: Shared::default(),
        }
    }

    /// Shares `shared` (the leadership gate, the metrics) with the process's other controllers.
    pub fn with_shared(mut self, shared: Shared) -> Self {
        self.shared = shared;
        self
    }

    /// The delay before retrying `key` after one more failure.
    pub fn failed(&self, key: &str) -> Duration {
        self.failures.failed(&self.config, key)
    }

    fn succeeded(&self, key: &str) {
        self.failures.succeeded(key);
    }
}

/// What a reconcile asks for next (every controller's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requeue {
    After(Duration),
    /// Only a change to the object (or its Secret) can help.
    OnChange,
}

impl From<Requeue> for kube::runtime::controller::Action {
    fn from(requeue: Requeue) -> Self {
        match requeue {
            Requeue::After(d) => Self::requeue(d),
            Requeue::OnChange => Self::await_change(),
        }
    }
}

/// `namespace/name`.
pub fn key_of(ag: &AvailabilityGroup) -> String {
    format!("{}/{}", ag.namespace().unwrap_or_default(), ag.name_any())
}

/// One reconcile of one AvailabilityGroup at time `now`.
pub async fn reconcile<P: Port + PoolPort>(
    ag: &AvailabilityGroup,
    ctx: &Context<P>,
    now: Timestamp,
) -> Result<Requeue, Error> {
    let key = key_of(ag);
    if !ctx.shared.gate.may_act() {
        // A follower (or a process shutting down) neither writes status nor acts; becoming leader
        // reconciles every object again.
        return Ok(Requeue::OnChange);
    }
    let started = Instant::now();
    let previous = ag.status.clone().unwrap_or_default();
    let mut stored = previous.clone();
    let result = reconcile_inner(ag, ctx, whole_seconds(now), &key, &mut stored).await;
    if result.is_ok() {
        ctx.succeeded(&key);
    }
    record(&ctx.shared.metrics, ag, started, &result, &previous, &stored);
    result
}

/// The metrics of one reconcile: its outcome, and the status it left (`stored`) against the one
/// it started from.
fn record(
    metrics: &Metrics,
    ag: &AvailabilityGroup,
    started: Instant,
    result: &Result<Requeue, Error>,
    previous: &AvailabilityGroupStatus,
    stored: &AvailabilityGroupStatus,
) {
    let error = result.as_ref().err().map(Error::label);
    metrics.reconciled(Kind::AvailabilityGroup, started.elapsed(), error);
    metrics.observe_ag(&ag.namespace().unwrap_or_default(), &ag.name_any(), previous, stored);
}

/// Writes `status` and keeps it as what the object now holds.
async fn write<P: Port + PoolPort>(
    ctx: &Context<P>,
    ag: &AvailabilityGroup,
    status: &AvailabilityGroupStatus,
    stored: &mut AvailabilityGroupStatus,
) -> Result<(), PortError> {
    ctx.port.patch_status(ag, status).await?;
    stored.clone_from(status);
    Ok(())
}

/// `stored` ends as the status the object holds (written or found unchanged).
async fn reconcile_inner<P: Port + PoolPort>(
    ag: &AvailabilityGroup,
    ctx: &Context<P>,
    now: Timestamp,
    key: &str,
    stored: &mut AvailabilityGroupStatus,
) -> Result<Requeue, Error> {
    let spec = &ag.spec;
    let previous = ag.status.clone().unwrap_or_default();
    let generation = ag.metadata.generation;
    let stamp = Time(now);

    let mut errors = validate(spec);
    // The Jobs drover would run for it (fence, force-quorum): refused before anything is done.
    let templates = crate::components::jobs::ag_templates(spec);
    for r in crate::components::jobs::check_all(&templates, &ctx.config.jobs) {
        errors.push(crate::api::availability_group::SpecError {
            field: r.field,
            message: r.message,
        });
    }
    if !errors.is_empty() {
        let status = as_stored(status::invalid(&previous, generation, &errors, &stamp));
        if status != previous {
            let note = errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
            ctx.port.publish(ag, &Event::warning("InvalidSpec", note)).await?;
            write(ctx, ag, &status, stored).await?;
        }
        return Ok(Requeue::OnChange);
    }

    let targets = match targets(ctx, ag).await {
        Ok(t) => t,
        Err(e) => {
            let status = as_stored(status::unavailable(
                &previous,
                generation,
                e.label(),
                &e.to_string(),
                &stamp,
            ));
            if status != previous {
                ctx.port.publish(ag, &Event::warning(e.label(), e.to_string())).await?;
                write(ctx, ag, &status, stored).await?;
            }
            return Err(e);
        }
    };

    // Said once per spec generation (the status then carries it as observed).
    if previous.observed_generation != generation
        && let Some(weak) = super::login::transport_warning(&spec.tls)
    {
        let event = Event::warning(super::login::INSECURE_TRANSPORT, weak);
        ctx.port.publish(ag, &event).await?;
    }

    let observed = ctx.pool.observe(key, &targets, ctx.config.sql).await;
    let journal = status::journal_of(&previous);
    let remembered = crate::sync::lock(&ctx.last_seen).get(key).cloned();
    let name = ag.name_any();
    // One writer per desired site: a primarySite that the DrSite listing this group did not write
    // is not acted on; the planner is asked to keep the primary where it is.
    let foreign = foreign_value(
        &ctx.port,
        ChildKind::AvailabilityGroup,
        &ag.metadata,
        "primarySite",
        spec.primary_site.as_deref(),
    )
    .await?;
    let staying;
    let in_force = match &foreign {
        Some(_) => {
            staying = AvailabilityGroupSpec {
                primary_site: None,
                ..spec.clone()
            };
            &staying
        }
        None => spec,
    };
    let discard_given = super::confirmer::given(&ag.metadata, DISCARD_ANNOTATION);
    let confirmed_by = super::confirmer::given(&ag.metadata, CONFIRM_ANNOTATION).map(|(_, by)| by);
    let nonce = crate::plan::confirm::fresh_nonce();
    let owner = JobOwner::of("AvailabilityGroup", &ag.metadata);
    let jobs = hook_jobs(ctx, ag, &owner, &previous).await?;
    let plan = ag::plan(&Input {
        spec: in_force,
        observed: &observed,
        journal: &journal,
        now,
        confirmation: ag.annotations().get(CONFIRM_ANNOTATION).map(String::as_str),
        confirmed_by: confirmed_by.as_deref(),
        last_seen_primary: remembered.as_ref(),
        resource_name: &name,
        discard_confirmation: discard_given
            .as_ref()
            .map(|(token, by)| crate::plan::confirm::Given { token, by }),
        tokens: crate::plan::confirm::Tokens {
            nonce: &nonce,
            ttl: ctx.config.confirmation_ttl,
        },
        jobs: &jobs,
    });
    if let Some(seen) = &plan.primary_seen {
        crate::sync::lock(&ctx.last_seen).insert(key.to_string(), as_status_keeps_it(seen));
    }
    let report = plan.report.clone();
    // Where the primary is (or was last seen): a foreign value that agrees with it moves nothing.
    let here = report
        .primary_site
        .clone()
        .or_else(|| remembered.as_ref().and_then(|r| r.site.clone()))
        .or_else(|| previous.primary_site.clone());
    let conflict = foreign.filter(|f| f.is_conflict(here.as_deref())).map(|f| {
        f.message(&match &here {
            Some(site) => format!("keeps the primary at {site}"),
            None => "does not choose where to fail over".to_string(),
        })
    });
    let with_conflict = |mut status: AvailabilityGroupStatus, from: &AvailabilityGroupStatus| {
        status.conditions = conflict_condition(
            status.conditions,
            &from.conditions,
            conflict.as_deref(),
            generation,
            &stamp,
        );
        as_stored(status)
    };
    let before = with_conflict(
        status::planned(
            &previous,
            generation,
            &plan,
            &plan.journal,
            report.clone(),
            None,
            &stamp,
        ),
        &previous,
    );
    if before != previous {
        write(ctx, ag, &before, stored).await?;
    }
    if let Some(message) = &conflict
        && conflict_message(&previous).as_deref() != Some(message.as_str())
    {
        ctx.port
            .publish(ag, &Event::warning("Conflict", message.clone()))
            .await?;
    }
    for notice in &plan.notices {
        let published = ctx.port.publish(ag, &event_for(notice)).await;
        // A token's Event never holds back the step it allowed (the journal has the consumption).
        match published {
            Err(e) if matches!(notice, Notice::Token { .. }) => {
                tracing::warn!(error = %e, "the Event about a confirmation token was not published");
            }
            other => other?,
        }
    }
    // A replica that newly cannot be used (unreachable, wrong login, wrong server) is worth an
    // Event; its error text may change from poll to poll, which status shows but is not news.
    for replica in &before.replicas {
        let was = previous.replicas.iter().find(|r| r.server_name == replica.server_name);
        if let Some(problem) = &replica.message
            && was.is_none_or(|r| r.message.is_none())
        {
            let note = format!("{}: {problem}", replica.server_name);
            ctx.port
                .publish(ag, &Event::warning("ReplicaUnavailable", note))
                .await?;
        }
    }

    // What blocks a Degraded group (a declared database not in the group, a cluster type other
    // than declared, two replicas reporting PRIMARY) needs a person: an Event when it starts or
    // changes, not only the status.
    let ready_message = |s: &AvailabilityGroupStatus| {
        s.conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.message.clone())
    };
    if let Next::Blocked(reason) = &plan.next
        && plan.phase == Phase::Degraded
        && ready_message(&before) != ready_message(&previous)
    {
        ctx.port.publish(ag, &Event::warning("Blocked", reason.clone())).await?;
    }

    if let Next::Hook(hook) = &plan.next {
        if !ctx.shared.gate.may_act() {
            tracing::info!(step = %hook.reason, "not started: this process lost the leader lease or is stopping");
            return Ok(Requeue::OnChange);
        }
        // Always the group's own namespace: nothing in the spec chooses where a Job runs.
        let ns = ag.namespace().unwrap_or_default();
        let created = match hook_job_for(spec, &name, hook, &ns, &owner, &ctx.config) {
            Ok(job) => {
                let job_name = job.metadata.name.clone().unwrap_or_default();
                ctx.port
                    .create_job(&ns, &job)
                    .await
                    .map(|()| job_name.clone())
                    .map_err(|e| format!("cannot create Job {ns}/{job_name}: {e}"))
            }
            Err(why) => Err(why),
        };
        ctx.shared
            .metrics
            .step(Kind::AvailabilityGroup, "run_hook", created.is_ok());
        return match created {
            Ok(job_name) => {
                let after = with_conflict(
                    status::planned(&before, generation, &plan, &hook.after, report, None, &stamp),
                    &before,
                );
                if after != before {
                    write(ctx, ag, &after, stored).await?;
                }
                ctx.port
                    .publish(
                        ag,
                        &Event::normal(
                            "HookJobCreated",
                            format!("{}: created Job {ns}/{job_name}", hook.reason),
                        ),
                    )
                    .await?;
                Ok(Requeue::After(ctx.config.transition_poll))
            }
            Err(note) => {
                ctx.port
                    .publish(ag, &Event::warning("HookJobRefused", note.clone()))
                    .await?;
                let failed = with_conflict(
                    status::planned(&before, generation, &plan, &plan.journal, report, Some(&note), &stamp),
                    &before,
                );
                if failed != before {
                    write(ctx, ag, &failed, stored).await?;
                }
                Ok(Requeue::After(ctx.failed(key)))
            }
        };
    }
    let Next::Act(step) = &plan.next else {
        // An outage being waited out (a primary to return) is watched as closely as a transition.
        return Ok(match (&plan.next, plan.phase) {
            (Next::Wait(_), _) | (Next::Blocked(_), Phase::Waiting) => Requeue::After(ctx.config.transition_poll),
            _ => Requeue::After(ctx.config.steady_poll),
        });
    };
    let Some(index) = spec
        .replicas
        .iter()
        .position(|r| r.server_name.eq_ignore_ascii_case(&step.command.replica_server_name))
    else {
        return Err(Error::Step(format!(
            "the plan names replica {:?}, which is not in the spec",
            step.command.replica_server_name
        )));
    };
    if !ctx.shared.gate.may_act() {
        tracing::info!(step = %step.reason, "not started: this process lost the leader lease or is stopping");
        return Ok(Requeue::OnChange);
    }
    let sql = step.command.action.to_sql().unwrap_or_else(|e| format!("<{e}>"));
    let outcome = ctx
        .pool
        .execute(key, &targets, ctx.config.sql, index, &step.command.action)
        .await;
    let step_kind = step.command.action.kind();
    let reason = action_reason(step_kind);
    match outcome {
        Ok(executed) => {
            ctx.shared.metrics.step(Kind::AvailabilityGroup, step_kind, true);
            let already = if executed == Executed::AlreadyDone {
                " (SQL Server reports it was already so)"
            } else {
                ""
            };
            let note = format!(
                "{}: ran `{sql}` on {}{already}",
                step.reason, step.command.replica_server_name
            );
            // The journal before the Event: what the step did (a failover issued, a confirmation
            // consumed, the fork point) must survive an Event the API server refuses.
            let after = with_conflict(
                status::planned(&before, generation, &plan, &step.after, report, None, &stamp),
                &before,
            );
            if after != before {
                write(ctx, ag, &after, stored).await?;
            }
            ctx.port.publish(ag, &Event::normal(reason, note)).await?;
            Ok(Requeue::After(ctx.config.transition_poll))
        }
        Err(e) => {
            let note = format!("`{sql}` on {} did not run: {e}", step.command.replica_server_name);
            match e.category() {
                // SQL Server's "not yet" answers: look again soon, nothing is wrong (and no step
                // ran, so none is counted).
                Some(ErrorCategory::NotReady | ErrorCategory::Pending) => {
                    ctx.port.publish(ag, &Event::normal("StepDeferred", note)).await?;
                    Ok(Requeue::After(ctx.config.transition_poll))
                }
                _ => {
                    ctx.shared.metrics.step(Kind::AvailabilityGroup, step_kind, false);
                    ctx.port
                        .publish(ag, &Event::warning("StepFailed", note.clone()))
                        .await?;
                    let failed = with_conflict(
                        status::planned(&before, generation, &plan, &plan.journal, report, Some(&note), &stamp),
                        &before,
                    );
                    if failed != before {
                        write(ctx, ag, &failed, stored).await?;
                    }
                    if is_retryable(&e) {
                        Ok(Requeue::After(ctx.failed(key)))
                    } else {
                        Err(Error::Step(note))
                    }
                }
            }
        }
    }
}

/// The group's fence and force-quorum Jobs in its own namespace that drover created for it (by
/// its UID). Listed only while the primary is lost (the only time they matter) and the spec
/// declares a hook.
async fn hook_jobs<P: Port + PoolPort>(
    ctx: &Context<P>,
    ag: &AvailabilityGroup,
    owner: &JobOwner,
    previous: &AvailabilityGroupStatus,
) -> Result<Vec<ag::AgJob>, PortError> {
    let declared = ag
        .spec
        .replicas
        .iter()
        .any(|r| r.fence_hook.is_some() || r.force_quorum_hook.is_some());
    if !declared || (previous.primary_lost.is_none() && previous.hooks.is_empty()) {
        return Ok(Vec::new());
    }
    let ns = ag.namespace().unwrap_or_default();
    let jobs = ctx.port.jobs(&ns, LABEL_AG, &label_value(&ag.name_any())).await?;
    Ok(jobs.iter().filter_map(|j| parse_ag_job(j, &owner.uid)).collect())
}

/// The Job for a hook step, from the replica's template, checked against the administrator's
/// rules again as it is built.
fn hook_job_for(
    spec: &AvailabilityGroupSpec,
    name: &str,
    hook: &ag::HookStep,
    namespace: &str,
    owner: &JobOwner,
    config: &Config,
) -> Result<k8s_openapi::api::batch::v1::Job, String> {
    let replica = spec
        .replica_named(&hook.replica)
        .ok_or_else(|| format!("the plan names replica {:?}, which is not in the spec", hook.replica))?;
    let template = match hook.hook {
        AgHook::Fence => replica.fence_hook.as_ref(),
        AgHook::ForceQuorum => replica.force_quorum_hook.as_ref(),
    }
    .ok_or_else(|| format!("{} declares no {}", hook.replica, hook.hook.field()))?;
    ag_hook_job(
        template,
        namespace,
        &AgHookContext {
            group: name,
            group_name: &spec.group_name,
            hook: hook.hook,
            replica: &replica.server_name,
            site: &hook.site,
            target: &hook.target,
            run: &hook.run,
        },
        Build {
            owner,
            policy: &config.jobs,
        },
    )
}

/// The primary as status can keep it: whole seconds (see [`whole_seconds`]), so the estimate made
/// when it is lost is the one made again from the journal. Its commit times are rounded up, so
/// the known loss estimated from them is never less than with the exact times.
fn as_status_keeps_it(seen: &PrimarySnapshot) -> PrimarySnapshot {
    let down = |t: &Option<Time>| t.as_ref().map(|t| Time(whole_seconds(t.0)));
    let up = |t: &Option<Time>| {
        t.as_ref().map(|t| {
            let second = whole_seconds(t.0);
            if second == t.0 {
                t.clone()
            } else {
                Time(Timestamp::from_second(second.as_second().saturating_add(1)).unwrap_or(t.0))
            }
        })
    };
    let mut kept = seen.clone();
    kept.detected_at = down(&seen.detected_at);
    kept.last_seen = down(&seen.last_seen);
    for db in &mut kept.databases {
        db.commit_time = up(&db.commit_time);
    }
    kept
}

/// The message of a True Conflict condition, if any.
fn conflict_message(status: &AvailabilityGroupStatus) -> Option<String> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == crate::api::conditions::CONFLICT && c.status == "True")
        .map(|c| c.message.clone())
}

fn is_retryable(e: &SqlError) -> bool {
    e.is_transient() || matches!(e.category(), Some(ErrorCategory::Transient))
}

/// Endpoints and login for every replica, from the spec and its Secrets.
async fn targets<P: Port + PoolPort>(ctx: &Context<P>, ag: &AvailabilityGroup) -> Result<Vec<Target>, Error> {
    let spec: &AvailabilityGroupSpec = &ag.spec;
    let ns = ag.namespace().unwrap_or_default();
    let (credentials, tls) = login(&ctx.port, &ns, &spec.credentials, &spec.tls).await?;
    Ok(connections::targets(spec, &credentials, &tls))
}

/// Every Event reason [`action_reason`] gives a step that ran.
pub const STEP_REASONS: [&str; 8] = [
    "PlannedFailover",
    "ForcedFailover",
    "SetAvailabilityMode",
    "SetRequiredSynchronizedSecondaries",
    "DemoteToSecondary",
    "ResumeDataMovement",
    "CopyOnlyBackup",
    "Step",
];

/// The Event reason for an action kind: `planned_failover` → `PlannedFailover`.
fn action_reason(kind: &str) -> &'static str {
    match kind {
        "planned_failover" => "PlannedFailover",
        "forced_failover" => "ForcedFailover",
        "set_availability_mode" => "SetAvailabilityMode",
        "set_required_synchronized_secondaries" => "SetRequiredSynchronizedSecondaries",
        "demote_to_secondary" => "DemoteToSecondary",
        "resume_data_movement" => "ResumeDataMovement",
        "copy_only_backup" => "CopyOnlyBackup",
        _ => "Step",
    }
}

fn event_for(notice: &Notice) -> Event {
    match notice {
        Notice::ConfirmationRequested { token, target } => Event::warning(
            "DataLossConfirmationRequired",
            format!(
                "a forced failover to {target} needs confirmation: annotate with {CONFIRM_ANNOTATION}={token} (see status.confirmation)"
            ),
        ),
        Notice::ConfirmationStale { given, current } => Event::warning(
            "ConfirmationStale",
            format!(
                "refused confirmation token {given:?}: the current one is {current:?} (the target or the estimate changed)"
            ),
        ),
        Notice::LossMeasured {
            seconds: Some(seconds),
            detail,
        } => Event::warning(
            "DataLossMeasured",
            format!("the last forced failover lost {seconds} s of commits: {detail}"),
        ),
        Notice::LossMeasured { seconds: None, detail } => {
            Event::warning("DataLossUnmeasurable", format!("the last forced failover: {detail}"))
        }
        Notice::TransitionFinished { kind, to } => {
            Event::normal("TransitionFinished", format!("{kind} to {to} finished"))
        }
        Notice::TransitionCancelled { to } => Event::normal(
            "TransitionCancelled",
            format!(
                "the move to {to} was abandoned: the desired site in force is the current primary's again \
                 (spec.primarySite points at it, was left out, or was not written by the DrSite listing the group)"
            ),
        ),
        Notice::TransitionOvertaken { to } => Event::normal(
            "TransitionOvertaken",
            format!(
                "{to} became primary without the planned move's failover (a forced failover meanwhile, or a change made outside drover); the last failover on record is kept"
            ),
        ),
        Notice::PrimaryLost { replica } => Event::warning(
            "PrimaryUnreachable",
            format!("no reachable replica reports PRIMARY (last primary: {replica})"),
        ),
        Notice::Token {
            what,
            annotation,
            notice,
            by,
        } => super::confirmer::event(notice, what, annotation, by),
        Notice::HookFinished {
            hook,
            job,
            replica,
            failed: None,
        } => Event::normal(
            match hook {
                AgHook::Fence => "FenceHookSucceeded",
                AgHook::ForceQuorum => "ForceQuorumHookSucceeded",
            },
            format!("{replica}'s {} Job {job} succeeded", hook.field()),
        ),
        Notice::HookFinished {
            hook,
            job,
            replica,
            failed: Some(why),
        } => Event::warning(
            match hook {
                AgHook::Fence => "FenceHookFailed",
                AgHook::ForceQuorum => "ForceQuorumHookFailed",
            },
            format!(
                "{replica}'s {} Job {job} failed: {why}; {}",
                hook.field(),
                match hook {
                    AgHook::Fence => "a forced failover now needs a person's confirmation",
                    AgHook::ForceQuorum => "force quorum by hand (see status)",
                }
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::availability_group::LogPoint;

    fn at(text: &str) -> Time {
        Time(text.parse().expect("timestamp"))
    }

    #[test]
    fn a_remembered_primary_reads_back_from_status_unchanged() {
        let seen = PrimarySnapshot {
            replica: Some("SQL-A".into()),
            site: Some("site-a".into()),
            detected_at: None,
            last_seen: Some(at("2026-11-21T03:00:05.75Z")),
            databases: vec![
                LogPoint {
                    database: "confdb".into(),
                    lsn: Some("39000000011000001".into()),
                    commit_time: Some(at("2026-11-21T03:00:04.2Z")),
                },
                LogPoint {
                    database: "logdb".into(),
                    lsn: None,
                    commit_time: Some(at("2026-11-21T03:00:04Z")),
                },
            ],
        };
        let kept = as_status_keeps_it(&seen);
        assert_eq!(
            kept.last_seen,
            Some(at("2026-11-21T03:00:05Z")),
            "last seen: earlier, never later"
        );
        assert_eq!(
            kept.databases[0].commit_time,
            Some(at("2026-11-21T03:00:05Z")),
            "commits: later, never earlier"
        );
        assert_eq!(kept.databases[1].commit_time, Some(at("2026-11-21T03:00:04Z")));
        let json = serde_json::to_value(&kept).expect("serializes");
        let back: PrimarySnapshot = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, kept);
        assert_eq!(
            whole_seconds("2026-11-21T03:00:05.999Z".parse().unwrap()),
            "2026-11-21T03:00:05Z".parse::<Timestamp>().unwrap()
        );
    }
}
