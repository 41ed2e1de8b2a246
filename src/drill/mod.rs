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

mod choose;
pub mod cli;
pub mod html;
pub mod pool;
mod text;
pub mod twin;

use crate::demo::summary::{Confirmation, TransitionSummary};
use crate::demo::view::TimelineEntry;
use crate::demo::{Demo, Error, Options as DemoOptions};
use choose::{Chosen, Subject, choose, key};
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
    /// The active site's SQL Server keeps committing but drover and the other sites cannot reach
    /// it; the move is asked for and no confirmation is given: drover must not make a second
    /// writer. Then the isolation ends and the move completes.
    IsolatedPrimary,
    /// The active site's SQL Server keeps committing, cut off from drover and the other sites,
    /// but its Kubernetes API answers: the old primary's declared fenceHook runs and its success
    /// is the evidence for the forced failover (under `Automatic`, nobody is asked anything).
    /// Needs a fenceHook on the active site's replica of every group.
    FencedPrimary,
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
    if scenario == Scenario::IsolatedPrimary {
        let from = demo.world.drs.spec.active_site.clone();
        let to = other(demo, &from)?;
        // Long enough for any policy to have acted: the groups' own wait before an automatic
        // failover (not scaled: it is the spec's), plus half a minute at the drill's speed.
        let waits = demo
            .world
            .groups
            .iter()
            .filter_map(|g| demo.world.group_of(g).spec.forced_failover.min_unreachable_seconds)
            .max()
            .unwrap_or(0);
        let hold = demo
            .scaled(std::time::Duration::from_secs(30))
            .max(std::time::Duration::from_secs(5))
            + std::time::Duration::from_secs(u64::from(waits) + 2);
        demo.isolated_primary(&to, hold).await?;
    }
    if scenario == Scenario::FencedPrimary {
        let from = demo.world.drs.spec.active_site.clone();
        let to = other(demo, &from)?;
        demo.fenced_primary(&to).await?;
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
