//! `drover plan`: a dry run from the user's own files. Each AvailabilityGroup
//! and PersistentChatPool is observed read-only, with the same SELECT batches
//! the controllers poll with, and handed to the same planner; the step it
//! would take now is printed with its T-SQL, and nothing is executed.
//!
//! - [`load`]: read, type and validate YAML files (shared with `drover drill`).
//! - [`render`]: the report as text, JSON or YAML.
//!
//! Offline there is no status, so every journal is empty (a fresh plan), and no
//! Secret can be read: the login comes from the command line.

pub mod load;
pub mod render;

use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus, TlsSpec};
use crate::api::dr_site::DrSite;
use crate::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus};
use crate::controller::ag::connections::{Pool, targets};
use crate::controller::ag::status as ag_status;
use crate::controller::pchat::{endpoint as pool_endpoint, instances as pool_instances, observe_instances};
use crate::plan::ag::{self, Journal, Next};
use crate::plan::pchat;
use crate::sql::{Credentials, Encryption, ReplicaClient, Timeouts, Tls};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use load::{Loaded, Resource};
use serde::Serialize;
use std::path::PathBuf;

/// Exit code: the plan was made (whatever it says).
pub const EXIT_OK: u8 = 0;
/// Exit code: bad input (a file, a field, a missing login); nothing was contacted.
pub const EXIT_BAD_INPUT: u8 = 2;

/// How the SQL instances are reached, given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The login (the specs' Secret cannot be read offline). `None`: nothing needs one.
    pub credentials: Option<Credentials>,
    /// Connect without TLS whatever the specs say (the simulator, a test server).
    pub tls_off: bool,
    /// The PEM CA bundle to use where a spec names `tls.caSecret`.
    pub ca_bundle_pem: Option<Vec<u8>>,
    pub timeouts: Timeouts,
}

/// The report: one entry per drover resource in the files.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub resources: Vec<ResourcePlan>,
    /// Documents of other API groups, skipped (`FILE: Kind/name`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    /// What a dry run cannot know.
    pub notes: Vec<String>,
}

/// What drover would do now for one resource.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcePlan {
    pub kind: String,
    pub name: String,
    pub file: String,
    /// The site the spec declares.
    pub desired_site: String,
    /// The site observed serving (primary, active data center).
    pub observed_site: Option<String>,
    pub phase: Option<String>,
    pub next: NextStep,
    /// The runbook's remaining steps after `next`, when the planner keeps one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runbook: Vec<String>,
    /// Each server as observed.
    pub servers: Vec<ServerLine>,
    /// The conditions drover would write.
    pub conditions: Vec<ConditionLine>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum NextStep {
    /// Nothing to do.
    Steady,
    /// Something is under way; drover would look again soon.
    Wait { reason: String },
    /// Nothing drover may do until a person or the world changes something.
    Blocked { reason: String },
    /// The statement drover would run now, on `server`.
    Sql {
        action: String,
        server: String,
        sql: String,
        reason: String,
    },
    /// The hook Job drover would create (a cmdlet of the chat product).
    Hook {
        action: String,
        site: String,
        arguments: Vec<String>,
    },
    /// What a DrSite would write into a child's spec.
    SetChildSite { child: String, site: String },
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerLine {
    pub server: String,
    pub site: String,
    pub reachable: bool,
    pub role: Option<String>,
    pub availability_mode: Option<String>,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConditionLine {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl From<&Condition> for ConditionLine {
    fn from(c: &Condition) -> Self {
        Self {
            type_: c.type_.clone(),
            status: c.status.clone(),
            reason: c.reason.clone(),
            message: c.message.clone(),
        }
    }
}

/// What went wrong before anything was contacted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(pub Vec<String>);

/// Loads `files` and plans every resource in them at `now`. Bad input returns before any
/// connection is opened.
pub async fn plan_files(files: &[PathBuf], access: &Access, now: Timestamp) -> Result<Report, BadInput> {
    let input = load::load(files).map_err(|errors| BadInput(errors.iter().map(ToString::to_string).collect()))?;
    if input.resources.is_empty() {
        // An empty file, or the wrong one, must not pass for a plan with nothing to do.
        let named: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        return Err(BadInput(vec![format!(
            "{}: nothing to plan: no AvailabilityGroup, PersistentChatPool or DrSite in {}",
            named.join(", "),
            if named.len() == 1 { "the file" } else { "the files" }
        )]));
    }
    check_access(&input.resources, access)?;
    let mut resources = Vec::new();
    for loaded in &input.resources {
        let file = loaded.file.display().to_string();
        let plan = match &loaded.resource {
            Resource::AvailabilityGroup(ag) => plan_ag(ag, access, now).await,
            Resource::PersistentChatPool(pool) => plan_pool(pool, access, now).await,
            Resource::DrSite(_) => continue,
        };
        resources.push(ResourcePlan { file, ..plan });
    }
    // A DrSite's children are read from what was just planned for them.
    for loaded in &input.resources {
        if let Resource::DrSite(drs) = &loaded.resource {
            let plan = plan_drsite(drs, &input.resources, &resources);
            resources.push(ResourcePlan {
                file: loaded.file.display().to_string(),
                ..plan
            });
        }
    }
    Ok(Report {
        resources,
        skipped: input.skipped,
        notes: vec![
            "dry run: only SELECT batches were sent; nothing was changed".into(),
            "no status is read offline, so every journal is empty: this is the plan of a fresh start (a transition already under way would be resumed from its journal)".into(),
        ],
    })
}

/// The login and CA the resources need are on the command line.
fn check_access(resources: &[Loaded], access: &Access) -> Result<(), BadInput> {
    let mut errors = Vec::new();
    for loaded in resources {
        let (tls, what) = match &loaded.resource {
            Resource::AvailabilityGroup(ag) => (&ag.spec.tls, "AvailabilityGroup"),
            Resource::PersistentChatPool(p) => (&p.spec.tls, "PersistentChatPool"),
            Resource::DrSite(_) => continue,
        };
        let object = format!("{}: {what}/{}", loaded.file.display(), loaded.resource.name());
        if access.credentials.is_none() {
            errors.push(format!(
                "{object}: spec.credentials: the Secret cannot be read offline: give --username and --password-env"
            ));
        }
        if let Some(ca) = &tls.ca_secret
            && access.ca_bundle_pem.is_none()
            && !access.tls_off
            && !tls.trust_server_certificate
        {
            errors.push(format!(
                "{object}: spec.tls.caSecret: Secret {} cannot be read offline: give --ca-file (or --tls-off)",
                ca.name
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(BadInput(errors))
    }
}

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

async fn plan_ag(ag: &AvailabilityGroup, access: &Access, now: Timestamp) -> ResourcePlan {
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
        last_seen_primary: None,
        resource_name: &name,
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

async fn plan_pool(pool: &PersistentChatPool, access: &Access, now: Timestamp) -> ResourcePlan {
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
fn plan_drsite(drs: &DrSite, loaded: &[Loaded], planned: &[ResourcePlan]) -> ResourcePlan {
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
        if plan.desired_site != spec.active_site {
            moves.push(NextStep::SetChildSite {
                child: target.clone(),
                site: spec.active_site.clone(),
            });
            notes.push(format!(
                "{target} declares {} but the DrSite's active site is {}: drover would set it (after stopping the old site's components, which are not observed here)",
                plan.desired_site, spec.active_site
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
        desired_site: spec.active_site.clone(),
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

/// `drover plan`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The YAML files (multi-document) declaring AvailabilityGroups, PersistentChatPools and
    /// DrSites; documents of other API groups (Secrets, Namespaces) are skipped.
    #[arg(short = 'f', long = "file", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: render::Format,
    /// The SQL login (the specs' credentials Secret cannot be read offline).
    #[arg(long)]
    pub username: Option<String>,
    /// The name of the environment variable holding the login's password (never the password
    /// itself: command lines are visible to other users).
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Connect without TLS whatever the specs say (the simulator, a test server).
    #[arg(long)]
    pub tls_off: bool,
    /// The PEM CA bundle for specs that name `tls.caSecret`.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Seconds allowed to connect to and log in to each server.
    #[arg(long, default_value_t = 5)]
    pub connect_timeout: u64,
}

/// What `drover plan` prints and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: u8,
    pub stdout: String,
    pub stderr: String,
}

impl PlanArgs {
    /// The access the arguments describe; a missing variable or CA file is bad input.
    pub fn access(&self) -> Result<Access, BadInput> {
        let mut errors = Vec::new();
        let credentials = match (&self.username, &self.password_env) {
            (None, None) => None,
            (Some(user), Some(var)) => match std::env::var(var) {
                Ok(password) => Some(Credentials {
                    user: user.clone(),
                    password,
                }),
                Err(_) => {
                    errors.push(format!(
                        "--password-env: the environment variable {var} is not set (or not UTF-8)"
                    ));
                    None
                }
            },
            (Some(_), None) => {
                errors.push("--username needs --password-env VAR (the variable holding the password)".into());
                None
            }
            (None, Some(_)) => {
                errors.push("--password-env needs --username".into());
                None
            }
        };
        let ca_bundle_pem = match &self.ca_file {
            None => None,
            Some(path) => match std::fs::read(path) {
                Ok(pem) => Some(pem),
                Err(e) => {
                    errors.push(format!("--ca-file: cannot read {}: {e}", path.display()));
                    None
                }
            },
        };
        let connect = std::time::Duration::from_secs(self.connect_timeout.max(1));
        let timeouts = Timeouts {
            connect,
            handshake: connect * 2,
            ..Timeouts::default()
        };
        if errors.is_empty() {
            Ok(Access {
                credentials,
                tls_off: self.tls_off,
                ca_bundle_pem,
                timeouts,
            })
        } else {
            Err(BadInput(errors))
        }
    }
}

/// `drover plan` at `now`: the report on stdout, problems on stderr.
pub async fn run(args: &PlanArgs, now: Timestamp) -> Outcome {
    let bad = |BadInput(errors): BadInput| Outcome {
        code: EXIT_BAD_INPUT,
        stdout: String::new(),
        stderr: errors.iter().map(|e| format!("drover plan: {e}\n")).collect(),
    };
    let access = match args.access() {
        Ok(a) => a,
        Err(e) => return bad(e),
    };
    let report = match plan_files(&args.files, &access, now).await {
        Ok(r) => r,
        Err(e) => return bad(e),
    };
    match render::render(&report, args.output) {
        Ok(stdout) => Outcome {
            code: EXIT_OK,
            stdout,
            stderr: String::new(),
        },
        Err(e) => Outcome {
            code: 1,
            stdout: String::new(),
            stderr: format!("drover plan: {e}\n"),
        },
    }
}

/// `drover plan` as the binary runs it: prints, and returns the exit code.
pub async fn main(args: PlanArgs) -> u8 {
    let outcome = run(&args, Timestamp::now()).await;
    print!("{}", outcome.stdout);
    eprint!("{}", outcome.stderr);
    outcome.code
}
