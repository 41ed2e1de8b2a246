//! Checks of a DrSite spec that the API server may not have enforced (an older
//! cluster, `drover drill` reading files), and the dependency order the
//! runbooks follow.

use super::{DrSiteSpec, Placement};
use crate::api::availability_group::SpecError;
use k8s_openapi::api::batch::v1::JobTemplateSpec;
use std::collections::{BTreeMap, BTreeSet};

fn problem(errors: &mut Vec<SpecError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(SpecError {
        field: field.into(),
        message: message.into(),
    });
}

/// RFC 1123 label: what site and component names become in Job names and label values.
pub(crate) fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain, as Kubernetes checks object names (Secrets, Deployments, StatefulSets,
/// AvailabilityGroups): dot-separated labels, at most 253 characters in all.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(|label| is_dns_label(label, 253))
}

/// A key of a Secret's data, as Kubernetes allows it.
fn is_secret_key(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A host drover can probe: an IP address or a DNS name (any case, an optional trailing dot).
fn is_host(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// What a DNS subdomain is, for messages.
const SUBDOMAIN: &str = "lower-case letters, digits, '-' and '.'; at most 253 characters";

/// Every problem with `spec`; empty when drover can act on it.
pub fn validate(spec: &DrSiteSpec) -> Vec<SpecError> {
    let mut errors = Vec::new();
    if !(2..=8).contains(&spec.sites.len()) {
        problem(
            &mut errors,
            "spec.sites",
            format!("a DrSite spans 2 to 8 sites, not {}", spec.sites.len()),
        );
    }
    let mut sites = BTreeSet::new();
    for (i, site) in spec.sites.iter().enumerate() {
        if !is_dns_label(&site.name, 63) {
            problem(
                &mut errors,
                format!("spec.sites[{i}].name"),
                format!(
                    "{:?} is not a DNS label (lower-case letters, digits, '-'; 1-63)",
                    site.name
                ),
            );
        }
        if !is_dns_label(&site.namespace, 63) {
            problem(
                &mut errors,
                format!("spec.sites[{i}].namespace"),
                format!("{:?} is not a valid namespace name", site.namespace),
            );
        }
        if let Some(k) = &site.kubeconfig {
            if !is_dns_subdomain(&k.secret_name) {
                problem(
                    &mut errors,
                    format!("spec.sites[{i}].kubeconfig.secretName"),
                    format!("{:?} is not a Secret name ({SUBDOMAIN})", k.secret_name),
                );
            }
            if !is_secret_key(&k.key) {
                problem(
                    &mut errors,
                    format!("spec.sites[{i}].kubeconfig.key"),
                    format!("{:?} is not a Secret key (letters, digits, '-', '_', '.')", k.key),
                );
            }
        }
        if !sites.insert(site.name.as_str()) {
            problem(
                &mut errors,
                format!("spec.sites[{i}].name"),
                format!("site {:?} is listed twice", site.name),
            );
        }
    }
    if !sites.contains(spec.active_site.as_str()) {
        problem(
            &mut errors,
            "spec.activeSite",
            format!("{:?} is not one of spec.sites", spec.active_site),
        );
    }
    // Unique per kind: an AvailabilityGroup and a PersistentChatPool may share a name.
    for (field, children) in [
        ("spec.availabilityGroups", &spec.availability_groups),
        ("spec.persistentChatPools", &spec.persistent_chat_pools),
    ] {
        let mut seen = BTreeSet::new();
        for (i, child) in children.iter().enumerate() {
            if !is_dns_subdomain(&child.name) {
                problem(
                    &mut errors,
                    format!("{field}[{i}].name"),
                    format!("{:?} is not a resource name ({SUBDOMAIN})", child.name),
                );
            } else if !seen.insert(child.name.as_str()) {
                problem(
                    &mut errors,
                    format!("{field}[{i}].name"),
                    format!("{:?} is listed twice", child.name),
                );
            }
        }
    }
    components(spec, &sites, &mut errors);
    if let Err(cycle) = start_order(spec) {
        problem(
            &mut errors,
            "spec.components",
            format!("dependency cycle among {}", cycle.join(", ")),
        );
    }
    errors
}

fn components(spec: &DrSiteSpec, sites: &BTreeSet<&str>, errors: &mut Vec<SpecError>) {
    let names: BTreeSet<&str> = spec.components.iter().map(|c| c.name.as_str()).collect();
    let children: BTreeSet<&str> = spec
        .availability_groups
        .iter()
        .chain(&spec.persistent_chat_pools)
        .map(|c| c.name.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for (i, c) in spec.components.iter().enumerate() {
        let at = format!("spec.components[{i}]");
        if !is_dns_label(&c.name, 40) {
            problem(
                errors,
                format!("{at}.name"),
                format!(
                    "{:?} is not a DNS label of at most 40 characters (lower-case letters, digits, '-')",
                    c.name
                ),
            );
        }
        if !seen.insert(c.name.as_str()) {
            problem(
                errors,
                format!("{at}.name"),
                format!("component {:?} is listed twice", c.name),
            );
        }
        if !(1..=86400).contains(&c.timeout_seconds) {
            problem(
                errors,
                format!("{at}.timeoutSeconds"),
                format!("must be 1 to 86400 seconds, not {}", c.timeout_seconds),
            );
        }
        // The CRD's bounds (`maxItems`), for objects the API server did not check.
        if c.depends_on.len() > 100 {
            problem(
                errors,
                format!("{at}.dependsOn"),
                format!("at most 100 names, not {}", c.depends_on.len()),
            );
        }
        if c.requires_writable.len() > 64 {
            problem(
                errors,
                format!("{at}.requiresWritable"),
                format!("at most 64 names, not {}", c.requires_writable.len()),
            );
        }
        for (j, dep) in c.depends_on.iter().enumerate() {
            if dep == &c.name {
                problem(
                    errors,
                    format!("{at}.dependsOn[{j}]"),
                    "a component cannot depend on itself",
                );
            } else if !names.contains(dep.as_str()) {
                problem(
                    errors,
                    format!("{at}.dependsOn[{j}]"),
                    format!("unknown component {dep:?}"),
                );
            }
        }
        for (j, child) in c.requires_writable.iter().enumerate() {
            if !children.contains(child.as_str()) {
                problem(
                    errors,
                    format!("{at}.requiresWritable[{j}]"),
                    format!("{child:?} is not in spec.availabilityGroups or spec.persistentChatPools"),
                );
            }
        }
        let mut placed = BTreeSet::new();
        for (j, s) in c.sites.iter().enumerate() {
            let field = format!("{at}.sites[{j}]");
            if !sites.contains(s.site.as_str()) {
                problem(errors, format!("{field}.site"), format!("unknown site {:?}", s.site));
            }
            if !placed.insert(s.site.as_str()) {
                problem(
                    errors,
                    format!("{field}.site"),
                    format!("site {:?} is given twice", s.site),
                );
            }
            match (&s.workload, &s.hooks) {
                (Some(w), None) => {
                    if !is_dns_subdomain(&w.name) {
                        problem(
                            errors,
                            format!("{field}.workload.name"),
                            format!("{:?} is not a workload name ({SUBDOMAIN})", w.name),
                        );
                    }
                    if !(1..=1000).contains(&w.replicas) {
                        problem(
                            errors,
                            format!("{field}.workload.replicas"),
                            format!("must be 1 to 1000, not {} (drover scales to 0 to stop)", w.replicas),
                        );
                    }
                }
                (None, Some(h)) => hooks(h, &format!("{field}.hooks"), errors),
                _ => problem(errors, field.clone(), "give exactly one of workload and hooks"),
            }
        }
        // A component must be startable at every site the system may be moved to (ActiveSite) or
        // runs at (EverySite): that is every site.
        for site in sites {
            if !placed.contains(site) {
                let what = match c.placement {
                    Placement::ActiveSite => "it must be startable wherever the system may become active",
                    Placement::EverySite => "an EverySite component runs at every site",
                };
                problem(
                    errors,
                    format!("{at}.sites"),
                    format!("no workload or hooks for site {site:?}: {what}"),
                );
            }
        }
    }
}

fn hooks(h: &super::Hooks, field: &str, errors: &mut Vec<SpecError>) {
    for (which, template) in [("start", &h.start), ("stop", &h.stop)] {
        job_template(template, &format!("{field}.{which}"), errors);
    }
    let probe = &h.probe;
    match (&probe.tcp, &probe.http) {
        (Some(t), None) => target(&t.host, t.port, &format!("{field}.probe.tcp"), errors),
        (None, Some(web)) => {
            target(&web.host, web.port, &format!("{field}.probe.http"), errors);
            if web.path.len() > 1024 {
                problem(
                    errors,
                    format!("{field}.probe.http.path"),
                    format!("a path has at most 1024 characters, not {}", web.path.len()),
                );
            } else if !web.path.starts_with('/') || web.path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                problem(
                    errors,
                    format!("{field}.probe.http.path"),
                    format!("{:?} is not an absolute URL path", web.path),
                );
            }
        }
        _ => problem(errors, format!("{field}.probe"), "give exactly one of tcp and http"),
    }
    if !(1..=60).contains(&probe.timeout_seconds) {
        problem(
            errors,
            format!("{field}.probe.timeoutSeconds"),
            format!("must be 1 to 60 seconds, not {}", probe.timeout_seconds),
        );
    }
}

/// The checks of a hook's Job template at `field` (shared by every resource with hook Jobs): a pod
/// with at least one container, whose restart policy a Job accepts.
pub(crate) fn job_template(template: &JobTemplateSpec, field: &str, errors: &mut Vec<SpecError>) {
    let pod = template.spec.as_ref().and_then(|s| s.template.spec.as_ref());
    if pod.is_none_or(|p| p.containers.is_empty()) {
        problem(
            errors,
            format!("{field}.spec.template.spec.containers"),
            "the Job template needs at least one container",
        );
    }
    // The API server refuses a Job whose pods restart Always: drover would only learn it
    // when the Job is created, in the middle of a transition.
    if let Some(policy) = pod.and_then(|p| p.restart_policy.as_deref())
        && policy != "Never"
        && policy != "OnFailure"
    {
        problem(
            errors,
            format!("{field}.spec.template.spec.restartPolicy"),
            format!("a Job's pods restart Never or OnFailure, not {policy:?}"),
        );
    }
}

fn target(host: &str, port: u16, field: &str, errors: &mut Vec<SpecError>) {
    if !is_host(host) {
        problem(
            errors,
            format!("{field}.host"),
            format!("{host:?} is neither an IP address nor a DNS name"),
        );
    }
    if port == 0 {
        problem(errors, format!("{field}.port"), "port 0 is not a TCP port");
    }
}

/// The components' indices in start order (every component after those it depends on; ties
/// broken by declaration order). `Err` names the components on a dependency cycle, in
/// declaration order (not those merely waiting behind one). Unknown dependencies and a
/// component's dependency on itself are ignored here: [`validate`] reports them.
pub fn start_order(spec: &DrSiteSpec) -> Result<Vec<usize>, Vec<String>> {
    let n = spec.components.len();
    let index: BTreeMap<&str, usize> = spec
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let deps: Vec<BTreeSet<usize>> = spec
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.depends_on
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .filter(|&d| d != i)
                .collect()
        })
        .collect();
    let mut order = Vec::with_capacity(n);
    let mut done = vec![false; n];
    // Repeatedly take the first component (in declaration order) whose dependencies all started.
    while order.len() < n {
        let Some(next) = (0..n).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d])) else {
            let cycle = (0..n)
                .filter(|&i| !done[i] && on_cycle(i, &deps, &done))
                .map(|i| spec.components[i].name.clone())
                .collect();
            return Err(cycle);
        };
        done[next] = true;
        order.push(next);
    }
    Ok(order)
}

/// Whether component `start` reaches itself through the dependencies of components not yet started.
fn on_cycle(start: usize, deps: &[BTreeSet<usize>], done: &[bool]) -> bool {
    let mut seen = vec![false; deps.len()];
    let mut stack: Vec<usize> = deps[start].iter().copied().filter(|&d| !done[d]).collect();
    while let Some(i) = stack.pop() {
        if i == start {
            return true;
        }
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(deps[i].iter().copied().filter(|&d| !done[d]));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dr_site::fixtures::{self, spec};
    use crate::api::dr_site::{ChildRef, ComponentSpec, HttpProbe, KubeconfigRef, TcpProbe, WorkloadKind};

    /// The fields of every problem found in `spec` after `edit`, in the order reported.
    fn fields_after(edit: impl FnOnce(&mut DrSiteSpec)) -> Vec<String> {
        let mut s = spec();
        edit(&mut s);
        validate(&s).into_iter().map(|e| e.field).collect()
    }

    /// The only problem is at `field`, and its message contains `says`.
    fn refused(edit: impl FnOnce(&mut DrSiteSpec), field: &str, says: &str) {
        let mut s = spec();
        edit(&mut s);
        let errors = validate(&s);
        assert_eq!(
            errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(),
            [field],
            "{errors:?}"
        );
        assert!(
            errors[0].message.contains(says),
            "{:?} lacks {says:?}",
            errors[0].message
        );
    }

    /// Renames a site everywhere it is named, so that only the name itself can be at fault.
    fn rename_site(s: &mut DrSiteSpec, from: &str, to: &str) {
        for site in s.sites.iter_mut().filter(|x| x.name == from) {
            site.name = to.into();
        }
        if s.active_site == from {
            s.active_site = to.into();
        }
        for at in s.components.iter_mut().flat_map(|c| c.sites.iter_mut()) {
            if at.site == from {
                at.site = to.into();
            }
        }
    }

    /// Renames a component everywhere it is named.
    fn rename_component(s: &mut DrSiteSpec, from: &str, to: &str) {
        for c in &mut s.components {
            if c.name == from {
                c.name = to.into();
            }
            for d in c.depends_on.iter_mut().filter(|d| *d == from) {
                *d = to.into();
            }
        }
    }

    /// Names a DNS label refuses: the characters that break T-SQL, shells and label values,
    /// upper case, edges, and one character too many.
    fn hostile_labels(max: usize) -> Vec<String> {
        let mut names: Vec<String> = [
            "a]b", "a'b", "a;b", "a\u{7}b", "a\nb", "A-b", "-ab", "ab-", "a.b", "a b", "é", "",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        names.push("a".repeat(max + 1));
        names
    }

    fn legacy_at_a(s: &mut DrSiteSpec) -> &mut crate::api::dr_site::Hooks {
        s.components[2].sites[0].hooks.as_mut().unwrap()
    }

    const LEGACY_A: &str = "spec.components[2].sites[0]";

    #[test]
    fn the_fixture_is_valid_and_starts_in_dependency_order() {
        assert_eq!(validate(&spec()), vec![]);
        assert_eq!(start_order(&spec()), Ok(vec![0, 1, 2]));
    }

    #[test]
    fn a_drsite_spans_two_to_eight_sites() {
        refused(
            |s| {
                s.sites.truncate(1);
                for c in &mut s.components {
                    c.sites.truncate(1);
                }
            },
            "spec.sites",
            "not 1",
        );
        // Nine sites, every component declared at each: only the count is at fault.
        let mut s = spec();
        for n in 0..7 {
            let name = format!("site-{n}");
            s.sites.push(crate::api::dr_site::SiteSpec {
                name: name.clone(),
                namespace: format!("ns-{n}"),
                kubeconfig: None,
            });
            for c in &mut s.components {
                let mut at = c.sites[0].clone();
                at.site = name.clone();
                c.sites.push(at);
            }
        }
        let fields: Vec<String> = validate(&s).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["spec.sites"]);
    }

    #[test]
    fn a_site_name_must_be_a_dns_label() {
        for bad in hostile_labels(63) {
            refused(
                |s| rename_site(s, "site-b", &bad),
                "spec.sites[1].name",
                "not a DNS label",
            );
        }
        assert_eq!(
            fields_after(|s| rename_site(s, "site-b", &"b".repeat(63))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_site_namespace_must_be_a_namespace_name() {
        for bad in hostile_labels(63) {
            refused(|s| s.sites[0].namespace = bad, "spec.sites[0].namespace", "namespace");
        }
    }

    #[test]
    fn a_site_is_listed_once() {
        refused(
            |s| {
                let again = s.sites[0].clone();
                s.sites.push(again);
            },
            "spec.sites[2].name",
            "listed twice",
        );
    }

    #[test]
    fn the_active_site_is_one_of_the_sites() {
        refused(|s| s.active_site = "site-z".into(), "spec.activeSite", "\"site-z\"");
        refused(
            |s| s.active_site = "site-a]".into(),
            "spec.activeSite",
            "not one of spec.sites",
        );
    }

    #[test]
    fn a_kubeconfig_names_a_secret_and_a_key() {
        let with = |secret: &str, key: &str| {
            let kubeconfig = KubeconfigRef {
                secret_name: secret.into(),
                key: key.into(),
            };
            move |s: &mut DrSiteSpec| s.sites[1].kubeconfig = Some(kubeconfig)
        };
        assert_eq!(
            fields_after(with("site-b.kubeconfig", "config.yaml")),
            Vec::<String>::new()
        );
        for bad in ["", "Site-B", "a'b", "a]b", "a;b"] {
            refused(
                with(bad, "kubeconfig"),
                "spec.sites[1].kubeconfig.secretName",
                "Secret name",
            );
        }
        for bad in ["", "a/b", "a b", "a]"] {
            refused(with("kc", bad), "spec.sites[1].kubeconfig.key", "Secret key");
        }
    }

    #[test]
    fn a_child_is_a_resource_name_listed_once() {
        for bad in ["", "ag]2", "ag'2", "ag;2", "AG2", "ag\u{0}2"] {
            refused(
                |s| s.availability_groups.push(ChildRef { name: bad.into() }),
                "spec.availabilityGroups[1].name",
                "not a resource name",
            );
        }
        refused(
            |s| s.availability_groups.push(ChildRef { name: "x".repeat(254) }),
            "spec.availabilityGroups[1].name",
            "253",
        );
        refused(
            |s| {
                let again = s.availability_groups[0].clone();
                s.availability_groups.push(again);
            },
            "spec.availabilityGroups[1].name",
            "listed twice",
        );
        assert_eq!(
            fields_after(|s| s.availability_groups.push(ChildRef { name: "cc.ag-2".into() })),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_pool_child_is_a_resource_name_listed_once() {
        let pool = |name: &str| ChildRef { name: name.into() };
        assert_eq!(
            fields_after(|s| s.persistent_chat_pools.push(pool("pchat.dc-1"))),
            Vec::<String>::new()
        );
        for bad in ["", "pc]1", "pc'1", "pc;1", "PChat", "pc\u{0}1"] {
            refused(
                |s| s.persistent_chat_pools.push(pool(bad)),
                "spec.persistentChatPools[0].name",
                "not a resource name",
            );
        }
        refused(
            |s| s.persistent_chat_pools.push(pool(&"p".repeat(254))),
            "spec.persistentChatPools[0].name",
            "253",
        );
        refused(
            |s| s.persistent_chat_pools.extend([pool("pchat"), pool("pchat")]),
            "spec.persistentChatPools[1].name",
            "listed twice",
        );
    }

    #[test]
    fn a_pool_may_share_its_name_with_an_availability_group() {
        // Different kinds are different objects; the runbook keys them by kind and name.
        assert_eq!(
            fields_after(|s| s.persistent_chat_pools.push(ChildRef { name: "ag1".into() })),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_component_name_must_be_a_dns_label_of_at_most_40() {
        for bad in hostile_labels(40) {
            refused(
                |s| rename_component(s, "proxy", &bad),
                "spec.components[1].name",
                "not a DNS label",
            );
        }
        assert_eq!(
            fields_after(|s| rename_component(s, "proxy", &"p".repeat(40))),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_component_is_listed_once() {
        refused(
            |s| {
                let again = s.components[2].clone();
                s.components.push(again);
            },
            "spec.components[3].name",
            "listed twice",
        );
    }

    #[test]
    fn a_component_timeout_is_one_second_to_a_day() {
        refused(
            |s| s.components[0].timeout_seconds = 0,
            "spec.components[0].timeoutSeconds",
            "not 0",
        );
        refused(
            |s| s.components[0].timeout_seconds = 86401,
            "spec.components[0].timeoutSeconds",
            "not 86401",
        );
    }

    #[test]
    fn dependency_and_writable_lists_keep_the_crd_bounds() {
        let fields = fields_after(|s| {
            let other = s.components[1].name.clone();
            s.components[0].depends_on = vec![other; 101];
            s.components[0].requires_writable = vec!["ag1".into(); 65];
        });
        assert!(
            fields.contains(&"spec.components[0].dependsOn".to_string()),
            "{fields:?}"
        );
        assert!(
            fields.contains(&"spec.components[0].requiresWritable".to_string()),
            "{fields:?}"
        );
    }

    #[test]
    fn a_component_cannot_depend_on_itself() {
        refused(
            |s| s.components[0].depends_on.push("db-app".into()),
            "spec.components[0].dependsOn[0]",
            "itself",
        );
    }

    #[test]
    fn a_dependency_names_a_component() {
        refused(
            |s| s.components[1].depends_on.push("db-ap".into()),
            "spec.components[1].dependsOn[1]",
            "unknown component \"db-ap\"",
        );
    }

    #[test]
    fn a_cycle_is_reported_with_its_members() {
        refused(
            |s| s.components[0].depends_on.push("legacy".into()),
            "spec.components",
            "dependency cycle among db-app, proxy, legacy",
        );
    }

    #[test]
    fn a_cycle_names_only_its_members_not_those_waiting_behind_it() {
        let mut s = spec();
        let [a, b, c] = ["a", "b", "c"]
            .map(|n| fixtures::workload_component(n, Placement::EverySite, WorkloadKind::Deployment, 1, &[]));
        s.components = vec![
            ComponentSpec {
                depends_on: vec!["c".into()],
                ..a
            },
            ComponentSpec {
                depends_on: vec!["a".into()],
                ..b
            },
            ComponentSpec {
                depends_on: vec!["b".into()],
                ..c
            },
        ];
        s.components.push(fixtures::workload_component(
            "after",
            Placement::EverySite,
            WorkloadKind::Deployment,
            1,
            &["a"],
        ));
        s.components.insert(
            0,
            fixtures::workload_component("first", Placement::EverySite, WorkloadKind::Deployment, 1, &[]),
        );
        assert_eq!(start_order(&s), Err(vec!["a".into(), "b".into(), "c".into()]));
        let errors = validate(&s);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field, "spec.components");
        assert_eq!(errors[0].message, "dependency cycle among a, b, c");
    }

    #[test]
    fn start_order_follows_dependencies_then_declaration_order() {
        let mut s = spec();
        let c = |name: &str, deps: &[&str]| {
            fixtures::workload_component(name, Placement::EverySite, WorkloadKind::Deployment, 1, deps)
        };
        // Declared out of order: `late` first though it depends on the last one.
        s.components = vec![
            c("late", &["base"]),
            c("free", &[]),
            c("mid", &["base", "base", "ghost"]),
            c("base", &["base"]),
        ];
        assert_eq!(start_order(&s), Ok(vec![1, 3, 0, 2]));
        assert_eq!(
            start_order(&DrSiteSpec {
                components: vec![],
                ..spec()
            }),
            Ok(vec![])
        );
    }

    #[test]
    fn required_groups_are_children_of_the_drsite() {
        refused(
            |s| s.components[0].requires_writable.push("ag2".into()),
            "spec.components[0].requiresWritable[1]",
            "not in spec.availabilityGroups or spec.persistentChatPools",
        );
        // A pool the DrSite moves may be required writable too.
        assert_eq!(
            fields_after(|s| {
                s.persistent_chat_pools.push(ChildRef { name: "pchat".into() });
                s.components[0].requires_writable.push("pchat".into());
            }),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_component_says_how_it_runs_at_every_site() {
        refused(
            |s| {
                s.components[1].sites.remove(1);
            },
            "spec.components[1].sites",
            "site \"site-b\"",
        );
        refused(
            |s| {
                s.components[0].sites.remove(0);
            },
            "spec.components[0].sites",
            "wherever the system may become active",
        );
    }

    #[test]
    fn a_component_site_is_a_known_site_given_once() {
        refused(
            |s| {
                let mut extra = s.components[0].sites[0].clone();
                extra.site = "site-z".into();
                s.components[0].sites.push(extra);
            },
            "spec.components[0].sites[2].site",
            "unknown site \"site-z\"",
        );
        refused(
            |s| {
                let again = s.components[0].sites[1].clone();
                s.components[0].sites.push(again);
            },
            "spec.components[0].sites[2].site",
            "given twice",
        );
    }

    #[test]
    fn a_component_at_a_site_has_a_workload_or_hooks_not_both() {
        refused(
            |s| {
                let hooks = s.components[2].sites[0].hooks.clone();
                s.components[0].sites[0].hooks = hooks;
            },
            "spec.components[0].sites[0]",
            "exactly one of workload and hooks",
        );
        refused(
            |s| s.components[0].sites[1].workload = None,
            "spec.components[0].sites[1]",
            "exactly one of workload and hooks",
        );
    }

    #[test]
    fn a_workload_has_a_valid_name_and_one_to_a_thousand_replicas() {
        for bad in ["", "db]app", "db'app", "db;app", "DB", "db\tapp"] {
            refused(
                |s| s.components[0].sites[0].workload.as_mut().unwrap().name = bad.into(),
                "spec.components[0].sites[0].workload.name",
                "not a workload name",
            );
        }
        for bad in [0, -1, 1001] {
            refused(
                |s| s.components[1].sites[1].workload.as_mut().unwrap().replicas = bad,
                "spec.components[1].sites[1].workload.replicas",
                &format!("not {bad}"),
            );
        }
    }

    #[test]
    fn a_hook_job_template_has_a_container() {
        refused(
            |s| {
                if let Some(pod) = legacy_at_a(s)
                    .start
                    .spec
                    .as_mut()
                    .and_then(|j| j.template.spec.as_mut())
                {
                    pod.containers.clear();
                }
            },
            &format!("{LEGACY_A}.hooks.start.spec.template.spec.containers"),
            "at least one container",
        );
        refused(
            |s| legacy_at_a(s).stop.spec = None,
            &format!("{LEGACY_A}.hooks.stop.spec.template.spec.containers"),
            "at least one container",
        );
    }

    #[test]
    fn a_hook_job_template_does_not_restart_always() {
        refused(
            |s| {
                if let Some(pod) = legacy_at_a(s).stop.spec.as_mut().and_then(|j| j.template.spec.as_mut()) {
                    pod.restart_policy = Some("Always".into());
                }
            },
            &format!("{LEGACY_A}.hooks.stop.spec.template.spec.restartPolicy"),
            "Never or OnFailure",
        );
    }

    #[test]
    fn a_probe_is_tcp_or_http_not_both() {
        let http = HttpProbe {
            host: "legacy.site-a.example".into(),
            port: 8080,
            path: "/health".into(),
        };
        refused(
            |s| legacy_at_a(s).probe.http = Some(http.clone()),
            &format!("{LEGACY_A}.hooks.probe"),
            "exactly one of tcp and http",
        );
        refused(
            |s| legacy_at_a(s).probe.tcp = None,
            &format!("{LEGACY_A}.hooks.probe"),
            "exactly one of tcp and http",
        );
        assert_eq!(
            fields_after(|s| {
                let probe = &mut legacy_at_a(s).probe;
                probe.tcp = None;
                probe.http = Some(http);
            }),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_probe_targets_a_host_and_port_within_a_timeout() {
        for good in ["10.0.0.7", "::1", "SIP01.corp.example.", "sip-01"] {
            assert_eq!(
                fields_after(|s| legacy_at_a(s).probe.tcp.as_mut().unwrap().host = good.into()),
                Vec::<String>::new(),
                "{good}"
            );
        }
        for bad in ["", "a b", "a]b", "a'b", "a;b", "a\nb", "http://x", "-a.example"] {
            refused(
                |s| legacy_at_a(s).probe.tcp.as_mut().unwrap().host = bad.into(),
                &format!("{LEGACY_A}.hooks.probe.tcp.host"),
                "neither an IP address nor a DNS name",
            );
        }
        refused(
            |s| {
                legacy_at_a(s).probe.tcp = Some(TcpProbe {
                    host: "x".into(),
                    port: 0,
                })
            },
            &format!("{LEGACY_A}.hooks.probe.tcp.port"),
            "port 0",
        );
        refused(
            |s| {
                let probe = &mut legacy_at_a(s).probe;
                probe.tcp = None;
                probe.http = Some(HttpProbe {
                    host: "x".into(),
                    port: 80,
                    path: "health".into(),
                });
            },
            &format!("{LEGACY_A}.hooks.probe.http.path"),
            "absolute URL path",
        );
        // The CRD's maxLength (1024), also for objects the API server did not check.
        refused(
            |s| {
                let probe = &mut legacy_at_a(s).probe;
                probe.tcp = None;
                probe.http = Some(HttpProbe {
                    host: "x".into(),
                    port: 80,
                    path: format!("/{}", "a".repeat(1024)),
                });
            },
            &format!("{LEGACY_A}.hooks.probe.http.path"),
            "at most 1024 characters",
        );
        for bad in [0, 61] {
            refused(
                |s| legacy_at_a(s).probe.timeout_seconds = bad,
                &format!("{LEGACY_A}.hooks.probe.timeoutSeconds"),
                &format!("not {bad}"),
            );
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let fields = fields_after(|s| {
            s.active_site = "nowhere".into();
            s.components[0].depends_on.push("db-app".into());
            s.components[1].sites[0].workload.as_mut().unwrap().replicas = 0;
        });
        assert_eq!(
            fields,
            [
                "spec.activeSite",
                "spec.components[0].dependsOn[0]",
                "spec.components[1].sites[0].workload.replicas",
            ]
        );
    }
}
