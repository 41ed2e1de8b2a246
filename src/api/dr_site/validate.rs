//! Checks of a DrSite spec that the API server may not have enforced (an older
//! cluster, `drover drill` reading files), and the dependency order the
//! runbooks follow.

use super::{DrSiteSpec, Placement};
use crate::api::availability_group::SpecError;
use std::collections::{BTreeMap, BTreeSet};

fn problem(errors: &mut Vec<SpecError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(SpecError {
        field: field.into(),
        message: message.into(),
    });
}

/// RFC 1123 label: what site and component names become in Job names and label values.
fn is_dns_label(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

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
        if let Some(k) = &site.kubeconfig
            && (k.secret_name.is_empty() || k.key.is_empty())
        {
            problem(
                &mut errors,
                format!("spec.sites[{i}].kubeconfig"),
                "secretName and key must not be empty",
            );
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
    for (field, children) in [
        ("spec.availabilityGroups", &spec.availability_groups),
        ("spec.persistentChatPools", &spec.persistent_chat_pools),
    ] {
        let mut seen = BTreeSet::new();
        for (i, child) in children.iter().enumerate() {
            if child.name.is_empty() {
                problem(&mut errors, format!("{field}[{i}].name"), "must not be empty");
            } else if !seen.insert(child.name.as_str()) {
                problem(
                    &mut errors,
                    format!("{field}[{i}].name"),
                    format!("{:?} is listed twice", child.name),
                );
            }
        }
    }
    for (i, _) in spec.persistent_chat_pools.iter().enumerate() {
        problem(
            &mut errors,
            format!("spec.persistentChatPools[{i}]"),
            "PersistentChatPool children are not supported by this drover version yet",
        );
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
    let groups: BTreeSet<&str> = spec.availability_groups.iter().map(|c| c.name.as_str()).collect();
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
        if c.timeout_seconds == 0 {
            problem(errors, format!("{at}.timeoutSeconds"), "must be at least 1");
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
        for (j, ag) in c.requires_writable.iter().enumerate() {
            if !groups.contains(ag.as_str()) {
                problem(
                    errors,
                    format!("{at}.requiresWritable[{j}]"),
                    format!("{ag:?} is not in spec.availabilityGroups"),
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
                    if w.name.is_empty() {
                        problem(errors, format!("{field}.workload.name"), "must not be empty");
                    }
                    if w.replicas < 1 {
                        problem(
                            errors,
                            format!("{field}.workload.replicas"),
                            "must be at least 1 (drover scales to 0 to stop)",
                        );
                    }
                }
                (None, Some(h)) => {
                    for (which, template) in [("start", &h.start), ("stop", &h.stop)] {
                        let has_container = template
                            .spec
                            .as_ref()
                            .and_then(|s| s.template.spec.as_ref())
                            .is_some_and(|p| !p.containers.is_empty());
                        if !has_container {
                            problem(
                                errors,
                                format!("{field}.hooks.{which}.spec.template.spec.containers"),
                                "the Job template needs at least one container",
                            );
                        }
                    }
                    match (&h.probe.tcp, &h.probe.http) {
                        (Some(_), None) | (None, Some(_)) => {}
                        _ => problem(
                            errors,
                            format!("{field}.hooks.probe"),
                            "give exactly one of tcp and http",
                        ),
                    }
                }
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

/// The components' indices in start order (every component after those it depends on; ties
/// broken by declaration order). `Err` names the components on a dependency cycle.
/// Unknown dependencies are ignored here (validation reports them).
pub fn start_order(spec: &DrSiteSpec) -> Result<Vec<usize>, Vec<String>> {
    let index: BTreeMap<&str, usize> = spec
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut waiting: Vec<usize> = spec
        .components
        .iter()
        .map(|c| {
            c.depends_on
                .iter()
                .filter(|d| index.contains_key(d.as_str()))
                .collect::<BTreeSet<_>>()
                .len()
        })
        .collect();
    let mut order = Vec::with_capacity(spec.components.len());
    let mut done = vec![false; spec.components.len()];
    // Repeatedly take the first component (in declaration order) whose dependencies all started.
    while order.len() < spec.components.len() {
        let Some(next) = (0..spec.components.len()).find(|&i| !done[i] && waiting[i] == 0) else {
            let cycle = (0..spec.components.len())
                .filter(|&i| !done[i])
                .map(|i| spec.components[i].name.clone())
                .collect();
            return Err(cycle);
        };
        done[next] = true;
        order.push(next);
        let name = spec.components[next].name.as_str();
        for (i, c) in spec.components.iter().enumerate() {
            if !done[i] && c.depends_on.iter().any(|d| d == name) {
                waiting[i] -= 1;
            }
        }
    }
    Ok(order)
}
