//! `drover demo` through the library, on tokio's paused clock: it finishes, and its summary's
//! figures are the simulator's and the memory port's own counts.

use drover::demo::world::{AG_STEP_REASONS, DRSITE_STEP_REASONS, GROUP, NAMESPACE, SIM_GROUP};
use drover::demo::{Demo, Error, Options, run};
use drover::plan::drsite::ChildKind;

#[tokio::test(start_paused = true)]
async fn drover_demo_finishes_and_its_summary_matches_the_simulators_counts() {
    let mut demo = Demo::start(&Options { speed: 4.0 }, Vec::new()).await.expect("starts");
    let report = demo.play().await.expect("the scenario plays through");
    let world = &demo.world;

    let kinds: Vec<(&str, Option<&str>, &str)> = report
        .transitions
        .iter()
        .map(|t| (t.kind.as_str(), t.from.as_deref(), t.to.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ColdStart", None, "site-a"),
            ("Failover", Some("site-a"), "site-b"),
            ("Failback", Some("site-b"), "site-a")
        ]
    );
    // Lost commits: the simulator's model, counted independently of the demo.
    let lost: u64 = world.sim.with_world(|w, now| {
        ["confdb", "logdb"]
            .iter()
            .map(|db| w.lost_transactions(now, SIM_GROUP, db).expect("one writable primary"))
            .sum()
    });
    assert_eq!(report.lost_transactions, lost);
    assert_eq!(
        report.transitions.iter().map(|t| t.lost_transactions).sum::<u64>(),
        lost
    );
    assert_eq!(report.transitions[0].lost_transactions, 0, "a cold start loses nothing");
    assert_eq!(
        report.transitions[2].lost_transactions, 0,
        "a planned failback loses nothing"
    );
    assert!(
        lost > 0,
        "the forced failover of a committing primary lost its unreplicated tail"
    );
    assert_eq!(report.transitions[1].lost_sites, ["site-a"]);

    // Steps run: the DrSite's step Events and the group's SQL step Events in the memory port…
    let events = world.port.snapshot().events;
    let drsite_events = events
        .iter()
        .filter(|(k, e)| k.starts_with("DrSite/") && DRSITE_STEP_REASONS.contains(&e.reason.as_str()))
        .count() as u32;
    let sql_events = events
        .iter()
        .filter(|(k, e)| *k == format!("{NAMESPACE}/{GROUP}") && AG_STEP_REASONS.contains(&e.reason.as_str()))
        .count() as u32;
    let per_transition: u32 = report.transitions.iter().map(|t| t.steps + t.sql_steps).sum();
    assert_eq!(report.steps, drsite_events + sql_events);
    assert_eq!(per_transition + report.steps_between, report.steps);
    // … and what the sites and the API objects saw done: every scale and hook Job, every move.
    let drsite_steps: u32 = report.transitions.iter().map(|t| t.steps).sum::<u32>() + report.steps_between;
    let done = world.sites.actions().len() as u64
        + world
            .port
            .desired_site_writes(ChildKind::AvailabilityGroup, NAMESPACE, GROUP);
    assert_eq!(u64::from(drsite_steps), done);
    // The runbook's shape: 13 starts cold; a move and 3 starts on failover; 3 stops, a move and
    // 3 starts on failback, whose group ran its SQL (a forced failover ran one statement).
    assert_eq!(
        report.transitions.iter().map(|t| t.steps).collect::<Vec<_>>(),
        [13, 4, 7]
    );
    assert_eq!(report.transitions[1].sql_steps, 1);
    assert!(report.transitions[2].sql_steps >= 3, "{:?}", report.transitions[2]);

    // The confirmations were given, with the commands a person would run.
    let given: Vec<&str> = report.confirmations.iter().map(|c| c.what.as_str()).collect();
    // Site-lost first: nothing moves away from a site that may still take writes until then;
    // then the failback's resume of site A's diverged copies: the discard of its tail, confirmed.
    assert_eq!(given, ["site-lost", "data-loss", "discard"]);
    assert!(
        report.confirmations[0]
            .command
            .contains("drover.dev/confirm-site-lost=")
    );
    assert!(
        report.confirmations[2]
            .command
            .contains(&format!("drover.dev/confirm-discard={}", report.confirmations[2].token)),
        "{:?}",
        report.confirmations[2]
    );
    // No invariant broke, and it ends where it began.
    world.invariants().expect("invariants hold");
    assert_eq!(world.primary_site().as_deref(), Some("site-a"));
    let row = &report.drsites[0];
    assert_eq!(
        (
            row.active.as_str(),
            row.desired.as_str(),
            row.phase.as_str(),
            row.ready.as_str()
        ),
        ("site-a", "site-a", "Steady", "13/13")
    );
    // Each transition took at least its critical-path ideal.
    for t in &report.transitions {
        assert!(t.seconds + 1e-6 >= t.ideal.seconds, "{t:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn the_live_view_shows_each_stage_step_and_confirmation() {
    let mut demo = Demo::start(&Options { speed: 8.0 }, Vec::new()).await.expect("starts");
    demo.play().await.expect("plays");
    let text = String::from_utf8(demo.view.into_inner()).expect("utf-8");
    for line in [
        "== cold start at site-a",
        "▶ start master-confserv@site-a",
        "✓ start master-confserv@site-a",
        "== site-a lost",
        "the demo confirms, as a person would with:",
        "kubectl annotate sqlag cc-ag drover.dev/confirm-data-loss=",
        "✓ sql ForcedFailover",
        "== site-a restored",
        "✓ stop master-confserv@site-b",
        "✓ sql PlannedFailover",
        "== Failback to site-a finished",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
}

#[tokio::test]
async fn a_speed_that_is_not_above_zero_is_bad_input() {
    for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = run(&Options { speed }, Vec::new()).await.expect_err("refused");
        assert!(matches!(err, Error::BadInput(_)), "{speed}: {err}");
        assert_eq!(err.exit_code(), 2);
    }
    assert_eq!(Error::Invariant("split brain".into()).exit_code(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_demo_world_reports_an_active_site_component_running_at_both_sites() {
    use drover::api::dr_site::WorkloadKind;
    use drover::components::Sites;
    use drover::controller::drsite::observe::access;
    let demo = Demo::start(&Options::default(), Vec::new()).await.expect("starts");
    let world = &demo.world;
    world.invariants().expect("nothing runs yet");
    for site in ["site-a", "site-b"] {
        let at = access(&world.drs, site).expect("a site of the example");
        world
            .sites
            .scale(&at, WorkloadKind::Deployment, "master-scs", 1)
            .await
            .expect("scaled");
    }
    let err = world.invariants().expect_err("master-scs at two sites");
    assert!(err.contains("master-scs runs at site-a and site-b"), "{err}");
}

/// The command itself, on the wall clock at speed 10: exit 0 and a JSON report whose figures add
/// up; bad input exits 2.
#[test]
fn the_drover_demo_command_prints_json_and_exits_by_the_rules() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_drover"))
            .arg("demo")
            .args(args)
            .output()
            .expect("drover runs")
    };
    let out = run(&["--speed", "10", "-o", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the JSON report");
    let transitions = report["transitions"].as_array().expect("transitions");
    let kinds: Vec<&str> = transitions.iter().filter_map(|t| t["kind"].as_str()).collect();
    assert_eq!(kinds, ["ColdStart", "Failover", "Failback"]);
    let sum = |field: &str| transitions.iter().filter_map(|t| t[field].as_u64()).sum::<u64>();
    assert_eq!(report["lostTransactions"].as_u64(), Some(sum("lostTransactions")));
    assert_eq!(
        report["steps"].as_u64(),
        Some(sum("steps") + sum("sqlSteps") + report["stepsBetween"].as_u64().expect("stepsBetween"))
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("== failback to site-a"),
        "the live view goes to standard error"
    );
    for bad in [["--speed", "0"], ["--speed", "fast"]] {
        assert_eq!(run(&bad).status.code(), Some(2), "{bad:?}");
    }
}

/// The invariant the demo and the drill check: under CLUSTER_TYPE NONE SQL Server brings a
/// forced-out old primary back PRIMARY by itself; that is tolerated only until drover's three
/// steady polls have passed. Any other second writer is a violation at once.
#[tokio::test(start_paused = true)]
async fn a_stale_none_primary_left_undemoted_breaks_the_invariant() {
    use drover::api::availability_group::ClusterType;
    use drover::demo::world::{
        DemoWorld, controller_config, example, example_declared_group, sim_config, site_latencies,
    };
    use drover::sim::model::config::ClusterType as SimCluster;
    use std::time::Duration;
    let mut cfg = sim_config();
    cfg.availability_groups[0].cluster_type = SimCluster::None;
    let mut declared = example_declared_group().expect("the example");
    declared.spec.cluster_type = ClusterType::None;
    let drs = example().expect("the example");
    let world = DemoWorld::start_with(
        cfg,
        &site_latencies(),
        drs,
        &declared,
        SIM_GROUP,
        controller_config(Duration::from_millis(200)),
    )
    .await
    .expect("starts");
    let sim = world.sim.clone();
    sim.stop_instance("SQL-A").await.expect("stop");
    sim.with_world(|w, now| w.failover(now, "SQL-B", SIM_GROUP, true))
        .expect("forced by hand");
    tokio::time::sleep(Duration::from_secs(2)).await;
    sim.start_instance("SQL-A").expect("start");
    let restart = sim.with_world(|w, _| w.config().latencies.restart);
    tokio::time::sleep(restart + Duration::from_millis(100)).await;
    let writers = sim.with_world(|w, now| w.writable_primaries(now, SIM_GROUP));
    assert_eq!(writers.len(), 2, "SQL Server's NONE behaviour: {writers:?}");
    world.one_writer().expect("within drover's bound");
    // Nobody demotes it: past three steady polls it is drover's failure.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let err = world.one_writer().expect_err("not demoted");
    assert!(err.contains("was not demoted within 3.0 s"), "{err}");
}
