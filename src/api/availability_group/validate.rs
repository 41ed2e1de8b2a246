//! Checks of a spec that the API server may not have enforced (an older
//! cluster, `drover drill` reading files): everything drover relies on before
//! it sends a single statement.

use super::{AvailabilityGroupSpec, AvailabilityMode, ClusterType, ForcePolicy, ForcedFailoverPolicy, MAX_REPLICAS};
use crate::sql::Ident;
use std::collections::HashSet;
use std::fmt;

/// One problem with a spec, with the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Records one problem at `field`.
pub(crate) fn problem(errors: &mut Vec<SpecError>, field: impl Into<String>, message: impl Into<String>) {
    errors.push(SpecError {
        field: field.into(),
        message: message.into(),
    });
}

/// Every problem with `spec`; empty when drover can act on it.
pub fn validate(spec: &AvailabilityGroupSpec) -> Vec<SpecError> {
    let mut errors = Vec::new();
    if let Err(e) = Ident::new(&spec.group_name) {
        problem(&mut errors, "spec.groupName", e.to_string());
    }
    if spec.databases.is_empty() {
        problem(&mut errors, "spec.databases", "at least one database is required");
    }
    let mut seen = HashSet::new();
    for (i, db) in spec.databases.iter().enumerate() {
        if let Err(e) = Ident::new(db) {
            problem(&mut errors, format!("spec.databases[{i}]"), e.to_string());
        }
        if !seen.insert(db.to_lowercase()) {
            problem(
                &mut errors,
                format!("spec.databases[{i}]"),
                format!("database {db:?} is listed twice"),
            );
        }
    }
    if spec.replicas.len() < 2 || spec.replicas.len() > MAX_REPLICAS {
        problem(
            &mut errors,
            "spec.replicas",
            format!(
                "an availability group has 2 to {MAX_REPLICAS} replicas, not {}",
                spec.replicas.len()
            ),
        );
    }
    let (mut names, mut sites) = (HashSet::new(), HashSet::new());
    for (i, r) in spec.replicas.iter().enumerate() {
        let at = |field: &str| format!("spec.replicas[{i}].{field}");
        if r.server_name.is_empty() || r.server_name.encode_utf16().count() > 256 {
            problem(&mut errors, at("serverName"), "a server name has 1 to 256 characters");
        }
        if r.server_name.chars().any(char::is_control) {
            problem(
                &mut errors,
                at("serverName"),
                "a server name cannot contain control characters",
            );
        }
        if !names.insert(r.server_name.to_lowercase()) {
            problem(
                &mut errors,
                at("serverName"),
                format!("replica {:?} is listed twice", r.server_name),
            );
        }
        if r.site.is_empty() {
            problem(&mut errors, at("site"), "a site name is required");
        }
        if !sites.insert(r.site.clone()) {
            problem(
                &mut errors,
                at("site"),
                format!("site {:?} already holds a replica; one replica per site", r.site),
            );
        }
        if r.endpoint.host.is_empty() {
            problem(&mut errors, at("endpoint.host"), "a host is required");
        }
        if r.endpoint.port == 0 {
            problem(&mut errors, at("endpoint.port"), "port 0 is not a TCP port");
        }
    }
    // Left out, the primary stays where it is: there is nothing to check.
    if let Some(primary_site) = &spec.primary_site
        && !spec.replicas.iter().any(|r| &r.site == primary_site)
    {
        let known: Vec<&str> = spec.replicas.iter().map(|r| r.site.as_str()).collect();
        problem(
            &mut errors,
            "spec.primarySite",
            format!("site {primary_site:?} has no replica (sites: {})", known.join(", ")),
        );
    }
    let policy = &spec.forced_failover;
    forced_failover(policy, "spec.forcedFailover", &mut errors);
    if let Some(b) = &spec.backup_before_failback
        && (b.directory.is_empty() || b.directory.contains('\0'))
    {
        problem(
            &mut errors,
            "spec.backupBeforeFailback.directory",
            "a non-empty path without NUL is required",
        );
    }
    if let Some(n) = spec.required_synchronized_secondaries {
        let sync = spec
            .replicas
            .iter()
            .filter(|r| r.availability_mode == AvailabilityMode::SynchronousCommit)
            .count();
        if spec.cluster_type == ClusterType::External {
            problem(
                &mut errors,
                "spec.requiredSynchronizedSecondaries",
                "EXTERNAL availability groups have this set by their cluster resource",
            );
        } else if usize::from(n) > sync.saturating_sub(1) {
            problem(
                &mut errors,
                "spec.requiredSynchronizedSecondaries",
                format!(
                    "{n} synchronized secondaries cannot be had with {sync} SynchronousCommit replica(s) (at most {}): the primary would stop committing",
                    sync.saturating_sub(1)
                ),
            );
        }
    }
    if spec.credentials.secret_name.is_empty() {
        problem(&mut errors, "spec.credentials.secretName", "a Secret name is required");
    }
    if spec.cluster_type == ClusterType::External && policy.policy == ForcePolicy::Automatic {
        problem(
            &mut errors,
            "spec.forcedFailover.policy",
            "EXTERNAL availability groups fail over through their cluster manager; drover cannot force them",
        );
    }
    errors
}

/// The largest `minUnreachableSeconds` / `maxDataLossSeconds` (one day), as the CRD's `maximum`.
pub(crate) const MAX_POLICY_SECONDS: u32 = 86_400;

/// The checks of a forced-failover policy at `field` (shared by every resource that has one):
/// `Automatic` needs both bounds, and the unreachable time is at least a second.
pub(crate) fn forced_failover(policy: &ForcedFailoverPolicy, field: &str, errors: &mut Vec<SpecError>) {
    if policy.policy == ForcePolicy::Automatic
        && (policy.min_unreachable_seconds.is_none() || policy.max_data_loss_seconds.is_none())
    {
        problem(
            errors,
            field,
            "policy Automatic needs minUnreachableSeconds and maxDataLossSeconds",
        );
    }
    if policy.min_unreachable_seconds == Some(0) {
        problem(errors, format!("{field}.minUnreachableSeconds"), "must be at least 1");
    }
    // The CRD's bounds (`maximum: 86400`), for objects the API server did not check (written
    // before the bound, or read from a file by `drover plan`).
    if policy.min_unreachable_seconds.is_some_and(|s| s > MAX_POLICY_SECONDS) {
        problem(
            errors,
            format!("{field}.minUnreachableSeconds"),
            format!("must be at most {MAX_POLICY_SECONDS} (one day)"),
        );
    }
    if policy.max_data_loss_seconds.is_some_and(|s| s > MAX_POLICY_SECONDS) {
        problem(
            errors,
            format!("{field}.maxDataLossSeconds"),
            format!("must be at most {MAX_POLICY_SECONDS} (one day)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::availability_group::fixtures::spec;

    #[test]
    fn the_example_spec_is_valid() {
        assert_eq!(validate(&spec()), vec![]);
        // One required synchronized secondary with two synchronous replicas is fine.
        let mut s = spec();
        for r in &mut s.replicas {
            r.availability_mode = AvailabilityMode::SynchronousCommit;
        }
        s.required_synchronized_secondaries = Some(1);
        assert_eq!(validate(&s), vec![]);
    }

    #[test]
    fn hostile_and_inconsistent_specs_are_refused_with_the_field() {
        type Breakage = fn(&mut AvailabilityGroupSpec);
        let cases: Vec<(Breakage, &str)> = vec![
            (|s| s.group_name = String::new(), "spec.groupName"),
            // Both replicas asynchronous: nothing could ever acknowledge, every commit would stop.
            (
                |s| s.required_synchronized_secondaries = Some(1),
                "spec.requiredSynchronizedSecondaries",
            ),
            (
                |s| {
                    s.cluster_type = ClusterType::External;
                    s.required_synchronized_secondaries = Some(0);
                },
                "spec.requiredSynchronizedSecondaries",
            ),
            (|s| s.group_name = "x".repeat(129), "spec.groupName"),
            (|s| s.group_name = "ag\u{7}".into(), "spec.groupName"),
            (|s| s.databases.push("CONFIG".into()), "spec.databases[2]"),
            (|s| s.databases[0] = "a\nb".into(), "spec.databases[0]"),
            (
                |s| s.replicas[1].site = s.replicas[0].site.clone(),
                "spec.replicas[1].site",
            ),
            (
                |s| s.replicas[1].server_name = s.replicas[0].server_name.to_uppercase(),
                "spec.replicas[1].serverName",
            ),
            (|s| s.replicas.truncate(1), "spec.replicas"),
            (|s| s.primary_site = Some("site-z".into()), "spec.primarySite"),
            (
                |s| s.forced_failover.policy = ForcePolicy::Automatic,
                "spec.forcedFailover",
            ),
            (|s| s.replicas[0].endpoint.port = 0, "spec.replicas[0].endpoint.port"),
            // The CRD's maximum (one day), also for objects the API server did not check.
            (
                |s| s.forced_failover.min_unreachable_seconds = Some(86_401),
                "spec.forcedFailover.minUnreachableSeconds",
            ),
            (
                |s| s.forced_failover.max_data_loss_seconds = Some(u32::MAX),
                "spec.forcedFailover.maxDataLossSeconds",
            ),
        ];
        for (break_it, field) in cases {
            let mut s = spec();
            break_it(&mut s);
            let errors = validate(&s);
            assert!(
                errors.iter().any(|e| e.field == field),
                "expected an error at {field}, got {errors:?}"
            );
        }
    }

    #[test]
    fn names_with_quotes_and_brackets_are_valid_because_they_are_quoted() {
        let mut s = spec();
        s.group_name = "ag]; DROP DATABASE x; --".into();
        s.databases[0] = "O'Brien]".into();
        assert_eq!(validate(&s), vec![]);
    }
}
