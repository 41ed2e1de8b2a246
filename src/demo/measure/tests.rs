use super::*;
use crate::api::dr_site::StepState;
use crate::components::memory::Latencies as SiteLatencies;
use crate::demo::world::example;
use crate::sim::model::config::Latencies as SqlLatencies;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use std::time::Duration;

#[test]
fn percentiles_are_nearest_rank() {
    let v = [5.0, 1.0, 4.0, 2.0, 3.0];
    assert_eq!(percentile(&v, 50.0), Some(3.0));
    assert_eq!(percentile(&v, 95.0), Some(5.0));
    assert_eq!(percentile(&v, 0.0), Some(1.0));
    assert_eq!(percentile(&[7.0], 95.0), Some(7.0));
    assert_eq!(percentile(&[], 50.0), None);
}

fn run(label: &str, started: f64, done: f64, cost: f64, after: &[usize]) -> StepRun {
    StepRun {
        label: label.into(),
        started,
        done,
        cost,
        after: after.to_vec(),
    }
}

#[test]
fn slack_is_the_start_after_the_latest_prerequisite_and_overrun_the_rest() {
    let steps = [
        run("a", 0.1, 2.1, 2.0, &[]),
        run("b", 0.0, 1.0, 1.0, &[]),
        run("c", 2.4, 4.9, 2.0, &[0, 1]),
    ];
    let got = slack(&steps);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    assert!(close(got[0].slack, 0.1) && close(got[0].earliest, 0.0));
    assert!(close(got[2].earliest, 2.1), "{got:?}");
    assert!(close(got[2].slack, 0.3), "{got:?}");
    assert!(close(got[2].overrun, 0.5), "{got:?}");
}

fn step(action: StepAction, target: &str, site: &str, started: i64, finished: Option<i64>) -> PlanStep {
    let at = |ms: i64| Time(jiff::Timestamp::from_millisecond(ms).expect("a timestamp"));
    PlanStep {
        action,
        target: target.into(),
        site: site.into(),
        state: StepState::Done,
        started_at: Some(at(started)),
        finished_at: finished.map(at),
        message: None,
    }
}

#[test]
fn a_failback_waits_stops_in_reverse_then_the_move_then_starts_in_order() {
    let spec = example().expect("example").spec;
    let costs = Costs {
        sql: SqlLatencies {
            replication: Duration::from_millis(20),
            failover: Duration::from_millis(150),
            revert: Duration::from_millis(300),
            ..SqlLatencies::default()
        },
        sites: SiteLatencies {
            start: Duration::from_secs(2),
            stop: Duration::from_secs(1),
            ..SiteLatencies::default()
        },
        groups: 1,
        databases: 2,
        backup_before_failback: false,
    };
    let plan = [
        step(StepAction::Stop, "message-server", "site-b", 0, None),
        step(StepAction::Stop, "master-scs", "site-b", 1_100, None),
        step(
            StepAction::Move,
            "AvailabilityGroup/cc-ag",
            "site-a",
            2_200,
            Some(3_000),
        ),
        step(StepAction::Start, "master-confserv", "site-a", 3_100, None),
    ];
    let seconds = |t: &Option<Time>| t.as_ref().map(|t| t.0.as_millisecond() as f64 / 1000.0);
    let runs = step_runs(
        &spec,
        TransitionKind::Failback,
        &plan,
        |s| (seconds(&s.started_at), seconds(&s.finished_at)),
        &costs,
    );
    assert_eq!(
        runs.iter().map(|r| r.after.clone()).collect::<Vec<_>>(),
        [vec![], vec![0], vec![0, 1], vec![2]]
    );
    assert_eq!(runs[0].label, "stop message-server@site-b");
    let got = slack(&runs);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
    // master-scs waits for message-server's stop (1 s): 0.1 s late.
    assert!(close(got[1].slack, 0.1), "{got:?}");
    // The move's best is revert + sync + failover + sync = 0.49 s; it took 0.8 s.
    assert!(close(got[2].cost, 0.49) && close(got[2].overrun, 0.31), "{got:?}");
    // The start waits for the move's end as drover saw it.
    assert!(close(got[3].earliest, 3.0) && close(got[3].slack, 0.1), "{got:?}");
}
