//! The Helm chart's static files (helm is not available here, so nothing is
//! rendered): Chart.yaml, values.yaml and values.schema.json parse and agree
//! key for key; the defaults satisfy the schema; the templates' `{{ }}` balance
//! and name only values that exist; the RBAC grants exactly the catalogue of API
//! calls in `drover::controller::rbac`; the CRD copies are `crds/`'s.

mod common;

use common::schema;
use drover::controller::rbac::{API_CALLS, Scope};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/drover")
}

fn read(relative: &str) -> String {
    let path = chart().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(relative: &str) -> Value {
    serde_saphyr::from_str(&read(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn values() -> Value {
    yaml("values.yaml")
}

fn values_schema() -> Value {
    serde_json::from_str(&read("values.schema.json")).expect("values.schema.json parses")
}

/// The files under `templates/`, by name.
fn templates() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(chart().join("templates"))
        .expect("templates/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .map(|name| {
            let text = read(&format!("templates/{name}"));
            (name, text)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn chart_yaml_is_a_v2_chart_of_this_version() {
    let chart = yaml("Chart.yaml");
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(chart["name"], "drover");
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "appVersion is the crate's version"
    );
    let version = chart["version"].as_str().expect("a version");
    assert_eq!(version.split('.').count(), 3, "semver: {version}");
    assert!(
        version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "semver: {version}"
    );
}

#[test]
fn every_value_is_described_in_the_schema_and_every_schema_key_has_a_default() {
    let schema = values_schema();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let problems = schema::undescribed(&values(), &schema, "");
    assert!(
        problems.is_empty(),
        "values.yaml vs values.schema.json:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_key_walk_reports_a_missing_or_extra_key() {
    let schema = json!({"type": "object", "additionalProperties": false, "properties": {
        "a": {"description": "A.", "type": "integer"},
        "b": {"type": "object", "properties": {"c": {"description": "C.", "type": "string"}}}
    }});
    let problems = schema::undescribed(&json!({"a": 1, "b": {"c": "x", "d": 2}, "e": true}), &schema, "");
    assert!(problems.iter().any(|p| p.contains("b.d")), "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("e")), "{problems:?}");
    assert!(
        problems.iter().any(|p| p.contains("b") && p.contains("description")),
        "{problems:?}"
    );
    let problems = schema::undescribed(&json!({"b": {"c": "x"}}), &schema, "");
    assert_eq!(
        problems,
        [
            "b: no description in the schema",
            "a: in the schema, no default in values.yaml"
        ]
    );
}

#[test]
fn the_defaults_satisfy_the_schema() {
    let errors = schema::validate(&values(), &values_schema(), "");
    assert!(
        errors.is_empty(),
        "values.yaml against values.schema.json:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_schema_refuses_what_helm_should_refuse() {
    let schema = values_schema();
    let refused = |path: &[&str], bad: Value| {
        let mut v = values();
        let mut at = &mut v;
        for key in &path[..path.len() - 1] {
            at = &mut at[*key];
        }
        at[path[path.len() - 1]] = bad.clone();
        let errors = schema::validate(&v, &schema, "");
        assert!(!errors.is_empty(), "{path:?} = {bad} was accepted");
    };
    refused(&["replicaCount"], json!("two"));
    refused(&["replicaCount"], json!(0));
    refused(&["logFormat"], json!("xml"));
    refused(&["confirmationTtlSeconds"], json!(0));
    refused(&["confirmationTtlSeconds"], json!("15m"));
    refused(&["image", "pullPolicy"], json!("Sometimes"));
    refused(&["watchNamespaces"], json!("team-a"));
    refused(&["watchNamespaces"], json!(["team-a", "team-a"]));
    refused(&["metrics", "port"], json!(70000));
    refused(&["leaderElection", "enabled"], json!("yes"));
    refused(&["leaderElection", "leaseName"], json!("x"));
    refused(&["replicas"], json!(2));
}

#[test]
fn the_defaults_are_hardened_and_highly_available() {
    let v = values();
    assert_eq!(v["replicaCount"], 2);
    assert_eq!(v["leaderElection"]["enabled"], true);
    assert_eq!(v["watchNamespaces"], json!([]));
    for context in ["podSecurityContext", "securityContext"] {
        let c = &v[context];
        assert_eq!(c["runAsNonRoot"], true, "{context}");
        assert_eq!(c["runAsUser"], 65532, "{context}");
        assert_eq!(c["seccompProfile"]["type"], "RuntimeDefault", "{context}");
    }
    let c = &v["securityContext"];
    assert_eq!(c["readOnlyRootFilesystem"], true);
    assert_eq!(c["allowPrivilegeEscalation"], false);
    assert_eq!(c["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(v["podDisruptionBudget"]["minAvailable"], 1);
}

#[test]
fn template_delimiters_balance() {
    for (name, text) in templates() {
        if let Err(e) = balanced(&text) {
            panic!("templates/{name}: {e}");
        }
    }
    assert!(balanced("a {{ .x }} b {{- .y -}}").is_ok());
    assert!(balanced("a {{ .x b").is_err());
    assert!(balanced("a .x }} b").is_err());
    assert!(balanced("{{ {{ .x }} }}").is_err());
}

/// Every `{{` closes with `}}` before the next `{{`; no `}}` without its `{{`.
fn balanced(text: &str) -> Result<(), String> {
    let mut rest = text;
    let mut line = 1;
    loop {
        let open = rest.find("{{");
        let close = rest.find("}}");
        match (open, close) {
            (None, None) => return Ok(()),
            (None, Some(_)) => return Err(format!("line {line}: `}}}}` without `{{{{`")),
            (Some(o), Some(c)) if c < o => return Err(format!("line {line}: `}}}}` without `{{{{`")),
            (Some(_), None) => return Err(format!("line {line}: `{{{{` never closed")),
            (Some(o), Some(c)) => {
                if rest[o + 2..c].contains("{{") {
                    return Err(format!("line {line}: `{{{{` inside an action"));
                }
                line += rest[..c].matches('\n').count();
                rest = &rest[c + 2..];
            }
        }
    }
}

#[test]
fn templates_name_only_values_that_exist() {
    let v = values();
    let mut missing = Vec::new();
    let mut seen = 0;
    for (name, text) in templates() {
        for path in values_paths(&text) {
            seen += 1;
            let exists = path.split('.').try_fold(&v, |at, key| at.get(key)).is_some();
            if !exists {
                missing.push(format!("templates/{name}: .Values.{path}"));
            }
        }
    }
    assert!(missing.is_empty(), "not in values.yaml: {missing:?}");
    assert!(seen > 30, "the scan found only {seen} references");
    assert_eq!(
        values_paths("{{ .Values.a.b }} {{ $.Values.c | quote }} {{- with .Values.d.e.f }}"),
        ["a.b", "c", "d.e.f"]
    );
}

/// The `x.y` of every `.Values.x.y` in `text`.
fn values_paths(text: &str) -> Vec<String> {
    text.match_indices(".Values.")
        .map(|(i, m)| {
            let tail = &text[i + m.len()..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(tail.len());
            tail[..end].trim_end_matches('.').to_string()
        })
        .collect()
}

#[test]
fn the_deployment_runs_the_operator_as_the_issue_asks() {
    let deployment = read("templates/deployment.yaml");
    for needle in [
        "- run",
        "{{- range .Values.watchNamespaces }}",
        "- --namespace",
        "- --leader-election={{ .Values.leaderElection.enabled }}",
        "- --lease-namespace\n            - {{ .Release.Namespace | quote }}",
        "- --metrics-addr\n            - \"0.0.0.0:{{ .Values.metrics.port }}\"",
        "- --log-format\n            - {{ .Values.logFormat | quote }}",
        "- --confirmation-ttl-seconds\n            - {{ .Values.confirmationTtlSeconds | quote }}",
        "- name: RUST_LOG\n              value: {{ .Values.logLevel | quote }}",
        "- name: POD_NAME",
        "fieldPath: metadata.name",
        "- name: POD_NAMESPACE",
        "fieldPath: metadata.namespace",
        "- name: http-metrics",
        "path: /healthz",
        "path: /readyz",
        "replicas: {{ .Values.replicaCount }}",
    ] {
        assert!(deployment.contains(needle), "deployment.yaml lacks {needle:?}");
    }
}

#[test]
fn files_the_templates_embed_exist() {
    for (name, text) in templates() {
        for (i, m) in text.match_indices(".Files.Get \"") {
            let tail = &text[i + m.len()..];
            let file = &tail[..tail.find('"').expect("closing quote")];
            assert!(
                chart().join(file).is_file(),
                "templates/{name} embeds {file}, which is missing"
            );
        }
    }
}

#[test]
fn the_chart_crds_are_the_repository_crds() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(names(&chart().join("crds")), names(&repo), "the same CRD files");
    for name in names(&repo) {
        let ours = std::fs::read(repo.join(&name)).expect("crds/");
        let chart_copy = std::fs::read(chart().join("crds").join(&name)).expect("charts/drover/crds/");
        assert!(
            ours == chart_copy,
            "charts/drover/crds/{name} differs from crds/{name}; regenerate both with \
             DROVER_WRITE_CRDS=1 cargo test --test crds_current"
        );
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
    verbs: Vec<String>,
}

type Triple = (String, String, String);

/// The rules of an RBAC template: the text after its `rules:` line, up to the closing
/// `{{- end }}`, which must hold no template directive. Checks each rule has a comment above it.
fn rules(template: &str) -> BTreeSet<Triple> {
    let text = read(&format!("templates/{template}"));
    let start = text
        .find("\nrules:\n")
        .unwrap_or_else(|| panic!("{template}: no `rules:` line"));
    let block = text[start + "\nrules:\n".len()..].trim_end();
    let block = block.strip_suffix("{{- end }}").unwrap_or(block);
    assert!(!block.contains("{{"), "{template}: the rules hold a template directive");
    let lines: Vec<&str> = block.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim_start().starts_with("- apiGroups:") {
            let above = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
            assert!(
                above.is_some_and(|l| l.trim_start().starts_with('#')),
                "{template}: the rule {line:?} has no comment saying why"
            );
        }
    }
    let parsed: Vec<Rule> = serde_saphyr::from_str(block).unwrap_or_else(|e| panic!("{template}: rules: {e}"));
    let mut triples = BTreeSet::new();
    for rule in parsed {
        // A rule narrowed to names may only name the operator's own Lease, as `drover run` calls it.
        for name in &rule.resource_names {
            assert_eq!(
                (rule.resources.as_slice(), name.as_str()),
                (
                    ["leases".to_string()].as_slice(),
                    drover::runtime::lease::DEFAULT_LEASE_NAME
                ),
                "{template}: resourceNames must match the Lease drover uses"
            );
        }
        for group in &rule.api_groups {
            for resource in &rule.resources {
                for verb in &rule.verbs {
                    triples.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    triples
}

fn catalogue(scope: Scope) -> BTreeSet<Triple> {
    API_CALLS
        .iter()
        .filter(|c| c.scope == scope)
        .flat_map(|c| {
            c.verbs
                .iter()
                .map(|v| (c.group.to_string(), c.resource.to_string(), v.to_string()))
        })
        .collect()
}

/// Both directions, each with its own message.
fn same_grants(what: &str, granted: &BTreeSet<Triple>, called: &BTreeSet<Triple>) {
    let show = |set: Vec<&Triple>| {
        set.iter()
            .map(|(g, r, v)| format!("{v} {}/{r}", if g.is_empty() { "core" } else { g }))
            .collect::<Vec<_>>()
    };
    let unused = show(granted.difference(called).collect());
    let ungranted = show(called.difference(granted).collect());
    assert!(
        unused.is_empty(),
        "{what} grants what drover never calls (not in rbac::API_CALLS): {unused:?}"
    );
    assert!(
        ungranted.is_empty(),
        "drover calls what {what} does not grant (rbac::API_CALLS): {ungranted:?}"
    );
}

#[test]
fn the_cluster_role_grants_exactly_the_calls_the_code_makes() {
    same_grants(
        "the ClusterRole",
        &rules("clusterrole.yaml"),
        &catalogue(Scope::Cluster),
    );
}

#[test]
fn the_namespace_reader_grants_exactly_the_cluster_scoped_calls() {
    same_grants(
        "the namespace-reader ClusterRole",
        &rules("namespace-reader.yaml"),
        &catalogue(Scope::ClusterScoped),
    );
}

#[test]
fn with_watch_namespaces_the_rules_are_bound_per_namespace_not_cluster_wide() {
    let cluster = read("templates/clusterrolebinding.yaml");
    assert!(
        cluster.starts_with("{{- if and .Values.rbac.create (not .Values.watchNamespaces) }}"),
        "the ClusterRoleBinding only when every namespace is watched:\n{cluster}"
    );
    let per_ns = read("templates/rolebindings-watched.yaml");
    for needle in [
        "{{- if and .Values.rbac.create .Values.watchNamespaces }}",
        "{{- range .Values.watchNamespaces }}",
        "kind: RoleBinding\n",
        "  namespace: {{ . }}\n",
        "  kind: ClusterRole\n  name: {{ include \"drover.fullname\" $ }}\n",
    ] {
        assert!(per_ns.contains(needle), "{needle:?} not in\n{per_ns}");
    }
    assert!(!per_ns.contains("ClusterRoleBinding"), "{per_ns}");
}

#[test]
fn the_lease_role_grants_exactly_the_leader_election_calls() {
    same_grants(
        "the leader-election Role",
        &rules("role.yaml"),
        &catalogue(Scope::ReleaseNamespace),
    );
    let role = read("templates/role.yaml");
    assert!(role.contains("kind: Role\n"), "a namespaced Role");
    assert!(
        role.contains("namespace: {{ .Release.Namespace }}"),
        "in the release namespace"
    );
}

#[test]
fn a_grant_missing_or_extra_is_reported() {
    let granted: BTreeSet<Triple> = [("apps".into(), "deployments".into(), "get".into())].into();
    let called: BTreeSet<Triple> = [("apps".into(), "deployments".into(), "patch".into())].into();
    let extra = std::panic::catch_unwind(|| same_grants("X", &granted, &called)).expect_err("differs");
    let text = extra.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("get apps/deployments") && text.contains("never calls"),
        "{text}"
    );
    let missing = std::panic::catch_unwind(|| same_grants("X", &called, &called.union(&granted).cloned().collect()))
        .expect_err("differs");
    let text = missing.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("get apps/deployments") && text.contains("does not grant"),
        "{text}"
    );
}

/// templates/desired-site-policy.yaml with its few template actions filled in as helm would for
/// release `drover` in namespace `drover-system` with the default values (and the policy on): the
/// two documents, parsed.
fn desired_site_policy() -> (Value, Value) {
    let text = read("templates/desired-site-policy.yaml");
    let v = values();
    let actions = serde_saphyr::to_string(&v["desiredSiteAdmissionPolicy"]["validationActions"]).expect("yaml");
    let indented: String = actions.lines().map(|l| format!("\n    {l}")).collect();
    let comment_start = text.find("{{- /*").expect("the template's comment");
    let comment_end = text.find("*/}}").expect("its end") + "*/}}".len();
    let text = format!("{}{}", &text[..comment_start], &text[comment_end..]);
    let rendered = text
        .replace("{{- if .Values.desiredSiteAdmissionPolicy.enabled }}", "")
        .replace("{{- end }}", "")
        .replace("{{ include \"drover.fullname\" . }}", "drover")
        .replace("{{ include \"drover.serviceAccountName\" . }}", "drover")
        .replace("{{ .Release.Namespace }}", "drover-system")
        .replace(
            "\n    {{- include \"drover.labels\" . | nindent 4 }}",
            "\n    app.kubernetes.io/name: drover",
        )
        .replace(
            "\n    {{- toYaml .Values.desiredSiteAdmissionPolicy.validationActions | nindent 4 }}",
            &indented,
        );
    assert!(!rendered.contains("{{"), "an action left unrendered:\n{rendered}");
    let docs: Vec<&str> = rendered.split("\n---\n").collect();
    let [policy, binding] = docs[..] else {
        panic!("two documents: {rendered}")
    };
    let parse = |d: &str| -> Value { serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}:\n{d}")) };
    (parse(policy), parse(binding))
}

#[test]
fn the_desired_site_admission_policy_is_off_by_default_and_guards_both_fields() {
    let v = values();
    assert_eq!(v["desiredSiteAdmissionPolicy"]["enabled"], false, "off by default");
    assert_eq!(v["desiredSiteAdmissionPolicy"]["validationActions"], json!(["Deny"]));
    let text = read("templates/desired-site-policy.yaml");
    assert!(
        text.starts_with("{{- if .Values.desiredSiteAdmissionPolicy.enabled }}"),
        "rendered only when enabled"
    );
    let (policy, binding) = desired_site_policy();
    assert_eq!(policy["apiVersion"], "admissionregistration.k8s.io/v1");
    assert_eq!(policy["kind"], "ValidatingAdmissionPolicy");
    assert_eq!(binding["apiVersion"], "admissionregistration.k8s.io/v1");
    assert_eq!(binding["kind"], "ValidatingAdmissionPolicyBinding");
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    let spec = &policy["spec"];
    assert_eq!(spec["failurePolicy"], "Fail");
    let rule = &spec["matchConstraints"]["resourceRules"][0];
    assert_eq!(rule["apiGroups"], json!(["drover.dev"]));
    assert_eq!(rule["operations"], json!(["UPDATE"]));
    assert_eq!(rule["resources"], json!(["availabilitygroups", "persistentchatpools"]));
    // The label the DrSite sets with its apply of a child's desired site.
    assert_eq!(
        spec["matchConstraints"]["objectSelector"]["matchExpressions"],
        json!([{"key": drover::components::LABEL_DRSITE, "operator": "Exists"}])
    );
    assert_eq!(
        spec["variables"][0]["expression"],
        "request.userInfo.username == 'system:serviceaccount:drover-system:drover'"
    );
    let expressions: Vec<&str> = spec["validations"]
        .as_array()
        .expect("validations")
        .iter()
        .map(|v| v["expression"].as_str().expect("an expression"))
        .collect();
    assert_eq!(expressions.len(), 3, "{expressions:?}");
    for (e, resource, field) in [
        (expressions[0], "availabilitygroups", "primarySite"),
        (expressions[1], "persistentchatpools", "activeSite"),
    ] {
        assert!(e.starts_with("variables.drover || "), "{e}");
        assert!(e.contains(&format!("request.resource.resource != '{resource}'")), "{e}");
        for part in [
            format!("object.spec.{field} == oldObject.spec.{field}"),
            format!("!has(oldObject.spec.{field})"),
        ] {
            assert!(e.contains(&part), "{part:?} not in {e}");
        }
    }
    assert!(expressions[2].contains(&format!(
        "'{}' in oldObject.metadata.labels",
        drover::components::LABEL_DRSITE
    )));
    // The fields it guards are the CRDs' desired-site fields.
    for (crd, field) in [
        ("availabilitygroups.drover.dev.yaml", "primarySite"),
        ("persistentchatpools.drover.dev.yaml", "activeSite"),
    ] {
        let crd = yaml(&format!("crds/{crd}"));
        let props = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
        assert!(props[field].is_object(), "{crd} has no spec.{field}");
    }
}
