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

use crate::api::availability_group::AvailabilityGroup;
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
    #[serde(flatten)]
    pub drilled: Drilled,
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

/// What a drill plays: `namespace/name` of the DrSite (none when the drill made one for a group
/// alone), of its AvailabilityGroups and of its PersistentChatPool, or of a pool alone.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drilled {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drsite: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub availability_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_chat_pool: Option<String>,
}

impl DrillReport {
    /// What was drilled, for a title.
    pub fn subject(&self) -> String {
        self.drilled.title()
    }
}

impl Drilled {
    /// `DrSite ns/a with AvailabilityGroup ns/b and PersistentChatPool ns/p`, or
    /// `PersistentChatPool ns/p`.
    pub fn title(&self) -> String {
        let mut parts = Vec::new();
        if let Some(d) = &self.drsite {
            parts.push(format!("DrSite {d}"));
        }
        match self.availability_groups.as_slice() {
            [] => {}
            [g] => parts.push(format!("AvailabilityGroup {g}")),
            more => parts.push(format!("AvailabilityGroups {}", more.join(", "))),
        }
        if let Some(p) = &self.persistent_chat_pool {
            parts.push(format!("PersistentChatPool {p}"));
        }
        match parts.split_first() {
            Some((first, rest)) if !rest.is_empty() => format!("{first} with {}", rest.join(" and ")),
            _ => parts.join(""),
        }
    }
}

/// What the twin plays.
enum Subject {
    /// A DrSite and its children.
    DrSite(Box<Setup>),
    /// A group or a pool alone, under a DrSite the drill made for it (no components).
    Made(Box<Setup>),
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

/// The DrSite the drill makes to move a child alone: no components, the child's `sites`, active
/// at `active`, named and placed like the child. It only sets the child's desired site, as a
/// person would; the child's controller does the rest exactly as without it.
fn made_drsite(child: &kube::api::ObjectMeta, sites: &[&str], active: &str, pool: bool) -> DrSite {
    use crate::api::dr_site::{ChildRef, DrSiteSpec, SiteSpec};
    let name = child.name.clone().unwrap_or_default();
    let namespace = child.namespace.clone().unwrap_or_default();
    let mut unique: Vec<&str> = Vec::new();
    for s in sites {
        if !unique.contains(s) {
            unique.push(s);
        }
    }
    let refs = vec![ChildRef { name: name.clone() }];
    let (availability_groups, persistent_chat_pools) = if pool { (Vec::new(), refs) } else { (refs, Vec::new()) };
    let mut drs = DrSite::new(
        &name,
        DrSiteSpec {
            sites: unique
                .iter()
                .map(|s| SiteSpec {
                    name: (*s).to_string(),
                    namespace: namespace.clone(),
                    kubeconfig: None,
                })
                .collect(),
            active_site: active.to_string(),
            availability_groups,
            persistent_chat_pools,
            components: Vec::new(),
            suspend: false,
        },
    );
    drs.metadata.namespace = Some(namespace);
    drs.metadata.generation = Some(1);
    drs
}

/// An AvailabilityGroup on its own, moved by a DrSite the drill makes for it.
fn group_alone(group: &AvailabilityGroup) -> Chosen {
    let sites: Vec<&str> = group.spec.replicas.iter().map(|r| r.site.as_str()).collect();
    let drs = made_drsite(&group.metadata, &sites, &group.spec.primary_site, false);
    Chosen {
        subject: Subject::Made(Box::new(Setup {
            sql: twin::world_config(group),
            drs,
            groups: vec![(group.clone(), group.spec.group_name.clone())],
            pool: None,
        })),
        notes: vec![
            format!(
                "the files hold no DrSite: the drill moves AvailabilityGroup {} with a DrSite of its own (no components) that sets spec.primarySite as you would",
                group.metadata.name.as_deref().unwrap_or_default()
            ),
            "the twin connects without TLS with the simulator's login".into(),
        ],
        not_drilled: Vec::new(),
    }
}

/// With no DrSite in the files: exactly one pool, or else exactly one group, on its own. A pool
/// starts from its primary data center.
fn child_alone(
    files_named: &str,
    mut pools: Vec<(PathBuf, PersistentChatPool)>,
    groups: &[(PathBuf, AvailabilityGroup)],
) -> Result<Chosen, Error> {
    let (_, mut pool) = match pools.len() {
        1 => pools.remove(0),
        0 if groups.len() == 1 => return Ok(group_alone(&groups[0].1)),
        0 if groups.is_empty() => {
            return Err(Error::BadInput(format!(
                "nothing to drill in {files_named}: a drill plays a DrSite (with its children), an AvailabilityGroup or a PersistentChatPool, and the files hold none"
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
                "{files_named}: {n} PersistentChatPools and no DrSite; a drill plays one at a time"
            )));
        }
    };
    let mut notes = vec![format!(
        "the files hold no DrSite: the drill moves PersistentChatPool {} with a DrSite of its own (no components) that sets spec.activeSite as you would",
        pool.metadata.name.as_deref().unwrap_or_default()
    )];
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
    let drs = made_drsite(
        &pool.metadata,
        &[spec.primary.site.as_str(), spec.backup.site.as_str()],
        &spec.primary.site,
        true,
    );
    let sql = twin::world_config_all(&[], Some(&pool)).map_err(Error::BadInput)?;
    Ok(Chosen {
        subject: Subject::Made(Box::new(Setup {
            sql,
            drs,
            groups: Vec::new(),
            pool: Some(pool),
        })),
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
        0 => return child_alone(&files_named, pools, &groups),
        n => {
            return Err(Error::BadInput(format!(
                "{files_named}: {n} DrSites; a drill plays one at a time"
            )));
        }
    };
    let name = drs.metadata.name.clone().unwrap_or_default();
    let at = |field: String| format!("{}: DrSite/{name}: {field}", file.display());
    // Each child the DrSite lists, found in the files.
    let mut chosen_groups = Vec::new();
    for (i, r) in drs.spec.availability_groups.iter().enumerate() {
        let group = groups
            .iter()
            .find(|(_, g)| g.metadata.name.as_deref() == Some(r.name.as_str()))
            .map(|(_, g)| g.clone())
            .ok_or_else(|| {
                Error::BadInput(at(format!(
                    "spec.availabilityGroups[{i}].name: AvailabilityGroup {} is not in the files given",
                    r.name
                )))
            })?;
        chosen_groups.push(group);
    }
    let pool = match drs.spec.persistent_chat_pools.as_slice() {
        [] => None,
        [r] => Some(
            pools
                .iter()
                .find(|(_, p)| p.metadata.name.as_deref() == Some(r.name.as_str()))
                .map(|(_, p)| p.clone())
                .ok_or_else(|| {
                    Error::BadInput(at(format!(
                        "spec.persistentChatPools[0].name: PersistentChatPool {} is not in the files given",
                        r.name
                    )))
                })?,
        ),
        more => {
            return Err(Error::BadInput(at(format!(
                "spec.persistentChatPools: the twin drills one pool with a DrSite, the DrSite names {}",
                more.len()
            ))));
        }
    };
    let named = |n: Option<&str>| {
        chosen_groups.iter().any(|g| g.metadata.name.as_deref() == n)
            || pool.as_ref().is_some_and(|p| p.metadata.name.as_deref() == n)
    };
    let not_drilled: Vec<String> = groups
        .iter()
        .map(|(f, g)| (f, "AvailabilityGroup", &g.metadata))
        .chain(pools.iter().map(|(f, p)| (f, "PersistentChatPool", &p.metadata)))
        .filter(|(_, _, m)| !named(m.name.as_deref()))
        .map(|(f, kind, m)| {
            format!(
                "{}: {kind}/{}: not drilled (the DrSite does not name it)",
                f.display(),
                m.name.as_deref().unwrap_or_default()
            )
        })
        .collect();
    let mut notes = Vec::new();
    for s in drs.spec.sites.iter().filter(|s| s.kubeconfig.is_some()) {
        notes.push(format!(
            "site {} is in another cluster (kubeconfig Secret); the twin keeps it in memory like the others",
            s.name
        ));
    }
    for g in chosen_groups.iter().filter(|g| g.spec.backup_before_failback.is_some()) {
        notes.push(format!(
            "AvailabilityGroup {}: the backups before failback are taken on the twin, which keeps their record, not their files",
            g.metadata.name.as_deref().unwrap_or_default()
        ));
    }
    if let Some(p) = &pool {
        notes.push(format!(
            "the pool's log-shipping share {} is on a simulated file server at {}: it is lost with that site",
            p.spec.log_shipping.backup_share, p.spec.primary.site
        ));
    }
    notes.push("the twin connects without TLS with the simulator's login; hooks are Jobs that succeed".into());
    drs.metadata.generation = Some(1);
    let sql = twin::world_config_all(&chosen_groups, pool.as_ref()).map_err(|e| Error::BadInput(at(e)))?;
    Ok(Chosen {
        subject: Subject::DrSite(Box::new(Setup {
            sql,
            drs,
            groups: chosen_groups
                .into_iter()
                .map(|g| {
                    let sim_group = g.spec.group_name.clone();
                    (g, sim_group)
                })
                .collect(),
            pool,
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

/// The scenario's transitions after the cold start; `what`: what is drilled.
async fn play(demo: &mut Demo<impl Write>, scenario: Scenario, what: &str) -> Result<(), Error> {
    demo.cold_start(&format!("the drill's twin ({what}")).await?;
    if matches!(scenario, Scenario::Switchover | Scenario::All) {
        let from = demo.world.drs.spec.active_site.clone();
        let to = other(demo, &from)?;
        demo.switchover(&to).await?;
        if scenario == Scenario::All && demo.world.pool.is_some() {
            // A pool returns to its primary data center only by failback, which needs the backup
            // one reachable: switch back before the failover loses a site.
            demo.switchover(&from).await?;
        }
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
    drilled: Drilled,
    notes: Vec<String>,
    not_drilled: Vec<String>,
}

impl<W: Write> Drill<W> {
    /// Reads the files and starts the twin (nothing starts on bad input); the live view goes to
    /// `out`.
    pub async fn start(options: &Options, out: W) -> Result<Drill<W>, Error> {
        Self::start_on(options, choose(&options.files)?, out).await
    }

    async fn start_on(options: &Options, chosen: Chosen, out: W) -> Result<Drill<W>, Error> {
        let (setup, made) = match chosen.subject {
            Subject::DrSite(setup) => (*setup, false),
            Subject::Made(setup) => (*setup, true),
        };
        let drilled = Drilled {
            drsite: (!made).then(|| key(&setup.drs.metadata)),
            availability_groups: setup.groups.iter().map(|(g, _)| key(&g.metadata)).collect(),
            persistent_chat_pool: setup.pool.as_ref().map(|p| key(&p.metadata)),
        };
        let demo = Demo::start_on(&DemoOptions { speed: options.speed }, out, setup).await?;
        Ok(Drill {
            demo,
            scenario: options.scenario,
            drilled,
            notes: chosen.notes,
            not_drilled: chosen.not_drilled,
        })
    }

    /// Plays the scenario; the report.
    pub async fn play(&mut self) -> Result<DrillReport, Error> {
        play(&mut self.demo, self.scenario, &self.drilled.title()).await?;
        let demo = &self.demo;
        Ok(DrillReport {
            drilled: self.drilled.clone(),
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
    let mut drill = Box::pin(Drill::start(options, out)).await?;
    let report = Box::pin(drill.play()).await;
    drill.demo.world.sim.shutdown();
    report
}
