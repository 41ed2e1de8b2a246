//! The model's rules, driven directly (no sockets): roles, loss, suspension.

use super::config::{AvailabilityMode, WorldConfig};
use super::{Role, SimTime, World};
use std::time::Duration;

fn ms(n: u64) -> SimTime {
    Duration::from_millis(n)
}

fn world() -> World {
    World::new(WorldConfig::two_sites(), jiff::civil::date(2026, 1, 1).at(0, 0, 0, 0)).unwrap()
}

/// Commits one transaction per database every 10 ms from `from` to `to`.
fn run_workload(w: &mut World, from: u64, to: u64) {
    let mut t = from;
    while t < to {
        for (ag, db) in w.databases() {
            w.commit(ms(t), &ag, &db);
        }
        t += 10;
    }
}

fn role(w: &mut World, t: u64, instance: &str) -> Option<Role> {
    w.roles(ms(t), "ag1")
        .into_iter()
        .find(|(i, _)| i == instance)
        .and_then(|(_, r)| r)
}

fn sync_state(w: &mut World, t: u64, instance: &str, db: &str) -> String {
    let rs = w.view(ms(t), instance, "sys.dm_hadr_database_replica_states").unwrap();
    let ci = |n: &str| rs.columns.iter().position(|c| c.name == n).unwrap();
    let id = w.ags[0].databases.iter().find(|d| d.name == db).unwrap().database_id;
    let row = rs
        .rows
        .iter()
        .find(|r| {
            r[ci("is_local")] == crate::sim::table::Value::Bit(true)
                && r[ci("database_id")] == crate::sim::table::Value::Int(id.into())
        })
        .unwrap();
    match &row[ci("synchronization_state_desc")] {
        crate::sim::table::Value::Str(s) => s.clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn healthy_async_pair_replicates_and_acknowledges_at_once() {
    let mut w = world();
    run_workload(&mut w, 0, 1000);
    assert_eq!(w.acknowledged("ag1", "confdb"), 101);
    // After the replication latency the secondary has everything.
    w.advance(ms(1100));
    assert_eq!(
        w.log_length("ag1", "confdb", "SQL-B"),
        w.log_length("ag1", "confdb", "SQL-A")
    );
    assert_eq!(sync_state(&mut w, 1100, "SQL-A", "confdb"), "SYNCHRONIZED");
    assert_eq!(sync_state(&mut w, 1100, "SQL-B", "confdb"), "SYNCHRONIZING");
}

#[test]
fn planned_failover_needs_synchronous_commit_and_loses_nothing() {
    let mut w = world();
    run_workload(&mut w, 0, 500);
    // Asynchronous target: refused, nothing changes.
    assert_eq!(w.failover(ms(500), "SQL-B", "ag1", false).unwrap_err().number, 41142);
    assert_eq!(role(&mut w, 500, "SQL-A"), Some(Role::Primary));
    // On the primary itself: already primary.
    assert_eq!(w.failover(ms(500), "SQL-A", "ag1", false).unwrap_err().number, 41122);
    for srv in ["SQL-A", "SQL-B"] {
        w.set_availability_mode(ms(510), "SQL-A", "ag1", srv, AvailabilityMode::SynchronousCommit)
            .unwrap();
    }
    run_workload(&mut w, 510, 1000);
    assert_eq!(sync_state(&mut w, 1000, "SQL-A", "confdb"), "SYNCHRONIZED");
    w.failover(ms(1000), "SQL-B", "ag1", false).unwrap();
    assert_eq!(w.failover(ms(1001), "SQL-B", "ag1", false).unwrap_err().number, 41113);
    // The role change completes asynchronously.
    assert_eq!(role(&mut w, 1100, "SQL-B"), Some(Role::Resolving));
    run_workload(&mut w, 1000, 1600);
    assert_eq!(role(&mut w, 1600, "SQL-B"), Some(Role::Primary));
    assert_eq!(role(&mut w, 1600, "SQL-A"), Some(Role::Secondary));
    run_workload(&mut w, 1600, 2000);
    assert_eq!(w.lost_transactions(ms(2000), "ag1", "confdb"), Some(0));
    assert_eq!(w.lost_transactions(ms(2000), "ag1", "logdb"), Some(0));
    assert!(w.split_brain_moments().is_empty());
}

#[test]
fn forced_failover_loses_exactly_the_unreplicated_tail_and_old_primary_reverts() {
    let mut w = world();
    run_workload(&mut w, 0, 500);
    w.set_replication_paused(ms(500), "SQL-B", true).unwrap();
    run_workload(&mut w, 500, 800); // commits that never reach SQL-B
    // The unreplicated tail: what SQL-A has and SQL-B does not.
    let tail = w.log_length("ag1", "confdb", "SQL-A").unwrap() - w.log_length("ag1", "confdb", "SQL-B").unwrap();
    assert!(tail >= 30, "30 commits while paused, plus those in flight; got {tail}");
    w.stop_instance(ms(800), "SQL-A").unwrap();
    assert_eq!(role(&mut w, 800, "SQL-B"), Some(Role::Resolving));
    w.set_replication_paused(ms(800), "SQL-B", false).unwrap();
    w.failover(ms(900), "SQL-B", "ag1", true).unwrap();
    assert_eq!(role(&mut w, 1500, "SQL-B"), Some(Role::Primary));
    assert_eq!(w.lost_transactions(ms(1500), "ag1", "confdb"), Some(tail as u64));
    run_workload(&mut w, 1500, 1700);
    // The old primary comes back as a suspended secondary: no second primary.
    w.start_instance(ms(2000), "SQL-A").unwrap();
    assert_eq!(role(&mut w, 2000, "SQL-A"), Some(Role::Secondary));
    assert_eq!(w.writable_primaries(ms(2000), "ag1"), vec!["SQL-B".to_string()]);
    assert_eq!(sync_state(&mut w, 2000, "SQL-A", "confdb"), "NOT SYNCHRONIZING");
    let rs = w
        .view(ms(2000), "SQL-A", "sys.dm_hadr_database_replica_states")
        .unwrap();
    let reason = rs.columns.iter().position(|c| c.name == "suspend_reason_desc").unwrap();
    assert!(
        rs.rows
            .iter()
            .all(|r| r[reason] == crate::sim::table::Value::Str("SUSPEND_FROM_PARTNER".into()))
    );
    // Resume: the divergent tail is rolled back, then it synchronizes.
    w.resume_database(ms(2000), "SQL-A", "confdb").unwrap();
    assert_eq!(sync_state(&mut w, 2100, "SQL-A", "confdb"), "REVERTING");
    assert_eq!(sync_state(&mut w, 3000, "SQL-A", "confdb"), "SYNCHRONIZING");
    w.advance(ms(3200));
    assert_eq!(
        w.log_length("ag1", "confdb", "SQL-A"),
        w.log_length("ag1", "confdb", "SQL-B")
    );
    // The lost transactions stay lost; nothing else is.
    assert_eq!(w.lost_transactions(ms(3200), "ag1", "confdb"), Some(tail as u64));
    assert!(w.split_brain_moments().is_empty());
}

#[test]
fn forcing_during_a_partition_makes_two_primaries_and_it_is_recorded() {
    let mut w = world();
    run_workload(&mut w, 0, 300);
    w.partition(ms(300), "site-a", "site-b").unwrap();
    let in_flight = w.log_length("ag1", "confdb", "SQL-A").unwrap() - w.log_length("ag1", "confdb", "SQL-B").unwrap();
    assert_eq!(role(&mut w, 300, "SQL-B"), Some(Role::Resolving));
    // Under WSFC the cut-off side has no quorum (the witness sides with the primary's):
    // a person must force quorum there first, while site A, a majority, runs on.
    assert_eq!(w.failover(ms(300), "SQL-B", "ag1", true).unwrap_err().number, 35220);
    w.force_quorum(ms(300), "SQL-B").unwrap();
    w.failover(ms(300), "SQL-B", "ag1", true).unwrap();
    w.advance(ms(1000));
    assert_eq!(w.writable_primaries(ms(1000), "ag1").len(), 2);
    assert_eq!(w.split_brain_moments().len(), 1);
    run_workload(&mut w, 1000, 1200); // both sides take writes
    w.heal(ms(1200));
    assert_eq!(w.writable_primaries(ms(1200), "ag1"), vec!["SQL-B".to_string()]);
    // Whatever site A acknowledged during the split is lost.
    assert_eq!(
        w.lost_transactions(ms(1200), "ag1", "confdb"),
        Some(20 + in_flight as u64)
    );
}

#[test]
fn cluster_type_none_switches_by_demote_then_force() {
    let mut cfg = WorldConfig::two_sites();
    cfg.availability_groups[0].cluster_type = super::config::ClusterType::None;
    let mut w = World::new(cfg, jiff::civil::date(2026, 1, 1).at(0, 0, 0, 0)).unwrap();
    for srv in ["SQL-A", "SQL-B"] {
        w.set_availability_mode(ms(0), "SQL-A", "ag1", srv, AvailabilityMode::SynchronousCommit)
            .unwrap();
    }
    run_workload(&mut w, 0, 500);
    // NONE has no cluster manager: a secondary never shows RESOLVING.
    w.set_required_sync(ms(500), "SQL-A", "ag1", 1).unwrap();
    // Two is more than the one synchronous-commit secondary: 35248.
    assert_eq!(
        w.set_required_sync(ms(500), "SQL-A", "ag1", 2).unwrap_err().number,
        35248
    );
    // A planned FAILOVER is refused under NONE: only FORCE_FAILOVER_ALLOW_DATA_LOSS exists there.
    assert_eq!(w.failover(ms(500), "SQL-B", "ag1", false).unwrap_err().number, 47122);
    w.demote(ms(500), "SQL-A", "ag1").unwrap();
    assert_eq!(role(&mut w, 500, "SQL-B"), Some(Role::Secondary));
    assert!(w.writable_primaries(ms(500), "ag1").is_empty());
    // No primary: commits are refused, nothing is acknowledged.
    assert_eq!(w.commit(ms(510), "ag1", "confdb"), 0);
    w.failover(ms(600), "SQL-B", "ag1", true).unwrap();
    w.advance(ms(1200));
    assert_eq!(w.writable_primaries(ms(1200), "ag1"), vec!["SQL-B".to_string()]);
    assert_eq!(sync_state(&mut w, 1200, "SQL-A", "confdb"), "NOT SYNCHRONIZING");
    w.resume_database(ms(1200), "SQL-A", "confdb").unwrap();
    w.resume_database(ms(1200), "SQL-A", "logdb").unwrap();
    run_workload(&mut w, 1200, 1500);
    assert_eq!(sync_state(&mut w, 1500, "SQL-A", "confdb"), "SYNCHRONIZED");
    assert_eq!(w.lost_transactions(ms(1500), "ag1", "confdb"), Some(0));
}

#[test]
fn commands_run_only_where_sql_server_allows_them() {
    let mut w = world();
    let e = w
        .set_availability_mode(ms(0), "SQL-B", "ag1", "SQL-B", AvailabilityMode::SynchronousCommit)
        .unwrap_err();
    assert_eq!(e.number, 41140);
    let e = w
        .set_availability_mode(ms(0), "SQL-A", "ag1", "SQL-Z", AvailabilityMode::SynchronousCommit)
        .unwrap_err();
    assert_eq!(e.number, 15151);
    assert_eq!(w.failover(ms(0), "SQL-B", "nope", true).unwrap_err().number, 15151);
    // SET (ROLE = SECONDARY) is not an option of a WSFC group.
    assert_eq!(w.demote(ms(0), "SQL-A", "ag1").unwrap_err().number, 47115);
    // Automatic failover needs synchronous commit.
    assert_eq!(
        w.set_failover_mode(ms(0), "SQL-A", "ag1", "SQL-B", true)
            .unwrap_err()
            .number,
        35211
    );
    // Resume with no primary in sight is refused as SQL Server does.
    w.suspend_database(ms(0), "SQL-B", "confdb").unwrap();
    w.stop_instance(ms(10), "SQL-A").unwrap();
    assert_eq!(w.resume_database(ms(20), "SQL-B", "confdb").unwrap_err().number, 35250);
    // A secondary that lost its primary (and is suspended) cannot back up.
    assert_eq!(
        w.begin_backup(ms(30), "SQL-B", "confdb", "/b/c.bak", true, true)
            .unwrap_err()
            .number,
        3062
    );
    // A connected secondary backs up, copy-only only.
    let mut w = world();
    assert_eq!(
        w.begin_backup(ms(30), "SQL-B", "confdb", "/b/c.bak", false, true)
            .unwrap_err()
            .number,
        3059
    );
    let (rec, _) = w
        .begin_backup(ms(30), "SQL-B", "confdb", "/b/c.bak", true, true)
        .unwrap();
    assert!(rec.copy_only && rec.transactions >= 1);
    // Secondary databases are not open to sessions (no readable secondaries).
    assert_eq!(w.database_access("SQL-B", "confdb").unwrap_err().number, 976);
    assert!(w.database_access("SQL-A", "confdb").is_ok());
    assert_eq!(w.database_access("SQL-A", "nope").unwrap_err().number, 911);
}

#[test]
fn the_example_world_file_parses_and_matches_the_default() {
    let text = include_str!("../../../examples/sim-two-sites.yaml");
    let cfg = WorldConfig::from_yaml(text).expect("example parses");
    let default = WorldConfig::two_sites();
    assert_eq!(cfg.instances.len(), default.instances.len());
    assert_eq!(
        cfg.availability_groups[0].databases,
        default.availability_groups[0].databases
    );
    assert_eq!(cfg.latencies.failover, default.latencies.failover);
    assert_eq!(cfg.latencies.lease_timeout, default.latencies.lease_timeout);
    assert_eq!(cfg.wsfc, default.wsfc);
}

#[test]
fn incoherent_worlds_are_refused_with_a_reason() {
    let bad = "instances: [{name: A, site: s}]\navailabilityGroups: [{name: g, databases: [d], replicas: [{instance: B, availabilityMode: SYNCHRONOUS_COMMIT, primary: true}]}]";
    assert!(WorldConfig::from_yaml(bad).unwrap_err().contains("unknown instance"));
    let two_primaries = "instances: [{name: A, site: s}, {name: B, site: t}]\navailabilityGroups: [{name: g, databases: [d], replicas: [{instance: A, availabilityMode: SYNCHRONOUS_COMMIT, primary: true}, {instance: B, availabilityMode: SYNCHRONOUS_COMMIT, primary: true}]}]";
    assert!(
        WorldConfig::from_yaml(two_primaries)
            .unwrap_err()
            .contains("exactly one primary")
    );
    assert!(WorldConfig::from_yaml("instances: []\navailabilityGroups: []\nbogus: 1").is_err());
}

fn sync_world() -> World {
    let mut w = world();
    for srv in ["SQL-A", "SQL-B"] {
        w.set_availability_mode(ms(0), "SQL-A", "ag1", srv, AvailabilityMode::SynchronousCommit)
            .unwrap();
    }
    w
}

#[test]
fn every_split_brain_episode_is_recorded() {
    let mut w = world();
    w.partition(ms(100), "site-a", "site-b").unwrap();
    w.force_quorum(ms(100), "SQL-B").unwrap();
    w.failover(ms(100), "SQL-B", "ag1", true).unwrap();
    w.advance(ms(800));
    w.heal(ms(900));
    assert_eq!(w.writable_primaries(ms(900), "ag1"), vec!["SQL-B".to_string()]);
    w.partition(ms(1000), "site-a", "site-b").unwrap();
    // SQL-A is a secondary now (suspended); force it back on its own side (quorum first).
    w.force_quorum(ms(1000), "SQL-A").unwrap();
    w.failover(ms(1000), "SQL-A", "ag1", true).unwrap();
    w.advance(ms(2000));
    assert_eq!(w.writable_primaries(ms(2000), "ag1").len(), 2);
    assert_eq!(w.split_brain_moments().len(), 2);
}

#[test]
fn a_crashed_synchronous_primary_acknowledges_nothing_more_so_forcing_loses_nothing() {
    let mut w = sync_world();
    run_workload(&mut w, 0, 1000);
    assert_eq!(sync_state(&mut w, 1000, "SQL-B", "confdb"), "SYNCHRONIZED");
    w.stop_instance(ms(1000), "SQL-A").unwrap();
    w.failover(ms(1100), "SQL-B", "ag1", true).unwrap();
    w.advance(ms(2000));
    assert_eq!(w.writable_primaries(ms(2000), "ag1"), vec!["SQL-B".to_string()]);
    assert_eq!(w.lost_transactions(ms(2000), "ag1", "confdb"), Some(0));
    assert_eq!(w.lost_transactions(ms(2000), "ag1", "logdb"), Some(0));
}

#[test]
fn synchronized_means_every_acknowledged_commit_is_hardened_there() {
    let mut w = world();
    run_workload(&mut w, 0, 1000);
    for srv in ["SQL-A", "SQL-B"] {
        w.set_availability_mode(ms(1000), "SQL-A", "ag1", srv, AvailabilityMode::SynchronousCommit)
            .unwrap();
    }
    // Check at every step of the switch to synchronous commit.
    let mut t = 1000;
    while t < 1300 {
        run_workload(&mut w, t, t + 10);
        t += 10;
        if sync_state(&mut w, t, "SQL-B", "confdb") == "SYNCHRONIZED" {
            let acked: Vec<u64> = w.ags[0].databases[0].acked.iter().copied().collect();
            let have: std::collections::BTreeSet<u64> =
                w.ags[0].replicas[1].copies[0].log.iter().map(|l| l.txn).collect();
            assert!(
                acked.iter().all(|x| have.contains(x)),
                "at {t} ms SQL-B is SYNCHRONIZED but lacks acknowledged commits"
            );
        }
    }
    assert_eq!(sync_state(&mut w, t, "SQL-B", "confdb"), "SYNCHRONIZED");
    w.stop_instance(ms(t), "SQL-A").unwrap();
    w.failover(ms(t), "SQL-B", "ag1", true).unwrap();
    assert_eq!(w.lost_transactions(ms(t + 1000), "ag1", "confdb"), Some(0));
}

#[test]
fn a_secondary_the_primary_went_on_without_is_not_failover_ready() {
    let mut w = sync_world();
    run_workload(&mut w, 0, 500);
    w.partition(ms(500), "site-a", "site-b").unwrap();
    run_workload(&mut w, 500, 1500); // SQL-A keeps committing without SQL-B
    w.stop_instance(ms(1500), "SQL-A").unwrap();
    w.heal(ms(1500));
    // A planned failover would silently lose those commits: refused.
    assert_eq!(w.failover(ms(1600), "SQL-B", "ag1", false).unwrap_err().number, 41142);
}

#[test]
fn a_synchronized_secondary_that_lost_its_primary_can_take_a_planned_failover() {
    let mut w = sync_world();
    run_workload(&mut w, 0, 500);
    w.stop_instance(ms(500), "SQL-A").unwrap();
    assert_eq!(role(&mut w, 500, "SQL-B"), Some(Role::Resolving));
    w.failover(ms(600), "SQL-B", "ag1", false).unwrap();
    assert_eq!(w.writable_primaries(ms(1200), "ag1"), vec!["SQL-B".to_string()]);
    assert_eq!(w.lost_transactions(ms(1200), "ag1", "confdb"), Some(0));
}

#[test]
fn an_isolated_old_primary_keeps_taking_writes_while_the_other_side_fails_over() {
    let mut w = world();
    w.partition(ms(100), "site-a", "site-b").unwrap();
    // SQL-A keeps quorum (the witness sides with it); a person forces quorum on SQL-B's side.
    w.force_quorum(ms(100), "SQL-B").unwrap();
    w.failover(ms(100), "SQL-B", "ag1", true).unwrap();
    // During the role change SQL-A does not know: it is still primary.
    assert_eq!(role(&mut w, 300, "SQL-A"), Some(Role::Primary));
    assert_eq!(w.commit(ms(300), "ag1", "confdb"), 1);
    w.advance(ms(1000));
    assert_eq!(w.split_brain_moments().len(), 1);
}

#[test]
fn under_cluster_type_none_forcing_without_demoting_first_makes_two_primaries() {
    let mut cfg = WorldConfig::two_sites();
    cfg.availability_groups[0].cluster_type = super::config::ClusterType::None;
    let mut w = World::new(cfg, jiff::civil::date(2026, 1, 1).at(0, 0, 0, 0)).unwrap();
    run_workload(&mut w, 0, 300);
    // No cluster manager tells SQL-A to step down.
    w.failover(ms(300), "SQL-B", "ag1", true).unwrap();
    w.advance(ms(1000));
    assert_eq!(w.writable_primaries(ms(1000), "ag1").len(), 2);
    assert_eq!(w.split_brain_moments().len(), 1);
    assert_eq!(w.lost_transactions(ms(1000), "ag1", "confdb"), None);
}

#[test]
fn a_stalled_synchronous_partner_holds_commits_until_the_session_timeout() {
    let mut w = sync_world();
    run_workload(&mut w, 0, 500);
    w.set_replication_paused(ms(500), "SQL-B", true).unwrap();
    w.advance(ms(600));
    let before = w.acknowledged("ag1", "confdb");
    run_workload(&mut w, 500, 5000);
    assert_eq!(
        w.acknowledged("ag1", "confdb"),
        before,
        "commits wait for the synchronous partner"
    );
    assert_eq!(sync_state(&mut w, 5000, "SQL-B", "confdb"), "SYNCHRONIZED");
    run_workload(&mut w, 5000, 11000);
    // After SESSION_TIMEOUT (10 s) the partner is dropped and commits complete.
    assert!(w.acknowledged("ag1", "confdb") > before);
    assert_eq!(sync_state(&mut w, 11000, "SQL-B", "confdb"), "NOT SYNCHRONIZING");
}

#[test]
fn a_database_in_two_availability_groups_on_one_instance_is_refused() {
    let mut cfg = WorldConfig::two_sites();
    let mut second = cfg.availability_groups[0].clone();
    second.name = "ag2".into();
    second.databases = vec!["confdb".into()];
    cfg.availability_groups.push(second);
    assert!(cfg.validate().unwrap_err().contains("more than one availability group"));
    let mut cfg = WorldConfig::two_sites();
    cfg.availability_groups[0].databases.push("CONFDB".into());
    assert!(cfg.validate().unwrap_err().contains("listed twice"));
}
