//! The Argo CD health check (`monitoring/argocd/health.lua`) on Lua 5.1, as Argo CD
//! (gopher-lua) runs it: each case of `health_test.yaml` sets the global `obj`
//! to its object and compares the `{status, message}` the script returns. The
//! objects' statuses must be ones drover's status types read and write back
//! unchanged, so the script is tested on the shapes the controllers produce.

use drover::api::availability_group::AvailabilityGroupStatus;
use drover::api::dr_site::DrSiteStatus;
use drover::api::persistent_chat_pool::PersistentChatPoolStatus;
use mlua::Lua;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct Tests {
    tests: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    health_status: Health,
    input_path: String,
}

#[derive(Deserialize, Debug, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Health {
    status: String,
    message: String,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("monitoring/argocd")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("health_test.yaml")).expect("health_test.yaml");
    serde_saphyr::from_str::<Tests>(&text)
        .expect("health_test.yaml parses")
        .tests
}

fn object(input_path: &str) -> Value {
    let path = dir().join(input_path);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{input_path}: {e}"))
}

/// A JSON value as Argo CD hands it to Lua: objects and arrays as tables (arrays from 1), numbers
/// as Lua numbers, null as nil.
fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<mlua::Value> {
    Ok(match value {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table()?;
            for (k, v) in fields {
                table.raw_set(k.as_str(), to_lua(lua, v)?)?;
            }
            mlua::Value::Table(table)
        }
    })
}

/// Runs the script on `obj` in a fresh interpreter.
fn health(obj: &Value) -> Health {
    let script = std::fs::read_to_string(dir().join("health.lua")).expect("health.lua");
    let lua = Lua::new();
    lua.globals()
        .set("obj", to_lua(&lua, obj).expect("obj converts"))
        .expect("set obj");
    let hs: mlua::Table = lua
        .load(script.as_str())
        .set_name("health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health.lua failed: {e}"));
    Health {
        status: hs.get("status").expect("hs.status is a string"),
        message: hs.get("message").expect("hs.message is a string"),
    }
}

#[test]
fn every_case_gets_its_health() {
    let mut wrong = Vec::new();
    for case in cases() {
        let got = health(&object(&case.input_path));
        if got != case.health_status {
            wrong.push(format!(
                "{}:\n  want {:?}\n  got  {:?}",
                case.input_path, case.health_status, got
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_kind_has_a_case_for_each_of_its_outcomes() {
    let seen: BTreeSet<(String, String)> = cases()
        .iter()
        .map(|c| {
            let kind = object(&c.input_path)["kind"].as_str().unwrap_or_default().to_string();
            (kind, c.health_status.status.clone())
        })
        .collect();
    let mut missing = Vec::new();
    for (kind, outcomes) in [
        // An AvailabilityGroup has no spec.suspend.
        ("AvailabilityGroup", &["Healthy", "Progressing", "Degraded"][..]),
        ("DrSite", &["Healthy", "Progressing", "Degraded", "Suspended"][..]),
        (
            "PersistentChatPool",
            &["Healthy", "Progressing", "Degraded", "Suspended"][..],
        ),
    ] {
        for outcome in outcomes {
            if !seen.contains(&(kind.to_string(), outcome.to_string())) {
                missing.push(format!("{kind} {outcome}"));
            }
        }
    }
    assert!(missing.is_empty(), "no case for: {missing:?}");
}

#[test]
fn every_sample_is_used_and_its_status_is_one_drover_writes() {
    let used: BTreeSet<String> = cases().into_iter().map(|c| c.input_path).collect();
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(dir().join("testdata")).expect("testdata/") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        files.insert(format!("testdata/{name}"));
    }
    assert_eq!(files, used, "every sample has a case and every case a sample");
    for path in &files {
        let obj = object(path);
        let Some(status) = obj.get("status") else { continue };
        // Read into the status type and written back: a field the type does not have, a wrong
        // enum value or a missing required field shows as a difference.
        let back = match obj["kind"].as_str() {
            Some("AvailabilityGroup") => round_trip::<AvailabilityGroupStatus>(status),
            Some("DrSite") => round_trip::<DrSiteStatus>(status),
            Some("PersistentChatPool") => round_trip::<PersistentChatPoolStatus>(status),
            other => panic!("{path}: unknown kind {other:?}"),
        };
        let back = back.unwrap_or_else(|e| panic!("{path}: status does not read: {e}"));
        assert_eq!(&back, status, "{path}: the status changes when read and written back");
        for c in status["conditions"].as_array().into_iter().flatten() {
            let t = c["type"].as_str().unwrap_or_default();
            assert!(
                CONDITION_TYPES.contains(&t),
                "{path}: condition type {t:?} is not one drover sets"
            );
        }
    }
}

const CONDITION_TYPES: &[&str] = &[
    drover::api::conditions::READY,
    drover::api::conditions::PROGRESSING,
    drover::api::conditions::DEGRADED,
    drover::api::conditions::CONFIRMATION_REQUIRED,
    drover::api::conditions::INVALID,
    drover::api::conditions::SITE_LOST_CONFIRMATION_REQUIRED,
    drover::api::conditions::CONFLICT,
];

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(status: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(status.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

#[test]
fn a_status_for_an_older_generation_is_never_healthy() {
    let mut obj = object("testdata/drsite-steady.yaml");
    assert_eq!(health(&obj).status, "Healthy");
    obj["metadata"]["generation"] = Value::from(3);
    let got = health(&obj);
    assert_eq!(got.status, "Progressing", "{got:?}");
    assert!(got.message.contains("generation 3"), "{got:?}");
}

#[test]
fn a_pending_confirmation_always_names_the_command() {
    // Even when the condition's message does not carry it (an older drover, a hand-edited status).
    let mut obj = object("testdata/pchat-awaiting-confirmation.yaml");
    for c in obj["status"]["conditions"].as_array_mut().expect("conditions") {
        c["message"] = Value::from("");
    }
    let got = health(&obj);
    assert_eq!(got.status, "Degraded");
    assert!(
        got.message
            .contains("kubectl annotate pchat pchat -n persistent-chat drover.dev/confirm-data-loss=0d4c51e2"),
        "{got:?}"
    );
}
