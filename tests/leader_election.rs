//! Leader election between operator instances sharing one (fake, stateful)
//! API server, on tokio's paused clock: one leader at a time, takeover after
//! the leader's lease runs out, a leader that cannot renew stops acting before
//! anyone else may start, and a released lease is taken at the next look.
//!
//! "Acting" is what the controllers ask before every reconcile and every
//! step: [`Gate::may_act`]. The tests sample it every 50 ms of virtual time.

mod common;

use common::fake_api::{FakeApi, Fault};
use drover::runtime::Gate;
use drover::runtime::lease::{self, LeaseConfig};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/drover-system/leases";
const TICK: Duration = Duration::from_millis(50);

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig::new("drover-system", "drover-leader", identity)
}

/// One operator process, as far as election goes.
struct Instance {
    name: &'static str,
    gate: Gate,
    release: CancellationToken,
    task: JoinHandle<()>,
}

fn start(api: &FakeApi, name: &'static str) -> Instance {
    let (elector, leadership) = lease::elector(api.client(name), config(name));
    let release = CancellationToken::new();
    let task = tokio::spawn(elector.run(release.clone().cancelled_owned()));
    Instance {
        name,
        gate: Gate::elected(leadership, CancellationToken::new()),
        release,
        task,
    }
}

/// Samples both instances every tick for `span`, failing if both may act at once; returns the
/// first instant at which `until` holds (or `None`).
async fn watch_pair(a: &Instance, b: &Instance, span: Duration, until: impl Fn(bool, bool) -> bool) -> Option<Instant> {
    let end = Instant::now() + span;
    while Instant::now() < end {
        let (la, lb) = (a.gate.may_act(), b.gate.may_act());
        assert!(
            !(la && lb),
            "{} and {} both act at {:?}",
            a.name,
            b.name,
            Instant::now()
        );
        if until(la, lb) {
            return Some(Instant::now());
        }
        tokio::time::sleep(TICK).await;
    }
    None
}

/// Starts two instances at the same instant; (leader, follower) once one leads.
async fn elected_pair(api: &FakeApi) -> (Instance, Instance) {
    let (a, b) = (start(api, "drover-a"), start(api, "drover-b"));
    watch_pair(&a, &b, Duration::from_secs(5), |la, lb| la || lb)
        .await
        .expect("one of two fresh instances leads within 5 s");
    if a.gate.may_act() { (a, b) } else { (b, a) }
}

fn holder(api: &FakeApi) -> Option<String> {
    api.get(LEASES, "drover-leader")?["spec"]["holderIdentity"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(start_paused = true)]
async fn one_leader_at_a_time_and_the_follower_takes_over_after_the_lease_expires() {
    let api = FakeApi::default();
    let (leader, follower) = elected_pair(&api).await;
    assert_eq!(holder(&api).as_deref(), Some(leader.name), "the Lease names the leader");

    // A minute of steady state: the leader keeps leading, the follower never acts.
    let changed = watch_pair(&leader, &follower, Duration::from_secs(60), |la, _| !la).await;
    assert_eq!(changed, None, "the leader kept its lease by renewing");

    // The leader's process dies without handing the lease back.
    leader.task.abort();
    let died = Instant::now();
    let took = watch_pair(&leader, &follower, Duration::from_secs(60), |_, lf| lf)
        .await
        .expect("the follower takes over");
    let waited = took - died;
    let c = config("x");
    assert!(
        waited <= c.lease_duration + c.retry_period * 2,
        "took over {waited:?} after the leader died: more than one lease duration and a look"
    );
    assert!(
        waited >= c.lease_duration - c.retry_period,
        "took over after {waited:?}: before the dead leader's lease could have expired"
    );
    assert_eq!(holder(&api).as_deref(), Some(follower.name));
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_stops_before_the_follower_starts() {
    for fault in [Fault::Hang, Fault::Refuse] {
        let api = FakeApi::default();
        let (leader, follower) = elected_pair(&api).await;
        watch_pair(&leader, &follower, Duration::from_secs(10), |_, _| false).await;

        // Cut the leader off from the API server; it is alive and would go on if it could.
        api.set_fault(leader.name, fault);
        let cut = Instant::now();
        let stopped = watch_pair(&leader, &follower, Duration::from_secs(30), |la, _| !la)
            .await
            .unwrap_or_else(|| panic!("{fault:?}: the leader never stopped acting"));
        let c = config("x");
        assert!(
            stopped - cut <= c.renew_deadline,
            "{fault:?}: the cut-off leader acted for {:?}, longer than its renew deadline",
            stopped - cut
        );
        let took = watch_pair(&leader, &follower, Duration::from_secs(60), |_, lf| lf)
            .await
            .unwrap_or_else(|| panic!("{fault:?}: the follower never took over"));
        assert!(
            took > stopped,
            "{fault:?}: the follower started before the leader stopped"
        );
        assert!(
            took - cut <= c.lease_duration + c.retry_period * 2,
            "{fault:?}: takeover {:?} after the cut",
            took - cut
        );

        // The partition heals: the old leader finds the new holder and stays a follower.
        api.set_fault(leader.name, Fault::None);
        let flipped = watch_pair(&leader, &follower, Duration::from_secs(60), |la, lf| la || !lf).await;
        assert_eq!(
            flipped, None,
            "{fault:?}: leadership must not flap back after the partition heals"
        );
        leader.task.abort();
        follower.task.abort();
    }
}

#[tokio::test(start_paused = true)]
async fn a_released_lease_is_taken_at_the_next_look() {
    let api = FakeApi::default();
    let (leader, follower) = elected_pair(&api).await;
    watch_pair(&leader, &follower, Duration::from_secs(5), |_, _| false).await;

    // Graceful shutdown: the leader stops acting at once, then hands the lease back.
    let asked = Instant::now();
    leader.release.cancel();
    tokio::task::yield_now().await;
    let took = watch_pair(&leader, &follower, Duration::from_secs(30), |_, lf| lf)
        .await
        .expect("the follower takes the released lease");
    let c = config("x");
    assert!(
        took - asked <= c.retry_period + TICK * 2,
        "a released lease is taken at the follower's next look, not after {:?}",
        took - asked
    );
    leader.task.await.expect("the elector ends after releasing");
    let lease = api.get(LEASES, "drover-leader").expect("the Lease exists");
    assert_eq!(lease["spec"]["holderIdentity"].as_str(), Some(follower.name));
    assert_eq!(
        lease["spec"]["leaseTransitions"].as_i64(),
        Some(1),
        "one change of holder: {lease}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopping_process_does_not_act_even_as_leader() {
    let api = FakeApi::default();
    let (elector, leadership) = lease::elector(api.client("solo"), config("solo"));
    let release = CancellationToken::new();
    let task = tokio::spawn(elector.run(release.clone().cancelled_owned()));
    let stop = CancellationToken::new();
    let gate = Gate::elected(leadership.clone(), stop.clone());
    let mut waiting = leadership.clone();
    tokio::time::timeout(Duration::from_secs(5), waiting.acquired())
        .await
        .expect("a lone candidate leads at once");
    assert!(gate.may_act());
    stop.cancel();
    assert!(
        leadership.is_leading(),
        "still holding the lease while reconciles in flight finish"
    );
    assert!(!gate.may_act(), "but no new step starts");
    release.cancel();
    task.await.expect("the elector ends");
    assert!(!leadership.is_leading());
    assert_eq!(holder(&api), None, "the lease was handed back");
}
