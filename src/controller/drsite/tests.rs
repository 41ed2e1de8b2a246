//! One reconcile at a time over the in-memory API: a DrSite with a group and a
//! pool writes the pool's `spec.activeSite` as it writes the group's
//! `spec.primarySite`, and leaves a pool set elsewhere by hand alone.

use super::*;
use crate::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus, Phase};
use crate::api::dr_site::{ChildRef, DrPhase, StepAction, StepState, fixtures};
use crate::api::persistent_chat_pool::{PersistentChatPoolStatus, PoolPhase};
use crate::components::memory::{Latencies, MemorySites};
use crate::controller::memory::MemoryPort;
use crate::controller::{DRSITE_FIELD_MANAGER, PoolPort};
use crate::plan::drsite::ChildKind;
use std::sync::Arc;

const NS: &str = "dr";

struct Rig {
    port: Arc<MemoryPort>,
    ctx: Context<Arc<MemoryPort>, Arc<MemorySites>>,
    drs: DrSite,
    now: Timestamp,
}

impl Rig {
    /// Group `ag1` and pool `pchat` at site-a, both settled; a DrSite over them, no components.
    async fn new() -> Self {
        let port = Arc::new(MemoryPort::default());
        let mut ag = AvailabilityGroup::new("ag1", crate::api::availability_group::fixtures::spec());
        ag.metadata.namespace = Some(NS.into());
        port.put_availability_group(ag);
        port.put_pool(fixtures::chat_pool(NS, "pchat", "site-a"));
        let mut spec = fixtures::spec();
        spec.components.clear();
        spec.persistent_chat_pools.push(ChildRef { name: "pchat".into() });
        let mut drs = DrSite::new("cc", spec);
        drs.metadata.namespace = Some(NS.into());
        drs.metadata.generation = Some(1);
        let sites = Arc::new(MemorySites::for_spec(&drs.spec, &Latencies::default()));
        let rig = Self {
            ctx: Context::new(port.clone(), sites, Config::default()),
            port,
            drs,
            now: Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH),
        };
        rig.settle_children("site-a").await;
        rig
    }

    /// The children's controllers report them writable at `site` for their current spec.
    async fn settle_children(&self, site: &str) {
        let ag = self.port.stored_availability_group(NS, "ag1").expect("stored");
        let ag_status = AvailabilityGroupStatus {
            observed_generation: ag.metadata.generation,
            phase: Some(Phase::Steady),
            primary_site: Some(site.into()),
            ..AvailabilityGroupStatus::default()
        };
        crate::controller::Port::patch_status(&*self.port, &ag, &ag_status)
            .await
            .expect("stored");
        let pool = self.port.stored_pool(NS, "pchat").expect("stored");
        let pool_status = PersistentChatPoolStatus {
            observed_generation: pool.metadata.generation,
            phase: Some(PoolPhase::Steady),
            active_site: Some(site.into()),
            ..PersistentChatPoolStatus::default()
        };
        self.port.patch_pool_status(&pool, &pool_status).await.expect("stored");
    }

    async fn reconcile(&mut self) -> DrSiteStatus {
        self.drs.status = self.port.drsite_status(&self.drs);
        self.now += jiff::SignedDuration::from_secs(5);
        let result = reconcile(&self.drs, &self.ctx, self.now).await;
        assert!(result.is_ok(), "{result:?}");
        self.port.drsite_status(&self.drs).expect("written")
    }

    fn flip(&mut self, site: &str) {
        self.drs.spec.active_site = site.into();
        self.drs.metadata.generation = self.drs.metadata.generation.map(|g| g + 1);
    }
}

#[tokio::test]
async fn a_flip_applies_the_pools_active_site_with_the_drsite_field_manager() {
    let mut rig = Rig::new().await;
    let status = rig.reconcile().await;
    assert_eq!(status.phase, Some(DrPhase::Steady), "{status:#?}");
    assert_eq!(status.active_site.as_deref(), Some("site-a"));

    rig.flip("site-b");
    let status = rig.reconcile().await;
    let pool = rig.port.stored_pool(NS, "pchat").expect("stored");
    assert_eq!(pool.spec.active_site.as_deref(), Some("site-b"));
    assert_eq!(
        rig.port
            .desired_site_manager(ChildKind::PersistentChatPool, NS, "pchat")
            .as_deref(),
        Some(DRSITE_FIELD_MANAGER)
    );
    assert_eq!(
        rig.port.desired_site_writes(ChildKind::PersistentChatPool, NS, "pchat"),
        1
    );
    assert_eq!(rig.port.desired_site_writes(ChildKind::AvailabilityGroup, NS, "ag1"), 1);
    let moves: Vec<String> = rig
        .port
        .drsite_events(&rig.drs)
        .into_iter()
        .filter(|e| e.reason == "MoveChild")
        .map(|e| e.note)
        .collect();
    assert_eq!(
        moves,
        [
            "move AvailabilityGroup/ag1@site-b: set AvailabilityGroup dr/ag1 spec.primarySite to site-b",
            "move PersistentChatPool/pchat@site-b: set PersistentChatPool dr/pchat spec.activeSite to site-b",
        ]
    );
    let row = status
        .plan
        .iter()
        .find(|s| s.action == StepAction::Move && s.target == "PersistentChatPool/pchat")
        .expect("in the plan");
    assert_eq!((row.site.as_str(), row.state), ("site-b", StepState::Running));
    let child = status
        .children
        .iter()
        .find(|c| c.kind == "PersistentChatPool")
        .expect("a row");
    assert_eq!(
        (child.name.as_str(), child.applied_site.as_deref()),
        ("pchat", Some("site-b"))
    );

    // Waiting for the pool's controller: nothing is written again.
    rig.reconcile().await;
    assert_eq!(
        rig.port.desired_site_writes(ChildKind::PersistentChatPool, NS, "pchat"),
        1
    );

    rig.settle_children("site-b").await;
    let status = rig.reconcile().await;
    assert_eq!(status.phase, Some(DrPhase::Steady), "{status:#?}");
    assert_eq!(status.active_site.as_deref(), Some("site-b"));
    assert_eq!(rig.port.calls("persistent_chat_pool"), 4, "read once per reconcile");

    let metrics = rig.ctx.shared.metrics.encode();
    for line in [
        r#"drover_reconciles_total{kind="DrSite"} 4"#,
        r#"drover_steps_total{kind="DrSite",step="move_child",outcome="ok"} 2"#,
        r#"drover_transitions_total{kind="DrSite",type="planned"} 1"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in\n{metrics}");
    }
    assert!(
        !metrics.contains("drover_transition_started_timestamp_seconds{"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_move_the_api_refuses_is_a_failed_step() {
    let mut rig = Rig::new().await;
    rig.reconcile().await;
    rig.port
        .fail_next("apply_pool_active_site", 1, PortError::Api("forbidden".into()));
    rig.flip("site-b");
    rig.reconcile().await;
    let metrics = rig.ctx.shared.metrics.encode();
    for line in [
        r#"drover_steps_total{kind="DrSite",step="move_child",outcome="ok"} 1"#,
        r#"drover_steps_total{kind="DrSite",step="move_child",outcome="failed"} 1"#,
        r#"drover_transition_started_timestamp_seconds{kind="DrSite",namespace="dr",name="cc"} 1800000010"#,
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in\n{metrics}");
    }
}

#[tokio::test]
async fn a_pool_moved_by_hand_is_a_conflict_and_nothing_is_applied() {
    let mut rig = Rig::new().await;
    rig.reconcile().await;
    rig.port
        .edit_desired_site(ChildKind::PersistentChatPool, NS, "pchat", "site-b", "kubectl-edit")
        .expect("stored");
    let status = rig.reconcile().await;
    assert!(
        conditions::is_true(&status.conditions, conditions::CONFLICT),
        "{status:#?}"
    );
    assert_eq!(rig.port.calls("apply_pool_active_site"), 0);
    assert_eq!(rig.port.calls("apply_primary_site"), 0);
    assert_eq!(
        rig.port
            .desired_site_manager(ChildKind::PersistentChatPool, NS, "pchat")
            .as_deref(),
        Some("kubectl-edit")
    );
    let warned = rig
        .port
        .drsite_events(&rig.drs)
        .into_iter()
        .find(|e| e.reason == "Conflict")
        .expect("an Event");
    assert!(
        warned.warning && warned.note.contains("PersistentChatPool/pchat"),
        "{warned:?}"
    );
}

/// A DrSite `takeover` in `tenant-a` over fixture spec components whose site-b is `kube-system`
/// (the proxy StatefulSet, at every site, would be scaled there), its group settled at site-a;
/// the sites model the cluster's namespaces: `tenant-a` and `kube-system` exist, unlabelled.
async fn takeover(
    config: Config,
) -> (
    Arc<MemoryPort>,
    Arc<MemorySites>,
    Context<Arc<MemoryPort>, Arc<MemorySites>>,
    DrSite,
) {
    let port = Arc::new(MemoryPort::default());
    let mut ag = AvailabilityGroup::new("ag1", crate::api::availability_group::fixtures::spec());
    ag.metadata.namespace = Some("tenant-a".into());
    port.put_availability_group(ag.clone());
    let status = AvailabilityGroupStatus {
        observed_generation: ag.metadata.generation,
        phase: Some(Phase::Steady),
        primary_site: Some("site-a".into()),
        ..AvailabilityGroupStatus::default()
    };
    crate::controller::Port::patch_status(&*port, &ag, &status)
        .await
        .expect("stored");
    let mut spec = fixtures::spec();
    spec.sites[0].namespace = "tenant-a".into();
    spec.sites[1].namespace = "kube-system".into();
    let mut drs = DrSite::new("takeover", spec);
    drs.metadata.namespace = Some("tenant-a".into());
    drs.metadata.generation = Some(1);
    let sites = Arc::new(MemorySites::for_spec(&drs.spec, &Latencies::default()));
    sites.create_namespace("tenant-a");
    sites.create_namespace("kube-system");
    let ctx = Context::new(port.clone(), sites.clone(), config);
    (port, sites, ctx, drs)
}

const TAKEOVER_REFUSED: &str = "site site-b: namespace kube-system is not this DrSite's namespace (tenant-a) and no \
     administrator allowed it: the namespace needs the label allow-from.drover.dev/tenant-a=true";

fn now() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Nothing was asked of any site: no workload read or scaled, no Job listed or created.
fn untouched(sites: &MemorySites) {
    for call in ["workload", "scale", "hook_jobs", "create_job"] {
        assert_eq!(sites.calls(call), 0, "{call}");
    }
    assert!(sites.actions().is_empty(), "{:?}", sites.actions());
}

#[tokio::test]
async fn a_site_in_a_namespace_nobody_allowed_is_refused_and_nothing_is_scaled_there() {
    let (port, sites, ctx, mut drs) = takeover(Config::default()).await;
    reconcile(&drs, &ctx, now()).await.expect("reconciled");
    let status = port.drsite_status(&drs).expect("written");
    assert_eq!(status.phase, Some(DrPhase::Invalid));
    let invalid = status
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::INVALID)
        .expect("an Invalid condition");
    assert_eq!(
        (
            invalid.status.as_str(),
            invalid.reason.as_str(),
            invalid.message.as_str()
        ),
        ("True", NAMESPACE_NOT_ALLOWED, TAKEOVER_REFUSED)
    );
    assert_eq!(
        port.drsite_events(&drs),
        [Event::warning(NAMESPACE_NOT_ALLOWED, TAKEOVER_REFUSED)]
    );
    untouched(&sites);
    assert_eq!(sites.calls("namespace_labels"), 1, "only kube-system is looked up");
    assert_eq!(port.calls("apply_primary_site"), 0);

    // Again: the same refusal, no second Event, still nothing done.
    drs.status = port.drsite_status(&drs);
    reconcile(&drs, &ctx, now()).await.expect("reconciled");
    assert_eq!(port.drsite_events(&drs).len(), 1);
    untouched(&sites);

    // A label only the namespace's owner could set (another tenant's allowance) does not help.
    sites.label_namespace("kube-system", "allow-from.drover.dev/tenant-b", "true");
    reconcile(&drs, &ctx, now()).await.expect("reconciled");
    untouched(&sites);
}

#[tokio::test]
async fn a_namespace_the_administrator_labelled_for_the_drsites_namespace_is_acted_in() {
    let (port, sites, ctx, drs) = takeover(Config::default()).await;
    sites.label_namespace("kube-system", "allow-from.drover.dev/tenant-a", "true");
    reconcile(&drs, &ctx, now()).await.expect("reconciled");
    let status = port.drsite_status(&drs).expect("written");
    assert!(
        !conditions::is_true(&status.conditions, conditions::INVALID),
        "{status:#?}"
    );
    assert!(
        port.drsite_events(&drs)
            .iter()
            .all(|e| e.reason != NAMESPACE_NOT_ALLOWED),
        "{:?}",
        port.drsite_events(&drs)
    );
    // Both sites were observed, kube-system included, and the runbook went on.
    assert_eq!(sites.calls("hook_jobs"), 2);
    let b = status.sites.iter().find(|s| s.name == "site-b").expect("a row");
    assert!(b.reachable, "{b:?}");
    assert_ne!(status.phase, Some(DrPhase::Invalid));
}

#[tokio::test]
async fn the_lockdown_refuses_another_namespace_even_when_labelled_without_reading_it() {
    let config = Config {
        tenancy: crate::components::tenancy::Policy {
            no_cross_namespace_refs: true,
        },
        ..Config::default()
    };
    let (port, sites, ctx, drs) = takeover(config).await;
    sites.label_namespace("kube-system", "allow-from.drover.dev/tenant-a", "true");
    reconcile(&drs, &ctx, now()).await.expect("reconciled");
    let expected = "site site-b: namespace kube-system is not this DrSite's namespace (tenant-a) and drover \
                    runs with --no-cross-namespace-refs: a DrSite acts only in its own namespace";
    let status = port.drsite_status(&drs).expect("written");
    let invalid = status
        .conditions
        .iter()
        .find(|c| c.type_ == conditions::INVALID)
        .expect("an Invalid condition");
    assert_eq!(
        (invalid.reason.as_str(), invalid.message.as_str()),
        (NAMESPACE_NOT_ALLOWED, expected)
    );
    assert_eq!(
        port.drsite_events(&drs),
        [Event::warning(NAMESPACE_NOT_ALLOWED, expected)]
    );
    untouched(&sites);
    assert_eq!(sites.calls("namespace_labels"), 0);
}
