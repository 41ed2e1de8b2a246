//! Reading a user's own drover YAML: every document of every file, typed by its
//! `kind`, checked field by field and by each kind's `validate()`. Every problem
//! names its file and the field at fault: `FILE: Kind/name: field.path: message`.
//! Documents of other API groups (the Secrets and Namespaces an example carries)
//! are skipped and said so.

use crate::api::SpecError;
use crate::api::availability_group::{self, AvailabilityGroup};
use crate::api::dr_site::{self, DrSite};
use crate::api::persistent_chat_pool::{self, PersistentChatPool};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// The API version drover serves.
pub const API_VERSION: &str = "drover.dev/v1alpha1";

/// One drover resource read from a file (boxed: the kinds differ much in size).
#[derive(Debug, Clone)]
pub enum Resource {
    AvailabilityGroup(Box<AvailabilityGroup>),
    PersistentChatPool(Box<PersistentChatPool>),
    DrSite(Box<DrSite>),
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AvailabilityGroup(_) => "AvailabilityGroup",
            Self::PersistentChatPool(_) => "PersistentChatPool",
            Self::DrSite(_) => "DrSite",
        }
    }

    pub fn name(&self) -> &str {
        let meta = match self {
            Self::AvailabilityGroup(r) => &r.metadata,
            Self::PersistentChatPool(r) => &r.metadata,
            Self::DrSite(r) => &r.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }
}

/// A resource and the file it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub file: PathBuf,
    pub resource: Resource,
}

/// One problem with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    /// `Kind/name`, or `document N` when the document has no usable kind or name.
    pub object: Option<String>,
    /// The field path (`spec.replicas[0].site`), when the problem is in one field.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// What the files held.
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub resources: Vec<Loaded>,
    /// Documents that are not drover's (`FILE: Kind/name`), skipped.
    pub skipped: Vec<String>,
}

/// Reads, types and validates every document of `files`. Any problem in any file fails the
/// whole load: the caller must not act on half of a topology.
pub fn load(files: &[PathBuf]) -> Result<Input, Vec<LoadError>> {
    let mut input = Input::default();
    let mut errors = Vec::new();
    for file in files {
        match std::fs::read_to_string(file) {
            Ok(text) => load_text(file, &text, &mut input, &mut errors),
            Err(e) => errors.push(LoadError {
                file: file.clone(),
                object: None,
                field: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    duplicates(&input.resources, &mut errors);
    if errors.is_empty() { Ok(input) } else { Err(errors) }
}

/// The documents of one file's `text`.
pub fn load_text(file: &Path, text: &str, input: &mut Input, errors: &mut Vec<LoadError>) {
    let error = |object: Option<String>, field: Option<String>, message: String| LoadError {
        file: file.to_path_buf(),
        object,
        field,
        message,
    };
    let docs: Vec<Value> = match serde_saphyr::from_multiple(text) {
        Ok(docs) => docs,
        Err(e) => {
            errors.push(error(None, None, format!("not valid YAML: {e}")));
            return;
        }
    };
    // Empty documents (a leading `---`, a trailing one) are not resources.
    for (n, doc) in docs.into_iter().enumerate().filter(|(_, d)| !d.is_null()) {
        let whence = format!("document {}", n + 1);
        let Value::Object(map) = &doc else {
            errors.push(error(Some(whence), None, "not a mapping (a Kubernetes object)".into()));
            continue;
        };
        let text_of = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_string);
        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let Some(kind) = text_of("kind") else {
            errors.push(error(Some(whence), Some("kind".into()), "missing".into()));
            continue;
        };
        let object = format!("{kind}/{}", name.as_deref().unwrap_or("?"));
        let api_version = text_of("apiVersion").unwrap_or_default();
        if !api_version.starts_with("drover.dev/") {
            input.skipped.push(format!("{}: {object}", file.display()));
            continue;
        }
        if api_version != API_VERSION {
            errors.push(error(
                Some(object),
                Some("apiVersion".into()),
                format!("{api_version:?} is not served; use {API_VERSION:?}"),
            ));
            continue;
        }
        if name.as_deref().is_none_or(str::is_empty) {
            errors.push(error(Some(object), Some("metadata.name".into()), "missing".into()));
            continue;
        }
        let typed = match kind.as_str() {
            "AvailabilityGroup" => typed::<AvailabilityGroup>(&doc).map(|r| {
                let mut problems = availability_group::validate(&r.spec);
                problems.extend(refused_jobs(&crate::components::jobs::ag_templates(&r.spec)));
                (Resource::AvailabilityGroup(Box::new(r)), problems)
            }),
            "PersistentChatPool" => typed::<PersistentChatPool>(&doc).map(|r| {
                let mut problems = persistent_chat_pool::validate(&r.spec);
                problems.extend(refused_jobs(&crate::components::jobs::pool_templates(&r.spec)));
                (Resource::PersistentChatPool(Box::new(r)), problems)
            }),
            "DrSite" => typed::<DrSite>(&doc).map(|r| {
                let mut problems = dr_site::validate(&r.spec);
                problems.extend(refused_jobs(&crate::components::jobs::drsite_templates(&r.spec)));
                (Resource::DrSite(Box::new(r)), problems)
            }),
            other => {
                errors.push(error(
                    Some(object),
                    Some("kind".into()),
                    format!("unknown kind {other:?} (drover serves AvailabilityGroup, PersistentChatPool and DrSite)"),
                ));
                continue;
            }
        };
        match typed {
            Ok((resource, problems)) if problems.is_empty() => input.resources.push(Loaded {
                file: file.to_path_buf(),
                resource,
            }),
            Ok((_, problems)) => errors.extend(
                problems
                    .into_iter()
                    .map(|SpecError { field, message }| error(Some(object.clone()), Some(field), message)),
            ),
            Err(problems) => errors.extend(
                problems
                    .into_iter()
                    .map(|(field, message)| error(Some(object.clone()), Some(field), message)),
            ),
        }
    }
}

/// `doc` as a `T`: a type error names the field's path; a field `T` does not have (a typo that
/// would otherwise be dropped silently) is an error at its path too.
fn typed<T: DeserializeOwned + Serialize>(doc: &Value) -> Result<T, Vec<(String, String)>> {
    let value: T = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "(document)".to_string() } else { path };
        let mut message = e.into_inner().to_string();
        if message.starts_with("invalid type: boolean") {
            // YAML 1.1 reads an unquoted Off, On, Yes or No as a boolean.
            message.push_str(" (an unquoted Off/On/Yes/No is a boolean in YAML: quote it, e.g. \"Off\")");
        }
        vec![(field, message)]
    })?;
    let back = serde_json::to_value(&value).map_err(|e| vec![("(document)".to_string(), e.to_string())])?;
    let mut unknown = Vec::new();
    unknown_fields(doc, &back, "", &mut unknown);
    if unknown.is_empty() {
        Ok(value)
    } else {
        Err(unknown
            .into_iter()
            .map(|path| (path, "unknown field (misspelt?)".to_string()))
            .collect())
    }
}

/// The paths of keys in `given` that `typed` (its round trip through the Rust type) lost.
fn unknown_fields(given: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (given, typed) {
        (Value::Object(g), Value::Object(t)) => {
            for (k, v) in g {
                match t.get(k) {
                    Some(tv) => unknown_fields(v, tv, &join(k), out),
                    // An explicit `null` for an optional field is dropped on the way back, not lost.
                    None if v.is_null() => {}
                    None => out.push(join(k)),
                }
            }
        }
        (Value::Array(g), Value::Array(t)) => {
            for (i, (gv, tv)) in g.iter().zip(t).enumerate() {
                unknown_fields(gv, tv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// The same kind and name twice (in one namespace) is ambiguous.
fn duplicates(resources: &[Loaded], errors: &mut Vec<LoadError>) {
    for (i, a) in resources.iter().enumerate() {
        let clash = resources[..i].iter().find(|b| {
            b.resource.kind() == a.resource.kind()
                && b.resource.name() == a.resource.name()
                && namespace(&b.resource) == namespace(&a.resource)
        });
        if let Some(first) = clash {
            errors.push(LoadError {
                file: a.file.clone(),
                object: Some(format!("{}/{}", a.resource.kind(), a.resource.name())),
                field: Some("metadata.name".into()),
                message: format!("also declared in {}", first.file.display()),
            });
        }
    }
}

/// The resource's namespace, if the file gives one.
pub fn namespace(resource: &Resource) -> Option<&str> {
    match resource {
        Resource::AvailabilityGroup(r) => r.metadata.namespace.as_deref(),
        Resource::PersistentChatPool(r) => r.metadata.namespace.as_deref(),
        Resource::DrSite(r) => r.metadata.namespace.as_deref(),
    }
}

/// The Job-template rules the operator applies (`components::jobs::check`), with its default
/// policy: no ServiceAccount allowed (the files say nothing about the operator's flags).
fn refused_jobs(
    templates: &[(String, &k8s_openapi::api::batch::v1::JobTemplateSpec)],
) -> Vec<crate::api::availability_group::SpecError> {
    crate::components::jobs::check_all(templates, &crate::components::jobs::JobPolicy::default())
        .into_iter()
        .map(|r| crate::api::availability_group::SpecError {
            field: r.field,
            message: r.message,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_of(text: &str) -> Vec<String> {
        let mut input = Input::default();
        let mut errors = Vec::new();
        load_text(Path::new("my.yaml"), text, &mut input, &mut errors);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_wrong_type_names_the_file_object_and_field_path() {
        let errors = errors_of(
            "apiVersion: drover.dev/v1alpha1\nkind: AvailabilityGroup\nmetadata: {name: ag}\nspec:\n  groupName: g\n  databases: [a]\n  primarySite: x\n  credentials: {secretName: s}\n  replicas:\n  - serverName: A\n    site: x\n    endpoint: {host: h, port: not-a-port}\n",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("my.yaml: AvailabilityGroup/ag: spec.replicas[0].endpoint.port: "),
            "{errors:?}"
        );
    }

    #[test]
    fn an_unquoted_off_gets_a_hint() {
        let errors = errors_of(
            "apiVersion: drover.dev/v1alpha1\nkind: AvailabilityGroup\nmetadata: {name: ag}\nspec:\n  tls: {encryption: Off}\n",
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("my.yaml: AvailabilityGroup/ag: spec.tls.encryption: invalid type: boolean"),
            "{errors:?}"
        );
        assert!(errors[0].contains("quote it"), "{errors:?}");
    }

    #[test]
    fn unknown_fields_kinds_and_bad_yaml_are_errors_and_other_groups_are_skipped() {
        let errors = errors_of("kind: [unclosed\n");
        assert!(errors[0].starts_with("my.yaml: not valid YAML"), "{errors:?}");
        let errors = errors_of("apiVersion: drover.dev/v1alpha1\nkind: Widget\nmetadata: {name: w}\n");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("my.yaml: Widget/w: kind: unknown kind"),
            "{errors:?}"
        );
        let errors =
            errors_of("apiVersion: drover.dev/v1alpha1\nkind: DrSite\nmetadata: {name: d}\nspec:\n  activSite: a\n");
        assert!(
            errors.iter().any(|e| e.starts_with("my.yaml: DrSite/d: spec")),
            "{errors:?}"
        );

        let mut input = Input::default();
        let mut errors = Vec::new();
        load_text(
            Path::new("my.yaml"),
            "---\napiVersion: v1\nkind: Secret\nmetadata: {name: login}\n---\n",
            &mut input,
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(input.skipped, vec!["my.yaml: Secret/login".to_string()]);
    }

    #[test]
    fn a_misspelt_field_is_reported_at_its_path() {
        let mut out = Vec::new();
        let given = serde_json::json!({"spec": {"replicas": [{"site": "a", "sitee": "b"}], "x": null}});
        let typed = serde_json::json!({"spec": {"replicas": [{"site": "a"}]}});
        unknown_fields(&given, &typed, "", &mut out);
        assert_eq!(out, vec!["spec.replicas[0].sitee".to_string()]);
    }

    #[test]
    fn every_example_loads_and_the_same_resource_twice_is_an_error() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut kinds = Vec::new();
        for name in [
            "availability-group.yaml",
            "contact-center-framework.yaml",
            "persistent-chat.yaml",
        ] {
            let input = load(&[dir.join(name)])
                .unwrap_or_else(|e| panic!("{:?}", e.iter().map(ToString::to_string).collect::<Vec<_>>()));
            assert!(!input.skipped.is_empty(), "{name}: its Secrets are skipped, not errors");
            kinds.extend(input.resources.iter().map(|r| r.resource.kind()));
        }
        for kind in ["AvailabilityGroup", "PersistentChatPool", "DrSite"] {
            assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
        }
        // Both files declare contact-center/cc-ag.
        let errors = load(&[
            dir.join("availability-group.yaml"),
            dir.join("contact-center-framework.yaml"),
        ])
        .expect_err("declared twice");
        let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0]
                .contains("contact-center-framework.yaml: AvailabilityGroup/cc-ag: metadata.name: also declared in"),
            "{errors:?}"
        );
    }
}
