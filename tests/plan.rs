//! `drover plan` against the TDS simulator: the real binary reads the user's
//! YAML, observes the simulated replicas and prints the step it would take,
//! and the simulator's statement counts prove it sent nothing but SELECTs.
//! Broken files exit 2 naming the file and field, having contacted nothing.

mod common {
    pub mod rig;
}

use common::rig::{ag_start, world};
use drover::api::availability_group::AvailabilityGroup;
use drover::api::persistent_chat_pool::PersistentChatPool;
use drover::sim::Sim;
use drover::sim::model::config::WorldConfig;
use drover::sim::spec::persistent_chat_pool_spec;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The variable the tests pass the simulator's password in.
const PASSWORD_VAR: &str = "DROVER_TEST_SQL_PASSWORD";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `drover plan ARGS` with the simulator's login, run off the runtime that serves the simulator.
async fn drover_plan(sim: &Sim, args: &[&str]) -> Run {
    let (user, password) = sim.login();
    let mut command = Command::new(env!("CARGO_BIN_EXE_drover"));
    command
        .arg("plan")
        .args(args)
        .args(["--username", user, "--password-env", PASSWORD_VAR, "--tls-off"])
        .env(PASSWORD_VAR, password)
        .env_remove("RUST_LOG");
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the blocking task ran")
        .expect("drover runs");
    Run {
        code: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8"),
    }
}

/// `resource` as a one-document YAML file in a fresh temporary folder.
fn write_yaml<T: Serialize>(name: &str, resource: &T) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drover-plan-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.yaml"));
    let yaml = serde_saphyr::to_string(resource).expect("renders");
    std::fs::write(&path, yaml).expect("written");
    path
}

fn counts(sim: &Sim) -> BTreeMap<(String, String), u64> {
    sim.with_world(|w, _| w.statement_counts().clone())
}

/// What changed between two snapshots, by kind, summed over instances.
fn sent_by_kind(
    before: &BTreeMap<(String, String), u64>,
    after: &BTreeMap<(String, String), u64>,
) -> BTreeMap<String, u64> {
    let mut sent = BTreeMap::new();
    for ((instance, kind), n) in after {
        let was = before.get(&(instance.clone(), kind.clone())).copied().unwrap_or(0);
        if *n > was {
            *sent.entry(kind.clone()).or_insert(0) += n - was;
        }
    }
    sent
}

/// Asserts that `plan` sent SELECTs (to every one of `instances`) and nothing else.
fn only_selects(before: &BTreeMap<(String, String), u64>, after: &BTreeMap<(String, String), u64>, instances: &[&str]) {
    let sent = sent_by_kind(before, after);
    assert!(
        sent.keys().all(|k| k == "select"),
        "drover plan sent statements other than SELECT: {sent:?}"
    );
    for instance in instances {
        let key = (instance.to_lowercase(), "select".to_string());
        let grew = after.get(&key).copied().unwrap_or(0) > before.get(&key).copied().unwrap_or(0);
        assert!(grew, "{instance} was not observed: {sent:?}");
    }
}

async fn ag_world() -> (Arc<Sim>, AvailabilityGroup) {
    let start = ag_start(world()).await;
    (start.sim, start.ag)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_state_plans_nothing_and_sends_only_selects() {
    let (sim, ag) = ag_world().await;
    let file = write_yaml("steady", &ag);
    let before = counts(&sim);
    let run = drover_plan(&sim, &["-f", file.to_str().unwrap()]).await;
    let after = counts(&sim);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("AvailabilityGroup/ag1"), "{}", run.stdout);
    assert!(run.stdout.contains("next: nothing to do"), "{}", run.stdout);
    assert!(run.stdout.contains("every journal is empty"), "{}", run.stdout);
    assert!(!run.stdout.contains("T-SQL"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("--tls-off: the login and every batch crossed the network unencrypted")
    );
    assert!(
        run.stderr.is_empty(),
        "--tls-off was asked for: no warning per connection: {}",
        run.stderr
    );
    only_selects(&before, &after, &["SQL-A", "SQL-B"]);
}

/// A group file without `spec.primarySite` (as a GitOps repository keeps a DrSite's child): the
/// primary stays where it is, nothing is planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_without_a_primary_site_stays_where_it_is() {
    let (sim, mut ag) = ag_world().await;
    ag.spec.primary_site = None;
    let file = write_yaml("no-primary-site", &ag);
    let text = std::fs::read_to_string(&file).expect("written");
    assert!(!text.contains("primarySite"), "{text}");
    let before = counts(&sim);
    let run = drover_plan(&sim, &["-f", file.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("desired site: (not set: stays where it is)   observed: site-a"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("next: nothing to do"), "{}", run.stdout);
    only_selects(&before, &counts(&sim), &["SQL-A", "SQL-B"]);
    let json = drover_plan(&sim, &["-f", file.to_str().unwrap(), "-o", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(json["resources"][0]["desiredSite"], serde_json::Value::Null, "{json:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_site_prints_the_switchover_step_and_changes_nothing() {
    let (sim, mut ag) = ag_world().await;
    ag.spec.primary_site = Some("site-b".into());
    let file = write_yaml("flipped", &ag);
    let before = counts(&sim);
    let run = drover_plan(&sim, &["-f", file.to_str().unwrap()]).await;
    let after = counts(&sim);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("desired site: site-b   observed: site-a"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("phase: Switchover"), "{}", run.stdout);
    // The first step of a planned switchover: the target to synchronous commit, on the primary.
    assert!(
        run.stdout.contains(
            "T-SQL: ALTER AVAILABILITY GROUP [ag1] MODIFY REPLICA ON N'SQL-B' WITH (AVAILABILITY_MODE = SYNCHRONOUS_COMMIT)"
        ),
        "{}",
        run.stdout
    );
    only_selects(&before, &after, &["SQL-A", "SQL-B"]);
    // And the world is as it was: SQL-A still primary, SQL-B still asynchronous.
    let again = drover_plan(&sim, &["-f", file.to_str().unwrap(), "-o", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&again.stdout).expect("JSON");
    let next = &json["resources"][0]["next"];
    assert_eq!(next["type"], "sql", "{json:#}");
    assert_eq!(next["action"], "set_availability_mode", "{json:#}");
    assert_eq!(next["server"], "SQL-A", "{json:#}");
    only_selects(&after, &counts(&sim), &["SQL-A", "SQL-B"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_yaml_output_carry_the_step() {
    let (sim, mut ag) = ag_world().await;
    ag.spec.primary_site = Some("site-b".into());
    let file = write_yaml("json", &ag);
    let run = drover_plan(&sim, &["-f", file.to_str().unwrap(), "-o", "json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("the output is JSON");
    let resource = &json["resources"][0];
    assert_eq!(resource["kind"], "AvailabilityGroup");
    assert_eq!(resource["name"], "ag1");
    assert_eq!(resource["desiredSite"], "site-b");
    assert_eq!(resource["observedSite"], "site-a");
    assert_eq!(resource["file"], file.display().to_string());
    let sql = resource["next"]["sql"].as_str().expect("the step's T-SQL");
    assert!(sql.starts_with("ALTER AVAILABILITY GROUP [ag1]"), "{sql}");
    let servers = resource["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 2);
    assert!(servers.iter().all(|s| s["reachable"] == true), "{json:#}");

    let run = drover_plan(&sim, &["-f", file.to_str().unwrap(), "-o", "yaml"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let yaml: serde_json::Value = serde_saphyr::from_str(&run.stdout).expect("the output is YAML");
    assert_eq!(yaml["resources"][0]["next"]["sql"], sql);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_files_exit_2_naming_file_and_field_and_contact_nothing() {
    let (sim, ag) = ag_world().await;
    let mut doc = serde_json::to_value(&ag).expect("serializes");
    // An unknown site and a field of the wrong type, in two files.
    doc["spec"]["primarySite"] = "site-x".into();
    let unknown_site = write_yaml("unknown-site", &doc);
    let mut doc = serde_json::to_value(&ag).expect("serializes");
    doc["spec"]["replicas"][1]["endpoint"]["port"] = "fourteen-thirty-three".into();
    let bad_type = write_yaml("bad-type", &doc);
    let mut doc = serde_json::to_value(&ag).expect("serializes");
    doc["spec"]["replicas"][0]["availabiltyMode"] = "SYNCHRONOUS_COMMIT".into();
    let misspelt = write_yaml("misspelt", &doc);
    let not_yaml = unknown_site.with_file_name("not-yaml.yaml");
    std::fs::write(&not_yaml, "spec: [unclosed\n").expect("written");

    let before = counts(&sim);
    let cases: [(&Path, &str); 4] = [
        (&unknown_site, "AvailabilityGroup/ag1: spec.primarySite: "),
        (&bad_type, "AvailabilityGroup/ag1: spec.replicas[1].endpoint.port: "),
        (
            &misspelt,
            "AvailabilityGroup/ag1: spec.replicas[0].availabiltyMode: unknown field",
        ),
        (&not_yaml, "not valid YAML"),
    ];
    for (file, expected) in cases {
        let run = drover_plan(&sim, &["-f", file.to_str().unwrap()]).await;
        assert_eq!(run.code, 2, "{}: {}", file.display(), run.stdout);
        let line = format!("drover plan: {}: {expected}", file.display());
        assert!(run.stderr.contains(&line), "expected {line:?} in {}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    // A good file beside a bad one: still nothing contacted.
    let good = write_yaml("good", &ag);
    let run = drover_plan(&sim, &["-f", good.to_str().unwrap(), unknown_site.to_str().unwrap()]).await;
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(counts(&sim), before, "bad input must not contact any server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_is_never_taken_on_the_command_line_and_a_missing_one_is_bad_input() {
    let (sim, ag) = ag_world().await;
    let file = write_yaml("no-login", &ag);
    let mut command = Command::new(env!("CARGO_BIN_EXE_drover"));
    command.args(["plan", "-f", file.to_str().unwrap(), "--tls-off"]);
    let before = counts(&sim);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("ran")
        .expect("drover runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AvailabilityGroup/ag1: spec.credentials: ") && stderr.contains("--password-env"),
        "{stderr}"
    );
    let mut command = Command::new(env!("CARGO_BIN_EXE_drover"));
    command.args([
        "plan",
        "-f",
        file.to_str().unwrap(),
        "--username",
        "sa",
        "--password",
        "x",
    ]);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("ran")
        .expect("drover runs");
    assert_eq!(output.status.code(), Some(2), "clap refuses --password");
    assert_eq!(counts(&sim), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_is_planned_from_selects_alone() {
    let civil = jiff::civil::date(2026, 11, 22).at(3, 0, 0, 0);
    let sim = Sim::start_at(WorldConfig::persistent_chat(), civil, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .expect("simulator starts");
    let spec = persistent_chat_pool_spec(&sim, "pchat", "pchat-sql").expect("the simulator has the pool");
    let primary_site = spec.active_site.clone();
    let backup_site = spec.backup.site.clone();
    let instances: Vec<String> = [&spec.primary, &spec.backup]
        .into_iter()
        .map(|dc| dc.sql_instance.server_name.clone())
        .collect();
    let instances: Vec<&str> = instances.iter().map(String::as_str).collect();
    let mut pool = PersistentChatPool::new("pchat", spec);
    pool.metadata.namespace = Some("persistent-chat".into());

    let file = write_yaml("pool-steady", &pool);
    let before = counts(&sim);
    let run = drover_plan(&sim, &["-f", file.to_str().unwrap(), "-o", "json"]).await;
    let after = counts(&sim);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let resource = &json["resources"][0];
    assert_eq!(resource["kind"], "PersistentChatPool", "{json:#}");
    assert_eq!(
        resource["observedSite"],
        primary_site.as_deref().unwrap_or_default(),
        "{json:#}"
    );
    assert_eq!(resource["next"]["type"], "steady", "{json:#}");
    only_selects(&before, &after, &instances);

    // Moving the pool to the backup data center starts runbook B, whose folder listings
    // (EXEC xp_dirtree) the controller would send: the dry run must not.
    pool.spec.active_site = Some(backup_site.clone());
    let file = write_yaml("pool-moved", &pool);
    let run = drover_plan(&sim, &["-f", file.to_str().unwrap()]).await;
    let moved = counts(&sim);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // Mid-transition the planner reports no site as active; its first step is a hook Job.
    assert!(
        run.stdout
            .contains(&format!("desired site: {backup_site}   observed: unknown")),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("phase: Switchover"), "{}", run.stdout);
    assert!(run.stdout.contains("next: hook Job "), "{}", run.stdout);
    assert!(
        run.stdout.contains("  then 1: "),
        "the rest of the runbook is listed: {}",
        run.stdout
    );
    assert!(run.stdout.contains("were not listed"), "{}", run.stdout);
    only_selects(&after, &moved, &instances);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drsite_shows_what_it_would_write_into_its_children() {
    let (sim, ag) = ag_world().await;
    // One multi-document file: a Secret (skipped), the group, and a DrSite wanting site-b.
    let file = write_yaml("drsite", &ag);
    let group = std::fs::read_to_string(&file).expect("read back");
    let text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: ag1-login, namespace: dr}}\n---\n{group}\n---\n\
apiVersion: drover.dev/v1alpha1\nkind: DrSite\nmetadata: {{name: stack, namespace: dr}}\nspec:\n  activeSite: site-b\n  sites:\n  - {{name: site-a, namespace: dr-a}}\n  - {{name: site-b, namespace: dr-b}}\n  availabilityGroups:\n  - {{name: ag1}}\n"
    );
    std::fs::write(&file, text).expect("written");
    let before = counts(&sim);
    let run = drover_plan(&sim, &["-f", file.to_str().unwrap(), "-o", "json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    only_selects(&before, &counts(&sim), &["SQL-A", "SQL-B"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let resources = json["resources"].as_array().expect("resources");
    assert_eq!(resources.len(), 2, "{json:#}");
    assert_eq!(
        resources[0]["next"]["type"], "steady",
        "the group itself is where it is told: {json:#}"
    );
    let drs = &resources[1];
    assert_eq!(drs["kind"], "DrSite");
    assert_eq!(drs["next"]["type"], "setChildSite", "{json:#}");
    assert_eq!(drs["next"]["child"], "AvailabilityGroup/ag1");
    assert_eq!(drs["next"]["site"], "site-b");
    let notes = drs["notes"].to_string();
    assert!(notes.contains("not observed offline"), "{notes}");
    assert_eq!(json["skipped"][0], format!("{}: Secret/ag1-login", file.display()));
}
