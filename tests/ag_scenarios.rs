//! The AvailabilityGroup controller's real reconcile against the TDS simulator
//! over loopback, with the workload committing all along and the Kubernetes
//! side in memory. Data loss is the simulator's count, never assumed.

/// Only the simulator settings from `tests/common` (not the mocked API server and its tests).
mod common {
    pub mod rig;
}

use common::rig::{AgStart, ag_start, config, world};
use drover::api::availability_group::{
    AvailabilityGroup, AvailabilityGroupSpec, AvailabilityGroupStatus, BackupTarget, CONFIRM_ANNOTATION, ClusterType,
    ForcePolicy, ForcedFailoverPolicy, Phase, TransitionKind,
};
use drover::api::confirmation::DISCARD_ANNOTATION;
use drover::controller::ag::{Context, Requeue, reconcile};
use drover::controller::memory::MemoryPort;
use drover::sim::Sim;
use drover::sim::model::Role;
use drover::sim::model::config::WorldConfig;
use std::sync::Arc;
use std::time::Duration;

const DATABASES: [&str; 2] = ["confdb", "logdb"];

struct Rig {
    sim: Arc<Sim>,
    ctx: Context<MemoryPort>,
    ag: AvailabilityGroup,
    epoch: jiff::Timestamp,
    start: tokio::time::Instant,
}

impl Rig {
    async fn new(edit: impl FnOnce(&mut AvailabilityGroupSpec)) -> Self {
        Self::with_world(world(), edit).await
    }

    async fn with_world(cfg: WorldConfig, edit: impl FnOnce(&mut AvailabilityGroupSpec)) -> Self {
        let start = tokio::time::Instant::now();
        let AgStart {
            sim,
            mut ag,
            port,
            epoch,
        } = ag_start(cfg).await;
        edit(&mut ag.spec);
        Rig {
            sim,
            ctx: Context::new(port, config(Duration::from_millis(100))),
            ag,
            epoch,
            start,
        }
    }

    fn now(&self) -> jiff::Timestamp {
        self.epoch + jiff::SignedDuration::try_from(self.start.elapsed()).unwrap()
    }

    fn status(&self) -> AvailabilityGroupStatus {
        self.ctx.port.status(&self.ag).unwrap_or_default()
    }

    /// One reconcile, then the wait it asked for.
    async fn tick(&mut self) {
        self.ag.status = self.ctx.port.status(&self.ag);
        let wait = match reconcile(&self.ag, &self.ctx, self.now()).await {
            Ok(Requeue::After(d)) => d.min(Duration::from_secs(1)),
            Ok(Requeue::OnChange) | Err(_) => Duration::from_millis(200),
        };
        tokio::time::sleep(wait).await;
    }

    async fn run_until(&mut self, limit: Duration, what: &str, done: impl Fn(&Rig) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(self) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; status: {:#?}",
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

    fn flip(&mut self, site: &str) {
        self.ag.spec.primary_site = Some(site.into());
        self.ag.metadata.generation = Some(self.ag.metadata.generation.unwrap_or(0) + 1);
    }

    fn annotate(&mut self, token: &str) {
        self.ag
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(CONFIRM_ANNOTATION.into(), token.into());
    }

    /// A person's `kubectl annotate` of the discard confirmation (field manager `kubectl-annotate`).
    fn confirm_discard(&mut self, token: &str) {
        let now = self.now();
        drover::controller::confirmer::annotate(
            &mut self.ag.metadata,
            DISCARD_ANNOTATION,
            token,
            "kubectl-annotate",
            now,
        );
    }

    /// Site A lost: SQL-A stopped, primarySite set to site-b, the data-loss confirmation given,
    /// until the forced failover is recorded.
    async fn lose_site_a_and_confirm_the_failover(&mut self) {
        self.sim.stop_instance("SQL-A").await.expect("stop SQL-A");
        self.flip("site-b");
        self.run_until(Duration::from_secs(10), "a confirmation request", |r| {
            r.status().confirmation.is_some()
        })
        .await;
        let token = self.status().confirmation.expect("asked").token;
        self.annotate(&token);
        self.run_until(Duration::from_secs(20), "the forced failover to finish", |r| {
            r.status()
                .last_failover
                .is_some_and(|f| f.kind == TransitionKind::Failover)
        })
        .await;
    }

    fn role(&self, instance: &str) -> Option<Role> {
        self.sim.with_world(|w, now| {
            w.roles(now, "ag1")
                .into_iter()
                .find(|(n, _)| n == instance)
                .and_then(|(_, r)| r)
        })
    }

    /// Acknowledged transactions the current primary lacks, per database (the model's count).
    fn lost(&self) -> Vec<u64> {
        self.sim.with_world(|w, now| {
            DATABASES
                .iter()
                .map(|db| {
                    w.lost_transactions(now, "ag1", db)
                        .expect("exactly one writable primary")
                })
                .collect()
        })
    }

    fn statements(&self, instance: &str, kind: &str) -> u64 {
        self.sim.with_world(|w, _| w.statement_count(instance, kind))
    }

    fn events(&self, reason: &str) -> Vec<String> {
        self.ctx
            .port
            .snapshot()
            .events
            .into_iter()
            .filter(|(_, e)| e.reason == reason)
            .map(|(_, e)| e.note)
            .collect()
    }

    fn no_split_brain(&self) {
        let moments = self.sim.with_world(|w, _| w.split_brain_moments().to_vec());
        assert!(moments.is_empty(), "two writable primaries at {moments:?}");
    }

    fn condition(&self, type_: &str) -> (String, String) {
        let s = self.status();
        let c = s
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("no {type_} condition in {s:#?}"));
        (c.status.clone(), c.reason.clone())
    }

    fn steady_at(&self, site: &str) -> bool {
        let s = self.status();
        s.primary_site.as_deref() == Some(site) && s.phase == Some(Phase::Steady)
    }
}

#[tokio::test(start_paused = true)]
async fn switchover_there_and_back_loses_nothing() {
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    assert_eq!(rig.condition("Ready"), ("True".into(), "Steady".into()));
    // Steady state writes nothing: status changes only when the world does.
    let writes = rig.ctx.port.snapshot().status_writes;
    rig.run_for(Duration::from_secs(10)).await;
    assert_eq!(
        rig.ctx.port.snapshot().status_writes,
        writes,
        "status rewritten at steady state"
    );

    for (site, instance) in [("site-b", "SQL-B"), ("site-a", "SQL-A")] {
        rig.flip(site);
        rig.run_until(Duration::from_secs(30), &format!("steady at {site}"), |r| {
            r.steady_at(site)
        })
        .await;
        assert_eq!(rig.role(instance), Some(Role::Primary));
        assert_eq!(rig.lost(), vec![0, 0], "a planned switchover lost transactions");
        let s = rig.status();
        let last = s.last_failover.expect("the switchover is recorded");
        assert_eq!(last.kind, TransitionKind::Switchover);
        assert_eq!(last.data_loss.and_then(|l| l.seconds), Some(0));
        // Declared modes are back after the temporary synchronous commit.
        for r in &s.replicas {
            assert_eq!(r.availability_mode.as_deref(), Some("ASYNCHRONOUS_COMMIT"), "{r:?}");
        }
        assert!(s.transition.is_none());
    }
    rig.no_split_brain();
    let failovers = rig.events("PlannedFailover");
    assert_eq!(failovers.len(), 2, "{failovers:?}");
    assert!(failovers[0].contains("ALTER AVAILABILITY GROUP [ag1] FAILOVER;") && failovers[0].contains("SQL-B"));
    assert!(
        rig.events("SetAvailabilityMode")
            .iter()
            .any(|n| n.contains("SYNCHRONOUS_COMMIT"))
    );
    assert!(rig.events("ForcedFailover").is_empty());
}

#[tokio::test(start_paused = true)]
async fn site_a_lost_confirmed_forced_failover_measured_loss_and_failback() {
    let mut rig = Rig::new(|s| {
        s.backup_before_failback = Some(BackupTarget {
            directory: r"\\backup01\sql\ag1".into(),
        })
    })
    .await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.run_for(Duration::from_secs(2)).await;

    rig.sim.stop_instance("SQL-A").await.expect("stop SQL-A");
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(10), "a confirmation request", |r| {
        r.status().phase == Some(Phase::AwaitingConfirmation)
    })
    .await;
    let status = rig.status();
    let request = status.confirmation.clone().expect("a confirmation request");
    assert_eq!(request.target, "SQL-B");
    assert!(request.command.contains(&request.token));
    let estimate = status.estimate.expect("an estimate");
    assert!(
        estimate.primary_unreachable && estimate.unknown_since.is_some(),
        "{estimate:?}"
    );
    assert!(status.estimated_data_loss_seconds.is_some());
    assert_eq!(rig.condition("DataLossConfirmationRequired").0, "True");

    // A token that is not the current one is refused, and nothing is sent.
    let before = rig.statements("SQL-B", "alter_ag");
    rig.annotate("0123456789ab");
    rig.run_for(Duration::from_secs(2)).await;
    assert_eq!(
        rig.condition("DataLossConfirmationRequired"),
        ("True".into(), "ConfirmationStale".into())
    );
    assert_eq!(rig.statements("SQL-B", "alter_ag"), before);
    assert_ne!(rig.role("SQL-B"), Some(Role::Primary));
    assert!(!rig.events("ConfirmationStale").is_empty());

    rig.annotate(&request.token);
    rig.run_until(Duration::from_secs(20), "the forced failover to finish", |r| {
        r.status()
            .last_failover
            .is_some_and(|f| f.kind == TransitionKind::Failover)
    })
    .await;
    assert_eq!(rig.role("SQL-B"), Some(Role::Primary));
    let lost_at_failover = rig.lost();
    let forced = rig.events("ForcedFailover");
    assert_eq!(forced.len(), 1, "{forced:?}");
    assert!(forced[0].contains("FORCE_FAILOVER_ALLOW_DATA_LOSS") && forced[0].contains("SQL-B"));
    assert!(
        !forced[0].contains(rig.sim.login().1),
        "the password leaked into an Event"
    );

    // SQL-A returns: its divergent tail is measured before anything resumes it.
    rig.sim.start_instance("SQL-A").expect("start SQL-A");
    rig.run_until(Duration::from_secs(20), "the loss to be measured", |r| {
        r.status().last_failover.and_then(|f| f.data_loss).is_some()
    })
    .await;
    let loss = rig.status().last_failover.and_then(|f| f.data_loss).unwrap();
    for (d, db) in DATABASES.iter().enumerate() {
        let range = loss.databases.iter().find(|l| l.database == *db).expect("per database");
        let (from, to) = (
            range.from_lsn.parse::<u128>().unwrap(),
            range.to_lsn.parse::<u128>().unwrap(),
        );
        let in_range = rig
            .sim
            .with_world(|w, _| w.transactions_between("ag1", db, "SQL-A", from, to))
            .unwrap();
        assert_eq!(
            in_range as u64, lost_at_failover[d],
            "{db}: recorded range {from}..{to}"
        );
    }
    assert_eq!(rig.events("DataLossMeasured").len(), 1);
    // autoResume is off: SQL-A stays suspended and the group says so — without rewriting status.
    rig.run_for(Duration::from_secs(2)).await;
    assert_eq!(rig.status().phase, Some(Phase::Degraded));
    let writes = rig.ctx.port.snapshot().status_writes;
    rig.run_for(Duration::from_secs(10)).await;
    assert_eq!(
        rig.ctx.port.snapshot().status_writes,
        writes,
        "status rewritten while nothing changed"
    );
    assert_eq!(rig.statements("SQL-A", "alter_database"), 0);

    // Failback: backups on SQL-B; then resuming SQL-A would roll back its diverged tail, so the
    // failback waits for a person's consent, showing the range, and sends nothing to SQL-A.
    rig.flip("site-a");
    rig.run_until(Duration::from_secs(60), "the discard request", |r| {
        r.status().discard_confirmation.is_some()
    })
    .await;
    let status = rig.status();
    assert_eq!(status.phase, Some(Phase::AwaitingConfirmation));
    let request = status.discard_confirmation.clone().unwrap();
    assert_eq!(request.replica, "SQL-A");
    for range in &loss.databases {
        let shown = request
            .databases
            .iter()
            .find(|d| d.database == range.database)
            .expect("every diverged database is shown");
        assert_eq!(shown.from_lsn.as_deref(), Some(range.from_lsn.as_str()));
        assert_eq!(shown.to_lsn.as_deref(), Some(range.to_lsn.as_str()));
    }
    assert!(request.message.contains("3062"), "{}", request.message);
    let issued = request.issued.clone().expect("issued");
    assert_eq!(
        issued.expires_at.0.duration_since(issued.requested_at.0).as_secs(),
        15 * 60
    );
    assert_eq!(
        rig.condition("DataLossConfirmationRequired"),
        ("True".into(), "AwaitingDiscardConfirmation".into())
    );
    rig.run_for(Duration::from_secs(3)).await;
    assert_eq!(rig.statements("SQL-A", "alter_database"), 0, "resumed before consent");
    // A stale token is refused; still nothing sent to SQL-A.
    rig.confirm_discard("0123456789ab");
    rig.run_for(Duration::from_secs(3)).await;
    assert_eq!(rig.statements("SQL-A", "alter_database"), 0, "resumed on a stale token");
    assert!(!rig.events("ConfirmationRefused").is_empty());
    assert_eq!(
        rig.status().discard_confirmation.map(|d| d.token),
        Some(request.token.clone())
    );

    rig.confirm_discard(&request.token);
    rig.run_until(Duration::from_secs(60), "steady back at site-a", |r| {
        r.steady_at("site-a")
    })
    .await;
    // Who confirmed, from the annotation's managed fields; the data-loss annotation was set
    // without any (written straight into the object), so its writer is unknown.
    let accepted = rig.events("ConfirmationAccepted");
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    assert!(
        accepted[0].contains("forced failover to SQL-B") && accepted[0].ends_with("by unknown"),
        "{accepted:?}"
    );
    assert!(
        accepted[1].contains("discard of SQL-A")
            && accepted[1].contains(&request.token)
            && accepted[1].ends_with("by kubectl-annotate"),
        "{accepted:?}"
    );
    assert_eq!(rig.role("SQL-A"), Some(Role::Primary));
    let last = rig.status().last_failover.unwrap();
    assert_eq!(last.kind, TransitionKind::Failback);
    let backups = rig.sim.with_world(|w, _| w.backups().to_vec());
    assert_eq!(backups.len(), 2, "{backups:?}");
    assert!(
        backups
            .iter()
            .all(|b| b.instance == "SQL-B" && b.copy_only && b.checksum)
    );
    assert!(backups[0].path.starts_with(r"\\backup01\sql\ag1\"));
    assert_eq!(rig.lost(), lost_at_failover, "the failback lost more");
    rig.no_split_brain();
}

#[tokio::test(start_paused = true)]
async fn automatic_policy_waits_for_the_outage_bound() {
    let mut rig = Rig::new(|s| {
        s.forced_failover = ForcedFailoverPolicy {
            policy: ForcePolicy::Automatic,
            min_unreachable_seconds: Some(5),
            max_data_loss_seconds: Some(10),
        }
    })
    .await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.sim.stop_instance("SQL-A").await.expect("stop SQL-A");
    let lost_at = tokio::time::Instant::now();
    rig.flip("site-b");
    rig.run_for(Duration::from_secs(3)).await;
    assert_ne!(
        rig.role("SQL-B"),
        Some(Role::Primary),
        "forced before minUnreachableSeconds"
    );
    assert_eq!(rig.statements("SQL-B", "alter_ag"), 0);
    rig.run_until(Duration::from_secs(20), "the automatic failover", |r| {
        r.role("SQL-B") == Some(Role::Primary)
    })
    .await;
    assert!(lost_at.elapsed() >= Duration::from_secs(5));
    rig.no_split_brain();
}

#[tokio::test(start_paused = true)]
async fn automatic_policy_refuses_an_estimate_over_the_bound() {
    let mut rig = Rig::new(|s| {
        s.forced_failover = ForcedFailoverPolicy {
            policy: ForcePolicy::Automatic,
            min_unreachable_seconds: Some(1),
            max_data_loss_seconds: Some(2),
        }
    })
    .await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    // SQL-B falls about ten seconds behind while drover watches the primary.
    rig.sim.pause_replication("SQL-B", true).expect("pause");
    rig.run_for(Duration::from_secs(10)).await;
    rig.sim.stop_instance("SQL-A").await.expect("stop SQL-A");
    rig.flip("site-b");
    rig.run_for(Duration::from_secs(15)).await;
    assert_ne!(
        rig.role("SQL-B"),
        Some(Role::Primary),
        "forced beyond maxDataLossSeconds"
    );
    assert_eq!(rig.statements("SQL-B", "alter_ag"), 0);
    let status = rig.status();
    assert_eq!(status.phase, Some(Phase::Waiting), "{status:#?}");
    assert!(status.estimated_data_loss_seconds.unwrap() > 2, "{status:#?}");
    assert!(status.step.unwrap().contains("maxDataLossSeconds"));
}

#[tokio::test(start_paused = true)]
async fn cluster_type_none_switches_by_demote_and_force_without_loss() {
    let mut cfg = world();
    cfg.availability_groups[0].cluster_type = drover::sim::model::config::ClusterType::None;
    let mut rig = Rig::with_world(cfg, |s| s.cluster_type = ClusterType::None).await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(30), "steady at site-b", |r| r.steady_at("site-b"))
        .await;
    assert_eq!(rig.role("SQL-B"), Some(Role::Primary));
    assert_eq!(rig.lost(), vec![0, 0], "the NONE procedure lost transactions");
    // The procedure ran in order and nothing asked for a confirmation.
    assert_eq!(rig.events("DemoteToSecondary").len(), 1);
    assert_eq!(rig.events("ForcedFailover").len(), 1);
    assert!(rig.events("DataLossConfirmationRequired").is_empty());
    let reasons: Vec<String> = rig
        .ctx
        .port
        .snapshot()
        .events
        .into_iter()
        .map(|(_, e)| e.reason)
        // The simulator speaks TDS unencrypted: one warning per spec generation (start, flip).
        .filter(|r| r != "SetAvailabilityMode" && r != "InsecureTransport")
        .collect();
    assert_eq!(rig.events("InsecureTransport").len(), 2);
    assert_eq!(
        reasons,
        [
            "SetRequiredSynchronizedSecondaries",
            "DemoteToSecondary",
            "ForcedFailover",
            "SetRequiredSynchronizedSecondaries",
            "ResumeDataMovement",
            "ResumeDataMovement",
            "TransitionFinished"
        ]
    );
    let status = rig.status();
    assert!(status.databases.iter().all(|d| !d.suspended), "{status:#?}");
    rig.no_split_brain();
}

#[tokio::test(start_paused = true)]
async fn a_wrong_password_is_reported_and_nothing_is_sent() {
    let mut rig = Rig::new(|s| s.primary_site = Some("site-b".into())).await;
    rig.ctx.port.put_secret(
        "dr",
        "ag1-login",
        &[("username", "drover"), ("password", "not-the-password")],
    );
    rig.run_for(Duration::from_secs(5)).await;
    let status = rig.status();
    let (degraded, reason) = rig.condition("Degraded");
    assert_eq!(
        (degraded.as_str(), reason.as_str()),
        ("True", "ReplicaProblems"),
        "{status:#?}"
    );
    let message = &status
        .conditions
        .iter()
        .find(|c| c.type_ == "Degraded")
        .unwrap()
        .message;
    assert!(message.contains("SQL-A") && message.contains("SQL-B"), "{message}");
    assert!(status.replicas.iter().all(|r| !r.reachable && r.message.is_some()));
    assert!(status.primary_lost.is_none() && status.confirmation.is_none() && status.transition.is_none());
    assert_eq!(rig.events("ReplicaUnavailable").len(), 2);
    assert!(rig.events("PrimaryUnreachable").is_empty());
    let ddl: u64 = rig.sim.with_world(|w, _| {
        w.statement_counts()
            .iter()
            .filter(|((_, kind), _)| kind != "select" && kind != "set")
            .map(|(_, n)| n)
            .sum()
    });
    assert_eq!(ddl, 0, "statements other than SELECT were sent");
    assert_eq!(rig.role("SQL-A"), Some(Role::Primary));
}

/// Found by the chaos runner (seed 161 of `chaos_bench`): the Event of a forced failover refused
/// by the API server (429) lost the journal written after it, so the failover was never recorded
/// and its loss never measured. The journal is now written first.
#[tokio::test(start_paused = true)]
async fn a_forced_failover_is_recorded_even_when_its_event_is_refused() {
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.run_for(Duration::from_secs(2)).await;
    rig.sim.stop_instance("SQL-A").await.expect("stop SQL-A");
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(10), "a confirmation request", |r| {
        r.status().phase == Some(Phase::AwaitingConfirmation)
    })
    .await;
    let token = rig.status().confirmation.expect("asked").token;
    rig.annotate(&token);
    rig.ctx.port.fail_next(
        "publish",
        1_000,
        drover::controller::PortError::Api("429 Too Many Requests".into()),
    );
    rig.run_until(Duration::from_secs(10), "SQL-B primary", |r| {
        r.role("SQL-B") == Some(Role::Primary)
    })
    .await;
    rig.ctx
        .port
        .fail_next("publish", 0, drover::controller::PortError::Api(String::new()));
    rig.sim.start_instance("SQL-A").expect("start SQL-A");
    rig.run_until(
        Duration::from_secs(30),
        "the forced failover recorded with its loss",
        |r| {
            r.status()
                .last_failover
                .is_some_and(|l| l.kind == TransitionKind::Failover && l.data_loss.is_some())
        },
    )
    .await;
    rig.no_split_brain();
}

/// Found by the chaos runner (seed 206 of `chaos_bench`): the operator stopping right after
/// FORCE_FAILOVER_ALLOW_DATA_LOSS, before journalling that it ran, made the next process drop the
/// transition when it found the target primary, so the forced failover was never recorded nor its
/// loss measured. The journalled fork now tells it the statement ran.
#[tokio::test(start_paused = true)]
async fn a_forced_failover_is_recorded_when_the_operator_stopped_right_after_it() {
    use drover::controller::Port;
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.run_for(Duration::from_secs(2)).await;
    rig.sim.stop_instance("SQL-A").await.expect("stop SQL-A");
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(10), "a confirmation request", |r| {
        r.status().phase == Some(Phase::AwaitingConfirmation)
    })
    .await;
    let token = rig.status().confirmation.expect("asked").token;
    rig.annotate(&token);
    let sent = rig.statements("SQL-B", "alter_ag");
    rig.run_until(Duration::from_secs(10), "the FORCE sent", |r| {
        r.statements("SQL-B", "alter_ag") > sent
    })
    .await;
    // What a process that died between the statement and the status write leaves behind.
    let mut left = rig.status();
    let t = left.transition.as_mut().expect("a transition in flight");
    assert!(t.failover_issued && !t.fork.is_empty(), "{t:?}");
    t.failover_issued = false;
    // A fresh process (no memory of the primary last seen) over that status.
    rig.ctx = Context::new(MemoryPort::default(), config(Duration::from_millis(100)));
    rig.ctx.port.put_secret("dr", "ag1-login", &{
        let (user, password) = rig.sim.login();
        [("username", user), ("password", password)]
    });
    rig.ctx.port.patch_status(&rig.ag, &left).await.expect("written");
    rig.run_until(Duration::from_secs(10), "SQL-B primary", |r| {
        r.role("SQL-B") == Some(Role::Primary)
    })
    .await;
    rig.sim.start_instance("SQL-A").expect("start SQL-A");
    rig.run_until(
        Duration::from_secs(30),
        "the forced failover recorded with its loss",
        |r| {
            r.status()
                .last_failover
                .is_some_and(|l| l.kind == TransitionKind::Failover && l.data_loss.is_some())
        },
    )
    .await;
    rig.no_split_brain();
}

/// Invariant 9's other side: an old primary with nothing beyond the fork is resumed at failback
/// without asking anyone.
#[tokio::test(start_paused = true)]
async fn a_forced_failover_that_lost_nothing_fails_back_without_a_discard_confirmation() {
    let mut rig = Rig::new(|_| {}).await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    // No more commits: SQL-B catches up with everything SQL-A has.
    rig.sim.stop_workload();
    rig.run_for(Duration::from_secs(3)).await;
    rig.lose_site_a_and_confirm_the_failover().await;
    assert_eq!(rig.lost(), vec![0, 0]);
    rig.sim.start_instance("SQL-A").expect("start SQL-A");
    rig.run_until(Duration::from_secs(20), "the loss to be measured", |r| {
        r.status().last_failover.and_then(|f| f.data_loss).is_some()
    })
    .await;
    let loss = rig.status().last_failover.and_then(|f| f.data_loss).unwrap();
    assert!(loss.databases.iter().all(|d| d.from_lsn == d.to_lsn), "{loss:?}");
    rig.flip("site-a");
    rig.run_until(Duration::from_secs(60), "steady back at site-a", |r| {
        r.steady_at("site-a")
    })
    .await;
    assert!(rig.statements("SQL-A", "alter_database") > 0, "SQL-A was resumed");
    assert!(rig.events("ConfirmationRequested").is_empty());
    let accepted = rig.events("ConfirmationAccepted");
    assert!(accepted.iter().all(|e| !e.contains("discard")), "{accepted:?}");
    assert_eq!(rig.lost(), vec![0, 0]);
    rig.no_split_brain();
}

/// Tokens expire (here after 30 s of the paused clock): the unanswered discard request is replaced
/// by a new one, said so in an Event, and the expired token is refused — nothing is resumed on it.
#[tokio::test(start_paused = true)]
async fn an_expired_discard_token_is_refused_and_replaced() {
    let mut rig = Rig::new(|_| {}).await;
    rig.ctx.config.confirmation_ttl = Duration::from_secs(30);
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.run_for(Duration::from_secs(2)).await;
    rig.lose_site_a_and_confirm_the_failover().await;
    rig.sim.start_instance("SQL-A").expect("start SQL-A");
    rig.flip("site-a");
    rig.run_until(Duration::from_secs(60), "the discard request", |r| {
        r.status().discard_confirmation.is_some()
    })
    .await;
    let first = rig.status().discard_confirmation.unwrap();
    let issued = first.issued.clone().expect("issued");
    assert_eq!(issued.expires_at.0.duration_since(issued.requested_at.0).as_secs(), 30);
    rig.run_until(Duration::from_secs(40), "a renewed request", |r| {
        r.status().discard_confirmation.is_some_and(|d| d.token != first.token)
    })
    .await;
    let renewed = rig.status().discard_confirmation.unwrap();
    let expired = rig.events("ConfirmationExpired");
    assert!(
        expired
            .iter()
            .any(|e| e.contains(&first.token) && e.contains(&renewed.token)),
        "{expired:?}"
    );
    rig.confirm_discard(&first.token);
    rig.run_for(Duration::from_secs(3)).await;
    assert_eq!(
        rig.statements("SQL-A", "alter_database"),
        0,
        "resumed on an expired token"
    );
    let refused = rig.events("ConfirmationRefused");
    assert!(
        refused
            .iter()
            .any(|e| e.contains(&first.token) && e.contains("expired")),
        "{refused:?}"
    );
    assert_eq!(rig.status().phase, Some(Phase::AwaitingConfirmation));
    let current = rig.status().discard_confirmation.unwrap().token;
    rig.confirm_discard(&current);
    rig.run_until(Duration::from_secs(60), "steady back at site-a", |r| {
        r.steady_at("site-a")
    })
    .await;
    rig.no_split_brain();
}

/// The witness is at site-a, so losing site-a leaves SQL-B's node without quorum: drover never
/// forces it (SQL Server would refuse with 35220) and names the remediation. Once a person has
/// forced quorum on SQL-B's side and confirmed the loss, the forced failover runs, and the
/// failback after the forced quorum brings the group home without losing more.
#[tokio::test(start_paused = true)]
async fn without_quorum_the_target_waits_for_forced_quorum_and_the_failback_after_it_works() {
    use drover::sim::model::config::WitnessConfig;
    let mut cfg = world();
    cfg.wsfc.witness = Some(WitnessConfig::file_share("site-a"));
    let mut rig = Rig::with_world(cfg, |s| s.auto_resume = true).await;
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.run_for(Duration::from_secs(2)).await;
    // Site-a lost as a whole: SQL-A and the witness's file share with it.
    rig.sim.stop_instance("SQL-A").await.expect("stop SQL-A");
    rig.sim.partition("site-a", "site-b").expect("partition");
    rig.flip("site-b");
    rig.run_for(Duration::from_secs(10)).await;
    let status = rig.status();
    assert_eq!(status.phase, Some(Phase::Waiting), "{status:#?}");
    assert!(
        status.step.as_deref().is_some_and(|s| s.contains("-FixQuorum")),
        "{status:#?}"
    );
    assert!(
        status.confirmation.is_none(),
        "no token offered for what SQL Server would refuse"
    );
    assert_eq!(rig.statements("SQL-B", "alter_ag"), 0);

    // A person checks site-a is really down and forces quorum on SQL-B's side.
    rig.sim.force_quorum("SQL-B").expect("force quorum");
    rig.run_until(Duration::from_secs(10), "a confirmation request", |r| {
        r.status().confirmation.is_some()
    })
    .await;
    let token = rig.status().confirmation.expect("asked").token;
    rig.annotate(&token);
    rig.run_until(Duration::from_secs(20), "the forced failover", |r| {
        r.role("SQL-B") == Some(Role::Primary)
    })
    .await;
    let lost_at_failover = rig.lost();

    // Site-a returns into the forced cluster: SQL-A comes back SECONDARY, never PRIMARY.
    rig.sim.start_instance("SQL-A").expect("start SQL-A");
    rig.sim.heal();
    rig.run_for(Duration::from_secs(5)).await;
    assert_ne!(rig.role("SQL-A"), Some(Role::Primary));
    rig.flip("site-a");
    // SQL-A's tail beyond the fork is discarded only with a person's consent (invariant 9).
    rig.run_until(Duration::from_secs(30), "the discard request", |r| {
        r.status().discard_confirmation.is_some()
    })
    .await;
    let discard = rig.status().discard_confirmation.expect("asked").token;
    rig.confirm_discard(&discard);
    rig.run_until(Duration::from_secs(90), "steady back at site-a", |r| {
        r.steady_at("site-a")
    })
    .await;
    assert_eq!(rig.role("SQL-A"), Some(Role::Primary));
    assert_eq!(rig.lost(), lost_at_failover, "the failback lost more");
    rig.no_split_brain();
}

/// SQL-A keeps committing, cut off from drover and from SQL-B; the group declares SQL-A's
/// fenceHook and policy Automatic.
async fn isolated_with_a_fence_hook(runner: drover::controller::memory::JobRunner) -> Rig {
    let fence: k8s_openapi::api::batch::v1::JobTemplateSpec = serde_json::from_value(serde_json::json!({
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "fence", "image": "registry.example/fence:1"}]}}}
    }))
    .expect("a template");
    let mut rig = Rig::new(|s| {
        s.forced_failover = ForcedFailoverPolicy {
            policy: ForcePolicy::Automatic,
            min_unreachable_seconds: Some(1),
            max_data_loss_seconds: Some(600),
        };
        s.replicas[0].fence_hook = Some(fence);
    })
    .await;
    rig.ctx.port.set_job_runner(Duration::from_secs(1), runner);
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| {
        r.status().phase == Some(Phase::Steady)
    })
    .await;
    rig.sim.isolate_from_clients("SQL-A", true).expect("isolate");
    rig.sim.partition("site-a", "site-b").expect("partition");
    rig.flip("site-b");
    rig
}

/// The fence hook runs as a Job in the group's own namespace, owned by the group; its success is
/// the evidence, so Automatic forces without a token, and SQL-A (stopped by the fence) never
/// writes beside SQL-B.
#[tokio::test(start_paused = true)]
async fn a_fence_hook_that_succeeds_lets_automatic_fail_over_alone() {
    let mut rig = isolated_with_a_fence_hook(Arc::new(|_| Ok(()))).await;
    // The simulated fence: what the Job would do to the VM, done when it completes.
    let sim = rig.sim.clone();
    rig.ctx.port.set_job_runner(
        Duration::from_secs(1),
        Arc::new(move |job| drover::demo::world::run_ag_hook(&sim, job)),
    );
    rig.run_until(Duration::from_secs(60), "the forced failover", |r| {
        r.status()
            .last_failover
            .is_some_and(|f| f.kind == TransitionKind::Failover)
    })
    .await;
    assert_eq!(rig.role("SQL-B"), Some(Role::Primary));
    assert!(rig.status().confirmation.is_none(), "nobody was asked");
    let jobs = rig.ctx.port.all_jobs();
    assert_eq!(jobs.len(), 1, "one fence Job: {jobs:?}");
    let job = &jobs[0].job;
    assert_eq!(
        job.metadata.namespace.as_deref(),
        Some("dr"),
        "the group's own namespace"
    );
    let labels = job.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("drover.dev/action").map(String::as_str), Some("fence"));
    assert_eq!(labels.get("drover.dev/sqlag").map(String::as_str), Some("ag1"));
    let fenced = rig.events("FenceHookSucceeded");
    assert_eq!(fenced.len(), 1, "{fenced:?}");
    assert!(rig.events("HookJobCreated").len() == 1, "created once");
    rig.no_split_brain();
}

/// A fence Job that fails is reported (HookFailed condition, FenceHookFailed Event) and the
/// decision goes to a person: nothing is forced while SQL-A may still commit.
#[tokio::test(start_paused = true)]
async fn a_fence_hook_that_fails_is_reported_and_a_person_decides() {
    let mut rig = isolated_with_a_fence_hook(Arc::new(|_| Err("the hypervisor API refused".into()))).await;
    rig.run_until(Duration::from_secs(60), "the fence hook's failure", |r| {
        r.status()
            .conditions
            .iter()
            .any(|c| c.type_ == "HookFailed" && c.status == "True")
    })
    .await;
    rig.run_for(Duration::from_secs(5)).await;
    let status = rig.status();
    // In this world SQL-B's side also lacks WSFC quorum, so besides the token it waits for quorum
    // forced by a person (no forceQuorumHook declared): either way nothing moves by itself.
    assert!(
        matches!(status.phase, Some(Phase::AwaitingConfirmation | Phase::Waiting)),
        "{:#?}",
        status
    );
    let condition = status
        .conditions
        .iter()
        .find(|c| c.type_ == "HookFailed")
        .expect("HookFailed");
    assert!(
        condition.message.contains("SQL-A's fenceHook Job")
            && condition.message.contains("hook failed: the hypervisor API refused"),
        "{}",
        condition.message
    );
    let failed = rig.events("FenceHookFailed");
    assert_eq!(failed.len(), 1, "reported once: {failed:?}");
    assert!(failed[0].contains("needs a person's confirmation"), "{}", failed[0]);
    assert_eq!(rig.ctx.port.all_jobs().len(), 1, "not run again");
    assert_eq!(rig.statements("SQL-B", "alter_ag"), 0, "nothing forced");
    assert_eq!(rig.role("SQL-A"), Some(Role::Primary));
}

/// The witness at site-a and SQL-A isolated but alive: SQL-B's side has no quorum. With SQL-A's
/// fenceHook and SQL-B's forceQuorumHook declared, Automatic fences SQL-A, then (the fence being
/// the evidence, no token) forces quorum on SQL-B's side, and the next observation shows it: the
/// forced failover follows, never two writers, nobody asked.
#[tokio::test(start_paused = true)]
async fn the_fence_then_the_force_quorum_hook_let_automatic_fail_over_without_quorum() {
    use drover::sim::model::config::WitnessConfig;
    let template: k8s_openapi::api::batch::v1::JobTemplateSpec = serde_json::from_value(serde_json::json!({
        "spec": {"template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "hook", "image": "registry.example/ops:1"}]}}}
    }))
    .expect("a template");
    let mut cfg = world();
    cfg.wsfc.witness = Some(WitnessConfig::file_share("site-a"));
    let mut rig = Rig::with_world(cfg, |s| {
        s.forced_failover = ForcedFailoverPolicy {
            policy: ForcePolicy::Automatic,
            min_unreachable_seconds: Some(1),
            max_data_loss_seconds: Some(600),
        };
        s.replicas[0].fence_hook = Some(template.clone());
        s.replicas[1].force_quorum_hook = Some(template);
    })
    .await;
    let sim = rig.sim.clone();
    rig.ctx.port.set_job_runner(
        Duration::from_secs(1),
        Arc::new(move |job| drover::demo::world::run_ag_hook(&sim, job)),
    );
    rig.run_until(Duration::from_secs(10), "steady at site-a", |r| r.steady_at("site-a"))
        .await;
    rig.sim.isolate_from_clients("SQL-A", true).expect("isolate");
    rig.sim.partition("site-a", "site-b").expect("partition");
    rig.flip("site-b");
    rig.run_until(Duration::from_secs(90), "the forced failover", |r| {
        r.status()
            .last_failover
            .is_some_and(|f| f.kind == TransitionKind::Failover)
    })
    .await;
    assert_eq!(rig.role("SQL-B"), Some(Role::Primary));
    assert_eq!(rig.events("FenceHookSucceeded").len(), 1);
    assert_eq!(rig.events("ForceQuorumHookSucceeded").len(), 1);
    assert!(
        rig.events("DataLossConfirmationRequired").is_empty(),
        "nobody was asked"
    );
    let actions: Vec<String> = rig
        .ctx
        .port
        .all_jobs()
        .iter()
        .filter_map(|j| j.job.metadata.labels.as_ref()?.get("drover.dev/action").cloned())
        .collect();
    assert_eq!(actions, ["fence", "force-quorum"], "fenced first");
    rig.no_split_brain();
}
