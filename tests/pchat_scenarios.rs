//! The PersistentChatPool controller for real: SQL on the TDS simulator over
//! loopback (log shipping, mirroring, RESTORE, sessions), the pool's hook Jobs
//! in memory run by a runner that does what the cmdlets would to the simulated
//! pool, time paused. After every reconcile the safety invariant is checked
//! against the simulator's truth.

/// The controllers' settings and the runbook-B world from `tests/common`.
mod common {
    pub mod pool;
    pub mod rig;
}

use common::pool::{runner, world};
use drover::api::availability_group::CONFIRM_ANNOTATION;
use drover::api::persistent_chat_pool::{PersistentChatPool, PersistentChatPoolStatus, PoolPhase, PoolState};
use drover::controller::memory::{MemoryPort, pool_event_key};
use drover::controller::{Config, pchat};
use drover::plan::drsite::ChildKind;
use drover::sim::Sim;
use drover::sim::hooks::HookFailures;
use drover::sim::model::StandaloneState;
use drover::sim::model::config::ChatPoolState;
use drover::sim::spec::persistent_chat_pool_spec;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NS: &str = "persistent-chat";
const POOL: &str = "pchat";
const SECRET: &str = "pchat-sql";

/// Transitions polled every 200 ms.
fn config() -> Config {
    common::rig::config(Duration::from_millis(200))
}

struct Rig {
    sim: Arc<Sim>,
    port: Arc<MemoryPort>,
    ctx: pchat::Context<Arc<MemoryPort>>,
    failures: HookFailures,
    epoch: jiff::Timestamp,
    start: tokio::time::Instant,
    restart_every_tick: bool,
    /// A person confirmed the data loss of a failover (split brain is then accepted).
    confirmed: bool,
}

impl Rig {
    async fn new() -> Self {
        let civil = jiff::civil::date(2026, 11, 22).at(3, 0, 0, 0);
        let start = tokio::time::Instant::now();
        let sim = Sim::start_at(world(), civil, IpAddr::V4(Ipv4Addr::LOCALHOST))
            .await
            .expect("simulator starts");
        let spec = persistent_chat_pool_spec(&sim, POOL, SECRET).expect("the simulator has the pool");
        let mut pool = PersistentChatPool::new(POOL, spec);
        pool.metadata.namespace = Some(NS.into());
        pool.metadata.generation = Some(1);
        let port = Arc::new(MemoryPort::default());
        let (user, password) = sim.login();
        port.put_secret(NS, SECRET, &[("username", user), ("password", password)]);
        port.put_pool(pool);
        let failures = Arc::new(Mutex::new(BTreeMap::new()));
        port.set_job_runner(Duration::from_secs(1), runner(sim.clone(), failures.clone()));
        Rig {
            ctx: pchat::Context::new(port.clone(), config()),
            sim,
            port,
            failures,
            epoch: civil.to_zoned(jiff::tz::TimeZone::UTC).expect("utc").timestamp(),
            start,
            restart_every_tick: false,
            confirmed: false,
        }
    }

    fn now(&self) -> jiff::Timestamp {
        self.epoch + jiff::SignedDuration::try_from(self.start.elapsed()).expect("fits")
    }

    fn pool(&self) -> PersistentChatPool {
        self.port.stored_pool(NS, POOL).expect("stored")
    }

    fn status(&self) -> PersistentChatPoolStatus {
        self.pool().status.unwrap_or_default()
    }

    fn chat_state(&self, instance: &str) -> Option<StandaloneState> {
        self.sim
            .with_world(|w, _| w.standalone_database(instance, "mgc").map(|d| d.state))
    }

    async fn tick(&mut self) {
        if self.restart_every_tick {
            self.ctx = pchat::Context::new(self.port.clone(), config());
        }
        let pool = self.pool();
        let _ = pchat::reconcile(&pool, &self.ctx, self.now()).await;
        self.invariant();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    /// No split brain: while the pool has active servers, only one chat database copy is ONLINE
    /// on an instance that is up — unless a person confirmed a failover's data loss.
    fn invariant(&self) {
        if self.confirmed {
            return;
        }
        let (online, servers) = self.sim.with_world(|w, _| {
            let up: Vec<String> = w.instances().into_iter().filter(|i| i.2).map(|i| i.0).collect();
            let online: Vec<String> = ["SQL-CHAT-A", "SQL-CHAT-B"]
                .into_iter()
                .filter(|i| {
                    up.iter().any(|u| u == i)
                        && w.standalone_database(i, "mgc")
                            .is_some_and(|d| d.state == StandaloneState::Online)
                })
                .map(String::from)
                .collect();
            (online, w.chat_pool(POOL).map(|p| p.active_servers).unwrap_or_default())
        });
        assert!(
            online.len() < 2 || servers.is_empty(),
            "two writable chat databases {online:?} while servers {servers:?} are active"
        );
    }

    async fn until(&mut self, what: &str, limit: u32, done: impl Fn(&Rig) -> bool) {
        for _ in 0..limit {
            if done(self) {
                return;
            }
            self.tick().await;
        }
        panic!("{what}: not reached; status: {:#?}", self.status());
    }

    /// Served from `site` with no transition in flight: Steady, or Degraded while an instance of
    /// the other data center is down.
    async fn steady_at(&mut self, site: &str) {
        let site = site.to_string();
        self.until(&format!("served from {site}"), 400, move |r| {
            let s = r.status();
            s.transition.is_none()
                && matches!(s.phase, Some(PoolPhase::Steady | PoolPhase::Degraded))
                && s.active_site.as_deref() == Some(site.as_str())
        })
        .await;
    }

    fn events(&self) -> Vec<drover::controller::Event> {
        self.port.events_of(&pool_event_key(&self.pool()))
    }

    /// Log backups restored on `instance`, in order.
    fn restored(&self, instance: &str) -> Vec<String> {
        self.sim.with_world(|w, _| {
            w.restore_history(instance)
                .into_iter()
                .filter(|r| r.restore_type == 'L' && r.destination_database_name.eq_ignore_ascii_case("mgc"))
                .filter_map(|r| r.file)
                .map(|f| drover::plan::pchat::files::file_name(&f).to_string())
                .collect()
        })
    }

    fn share_files(&self) -> Vec<String> {
        self.sim.with_world(|w, _| {
            let mut files: Vec<String> = w
                .files(r"\\fs-a\pchat-logship", "SQL-CHAT-B")
                .into_iter()
                .filter(|f| drover::plan::pchat::files::is_shipped_log(f, "mgc"))
                .collect();
            files.sort();
            files
        })
    }

    /// Flips the desired site, confirms the failover's data loss when asked.
    async fn flip_to(&mut self, site: &str, confirm: bool) {
        self.port
            .edit_desired_site(
                ChildKind::PersistentChatPool,
                NS,
                POOL,
                site,
                "kubectl-client-side-apply",
            )
            .expect("the pool takes the site");
        if confirm {
            self.until("a confirmation request", 100, |r| r.status().confirmation.is_some())
                .await;
            let token = self.status().confirmation.expect("requested").token;
            self.confirmed = true;
            assert!(self.port.annotate_pool(NS, POOL, CONFIRM_ANNOTATION, &token));
        }
    }
}

/// Shipped log backups in chain (name) order, each once; a tail-log backup only last.
fn sorted_unique(v: &[String]) -> bool {
    let shipped: Vec<&String> = v.iter().filter(|f| !f.ends_with("_tail.trn")).collect();
    let tails = v.len() - shipped.len();
    shipped.windows(2).all(|w| w[0].to_lowercase() < w[1].to_lowercase())
        && tails <= 1
        && (tails == 0 || v.last().is_some_and(|f| f.ends_with("_tail.trn")))
}

#[tokio::test(start_paused = true)]
async fn failover_with_the_primary_instance_lost_applies_every_backup_in_order_and_reports_the_loss() {
    let mut rig = Rig::new().await;
    rig.steady_at("site-a").await;
    // A backlog builds: backups every second, copies every 4 s, restores of backups 5 s old.
    tokio::time::sleep(Duration::from_secs(14)).await;
    let copied = rig.sim.with_world(|w, _| w.files(r"D:\pchat-logship", "SQL-CHAT-B"));
    let on_share = rig.share_files();
    assert!(
        on_share.len() > copied.len(),
        "uncopied backups on the share: {on_share:?} vs {copied:?}"
    );
    let restored = rig.restored("SQL-CHAT-B");
    assert!(
        restored.len() < copied.len(),
        "unapplied backups in the copy destination: restored {restored:?}, copied {copied:?}"
    );
    rig.sim.stop_instance("SQL-CHAT-A").await.expect("stop");
    rig.sim.stop_instance("SQL-CHAT-A-MIR").await.expect("stop");
    let acked_at_loss = rig.sim.with_world(|w, _| w.chat_pool(POOL).expect("pool").acked);
    rig.flip_to("site-b", true).await;
    rig.steady_at("site-b").await;

    let restored = rig.restored("SQL-CHAT-B");
    assert!(
        sorted_unique(&restored),
        "restored in chain order, each once: {restored:?}"
    );
    let share = rig.share_files();
    assert_eq!(
        restored.last(),
        share.last(),
        "every backup the share holds was applied, the newest last"
    );
    let s = rig.status();
    assert_eq!(s.pool_state, Some(PoolState::FailedOver));
    assert_eq!(rig.chat_state("SQL-CHAT-B"), Some(StandaloneState::Online));
    let record = s.last_transition.expect("recorded");
    assert!(!record.lossless);
    assert_eq!(record.last_applied_backup.as_deref(), share.last().map(String::as_str));
    assert_eq!(
        record.lost_after.map(|t| t.0),
        drover::plan::pchat::files::stamp_of(share.last().unwrap(), "mgc"),
        "the loss window starts at the end of the last applied backup"
    );
    assert!(
        record.unapplied_backups.is_empty(),
        "the share was readable: nothing left unapplied"
    );
    // The model's count: acknowledged commits the recovered database lacks, all after the last backup.
    let lost = rig.sim.with_world(|w, _| w.chat_lost(POOL)).expect("serving");
    let in_backups = rig
        .sim
        .with_world(|w, _| w.standalone_database("SQL-CHAT-B", "mgc").expect("exists").log_length);
    assert!(lost > 0, "the tail after the last log backup is lost");
    assert!(lost < acked_at_loss, "most commits survived");
    assert!(in_backups > 0);
    // The new primary is mirrored and served by site-b's servers.
    let view = rig
        .sim
        .with_world(|w, _| w.standalone_database("SQL-CHAT-B", "mgc"))
        .unwrap();
    assert_eq!(view.mirroring_principal, Some(true));
    let pool = rig.sim.with_world(|w, _| w.chat_pool(POOL)).unwrap();
    assert_eq!(pool.state, ChatPoolState::FailedOver);
    assert_eq!(pool.active_servers, rig.pool().spec.backup.active_servers);
    assert!(rig.events().iter().any(|e| e.reason == "RecoverDatabase"));

    // What Prometheus sees: one forced transition, each log restored one counted step.
    let metrics = rig.ctx.shared.metrics.encode();
    let value = |series: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse::<f64>().ok())
    };
    let restores = rig.events().iter().filter(|e| e.reason == "RestoreLog").count();
    assert!(restores > 0);
    assert_eq!(
        value(r#"drover_steps_total{kind="PersistentChatPool",step="restore_log",outcome="ok"}"#),
        Some(restores as f64)
    );
    assert!(value(r#"drover_steps_total{kind="PersistentChatPool",step="run_hook",outcome="ok"}"#).is_some());
    assert_eq!(
        value(r#"drover_transitions_total{kind="PersistentChatPool",type="forced"}"#),
        Some(1.0)
    );
    assert!(!metrics.contains("drover_confirmations_pending{"), "{metrics}");
    assert!(!metrics.contains("outcome=\"failed\""), "{metrics}");
}

#[tokio::test(start_paused = true)]
async fn with_the_whole_data_center_lost_the_backups_never_applied_are_reported_once_the_share_returns() {
    let mut rig = Rig::new().await;
    rig.steady_at("site-a").await;
    tokio::time::sleep(Duration::from_secs(14)).await;
    for i in ["SQL-CHAT-A", "SQL-CHAT-A-MIR", "FS-A"] {
        rig.sim.stop_instance(i).await.expect("stop");
    }
    rig.flip_to("site-b", true).await;
    rig.steady_at("site-b").await;
    let restored = rig.restored("SQL-CHAT-B");
    assert!(sorted_unique(&restored));
    let record = rig.status().last_transition.expect("recorded");
    assert!(!record.share_checked, "the share is still unreachable");
    // The file server comes back: drover reads the share and names what never made it.
    rig.sim.start_instance("FS-A").expect("start");
    rig.until("share checked", 100, |r| {
        r.status().last_transition.is_some_and(|t| t.share_checked)
    })
    .await;
    let record = rig.status().last_transition.expect("recorded");
    let started = record.started_at.0;
    let never_applied: Vec<String> = rig
        .share_files()
        .into_iter()
        .filter(|f| !restored.iter().any(|r| r.eq_ignore_ascii_case(f)))
        .filter(|f| drover::plan::pchat::files::stamp_of(f, "mgc").is_some_and(|at| at <= started))
        .collect();
    assert!(
        !never_applied.is_empty(),
        "the uncopied backups were lost with the share"
    );
    assert_eq!(
        record.unapplied_backups, never_applied,
        "the reported loss is the model's"
    );
}

#[tokio::test(start_paused = true)]
async fn failback_restores_normal_state_with_log_shipping_and_leaves_compliance_untouched() {
    let mut rig = Rig::new().await;
    rig.steady_at("site-a").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    rig.sim.stop_instance("SQL-CHAT-A").await.expect("stop");
    rig.sim.stop_instance("SQL-CHAT-A-MIR").await.expect("stop");
    rig.flip_to("site-b", true).await;
    rig.steady_at("site-b").await;
    let lost_in_failover = rig.sim.with_world(|w, _| w.chat_lost(POOL)).expect("serving");
    tokio::time::sleep(Duration::from_secs(5)).await;
    // The primary data center is rebuilt.
    rig.sim.start_instance("SQL-CHAT-A").expect("start");
    rig.sim.start_instance("SQL-CHAT-A-MIR").expect("start");
    let compliance_before = rig
        .sim
        .with_world(|w, _| w.standalone_database("SQL-CHAT-A", "mgccomp"))
        .expect("exists");
    // The returning old primary is ONLINE beside the new one: the split the confirmed failover
    // accepted, until the failback ends it (asserted below).
    rig.flip_to("site-a", false).await;
    rig.steady_at("site-a").await;

    let s = rig.status();
    assert_eq!(s.phase, Some(PoolPhase::Steady), "{:?}", s.step);
    assert_eq!(s.pool_state, Some(PoolState::Normal));
    let record = s.last_transition.clone().expect("recorded");
    assert!(record.lossless);
    // Invariant 9: what the failover left on SQL-CHAT-A was backed up to the share (journalled
    // with its path) before the restore over it; with that, nobody was asked.
    let kept = record
        .kept_backup
        .clone()
        .expect("the old primary's backup is journalled");
    assert!(kept.starts_with(r"\\fs-a\pchat-logship\mgc_"), "{kept}");
    let history: Vec<String> = rig
        .sim
        .with_world(|w, _| w.history().iter().map(|h| h.text.clone()).collect());
    let backed_up = history
        .iter()
        .position(|h| h == &format!("BACKUP DATABASE of mgc on SQL-CHAT-A written to {kept}"))
        .unwrap_or_else(|| panic!("no backup of the old primary in {history:#?}"));
    let restored = history
        .iter()
        .position(|h| h.starts_with("RESTORE DATABASE mgc on SQL-CHAT-A from"))
        .expect("restored over");
    assert!(backed_up < restored, "{history:#?}");
    assert!(s.discard_confirmation.is_none());
    let tokens: Vec<_> = rig
        .events()
        .into_iter()
        .filter(|e| e.reason.starts_with("Confirmation"))
        .collect();
    assert!(tokens.iter().all(|e| !e.note.contains("discard")), "{tokens:?}");
    // The failover's confirmation, and who gave it (the in-memory API records the writer).
    assert!(
        tokens
            .iter()
            .any(|e| e.reason == "ConfirmationAccepted" && e.note.ends_with("by kubectl-annotate")),
        "{tokens:?}"
    );
    assert_eq!(rig.chat_state("SQL-CHAT-A"), Some(StandaloneState::Online));
    assert_eq!(rig.chat_state("SQL-CHAT-B"), Some(StandaloneState::Restoring));
    let b = rig
        .sim
        .with_world(|w, _| w.standalone_database("SQL-CHAT-B", "mgc"))
        .unwrap();
    assert!(b.log_shipping_secondary, "log shipping re-established to the backup");
    let pool = rig.sim.with_world(|w, _| w.chat_pool(POOL)).unwrap();
    assert_eq!(pool.state, ChatPoolState::Normal);
    assert_eq!(pool.active_servers, rig.pool().spec.primary.active_servers);
    assert_eq!(
        rig.sim.with_world(|w, _| w.chat_lost(POOL)),
        Some(lost_in_failover),
        "failback loses nothing more"
    );
    let compliance_after = rig
        .sim
        .with_world(|w, _| w.standalone_database("SQL-CHAT-A", "mgccomp"))
        .expect("exists");
    assert_eq!(compliance_after.state, compliance_before.state);
    assert_eq!(compliance_after.log_length, compliance_before.log_length);
    assert!(
        rig.sim
            .with_world(|w, _| w.restore_history("SQL-CHAT-A"))
            .iter()
            .all(|r| !r.destination_database_name.eq_ignore_ascii_case("mgccomp")),
        "the compliance database is never restored"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_hook_stops_the_runbook_and_resumes_from_that_step_once_its_job_is_deleted() {
    let mut rig = Rig::new().await;
    rig.steady_at("site-a").await;
    rig.failures.lock().unwrap().insert("set-pool-state".into(), 1);
    rig.flip_to("site-b", false).await;
    rig.until("the hook failed", 200, |r| {
        r.status().transition.is_some_and(|t| {
            t.steps
                .iter()
                .any(|s| s.name == "set-pool-state" && s.state == drover::api::dr_site::StepState::Failed)
        })
    })
    .await;
    let failed = rig
        .events()
        .into_iter()
        .find(|e| e.reason == "StepFailed")
        .expect("an Event");
    assert!(
        failed.note.contains("Cannot connect to the pool"),
        "the Job's log is in the Event: {}",
        failed.note
    );
    // Nothing after the failed step ran.
    assert_eq!(
        rig.sim.with_world(|w, _| w.chat_pool(POOL)).unwrap().state,
        ChatPoolState::Normal
    );
    for _ in 0..10 {
        rig.tick().await;
    }
    assert_eq!(rig.status().phase, Some(PoolPhase::Waiting));
    let job = rig
        .port
        .all_jobs()
        .into_iter()
        .find(|j| j.outcome.as_ref().is_some_and(|o| o.is_err()))
        .expect("the failed Job");
    let name = job.job.metadata.name.clone().expect("named");
    assert!(rig.port.delete_job(NS, &name));
    rig.steady_at("site-b").await;
    let s = rig.status();
    assert_eq!(s.pool_state, Some(PoolState::FailedOver));
    let record = s.last_transition.expect("recorded");
    assert!(record.lossless, "a switchover with the primary reachable loses nothing");
    assert_eq!(rig.sim.with_world(|w, _| w.chat_lost(POOL)), Some(0));
}

#[tokio::test(start_paused = true)]
async fn a_switchover_and_failback_with_the_operator_restarted_every_pass_converge_without_repeating_steps() {
    let mut rig = Rig::new().await;
    rig.restart_every_tick = true;
    rig.steady_at("site-a").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    rig.flip_to("site-b", false).await;
    rig.steady_at("site-b").await;
    let restored = rig.restored("SQL-CHAT-B");
    assert!(
        sorted_unique(&restored),
        "each log backup restored once, in order: {restored:?}"
    );
    assert!(
        restored.last().is_some_and(|f| f.ends_with("_tail.trn")),
        "the tail-log backup last"
    );
    assert_eq!(
        rig.sim.with_world(|w, _| w.chat_lost(POOL)),
        Some(0),
        "a switchover loses nothing"
    );
    rig.flip_to("site-a", false).await;
    rig.steady_at("site-a").await;
    assert_eq!(rig.sim.with_world(|w, _| w.chat_lost(POOL)), Some(0));
    let full_backups = rig
        .sim
        .with_world(|w, _| w.restore_history("SQL-CHAT-A"))
        .into_iter()
        .filter(|r| r.restore_type == 'D' && r.file.is_some())
        .count();
    assert_eq!(full_backups, 1, "the failback's restore over the primary ran once");
}

/// A DrSite listing the pool: flipping the DrSite's active site moves the pool with it, through
/// the pool's own controller, and the DrSite settles once the pool is served from the new site.
#[tokio::test(start_paused = true)]
async fn the_pool_inside_a_drsite_moves_with_it() {
    use drover::api::dr_site::{ChildRef, DrPhase, DrSite, DrSiteSpec, SiteSpec};
    use drover::components::memory::MemorySites;
    use drover::controller::drsite;

    let mut rig = Rig::new().await;
    rig.steady_at("site-a").await;
    let mut drs = DrSite::new(
        "chat",
        DrSiteSpec {
            sites: ["site-a", "site-b"]
                .into_iter()
                .map(|s| SiteSpec {
                    name: s.into(),
                    namespace: format!("chat-{s}"),
                    kubeconfig: None,
                })
                .collect(),
            active_site: "site-a".into(),
            availability_groups: vec![],
            persistent_chat_pools: vec![ChildRef { name: POOL.into() }],
            components: vec![],
            suspend: false,
        },
    );
    drs.metadata.namespace = Some(NS.into());
    drs.metadata.generation = Some(1);
    let sites = Arc::new(MemorySites::new(Duration::from_secs(1)));
    sites.add_site("site-a", "chat-site-a");
    sites.add_site("site-b", "chat-site-b");
    let dr_ctx = drsite::Context::new(rig.port.clone(), sites, config());
    let port = rig.port.clone();
    let dr_tick = |drs: &mut DrSite| {
        drs.status = port.drsite_status(drs);
    };
    for _ in 0..5 {
        dr_tick(&mut drs);
        let _ = drsite::reconcile(&drs, &dr_ctx, rig.now()).await;
        rig.tick().await;
    }
    assert_eq!(
        rig.port.drsite_status(&drs).and_then(|s| s.phase),
        Some(DrPhase::Steady)
    );

    drs.spec.active_site = "site-b".into();
    drs.metadata.generation = Some(2);
    let mut settled = false;
    for _ in 0..400 {
        dr_tick(&mut drs);
        let _ = drsite::reconcile(&drs, &dr_ctx, rig.now()).await;
        rig.tick().await;
        let s = rig.port.drsite_status(&drs).unwrap_or_default();
        if s.phase == Some(DrPhase::Steady) && s.active_site.as_deref() == Some("site-b") {
            settled = true;
            break;
        }
    }
    assert!(
        settled,
        "the DrSite settles at site-b: {:#?}",
        rig.port.drsite_status(&drs)
    );
    let pool = rig.pool();
    assert_eq!(
        pool.spec.active_site.as_deref(),
        Some("site-b"),
        "the DrSite applied the pool's desired site"
    );
    let s = rig.status();
    assert_eq!(s.active_site.as_deref(), Some("site-b"));
    assert_eq!(s.pool_state, Some(PoolState::FailedOver));
    assert!(
        s.last_transition.is_some_and(|t| t.lossless),
        "a switchover: the primary was reachable"
    );
    assert_eq!(rig.sim.with_world(|w, _| w.chat_lost(POOL)), Some(0));
}

/// A spec drover cannot act on: an Invalid condition and one Event, and not a single statement
/// sent to any instance.
#[tokio::test(start_paused = true)]
async fn an_invalid_spec_is_reported_and_nothing_is_sent() {
    let rig = Rig::new().await;
    let mut pool = rig.pool();
    pool.spec.active_site = Some("nowhere".into());
    pool.spec.backup.active_servers = vec!["chat,b1.sim.local".into()];
    rig.port.put_pool(pool);
    let before = rig.sim.with_world(|w, _| w.statement_counts().clone());
    for _ in 0..3 {
        let pool = rig.pool();
        let _ = pchat::reconcile(&pool, &rig.ctx, rig.now()).await;
    }
    let s = rig.status();
    assert_eq!(s.phase, Some(PoolPhase::Invalid));
    let invalid = s
        .conditions
        .iter()
        .find(|c| c.type_ == "Invalid")
        .expect("an Invalid condition");
    assert_eq!(invalid.status, "True");
    assert!(invalid.message.contains("spec.activeSite"), "{}", invalid.message);
    assert!(
        invalid.message.contains("spec.backup.activeServers[0]"),
        "{}",
        invalid.message
    );
    let events: Vec<_> = rig.events().into_iter().filter(|e| e.reason == "InvalidSpec").collect();
    assert_eq!(events.len(), 1, "announced once: {events:?}");
    assert_eq!(
        rig.sim.with_world(|w, _| w.statement_counts().clone()),
        before,
        "no statement reached any instance"
    );
}

/// The statements that move a pool (restores, backups, KILL, SET PARTNER OFF) each instance
/// has received so far.
fn moving_statements(rig: &Rig) -> BTreeMap<(String, String), u64> {
    rig.sim.with_world(|w, _| {
        w.statement_counts()
            .iter()
            .filter(|((_, kind), _)| ["restore", "backup", "kill", "alter_database"].contains(&kind.as_str()))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    })
}

/// The pool's Conflict condition: (status, message).
fn pool_conflict(rig: &Rig) -> Option<(String, String)> {
    rig.status()
        .conditions
        .iter()
        .find(|c| c.type_ == "Conflict")
        .map(|c| (c.status.clone(), c.message.clone()))
}

/// One writer per desired site, for a pool: while a DrSite lists it, an activeSite that Argo CD
/// re-asserts moves nothing (no restore, no hook), and the pool reports a Conflict naming it; a
/// pool whose activeSite is left out stays where it is until the DrSite sets one.
#[tokio::test(start_paused = true)]
async fn a_pool_active_site_reasserted_by_another_field_manager_moves_nothing() {
    use drover::api::dr_site::{ChildRef, DrPhase, DrSite, DrSiteSpec, SiteSpec};
    use drover::components::memory::MemorySites;
    use drover::controller::drsite;
    use drover::controller::memory::Write;

    let mut rig = Rig::new().await;
    rig.steady_at("site-a").await;
    let mut drs = DrSite::new(
        "chat",
        DrSiteSpec {
            sites: ["site-a", "site-b"]
                .into_iter()
                .map(|s| SiteSpec {
                    name: s.into(),
                    namespace: format!("chat-{s}"),
                    kubeconfig: None,
                })
                .collect(),
            active_site: "site-a".into(),
            availability_groups: vec![],
            persistent_chat_pools: vec![ChildRef { name: POOL.into() }],
            components: vec![],
            suspend: false,
        },
    );
    drs.metadata.namespace = Some(NS.into());
    drs.metadata.generation = Some(1);
    rig.port.put_drsite(&drs);
    let sites = Arc::new(MemorySites::new(Duration::from_secs(1)));
    sites.add_site("site-a", "chat-site-a");
    sites.add_site("site-b", "chat-site-b");
    let dr_ctx = drsite::Context::new(rig.port.clone(), sites, config());
    let port = rig.port.clone();
    async fn both(
        rig: &mut Rig,
        drs: &mut DrSite,
        dr_ctx: &drsite::Context<Arc<MemoryPort>, Arc<MemorySites>>,
        port: &MemoryPort,
    ) {
        drs.status = port.drsite_status(drs);
        let _ = drsite::reconcile(drs, dr_ctx, rig.now()).await;
        rig.tick().await;
    }
    let argocd = |site: &str| {
        port.write_desired_site(
            ChildKind::PersistentChatPool,
            NS,
            POOL,
            site,
            "argocd-controller",
            Write::Apply,
        )
        .expect("the API server takes it");
    };
    for _ in 0..5 {
        both(&mut rig, &mut drs, &dr_ctx, &port).await;
    }
    assert_eq!(port.drsite_status(&drs).and_then(|s| s.phase), Some(DrPhase::Steady));
    assert_eq!(pool_conflict(&rig), None);

    // Steady state: Git says site-b.
    let before = moving_statements(&rig);
    argocd("site-b");
    for _ in 0..50 {
        both(&mut rig, &mut drs, &dr_ctx, &port).await;
    }
    assert_eq!(moving_statements(&rig), before, "no statement that moves the pool");
    assert!(rig.port.snapshot().jobs.is_empty(), "no hook Job");
    let s = rig.status();
    assert_eq!(
        (s.active_site.as_deref(), s.pool_state),
        (Some("site-a"), Some(PoolState::Normal))
    );
    assert!(s.transition.is_none(), "{:?}", s.transition);
    let (status, message) = pool_conflict(&rig).expect("a Conflict condition");
    assert_eq!(status, "True");
    for part in [
        "argocd-controller",
        "drover-drsite",
        "spec.activeSite \"site-b\"",
        "keeps the pool active at site-a",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    let warned: Vec<_> = rig.events().into_iter().filter(|e| e.reason == "Conflict").collect();
    assert_eq!(warned.len(), 1, "announced once: {warned:?}");

    // Argo CD stops carrying the field: it is gone, the pool stays where it is.
    assert!(
        port.release_desired_site(ChildKind::PersistentChatPool, NS, POOL, "argocd-controller")
            .expect("stored")
    );
    for _ in 0..10 {
        both(&mut rig, &mut drs, &dr_ctx, &port).await;
    }
    assert_eq!(rig.pool().spec.active_site, None);
    assert_eq!(rig.status().active_site.as_deref(), Some("site-a"));
    assert_eq!(pool_conflict(&rig).map(|c| c.0).as_deref(), Some("False"));
    assert_eq!(moving_statements(&rig), before);
    assert_eq!(port.drsite_status(&drs).and_then(|s| s.phase), Some(DrPhase::Steady));

    // The DrSite flips: it sets the field, and the pool follows.
    drs.spec.active_site = "site-b".into();
    drs.metadata.generation = Some(2);
    let mut settled = false;
    for _ in 0..400 {
        both(&mut rig, &mut drs, &dr_ctx, &port).await;
        let s = port.drsite_status(&drs).unwrap_or_default();
        if s.phase == Some(DrPhase::Steady) && s.active_site.as_deref() == Some("site-b") {
            settled = true;
            break;
        }
    }
    assert!(settled, "the DrSite settles at site-b: {:#?}", port.drsite_status(&drs));
    assert_eq!(rig.pool().spec.active_site.as_deref(), Some("site-b"));
    assert_eq!(
        port.desired_site_manager(ChildKind::PersistentChatPool, NS, POOL)
            .as_deref(),
        Some("drover-drsite")
    );

    // After it, Git's site-a once more: nothing moves back.
    let after = moving_statements(&rig);
    let jobs = rig.port.snapshot().jobs.len();
    argocd("site-a");
    for _ in 0..50 {
        both(&mut rig, &mut drs, &dr_ctx, &port).await;
    }
    assert_eq!(moving_statements(&rig), after, "no statement that moves the pool");
    assert_eq!(rig.port.snapshot().jobs.len(), jobs, "no hook Job");
    let s = rig.status();
    assert_eq!(
        (s.active_site.as_deref(), s.pool_state),
        (Some("site-b"), Some(PoolState::FailedOver))
    );
    assert_eq!(pool_conflict(&rig).map(|c| c.0).as_deref(), Some("True"));
    assert_eq!(rig.sim.with_world(|w, _| w.chat_lost(POOL)), Some(0));
}
