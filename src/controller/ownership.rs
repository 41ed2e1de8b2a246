//! One writer per desired site: while a DrSite lists a child (an AvailabilityGroup, a
//! PersistentChatPool), the child acts on its desired site (`spec.primarySite`,
//! `spec.activeSite`) only when the DrSite's field manager ([`DRSITE_FIELD_MANAGER`]) is among
//! the field's owners in `metadata.managedFields`. A value only someone else wrote (a person, a
//! GitOps tool re-applying Git) is not acted on: the child stays where it is and, when that value
//! would move it, reports a Conflict naming the writers.
//!
//! Whether a child is listed is decided by looking up the DrSites of its namespace that name it
//! (never by a label on the child, which anyone who can edit the child can remove).

use super::{DRSITE_FIELD_MANAGER, Port, PortError};
use crate::api::conditions::{CONFLICT, Desired, merge};
use crate::api::dr_site::DrSite;
use crate::plan::drsite::ChildKind;
use crate::plan::drsite::child::listed;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
use kube::ResourceExt;

/// The Event reason (and the condition's reason) of a desired site someone else wrote.
pub const CONFLICT_REASON: &str = "DesiredSiteNotFromDrSite";

/// The managers that own `spec.<field>` (e.g. `primarySite`) according to `managedFields`: the
/// entries of the main resource (not a subresource) whose `fieldsV1` holds `f:spec` → `f:<field>`.
/// Sorted, without repeats.
pub fn owners(meta: &ObjectMeta, field: &str) -> Vec<String> {
    let key = format!("f:{field}");
    let mut owners: Vec<String> = meta
        .managed_fields
        .iter()
        .flatten()
        .filter(|e| e.subresource.as_deref().is_none_or(str::is_empty))
        .filter(|e| {
            e.fields_v1
                .as_ref()
                .and_then(|f| f.0.get("f:spec"))
                .and_then(|spec| spec.get(&key))
                .is_some()
        })
        .filter_map(|e| e.manager.clone())
        .collect();
    owners.sort();
    owners.dedup();
    owners
}

/// A DrSite that lists a child, and the site it wants active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBy {
    pub drsite: String,
    pub active_site: String,
}

/// The DrSites among `drsites` in `namespace` that list the child `kind`/`name`, by name.
pub fn listing<'a>(
    drsites: impl IntoIterator<Item = &'a DrSite>,
    kind: ChildKind,
    namespace: &str,
    name: &str,
) -> Vec<ListedBy> {
    let mut found: Vec<ListedBy> = drsites
        .into_iter()
        .filter(|drs| drs.namespace().as_deref() == Some(namespace))
        .filter(|drs| listed(&drs.spec).any(|(k, child)| k == kind && child.name == name))
        .map(|drs| ListedBy {
            drsite: drs.name_any(),
            active_site: drs.spec.active_site.clone(),
        })
        .collect();
    found.sort_by(|a, b| a.drsite.cmp(&b.drsite));
    found.dedup();
    found
}

/// A desired site that the DrSites listing the child did not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    pub kind: ChildKind,
    /// The value found.
    pub value: String,
    /// Who owns the field (empty: nobody, as `managedFields` tells).
    pub owners: Vec<String>,
    /// The DrSites that list the child, with the site each wants active.
    pub drsites: Vec<ListedBy>,
    /// A listing DrSite has written this child before (its `drover.dev/drsite` label, which the
    /// DrSite's own apply sets): the foreign value then took the field over from it.
    pub taken_over: bool,
}

impl Foreign {
    /// Whether it is a Conflict for a child that is (or was last seen) at `here`: a value that
    /// would move it, or one that took the field over from a DrSite and is not where the DrSite
    /// wants the child. A foreign value naming where the child is and never written over by a
    /// DrSite (the child as first applied from Git, before its DrSite's first move) is no
    /// Conflict, even while that DrSite is about to move it; it is not acted on either.
    pub fn is_conflict(&self, here: Option<&str>) -> bool {
        here != Some(self.value.as_str())
            || (self.taken_over && self.drsites.iter().any(|d| d.active_site != self.value))
    }

    /// The Conflict condition's message and the Event's note; `stays` says where the child stays.
    pub fn message(&self, stays: &str) -> String {
        let writers = if self.owners.is_empty() {
            "no field manager recorded in managedFields".to_string()
        } else {
            self.owners.join(", ")
        };
        format!(
            "{} {:?} was written by {writers}, not by {DRSITE_FIELD_MANAGER} for DrSite {}, which lists this {}: \
             drover does not act on it and {stays}. Leave the field to the DrSite (leave it out of Git, or have \
             Argo CD ignore it) or change the DrSite's activeSite",
            self.kind.desired_field(),
            self.value,
            self.drsites
                .iter()
                .map(|d| d.drsite.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.kind,
        )
    }
}

/// `conditions` with the child's Conflict condition set from `message` (the [`Foreign::message`]
/// of a value not acted on, or `None`): True while there is one; False once there was one before
/// (in `previous`); absent on a child that never had one.
pub fn conflict_condition(
    mut conditions: Vec<Condition>,
    previous: &[Condition],
    message: Option<&str>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    conditions.retain(|c| c.type_ != CONFLICT);
    let had = previous.iter().any(|c| c.type_ == CONFLICT);
    if message.is_none() && !had {
        return conditions;
    }
    let desired = Desired {
        type_: CONFLICT,
        status: message.is_some(),
        reason: if message.is_some() {
            CONFLICT_REASON
        } else {
            "NoConflict"
        },
        message: message.unwrap_or_default().to_string(),
    };
    conditions.extend(merge(previous, &[desired], generation, now));
    conditions
}

/// Whether the child's desired site `value` (of `spec.<field>`) is in force: `None` when it is (no
/// value, a value the DrSite's field manager owns, or a child no DrSite lists), else what is wrong.
/// Asks `port` for the listing DrSites only when the DrSite's field manager does not own the value.
pub async fn foreign_value<P: Port>(
    port: &P,
    kind: ChildKind,
    meta: &ObjectMeta,
    field: &str,
    value: Option<&str>,
) -> Result<Option<Foreign>, PortError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let owners = owners(meta, field);
    if owners.iter().any(|o| o == DRSITE_FIELD_MANAGER) {
        return Ok(None);
    }
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let name = meta.name.as_deref().unwrap_or_default();
    let drsites = port.drsites_listing(kind, namespace, name).await?;
    if drsites.is_empty() {
        return Ok(None);
    }
    let labelled = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::components::LABEL_DRSITE));
    let taken_over = labelled.is_some_and(|l| drsites.iter().any(|d| &d.drsite == l));
    Ok(Some(Foreign {
        kind,
        value: value.to_string(),
        owners,
        drsites,
        taken_over,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    fn entry(manager: &str, subresource: Option<&str>, fields: serde_json::Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            api_version: Some("drover.dev/v1alpha1".into()),
            fields_type: Some("FieldsV1".into()),
            fields_v1: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(fields)),
            manager: Some(manager.into()),
            operation: Some("Apply".into()),
            subresource: subresource.map(Into::into),
            time: None,
        }
    }

    #[test]
    fn a_foreign_value_is_a_conflict_when_it_would_move_the_child_or_took_over_from_the_drsite() {
        let foreign = |value: &str, taken_over: bool| Foreign {
            kind: ChildKind::AvailabilityGroup,
            value: value.into(),
            owners: vec!["kubectl-client-side-apply".into()],
            drsites: vec![ListedBy {
                drsite: "cc".into(),
                active_site: "site-b".into(),
            }],
            taken_over,
        };
        // Git's first value, where the group is, while its DrSite's first move is under way.
        assert!(!foreign("site-a", false).is_conflict(Some("site-a")));
        // The same value after the DrSite had written site-b: taken over.
        assert!(foreign("site-a", true).is_conflict(Some("site-a")));
        // Any value that would move the child.
        assert!(foreign("site-b", false).is_conflict(Some("site-a")));
        assert!(foreign("site-a", false).is_conflict(None));
        // Agreeing with both.
        assert!(!foreign("site-b", true).is_conflict(Some("site-b")));
    }

    #[test]
    fn owners_are_the_main_resources_entries_holding_the_field() {
        let meta = ObjectMeta {
            managed_fields: Some(vec![
                entry(
                    "argocd-controller",
                    None,
                    serde_json::json!({"f:spec": {"f:primarySite": {}, "f:groupName": {}}}),
                ),
                entry(
                    "drover-drsite",
                    None,
                    serde_json::json!({"f:spec": {"f:primarySite": {}}}),
                ),
                entry(
                    "drover-drsite",
                    None,
                    serde_json::json!({"f:spec": {"f:primarySite": {}}}),
                ),
                // The status subresource never owns a spec field, whatever its fieldsV1 says.
                entry(
                    "drover",
                    Some("status"),
                    serde_json::json!({"f:spec": {"f:primarySite": {}}}),
                ),
                entry("kubectl", None, serde_json::json!({"f:spec": {"f:databases": {}}})),
                entry("helm", None, serde_json::json!({"f:metadata": {"f:primarySite": {}}})),
            ]),
            ..ObjectMeta::default()
        };
        assert_eq!(owners(&meta, "primarySite"), ["argocd-controller", "drover-drsite"]);
        assert_eq!(owners(&meta, "activeSite"), Vec::<String>::new());
        assert_eq!(owners(&ObjectMeta::default(), "primarySite"), Vec::<String>::new());
    }

    #[test]
    fn only_drsites_of_the_namespace_naming_the_child_under_its_kind_list_it() {
        use crate::api::dr_site::{ChildRef, fixtures};
        let mut spec = fixtures::spec();
        spec.persistent_chat_pools = vec![ChildRef { name: "pchat".into() }];
        let mut here = DrSite::new("drs", spec);
        here.metadata.namespace = Some("dr".into());
        let mut elsewhere = here.clone();
        elsewhere.metadata.namespace = Some("other".into());
        elsewhere.metadata.name = Some("drs-other".into());
        let drs = vec![ListedBy {
            drsite: "drs".into(),
            active_site: "site-a".into(),
        }];
        assert_eq!(
            listing([&here, &elsewhere], ChildKind::AvailabilityGroup, "dr", "ag1"),
            drs
        );
        assert_eq!(listing([&here], ChildKind::PersistentChatPool, "dr", "pchat"), drs);
        assert!(listing([&here], ChildKind::PersistentChatPool, "dr", "ag1").is_empty());
        assert!(listing([&here], ChildKind::AvailabilityGroup, "dr", "ag2").is_empty());
    }
}
