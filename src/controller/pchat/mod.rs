//! The PersistentChatPool controller, one pass as a pipeline: login → observe
//! the four instances (and, when a runbook needs them, the log-shipping
//! folders and hook Jobs) → plan → write status → run the one due action →
//! journal it → write status again. SQL goes through [`ReplicaClient`]s kept
//! per instance; Kubernetes through the [`PoolPort`].

pub mod run;

use super::login::login;
use super::ownership::{conflict_condition, foreign_value};
use super::{Config, Event, Failures, PoolPort, Port, PortError, as_stored, whole_seconds};
use crate::api::availability_group::CONFIRM_ANNOTATION;
use crate::api::dr_site::StepState;
use crate::api::persistent_chat_pool::{
    PersistentChatPool, PersistentChatPoolSpec, PersistentChatPoolStatus, PoolHooks,
};
use crate::components::LABEL_POOL;
use crate::components::hook::{Build, PoolHookContext, label_value, parse_pool_job, pool_hook_job};
use crate::components::jobs::JobOwner;
use crate::plan::drsite::ChildKind;
use crate::plan::pchat::{self, Action, Cmdlet, DbObs, Input, InstanceObs, Listing, LogShippingObs, Notice, Observed};
use crate::runtime::Shared;
use crate::runtime::metrics::{Kind, Metrics};
use crate::sql::{Credentials, Endpoint, ErrorCategory, Executed, PoolInstanceObservation, ReplicaClient, Tls};
use jiff::Timestamp;
use kube::ResourceExt;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// The AvailabilityGroup controller's: the same failures (the API, the credentials Secret, a
/// step), with the same labels.
pub use super::ag::Error;

/// Shared by every reconcile of the controller.
pub struct Context<P> {
    pub port: P,
    pub config: Config,
    /// One connection per (pool, server), kept across reconciles.
    clients: Mutex<HashMap<(String, String), ReplicaClient>>,
    failures: Failures,
    /// The gate and metrics shared with the process's other controllers.
    pub shared: Shared,
}

impl<P: Port + PoolPort> Context<P> {
    pub fn new(port: P, config: Config) -> Self {
        Self {
            port,
            config,
            clients: Mutex::default(),
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

    /// The pool's client for `server`, taken out of the map (used without the lock held).
    fn take_client(&self, key: &str, server: &str, endpoint: &Endpoint, login: &Credentials) -> ReplicaClient {
        let id = (key.to_string(), server.to_lowercase());
        match crate::sync::lock(&self.clients).remove(&id) {
            Some(c) if c.endpoint() == endpoint && c.credentials() == login => c,
            _ => ReplicaClient::new(endpoint.clone(), login.clone(), self.config.sql),
        }
    }

    /// Closes (drops) the SQL connections of `key` (`namespace/name`), a pool deleted.
    pub fn forget_connections(&self, key: &str) {
        crate::sync::lock(&self.clients).retain(|(k, _), _| k != key);
    }

    /// The pools holding SQL connections.
    pub fn connection_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = crate::sync::lock(&self.clients)
            .keys()
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn put_client(&self, key: &str, server: &str, client: ReplicaClient) {
        crate::sync::lock(&self.clients).insert((key.to_string(), server.to_lowercase()), client);
    }
}

pub use super::ag::Requeue;

/// `namespace/name`.
pub fn key_of(pool: &PersistentChatPool) -> String {
    format!("{}/{}", pool.namespace().unwrap_or_default(), pool.name_any())
}

/// Every declared instance: (server name, endpoint host, port).
pub(crate) fn instances(spec: &PersistentChatPoolSpec) -> Vec<(&str, &str, u16)> {
    [&spec.primary, &spec.backup]
        .into_iter()
        .flat_map(|dc| std::iter::once(&dc.sql_instance).chain(dc.mirror_instance.as_ref()))
        .map(|i| (i.server_name.as_str(), i.endpoint.host.as_str(), i.endpoint.port))
        .collect()
}

pub(crate) fn endpoint(host: &str, port: u16, tls: &Tls) -> Endpoint {
    Endpoint {
        host: host.to_string(),
        port,
        tls: tls.clone(),
    }
}

/// One reconcile of one pool at time `now`.
pub async fn reconcile<P: Port + PoolPort>(
    pool: &PersistentChatPool,
    ctx: &Context<P>,
    now: Timestamp,
) -> Result<Requeue, Error> {
    let key = key_of(pool);
    if !ctx.shared.gate.may_act() {
        // A follower (or a process shutting down) neither writes status nor acts; becoming leader
        // reconciles every object again.
        return Ok(Requeue::OnChange);
    }
    let started = Instant::now();
    let previous = pool.status.clone().unwrap_or_default();
    let mut stored = previous.clone();
    // On the heap: the pass holds several statuses and plans, too large a future for a small stack.
    let result = Box::pin(reconcile_inner(pool, ctx, whole_seconds(now), &key, &mut stored)).await;
    if result.is_ok() {
        ctx.failures.succeeded(&key);
    }
    record(&ctx.shared.metrics, pool, started, &result, &previous, &stored);
    result
}

/// The metrics of one reconcile: its outcome, and the status it left (`stored`) against the one
/// it started from.
fn record(
    metrics: &Metrics,
    pool: &PersistentChatPool,
    started: Instant,
    result: &Result<Requeue, Error>,
    previous: &PersistentChatPoolStatus,
    stored: &PersistentChatPoolStatus,
) {
    let error = result.as_ref().err().map(Error::label);
    metrics.reconciled(Kind::PersistentChatPool, started.elapsed(), error);
    metrics.observe_pool(
        &pool.namespace().unwrap_or_default(),
        &pool.name_any(),
        previous,
        stored,
    );
}

/// Writes `status` and keeps it as what the object now holds.
async fn write<P: PoolPort>(
    ctx: &Context<P>,
    pool: &PersistentChatPool,
    status: &PersistentChatPoolStatus,
    stored: &mut PersistentChatPoolStatus,
) -> Result<(), PortError> {
    ctx.port.patch_pool_status(pool, status).await?;
    stored.clone_from(status);
    Ok(())
}

/// `stored` ends as the status the object holds (written or found unchanged).
async fn reconcile_inner<P: Port + PoolPort>(
    pool: &PersistentChatPool,
    ctx: &Context<P>,
    now: Timestamp,
    key: &str,
    stored: &mut PersistentChatPoolStatus,
) -> Result<Requeue, Error> {
    let spec = &pool.spec;
    let ns = pool.namespace().unwrap_or_default();
    let name = pool.name_any();
    let previous = pool.status.clone().unwrap_or_default();
    // The hook Jobs drover would run for it, under the administrator's rules: a refused template
    // makes the pool Invalid (condition and Event) before anything is done.
    let refused_jobs =
        crate::components::jobs::check_all(&crate::components::jobs::pool_templates(spec), &ctx.config.jobs);
    let valid = pchat_valid(spec) && refused_jobs.is_empty();

    let mut observed = Observed::default();
    let mut target = None;
    let mut foreign = None;
    let mut staying: Option<PersistentChatPool> = None;
    if valid {
        let (login, tls) = match login(&ctx.port, &ns, &spec.credentials, &spec.tls).await {
            Ok(l) => l,
            Err(e) => {
                let error = Error::from(e);
                let label = error.label();
                let mut status = previous.clone();
                status.conditions = crate::api::conditions::merge(
                    &previous.conditions,
                    &[crate::api::conditions::Desired {
                        type_: crate::api::conditions::DEGRADED,
                        status: true,
                        reason: label,
                        message: error.to_string(),
                    }],
                    pool.metadata.generation,
                    &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now),
                );
                let status = as_stored(status);
                if status != previous {
                    ctx.port
                        .publish_pool(pool, &Event::warning(label, error.to_string()))
                        .await?;
                    write(ctx, pool, &status, stored).await?;
                }
                return Err(error);
            }
        };
        // Said once per spec generation (the status then carries it as observed).
        if previous.observed_generation != pool.metadata.generation
            && let Some(weak) = super::login::transport_warning(&spec.tls)
        {
            let event = Event::warning(super::login::INSECURE_TRANSPORT, weak);
            ctx.port.publish_pool(pool, &event).await?;
        }
        // One writer per desired site: an activeSite that the DrSite listing this pool did not
        // write is not acted on; the planner is asked to keep the pool where it is.
        foreign = foreign_value(
            &ctx.port,
            ChildKind::PersistentChatPool,
            &pool.metadata,
            "activeSite",
            spec.active_site.as_deref(),
        )
        .await?;
        if foreign.is_some() {
            let mut stays = pool.clone();
            stays.spec.active_site = None;
            staying = Some(stays);
        }
        observed = observe(ctx, staying.as_ref().unwrap_or(pool), &previous, key, &login, &tls).await?;
        target = Some((login, tls));
    }

    let discard_given =
        crate::controller::confirmer::given(&pool.metadata, crate::api::confirmation::DISCARD_ANNOTATION);
    let nonce = crate::plan::confirm::fresh_nonce();
    let confirmed_by = crate::controller::confirmer::given(&pool.metadata, CONFIRM_ANNOTATION).map(|(_, by)| by);
    let plan = pchat::plan(Input {
        spec: staying.as_ref().map_or(spec, |p| &p.spec),
        name: &name,
        namespace: &ns,
        generation: pool.metadata.generation,
        status: &previous,
        observed: &observed,
        now,
        confirmation: pool.annotations().get(CONFIRM_ANNOTATION).map(String::as_str),
        confirmed_by: confirmed_by.as_deref(),
        discard_confirmation: discard_given
            .as_ref()
            .map(|(token, by)| crate::plan::confirm::Given { token, by }),
        tokens: crate::plan::confirm::Tokens {
            nonce: &nonce,
            ttl: ctx.config.confirmation_ttl,
        },
        refused_jobs: &refused_jobs,
    });
    let mut status = plan.status.clone();
    // Where the pool is active (or was): a foreign value that agrees with it moves nothing.
    let here = status.active_site.clone().or_else(|| previous.active_site.clone());
    let conflict = foreign.filter(|f| f.is_conflict(here.as_deref())).map(|f| {
        f.message(&match &here {
            Some(site) => format!("keeps the pool active at {site}"),
            None => "does not choose where the pool is active".to_string(),
        })
    });
    status.conditions = conflict_condition(
        status.conditions,
        &previous.conditions,
        conflict.as_deref(),
        pool.metadata.generation,
        &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now),
    );
    let mut status = as_stored(status);
    if status != previous {
        write(ctx, pool, &status, stored).await?;
    }
    let was_conflict = previous
        .conditions
        .iter()
        .find(|c| c.type_ == crate::api::conditions::CONFLICT && c.status == "True")
        .map(|c| c.message.as_str());
    if let Some(message) = &conflict
        && was_conflict != Some(message.as_str())
    {
        ctx.port
            .publish_pool(pool, &Event::warning("Conflict", message.clone()))
            .await?;
    }
    for notice in &plan.notices {
        let event = event_for(ctx, &ns, &observed, notice).await;
        // A token's Event never holds back the step it allowed (the journal has the consumption).
        match ctx.port.publish_pool(pool, &event).await {
            Err(e) if matches!(notice, Notice::Token { .. }) => {
                tracing::warn!(error = %e, "the Event about a confirmation token was not published");
            }
            other => other?,
        }
    }
    // Problems are announced when they appear (an invalid spec, an unreachable instance); the
    // confirmation request has its own notice.
    let problems = [
        (crate::api::conditions::INVALID, "InvalidSpec"),
        (crate::api::conditions::DEGRADED, "Degraded"),
    ];
    for event in super::newly_true_events(&previous.conditions, &status.conditions, &problems) {
        ctx.port.publish_pool(pool, &event).await?;
    }
    let poll = if plan.busy || matches!(status.phase, Some(crate::api::persistent_chat_pool::PoolPhase::Waiting)) {
        ctx.config.transition_poll
    } else {
        ctx.config.steady_poll
    };
    let (Some(action), Some((login, tls))) = (&plan.action, &target) else {
        return Ok(if valid { Requeue::After(poll) } else { Requeue::OnChange });
    };
    if !ctx.shared.gate.may_act() {
        tracing::info!(step = %action.describe(), "not started: this process lost the leader lease or is stopping");
        return Ok(Requeue::OnChange);
    }

    let outcome = match action {
        Action::Sql { server, action: sql } => {
            let Some(&(_, host, port)) = instances(spec).iter().find(|(s, _, _)| s.eq_ignore_ascii_case(server)) else {
                return Err(Error::Step(format!(
                    "the plan names instance {server:?}, which is not in the spec"
                )));
            };
            let mut client = ctx.take_client(key, server, &endpoint(host, port, tls), login);
            let result = client.execute(sql).await;
            ctx.put_client(key, server, client);
            let text = sql.to_sql().unwrap_or_else(|e| format!("<{e}>"));
            result
                .map(|executed| {
                    let already = executed == Executed::AlreadyDone;
                    let note = format!(
                        "ran `{text}` on {server}{}",
                        if already {
                            " (SQL Server reports it was already so)"
                        } else {
                            ""
                        }
                    );
                    (already, Event::normal(reason(sql.kind()), note))
                })
                .map_err(|e| (format!("`{text}` on {server} did not run: {e}"), Some(e)))
        }
        Action::Hook { cmdlet, site, run } => {
            let ctx_hook = PoolHookContext {
                pool: &name,
                identity: &spec.pool_identity,
                step: cmdlet.step_name(),
                hook_action: cmdlet.hook_action(),
                site,
                run,
            };
            let owner = JobOwner::of("PersistentChatPool", &pool.metadata);
            let build = Build {
                owner: &owner,
                policy: &ctx.config.jobs,
            };
            match pool_hook_job(template(&spec.hooks, cmdlet), &ns, &ctx_hook, &cmdlet.env(), build) {
                Ok(job) => {
                    let job_name = job.metadata.name.clone().unwrap_or_default();
                    ctx.port
                        .create_job(&ns, &job)
                        .await
                        .map(|()| {
                            (
                                false,
                                Event::normal(
                                    HOOK_STEP_REASON,
                                    format!("created hook Job {job_name} ({})", action.describe()),
                                ),
                            )
                        })
                        .map_err(|e| (format!("cannot create hook Job {job_name}: {e}"), None))
                }
                Err(why) => Err((why, None)),
            }
        }
    };
    ctx.shared
        .metrics
        .step(Kind::PersistentChatPool, action.kind(), outcome.is_ok());
    match outcome {
        Ok((already, event)) => {
            // The journal before the Event, so a refused Event cannot make a step be forgotten.
            pchat::record_executed(&mut status, action, already, now);
            let after = as_stored(status.clone());
            write(ctx, pool, &after, stored).await?;
            ctx.port.publish_pool(pool, &event).await?;
            Ok(Requeue::After(ctx.config.transition_poll))
        }
        Err((note, error)) => {
            ctx.port
                .publish_pool(pool, &Event::warning("StepFailed", note.clone()))
                .await?;
            if let Some(t) = status.transition.as_mut()
                && let Some(step) = t.steps.iter_mut().find(|s| s.state != StepState::Done)
            {
                step.state = StepState::Failed;
                step.message = Some(note.clone());
            }
            let failed = as_stored(status);
            write(ctx, pool, &failed, stored).await?;
            let retryable = error
                .as_ref()
                .is_none_or(|e| e.is_transient() || matches!(e.category(), Some(ErrorCategory::Transient)));
            if retryable {
                Ok(Requeue::After(ctx.failed(key)))
            } else {
                Err(Error::Step(note))
            }
        }
    }
}

fn pchat_valid(spec: &PersistentChatPoolSpec) -> bool {
    crate::api::persistent_chat_pool::validate(spec).is_empty()
}

fn template<'a>(hooks: &'a PoolHooks, cmdlet: &Cmdlet) -> &'a k8s_openapi::api::batch::v1::JobTemplateSpec {
    match cmdlet {
        Cmdlet::SetPoolState(_) => &hooks.set_pool_state,
        Cmdlet::SetActiveServers(_) => &hooks.set_active_servers,
        Cmdlet::InstallMirror { .. } => &hooks.install_mirror,
        Cmdlet::EstablishLogShipping { .. } => &hooks.establish_log_shipping,
    }
}

/// Every instance concurrently; the folders (from the backup instance) and the Jobs when needed.
/// The Jobs are listed first: a hook's cmdlet acts before its Job completes, so SQL Server,
/// observed after, shows the effect of every Job seen succeeded. Listed after, a Job finishing in
/// between would look succeeded without its effect, and its step failed.
async fn observe<P: Port + PoolPort>(
    ctx: &Context<P>,
    pool: &PersistentChatPool,
    previous: &crate::api::persistent_chat_pool::PersistentChatPoolStatus,
    key: &str,
    login: &Credentials,
    tls: &Tls,
) -> Result<Observed, Error> {
    let spec = &pool.spec;
    let runbook = pchat::needs_runbook_inputs(spec, previous);
    let jobs = if runbook {
        let ns = pool.namespace().unwrap_or_default();
        // Only the Jobs drover created for this pool (its UID), whatever their names.
        let owner = JobOwner::of("PersistentChatPool", &pool.metadata);
        ctx.port
            .jobs(&ns, LABEL_POOL, &label_value(&pool.name_any()))
            .await?
            .iter()
            .filter_map(|job| parse_pool_job(job, &owner.uid))
            .collect()
    } else {
        Vec::new()
    };
    let list = instances(spec);
    let mut clients: Vec<ReplicaClient> = list
        .iter()
        .map(|(server, host, port)| ctx.take_client(key, server, &endpoint(host, *port, tls), login))
        .collect();
    let mut observed = observe_instances(spec, &list, &mut clients).await;
    observed.jobs = jobs;
    let backup = spec.backup.sql_instance.server_name.as_str();
    if runbook && let Some(i) = list.iter().position(|(s, _, _)| *s == backup) {
        let client = &mut clients[i];
        observed.destination = listing(client, &spec.log_shipping.copy_destination, false).await;
        observed.share = listing(client, &spec.log_shipping.backup_share, true).await;
    }
    for ((server, _, _), client) in list.iter().zip(clients) {
        ctx.put_client(key, server, client);
    }
    Ok(observed)
}

/// The observation batch (SELECTs only) on every instance of `list` concurrently, each with
/// its client in `clients` (same order); no folder is listed and no Job looked at.
pub(crate) async fn observe_instances(
    spec: &PersistentChatPoolSpec,
    list: &[(&str, &str, u16)],
    clients: &mut [ReplicaClient],
) -> Observed {
    let results = futures::future::join_all(clients.iter_mut().map(|c| c.observe_pool())).await;
    let mut observed = Observed::default();
    for ((server, _, _), result) in list.iter().zip(results) {
        observed.instances.insert(
            server.to_string(),
            result
                .map(|o| instance_obs(&o, &spec.chat_database))
                .map_err(|e| e.to_string()),
        );
    }
    observed
}

/// A folder as the backup instance sees it; a share is checked for reachability first, because
/// `xp_dirtree` lists an unreachable share as empty.
async fn listing(client: &mut ReplicaClient, path: &str, check: bool) -> Listing {
    if check {
        match client.directory_exists(path).await {
            Ok(true) => {}
            Ok(false) => return Listing::Unreachable(format!("{path} is not reachable from the backup instance")),
            Err(e) => return Listing::Unreachable(e.to_string()),
        }
    }
    match client.list_directory(path).await {
        Ok(names) => Listing::Files(names),
        Err(e) => Listing::Unreachable(e.to_string()),
    }
}

/// The SQL layer's observation read into what the planner needs: the databases, their mirroring
/// and user sessions, and the chat database's log-shipping secondary rows.
fn instance_obs(obs: &PoolInstanceObservation, chat_database: &str) -> InstanceObs {
    let databases = obs
        .databases
        .iter()
        .map(|db| {
            let mirroring = db.mirroring.as_ref();
            let sessions = obs.sessions_in(&db.name).iter().map(|s| s.session_id).collect();
            let view = DbObs {
                state: db.state.as_str().to_string(),
                mirroring_role: mirroring.map(|m| m.role.as_str().to_string()),
                mirroring_state: mirroring.map(|m| m.state.as_str().to_string()),
                mirroring_partner: mirroring.and_then(|m| m.partner_instance.clone()),
                sessions,
            };
            (db.name.to_lowercase(), view)
        })
        .collect();
    let log_shipping = obs.log_shipping_of(chat_database).map(|ls| LogShippingObs {
        primary_server: ls.primary_server.clone(),
        configured: ls.configured,
        last_copied_file: ls.last_copied_file.clone(),
        last_copied_at: ls.last_copied_at,
        last_restored_file: ls.last_restored_file.clone(),
        last_restored_at: ls.last_restored_at,
    });
    InstanceObs {
        databases,
        log_shipping,
    }
}

/// The Event for a notice; a failed hook's carries the last lines its pod logged.
async fn event_for<P: PoolPort>(ctx: &Context<P>, ns: &str, observed: &Observed, notice: &Notice) -> Event {
    match notice {
        Notice::TransitionStarted { message } => Event::normal("TransitionStarted", message.clone()),
        Notice::TransitionFinished { message } => Event::normal("TransitionFinished", message.clone()),
        Notice::ConfirmationRequested { message } => Event::warning("DataLossConfirmationRequired", message.clone()),
        Notice::Token {
            what,
            annotation,
            notice,
            by,
        } => crate::controller::confirmer::event(notice, what, annotation, by),
        Notice::StepFailed { step, message } => {
            let step_name = step.split('@').next().unwrap_or_default();
            let failed_job = observed
                .jobs
                .iter()
                .find(|j| j.step == step_name && matches!(j.phase, crate::components::JobPhase::Failed(_)));
            let log = match failed_job {
                Some(job) => match ctx.port.job_log(ns, &job.name).await {
                    Ok(log) if !log.trim().is_empty() => {
                        format!("; last log lines of {}:\n{}", job.name, log.trim_end())
                    }
                    Ok(_) => String::new(),
                    Err(e) => format!("; its log could not be read: {e}"),
                },
                None => String::new(),
            };
            Event::warning("StepFailed", format!("{step}: {message}{log}"))
        }
    }
}

/// The Event reasons of the SQL steps the controller ran (what [`reason`] gives).
pub const SQL_STEP_REASONS: [&str; 9] = [
    "RemoveLogShipping",
    "RestoreLog",
    "RecoverDatabase",
    "RestoreDatabase",
    "FullBackup",
    "TailLogBackup",
    "MirroringOff",
    "EndSession",
    "Step",
];
/// The Event reason of a hook Job the controller created.
pub const HOOK_STEP_REASON: &str = "RunHook";

/// The Event reason for an action kind: `restore_log` → `RestoreLog`.
fn reason(kind: &str) -> &'static str {
    match kind {
        "remove_log_shipping_secondary" => "RemoveLogShipping",
        "restore_log" => "RestoreLog",
        "recover_database" => "RecoverDatabase",
        "restore_database" => "RestoreDatabase",
        "full_backup" => "FullBackup",
        "tail_log_backup" => "TailLogBackup",
        "mirroring_off" => "MirroringOff",
        "kill_session" => "EndSession",
        _ => "Step",
    }
}
