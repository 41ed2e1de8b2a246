//! `drover drill` through the library on tokio's paused clock (deterministic, instant) and through
//! the binary for its exit codes: the example drills with all three transitions and no invariant
//! violated; other example files are refused with a clear reason; broken input exits 2 naming the
//! file and the field path; the HTML report is well-formed and holds every executed step.

use drover::demo::Error;
use drover::drill::{Drill, Options, Scenario, run};
use std::path::PathBuf;
use std::process::Command;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}

fn options(files: Vec<PathBuf>, scenario: Scenario) -> Options {
    Options {
        files,
        scenario,
        speed: 4.0,
    }
}

/// Every opened non-void tag is closed, in order; nothing is closed that was not opened.
fn well_formed(html: &str) -> Result<(), String> {
    const VOID: [&str; 4] = ["meta", "br", "hr", "img"];
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        let end = rest.find('>').ok_or("a tag is not closed by >")?;
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else {
            let name = tag.split_whitespace().next().ok_or("an empty tag")?.to_string();
            if name.chars().any(|c| !c.is_ascii_alphanumeric()) {
                return Err(format!("a bad tag name {name:?}"));
            }
            if !VOID.contains(&name.as_str()) {
                open.push(name);
            }
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(format!("never closed: {open:?}"))
    }
}

fn escaped(text: &str) -> String {
    drover::drill::html::escape(text)
}

#[tokio::test(start_paused = true)]
async fn drill_all_on_the_contact_center_example_passes_with_three_transitions() {
    let options = options(vec![example("contact-center-framework.yaml")], Scenario::All);
    let mut drill = Drill::start(&options, Vec::new()).await.expect("starts");
    let report = drill.play().await.expect("no invariant violated, every stage reached");
    let kinds: Vec<&str> = report.transitions.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, ["ColdStart", "Switchover", "Failover", "Failback"]);
    let sites: Vec<(Option<&str>, &str)> = report
        .transitions
        .iter()
        .map(|t| (t.from.as_deref(), t.to.as_str()))
        .collect();
    assert_eq!(
        sites,
        [
            (None, "site-a"),
            (Some("site-a"), "site-b"),
            (Some("site-b"), "site-a"),
            (Some("site-a"), "site-b")
        ]
    );
    assert_eq!(report.transitions[1].lost_transactions, 0, "a switchover loses nothing");
    let asked: Vec<&str> = report.confirmations.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        asked,
        ["site-lost", "data-loss", "discard"],
        "the failover's confirmations (the site first), and the failback's discard of site A's diverged tail, are given and shown"
    );
    drill.demo.world.invariants().expect("invariants hold at the end");
    assert!(report.replicas.iter().any(|r| r.starts_with("SQLNODE1 at site-a")));
    assert!(report.replicas.iter().any(|r| r.starts_with("SQLNODE2 at site-b")));

    // The HTML report: well-formed, and every step Event the controllers published is in it.
    let html = report.html();
    well_formed(&html).expect("well-formed");
    let events: Vec<_> = drill
        .demo
        .world
        .drsite_events()
        .into_iter()
        .filter(|e| drover::demo::world::DRSITE_STEP_REASONS.contains(&e.reason.as_str()))
        .chain(
            drill
                .demo
                .world
                .group_events()
                .into_iter()
                .filter(|e| drover::demo::world::AG_STEP_REASONS.contains(&e.reason.as_str())),
        )
        .collect();
    assert!(events.iter().any(|e| e.note.contains("FORCE_FAILOVER_ALLOW_DATA_LOSS")));
    assert!(
        events.iter().any(|e| e.note.contains("WITH COPY_ONLY, CHECKSUM")),
        "the declared backups before failback are taken"
    );
    assert!(events.iter().any(|e| e.note.contains("hook Job")));
    for e in &events {
        assert!(html.contains(&escaped(&e.note)), "the report lacks {}", e.note);
    }
    let text = report.text();
    for e in &events {
        assert!(text.contains(&e.note), "the text lacks {}", e.note);
    }
    assert_eq!(
        report.timeline.iter().filter(|t| t.source != "DrSite").count(),
        events.len(),
        "one timeline entry per step Event"
    );
    drill.demo.world.sim.shutdown();
}

#[tokio::test(start_paused = true)]
async fn each_scenario_alone_plays_its_transitions() {
    for (scenario, kinds) in [
        (Scenario::Switchover, vec!["ColdStart", "Switchover"]),
        (Scenario::Failover, vec!["ColdStart", "Failover"]),
        (Scenario::Failback, vec!["ColdStart", "Failover", "Failback"]),
    ] {
        let report = run(
            &options(vec![example("contact-center-framework.yaml")], scenario),
            Vec::new(),
        )
        .await
        .unwrap_or_else(|e| panic!("{scenario:?}: {e}"));
        let got: Vec<&str> = report.transitions.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(got, kinds, "{scenario:?}");
    }
}

/// The Persistent Chat example drilled on its own through all of runbook B: a switchover, the
/// failback, a failover with dc1 lost (the drill confirms the loss), dc1 restored, the failback.
/// Nothing lost but in the failover; every step Event in the report; no step failed on the way.
#[tokio::test(start_paused = true)]
async fn drill_all_on_the_persistent_chat_example_plays_runbook_b() {
    let report = run(
        &options(vec![example("persistent-chat.yaml")], Scenario::All),
        Vec::new(),
    )
    .await
    .expect("no invariant violated, every stage reached");
    assert_eq!(
        report.drilled.persistent_chat_pool.as_deref(),
        Some("persistent-chat/pchat")
    );
    assert_eq!(report.drilled.drsite, None);
    let moves: Vec<(&str, Option<&str>, &str)> = report
        .transitions
        .iter()
        .map(|t| (t.kind.as_str(), t.from.as_deref(), t.to.as_str()))
        .collect();
    assert_eq!(
        moves,
        [
            ("Switchover", Some("dc1"), "dc2"),
            ("Failback", Some("dc2"), "dc1"),
            ("Failover", Some("dc1"), "dc2"),
            ("Failback", Some("dc2"), "dc1"),
        ]
    );
    for t in &report.transitions {
        if t.kind != "Failover" {
            assert_eq!(t.lost_transactions, 0, "{} loses nothing", t.kind);
        }
        assert!(t.sql_steps > 0 && t.steps > 0, "{t:?}");
        assert!(t.ideal.seconds > 0.0 && t.seconds >= t.ideal.seconds, "{t:?}");
    }
    let asked: Vec<&str> = report.confirmations.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        asked,
        ["data-loss"],
        "the failover with dc1 lost asks, and the drill confirms; the failback keeps dc1's old database itself (no discard asked)"
    );
    assert!(report.confirmations[0].command.contains("kubectl annotate"));
    let html = report.html();
    well_formed(&html).expect("well-formed");
    let events: Vec<_> = report
        .timeline
        .iter()
        .filter(|t| t.source == drover::drill::pool::EVENT_SOURCE)
        .collect();
    assert!(events.iter().any(|e| e.detail.contains("RESTORE LOG [mgc]")));
    assert!(events.iter().any(|e| e.detail.contains("WITH REPLACE, RECOVERY")));
    assert!(events.iter().any(|e| e.detail.contains("hook Job")));
    for e in &events {
        assert!(html.contains(&escaped(&e.detail)), "the report lacks {}", e.detail);
        assert!(!e.site.is_empty(), "{e:?} names its site");
    }
    let total: u32 = report.transitions.iter().map(|t| t.steps + t.sql_steps).sum();
    let moves = report.timeline.iter().filter(|t| t.source == "DrSiteEvent").count();
    assert_eq!(moves, 4, "the drill's own DrSite moved the pool once per transition");
    assert_eq!(
        events.len() + moves,
        total as usize,
        "one timeline Event per step counted"
    );
    for t in report
        .timeline
        .iter()
        .filter(|t| t.source == drover::drill::pool::STEP_SOURCE)
    {
        assert!(t.end >= t.start, "{t:?}");
        assert!(!t.detail.contains("does not show its effect"), "no step failed: {t:?}");
    }
    assert!(
        report
            .text()
            .contains("drill of PersistentChatPool persistent-chat/pchat")
    );
}

/// The contact-center example with a second group (on the same two servers) and the Persistent
/// Chat pool (its own four servers, at the same two sites) listed by the DrSite: one twin plays
/// them all, the DrSite moves the three children together, and no invariant breaks.
#[tokio::test(start_paused = true)]
async fn a_drsite_with_two_groups_and_a_pool_drills_them_together() {
    let cc = std::fs::read_to_string(example("contact-center-framework.yaml")).expect("reads");
    let chat = std::fs::read_to_string(example("persistent-chat.yaml")).expect("reads");
    let ag_start = cc
        .find("apiVersion: drover.dev/v1alpha1\nkind: AvailabilityGroup")
        .expect("the group");
    let ag_end = ag_start + cc[ag_start..].find("\n---").expect("ends");
    let second = cc[ag_start..ag_end]
        .replace("name: cc-ag\n", "name: cc-ag2\n")
        .replace("groupName: cc_ag", "groupName: cc_ag2")
        .replace("- confdb", "- ocsdb")
        .replace("- logdb", "- rtcdb");
    let pool_start = chat
        .find("apiVersion: drover.dev/v1alpha1\nkind: PersistentChatPool")
        .expect("the pool");
    let pool = chat[pool_start..]
        .replace("namespace: persistent-chat", "namespace: contact-center")
        .replace("dc1", "site-a")
        .replace("dc2", "site-b");
    let drsite = cc.replacen(
        "  availabilityGroups:\n    - name: cc-ag\n",
        "  availabilityGroups:\n    - name: cc-ag\n    - name: cc-ag2\n  persistentChatPools:\n    - name: pchat\n",
        1,
    );
    assert_ne!(drsite, cc, "the DrSite lists the three children");
    let path = std::env::temp_dir().join(format!("drover-drill-{}-three-children.yaml", std::process::id()));
    std::fs::write(&path, format!("{drsite}\n---\n{second}\n---\n{pool}")).expect("writes");

    let mut drill = Drill::start(&options(vec![path.clone()], Scenario::All), Vec::new())
        .await
        .unwrap_or_else(|e| panic!("starts: {e}"));
    let _ = std::fs::remove_file(&path);
    let report = drill.play().await.unwrap_or_else(|e| panic!("plays: {e}"));
    assert_eq!(
        report.drilled.availability_groups,
        ["contact-center/cc-ag", "contact-center/cc-ag2"]
    );
    assert_eq!(
        report.drilled.persistent_chat_pool.as_deref(),
        Some("contact-center/pchat")
    );
    assert!(
        report
            .subject()
            .contains("AvailabilityGroups contact-center/cc-ag, contact-center/cc-ag2 and PersistentChatPool")
    );
    let kinds: Vec<&str> = report.transitions.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["ColdStart", "Switchover", "Switchover", "Failover", "Failback"],
        "the pool returns by failback, so the drill switches back before the failover"
    );
    for i in [1, 2, 4] {
        assert_eq!(report.transitions[i].lost_transactions, 0, "{} loses nothing", kinds[i]);
    }
    let asked: Vec<&str> = report.confirmations.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        asked.iter().filter(|w| **w == "data-loss").count(),
        3,
        "both groups and the pool ask to confirm the failover's loss: {asked:?}"
    );
    let world = &drill.demo.world;
    world.invariants().expect("invariants hold at the end");
    assert_eq!(world.primary_site_of("cc_ag").as_deref(), Some("site-a"));
    assert_eq!(world.primary_site_of("cc_ag2").as_deref(), Some("site-a"));
    let pool = world.pool.as_ref().expect("the pool is played");
    assert_eq!(pool.serving_site().as_deref(), Some("site-a"), "failed back");
    assert!(
        report
            .timeline
            .iter()
            .any(|t| t.source == drover::drill::pool::EVENT_SOURCE && t.detail.contains("RESTORE LOG [mgc]")),
        "the pool's runbook ran inside the DrSite's transitions"
    );
    assert!(
        report.transitions[1]
            .ideal
            .legs
            .iter()
            .any(|l| l.what.starts_with("pool:")),
        "the pool's chain is longer than the groups' switchover: {:?}",
        report.transitions[1].ideal
    );
    drill.demo.world.sim.shutdown();
}

#[tokio::test(start_paused = true)]
async fn each_scenario_alone_plays_the_pools_transitions() {
    for (scenario, kinds) in [
        (Scenario::Switchover, vec!["Switchover"]),
        (Scenario::Failover, vec!["Failover"]),
        (Scenario::Failback, vec!["Failover", "Failback"]),
    ] {
        let report = run(&options(vec![example("persistent-chat.yaml")], scenario), Vec::new())
            .await
            .unwrap_or_else(|e| panic!("{scenario:?}: {e}"));
        let got: Vec<&str> = report.transitions.iter().map(|t| t.kind.as_str()).collect();
        assert_eq!(got, kinds, "{scenario:?}");
    }
}

/// The AvailabilityGroup example on its own: moved by a DrSite the drill makes for it (no
/// components), and the report says so.
#[tokio::test(start_paused = true)]
async fn drill_all_on_the_availability_group_example_moves_the_group_alone() {
    let report = run(
        &options(vec![example("availability-group.yaml")], Scenario::All),
        Vec::new(),
    )
    .await
    .expect("no invariant violated, every stage reached");
    let kinds: Vec<&str> = report.transitions.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["Switchover", "Failover", "Failback"],
        "no components: no cold start"
    );
    assert_eq!(report.transitions[0].lost_transactions, 0);
    assert_eq!(report.transitions[2].lost_transactions, 0);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("with a DrSite of its own (no components)"))
    );
    let asked: Vec<&str> = report.confirmations.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        asked,
        ["data-loss", "discard"],
        "only the group asks (the failover's loss, then the failback's discard); no site-lost without components"
    );
    assert!(
        report
            .timeline
            .iter()
            .any(|t| t.detail.contains("FORCE_FAILOVER_ALLOW_DATA_LOSS"))
    );
}

#[tokio::test]
async fn example_files_without_drover_resources_are_refused_with_the_reason() {
    for (file, reason) in [
        ("sim-two-sites.yaml", "kind: missing"),
        ("sim-persistent-chat.yaml", "kind: missing"),
    ] {
        let err = run(&options(vec![example(file)], Scenario::All), Vec::new())
            .await
            .expect_err("nothing to drill");
        assert!(matches!(err, Error::BadInput(_)), "{file}: {err}");
        let message = err.to_string();
        assert!(message.contains(file) && message.contains(reason), "{file}: {message}");
    }
}

/// The example with `from` replaced by `to`, in a file of its own.
fn broken(from: &str, to: &str, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(example("contact-center-framework.yaml")).expect("reads");
    assert!(text.contains(from));
    let path = std::env::temp_dir().join(format!("drover-drill-{}-{name}", std::process::id()));
    std::fs::write(&path, text.replacen(from, to, 1)).expect("writes");
    path
}

#[test]
fn a_broken_file_exits_2_naming_the_file_and_the_field() {
    for (from, to, field) in [
        (
            "\n  activeSite: site-a",
            "\n  activeSite: site-z",
            "DrSite/contact-center: spec.activeSite:",
        ),
        (
            "\n        port: 1433",
            "\n        port: many",
            "AvailabilityGroup/cc-ag: spec.replicas[0].endpoint.port:",
        ),
    ] {
        let path = broken(from, to, "broken.yaml");
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["drill", "--speed", "50", "-f"])
            .arg(&path)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{}: {field}", path.display())), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing started: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn the_binary_drills_the_example_and_writes_the_report() {
    let report = std::env::temp_dir().join(format!("drover-drill-{}.html", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args([
            "drill",
            "--scenario",
            "switchover",
            "--speed",
            "50",
            "-o",
            "json",
            "--report",
        ])
        .arg(&report)
        .arg("-f")
        .arg(example("contact-center-framework.yaml"))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(json["transitions"][1]["kind"], "Switchover");
    let html = std::fs::read_to_string(&report).expect("the report is written");
    well_formed(&html).expect("well-formed");
    assert!(html.contains("ALTER AVAILABILITY GROUP [cc_ag] FAILOVER;"));
    let _ = std::fs::remove_file(report);
}

/// A group whose policy never allows a forced failover cannot fail over with its primary site
/// lost: the drill says the stage was not reached and exits 1, after the cold start it played.
#[tokio::test(start_paused = true)]
async fn a_failover_the_policy_forbids_fails_the_drill_with_exit_code_1() {
    let path = broken("    policy: Confirm", "    policy: Never", "never.yaml");
    let err = run(&options(vec![path.clone()], Scenario::Failover), Vec::new())
        .await
        .expect_err("the failover cannot happen");
    let _ = std::fs::remove_file(path);
    assert_eq!(err.exit_code(), 1, "{err}");
    assert!(matches!(err, Error::Failed(_)), "{err}");
    assert!(
        err.to_string().contains("timed out waiting for the Failover to site-b"),
        "{err}"
    );
}

#[test]
fn the_tag_checker_catches_what_it_must() {
    assert!(well_formed("<div><p>x</p></div>").is_ok());
    assert!(well_formed("<div><p>x</div></p>").is_err());
    assert!(well_formed("<div>").is_err());
    assert!(well_formed("<td>a < b</td>").is_err(), "an unescaped < is caught");
}

/// An AvailabilityGroup alone, of `cluster` type with `replicas` replicas, every name hostile.
fn group_file(cluster: &str, replicas: usize) -> PathBuf {
    let sites = ["east", "west", "north"];
    let mut text = format!(
        "apiVersion: drover.dev/v1alpha1
kind: AvailabilityGroup
metadata:
  name: odd-ag
  namespace: tenant-x
spec:
  groupName: \"we]ird 'ag\"
  clusterType: {cluster}
  databases: [\"db]one\", \"db'two\"]
  credentials: {{secretName: login}}
  primarySite: east
  forcedFailover: {{policy: Confirm}}
  autoResume: true
  replicas:
"
    );
    for (r, site) in sites.iter().enumerate().take(replicas) {
        text.push_str(&format!(
            "    - serverName: 'HOST{r}\\INST]'\n      site: {site}\n      endpoint: {{host: h{r}.example, port: 1433}}\n      availabilityMode: {}\n",
            if r == 0 { "SynchronousCommit" } else { "AsynchronousCommit" }
        ));
    }
    let path = std::env::temp_dir().join(format!("drover-drill-{}-{cluster}-{replicas}.yaml", std::process::id()));
    std::fs::write(&path, text).expect("writes");
    path
}

#[tokio::test(start_paused = true)]
async fn none_and_wsfc_groups_of_two_and_three_replicas_never_have_two_writers() {
    for cluster in ["NONE", "WSFC"] {
        for replicas in [2, 3] {
            let path = group_file(cluster, replicas);
            let report = run(&options(vec![path.clone()], Scenario::All), Vec::new()).await;
            let _ = std::fs::remove_file(&path);
            let report = report.unwrap_or_else(|e| panic!("{cluster} x{replicas}: {e}"));
            let kinds: Vec<&str> = report.transitions.iter().map(|t| t.kind.as_str()).collect();
            assert_eq!(kinds, ["Switchover", "Failover", "Failback"], "{cluster} x{replicas}");
            // Under NONE the forced-out old primary came back PRIMARY and drover demoted it.
            let demoted = report.timeline.iter().any(|t| t.detail.contains("came back PRIMARY"));
            assert_eq!(demoted, cluster == "NONE", "{cluster} x{replicas}");
        }
    }
}

/// `drover drill --scenario isolated-primary`: the old primary keeps committing where neither
/// drover nor the target can see it. Under either policy drover makes no second writer, and once
/// the isolation ends the move completes without losing a commit.
#[tokio::test(start_paused = true)]
async fn an_isolated_primary_that_keeps_committing_never_gets_a_second_writer() {
    let mut files: Vec<(String, PathBuf)> = vec![
        ("contact-center".into(), example("contact-center-framework.yaml")),
        ("availability-group".into(), example("availability-group.yaml")),
    ];
    for cluster in ["NONE", "WSFC"] {
        for replicas in [2, 3] {
            files.push((format!("{cluster} x{replicas}"), group_file(cluster, replicas)));
            let automatic = group_file(cluster, replicas).with_extension("automatic.yaml");
            let text = std::fs::read_to_string(group_file(cluster, replicas))
                .expect("reads")
                .replace(
                    "{policy: Confirm}",
                    "{policy: Automatic, minUnreachableSeconds: 1, maxDataLossSeconds: 600}",
                );
            std::fs::write(&automatic, text).expect("writes");
            files.push((format!("{cluster} x{replicas} Automatic"), automatic));
        }
    }
    for (what, path) in files {
        let report = run(&options(vec![path.clone()], Scenario::IsolatedPrimary), Vec::new()).await;
        if !path.starts_with(env!("CARGO_MANIFEST_DIR")) {
            let _ = std::fs::remove_file(&path);
        }
        let report = report.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(report.confirmations.is_empty(), "{what}: nobody confirmed anything");
        assert!(
            !report
                .timeline
                .iter()
                .any(|t| t.detail.contains("FORCE_FAILOVER_ALLOW_DATA_LOSS") && t.detail.contains("forced failover to")),
            "{what}: a lossy forced failover while the old primary lived"
        );
        let last = report.transitions.last().expect("the move after the isolation");
        assert_eq!(last.lost_transactions, 0, "{what}: {last:?}");
    }
}

/// `drover drill --scenario fenced-primary`: the old primary keeps committing where neither drover
/// nor the target can see it, but its fenceHook is declared. Under `Automatic` the hook's success
/// is the evidence: the group moves without anyone confirming anything, never two writers (the
/// drill checks the invariants after every reconcile and fails with exit code 1 otherwise), and
/// the fenced old primary comes back as a secondary (demoted under NONE).
#[tokio::test(start_paused = true)]
async fn a_declared_fence_hook_lets_automatic_move_an_isolated_primary_without_a_person() {
    for cluster in ["NONE", "WSFC"] {
        for replicas in [2, 3] {
            let plain = group_file(cluster, replicas);
            let path = plain.with_extension("fenced.yaml");
            let text = std::fs::read_to_string(&plain)
                .expect("reads")
                .replace(
                    "{policy: Confirm}",
                    "{policy: Automatic, minUnreachableSeconds: 1, maxDataLossSeconds: 600}",
                )
                .replace(
                    "      availabilityMode: SynchronousCommit\n",
                    "      availabilityMode: SynchronousCommit\n      fenceHook: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: fence, image: registry.example/fence:1}]}}}}\n",
                );
            std::fs::write(&path, text).expect("writes");
            let report = run(&options(vec![path.clone()], Scenario::FencedPrimary), Vec::new()).await;
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(&plain);
            let what = format!("{cluster} x{replicas}");
            let report = report.unwrap_or_else(|e| panic!("{what}: {e}"));
            // Nobody was asked to allow the move; once the fenced old primary returned, the commits
            // it had beyond the fork are discarded only with a person's consent (invariant 9),
            // which the drill gives as a person would.
            assert!(
                report.confirmations.iter().all(|c| c.what == "discard"),
                "{what}: nobody confirmed the move: {:?}",
                report.confirmations
            );
            let last = report.transitions.last().expect("the move");
            assert_eq!(last.to, "west", "{what}: {last:?}");
        }
    }
    // Without a declared fence hook the scenario cannot be played: bad input, exit code 2.
    let plain = group_file("WSFC", 2);
    let err = run(&options(vec![plain.clone()], Scenario::FencedPrimary), Vec::new())
        .await
        .expect_err("no fence hook");
    let _ = std::fs::remove_file(&plain);
    assert!(err.to_string().contains("needs a fenceHook"), "{err}");
    assert_eq!(err.exit_code(), 2, "{err}");
}
