use super::*;
use crate::demo::world::example;

fn costs() -> Costs {
    Costs {
        sql: SqlLatencies {
            replication: Duration::from_millis(20),
            failover: Duration::from_millis(150),
            revert: Duration::from_millis(300),
            backup: Duration::from_millis(50),
            ..SqlLatencies::default()
        },
        sites: SiteLatencies {
            start: Duration::from_secs(2),
            stop: Duration::from_secs(1),
            hook: Duration::from_secs(1),
            ..SiteLatencies::default()
        },
        groups: 1,
        databases: 2,
        backup_before_failback: false,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn a_cold_start_is_the_longest_dependency_chain_with_the_hook_job_on_it() {
    let spec = example().expect("example").spec;
    let got = ideal(&spec, TransitionKind::ColdStart, None, "site-a", &costs());
    // Five workloads of 2 s, then the SIP server's hook Job (1 s) and its start (2 s).
    assert!(close(got.seconds, 13.0), "{got:?}");
    assert_eq!(
        got.legs,
        [Leg {
            what: "start master-confserv → master-scs → message-server → scs → confserv-proxy → sip-server".into(),
            seconds: 13.0
        }]
    );
}

#[test]
fn parallel_branches_count_as_their_longest() {
    let spec = example().expect("example").spec;
    let mut costs = costs();
    costs.sites.per_component.insert(
        "interaction-server".into(),
        (Duration::from_secs(10), Duration::from_secs(1)),
    );
    let got = ideal(&spec, TransitionKind::ColdStart, None, "site-a", &costs);
    assert!(close(got.seconds, 20.0), "{got:?}");
    assert!(
        got.legs[0].what.ends_with("confserv-proxy → interaction-server"),
        "{got:?}"
    );
}

#[test]
fn a_failover_forces_the_group_then_starts_only_the_active_site_components() {
    let spec = example().expect("example").spec;
    let got = ideal(&spec, TransitionKind::Failover, Some("site-a"), "site-b", &costs());
    assert!(close(got.seconds, 6.15), "{got:?}");
    assert_eq!(got.legs.len(), 2);
    assert_eq!(got.legs[0].what, "group: forced failover");
    assert_eq!(got.legs[1].what, "start master-confserv → master-scs → message-server");
}

#[test]
fn a_failback_stops_in_reverse_moves_the_group_with_its_backups_and_starts() {
    let spec = example().expect("example").spec;
    let mut costs = costs();
    let without = ideal(&spec, TransitionKind::Failback, Some("site-b"), "site-a", &costs);
    // Stops 3 × 1 s; revert 0.3 + catch-up 0.02 + failover 0.15 + synchronize 0.02; starts 3 × 2 s.
    assert!(close(without.seconds, 9.49), "{without:?}");
    assert_eq!(
        without.legs[0].what,
        "stop message-server → master-scs → master-confserv"
    );
    costs.backup_before_failback = true;
    let with = ideal(&spec, TransitionKind::Failback, Some("site-b"), "site-a", &costs);
    assert!(close(with.seconds, 9.59), "two backups of 50 ms: {with:?}");
}

#[test]
fn a_switchover_synchronizes_around_the_planned_failover_and_a_repair_moves_nothing() {
    let spec = example().expect("example").spec;
    let got = ideal(&spec, TransitionKind::Switchover, Some("site-a"), "site-b", &costs());
    assert!(close(got.seconds, 3.0 + 0.19 + 6.0), "{got:?}");
    let repair = ideal(&spec, TransitionKind::Repair, Some("site-a"), "site-a", &costs());
    assert!(repair.legs.iter().all(|l| !l.what.starts_with("group")), "{repair:?}");
}

#[test]
fn a_pool_beside_the_group_counts_only_when_its_chain_is_longer() {
    let spec = example().expect("example").spec;
    let base = ideal(&spec, TransitionKind::Switchover, Some("site-a"), "site-b", &costs());
    let short = Ideal {
        seconds: 0.1,
        legs: vec![Leg {
            what: "RunHook ×1".into(),
            seconds: 0.1,
        }],
    };
    assert_eq!(beside(base.clone(), "pool", &short), base, "the group's leg is longer");
    let long = Ideal {
        seconds: 4.0,
        legs: vec![Leg {
            what: "RunHook ×4".into(),
            seconds: 4.0,
        }],
    };
    let got = beside(base.clone(), "pool", &long);
    assert!(close(got.seconds, base.seconds - 0.19 + 4.0), "{got:?}");
    assert!(got.legs.iter().any(|l| l.what == "pool: RunHook ×4"), "{got:?}");
    let no_group = Costs { groups: 0, ..costs() };
    let alone = ideal(&spec, TransitionKind::Switchover, Some("site-a"), "site-b", &no_group);
    assert!(alone.legs.iter().all(|l| !l.what.starts_with("group")), "{alone:?}");
    let got = beside(alone.clone(), "pool", &long);
    let i = got
        .legs
        .iter()
        .position(|l| l.what.starts_with("pool"))
        .expect("inserted");
    assert!(got.legs[i + 1..].iter().all(|l| l.what.starts_with("start")), "{got:?}");
    assert!(got.legs[..i].iter().all(|l| l.what.starts_with("stop")), "{got:?}");
}
