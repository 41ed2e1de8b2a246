//! `drover drill`: the user's own resources, read and validated like `drover plan` reads them
//! ([`crate::dryrun::load`]), played on a simulated twin with drover's real controllers through a
//! scenario: switchover, failover (the drill gives the confirmations), failback, or all three. The
//! invariants are checked after every reconcile. The result: each transition's figures and a
//! timeline of every step.
//!
//! What it plays: a DrSite with its AvailabilityGroup ([`twin`]: one simulated replica per
//! declared replica, one in-memory workload per declared component, hooks as Jobs that succeed);
//! with no DrSite in the files, an AvailabilityGroup alone (moved by a DrSite the drill makes,
//! with no components) or a PersistentChatPool on its own ([`pool`]).

pub mod cli;
pub mod html;
pub mod pool;
mod text;
pub mod twin;

use crate::api::dr_site::DrSite;
use crate::api::persistent_chat_pool::PersistentChatPool;
use crate::demo::summary::{Confirmation, TransitionSummary};
use crate::demo::view::TimelineEntry;
use crate::demo::{Demo, Error, Options as DemoOptions, Setup};
use crate::dryrun::load::{self, Resource};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Which transitions the drill plays after the cold start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// A planned move to the other site.
    Switchover,
    /// The active site lost, then the move to the other site.
    Failover,
    /// A failover, the lost site restored, and the move back.
    Failback,
    /// Switchover, failover, failback, in that order.
    All,
}

/// What to drill and how fast.
#[derive(Debug, Clone)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub scenario: Scenario,
    pub speed: f64,
}

/// What the drill did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrillReport {
    /// `namespace/name` of the DrSite drilled and of its AvailabilityGroup, or of the
    /// PersistentChatPool drilled on its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drsite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_chat_pool: Option<String>,
    /// The twin's simulated SQL Server instances: `SERVER at SITE, tds://ADDR`.
    pub replicas: Vec<String>,
    /// What the twin does not reproduce (sites in other clusters, pools, backups).
    pub notes: Vec<String>,
    /// Resources in the files not drilled, and why.
    pub not_drilled: Vec<String>,
    /// The cold start first, then the scenario's transitions.
    pub transitions: Vec<TransitionSummary>,
    pub confirmations: Vec<Confirmation>,
    /// Every runbook step (a span) and every step Event (an instant), in order.
    pub timeline: Vec<TimelineEntry>,
    /// Acknowledged commits lost over the whole drill, from the simulator's model.
    pub lost_transactions: u64,
    pub seconds: f64,
    pub speed: f64,
}

impl DrillReport {
    /// What was drilled, for a title: `DrSite ns/a with AvailabilityGroup ns/b`, or
    /// `PersistentChatPool ns/p`.
    pub fn subject(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = &self.drsite {
            parts.push(format!("DrSite {d}"));
        }
        if let Some(g) = &self.availability_group {
            parts.push(format!("AvailabilityGroup {g}"));
        }
        if let Some(p) = &self.persistent_chat_pool {
            parts.push(format!("PersistentChatPool {p}"));
        }
        parts.join(" with ")
    }
}

/// What the twin plays.
enum Subject {
    /// A DrSite and its group.
    DrSite(Box<Setup>),
    /// A pool on its own.
    Pool(Box<PersistentChatPool>),
}

/// What to drill, and what is left out.
struct Chosen {
    subject: Subject,
    notes: Vec<String>,
    not_drilled: Vec<String>,
}

/// `namespace/name`.
fn key(m: &kube::api::ObjectMeta) -> String {
    format!(
        "{}/{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default()
    )
}

/// An AvailabilityGroup on its own: moved by a DrSite the drill makes for it, with no
/// components, whose sites are the group's and whose active site is its `primarySite`. The DrSite
/// only sets the group's `spec.primarySite`, as a person would; the group's controller does the
/// rest exactly as without it.
fn group_alone(group: &crate::api::availability_group::AvailabilityGroup) -> Chosen {
    use crate::api::dr_site::{ChildRef, DrSiteSpec, SiteSpec};
    let name = group.metadata.name.clone().unwrap_or_default();
    let namespace = group.metadata.namespace.clone().unwrap_or_default();
    let mut sites: Vec<String> = Vec::new();
    for r in &group.spec.replicas {
        if !sites.contains(&r.site) {
            sites.push(r.site.clone());
        }
    }
    let mut drs = DrSite::new(
        &name,
        DrSiteSpec {
            sites: sites
                .iter()
                .map(|s| SiteSpec {
                    name: s.clone(),
                    namespace: namespace.clone(),
                    kubeconfig: None,
                })
                .collect(),
            active_site: group.spec.primary_site.clone(),
            availability_groups: vec![ChildRef { name: name.clone() }],
            persistent_chat_pools: Vec::new(),
            components: Vec::new(),
            suspend: false,
        },
    );
    drs.metadata.namespace = Some(namespace);
    drs.metadata.generation = Some(1);
    let mut notes = vec![format!(
        "the files hold no DrSite: the drill moves AvailabilityGroup {name} with a DrSite of its own (no components) that sets spec.primarySite as you would"
    )];
    if group.spec.backup_before_failback.is_some() {
        notes.push("the group's backupBeforeFailback is not drilled (the twin has no backup share)".into());
    }
    notes.push("the twin connects without TLS with the simulator's login".into());
    Chosen {
        subject: Subject::DrSite(Box::new(Setup {
            sql: twin::world_config(group),
            sim_group: group.spec.group_name.clone(),
            drs,
            group: group.clone(),
        })),
        notes,
        not_drilled: Vec::new(),
    }
}

/// A pool on its own, when the files hold no DrSite: exactly one, started from its primary
/// data center.
fn choose_pool(
    files_named: &str,
    mut pools: Vec<(PathBuf, PersistentChatPool)>,
    groups: &[(PathBuf, crate::api::availability_group::AvailabilityGroup)],
) -> Result<Chosen, Error> {
    let (_, mut pool) = match pools.len() {
        1 => pools.remove(0),
        0 if groups.len() == 1 => return Ok(group_alone(&groups[0].1)),
        0 if groups.is_empty() => {
            return Err(Error::BadInput(format!(
                "nothing to drill in {files_named}: a drill plays a DrSite (with its AvailabilityGroup), an AvailabilityGroup or a PersistentChatPool, and the files hold none"
            )));
        }
        0 => {
            return Err(Error::BadInput(format!(
                "{files_named}: {} AvailabilityGroups and no DrSite; a drill plays one at a time",
                groups.len()
            )));
        }
        n => {
            return Err(Error::BadInput(format!(
                "{files_named}: {n} PersistentChatPools; a drill plays one at a time"
            )));
        }
    };
    let mut notes = Vec::new();
    let not_drilled = groups
        .iter()
        .map(|(f, g)| {
            format!(
                "{}: AvailabilityGroup/{}: not drilled (no DrSite names it)",
                f.display(),
                g.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let spec = &mut pool.spec;
    if spec.active_site != spec.primary.site {
        notes.push(format!(
            "the pool declares activeSite {} (failed over); the twin starts it from its primary data center {}",
            spec.active_site, spec.primary.site
        ));
        spec.active_site = spec.primary.site.clone();
    }
    notes.push(format!(
        "the log-shipping share {} is on a simulated file server at {}: it is lost with that data center",
        spec.log_shipping.backup_share, spec.primary.site
    ));
    notes.push("the twin connects without TLS with the simulator's login; hook Jobs do what their cmdlets would to the simulated pool".into());
    Ok(Chosen {
        subject: Subject::Pool(Box::new(pool)),
        notes,
        not_drilled,
    })
}

/// Reads and validates the files and picks what the twin can play. Bad input: nothing started.
fn choose(files: &[PathBuf]) -> Result<Chosen, Error> {
    let input = load::load(files)
        .map_err(|errors| Error::BadInput(errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")))?;
    let mut drsites: Vec<(PathBuf, DrSite)> = Vec::new();
    let mut groups = Vec::new();
    let mut pools = Vec::new();
    for l in &input.resources {
        match &l.resource {
            Resource::DrSite(d) => drsites.push((l.file.clone(), (**d).clone())),
            Resource::AvailabilityGroup(g) => groups.push((l.file.clone(), (**g).clone())),
            Resource::PersistentChatPool(p) => pools.push((l.file.clone(), (**p).clone())),
        }
    }
    let files_named = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let (file, mut drs) = match drsites.len() {
        1 => drsites.remove(0),
        0 => return choose_pool(&files_named, pools, &groups),
        n => {
            return Err(Error::BadInput(format!(
                "{files_named}: {n} DrSites; a drill plays one at a time"
            )));
        }
    };
    let mut not_drilled: Vec<String> = pools
        .iter()
        .map(|(f, p)| {
            format!(
                "{}: PersistentChatPool/{}: not drilled with the DrSite (drill its file on its own)",
                f.display(),
                p.metadata.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let name = drs.metadata.name.clone().unwrap_or_default();
    let refs = &drs.spec.availability_groups;
    if refs.len() != 1 {
        return Err(Error::BadInput(format!(
            "{}: DrSite/{name}: spec.availabilityGroups: the twin drills exactly one AvailabilityGroup, the DrSite names {}",
            file.display(),
            refs.len()
        )));
    }
    let group = groups
        .iter()
        .find(|(_, g)| g.metadata.name.as_deref() == Some(refs[0].name.as_str()))
        .map(|(_, g)| g.clone())
        .ok_or_else(|| {
            Error::BadInput(format!(
                "{}: DrSite/{name}: spec.availabilityGroups[0].name: AvailabilityGroup {} is not in the files given",
                file.display(),
                refs[0].name
            ))
        })?;
    for (f, g) in &groups {
        if g.metadata.name != group.metadata.name {
            not_drilled.push(format!(
                "{}: AvailabilityGroup/{}: not drilled (the DrSite does not name it)",
                f.display(),
                g.metadata.name.as_deref().unwrap_or_default()
            ));
        }
    }
    let mut notes = Vec::new();
    for s in drs.spec.sites.iter().filter(|s| s.kubeconfig.is_some()) {
        notes.push(format!(
            "site {} is in another cluster (kubeconfig Secret); the twin keeps it in memory like the others",
            s.name
        ));
    }
    for p in &drs.spec.persistent_chat_pools {
        notes.push(format!(
            "the DrSite's PersistentChatPool {} is not drilled with it; the twin leaves it out (drill the pool's file on its own)",
            p.name
        ));
    }
    drs.spec.persistent_chat_pools.clear();
    if group.spec.backup_before_failback.is_some() {
        notes.push("the group's backupBeforeFailback is not drilled (the twin has no backup share)".into());
    }
    notes.push("the twin connects without TLS with the simulator's login; hooks are Jobs that succeed".into());
    drs.metadata.generation = Some(1);
    let sim_group = group.spec.group_name.clone();
    Ok(Chosen {
        subject: Subject::DrSite(Box::new(Setup {
            sql: twin::world_config(&group),
            drs,
            group,
            sim_group,
        })),
        notes,
        not_drilled,
    })
}

/// The first declared site other than `site`.
fn other(demo: &Demo<impl Write>, site: &str) -> Result<String, Error> {
    demo.world
        .drs
        .spec
        .sites
        .iter()
        .map(|s| s.name.clone())
        .find(|s| s != site)
        .ok_or_else(|| Error::BadInput("the DrSite declares one site: there is nowhere to move".into()))
}

/// The scenario's transitions after the cold start.
async fn play(demo: &mut Demo<impl Write>, scenario: Scenario) -> Result<(), Error> {
    let what = format!(
        "DrSite {} with AvailabilityGroup {}",
        demo.world.drs.metadata.name.as_deref().unwrap_or_default(),
        demo.world.group().metadata.name.unwrap_or_default()
    );
    demo.cold_start(&format!("the drill's twin ({what}")).await?;
    if matches!(scenario, Scenario::Switchover | Scenario::All) {
        let to = other(demo, &demo.world.drs.spec.active_site.clone())?;
        demo.switchover(&to).await?;
    }
    if matches!(scenario, Scenario::Failover | Scenario::Failback | Scenario::All) {
        let lost = demo.world.drs.spec.active_site.clone();
        let to = other(demo, &lost)?;
        demo.failover(&to).await?;
        if scenario != Scenario::Failover {
            demo.restore(&lost).await?;
            demo.failback(&lost).await?;
        }
    }
    demo.world.invariants().map_err(Error::Invariant)
}

/// A drill started: the twin running, what it will report besides its own figures.
pub struct Drill<W: Write> {
    pub demo: Demo<W>,
    scenario: Scenario,
    drsite: String,
    availability_group: String,
    notes: Vec<String>,
    not_drilled: Vec<String>,
}

impl<W: Write> Drill<W> {
    /// Reads the files and starts the twin (nothing starts on bad input); the live view goes to
    /// `out`.
    pub async fn start(options: &Options, out: W) -> Result<Drill<W>, Error> {
        let Chosen {
            subject,
            notes,
            not_drilled,
        } = choose(&options.files)?;
        let Subject::DrSite(setup) = subject else {
            return Err(Error::BadInput(
                "the files hold a PersistentChatPool and no DrSite: see PoolDrill".into(),
            ));
        };
        Self::start_on(options, *setup, notes, not_drilled, out).await
    }

    async fn start_on(
        options: &Options,
        setup: Setup,
        notes: Vec<String>,
        not_drilled: Vec<String>,
        out: W,
    ) -> Result<Drill<W>, Error> {
        let drsite = key(&setup.drs.metadata);
        let availability_group = key(&setup.group.metadata);
        let demo = Demo::start_on(&DemoOptions { speed: options.speed }, out, setup).await?;
        Ok(Drill {
            demo,
            scenario: options.scenario,
            drsite,
            availability_group,
            notes,
            not_drilled,
        })
    }

    /// Plays the scenario; the report.
    pub async fn play(&mut self) -> Result<DrillReport, Error> {
        play(&mut self.demo, self.scenario).await?;
        let demo = &self.demo;
        Ok(DrillReport {
            drsite: Some(self.drsite.clone()),
            availability_group: Some(self.availability_group.clone()),
            persistent_chat_pool: None,
            replicas: demo.replicas(),
            notes: self.notes.clone(),
            not_drilled: self.not_drilled.clone(),
            transitions: demo.transitions().to_vec(),
            confirmations: demo.confirmations().to_vec(),
            timeline: demo.view.timeline.clone(),
            lost_transactions: demo.lost()?,
            seconds: demo.world.elapsed().as_secs_f64(),
            speed: demo.speed(),
        })
    }
}

/// Reads the files, starts the twin, plays `options.scenario` with the live view on `out`, stops
/// the twin.
pub async fn run<W: Write>(options: &Options, out: W) -> Result<DrillReport, Error> {
    let Chosen {
        subject,
        notes,
        not_drilled,
    } = choose(&options.files)?;
    match subject {
        Subject::DrSite(setup) => {
            let mut drill = Drill::start_on(options, *setup, notes, not_drilled, out).await?;
            let report = drill.play().await;
            drill.demo.world.sim.shutdown();
            report
        }
        Subject::Pool(pool) => {
            let mut drill = pool::PoolDrill::start(&pool, options.speed, out).await?;
            let played = drill.play(options.scenario).await;
            let report = played.and_then(|()| {
                Ok(DrillReport {
                    drsite: None,
                    availability_group: None,
                    persistent_chat_pool: Some(key(&pool.metadata)),
                    replicas: drill.replicas(),
                    notes,
                    not_drilled,
                    transitions: drill.transitions().to_vec(),
                    confirmations: drill.confirmations().to_vec(),
                    timeline: drill.view.timeline.clone(),
                    lost_transactions: drill.lost()?,
                    seconds: drill.world.elapsed().as_secs_f64(),
                    speed: drill.speed(),
                })
            });
            drill.world.sim.shutdown();
            report
        }
    }
}
