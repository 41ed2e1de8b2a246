//! What the generated CRDs ask of the API server.
//!
//! - Every schema keyword, CEL-rule field and CRD field they use exists in the oldest Kubernetes
//!   the chart's `kubeVersion` admits (a table of field → first release; a field not in the table
//!   fails the test until someone looks it up).
//! - Every string, list and map a CEL rule reads is bounded (`maxLength`, `maxItems`,
//!   `maxProperties`), and so is every list around the rule's own location: the API server
//!   estimates a rule's cost from those bounds and refuses a CRD whose estimate exceeds its budget
//!   (an unbounded string counts as the whole 3 MiB request).
//! - Every integer has a `maximum`, so a value drover cannot deserialize (a poison pill in every
//!   list and watch) never gets stored.

use drover::api::crds;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The Kubernetes minor release from which an API server accepts each field, with why.
/// Sources: the Kubernetes CHANGELOGs and the CRD validation-rules documentation
/// ("Validation rules", KEP-2876 and KEP-4008).
const FIRST_RELEASE: &[(&str, u32, &str)] = &[
    // OpenAPI v3 keywords of apiextensions.k8s.io/v1 (GA in 1.16).
    ("type", 16, "apiextensions/v1"),
    ("description", 16, "apiextensions/v1"),
    ("title", 16, "apiextensions/v1"),
    ("properties", 16, "apiextensions/v1"),
    ("items", 16, "apiextensions/v1"),
    ("required", 16, "apiextensions/v1"),
    ("additionalProperties", 16, "apiextensions/v1"),
    ("enum", 16, "apiextensions/v1"),
    ("default", 16, "apiextensions/v1 defaulting (GA 1.16)"),
    ("format", 16, "apiextensions/v1"),
    ("pattern", 16, "apiextensions/v1"),
    ("minimum", 16, "apiextensions/v1"),
    ("maximum", 16, "apiextensions/v1"),
    ("minLength", 16, "apiextensions/v1"),
    ("maxLength", 16, "apiextensions/v1"),
    ("minItems", 16, "apiextensions/v1"),
    ("maxItems", 16, "apiextensions/v1"),
    ("minProperties", 16, "apiextensions/v1"),
    ("maxProperties", 16, "apiextensions/v1"),
    ("nullable", 16, "apiextensions/v1"),
    ("anyOf", 16, "apiextensions/v1"),
    ("oneOf", 16, "apiextensions/v1"),
    ("allOf", 16, "apiextensions/v1"),
    ("not", 16, "apiextensions/v1"),
    ("x-kubernetes-preserve-unknown-fields", 16, "apiextensions/v1"),
    ("x-kubernetes-int-or-string", 16, "apiextensions/v1"),
    ("x-kubernetes-embedded-resource", 16, "apiextensions/v1"),
    ("x-kubernetes-list-type", 16, "apiextensions/v1"),
    ("x-kubernetes-list-map-keys", 16, "apiextensions/v1"),
    ("x-kubernetes-map-type", 17, "added in 1.17"),
    // CEL validation rules: beta and on by default from 1.25 (alpha behind a gate in 1.23-1.24).
    (
        "x-kubernetes-validations",
        25,
        "CRD validation rules beta, on by default",
    ),
    // Fields of one validation rule.
    ("rule.rule", 25, "CRD validation rules beta"),
    ("rule.message", 25, "CRD validation rules beta"),
    ("rule.messageExpression", 27, "added in 1.27"),
    ("rule.reason", 28, "added in 1.28"),
    (
        "rule.fieldPath",
        28,
        "added in 1.28 (1.25-1.27: field not declared in schema)",
    ),
    (
        "rule.optionalOldSelf",
        30,
        "CRD validation ratcheting, beta and on by default in 1.30",
    ),
    // Fields of a CRD version.
    ("version.name", 16, "apiextensions/v1"),
    ("version.served", 16, "apiextensions/v1"),
    ("version.storage", 16, "apiextensions/v1"),
    ("version.schema", 16, "apiextensions/v1"),
    ("version.subresources", 16, "apiextensions/v1"),
    ("version.additionalPrinterColumns", 16, "apiextensions/v1"),
    ("version.deprecated", 19, "added in 1.19"),
    ("version.deprecationWarning", 19, "added in 1.19"),
    (
        "version.selectableFields",
        31,
        "CRD field selectors, beta and on by default in 1.31",
    ),
];

/// CEL functions newer than the rules themselves, with the release that added them.
const CEL_FUNCTIONS: &[(&str, u32)] = &[
    // The Kubernetes CEL libraries (lists, regex, URLs from 1.24; quantity 1.29; ip/cidr 1.30,
    // format 1.31) and CEL optionals (1.29).
    ("quantity(", 29),
    ("isQuantity(", 29),
    ("ip(", 30),
    ("isIP(", 30),
    ("cidr(", 30),
    ("isCIDR(", 30),
    (".format(", 31),
    ("?.", 29),
    ("optional.", 29),
];

/// The minimum minor version in `charts/drover/Chart.yaml`'s `kubeVersion` (`>=1.N...`).
fn chart_minimum() -> u32 {
    let chart = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/drover/Chart.yaml"))
        .expect("Chart.yaml");
    let line = chart
        .lines()
        .find_map(|l| l.strip_prefix("kubeVersion:"))
        .expect("Chart.yaml names a kubeVersion");
    let constraint = line.trim().trim_matches('"');
    let version = constraint
        .strip_prefix(">=")
        .unwrap_or_else(|| panic!("kubeVersion {constraint:?} is not a lower bound"));
    let mut parts = version.split(['.', '-']);
    assert_eq!(parts.next(), Some("1"), "{constraint}");
    parts
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no minor version in {constraint:?}"))
}

fn first_release(field: &str) -> Option<u32> {
    FIRST_RELEASE.iter().find(|(f, _, _)| *f == field).map(|&(_, v, _)| v)
}

/// Every schema keyword and rule field under `schema`, with where it is.
fn schema_fields(schema: &Value, at: &str, out: &mut Vec<(String, String)>) {
    let Some(object) = schema.as_object() else { return };
    for (key, value) in object {
        out.push((key.clone(), at.to_string()));
        match key.as_str() {
            "properties" => {
                for (name, sub) in value.as_object().into_iter().flatten() {
                    schema_fields(sub, &format!("{at}.{name}"), out);
                }
            }
            "items" | "additionalProperties" | "not" => schema_fields(value, &format!("{at}[]"), out),
            "anyOf" | "oneOf" | "allOf" => {
                for sub in value.as_array().into_iter().flatten() {
                    schema_fields(sub, at, out);
                }
            }
            "x-kubernetes-validations" => {
                for rule in value.as_array().into_iter().flatten() {
                    for field in rule.as_object().into_iter().flatten().map(|(k, _)| k) {
                        out.push((format!("rule.{field}"), at.to_string()));
                    }
                    let text = rule["rule"].as_str().unwrap_or_default();
                    for (function, since) in CEL_FUNCTIONS {
                        if text.contains(function) {
                            out.push((format!("cel {function} ({since})"), at.to_string()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

#[test]
fn the_chart_minimum_kubernetes_accepts_every_crd_field() {
    let minimum = chart_minimum();
    assert!(
        minimum >= 28,
        "the CRDs use fieldPath (1.28) but the chart says 1.{minimum}"
    );
    let mut too_new = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = BTreeMap::new();
    for crd in crds() {
        let kind = crd.spec.names.kind.clone();
        for version in &crd.spec.versions {
            let v = serde_json::to_value(version).unwrap();
            let mut fields = Vec::new();
            for key in v.as_object().unwrap().keys() {
                fields.push((format!("version.{key}"), kind.clone()));
            }
            schema_fields(&v["schema"]["openAPIV3Schema"], &kind, &mut fields);
            for (field, at) in fields {
                let since = if let Some(rest) = field.strip_prefix("cel ") {
                    rest.rsplit_once('(')
                        .and_then(|(_, v)| v.trim_end_matches(')').parse().ok())
                } else {
                    first_release(&field)
                };
                match since {
                    None => unknown.push(format!("{field} at {at}")),
                    Some(since) => {
                        seen.insert(field.clone(), since);
                        if since > minimum {
                            too_new.push(format!("{field} (1.{since}) at {at}"));
                        }
                    }
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "fields with no known first release (add them to FIRST_RELEASE): {unknown:#?}"
    );
    assert!(
        too_new.is_empty(),
        "the chart admits Kubernetes 1.{minimum} but the CRDs use newer fields: {too_new:#?}"
    );
    // The walk saw what the CRDs are known to carry (so it did not pass by reading nothing).
    for field in [
        "rule.fieldPath",
        "x-kubernetes-validations",
        "x-kubernetes-list-map-keys",
        "maxLength",
    ] {
        assert!(seen.contains_key(field), "{field} not found: {seen:?}");
    }
    // And the chart does not promise less than it could: the newest field used is what sets it.
    let newest = seen.values().copied().max().unwrap();
    assert_eq!(
        minimum, newest,
        "the chart's minimum 1.{minimum} is not the newest field's release 1.{newest}"
    );
}

#[test]
fn the_minimum_check_refuses_a_newer_field() {
    // A rule with optionalOldSelf (1.30) is caught against a 1.28 minimum.
    let schema = serde_json::json!({
        "type": "object",
        "x-kubernetes-validations": [{"rule": "self == oldSelf", "optionalOldSelf": true}]
    });
    let mut fields = Vec::new();
    schema_fields(&schema, "X", &mut fields);
    let newest = fields.iter().filter_map(|(f, _)| first_release(f)).max();
    assert_eq!(newest, Some(30));
}

// ---- CEL inputs ----

/// The tokens of a CEL expression: identifiers, and punctuation one character each; string
/// literals are dropped.
fn tokens(rule: &str) -> Vec<String> {
    let chars: Vec<char> = rule.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += usize::from(chars[i] == '\\') + 1;
            }
            i += 1;
            out.push("<string>".into());
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

const MACROS: &[&str] = &["all", "exists", "exists_one", "filter", "map"];

fn is_ident(t: &str) -> bool {
    t.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
}

/// The schema nodes whose values `rule` (at `scope`) reads, with their paths: every field chain
/// from `self` or a macro variable, except a chain that is only tested with `has()`.
fn reached(rule: &str, scope: &Value, at: &str) -> Vec<(String, Value)> {
    let t = tokens(rule);
    let mut vars: BTreeMap<String, (String, Value)> = BTreeMap::new();
    vars.insert("self".into(), (at.to_string(), scope.clone()));
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let starts = vars.contains_key(&t[i]) && (i == 0 || t[i - 1] != ".");
        if !starts {
            i += 1;
            continue;
        }
        let presence_only = i >= 2 && t[i - 2] == "has" && t[i - 1] == "(";
        let (mut path, mut node) = vars[&t[i]].clone();
        let mut j = i + 1;
        let mut called = false;
        while j + 1 < t.len() && t[j] == "." && is_ident(&t[j + 1]) {
            let name = &t[j + 1];
            if t.get(j + 2).map(String::as_str) == Some("(") {
                called = true;
                out.push((path.clone(), node.clone()));
                if MACROS.contains(&name.as_str())
                    && t.get(j + 3).is_some_and(|v| is_ident(v))
                    && t.get(j + 4).map(String::as_str) == Some(",")
                {
                    let items = node
                        .get("items")
                        .cloned()
                        .unwrap_or_else(|| panic!("rule {rule:?} iterates {path}, which is not a list"));
                    vars.insert(t[j + 3].clone(), (format!("{path}[]"), items));
                    // Past the variable's declaration, which is not a read.
                    j += 4;
                }
                break;
            }
            node = node["properties"]
                .get(name)
                .cloned()
                .unwrap_or_else(|| panic!("rule {rule:?} at {at} names {path}.{name}, which the schema lacks"));
            path = format!("{path}.{name}");
            j += 2;
        }
        let only_tested = presence_only && t.get(j).map(String::as_str) == Some(")");
        if !(called || only_tested) {
            out.push((path, node));
        }
        i = j;
    }
    out
}

/// Why `node` is not bounded for CEL, if it is not.
fn unbounded(node: &Value) -> Option<&'static str> {
    let has = |k: &str| node.get(k).is_some();
    match node["type"].as_str() {
        Some("string") if !has("maxLength") => Some("a string without maxLength"),
        Some("array") if !has("maxItems") => Some("a list without maxItems"),
        Some("object")
            if (has("additionalProperties") || node["x-kubernetes-preserve-unknown-fields"] == true)
                && !has("maxProperties") =>
        {
            Some("a map without maxProperties")
        }
        _ => None,
    }
}

/// Every rule under `schema`, with its location, the schema it applies to, and the lists around it.
fn rules<'a>(schema: &'a Value, at: &str, lists: &[(String, &'a Value)], out: &mut Vec<RuleAt<'a>>) {
    for rule in schema["x-kubernetes-validations"].as_array().into_iter().flatten() {
        out.push(RuleAt {
            at: at.to_string(),
            rule: rule["rule"].as_str().unwrap_or_default().to_string(),
            scope: schema,
            lists: lists.to_vec(),
        });
    }
    for (name, sub) in schema["properties"].as_object().into_iter().flatten() {
        rules(sub, &format!("{at}.{name}"), lists, out);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
            let mut lists = lists.to_vec();
            lists.push((at.to_string(), schema));
            rules(sub, &format!("{at}[]"), &lists, out);
        }
    }
}

struct RuleAt<'a> {
    at: String,
    rule: String,
    scope: &'a Value,
    lists: Vec<(String, &'a Value)>,
}

fn schemas() -> Vec<(String, Value)> {
    crds()
        .into_iter()
        .flat_map(|crd| {
            let kind = crd.spec.names.kind.clone();
            crd.spec.versions.into_iter().map(move |v| {
                (
                    kind.clone(),
                    serde_json::to_value(v.schema.unwrap().open_api_v3_schema).unwrap(),
                )
            })
        })
        .collect()
}

#[test]
fn every_cel_rule_reads_only_bounded_strings_lists_and_maps() {
    let mut problems = Vec::new();
    let mut read = Vec::new();
    let mut count = 0;
    for (kind, schema) in schemas() {
        let mut found = Vec::new();
        rules(&schema, &kind, &[], &mut found);
        for r in found {
            count += 1;
            // The rule runs once per element of every list around it.
            for (path, list) in &r.lists {
                if let Some(why) = unbounded(list) {
                    problems.push(format!("{}: {path} is {why} around {:?}", r.at, r.rule));
                }
            }
            for (path, node) in reached(&r.rule, r.scope, &r.at) {
                if let Some(why) = unbounded(&node) {
                    problems.push(format!("{path} is {why}, read by {:?} at {}", r.rule, r.at));
                }
                read.push(path);
            }
        }
    }
    assert!(problems.is_empty(), "unbounded CEL inputs: {problems:#?}");
    // The walk found the rules and the inputs the issue named (so it did not pass by reading nothing).
    assert!(count >= 15, "only {count} rules found");
    for path in [
        "AvailabilityGroup.spec.replicas[].serverName",
        "AvailabilityGroup.spec.forcedFailover.policy",
        "DrSite.spec.sites[].name",
        "DrSite.spec.components[].name",
        "PersistentChatPool.spec.chatDatabase",
        "PersistentChatPool.spec.primary.activeServers[]",
        "PersistentChatPool.spec.backup.mirrorInstance.serverName",
    ] {
        assert!(read.iter().any(|p| p == path), "{path} not seen as read: {read:#?}");
    }
}

#[test]
fn the_input_walk_sees_what_a_rule_reads_and_skips_presence_tests() {
    let scope = serde_json::json!({
        "type": "object",
        "properties": {
            "names": {"type": "array", "items": {"type": "string"}},
            "hooks": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "site": {"type": "string", "maxLength": 63}
        }
    });
    let read: Vec<String> = reached(
        "has(self.hooks) && self.names.all(n, n.lowerAscii() != self.site)",
        &scope,
        "X",
    )
    .into_iter()
    .map(|(p, _)| p)
    .collect();
    assert_eq!(read, ["X.names", "X.names[]", "X.site"]);
    let unbounded_read: Vec<String> = reached("self.names.all(n, n.lowerAscii() != self.site)", &scope, "X")
        .into_iter()
        .filter(|(_, n)| unbounded(n).is_some())
        .map(|(p, _)| p)
        .collect();
    assert_eq!(unbounded_read, ["X.names", "X.names[]"]);
}

// ---- integers ----

fn integers(schema: &Value, at: &str, out: &mut Vec<(String, Value)>) {
    if schema["type"] == "integer" {
        out.push((at.to_string(), schema.clone()));
    }
    for (name, sub) in schema["properties"].as_object().into_iter().flatten() {
        integers(sub, &format!("{at}.{name}"), out);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(sub) = schema.get(key).filter(|s| s.is_object()) {
            integers(sub, &format!("{at}[]"), out);
        }
    }
}

#[test]
fn every_integer_has_a_maximum_and_unsigned_ones_a_minimum() {
    let mut missing = Vec::new();
    let mut all = Vec::new();
    for (kind, schema) in schemas() {
        integers(&schema, &kind, &mut all);
    }
    for (path, node) in &all {
        if node.get("maximum").is_none() {
            missing.push(format!("{path}: no maximum"));
        }
        let unsigned = node["format"].as_str().is_some_and(|f| f.starts_with("uint"));
        if unsigned && node.get("minimum").is_none() {
            missing.push(format!("{path}: unsigned without minimum"));
        }
        // A maximum a float64 holds exactly, so the API server compares what was meant.
        if let Some(max) = node["maximum"].as_f64() {
            assert!(
                max <= 9_007_199_254_740_991.0,
                "{path}: maximum {max} is not exact in a float64"
            );
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    assert!(all.len() >= 20, "only {} integers found", all.len());
    // Spot checks: the spec's bounds are meaningful ones, the status' those of the Rust type.
    let max = |p: &str| {
        all.iter()
            .find(|(path, _)| path == p)
            .and_then(|(_, n)| n["maximum"].as_f64())
            .unwrap_or_else(|| panic!("{p} not found"))
    };
    assert_eq!(max("AvailabilityGroup.spec.forcedFailover.maxDataLossSeconds"), 86400.0);
    assert_eq!(max("DrSite.spec.components[].sites[].workload.replicas"), 1000.0);
    assert_eq!(max("DrSite.status.observedGeneration"), 9_007_199_254_740_991.0);
    assert_eq!(max("DrSite.status.transition.attempt"), f64::from(u32::MAX));
}
