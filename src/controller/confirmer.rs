//! Who gave a confirmation: the field manager that last wrote the annotation, read from
//! `metadata.managedFields` (`kubectl annotate` records itself as `kubectl-annotate`, a client
//! with its own manager name as that name), else `unknown`. And the Events about tokens.

use super::Event;
use crate::plan::confirm::{TokenNotice, event_text};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, ObjectMeta, Time};

pub use crate::plan::confirm::UNKNOWN;

fn owns(entry: &ManagedFieldsEntry, key: &str) -> bool {
    entry
        .fields_v1
        .as_ref()
        .and_then(|f| f.0.get("f:metadata"))
        .and_then(|m| m.get("f:annotations"))
        .and_then(|a| a.get(format!("f:{key}")))
        .is_some()
}

/// The field manager that owns annotation `key` (the most recent writer), or [`UNKNOWN`].
pub fn writer(meta: &ObjectMeta, key: &str) -> String {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|e| owns(e, key))
        .max_by_key(|e| e.time.as_ref().map(|t| t.0))
        .and_then(|e| e.manager.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| UNKNOWN.to_string())
}

/// The annotation's value and its writer, when it is set.
pub fn given(meta: &ObjectMeta, key: &str) -> Option<(String, String)> {
    let value = meta.annotations.as_ref()?.get(key)?.clone();
    Some((value, writer(meta, key)))
}

/// Sets annotation `key` as `manager` would with an update: the value, and `manager`'s
/// managed-fields entry owning it (what the API server records; used by the in-memory API and
/// the demo, which stand for a person's `kubectl annotate`).
pub fn annotate(meta: &mut ObjectMeta, key: &str, value: &str, manager: &str, now: jiff::Timestamp) {
    meta.annotations
        .get_or_insert_with(Default::default)
        .insert(key.to_string(), value.to_string());
    let fields = meta.managed_fields.get_or_insert_with(Vec::new);
    for e in fields.iter_mut() {
        if let Some(FieldsV1(serde_json::Value::Object(root))) = e.fields_v1.as_mut()
            && let Some(serde_json::Value::Object(m)) = root.get_mut("f:metadata")
            && let Some(serde_json::Value::Object(a)) = m.get_mut("f:annotations")
        {
            a.remove(&format!("f:{key}"));
        }
    }
    let owned = serde_json::json!({ "f:metadata": { "f:annotations": { format!("f:{key}"): {} } } });
    fields.push(ManagedFieldsEntry {
        manager: Some(manager.to_string()),
        operation: Some("Update".into()),
        api_version: Some("drover.dev/v1alpha1".into()),
        fields_type: Some("FieldsV1".into()),
        fields_v1: Some(FieldsV1(owned)),
        time: Some(Time(now)),
        subresource: None,
    });
}

/// The Event about a token for `what`.
pub fn event(notice: &TokenNotice, what: &str, annotation: &str, by: &str) -> Event {
    let (warning, reason, note) = event_text(notice, what, annotation, by);
    if warning {
        Event::warning(reason, note)
    } else {
        Event::normal(reason, note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_is_the_manager_owning_the_annotation() {
        let mut meta = ObjectMeta::default();
        assert_eq!(given(&meta, "drover.dev/confirm-discard"), None);
        let t0 = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        annotate(&mut meta, "other", "x", "argocd-controller", t0);
        meta.annotations
            .get_or_insert_with(Default::default)
            .insert("drover.dev/confirm-discard".into(), "abc".into());
        assert_eq!(
            given(&meta, "drover.dev/confirm-discard"),
            Some(("abc".into(), UNKNOWN.into()))
        );
        annotate(&mut meta, "drover.dev/confirm-discard", "abc", "kubectl-annotate", t0);
        annotate(
            &mut meta,
            "drover.dev/confirm-discard",
            "def",
            "alice-client",
            t0 + jiff::SignedDuration::from_secs(5),
        );
        assert_eq!(
            given(&meta, "drover.dev/confirm-discard"),
            Some(("def".into(), "alice-client".into()))
        );
        assert_eq!(writer(&meta, "other"), "argocd-controller");
    }
}
