//! Each resource observed read-only (the controllers' SELECT batches) and handed to its planner;
//! a DrSite judged from what was just planned for its children.

use super::report::{ConditionLine, NextStep, ResourcePlan, ServerLine};
use super::{Access, load::Loaded};
use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus, TlsSpec};
use crate::api::dr_site::DrSite;
use crate::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus};
use crate::controller::ag::connections::{Pool, targets};
use crate::controller::ag::status as ag_status;
use crate::controller::pchat::{endpoint as pool_endpoint, instances as pool_instances, observe_instances};
use crate::plan::ag::{self, Journal, Next};
use crate::plan::pchat;
use crate::sql::{Credentials, Encryption, ReplicaClient, Tls};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The connection settings of a spec, with the command line's overrides.
fn tls_of(spec: &TlsSpec, access: &Access) -> Tls {
    if access.tls_off {
        return Tls {
            encryption: Encryption::Off,
            ..Tls::default()
        };
    }
    Tls {
        encryption: spec.encryption.into(),
        trust_server_certificate: spec.trust_server_certificate,
        ca_bundle_pem: spec.ca_secret.as_ref().and(access.ca_bundle_pem.clone()),
        host_name_in_certificate: spec.host_name_in_certificate.clone(),
    }
}

fn login(access: &Access) -> Credentials {
    access.credentials.clone().unwrap_or(Credentials {
        user: String::new(),
        password: String::new(),
    })
}

pub(super) async fn plan_ag(ag: &AvailabilityGroup, access: &Access, now: Timestamp) -> ResourcePlan {
    let spec = &ag.spec;
    let name = ag.metadata.name.clone().unwrap_or_default();
    let tls = tls_of(&spec.tls, access);
    let targets = targets(spec, &login(access), &tls);
    // The controller's own observation: one SELECT batch per replica, concurrently.
    let observed = Pool::default().observe(&name, &targets, access.timeouts).await;
    let journal = Journal::default();
    let plan = ag::plan(&ag::Input {
        spec,
        observed: &observed,
        journal: &journal,
        now,
        confirmation: None,
        confirmed_by: None,
        last_seen_primary: None,
        resource_name: &name,
        discard_confirmation: None,
        tokens: crate::plan::confirm::Tokens::default(),
        jobs: &[],
    });
    let status: AvailabilityGroupStatus = ag_status::planned(
        &AvailabilityGroupStatus::default(),
        ag.metadata.generation,
        &plan,
        &plan.journal,
        plan.report.clone(),
        None,
        &Time(now),
    );
    let next = match &plan.next {
        Next::Steady => NextStep::Steady,
        Next::Wait(reason) => NextStep::Wait { reason: reason.clone() },
        Next::Blocked(reason) => NextStep::Blocked { reason: reason.clone() },
        // A dry run creates no Job: it says what it would run.
        Next::Hook(step) => NextStep::Wait {
            reason: format!("would create a Job: {}", step.reason),
        },
        Next::Act(step) => NextStep::Sql {
            action: step.command.action.kind().to_string(),
            server: step.command.replica_server_name.clone(),
            sql: step.command.action.to_sql().unwrap_or_else(|e| format!("<{e}>")),
            reason: step.reason.clone(),
        },
    };
    let mut notes = Vec::new();
    if let Some(estimate) = &status.estimated_data_loss_seconds {
        notes.push(format!(
            "a forced failover now would lose about {estimate} s of commits"
        ));
    }
    if let Some(c) = &status.confirmation {
        notes.push(format!(
            "a forced failover needs confirmation: annotate the resource with {}={}",
            crate::api::availability_group::CONFIRM_ANNOTATION,
            c.token
        ));
    }
    ResourcePlan {
        kind: "AvailabilityGroup".into(),
        name,
        file: String::new(),
        desired_site: spec.primary_site.clone(),
        observed_site: status.primary_site.clone(),
        phase: status.phase.map(|p| p.as_str().to_string()),
        next,
        runbook: Vec::new(),
        servers: status
            .replicas
            .iter()
            .map(|r| ServerLine {
                server: r.server_name.clone(),
                site: r.site.clone(),
                reachable: r.reachable,
                role: r.role.clone(),
                availability_mode: r.availability_mode.clone(),
                problem: r.message.clone(),
            })
            .collect(),
        conditions: status.conditions.iter().map(ConditionLine::from).collect(),
        notes,
    }
}

pub(super) async fn plan_pool(pool: &PersistentChatPool, access: &Access, now: Timestamp) -> ResourcePlan {
    let spec = &pool.spec;
    let name = pool.metadata.name.clone().unwrap_or_default();
    let namespace = pool.metadata.namespace.clone().unwrap_or_default();
    let tls = tls_of(&spec.tls, access);
    let instances = pool_instances(spec);
    let mut clients: Vec<ReplicaClient> = instances
        .iter()
        .map(|(_, host, port)| ReplicaClient::new(pool_endpoint(host, *port, &tls), login(access), access.timeouts))
        .collect();
    // The controller's SELECT batch on every instance. The log-shipping folders are not listed:
    // that takes `EXEC xp_dirtree` / `xp_fileexist`, which a dry run does not send.
    let observed = observe_instances(spec, &instances, &mut clients).await;
    let journal = PersistentChatPoolStatus::default();
    let plan = pchat::plan(pchat::Input {
        spec,
        name: &name,
        namespace: &namespace,
        generation: pool.metadata.generation,
        status: &journal,
        observed: &observed,
        now,
        confirmation: None,
        confirmed_by: None,
        discard_confirmation: None,
        tokens: crate::plan::confirm::Tokens::default(),
        refused_jobs: &crate::components::jobs::check_all(
            &crate::components::jobs::pool_templates(spec),
            &crate::components::jobs::JobPolicy::default(),
        ),
    });
    let status = &plan.status;
    let next = match &plan.action {
        Some(pchat::Action::Sql { server, action }) => NextStep::Sql {
            action: action.kind().to_string(),
            server: server.clone(),
            sql: action.to_sql().unwrap_or_else(|e| format!("<{e}>")),
            reason: status
                .step
                .clone()
                .unwrap_or_else(|| plan.action.as_ref().map(|a| a.describe()).unwrap_or_default()),
        },
        Some(pchat::Action::Hook { cmdlet, site, .. }) => NextStep::Hook {
            action: cmdlet.step_name().to_string(),
            site: site.clone(),
            arguments: cmdlet.env().into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        },
        None => match (&status.step, plan.busy) {
            (None, _) => NextStep::Steady,
            (Some(reason), true) => NextStep::Wait { reason: reason.clone() },
            (Some(reason), false) => NextStep::Blocked { reason: reason.clone() },
        },
    };
    let runbook = status
        .transition
        .iter()
        .flat_map(|t| &t.steps)
        .filter(|s| s.state != crate::api::dr_site::StepState::Done)
        .skip(usize::from(plan.action.is_some()))
        .map(|s| format!("{} {}@{}", s.name, s.target, s.site))
        .collect();
    let mut notes = Vec::new();
    if pchat::needs_runbook_inputs(spec, &journal) {
        notes.push(
            "the log-shipping folders were not listed (that needs EXEC xp_dirtree/xp_fileexist, not a SELECT): steps that copy or apply log backups are decided without them".into(),
        );
    }
    ResourcePlan {
        kind: "PersistentChatPool".into(),
        name,
        file: String::new(),
        desired_site: spec.active_site.clone(),
        observed_site: status.active_site.clone(),
        phase: status.phase.map(|p| p.as_str().to_string()),
        next,
        runbook,
        servers: status
            .instances
            .iter()
            .map(|i| ServerLine {
                server: i.server_name.clone(),
                site: i.site.clone(),
                reachable: i.reachable,
                role: Some(i.role.clone()),
                availability_mode: None,
                problem: i.message.clone(),
            })
            .collect(),
        conditions: status.conditions.iter().map(ConditionLine::from).collect(),
        notes,
    }
}

/// A DrSite, offline: what it would write into each child's spec, from the children's files
/// and their plans. Its components live in Kubernetes and are not observed.
pub(super) fn plan_drsite(drs: &DrSite, loaded: &[Loaded], planned: &[ResourcePlan]) -> ResourcePlan {
    let spec = &drs.spec;
    let mut notes = vec![
        "component (workload) state and the sites' clusters are not observed offline: only the children's part of the runbook is shown".to_string(),
    ];
    let mut moves = Vec::new();
    let mut waits = Vec::new();
    let children = spec
        .availability_groups
        .iter()
        .map(|c| ("AvailabilityGroup", &c.name))
        .chain(
            spec.persistent_chat_pools
                .iter()
                .map(|c| ("PersistentChatPool", &c.name)),
        );
    for (kind, child) in children {
        let in_files = loaded
            .iter()
            .any(|l| l.resource.kind() == kind && l.resource.name() == child.as_str());
        let Some(plan) = planned
            .iter()
            .find(|p| p.kind == kind && p.name == *child)
            .filter(|_| in_files)
        else {
            notes.push(format!("{kind}/{child} is not in the files given: not planned"));
            continue;
        };
        let target = format!("{kind}/{child}");
        // A child without a desired site already at the DrSite's site stays there: nothing to set.
        let stays = plan.desired_site.is_none() && plan.observed_site.as_deref() == Some(spec.active_site.as_str());
        if plan.desired_site.as_deref() != Some(spec.active_site.as_str()) && !stays {
            moves.push(NextStep::SetChildSite {
                child: target.clone(),
                site: spec.active_site.clone(),
            });
            notes.push(format!(
                "{target} declares {} but the DrSite's active site is {}: drover would set it (after stopping the old site's components, which are not observed here)",
                plan.desired_site.as_deref().unwrap_or("no site"),
                spec.active_site
            ));
        } else if plan.observed_site.as_deref() != Some(spec.active_site.as_str()) {
            let observed = plan.observed_site.as_deref().unwrap_or("no site (see its plan)");
            waits.push(format!(
                "{target} to reach {} (observed at {observed})",
                spec.active_site
            ));
        }
    }
    let mut moves = moves.into_iter();
    let next = match moves.next() {
        Some(step) => step,
        None if !waits.is_empty() => NextStep::Wait {
            reason: format!("waiting for {}", waits.join(", ")),
        },
        None => NextStep::Steady,
    };
    ResourcePlan {
        kind: "DrSite".into(),
        name: drs.metadata.name.clone().unwrap_or_default(),
        file: String::new(),
        desired_site: Some(spec.active_site.clone()),
        observed_site: None,
        phase: None,
        next,
        runbook: moves
            .map(|m| match m {
                NextStep::SetChildSite { child, site } => format!("set {child} to {site}"),
                other => format!("{other:?}"),
            })
            .collect(),
        servers: Vec::new(),
        conditions: Vec::new(),
        notes,
    }
}
