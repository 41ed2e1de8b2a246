//! The bad-input matrix (invariant 6): malformed or hostile resources, each with the exact
//! condition and Event (operator rows) or exit code and message (CLI rows) it must produce, and
//! proof from the simulator and the in-memory cluster that nothing was sent but SELECTs and
//! nothing changed: no DDL on any replica, the primary where it was, no workload scaled, no
//! child's desired site written. Every row runs; the failures are listed together.

mod common {
    pub mod rig;
}

use common::rig::{AgStart, ag_start, config, world};
use drover::api::availability_group::{
    AvailabilityGroup, CONFIRM_ANNOTATION, ClusterType, ForcePolicy, Phase, TlsSpec,
};
use drover::api::dr_site::DrSite;
use drover::controller::ag;
use drover::controller::memory::MemoryPort;
use drover::demo::world::{DemoWorld, example, site_latencies};
use drover::plan::drsite::ChildKind;
use drover::sim::Sim;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// Statement kinds that only read (or set session options); anything else is DDL or a change.
const READ_ONLY: [&str; 3] = ["select", "set", "use"];

/// What a row must produce: a condition `(type, status, reason)`, a Warning Event `reason`, and
/// `says` in the condition's message or the Event's note.
struct Expect {
    condition: (&'static str, &'static str, &'static str),
    event: &'static str,
    says: &'static str,
}

const fn expect(
    condition: (&'static str, &'static str, &'static str),
    event: &'static str,
    says: &'static str,
) -> Expect {
    Expect { condition, event, says }
}

const INVALID: (&str, &str, &str) = ("Invalid", "True", "InvalidSpec");

/// The world an AvailabilityGroup row edits: the group `dr/ag1` over the simulator's `ag1`, its
/// login Secret in `port`.
struct AgFixture {
    sim: Arc<Sim>,
    ag: AvailabilityGroup,
    port: MemoryPort,
}

type AgEdit = fn(&mut AgFixture);

fn ag_rows() -> Vec<(&'static str, AgEdit, Expect)> {
    vec![
        (
            "group name with ] and a batch after it",
            |f| f.ag.spec.group_name = "ag1]; DROP DATABASE confdb; --".into(),
            expect(
                ("Ready", "False", "Waiting"),
                "ReplicaUnavailable",
                "ag1]; DROP DATABASE confdb; --",
            ),
        ),
        (
            "group name with '",
            |f| f.ag.spec.group_name = "ag1' OR '1'='1".into(),
            expect(("Ready", "False", "Waiting"), "ReplicaUnavailable", "ag1' OR '1'='1"),
        ),
        (
            "group name with a control character",
            |f| f.ag.spec.group_name = "ag\u{7}1".into(),
            expect(INVALID, "InvalidSpec", "spec.groupName"),
        ),
        (
            "group name of 129 characters",
            |f| f.ag.spec.group_name = "a".repeat(129),
            expect(INVALID, "InvalidSpec", "spec.groupName"),
        ),
        (
            "empty group name",
            |f| f.ag.spec.group_name = String::new(),
            expect(INVALID, "InvalidSpec", "spec.groupName"),
        ),
        (
            "database name with ] ; and --",
            |f| f.ag.spec.databases[0] = "confdb]; ALTER AVAILABILITY GROUP [ag1] FAILOVER; --".into(),
            expect(
                ("Ready", "False", "Degraded"),
                "Blocked",
                "is not in availability group",
            ),
        ),
        (
            "database listed twice (case-insensitively)",
            |f| f.ag.spec.databases = vec!["confdb".into(), "CONFDB".into()],
            expect(INVALID, "InvalidSpec", "listed twice"),
        ),
        (
            "no databases",
            |f| f.ag.spec.databases.clear(),
            expect(INVALID, "InvalidSpec", "spec.databases"),
        ),
        (
            "database name with a newline",
            |f| f.ag.spec.databases[1] = "logdb\nGO".into(),
            expect(INVALID, "InvalidSpec", "spec.databases[1]"),
        ),
        (
            "replica server name with a control character",
            |f| f.ag.spec.replicas[1].server_name = "SQL-B\u{0}".into(),
            expect(INVALID, "InvalidSpec", "control characters"),
        ),
        (
            "replica server name of 257 characters",
            |f| f.ag.spec.replicas[1].server_name = "S".repeat(257),
            expect(INVALID, "InvalidSpec", "1 to 256 characters"),
        ),
        (
            "duplicate replica names",
            |f| f.ag.spec.replicas[1].server_name = f.ag.spec.replicas[0].server_name.to_lowercase(),
            expect(INVALID, "InvalidSpec", "listed twice"),
        ),
        (
            "two replicas at one site",
            |f| f.ag.spec.replicas[1].site = "site-a".into(),
            expect(INVALID, "InvalidSpec", "one replica per site"),
        ),
        (
            "a replica in no site",
            |f| f.ag.spec.replicas[1].site = String::new(),
            expect(INVALID, "InvalidSpec", "a site name is required"),
        ),
        (
            "primary site unknown",
            |f| f.ag.spec.primary_site = Some("site-x".into()),
            expect(INVALID, "InvalidSpec", "\"site-x\" has no replica"),
        ),
        (
            "one replica",
            |f| {
                f.ag.spec.replicas.truncate(1);
            },
            expect(INVALID, "InvalidSpec", "2 to"),
        ),
        (
            "endpoint port 0",
            |f| f.ag.spec.replicas[1].endpoint.port = 0,
            expect(INVALID, "InvalidSpec", "port 0"),
        ),
        (
            "Automatic forced failover without bounds",
            |f| f.ag.spec.forced_failover.policy = ForcePolicy::Automatic,
            expect(INVALID, "InvalidSpec", "spec.forcedFailover"),
        ),
        (
            "EXTERNAL cluster with Automatic forced failover",
            |f| {
                f.ag.spec.cluster_type = ClusterType::External;
                f.ag.spec.forced_failover.policy = ForcePolicy::Automatic;
                f.ag.spec.forced_failover.min_unreachable_seconds = Some(30);
                f.ag.spec.forced_failover.max_data_loss_seconds = Some(5);
            },
            expect(INVALID, "InvalidSpec", "EXTERNAL"),
        ),
        (
            "missing Secret",
            |f| f.ag.spec.credentials.secret_name = "no-such-secret".into(),
            expect(
                ("Ready", "False", "CredentialsUnavailable"),
                "CredentialsUnavailable",
                "no-such-secret",
            ),
        ),
        (
            "Secret without the password key",
            |f| {
                let (user, _) = f.sim.login();
                f.port.put_secret("dr", "ag1-login", &[("username", user)]);
            },
            expect(
                ("Ready", "False", "CredentialsUnavailable"),
                "CredentialsUnavailable",
                "password",
            ),
        ),
        (
            "wrong password",
            |f| {
                let (user, _) = f.sim.login();
                f.port
                    .put_secret("dr", "ag1-login", &[("username", user), ("password", "wrong")]);
            },
            expect(("Ready", "False", "Waiting"), "ReplicaUnavailable", "Login failed"),
        ),
        (
            "unreachable endpoint",
            |f| {
                for r in &mut f.ag.spec.replicas {
                    r.endpoint.port = unused_port();
                }
            },
            expect(("Ready", "False", "Waiting"), "ReplicaUnavailable", "SQL-A"),
        ),
        (
            "TLS required, server without TLS",
            |f| f.ag.spec.tls = TlsSpec::default(),
            expect(("Ready", "False", "Waiting"), "ReplicaUnavailable", "SQL-A"),
        ),
        (
            "endpoints swapped (the wrong server behind a name)",
            |f| {
                let a = f.ag.spec.replicas[0].endpoint.clone();
                f.ag.spec.replicas[0].endpoint = f.ag.spec.replicas[1].endpoint.clone();
                f.ag.spec.replicas[1].endpoint = a;
            },
            expect(("Ready", "False", "Waiting"), "ReplicaUnavailable", "SQL-B"),
        ),
        (
            "backup directory with NUL",
            |f| {
                f.ag.spec.backup_before_failback = Some(drover::api::availability_group::BackupTarget {
                    directory: "\\\\backup\\x\0".into(),
                })
            },
            expect(INVALID, "InvalidSpec", "spec.backupBeforeFailback.directory"),
        ),
        (
            "a privileged fence hook with the host's / mounted (the takeover attempt)",
            |f| f.ag.spec.replicas[0].fence_hook = Some(hostile_template()),
            expect(
                INVALID,
                "InvalidSpec",
                "spec.replicas[0].fenceHook.spec.template.spec.volumes[0].hostPath: hostPath volumes are not allowed in a Job drover runs",
            ),
        ),
        (
            "a force-quorum hook as a ServiceAccount nobody allowed",
            |f| {
                let mut t = hostile_template();
                let pod = t.spec.as_mut().and_then(|s| s.template.spec.as_mut()).expect("pod");
                pod.host_pid = None;
                pod.volumes = None;
                pod.containers[0].security_context = None;
                f.ag.spec.replicas[1].force_quorum_hook = Some(t);
            },
            expect(
                INVALID,
                "InvalidSpec",
                "spec.replicas[1].forceQuorumHook.spec.template.spec.serviceAccountName: ServiceAccount \"kube-system-admin\" is not allowed",
            ),
        ),
    ]
}

/// The takeover attempt: a Job template that would run privileged, in the host's PID namespace,
/// with the node's `/` mounted, as a powerful ServiceAccount.
fn hostile_template() -> k8s_openapi::api::batch::v1::JobTemplateSpec {
    serde_json::from_value(serde_json::json!({"spec": {"template": {"spec": {
        "restartPolicy": "Never",
        "hostPID": true,
        "serviceAccountName": "kube-system-admin",
        "volumes": [{"name": "host", "hostPath": {"path": "/"}}],
        "containers": [{
            "name": "x", "image": "busybox",
            "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN"]}},
            "volumeMounts": [{"name": "host", "mountPath": "/host"}]
        }]
    }}}}))
    .expect("a Job template")
}

/// The first component with hooks in the example DrSite, its start template's pod.
fn first_hook_pod(d: &mut DrSite) -> &mut k8s_openapi::api::core::v1::PodSpec {
    d.spec
        .components
        .iter_mut()
        .flat_map(|c| c.sites.iter_mut())
        .find_map(|at| at.hooks.as_mut())
        .and_then(|h| h.start.spec.as_mut())
        .and_then(|s| s.template.spec.as_mut())
        .expect("the example has a component with hooks")
}

/// A loopback port nothing listens on.
fn unused_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Statement counts that are not reads, by (instance, kind).
fn ddl(sim: &Sim) -> BTreeMap<(String, String), u64> {
    sim.with_world(|w, _| {
        w.statement_counts()
            .iter()
            .filter(|((_, kind), _)| !READ_ONLY.contains(&kind.as_str()))
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    })
}

/// The ground truth that must not move: (writable primaries, split-brain moments, lost commits).
fn truth(sim: &Sim) -> (Vec<String>, usize, Option<u64>) {
    sim.with_world(|w, now| {
        let lost = ["confdb", "logdb"]
            .iter()
            .map(|db| w.lost_transactions(now, "ag1", db))
            .sum::<Option<u64>>();
        (w.writable_primaries(now, "ag1"), w.split_brain_moments().len(), lost)
    })
}

/// Checks `conditions` and `events` (reason, note) against `e`; the failure, if any.
fn judge(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
    events: &[(String, String, bool)],
    e: &Expect,
) -> Option<String> {
    let (t, s, r) = e.condition;
    let Some(c) = conditions.iter().find(|c| c.type_ == t) else {
        return Some(format!("no {t} condition in {conditions:?}"));
    };
    if c.status != s || c.reason != r {
        return Some(format!(
            "{t} is ({}, {}), expected ({s}, {r}): {}",
            c.status, c.reason, c.message
        ));
    }
    let Some((_, note, warning)) = events.iter().find(|(reason, _, _)| reason == e.event) else {
        return Some(format!("no {} Event in {events:?}", e.event));
    };
    if !warning {
        return Some(format!("the {} Event is not a Warning", e.event));
    }
    if !c.message.contains(e.says) && !note.contains(e.says) {
        return Some(format!(
            "neither the condition ({}) nor the Event ({note}) says {:?}",
            c.message, e.says
        ));
    }
    None
}

#[tokio::test(start_paused = true)]
async fn availability_group_bad_input_takes_no_action() {
    let mut failures = Vec::new();
    let rows = ag_rows();
    let total = rows.len();
    for (name, edit, e) in rows {
        let AgStart { sim, ag, port, epoch } = ag_start(world()).await;
        let mut f = AgFixture { sim, ag, port };
        edit(&mut f);
        let AgFixture { sim, mut ag, port } = f;
        let before = (ddl(&sim), truth(&sim));
        let ctx = ag::Context::new(port, config(Duration::from_millis(200)));
        let start = tokio::time::Instant::now();
        for _ in 0..15 {
            ag.status = ctx.port.status(&ag);
            let now = epoch + jiff::SignedDuration::try_from(start.elapsed()).expect("short");
            let _ = ag::reconcile(&ag, &ctx, now).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let status = ctx.port.status(&ag).unwrap_or_default();
        let events: Vec<(String, String, bool)> = ctx
            .port
            .snapshot()
            .events
            .into_iter()
            .map(|(_, ev)| (ev.reason, ev.note, ev.warning))
            .collect();
        let mut why = judge(&status.conditions, &events, &e);
        if !ctx.port.all_jobs().is_empty() {
            why.get_or_insert(format!("created a Job: {:?}", ctx.port.all_jobs()));
        }
        let after = (ddl(&sim), truth(&sim));
        if after != before {
            why.get_or_insert(format!("the world changed: {before:?} -> {after:?}"));
        }
        if status.phase == Some(Phase::Steady) {
            why.get_or_insert("reported Steady".into());
        }
        if let Some(why) = why {
            failures.push(format!("{name}: {why}"));
        }
        sim.shutdown();
    }
    eprintln!("AvailabilityGroup bad-input rows: {total}, failed {}", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A data-loss confirmation carrying a token for another target (or an old one) is refused:
/// `ConfirmationStale`, no forced failover.
#[tokio::test(start_paused = true)]
async fn a_confirmation_token_for_another_target_is_refused() {
    let AgStart {
        sim,
        mut ag,
        port,
        epoch,
    } = ag_start(world()).await;
    let ctx = ag::Context::new(port, config(Duration::from_millis(200)));
    let start = tokio::time::Instant::now();
    let now = |start: tokio::time::Instant| epoch + jiff::SignedDuration::try_from(start.elapsed()).expect("short");
    for _ in 0..10 {
        ag.status = ctx.port.status(&ag);
        let _ = ag::reconcile(&ag, &ctx, now(start)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sim.stop_instance("SQL-A").await.expect("stop");
    ag.spec.primary_site = Some("site-b".into());
    ag.metadata.generation = Some(2);
    let mut token = None;
    for _ in 0..30 {
        ag.status = ctx.port.status(&ag);
        token = ag
            .status
            .as_ref()
            .and_then(|s| s.confirmation.as_ref())
            .map(|c| c.token.clone());
        if token.is_some() {
            break;
        }
        let _ = ag::reconcile(&ag, &ctx, now(start)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token = token.expect("a confirmation was requested");
    // The token a request for another target would carry: same shape, different value.
    let other = format!("{:012x}", u64::from_str_radix(&token, 16).expect("hex") ^ 1);
    ag.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(CONFIRM_ANNOTATION.into(), other);
    let before = ddl(&sim);
    for _ in 0..15 {
        ag.status = ctx.port.status(&ag);
        let _ = ag::reconcile(&ag, &ctx, now(start)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = ctx.port.status(&ag).unwrap_or_default();
    let events: Vec<(String, String, bool)> = ctx
        .port
        .snapshot()
        .events
        .into_iter()
        .map(|(_, ev)| (ev.reason, ev.note, ev.warning))
        .collect();
    let why = judge(
        &status.conditions,
        &events,
        &expect(
            ("DataLossConfirmationRequired", "True", "ConfirmationStale"),
            "ConfirmationStale",
            "token",
        ),
    );
    assert_eq!(why, None);
    assert_eq!(ddl(&sim), before, "a stale token sent DDL");
    assert!(
        sim.with_world(|w, now| w.writable_primaries(now, "ag1")).is_empty(),
        "nothing was forced"
    );
}

type DrEdit = fn(&mut DrSite);

fn drsite_rows() -> Vec<(&'static str, DrEdit, Expect)> {
    vec![
        (
            "active site unknown",
            |d| d.spec.active_site = "site-x".into(),
            expect(INVALID, "InvalidSpec", "spec.activeSite"),
        ),
        (
            "dependency cycle",
            |d| {
                let c = d
                    .spec
                    .components
                    .iter_mut()
                    .find(|c| c.name == "master-confserv")
                    .expect("in example");
                c.depends_on = vec!["message-server".into()];
            },
            expect(INVALID, "InvalidSpec", "dependency cycle"),
        ),
        (
            "a component that depends on itself",
            |d| d.spec.components[0].depends_on = vec![d.spec.components[0].name.clone()],
            expect(INVALID, "InvalidSpec", "itself"),
        ),
        (
            "duplicate component names",
            |d| d.spec.components[1].name = d.spec.components[0].name.clone(),
            expect(INVALID, "InvalidSpec", "listed twice"),
        ),
        (
            "dependency on an unknown component",
            |d| d.spec.components[1].depends_on = vec!["no-such".into()],
            expect(INVALID, "InvalidSpec", "unknown component"),
        ),
        (
            "a component at an unknown site",
            |d| d.spec.components[0].sites[1].site = "site-x".into(),
            expect(INVALID, "InvalidSpec", "unknown site"),
        ),
        (
            "duplicate site names",
            |d| d.spec.sites[1].name = d.spec.sites[0].name.clone(),
            expect(INVALID, "InvalidSpec", "listed twice"),
        ),
        (
            "requiresWritable names no child",
            |d| d.spec.components[0].requires_writable = vec!["other-ag".into()],
            expect(INVALID, "InvalidSpec", "other-ag"),
        ),
        (
            "a child group name with ' and ]",
            |d| d.spec.availability_groups[0].name = "cc-ag']".into(),
            expect(INVALID, "InvalidSpec", "not a resource name"),
        ),
        (
            "a component name with ; and a space",
            |d| d.spec.components[2].name = "message; server".into(),
            expect(INVALID, "InvalidSpec", "message; server"),
        ),
        (
            "an over-long site namespace",
            |d| d.spec.sites[0].namespace = "n".repeat(64),
            expect(INVALID, "InvalidSpec", "namespace"),
        ),
        (
            "a site namespace with a control character",
            |d| d.spec.sites[1].namespace = "cc-site-b\u{1b}[2J".into(),
            expect(INVALID, "InvalidSpec", "namespace"),
        ),
        (
            "one site",
            |d| {
                d.spec.sites.truncate(1);
            },
            expect(INVALID, "InvalidSpec", "2 to 8 sites"),
        ),
        (
            "timeout of 0 seconds",
            |d| d.spec.components[0].timeout_seconds = 0,
            expect(INVALID, "InvalidSpec", "timeoutSeconds"),
        ),
        (
            "a privileged hook template with the host's / mounted (the takeover attempt)",
            |d| {
                let hostile = hostile_template().spec.and_then(|s| s.template.spec).expect("pod");
                *first_hook_pod(d) = hostile;
            },
            expect(
                INVALID,
                "InvalidSpec",
                ".hooks.start.spec.template.spec.containers[0].securityContext.privileged: privileged containers are not allowed in a Job drover runs",
            ),
        ),
        (
            "a hook template in the host's network namespace",
            |d| first_hook_pod(d).host_network = Some(true),
            expect(
                INVALID,
                "InvalidSpec",
                ".hooks.start.spec.template.spec.hostNetwork: host namespaces are not allowed in a Job drover runs",
            ),
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn drsite_bad_input_takes_no_action() {
    let mut failures = Vec::new();
    let rows = drsite_rows();
    let total = rows.len();
    for (name, edit, e) in rows {
        let mut drs = example().expect("the example parses");
        edit(&mut drs);
        let mut w = DemoWorld::start(world(), &site_latencies(), drs, config(Duration::from_millis(200)))
            .await
            .expect("simulator starts");
        let before = (ddl(&w.sim), truth(&w.sim));
        let mut why = None;
        for _ in 0..15 {
            if let Err(v) = w.reconcile().await {
                why = Some(format!("invariant: {v}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let status = w.status();
        let events: Vec<(String, String, bool)> = w
            .drsite_events()
            .into_iter()
            .map(|ev| (ev.reason, ev.note, ev.warning))
            .collect();
        if let Some(j) = judge(&status.conditions, &events, &e) {
            why.get_or_insert(j);
        }
        if !w.sites.actions().is_empty() {
            why.get_or_insert(format!("acted on a site: {:?}", w.sites.actions()));
        }
        if w.port
            .desired_site_writes(ChildKind::AvailabilityGroup, "contact-center", "cc-ag")
            != 0
        {
            why.get_or_insert("wrote the group's primarySite".into());
        }
        let after = (ddl(&w.sim), truth(&w.sim));
        if after != before {
            why.get_or_insert(format!("the world changed: {before:?} -> {after:?}"));
        }
        if let Some(why) = why {
            failures.push(format!("{name}: {why}"));
        }
        w.sim.shutdown();
    }
    eprintln!("DrSite bad-input rows: {total}, failed {}", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// CLI rows: file text, the message `drover plan` must print; exit 2, nothing contacted.
fn cli_rows(ag: &str) -> Vec<(&'static str, String, &'static str)> {
    vec![
        ("YAML that does not parse", "spec: [unclosed\n".into(), "not valid YAML"),
        (
            "a tab-indented document",
            "apiVersion: drover.dev/v1alpha1\nkind: AvailabilityGroup\n\tmetadata: {}\n".into(),
            "not valid YAML",
        ),
        (
            "an unknown kind",
            "apiVersion: drover.dev/v1alpha1\nkind: Gizmo\nmetadata: {name: x}\n".into(),
            "Gizmo",
        ),
        (
            "a misspelt field",
            ag.replace("autoResume:", "autoResme:"),
            "unknown field",
        ),
        (
            "a port that is not a number",
            ag.replacen("port:", "port: fourteen #", 1),
            "port",
        ),
        (
            "an unknown primary site",
            ag.replace("primarySite: site-a", "primarySite: site-x"),
            "spec.primarySite",
        ),
        (
            "a group name with a control character",
            ag.replace("groupName: ag1", "groupName: \"ag\\u0007\""),
            "spec.groupName",
        ),
        (
            "an over-long group name",
            ag.replace("groupName: ag1", &format!("groupName: {}", "g".repeat(129))),
            "spec.groupName",
        ),
        ("an empty file", String::new(), "nothing to plan"),
        (
            "only a Secret",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n".into(),
            "nothing to plan",
        ),
        ("a document that is a list", "- a\n- b\n".into(), "not a mapping"),
        (
            "an old apiVersion",
            ag.replace("drover.dev/v1alpha1", "drover.dev/v1alpha0"),
            "is not served",
        ),
        (
            "a document without a name",
            "apiVersion: drover.dev/v1alpha1\nkind: DrSite\nmetadata: {}\nspec: {}\n".into(),
            "metadata.name",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_bad_files_exit_2_and_contact_nothing() {
    let AgStart { sim, ag, .. } = ag_start(world()).await;
    let yaml = serde_saphyr::to_string(&ag).expect("renders");
    assert!(
        yaml.contains("primarySite: site-a") && yaml.contains("groupName: ag1") && yaml.contains("autoResume:"),
        "{yaml}"
    );
    let dir = std::env::temp_dir().join(format!("drover-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let before = sim.with_world(|w, _| w.statement_counts().clone());
    let mut failures = Vec::new();
    let rows = cli_rows(&yaml);
    let total = rows.len();
    for (i, (name, text, says)) in rows.into_iter().enumerate() {
        let path = dir.join(format!("row-{i}.yaml"));
        std::fs::write(&path, &text).expect("written");
        let (user, password) = sim.login();
        let mut command = Command::new(env!("CARGO_BIN_EXE_drover"));
        command
            .args(["plan", "-f"])
            .arg(&path)
            .args([
                "--username",
                user,
                "--password-env",
                "DROVER_TEST_SQL_PASSWORD",
                "--tls-off",
            ])
            .env("DROVER_TEST_SQL_PASSWORD", password)
            .env_remove("RUST_LOG");
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("ran")
            .expect("drover runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = format!("drover plan: {}: ", path.display());
        if out.status.code() != Some(2) {
            failures.push(format!("{name}: exit {:?}, stderr {stderr}", out.status.code()));
        } else if !stderr.contains(&line) || !stderr.contains(says) {
            failures.push(format!("{name}: expected {line:?} and {says:?} in {stderr}"));
        } else if stderr.contains("panicked") {
            failures.push(format!("{name}: panicked: {stderr}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        sim.with_world(|w, _| w.statement_counts().clone()),
        before,
        "bad files must not contact any server"
    );
    eprintln!("CLI bad-input rows: {total}, failed {}", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
