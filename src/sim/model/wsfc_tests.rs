//! The WSFC model driven directly: majority with and without a witness, the witness's
//! arbitration, the lease, 35220, forced quorum, a former primary rejoining, NONE unchanged,
//! and an instance cut off from clients that keeps committing.

use super::config::{ClusterType, NodeConfig, WitnessConfig, WorldConfig};
use super::{Role, SimTime, World};
use crate::sim::table::Value;
use std::collections::BTreeMap;
use std::time::Duration;

fn ms(n: u64) -> SimTime {
    Duration::from_millis(n)
}

fn build(cfg: WorldConfig) -> World {
    World::new(cfg, jiff::civil::date(2026, 1, 1).at(0, 0, 0, 0)).unwrap()
}

/// The default two-site world: SQL-A primary at site-a, SQL-B at site-b, witness at `witness`.
fn with_witness() -> World {
    build(WorldConfig::two_sites())
}

/// Two nodes, no witness: a node majority of two votes.
fn without_witness() -> World {
    let mut cfg = WorldConfig::two_sites();
    cfg.wsfc.witness = None;
    build(cfg)
}

fn with_cluster_type(ct: ClusterType) -> World {
    let mut cfg = WorldConfig::two_sites();
    cfg.availability_groups[0].cluster_type = ct;
    build(cfg)
}

/// Commits one transaction per database every 10 ms in [from, to); returns how many were accepted.
fn run_workload(w: &mut World, from: u64, to: u64) -> usize {
    let mut accepted = 0;
    let mut t = from;
    while t < to {
        for (ag, db) in w.databases() {
            accepted += w.commit(ms(t), &ag, &db);
        }
        t += 10;
    }
    accepted
}

fn role(w: &mut World, t: u64, instance: &str) -> Option<Role> {
    w.roles(ms(t), "ag1")
        .into_iter()
        .find(|(i, _)| i == instance)
        .and_then(|(_, r)| r)
}

/// A view's rows as column name → value.
fn rows(w: &mut World, t: u64, instance: &str, view: &str) -> Vec<BTreeMap<String, Value>> {
    let rs = w.view(ms(t), instance, view).expect("a known view");
    rs.rows
        .iter()
        .map(|row| {
            rs.columns
                .iter()
                .zip(row)
                .map(|(c, v)| (c.name.clone(), v.clone()))
                .collect()
        })
        .collect()
}

fn text(v: &Value) -> &str {
    match v {
        Value::Str(s) => s,
        other => panic!("expected a string, got {other:?}"),
    }
}

/// `quorum_state_desc` as `instance` reports it; `None` when sys.dm_hadr_cluster has no row.
fn quorum_state(w: &mut World, t: u64, instance: &str) -> Option<String> {
    let r = rows(w, t, instance, "sys.dm_hadr_cluster");
    assert!(r.len() <= 1, "one row at most: {r:?}");
    r.first().map(|row| text(&row["quorum_state_desc"]).to_string())
}

/// The local replica's `operational_state_desc`.
fn operational(w: &mut World, t: u64, instance: &str) -> String {
    let r = rows(w, t, instance, "sys.dm_hadr_availability_replica_states");
    let local = r
        .iter()
        .find(|row| row["is_local"] == Value::Bit(true))
        .expect("a local row");
    text(&local["operational_state_desc"]).to_string()
}

fn suspend_reasons(w: &mut World, t: u64, instance: &str) -> Vec<String> {
    rows(w, t, instance, "sys.dm_hadr_database_replica_states")
        .iter()
        .filter(|row| row["is_local"] == Value::Bit(true))
        .map(|row| match &row["suspend_reason_desc"] {
            Value::Str(s) => s.clone(),
            _ => "-".to_string(),
        })
        .collect()
}

#[test]
fn every_node_has_normal_quorum_at_the_start_and_the_views_say_so() {
    let mut w = with_witness();
    let cluster = rows(&mut w, 10, "SQL-A", "sys.dm_hadr_cluster");
    assert_eq!(cluster.len(), 1);
    assert_eq!(text(&cluster[0]["cluster_name"]), "SIM-WSFC");
    assert_eq!(text(&cluster[0]["quorum_type_desc"]), "NODE_AND_FILE_SHARE_MAJORITY");
    assert_eq!(cluster[0]["quorum_type"], Value::Int(2));
    assert_eq!(text(&cluster[0]["quorum_state_desc"]), "NORMAL_QUORUM");
    assert_eq!(cluster[0]["quorum_state"], Value::Int(1));
    let members = rows(&mut w, 10, "SQL-B", "sys.dm_hadr_cluster_members");
    let summary: Vec<(String, String, String, Value)> = members
        .iter()
        .map(|m| {
            (
                text(&m["member_name"]).to_string(),
                text(&m["member_type_desc"]).to_string(),
                text(&m["member_state_desc"]).to_string(),
                m["number_of_quorum_votes"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("SQL-A".into(), "CLUSTER_NODE".into(), "UP".into(), Value::Int(1)),
            ("SQL-B".into(), "CLUSTER_NODE".into(), "UP".into(), Value::Int(1)),
            (
                r"\\witness\SIM-WSFC".into(),
                "FILE_SHARE_WITNESS".into(),
                "UP".into(),
                Value::Int(1)
            ),
        ]
    );
    let nodes = rows(&mut w, 10, "SQL-B", "sys.dm_hadr_availability_replica_cluster_nodes");
    let nodes: Vec<(&str, &str, &str)> = nodes
        .iter()
        .map(|n| {
            (
                text(&n["group_name"]),
                text(&n["replica_server_name"]),
                text(&n["node_name"]),
            )
        })
        .collect();
    assert_eq!(nodes, [("ag1", "SQL-A", "SQL-A"), ("ag1", "SQL-B", "SQL-B")]);
    assert_eq!(operational(&mut w, 10, "SQL-B"), "ONLINE");
}

#[test]
fn without_a_witness_the_survivor_of_two_nodes_has_no_quorum_and_cannot_be_forced() {
    let mut w = without_witness();
    run_workload(&mut w, 0, 500);
    w.stop_instance(ms(500), "SQL-A").unwrap();
    assert_eq!(
        quorum_state(&mut w, 600, "SQL-B"),
        None,
        "one vote of two is no majority"
    );
    assert!(rows(&mut w, 600, "SQL-B", "sys.dm_hadr_cluster_members").is_empty());
    assert_eq!(role(&mut w, 600, "SQL-B"), Some(Role::Resolving));
    assert_eq!(operational(&mut w, 600, "SQL-B"), "FAILED_NO_QUORUM");
    // The replica-to-node map is the node's copy of the configuration: still there.
    assert_eq!(
        rows(&mut w, 600, "SQL-B", "sys.dm_hadr_availability_replica_cluster_nodes").len(),
        2
    );
    let e = w.failover(ms(700), "SQL-B", "ag1", true).unwrap_err();
    assert_eq!(e.number, 35220, "{}", e.message);
    assert!(e.message.contains("quorum"), "{}", e.message);
    assert_eq!(w.failover(ms(700), "SQL-B", "ag1", false).unwrap_err().number, 35220);
    assert_eq!(role(&mut w, 2000, "SQL-B"), Some(Role::Resolving), "nothing changed");
}

#[test]
fn with_a_witness_the_survivor_keeps_quorum_and_can_be_forced() {
    let mut w = with_witness();
    run_workload(&mut w, 0, 500);
    w.stop_instance(ms(500), "SQL-A").unwrap();
    assert_eq!(quorum_state(&mut w, 600, "SQL-B").as_deref(), Some("NORMAL_QUORUM"));
    let members = rows(&mut w, 600, "SQL-B", "sys.dm_hadr_cluster_members");
    let states: Vec<&str> = members.iter().map(|m| text(&m["member_state_desc"])).collect();
    assert_eq!(states, ["DOWN", "UP", "UP"], "SQL-A down, SQL-B and the witness up");
    // Its secondary still sees no primary: RESOLVING, as before, but the node is fine.
    assert_eq!(role(&mut w, 600, "SQL-B"), Some(Role::Resolving));
    assert_eq!(operational(&mut w, 600, "SQL-B"), "OFFLINE");
    w.failover(ms(700), "SQL-B", "ag1", true).unwrap();
    assert_eq!(role(&mut w, 1500, "SQL-B"), Some(Role::Primary));
    assert!(run_workload(&mut w, 1500, 1700) > 0, "the new primary commits");
}

#[test]
fn a_witness_cut_off_with_the_other_site_does_not_count() {
    let mut w = with_witness();
    w.partition(ms(100), "site-b", "witness").unwrap();
    assert_eq!(quorum_state(&mut w, 200, "SQL-B").as_deref(), Some("NORMAL_QUORUM"));
    w.stop_instance(ms(300), "SQL-A").unwrap();
    assert_eq!(quorum_state(&mut w, 400, "SQL-B"), None);
    assert_eq!(w.failover(ms(400), "SQL-B", "ag1", true).unwrap_err().number, 35220);
    // An unknown site is still refused.
    assert!(w.partition(ms(400), "site-b", "nowhere").is_err());
}

#[test]
fn the_witness_sides_with_the_primary_in_a_partition() {
    let mut w = with_witness();
    run_workload(&mut w, 0, 300);
    w.partition(ms(300), "site-a", "site-b").unwrap();
    // Site-a holds the primary: the witness sides with it.
    assert_eq!(quorum_state(&mut w, 400, "SQL-A").as_deref(), Some("NORMAL_QUORUM"));
    assert_eq!(quorum_state(&mut w, 400, "SQL-B"), None);
    let members = rows(&mut w, 400, "SQL-A", "sys.dm_hadr_cluster_members");
    let states: Vec<&str> = members.iter().map(|m| text(&m["member_state_desc"])).collect();
    assert_eq!(states, ["UP", "DOWN", "UP"]);
    assert_eq!(role(&mut w, 400, "SQL-A"), Some(Role::Primary));
    assert!(run_workload(&mut w, 400, 600) > 0, "the primary keeps committing");
    assert_eq!(role(&mut w, 600, "SQL-B"), Some(Role::Resolving));
    assert_eq!(operational(&mut w, 600, "SQL-B"), "FAILED_NO_QUORUM");
    assert_eq!(w.failover(ms(600), "SQL-B", "ag1", true).unwrap_err().number, 35220);
    assert!(w.split_brain_moments().is_empty());

    // The same world with SQL-B primary: the witness sides with site-b instead.
    let mut cfg = WorldConfig::two_sites();
    for r in &mut cfg.availability_groups[0].replicas {
        r.primary = r.instance == "SQL-B";
    }
    let mut w = build(cfg);
    w.partition(ms(300), "site-a", "site-b").unwrap();
    assert_eq!(quorum_state(&mut w, 400, "SQL-A"), None);
    assert_eq!(quorum_state(&mut w, 400, "SQL-B").as_deref(), Some("NORMAL_QUORUM"));
    assert_eq!(w.writable_primaries(ms(400), "ag1"), ["SQL-B"]);
}

#[test]
fn a_primary_without_quorum_commits_nothing_at_once_and_goes_resolving_after_its_lease() {
    let mut w = without_witness();
    let lease = w.config().latencies.lease_timeout.as_millis() as u64;
    assert!(lease >= 200, "the test needs a lease longer than its steps");
    run_workload(&mut w, 0, 300);
    let acked = w.acknowledged("ag1", "confdb");
    // Neither half of two nodes is a majority.
    w.partition(ms(300), "site-a", "site-b").unwrap();
    assert_eq!(quorum_state(&mut w, 300, "SQL-A"), None);
    assert_eq!(
        run_workload(&mut w, 300, 300 + lease - 50),
        0,
        "no commit without quorum"
    );
    assert_eq!(w.acknowledged("ag1", "confdb"), acked);
    assert!(w.writable_primaries(ms(300 + lease - 50), "ag1").is_empty());
    // Still PRIMARY while the lease runs, with its local replica FAILED_NO_QUORUM ...
    assert_eq!(role(&mut w, 300 + lease - 50, "SQL-A"), Some(Role::Primary));
    assert_eq!(operational(&mut w, 300 + lease - 50, "SQL-A"), "FAILED_NO_QUORUM");
    // ... RESOLVING once it ran out.
    assert_eq!(role(&mut w, 300 + lease, "SQL-A"), Some(Role::Resolving));
    assert_eq!(role(&mut w, 300 + lease, "SQL-B"), Some(Role::Resolving));
    // Healed: quorum back, the primary commits again.
    w.heal(ms(2000 + lease));
    assert_eq!(role(&mut w, 2000 + lease, "SQL-A"), Some(Role::Primary));
    assert_eq!(
        quorum_state(&mut w, 2000 + lease, "SQL-A").as_deref(),
        Some("NORMAL_QUORUM")
    );
    assert!(run_workload(&mut w, 2000 + lease, 2200 + lease) > 0);
    assert!(w.acknowledged("ag1", "confdb") > acked);
}

#[test]
fn forced_quorum_lets_the_survivor_be_forced_and_the_old_primary_rejoins_suspended() {
    let mut w = without_witness();
    run_workload(&mut w, 0, 500);
    w.set_replication_paused(ms(500), "SQL-B", true).unwrap();
    run_workload(&mut w, 500, 700); // a tail that never reaches SQL-B
    w.stop_instance(ms(700), "SQL-A").unwrap();
    w.set_replication_paused(ms(700), "SQL-B", false).unwrap();
    assert_eq!(w.failover(ms(800), "SQL-B", "ag1", true).unwrap_err().number, 35220);
    assert!(
        w.force_quorum(ms(800), "SQL-A").is_err(),
        "a stopped node cannot be forced"
    );
    assert!(w.force_quorum(ms(800), "nobody").is_err());
    w.force_quorum(ms(900), "SQL-B").unwrap();
    assert_eq!(quorum_state(&mut w, 900, "SQL-B").as_deref(), Some("FORCED_QUORUM"));
    w.failover(ms(1000), "SQL-B", "ag1", true).unwrap();
    assert_eq!(role(&mut w, 1600, "SQL-B"), Some(Role::Primary));
    assert!(run_workload(&mut w, 1600, 1800) > 0);
    let a_log = w.log_length("ag1", "confdb", "SQL-A").unwrap();
    // The old primary comes back: it joins the forced side's cluster as a SECONDARY with every
    // database suspended, its divergent tail kept; the quorum is NORMAL again (two of two).
    w.start_instance(ms(2000), "SQL-A").unwrap();
    assert_eq!(role(&mut w, 2000, "SQL-A"), Some(Role::Secondary));
    assert_eq!(w.writable_primaries(ms(2000), "ag1"), ["SQL-B"]);
    assert_eq!(
        suspend_reasons(&mut w, 2000, "SQL-A"),
        ["SUSPEND_FROM_PARTNER", "SUSPEND_FROM_PARTNER"]
    );
    assert_eq!(w.log_length("ag1", "confdb", "SQL-A"), Some(a_log), "tail kept");
    assert_eq!(quorum_state(&mut w, 2000, "SQL-A").as_deref(), Some("NORMAL_QUORUM"));
    assert_eq!(quorum_state(&mut w, 2000, "SQL-B").as_deref(), Some("NORMAL_QUORUM"));
    assert!(w.split_brain_moments().is_empty());
    // One configuration again: both report the forced failover's sequence number.
    for i in ["SQL-A", "SQL-B"] {
        assert_eq!(
            rows(&mut w, 2000, i, "sys.availability_groups")[0]["sequence_number"],
            Value::Int(2),
            "{i}"
        );
    }
    // Resuming rolls the divergent tail back, as before.
    assert!(w.resume_database(ms(2100), "SQL-A", "confdb").unwrap());
    w.advance(ms(4000));
    assert!(w.log_length("ag1", "confdb", "SQL-A").unwrap() < a_log + 1);
}

#[test]
fn an_old_primary_coming_back_cut_off_or_alone_with_the_witness_stays_resolving() {
    let mut w = with_witness();
    run_workload(&mut w, 0, 500);
    w.stop_instance(ms(500), "SQL-A").unwrap();
    w.failover(ms(600), "SQL-B", "ag1", true).unwrap();
    assert_eq!(role(&mut w, 1200, "SQL-B"), Some(Role::Primary));
    run_workload(&mut w, 1200, 1400);
    // Back behind a partition: the witness stays with the side that has the latest
    // configuration, so SQL-A has no quorum: RESOLVING at once, never writable.
    w.partition(ms(1400), "site-a", "site-b").unwrap();
    w.start_instance(ms(1500), "SQL-A").unwrap();
    assert_eq!(quorum_state(&mut w, 1500, "SQL-A"), None);
    assert_eq!(role(&mut w, 1500, "SQL-A"), Some(Role::Resolving));
    assert_eq!(w.writable_primaries(ms(1500), "ag1"), ["SQL-B"]);
    run_workload(&mut w, 1500, 1700);
    // The new primary goes down too: SQL-A and the witness would be a majority, but SQL-A's
    // configuration is older than the witness's (no partition in time): still no quorum.
    w.heal(ms(1700));
    assert_eq!(
        role(&mut w, 1700, "SQL-A"),
        Some(Role::Secondary),
        "rejoined once healed"
    );
    let mut w = with_witness();
    run_workload(&mut w, 0, 500);
    w.stop_instance(ms(500), "SQL-A").unwrap();
    w.failover(ms(600), "SQL-B", "ag1", true).unwrap();
    run_workload(&mut w, 1200, 1400);
    w.stop_instance(ms(1400), "SQL-B").unwrap();
    w.start_instance(ms(1500), "SQL-A").unwrap();
    assert_eq!(quorum_state(&mut w, 1500, "SQL-A"), None);
    assert_eq!(role(&mut w, 1500, "SQL-A"), Some(Role::Resolving));
    assert!(w.writable_primaries(ms(1500), "ag1").is_empty());
    assert_eq!(run_workload(&mut w, 1500, 1700), 0);
    assert_eq!(w.failover(ms(1700), "SQL-A", "ag1", true).unwrap_err().number, 35220);
    // The new primary is back: one cluster, SQL-A a suspended secondary.
    w.start_instance(ms(1800), "SQL-B").unwrap();
    assert_eq!(role(&mut w, 1800, "SQL-A"), Some(Role::Secondary));
    assert_eq!(w.writable_primaries(ms(1800), "ag1"), ["SQL-B"]);
    assert_eq!(
        suspend_reasons(&mut w, 1800, "SQL-A"),
        ["SUSPEND_FROM_PARTNER", "SUSPEND_FROM_PARTNER"]
    );
    assert!(w.split_brain_moments().is_empty());
}

#[test]
fn under_none_there_is_no_cluster_and_a_returning_old_primary_is_primary_too() {
    for ct in [ClusterType::None, ClusterType::External] {
        let mut w = with_cluster_type(ct);
        for view in [
            "sys.dm_hadr_cluster",
            "sys.dm_hadr_cluster_members",
            "sys.dm_hadr_availability_replica_cluster_nodes",
        ] {
            assert!(rows(&mut w, 10, "SQL-A", view).is_empty(), "{ct:?} {view}");
        }
        assert_eq!(operational(&mut w, 10, "SQL-A"), "ONLINE");
    }
    let mut w = with_cluster_type(ClusterType::None);
    run_workload(&mut w, 0, 500);
    w.partition(ms(500), "site-a", "site-b").unwrap();
    // No quorum to lose: the cut-off primary keeps committing.
    assert!(run_workload(&mut w, 500, 700) > 0);
    w.stop_instance(ms(700), "SQL-A").unwrap();
    w.failover(ms(800), "SQL-B", "ag1", true).unwrap();
    assert_eq!(role(&mut w, 1400, "SQL-B"), Some(Role::Primary));
    w.start_instance(ms(1500), "SQL-A").unwrap();
    w.heal(ms(1600));
    assert_eq!(role(&mut w, 1600, "SQL-A"), Some(Role::Primary));
    assert_eq!(role(&mut w, 1600, "SQL-B"), Some(Role::Primary));
    assert_eq!(w.writable_primaries(ms(1600), "ag1").len(), 2);
    assert_eq!(
        w.split_brain_moments().len(),
        1,
        "two primaries, as SQL Server documents"
    );
    // sys.availability_groups.sequence_number tells the newer configuration apart.
    let seq = |w: &mut World, i: &str| rows(w, 1600, i, "sys.availability_groups")[0]["sequence_number"].clone();
    assert_eq!(seq(&mut w, "SQL-A"), Value::Int(1));
    assert_eq!(seq(&mut w, "SQL-B"), Value::Int(2));
    assert!(w.force_quorum(ms(1700), "SQL-A").is_err(), "no cluster under NONE");
}

#[test]
fn an_instance_cut_off_from_clients_keeps_committing_where_it_may() {
    let mut w = with_witness();
    run_workload(&mut w, 0, 300);
    w.set_client_isolation(ms(300), "SQL-A", true).unwrap();
    w.partition(ms(300), "site-a", "site-b").unwrap();
    assert!(w.is_isolated_from_clients("SQL-A"));
    let before = w.acknowledged("ag1", "confdb");
    // With the witness on its side it keeps quorum: committed and acknowledged.
    assert!(run_workload(&mut w, 300, 800) > 0);
    assert!(w.acknowledged("ag1", "confdb") > before);
    assert_eq!(w.writable_primaries(ms(800), "ag1"), ["SQL-A"]);
    // Cut off from the witness too, it loses quorum and stops.
    w.partition(ms(800), "site-a", "witness").unwrap();
    let stopped = w.acknowledged("ag1", "confdb");
    assert_eq!(run_workload(&mut w, 800, 1000), 0);
    assert_eq!(w.acknowledged("ag1", "confdb"), stopped);
    w.set_client_isolation(ms(1000), "SQL-A", false).unwrap();
    assert!(!w.is_isolated_from_clients("SQL-A"));
    assert!(w.set_client_isolation(ms(1000), "nobody", true).is_err());
    assert!(w.split_brain_moments().is_empty());
}

#[test]
fn node_names_and_votes_can_be_set_per_instance() {
    let mut cfg = WorldConfig::two_sites();
    cfg.wsfc.witness = None;
    cfg.wsfc.cluster_name = "CC-CLUSTER".into();
    cfg.wsfc.nodes = vec![
        NodeConfig {
            instance: "SQL-A".into(),
            node: Some("NODE-A".into()),
            votes: Some(0),
        },
        NodeConfig {
            instance: "sql-b".into(),
            node: Some("NODE-B".into()),
            votes: None,
        },
    ];
    let mut w = build(cfg.clone());
    let nodes = rows(&mut w, 10, "SQL-A", "sys.dm_hadr_availability_replica_cluster_nodes");
    let names: Vec<&str> = nodes.iter().map(|n| text(&n["node_name"])).collect();
    assert_eq!(names, ["NODE-A", "NODE-B"]);
    let cluster = rows(&mut w, 10, "SQL-A", "sys.dm_hadr_cluster");
    assert_eq!(text(&cluster[0]["cluster_name"]), "CC-CLUSTER");
    assert_eq!(text(&cluster[0]["quorum_type_desc"]), "NODE_MAJORITY");
    // SQL-B's one vote is the whole cluster's: alone it has quorum; SQL-A alone has none.
    w.partition(ms(100), "site-a", "site-b").unwrap();
    assert_eq!(quorum_state(&mut w, 200, "SQL-B").as_deref(), Some("NORMAL_QUORUM"));
    assert_eq!(quorum_state(&mut w, 200, "SQL-A"), None);
    let members = rows(&mut w, 200, "SQL-B", "sys.dm_hadr_cluster_members");
    let votes: Vec<Value> = members.iter().map(|m| m["number_of_quorum_votes"].clone()).collect();
    assert_eq!(votes, [Value::Int(0), Value::Int(1)]);

    // Bad overrides are refused with a reason.
    let mut bad = cfg.clone();
    bad.wsfc.nodes[0].votes = Some(2);
    assert!(bad.validate().unwrap_err().contains("0 or 1"));
    let mut bad = cfg.clone();
    bad.wsfc.nodes[0].instance = "SQL-Z".into();
    assert!(bad.validate().unwrap_err().contains("unknown instance"));
    let mut bad = cfg;
    bad.wsfc.witness = Some(WitnessConfig::file_share(" "));
    assert!(bad.validate().is_err());
    // And from YAML, unknown fields are still refused.
    let yaml = "instances: [{name: A, site: s}]\nwsfc: {witness: {site: w}, bogus: 1}";
    assert!(WorldConfig::from_yaml(yaml).is_err());
    let yaml = "instances: [{name: A, site: s}]\nwsfc: {witness: {site: w, kind: CLOUD_WITNESS}, nodes: [{instance: A, votes: 1}]}";
    let cfg = WorldConfig::from_yaml(yaml).unwrap();
    assert_eq!(cfg.wsfc.cluster_name, "SIM-WSFC");
    assert_eq!(cfg.wsfc.witness.unwrap().site, "w");
}
