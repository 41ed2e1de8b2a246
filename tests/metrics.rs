//! `/metrics`, `/healthz` and `/readyz` over a real socket while the
//! AvailabilityGroup controller runs a planned switchover on the TDS simulator
//! (paused time, Kubernetes in memory). The exposition is parsed as a scraper
//! would and checked against what the controller did and wrote to status.

/// Only the simulator settings from `tests/common`.
mod common {
    pub mod rig;
    pub mod scrape;
}

use common::rig::{AgStart, ag_start, config, world};
use common::scrape::{get, scrape};
use drover::api::availability_group::{AvailabilityGroup, AvailabilityGroupStatus, Phase};
use drover::controller::ag::{Context, Requeue, reconcile};
use drover::controller::memory::MemoryPort;
use drover::runtime::Shared;
use drover::runtime::http::{self, Health};
use drover::sim::Sim;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const AG: [(&str, &str); 1] = [("kind", "AvailabilityGroup")];
/// Every Event reason the controller gives a step it ran (see `action_reason`).
use drover::controller::ag::STEP_REASONS;

struct Rig {
    ctx: Context<MemoryPort>,
    ag: AvailabilityGroup,
    epoch: jiff::Timestamp,
    start: tokio::time::Instant,
    reconciles: u64,
    _sim: Arc<Sim>,
}

impl Rig {
    async fn new(shared: Shared) -> Self {
        let start = tokio::time::Instant::now();
        let AgStart { sim, ag, port, epoch } = ag_start(world()).await;
        Rig {
            ctx: Context::new(port, config(Duration::from_millis(100))).with_shared(shared),
            ag,
            epoch,
            start,
            reconciles: 0,
            _sim: sim,
        }
    }

    fn status(&self) -> AvailabilityGroupStatus {
        self.ctx.port.status(&self.ag).unwrap_or_default()
    }

    async fn run_until(&mut self, what: &str, done: impl Fn(&AvailabilityGroupStatus) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done(&self.status()) {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
            self.ag.status = self.ctx.port.status(&self.ag);
            let now = self.epoch + jiff::SignedDuration::try_from(self.start.elapsed()).expect("short");
            let wait = match reconcile(&self.ag, &self.ctx, now).await {
                Ok(Requeue::After(d)) => d.min(Duration::from_secs(1)),
                Ok(Requeue::OnChange) | Err(_) => Duration::from_millis(200),
            };
            self.reconciles += 1;
            tokio::time::sleep(wait).await;
        }
    }

    fn step_events(&self) -> usize {
        let events = self.ctx.port.snapshot().events;
        events
            .iter()
            .filter(|(_, e)| STEP_REASONS.contains(&e.reason.as_str()))
            .count()
    }
}

fn steady_at(site: &str) -> impl Fn(&AvailabilityGroupStatus) -> bool {
    move |s| s.primary_site.as_deref() == Some(site) && s.phase == Some(Phase::Steady)
}

#[tokio::test(start_paused = true)]
async fn a_planned_switchover_as_prometheus_scrapes_it() {
    let shared = Shared::default();
    let ready = Arc::new(AtomicBool::new(false));
    let health = Health::new(|| true, {
        let ready = ready.clone();
        move || ready.load(Ordering::SeqCst)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("bound");
    let stop = CancellationToken::new();
    let server = tokio::spawn(http::serve(
        listener,
        shared.metrics.clone(),
        health,
        stop.clone().cancelled_owned(),
    ));

    assert_eq!(get(addr, "/healthz").await.0, 200);
    let (code, _, why) = get(addr, "/readyz").await;
    assert_eq!((code, why.as_str()), (503, "not ready\n"));
    ready.store(true, Ordering::SeqCst);
    assert_eq!(
        get(addr, "/readyz").await,
        (200, "text/plain; charset=utf-8".into(), "ok\n".into())
    );

    let mut rig = Rig::new(shared).await;
    rig.run_until("steady at site-a", steady_at("site-a")).await;
    rig.ag.spec.primary_site = Some("site-b".into());
    rig.ag.metadata.generation = Some(2);
    rig.run_until("the switchover to start", |s| s.transition.is_some())
        .await;

    let started = rig.status().transition.expect("running").started_at.0.as_second() as f64;
    let object = [("kind", "AvailabilityGroup"), ("namespace", "dr"), ("name", "ag1")];
    let during = scrape(addr).await;
    assert_eq!(
        during.get("drover_transition_started_timestamp_seconds", &object),
        Some(started)
    );
    assert_eq!(
        during.get(
            "drover_transitions_total",
            &[("kind", "AvailabilityGroup"), ("type", "planned")]
        ),
        None
    );

    rig.run_until("steady at site-b", steady_at("site-b")).await;
    let status = rig.status();
    let after = scrape(addr).await;
    let planned = [("kind", "AvailabilityGroup"), ("type", "planned")];
    assert_eq!(after.get("drover_transitions_total", &planned), Some(1.0));
    assert_eq!(
        after.get("drover_transition_duration_seconds_count", &planned),
        Some(1.0)
    );
    let record = status.last_failover.as_ref().expect("recorded");
    let took = (record.finished_at.0.as_second() - record.started_at.0.as_second()) as f64;
    assert_eq!(
        after.get("drover_transition_duration_seconds_sum", &planned),
        Some(took)
    );
    assert_eq!(after.get("drover_transition_started_timestamp_seconds", &object), None);
    assert!(after.named("drover_transition_started_timestamp_seconds").is_empty());

    // Every reconcile passed the gate, so every one is counted, and timed.
    assert!(rig.reconciles > 0);
    assert_eq!(after.get("drover_reconciles_total", &AG), Some(rig.reconciles as f64));
    assert_eq!(
        after.get("drover_reconcile_duration_seconds_count", &AG),
        Some(rig.reconciles as f64)
    );
    assert_eq!(
        after.get(
            "drover_reconcile_duration_seconds_bucket",
            &[("kind", "AvailabilityGroup"), ("le", "+Inf")]
        ),
        Some(rig.reconciles as f64)
    );

    // Each step the controller announced as run is counted once, under its action kind.
    let step = |name: &str, outcome: &str| {
        after.get(
            "drover_steps_total",
            &[("kind", "AvailabilityGroup"), ("step", name), ("outcome", outcome)],
        )
    };
    assert_eq!(step("planned_failover", "ok"), Some(1.0));
    assert!(step("set_availability_mode", "ok").is_some_and(|n| n >= 2.0));
    let counted: f64 = after
        .samples
        .iter()
        .filter(|(n, l, _)| n == "drover_steps_total" && l["kind"] == "AvailabilityGroup")
        .map(|(_, _, v)| v)
        .sum();
    assert_eq!(counted, rig.step_events() as f64);
    assert!(after.named("drover_steps_total").iter().all(|l| l["outcome"] == "ok"));

    // One synchronizing gauge per database copy in status, a lag gauge for each copy with a lag.
    assert_eq!(status.databases.len(), 4, "two databases on two replicas");
    for db in &status.databases {
        let copy = [
            ("namespace", "dr"),
            ("name", "ag1"),
            ("replica", db.replica.as_str()),
            ("database", db.name.as_str()),
        ];
        let healthy = db.synchronization_state.as_deref() == Some("SYNCHRONIZING") && !db.suspended;
        let synchronizing = after.get("drover_ag_database_synchronizing", &copy);
        if db.replica == "SQL-A" {
            assert!(healthy, "the old primary's copy moves data again: {db:?}");
            assert_eq!(synchronizing, Some(1.0), "{db:?}");
        } else {
            assert!(synchronizing.is_some(), "{db:?}");
        }
        assert_eq!(
            after.get("drover_ag_synchronization_lag_seconds", &copy),
            db.lag_seconds.map(|l| l as f64),
            "{db:?}"
        );
    }
    assert_eq!(
        after.named("drover_ag_synchronization_lag_seconds").len(),
        2,
        "the secondary's copies"
    );
    assert_eq!(
        after.get(
            "drover_ag_estimated_data_loss_seconds",
            &[("namespace", "dr"), ("name", "ag1")]
        ),
        status.estimated_data_loss_seconds.map(|s| s as f64)
    );
    assert!(after.named("drover_confirmations_pending").is_empty());
    assert_eq!(after.families["drover_leader"], "gauge");

    stop.cancel();
    server.await.expect("the server task").expect("a clean shutdown");
}
