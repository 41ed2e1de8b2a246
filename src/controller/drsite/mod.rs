//! The DrSite controller, as one pass of a readable pipeline: validate →
//! observe sites, components and children → plan → write status (the journal,
//! before acting) → run every due action → write status again → say when to
//! look again. The runbook is decided in [`crate::plan::drsite`]; it is
//! executed here, in [`execute`], and nowhere else.

pub mod observe;
pub mod run;
pub mod status;
#[cfg(test)]
mod tests;

use super::{Config, DrPort, Event, Failures, PortError, as_stored, newly_true_events, whole_seconds};
use crate::api::conditions;
use crate::api::dr_site::{CONFIRM_SITE_LOST_ANNOTATION, DrSite, DrSiteStatus, validate};
use crate::components::hook::{Build, HookContext, hook_job};
use crate::components::jobs::JobOwner;
use crate::components::{HookAction, Sites, tenancy};
use crate::plan::drsite::{self, Action, ChildKind, Input, Notice, record_executed};
use crate::runtime::Shared;
use crate::runtime::metrics::{Kind, Metrics};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use std::time::Duration;
use tokio::time::Instant;

pub use super::ag::Requeue;

/// Why a reconcile failed; the controller backs off and tries again.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kubernetes(#[from] PortError),
}

impl Error {
    /// A PascalCase label for metrics and Events.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Kubernetes(_) => "KubernetesError",
        }
    }
}

/// Shared by every reconcile of the controller.
pub struct Context<P, S> {
    pub port: P,
    pub sites: S,
    pub config: Config,
    failures: Failures,
    /// The gate and metrics shared with the process's other controllers.
    pub shared: Shared,
}

impl<P: DrPort, S: Sites> Context<P, S> {
    pub fn new(port: P, sites: S, config: Config) -> Self {
        Self {
            port,
            sites,
            config,
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
}

/// `DrSite/namespace/name`.
pub fn key_of(drs: &DrSite) -> String {
    format!("DrSite/{}/{}", drs.namespace().unwrap_or_default(), drs.name_any())
}

/// One reconcile of one DrSite at time `now`.
pub async fn reconcile<P: DrPort, S: Sites>(
    drs: &DrSite,
    ctx: &Context<P, S>,
    now: Timestamp,
) -> Result<Requeue, Error> {
    let key = key_of(drs);
    if !ctx.shared.gate.may_act() {
        // A follower (or a process shutting down) neither writes status nor acts; becoming leader
        // reconciles every object again.
        return Ok(Requeue::OnChange);
    }
    let started = Instant::now();
    let previous = drs.status.clone().unwrap_or_default();
    let mut stored = previous.clone();
    let result = reconcile_inner(drs, ctx, whole_seconds(now), &mut stored).await;
    if result.is_ok() {
        ctx.failures.succeeded(&key);
    }
    record(&ctx.shared.metrics, drs, started, &result, &previous, &stored);
    result
}

/// The metrics of one reconcile: its outcome, and the status it left (`stored`) against the one
/// it started from.
fn record(
    metrics: &Metrics,
    drs: &DrSite,
    started: Instant,
    result: &Result<Requeue, Error>,
    previous: &DrSiteStatus,
    stored: &DrSiteStatus,
) {
    let error = result.as_ref().err().map(Error::label);
    metrics.reconciled(Kind::DrSite, started.elapsed(), error);
    metrics.observe_drsite(&drs.namespace().unwrap_or_default(), &drs.name_any(), previous, stored);
}

/// Writes `status` and keeps it as what the object now holds.
async fn write<P: DrPort, S: Sites>(
    ctx: &Context<P, S>,
    drs: &DrSite,
    status: &DrSiteStatus,
    stored: &mut DrSiteStatus,
) -> Result<(), PortError> {
    ctx.port.patch_drsite_status(drs, status).await?;
    stored.clone_from(status);
    Ok(())
}

/// `stored` ends as the status the object holds (written or found unchanged).
async fn reconcile_inner<P: DrPort, S: Sites>(
    drs: &DrSite,
    ctx: &Context<P, S>,
    now: Timestamp,
    stored: &mut DrSiteStatus,
) -> Result<Requeue, Error> {
    let spec = &drs.spec;
    let previous = drs.status.clone().unwrap_or_default();
    let generation = drs.metadata.generation;
    let stamp = Time(now);

    let mut errors = validate(spec);
    // The hook Jobs drover would run for it: refused before anything is done.
    let templates = crate::components::jobs::drsite_templates(spec);
    for r in crate::components::jobs::check_all(&templates, &ctx.config.jobs) {
        errors.push(crate::api::availability_group::SpecError {
            field: r.field,
            message: r.message,
        });
    }
    if !errors.is_empty() {
        let status = as_stored(status::invalid(&previous, generation, &errors, &stamp));
        if status != previous {
            let note = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
            ctx.port
                .publish_drsite(drs, &Event::warning("InvalidSpec", note))
                .await?;
            write(ctx, drs, &status, stored).await?;
        }
        return Ok(Requeue::OnChange);
    }

    // Where it may act, before anything is read or done there.
    let refusals = refused_namespaces(drs, ctx).await?;
    if !refusals.is_empty() {
        let message = refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
        let status = as_stored(status::refused(
            &previous,
            generation,
            NAMESPACE_NOT_ALLOWED,
            message.clone(),
            &stamp,
        ));
        if status != previous {
            tracing::warn!(reason = NAMESPACE_NOT_ALLOWED, %message, "nothing done");
            ctx.port
                .publish_drsite(drs, &Event::warning(NAMESPACE_NOT_ALLOWED, message))
                .await?;
            write(ctx, drs, &status, stored).await?;
        }
        // No watch on namespaces: an administrator's label is seen at the next steady poll.
        return Ok(Requeue::After(ctx.config.steady_poll));
    }

    let observed = observe::observe(drs, &ctx.port, &ctx.sites).await?;
    // Said once per spec generation: a remote site reached without checking its certificate.
    if previous.observed_generation != generation {
        for site in &spec.sites {
            let weak = observe::access(drs, &site.name).and_then(|at| ctx.sites.transport_warning(&at));
            if let Some(weak) = weak {
                ctx.port
                    .publish_drsite(drs, &Event::warning(crate::controller::login::INSECURE_TRANSPORT, weak))
                    .await?;
            }
        }
    }
    let journal = status::journal_of(&previous);
    let name = drs.name_any();
    let nonce = crate::plan::confirm::fresh_nonce();
    let site_lost_by =
        crate::controller::confirmer::given(&drs.metadata, CONFIRM_SITE_LOST_ANNOTATION).map(|(_, by)| by);
    let plan = drsite::plan(&Input {
        spec,
        name: &name,
        observed: &observed,
        journal: &journal,
        now,
        site_lost_token: drs.annotations().get(CONFIRM_SITE_LOST_ANNOTATION).map(String::as_str),
        site_lost_by: site_lost_by.as_deref(),
        tokens: crate::plan::confirm::Tokens {
            nonce: &nonce,
            ttl: ctx.config.confirmation_ttl,
        },
    });

    // The journal first: a transition's start, a consumed confirmation and each step's start are
    // in status before anything is done about them.
    let before = as_stored(status::planned(
        spec,
        &previous,
        generation,
        &plan,
        &plan.journal,
        &observed,
        &stamp,
    ));
    if before != previous {
        write(ctx, drs, &before, stored).await?;
    }
    for notice in &plan.notices {
        // A token's Event never holds back the step it allowed (the journal has the consumption).
        match ctx.port.publish_drsite(drs, &event_for(notice, &name)).await {
            Err(e) if matches!(notice, Notice::Token { .. }) => {
                tracing::warn!(error = %e, "the Event about a confirmation token was not published");
            }
            other => other?,
        }
    }
    for event in condition_events(&previous, &before) {
        ctx.port.publish_drsite(drs, &event).await?;
    }

    let mut journal = plan.journal.clone();
    let mut failed = 0;
    if !plan.actions.is_empty() && !ctx.shared.gate.may_act() {
        tracing::info!("steps not started: this process lost the leader lease or is stopping");
        return Ok(Requeue::OnChange);
    }
    let mut events = Vec::new();
    for action in &plan.actions {
        let outcome = execute(drs, ctx, action).await;
        ctx.shared.metrics.step(Kind::DrSite, action.kind(), outcome.is_ok());
        match outcome {
            Ok(note) => {
                record_executed(&mut journal, action);
                events.push(Event::normal(reason_of(action), note));
            }
            Err(e) => {
                failed += 1;
                let note = format!("{}: {e}", describe(action));
                events.push(Event::warning("ActionFailed", note));
            }
        }
    }
    // The journal before the Events, so a refused Event cannot make an executed action be
    // forgotten.
    if journal != plan.journal {
        let after = as_stored(status::planned(
            spec, &before, generation, &plan, &journal, &observed, &stamp,
        ));
        if after != before {
            write(ctx, drs, &after, stored).await?;
        }
    }
    for event in &events {
        ctx.port.publish_drsite(drs, event).await?;
    }
    Ok(if failed > 0 {
        Requeue::After(ctx.failed(&key_of(drs)))
    } else if plan.busy {
        Requeue::After(ctx.config.transition_poll)
    } else {
        Requeue::After(ctx.config.steady_poll)
    })
}

/// The reason (Invalid condition, Warning Event) when a site's namespace is refused.
pub const NAMESPACE_NOT_ALLOWED: &str = "NamespaceNotAllowed";

/// Every site of `drs` whose namespace it may not act in ([`tenancy::check`]); the namespaces'
/// labels are read only for sites in the operator's cluster outside the DrSite's namespace, and
/// not at all under `--no-cross-namespace-refs`.
async fn refused_namespaces<P: DrPort, S: Sites>(
    drs: &DrSite,
    ctx: &Context<P, S>,
) -> Result<Vec<tenancy::Refusal>, PortError> {
    let home = drs.namespace().unwrap_or_default();
    let policy = ctx.config.tenancy;
    let mut refusals = Vec::new();
    for site in drs.spec.sites.iter().filter(|s| tenancy::needs_lookup(&home, s)) {
        let target = if policy.no_cross_namespace_refs {
            None
        } else {
            Some(ctx.sites.namespace_labels(&site.namespace, &home).await?)
        };
        if let Err(refusal) = tenancy::check(&home, site, policy, target.as_ref()) {
            refusals.push(refusal);
        }
    }
    Ok(refusals)
}

/// Runs one action; `Ok` carries the Event note.
async fn execute<P: DrPort, S: Sites>(drs: &DrSite, ctx: &Context<P, S>, action: &Action) -> Result<String, String> {
    match action {
        Action::Scale {
            component,
            site,
            kind,
            name,
            replicas,
        } => {
            let at = observe::access(drs, site).ok_or_else(|| format!("site {site} is not in spec.sites"))?;
            ctx.sites
                .scale(&at, *kind, name, *replicas)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "{} {component}@{site}: scaled {kind:?} {}/{name} to {replicas}",
                if *replicas == 0 { "stop" } else { "start" },
                at.namespace
            ))
        }
        Action::RunHook {
            component,
            site,
            action: which,
            run,
        } => {
            let at = observe::access(drs, site).ok_or_else(|| format!("site {site} is not in spec.sites"))?;
            let hooks = drs
                .spec
                .component(component)
                .and_then(|c| c.at(site))
                .and_then(|a| a.hooks.as_ref())
                .ok_or_else(|| format!("{component} has no hooks at {site}"))?;
            let template = match which {
                HookAction::Start => &hooks.start,
                HookAction::Stop => &hooks.stop,
            };
            let drsite = drs.name_any();
            let job = hook_job(
                template,
                &at.namespace,
                &HookContext {
                    drsite: &drsite,
                    component,
                    site,
                    action: *which,
                    active_site: &drs.spec.active_site,
                    run,
                },
                Build {
                    owner: &JobOwner::of("DrSite", &drs.metadata),
                    policy: &ctx.config.jobs,
                },
            )?;
            ctx.sites.create_job(&at, &job).await.map_err(|e| e.to_string())?;
            Ok(format!(
                "{} {component}@{site}: created hook Job {}/{}",
                which.as_str(),
                at.namespace,
                job.metadata.name.unwrap_or_default()
            ))
        }
        Action::MoveChild { kind, name, site } => {
            let ns = drs.namespace().unwrap_or_default();
            let drsite = drs.name_any();
            let applied = match kind {
                ChildKind::AvailabilityGroup => ctx.port.apply_primary_site(&ns, name, site, &drsite).await,
                ChildKind::PersistentChatPool => ctx.port.apply_pool_active_site(&ns, name, site, &drsite).await,
            };
            applied.map_err(|e| e.to_string())?;
            Ok(format!(
                "move {}@{site}: set {kind} {ns}/{name} {} to {site}",
                kind.key(name),
                kind.desired_field()
            ))
        }
    }
}

fn describe(action: &Action) -> String {
    let (a, target, site) = action.step_key();
    format!("{a:?} {target}@{site}")
}

/// Every Event reason [`reason_of`] gives a step that ran.
pub const STEP_REASONS: [&str; 5] = [
    "StartComponent",
    "StopComponent",
    "RunStartHook",
    "RunStopHook",
    "MoveChild",
];

fn reason_of(action: &Action) -> &'static str {
    match action {
        Action::Scale { replicas: 0, .. } => "StopComponent",
        Action::Scale { .. } => "StartComponent",
        Action::RunHook {
            action: HookAction::Stop,
            ..
        } => "RunStopHook",
        Action::RunHook { .. } => "RunStartHook",
        Action::MoveChild { .. } => "MoveChild",
    }
}

fn event_for(notice: &Notice, name: &str) -> Event {
    match notice {
        Notice::Token {
            what,
            annotation,
            notice,
            by,
        } => crate::controller::confirmer::event(notice, what, annotation, by),
        Notice::TransitionStarted { kind, from, to } => Event::normal(
            "TransitionStarted",
            format!("{kind:?} from {} to {to}", from.as_deref().unwrap_or("nowhere")),
        ),
        Notice::TransitionRetargeted { to, attempt } => Event::normal(
            "TransitionRetargeted",
            format!(
                "spec.activeSite changed mid-transition: now moving to {to} (attempt {attempt}); the plan is recomputed from what is observed"
            ),
        ),
        Notice::TransitionFinished { kind, to, seconds } => Event::normal(
            "TransitionFinished",
            format!("{kind:?} to {to} finished in {seconds} s"),
        ),
        Notice::StepFailed { step, message } => Event::warning("StepFailed", format!("{step}: {message}")),
        Notice::SiteLostConfirmationRequested { site, token } => Event::warning(
            "SiteLostConfirmationRequired",
            format!(
                "site {site} cannot be reached: drover cannot tell whether its ActiveSite components still run or its databases still take writes, so nothing moves away from it yet; only if it is down or fenced (stopped, or cut off from its clients), confirm with: kubectl annotate drsite {name} {CONFIRM_SITE_LOST_ANNOTATION}={token} --overwrite"
            ),
        ),
        Notice::SiteDeclaredLost { site } => Event::warning(
            "SiteDeclaredLost",
            format!(
                "site {site} confirmed lost: its ActiveSite components are no longer waited for, and its databases may be moved away"
            ),
        ),
        Notice::SiteLostTokenRefused { given, current } => Event::warning(
            "ConfirmationStale",
            format!(
                "refused site-lost token {given:?}: the current one is {:?}",
                current.as_deref().unwrap_or("none")
            ),
        ),
        Notice::SiteReturned { site } => Event::normal(
            "SiteReachable",
            format!("site {site}, confirmed lost earlier, answers again: what runs there is checked"),
        ),
    }
}

/// An Event for each problem condition that newly became True.
fn condition_events(previous: &DrSiteStatus, now: &DrSiteStatus) -> Vec<Event> {
    newly_true_events(
        &previous.conditions,
        &now.conditions,
        &[
            (conditions::DEGRADED, "Degraded"),
            (conditions::CONFLICT, "Conflict"),
            (conditions::CONFIRMATION_REQUIRED, "DataLossConfirmationRequired"),
        ],
    )
}
