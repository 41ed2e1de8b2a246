//! The DrSite and AvailabilityGroup controllers together, for real: SQL on the
//! TDS simulator over loopback, the sites' workloads and hook Jobs simulated in
//! memory (`MemorySites`), the API objects in memory (`MemoryPort`), time
//! paused. The example file is the system under test. After every reconcile the
//! invariants are checked against ground truth: one writable primary, no
//! `ActiveSite` component at two sites (unless a person declared a site lost),
//! no database-dependent component running away from the writable primary.

/// Only the simulator settings from `tests/common` (not the mocked API server and its tests).
mod common {
    pub mod rig;
}

use common::rig::world;
use drover::api::dr_site::{DrPhase, DrSite, Placement, TransitionKind};
use drover::components::memory::SiteAction;
use drover::controller::memory::Write;
use drover::demo::world::{DemoWorld, example, site_latencies};
use drover::plan::drsite::ChildKind;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

const MASTERS: [&str; 3] = ["master-confserv", "master-scs", "message-server"];

/// The demo's world (the example, both controllers, the invariants checked after every
/// reconcile), driven step by step with assertions.
struct Rig {
    world: DemoWorld,
    /// A fresh operator process for every reconcile.
    restart_every_tick: bool,
}

impl Deref for Rig {
    type Target = DemoWorld;
    fn deref(&self) -> &DemoWorld {
        &self.world
    }
}

impl DerefMut for Rig {
    fn deref_mut(&mut self) -> &mut DemoWorld {
        &mut self.world
    }
}

impl Rig {
    /// The example's DrSite (edited) over the simulated world; transitions polled every 200 ms.
    async fn new(edit: impl FnOnce(&mut DrSite)) -> Self {
        let mut drs = example().expect("the example parses");
        edit(&mut drs);
        let config = common::rig::config(Duration::from_millis(200));
        let world = DemoWorld::start(world(), &site_latencies(), drs, config)
            .await
            .expect("simulator starts");
        Rig {
            world,
            restart_every_tick: false,
        }
    }

    /// One reconcile of each controller, the invariants, then a short wait.
    async fn tick(&mut self) {
        if self.restart_every_tick {
            self.world.restart_operator();
        }
        if let Err(e) = self.world.reconcile().await {
            panic!("{e}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    async fn run_until(&mut self, limit: Duration, what: &str, done: impl Fn(&Rig) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; DrSite status: {:#?}",
                self.status()
            );
            self.tick().await;
        }
    }

    async fn run_for(&mut self, span: Duration) {
        let until = tokio::time::Instant::now() + span;
        while tokio::time::Instant::now() < until {
            self.tick().await;
        }
    }
}

fn starts(site: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("start {n}@{site}")).collect()
}

fn stops(site: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("stop {n}@{site}")).collect()
}

const EVERY_SITE_AFTER_MASTERS: [&str; 5] = [
    "scs",
    "confserv-proxy",
    "stat-server",
    "interaction-server",
    "sip-server",
];

#[tokio::test(start_paused = true)]
async fn cold_start_failover_with_site_a_lost_and_failback_follow_runbook_a() {
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(120), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    // Cold start: the masters at the active site in order, then each shared layer at both sites.
    let mut expected = starts("site-a", &MASTERS);
    for layer in EVERY_SITE_AFTER_MASTERS {
        if layer == "sip-server" {
            // A server outside Kubernetes: its start hook Job, named as the event says.
            continue;
        }
        expected.extend([format!("start {layer}@site-a"), format!("start {layer}@site-b")]);
    }
    let script: Vec<String> = rig.script().into_iter().filter(|s| !s.contains("sip-server")).collect();
    assert_eq!(script, expected);
    assert_eq!(rig.script().iter().filter(|s| s.contains("sip-server")).count(), 2);
    let s = rig.status();
    assert_eq!(
        s.ready.as_deref(),
        Some("13/13"),
        "3 masters + 5 shared layers at both sites"
    );
    assert_eq!(
        s.last_transition.as_ref().map(|t| t.kind),
        Some(TransitionKind::ColdStart)
    );
    // Steady state writes nothing.
    let writes = rig.port.snapshot().drsite_status_writes;
    rig.run_for(Duration::from_secs(10)).await;
    assert_eq!(
        rig.port.snapshot().drsite_status_writes,
        writes,
        "status rewritten at steady state"
    );

    // Site A is lost: its SQL Server and its Kubernetes API. The user flips to site-b.
    let before = rig.script().len();
    rig.sim.stop_instance("SQL-A").await.expect("stop SQL-A");
    rig.sites.set_reachable("site-a", false);
    rig.flip("site-b");
    // Site-a may still run its masters and take writes: first a person confirms it lost.
    rig.run_until(Duration::from_secs(60), "the site-lost confirmation request", |r| {
        r.status().site_lost_confirmation.is_some()
    })
    .await;
    assert!(
        rig.script()[before..].is_empty(),
        "nothing moved or started before site-a was declared lost"
    );
    assert_eq!(rig.primary_site(), None, "SQL-A is down and nothing was forced yet");
    let request = rig.status().site_lost_confirmation.expect("asked");
    assert_eq!(request.site, "site-a");
    rig.annotate(&request.token);
    // Then the group's own data-loss confirmation.
    rig.run_until(Duration::from_secs(60), "the group's data-loss confirmation", |r| {
        r.status()
            .children
            .first()
            .and_then(|c| c.confirmation.clone())
            .is_some()
    })
    .await;
    assert_eq!(rig.status().phase, Some(DrPhase::AwaitingConfirmation));
    assert!(
        !rig.script()[before..].iter().any(|s| s.starts_with("start ")),
        "nothing started before the group was writable at site-b"
    );
    let token = rig.group().status.and_then(|s| s.confirmation).expect("asked").token;
    rig.annotate_group(&token);
    rig.run_until(Duration::from_secs(120), "the failover to finish", |r| {
        r.status().transition.is_none()
            && r.status()
                .last_transition
                .is_some_and(|t| t.kind == TransitionKind::Failover)
    })
    .await;
    let mut expected = vec!["move AvailabilityGroup/cc-ag@site-b".to_string()];
    expected.extend(starts("site-b", &MASTERS));
    assert_eq!(rig.script()[before..], expected);
    assert_eq!(rig.status().last_transition.expect("recorded").lost_sites, ["site-a"]);
    assert_eq!(rig.primary_site().as_deref(), Some("site-b"));

    // Site A returns: its masters, still up, are stopped before anything else happens.
    let before = rig.script().len();
    rig.sim.start_instance("SQL-A").expect("start SQL-A");
    rig.sites.set_reachable("site-a", true);
    rig.run_until(Duration::from_secs(60), "site-a's masters stopped", |r| {
        MASTERS.iter().all(|m| !r.running("site-a", m))
    })
    .await;
    let mut reversed = MASTERS;
    reversed.reverse();
    assert_eq!(rig.script()[before..], stops("site-a", &reversed));

    // Failback: the same edit reversed. Resuming SQL-A would roll back what the forced failover
    // left on it, so the group waits for consent, and the DrSite's move step shows its command.
    let before = rig.script().len();
    rig.flip("site-a");
    rig.run_until(Duration::from_secs(180), "the group's discard request", |r| {
        r.status().children.iter().any(|c| {
            c.confirmation
                .as_deref()
                .is_some_and(|c| c.contains("drover.dev/confirm-discard="))
        })
    })
    .await;
    let status = rig.status();
    assert_eq!(status.phase, Some(DrPhase::AwaitingConfirmation));
    let token = rig
        .group()
        .status
        .and_then(|s| s.discard_confirmation)
        .expect("asked")
        .token;
    let row = status
        .plan
        .iter()
        .find(|s| s.target == "AvailabilityGroup/cc-ag")
        .expect("the move step");
    assert!(
        row.message
            .as_deref()
            .is_some_and(|m| m.contains(&format!("drover.dev/confirm-discard={token}"))),
        "{row:?}"
    );
    assert!(!rig.script()[before..].iter().any(|s| s.starts_with("start ")));
    rig.annotate_group_discard(&token);
    rig.run_until(Duration::from_secs(180), "steady at site-a again", |r| {
        r.steady_at("site-a")
    })
    .await;
    let mut expected = stops("site-b", &reversed);
    expected.push("move AvailabilityGroup/cc-ag@site-a".into());
    expected.extend(starts("site-a", &MASTERS));
    assert_eq!(rig.script()[before..], expected);
    assert_eq!(
        rig.status().last_transition.map(|t| t.kind),
        Some(TransitionKind::Failback)
    );
    assert_eq!(rig.primary_site().as_deref(), Some("site-a"));
}

#[tokio::test(start_paused = true)]
async fn a_restarted_operator_converges_without_repeating_a_hook() {
    // The outside server is an ActiveSite component here, so the switchover runs its hooks.
    let mut rig = Rig::new(|drs| {
        let sip = drs
            .spec
            .components
            .iter_mut()
            .find(|c| c.name == "sip-server")
            .expect("in example");
        sip.placement = Placement::ActiveSite;
        sip.depends_on = vec!["message-server".into()];
    })
    .await;
    rig.restart_every_tick = true;
    rig.run_until(Duration::from_secs(120), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    let before = rig.script().len();
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(180), "steady at site-b", |r| r.steady_at("site-b"))
        .await;
    let mut expected = stops(
        "site-a",
        &["sip-server", "message-server", "master-scs", "master-confserv"],
    );
    expected.push("move AvailabilityGroup/cc-ag@site-b".into());
    expected.extend(starts(
        "site-b",
        &["master-confserv", "master-scs", "message-server", "sip-server"],
    ));
    assert_eq!(rig.script()[before..], expected);
    // Each hook Job was created exactly once.
    let created: Vec<String> = rig
        .sites
        .actions()
        .into_iter()
        .filter_map(|(_, a)| match a {
            SiteAction::JobCreated { name, .. } => Some(name),
            _ => None,
        })
        .collect();
    let mut unique = created.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(created.len(), unique.len(), "a hook Job was created twice: {created:?}");
    assert_eq!(
        created.len(),
        3,
        "start at a (cold start), stop at a, start at b: {created:?}"
    );
    assert_eq!(rig.lost_transactions(), Some(0));
}

#[tokio::test(start_paused = true)]
async fn flipping_back_mid_transition_is_safe() {
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(120), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(120), "the first master started at site-b", |r| {
        r.script().iter().any(|s| s == "start master-confserv@site-b")
    })
    .await;
    rig.flip("site-a");
    rig.run_until(Duration::from_secs(180), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    for m in MASTERS {
        assert!(rig.running("site-a", m) && !rig.running("site-b", m), "{m}");
    }
    assert_eq!(
        rig.lost_transactions(),
        Some(0),
        "a planned move there and back lost commits"
    );
    assert!(
        rig.port
            .drsite_events(&rig.drs)
            .iter()
            .any(|e| e.reason == "TransitionRetargeted")
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_old_site_is_not_assumed_stopped() {
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(120), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    // Site-a's Kubernetes API is cut off; its SQL Server is fine. Its masters may still run and
    // write, so the group stays: nothing moves away from a site that may still be in use.
    rig.sites.set_reachable("site-a", false);
    let before = rig.script().len();
    rig.flip("site-b");
    rig.run_for(Duration::from_secs(60)).await;
    assert_eq!(
        rig.primary_site().as_deref(),
        Some("site-a"),
        "the group moved away from a site that may still run"
    );
    assert!(rig.script()[before..].is_empty(), "{:?}", &rig.script()[before..]);
    let s = rig.status();
    assert_eq!(s.phase, Some(DrPhase::AwaitingConfirmation));
    assert!(
        s.conditions
            .iter()
            .any(|c| c.type_ == "SiteLostConfirmationRequired" && c.status == "True")
    );
    // It answers again: its masters are stopped, then site-b's start. No confirmation was needed.
    rig.sites.set_reachable("site-a", true);
    rig.run_until(Duration::from_secs(120), "steady at site-b", |r| r.steady_at("site-b"))
        .await;
    let mut reversed = MASTERS;
    reversed.reverse();
    let mut expected = stops("site-a", &reversed);
    expected.push("move AvailabilityGroup/cc-ag@site-b".to_string());
    expected.extend(starts("site-b", &MASTERS));
    assert_eq!(rig.script()[before..], expected);
    assert!(rig.status().lost_sites.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_site_confirmed_lost_lets_the_new_site_start() {
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(120), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.sites.set_reachable("site-a", false);
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(60), "the site-lost request", |r| {
        r.status().site_lost_confirmation.is_some()
    })
    .await;
    rig.annotate("not-the-token");
    rig.run_for(Duration::from_secs(5)).await;
    assert_eq!(
        rig.port
            .drsite_events(&rig.drs)
            .iter()
            .filter(|e| e.reason == "ConfirmationStale")
            .count(),
        1
    );
    let token = rig.status().site_lost_confirmation.expect("still asking").token;
    rig.annotate(&token);
    rig.run_until(Duration::from_secs(120), "the masters up at site-b", |r| {
        MASTERS
            .iter()
            .all(|m| r.sites.instance("site-b", m).is_some_and(|i| i.ready > 0))
    })
    .await;
    let s = rig.status();
    assert_eq!(s.lost_sites.first().map(|l| l.site.as_str()), Some("site-a"));
    // Site-a still cannot be seen: the system runs at site-b, degraded.
    rig.run_for(Duration::from_secs(5)).await;
    assert_eq!(rig.status().phase, Some(DrPhase::Degraded));
}

/// The FAILOVER / FORCE_FAILOVER_ALLOW_DATA_LOSS statements the simulator accepted so far.
fn failovers(rig: &Rig) -> Vec<String> {
    rig.sim.with_world(|w, _| {
        w.history()
            .iter()
            .filter(|h| h.text.contains("FAILOVER") && h.text.contains("accepted"))
            .map(|h| h.text.clone())
            .collect()
    })
}

/// The group's condition of `type_`, if any: (status, message).
fn group_condition(rig: &Rig, type_: &str) -> Option<(String, String)> {
    rig.group_status()
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.message.clone()))
}

/// Argo CD's self-heal (server-side apply, forced) writing the group's primarySite from Git.
fn argocd_applies(rig: &Rig, site: &str) {
    let g = rig.groups[0].clone();
    rig.port
        .write_desired_site(
            ChildKind::AvailabilityGroup,
            &g.namespace,
            &g.name,
            site,
            "argocd-controller",
            Write::Apply,
        )
        .expect("the API server takes the value");
}

/// One writer per desired site: a GitOps tool re-asserting the group's primarySite, at steady
/// state, mid-switchover and after it, moves nothing; the group reports a Conflict naming it, the
/// simulator accepts no failover statement, and the database stays where the DrSite put it. When
/// the tool gives the field up (Git leaves it out), the DrSite's move goes on.
#[tokio::test(start_paused = true)]
async fn a_primary_site_reasserted_by_another_field_manager_moves_nothing() {
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(120), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    assert_eq!(
        group_condition(&rig, "Conflict"),
        None,
        "no Conflict for the group as applied"
    );

    // Steady state: Git says site-b.
    argocd_applies(&rig, "site-b");
    rig.run_for(Duration::from_secs(30)).await;
    assert_eq!(rig.primary_site().as_deref(), Some("site-a"));
    assert!(failovers(&rig).is_empty(), "{:?}", failovers(&rig));
    let (status, message) = group_condition(&rig, "Conflict").expect("a Conflict condition");
    assert_eq!(status, "True");
    for part in [
        "argocd-controller",
        "drover-drsite",
        "\"site-b\"",
        "keeps the primary at site-a",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    let warned: Vec<_> = rig
        .group_events()
        .into_iter()
        .filter(|e| e.reason == "Conflict" && e.warning)
        .collect();
    assert_eq!(warned.len(), 1, "announced once: {warned:?}");
    assert!(warned[0].note.contains("argocd-controller"), "{:?}", warned[0]);
    assert!(
        rig.status()
            .conditions
            .iter()
            .any(|c| c.type_ == "Conflict" && c.status == "True"),
        "the DrSite sees it too: {:?}",
        rig.status().conditions
    );

    // Git agrees with the DrSite again: no Conflict (the value is still not acted on).
    argocd_applies(&rig, "site-a");
    rig.run_until(Duration::from_secs(30), "the DrSite steady again", |r| {
        r.steady_at("site-a")
    })
    .await;
    assert_eq!(group_condition(&rig, "Conflict").map(|c| c.0).as_deref(), Some("False"));

    // A switchover: the DrSite applies site-b; before the group acts on it, Git's site-a is back.
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(120), "the DrSite's move", |r| {
        r.script().iter().any(|s| s == "move AvailabilityGroup/cc-ag@site-b")
    })
    .await;
    assert_eq!(rig.group().spec.primary_site.as_deref(), Some("site-b"));
    argocd_applies(&rig, "site-a");
    rig.run_for(Duration::from_secs(30)).await;
    assert_eq!(rig.primary_site().as_deref(), Some("site-a"), "nothing moved");
    assert!(failovers(&rig).is_empty(), "{:?}", failovers(&rig));
    let (status, message) = group_condition(&rig, "Conflict").expect("a Conflict condition");
    assert_eq!(
        status, "True",
        "site-a is not where the DrSite wants the group: {message}"
    );

    // Argo CD no longer carries the field (ignoreDifferences, or Git leaves it out): it is gone,
    // and the DrSite sets it again.
    let g = rig.groups[0].clone();
    assert!(
        rig.port
            .release_desired_site(ChildKind::AvailabilityGroup, &g.namespace, &g.name, "argocd-controller")
            .expect("stored")
    );
    rig.run_until(Duration::from_secs(180), "steady at site-b", |r| r.steady_at("site-b"))
        .await;
    assert_eq!(rig.primary_site().as_deref(), Some("site-b"));
    assert_eq!(failovers(&rig).len(), 1, "one planned failover: {:?}", failovers(&rig));
    assert_eq!(group_condition(&rig, "Conflict").map(|c| c.0).as_deref(), Some("False"));
    assert_eq!(rig.lost_transactions(), Some(0));

    // After it: Git's site-a re-applied once more.
    argocd_applies(&rig, "site-a");
    rig.run_for(Duration::from_secs(30)).await;
    assert_eq!(
        rig.primary_site().as_deref(),
        Some("site-b"),
        "the database stays at site-b"
    );
    assert_eq!(failovers(&rig).len(), 1, "{:?}", failovers(&rig));
    assert_eq!(group_condition(&rig, "Conflict").map(|c| c.0).as_deref(), Some("True"));
    for m in MASTERS {
        assert!(rig.running("site-b", m) && !rig.running("site-a", m), "{m}");
    }
}

/// A group whose primarySite is left out (as Git would, with the DrSite owning it) stays where it
/// is at steady state, and follows the DrSite when it flips.
#[tokio::test(start_paused = true)]
async fn a_group_without_a_primary_site_stays_put_until_the_drsite_sets_one() {
    let mut rig = Rig::new(|_| {}).await;
    let mut ag = rig.group();
    ag.spec.primary_site = None;
    rig.port.put_availability_group(ag);
    rig.run_until(Duration::from_secs(120), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.run_for(Duration::from_secs(20)).await;
    assert_eq!(rig.primary_site().as_deref(), Some("site-a"));
    assert_eq!(
        rig.group().spec.primary_site,
        None,
        "steady state writes nothing into it"
    );
    assert!(failovers(&rig).is_empty());
    assert_eq!(
        rig.group_status().phase,
        Some(drover::api::availability_group::Phase::Steady)
    );
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(180), "steady at site-b", |r| r.steady_at("site-b"))
        .await;
    assert_eq!(rig.group().spec.primary_site.as_deref(), Some("site-b"));
    assert_eq!(rig.primary_site().as_deref(), Some("site-b"));
}
