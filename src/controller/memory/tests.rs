use super::*;
use crate::api::availability_group::{Phase, fixtures};
use crate::api::dr_site::{DrPhase, DrSite};
use crate::controller::{DRSITE_FIELD_MANAGER, DrPort};
use crate::plan::drsite::ChildKind;

fn group() -> AvailabilityGroup {
    let mut ag = AvailabilityGroup::new("ag1", fixtures::spec());
    ag.metadata.namespace = Some("dr".into());
    ag
}

fn drsite() -> DrSite {
    let mut drs = DrSite::new("cc", crate::api::dr_site::fixtures::spec());
    drs.metadata.namespace = Some("dr".into());
    drs
}

fn status(phase: Phase) -> AvailabilityGroupStatus {
    AvailabilityGroupStatus {
        phase: Some(phase),
        ..AvailabilityGroupStatus::default()
    }
}

#[tokio::test]
async fn a_missing_secret_is_not_found_and_a_stored_one_is_served() {
    let port = MemoryPort::default();
    assert!(matches!(
        port.secret("dr", "login").await,
        Err(PortError::NotFound { kind: "Secret", .. })
    ));
    port.put_secret("dr", "login", &[("username", "drover")]);
    let data = port.secret("dr", "login").await.unwrap();
    assert_eq!(data.data["username"], b"drover");
    assert_eq!(data.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(port.calls("secret"), 2);
}

#[tokio::test]
async fn a_stored_group_is_read_back_with_the_status_its_controller_wrote() {
    let port = MemoryPort::default();
    assert!(port.availability_group("dr", "ag1").await.unwrap().is_none());
    port.put_availability_group(group());
    let stored = port.availability_group("dr", "ag1").await.unwrap().unwrap();
    assert_eq!(stored.metadata.generation, Some(1), "the API server sets generation 1");
    assert_eq!(stored.status, None);

    port.patch_status(&group(), &status(Phase::Steady)).await.unwrap();
    let stored = port.availability_group("dr", "ag1").await.unwrap().unwrap();
    assert_eq!(stored.status.and_then(|s| s.phase), Some(Phase::Steady));
    // The statuses map the AG scenario tests read is the same truth.
    assert_eq!(port.status(&group()).and_then(|s| s.phase), Some(Phase::Steady));
    assert_eq!(port.snapshot().status_writes, 1);
    assert_eq!(
        port.snapshot().availability_groups["dr/ag1"]
            .status
            .as_ref()
            .and_then(|s| s.phase),
        Some(Phase::Steady)
    );
}

#[tokio::test]
async fn a_status_written_before_the_group_is_stored_is_kept() {
    let port = MemoryPort::default();
    port.patch_status(&group(), &status(Phase::Degraded)).await.unwrap();
    port.put_availability_group(group());
    let stored = port.stored_availability_group("dr", "ag1").unwrap();
    assert_eq!(stored.status.and_then(|s| s.phase), Some(Phase::Degraded));
}

#[tokio::test]
async fn applying_the_primary_site_bumps_the_generation_only_on_a_change() {
    let port = MemoryPort::default();
    port.put_availability_group(group());

    port.apply_primary_site("dr", "ag1", "site-a", "drs").await.unwrap();
    let ag = port.stored_availability_group("dr", "ag1").unwrap();
    assert_eq!(ag.metadata.generation, Some(1), "same value: no spec change");
    assert_eq!(
        port.desired_site_manager(ChildKind::AvailabilityGroup, "dr", "ag1")
            .as_deref(),
        Some(DRSITE_FIELD_MANAGER)
    );

    port.apply_primary_site("dr", "ag1", "site-b", "drs").await.unwrap();
    let ag = port.stored_availability_group("dr", "ag1").unwrap();
    assert_eq!(ag.spec.primary_site.as_deref(), Some("site-b"));
    assert_eq!(ag.metadata.generation, Some(2));
    assert_eq!(port.desired_site_writes(ChildKind::AvailabilityGroup, "dr", "ag1"), 2);
    assert_eq!(port.calls("apply_primary_site"), 2);
}

#[tokio::test]
async fn managed_fields_show_who_owns_the_primary_site() {
    let port = MemoryPort::default();
    port.put_availability_group(group());
    port.apply_primary_site("dr", "ag1", "site-b", "drs").await.unwrap();
    port.edit_desired_site(ChildKind::AvailabilityGroup, "dr", "ag1", "site-a", "kubectl-edit")
        .unwrap();

    assert_eq!(
        port.desired_site_manager(ChildKind::AvailabilityGroup, "dr", "ag1")
            .as_deref(),
        Some("kubectl-edit")
    );
    let ag = port.stored_availability_group("dr", "ag1").unwrap();
    assert_eq!(ag.metadata.generation, Some(3));
    let owners: Vec<(Option<String>, Option<String>)> = ag
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.manager, e.operation))
        .collect();
    assert_eq!(
        owners,
        [(Some("kubectl-edit".to_string()), Some("Update".to_string()))],
        "the forced apply's entry lost its only field"
    );
    assert_eq!(
        port.desired_site_writes(ChildKind::AvailabilityGroup, "dr", "ag1"),
        1,
        "a hand edit is not drover's write"
    );
}

#[tokio::test]
async fn applying_to_a_missing_group_or_an_unknown_site_fails_and_changes_nothing() {
    let port = MemoryPort::default();
    assert_eq!(
        port.apply_primary_site("dr", "nope", "site-b", "drs").await,
        Err(PortError::NotFound {
            kind: "AvailabilityGroup",
            namespace: "dr".into(),
            name: "nope".into(),
        })
    );
    port.put_availability_group(group());
    let refused = port.apply_primary_site("dr", "ag1", "site-z", "drs").await;
    assert!(
        matches!(&refused, Err(PortError::Api(m)) if m.contains("primarySite must be the site of one of the replicas")),
        "{refused:?}"
    );
    let ag = port.stored_availability_group("dr", "ag1").unwrap();
    assert_eq!(
        (
            ag.spec.primary_site.as_deref().unwrap_or_default(),
            ag.metadata.generation
        ),
        ("site-a", Some(1))
    );
    assert_eq!(
        port.desired_site_manager(ChildKind::AvailabilityGroup, "dr", "ag1"),
        None
    );
    assert_eq!(port.desired_site_writes(ChildKind::AvailabilityGroup, "dr", "ag1"), 0);

    assert!(port.remove_availability_group("dr", "ag1"));
    assert!(port.availability_group("dr", "ag1").await.unwrap().is_none());
}

#[tokio::test]
async fn injected_failures_hit_the_next_calls_then_stop() {
    let port = MemoryPort::default();
    port.put_availability_group(group());
    let down = PortError::Unreachable("connection refused".into());
    port.fail_next("apply_primary_site", 2, down.clone());

    assert_eq!(
        port.apply_primary_site("dr", "ag1", "site-b", "drs").await,
        Err(down.clone())
    );
    assert_eq!(port.apply_primary_site("dr", "ag1", "site-b", "drs").await, Err(down));
    assert_eq!(
        port.stored_availability_group("dr", "ag1")
            .unwrap()
            .spec
            .primary_site
            .as_deref(),
        Some("site-a"),
        "a failed call changes nothing"
    );
    port.apply_primary_site("dr", "ag1", "site-b", "drs").await.unwrap();
    assert_eq!(port.calls("apply_primary_site"), 3);
    assert_eq!(port.desired_site_writes(ChildKind::AvailabilityGroup, "dr", "ag1"), 1);

    // Other calls are untouched, and a pending failure can be cleared.
    port.fail_next("patch_drsite_status", 1, PortError::Api("conflict".into()));
    port.fail_next("patch_drsite_status", 0, PortError::Api("conflict".into()));
    port.patch_drsite_status(&drsite(), &DrSiteStatus::default())
        .await
        .unwrap();
    port.fail_next("publish", 1, PortError::Api("forbidden".into()));
    assert!(port.publish(&group(), &Event::normal("Test", "x")).await.is_err());
    assert!(port.snapshot().events.is_empty());
}

#[tokio::test]
async fn drsite_status_round_trips_and_its_events_have_their_own_key() {
    let port = MemoryPort::default();
    let drs = drsite();
    assert_eq!(port.drsite_status(&drs), None);
    let written = DrSiteStatus {
        phase: Some(DrPhase::Steady),
        active_site: Some("site-a".into()),
        ready: Some("4/4".into()),
        ..DrSiteStatus::default()
    };
    port.patch_drsite_status(&drs, &written).await.unwrap();
    assert_eq!(port.drsite_status(&drs), Some(written));
    assert_eq!(port.snapshot().drsite_status_writes, 1);
    assert_eq!(port.snapshot().status_writes, 0, "AG status writes are counted apart");

    port.publish(&group(), &Event::normal("PlannedFailover", "ag"))
        .await
        .unwrap();
    port.publish_drsite(&drs, &Event::warning("SiteUnreachable", "site-b"))
        .await
        .unwrap();
    let keys: Vec<String> = port.snapshot().events.into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["dr/ag1", "DrSite/dr/cc"]);
    assert_eq!(drsite_event_key(&drs), "DrSite/dr/cc");
    let events = port.drsite_events(&drs);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].reason, "SiteUnreachable");
    assert!(events[0].warning);
}

fn chat_pool() -> crate::api::PersistentChatPool {
    crate::api::dr_site::fixtures::chat_pool("dr", "pchat", "site-a")
}

#[tokio::test]
async fn a_stored_pool_is_read_back_through_the_drsite_side_with_its_status() {
    let port = MemoryPort::default();
    assert!(port.persistent_chat_pool("dr", "pchat").await.unwrap().is_none());
    port.put_pool(chat_pool());
    let status = crate::api::PersistentChatPoolStatus {
        active_site: Some("site-a".into()),
        ..Default::default()
    };
    crate::controller::PoolPort::patch_pool_status(&port, &chat_pool(), &status)
        .await
        .unwrap();
    let stored = port.persistent_chat_pool("dr", "pchat").await.unwrap().unwrap();
    assert_eq!(stored.spec.active_site.as_deref(), Some("site-a"));
    assert_eq!(stored.status, Some(status));
    assert_eq!(port.calls("persistent_chat_pool"), 2);
}

#[tokio::test]
async fn applying_a_pool_active_site_records_drovers_field_manager() {
    let port = MemoryPort::default();
    port.put_pool(chat_pool());

    port.apply_pool_active_site("dr", "pchat", "site-a", "drs")
        .await
        .unwrap();
    let pool = port.stored_pool("dr", "pchat").unwrap();
    assert_eq!(pool.metadata.generation, None, "same value: no spec change");
    assert_eq!(
        port.desired_site_manager(ChildKind::PersistentChatPool, "dr", "pchat")
            .as_deref(),
        Some(DRSITE_FIELD_MANAGER)
    );

    port.apply_pool_active_site("dr", "pchat", "site-b", "drs")
        .await
        .unwrap();
    let pool = port.stored_pool("dr", "pchat").unwrap();
    assert_eq!(pool.spec.active_site.as_deref(), Some("site-b"));
    assert_eq!(pool.metadata.generation, Some(2));
    assert_eq!(
        port.desired_site_writes(ChildKind::PersistentChatPool, "dr", "pchat"),
        2
    );
    assert_eq!(port.calls("apply_pool_active_site"), 2);
    let owners: Vec<(Option<String>, Option<String>)> = pool
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.manager, e.operation))
        .collect();
    assert_eq!(
        owners,
        [(Some(DRSITE_FIELD_MANAGER.to_string()), Some("Apply".to_string()))]
    );

    // A hand edit takes the field over, and is not counted as drover's write.
    port.edit_desired_site(ChildKind::PersistentChatPool, "dr", "pchat", "site-a", "kubectl-edit")
        .unwrap();
    assert_eq!(
        port.desired_site_manager(ChildKind::PersistentChatPool, "dr", "pchat")
            .as_deref(),
        Some("kubectl-edit")
    );
    let pool = port.stored_pool("dr", "pchat").unwrap();
    let managers: Vec<Option<String>> = pool
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.manager)
        .collect();
    assert_eq!(managers, [Some("kubectl-edit".to_string())]);
    assert_eq!(
        port.desired_site_writes(ChildKind::PersistentChatPool, "dr", "pchat"),
        2
    );
}

#[tokio::test]
async fn applying_to_a_missing_pool_or_a_site_it_does_not_have_fails_and_changes_nothing() {
    let port = MemoryPort::default();
    assert_eq!(
        port.apply_pool_active_site("dr", "nope", "site-b", "drs").await,
        Err(PortError::NotFound {
            kind: "PersistentChatPool",
            namespace: "dr".into(),
            name: "nope".into(),
        })
    );
    port.put_pool(chat_pool());
    let refused = port.apply_pool_active_site("dr", "pchat", "site-z", "drs").await;
    assert!(
        matches!(&refused, Err(PortError::Api(m)) if m.contains("activeSite must be primary.site or backup.site")),
        "{refused:?}"
    );
    let pool = port.stored_pool("dr", "pchat").unwrap();
    assert_eq!(
        (
            pool.spec.active_site.as_deref().unwrap_or_default(),
            pool.metadata.generation
        ),
        ("site-a", None)
    );
    assert_eq!(
        port.desired_site_manager(ChildKind::PersistentChatPool, "dr", "pchat"),
        None
    );
    assert_eq!(
        port.desired_site_writes(ChildKind::PersistentChatPool, "dr", "pchat"),
        0
    );

    port.fail_next("apply_pool_active_site", 1, PortError::Unreachable("timeout".into()));
    assert!(
        port.apply_pool_active_site("dr", "pchat", "site-b", "drs")
            .await
            .is_err()
    );
    assert_eq!(
        port.stored_pool("dr", "pchat").unwrap().spec.active_site.as_deref(),
        Some("site-a")
    );
}

/// The owners of the group's `spec.primarySite`, as `managedFields` tell.
fn primary_site_owners(port: &MemoryPort) -> Vec<String> {
    let ag = port.stored_availability_group("dr", "ag1").unwrap();
    crate::controller::ownership::owners(&ag.metadata, "primarySite")
}

#[tokio::test]
async fn the_same_value_applied_by_two_managers_makes_them_co_owners() {
    use super::Write;
    let port = MemoryPort::default();
    port.put_availability_group(group());
    port.apply_primary_site("dr", "ag1", "site-b", "drs").await.unwrap();
    assert_eq!(primary_site_owners(&port), [DRSITE_FIELD_MANAGER]);
    // Argo CD applies Git's value, the same: shared ownership, nothing changes.
    port.write_desired_site(
        ChildKind::AvailabilityGroup,
        "dr",
        "ag1",
        "site-b",
        "argocd-controller",
        Write::Apply,
    )
    .unwrap();
    assert_eq!(primary_site_owners(&port), ["argocd-controller", DRSITE_FIELD_MANAGER]);
    assert_eq!(
        port.stored_availability_group("dr", "ag1").unwrap().metadata.generation,
        Some(2)
    );
    // An update of the same value changes no ownership.
    port.edit_desired_site(ChildKind::AvailabilityGroup, "dr", "ag1", "site-b", "kubectl-edit")
        .unwrap();
    assert_eq!(primary_site_owners(&port), ["argocd-controller", DRSITE_FIELD_MANAGER]);
    // Another value, applied by force: the field is Argo CD's alone.
    port.write_desired_site(
        ChildKind::AvailabilityGroup,
        "dr",
        "ag1",
        "site-a",
        "argocd-controller",
        Write::Apply,
    )
    .unwrap();
    assert_eq!(primary_site_owners(&port), ["argocd-controller"]);
    // The DrSite applies its value again: it takes the field back.
    port.apply_primary_site("dr", "ag1", "site-b", "drs").await.unwrap();
    assert_eq!(primary_site_owners(&port), [DRSITE_FIELD_MANAGER]);
    let ag = port.stored_availability_group("dr", "ag1").unwrap();
    assert_eq!(
        ag.metadata
            .labels
            .unwrap_or_default()
            .get(crate::components::LABEL_DRSITE)
            .map(String::as_str),
        Some("drs"),
        "the DrSite's apply labels the child"
    );
}

#[tokio::test]
async fn a_field_its_last_owner_gives_up_is_removed() {
    use super::Write;
    let port = MemoryPort::default();
    port.put_availability_group(group());
    port.apply_primary_site("dr", "ag1", "site-b", "drs").await.unwrap();
    port.write_desired_site(
        ChildKind::AvailabilityGroup,
        "dr",
        "ag1",
        "site-b",
        "argocd-controller",
        Write::Apply,
    )
    .unwrap();
    // Co-owned: Argo CD leaving it out only drops its share.
    assert!(
        !port
            .release_desired_site(ChildKind::AvailabilityGroup, "dr", "ag1", "argocd-controller")
            .unwrap()
    );
    assert_eq!(primary_site_owners(&port), [DRSITE_FIELD_MANAGER]);
    let ag = port.stored_availability_group("dr", "ag1").unwrap();
    assert_eq!(ag.spec.primary_site.as_deref(), Some("site-b"));
    // Taken by Argo CD alone, then left out of Git: the field is gone.
    port.write_desired_site(
        ChildKind::AvailabilityGroup,
        "dr",
        "ag1",
        "site-a",
        "argocd-controller",
        Write::Apply,
    )
    .unwrap();
    assert!(
        port.release_desired_site(ChildKind::AvailabilityGroup, "dr", "ag1", "argocd-controller")
            .unwrap()
    );
    let ag = port.stored_availability_group("dr", "ag1").unwrap();
    assert_eq!(ag.spec.primary_site, None);
    assert!(primary_site_owners(&port).is_empty());
    assert_eq!(ag.metadata.generation, Some(4), "each spec change bumps the generation");
}

#[tokio::test]
async fn a_drsite_lists_its_children_once_stored() {
    let port = MemoryPort::default();
    let mut drs = crate::api::dr_site::DrSite::new("drs", crate::api::dr_site::fixtures::spec());
    drs.metadata.namespace = Some("dr".into());
    assert!(
        port.drsites_listing(ChildKind::AvailabilityGroup, "dr", "ag1")
            .await
            .unwrap()
            .is_empty()
    );
    port.put_drsite(&drs);
    let listed = port
        .drsites_listing(ChildKind::AvailabilityGroup, "dr", "ag1")
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|l| l.drsite.as_str()).collect::<Vec<_>>(), ["drs"]);
    assert!(
        port.drsites_listing(ChildKind::PersistentChatPool, "dr", "ag1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(port.remove_drsite(&drs));
    assert!(
        port.drsites_listing(ChildKind::AvailabilityGroup, "dr", "ag1")
            .await
            .unwrap()
            .is_empty()
    );
}
