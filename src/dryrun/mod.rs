//! `drover plan`: a dry run from the user's own files. Each AvailabilityGroup
//! and PersistentChatPool is observed read-only, with the same SELECT batches
//! the controllers poll with, and handed to the same planner; the step it
//! would take now is printed with its T-SQL, and nothing is executed.
//!
//! - [`load`]: read, type and validate YAML files (shared with `drover drill`).
//! - [`observe`]: each resource observed read-only and planned.
//! - [`report`]: what the dry run found; [`render`]: it as text, JSON or YAML.
//! - [`cli`]: the command line.
//!
//! Offline there is no status, so every journal is empty (a fresh plan), and no
//! Secret can be read: the login comes from the command line.

mod cli;
pub mod load;
mod observe;
pub mod render;
mod report;

pub use cli::{Outcome, PlanArgs, main, run};
pub use report::{ConditionLine, NextStep, Report, ResourcePlan, ServerLine};

use crate::sql::{Credentials, Timeouts};
use jiff::Timestamp;
use load::{Loaded, Resource};
use observe::{plan_ag, plan_drsite, plan_pool};
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
    let mut notes = vec![
        "dry run: only SELECT batches were sent; nothing was changed".to_string(),
        "no status is read offline, so every journal is empty: this is the plan of a fresh start (a transition already under way would be resumed from its journal)".into(),
    ];
    if access.tls_off {
        notes.push("--tls-off: the login and every batch crossed the network unencrypted".into());
    }
    Ok(Report {
        resources,
        skipped: input.skipped,
        notes,
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
