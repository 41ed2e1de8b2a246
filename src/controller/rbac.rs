//! Every Kubernetes API call drover makes, as RBAC sees it: the catalogue the
//! Helm chart's ClusterRole and lease Role must grant exactly (`tests/chart.rs`
//! compares them), and [`permitted`], which maps one request (method, path and
//! query) to its (group, resource, verb) and checks it against the catalogue.
//! The contract tests' mocked API server checks every request the adapters send
//! with it, so a call added to an adapter without a grant fails a test.

/// Which RBAC object grants a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The ClusterRole: the resources live in whatever namespace the users put them in.
    Cluster,
    /// The Role in the release namespace: only the operator's own leader-election Lease.
    ReleaseNamespace,
    /// A cluster-scoped resource (a ClusterRole bound cluster-wide even when the chart binds the
    /// namespaced rules per watched namespace): reading Namespace labels.
    ClusterScoped,
}

/// One resource and the verbs drover uses on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiCall {
    /// The API group; `""` for the core group.
    pub group: &'static str,
    /// The plural resource name, `resource/subresource` for a subresource.
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
    pub scope: Scope,
    /// Which code makes the call, and why.
    pub why: &'static str,
}

const fn cluster(
    group: &'static str,
    resource: &'static str,
    verbs: &'static [&'static str],
    why: &'static str,
) -> ApiCall {
    ApiCall {
        group,
        resource,
        verbs,
        scope: Scope::Cluster,
        why,
    }
}

/// What the adapters (`controller::kube`, `components::kube`), the controllers' watches
/// (`controller::*::run`) and leader election (`runtime::lease`) call.
pub const API_CALLS: &[ApiCall] = &[
    cluster(
        "drover.dev",
        "availabilitygroups",
        &["get", "list", "watch", "patch"],
        "list/watch: the AvailabilityGroup controller and the DrSite controller's watch of its children; \
         get: the DrSite reads a child's status; patch: the DrSite sets a child's spec.primarySite by server-side apply",
    ),
    cluster(
        "drover.dev",
        "availabilitygroups/status",
        &["patch"],
        "the AvailabilityGroup controller writes status by server-side apply",
    ),
    cluster(
        "drover.dev",
        "drsites",
        &["list", "watch"],
        "the DrSite controller's watch; the AvailabilityGroup and PersistentChatPool controllers' watches \
         (and, without one, a list) of the DrSites that list a child: only their field manager may move it",
    ),
    cluster(
        "drover.dev",
        "drsites/status",
        &["patch"],
        "the DrSite controller writes status by server-side apply",
    ),
    cluster(
        "drover.dev",
        "persistentchatpools",
        &["get", "list", "watch", "patch"],
        "list/watch: the PersistentChatPool controller and the DrSite controller's watch of its children; \
         get: the DrSite reads a child's status; patch: the DrSite sets a child's spec.activeSite by server-side apply",
    ),
    cluster(
        "drover.dev",
        "persistentchatpools/status",
        &["patch"],
        "the PersistentChatPool controller writes status by server-side apply",
    ),
    cluster(
        "events.k8s.io",
        "events",
        &["create", "patch"],
        "kube's Recorder creates an Event and patches it into a series when it repeats",
    ),
    cluster(
        "",
        "secrets",
        &["get", "list", "watch"],
        "get: SQL logins, CA bundles and remote sites' kubeconfigs; list/watch (metadata only): \
         a rotated login re-runs the AvailabilityGroups and pools naming it",
    ),
    cluster(
        "",
        "pods",
        &["list"],
        "a failed pool hook Job's pods, to read the newest one's log",
    ),
    cluster(
        "",
        "pods/log",
        &["get"],
        "the last lines a failed hook logged, for the StepFailed Event",
    ),
    cluster(
        "batch",
        "jobs",
        &["get", "list", "watch", "create"],
        "hook Jobs of DrSites and pools, fence and force-quorum Jobs of AvailabilityGroups: created from \
         the spec's templates, listed by label to judge them, watched (metadata only) so a finished hook \
         moves the runbook on, read when a create finds one of the same name (taken only with the owner's UID)",
    ),
    cluster(
        "apps",
        "deployments",
        &["get", "list", "watch"],
        "a DrSite component's workload: read, watched (metadata only); never patched as a whole",
    ),
    cluster(
        "apps",
        "deployments/scale",
        &["patch"],
        "a DrSite component's workload scaled through its scale subresource (server-side apply of spec.replicas), \
         as the HorizontalPodAutoscaler does",
    ),
    cluster(
        "apps",
        "statefulsets",
        &["get", "list", "watch"],
        "a DrSite component's workload: read, watched (metadata only); never patched as a whole",
    ),
    cluster(
        "apps",
        "statefulsets/scale",
        &["patch"],
        "a DrSite component's workload scaled through its scale subresource (server-side apply of spec.replicas), \
         as the HorizontalPodAutoscaler does",
    ),
    ApiCall {
        group: "",
        resource: "namespaces",
        verbs: &["get"],
        scope: Scope::ClusterScoped,
        why: "a DrSite site's namespace outside the DrSite's own: its allow-from.drover.dev/<namespace> label \
              says whether an administrator allowed it (components::tenancy)",
    },
    ApiCall {
        group: "coordination.k8s.io",
        resource: "leases",
        verbs: &["get", "create", "update"],
        scope: Scope::ReleaseNamespace,
        why: "leader election: read the Lease, create it when missing, renew, take over and release it with PUT",
    },
];

/// One request as RBAC authorizes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub group: String,
    /// Plural resource, `resource/subresource` for a subresource.
    pub resource: String,
    pub verb: &'static str,
    /// The namespace in the path; `None` for cluster-scoped or all-namespaces requests.
    pub namespace: Option<String>,
}

/// The RBAC (group, resource, verb) of a request to a resource path, `None` for any other path
/// (discovery, `/version`). GET of a collection is `list`, or `watch` with `watch=true|1`
/// (or under the legacy `/watch/` prefix); GET of an object `get`; POST `create`; PUT `update`;
/// PATCH `patch`; DELETE of an object `delete`, of a collection `deletecollection`.
pub fn verb_of(method: &str, path_and_query: &str) -> Option<Access> {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    // `namespaces/{ns}/{resource}...` is namespaced; `namespaces` and `namespaces/{name}[/sub]` are
    // the Namespace resource itself.
    let (namespace, rest) = match rest {
        ["namespaces", ns, resource, tail @ ..] if !(group.is_empty() && is_namespace_subresource(resource, tail)) => {
            (Some((*ns).to_string()), &rest[2..])
        }
        _ => (None, rest),
    };
    let (resource, name) = match rest {
        [resource] => (resource.to_string(), None),
        [resource, name] => (resource.to_string(), Some(*name)),
        [resource, name, sub] => (format!("{resource}/{sub}"), Some(*name)),
        _ => return None,
    };
    let watch_param = query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match (method.to_ascii_uppercase().as_str(), name) {
        ("GET" | "HEAD", _) if legacy_watch || watch_param => "watch",
        ("GET" | "HEAD", None) => "list",
        ("GET" | "HEAD", Some(_)) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", None) => "deletecollection",
        ("DELETE", Some(_)) => "delete",
        _ => return None,
    };
    Some(Access {
        group: group.to_string(),
        resource,
        verb,
        namespace,
    })
}

/// `namespaces/{name}/status` and `namespaces/{name}/finalize` are subresources of a Namespace.
fn is_namespace_subresource(segment: &str, tail: &[&str]) -> bool {
    tail.is_empty() && matches!(segment, "status" | "finalize")
}

/// Paths every authenticated client may GET (the `system:discovery` and
/// `system:public-info-viewer` roles): API discovery and the server's version and health.
fn is_discovery(method: &str, path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    method.eq_ignore_ascii_case("GET")
        && matches!(
            segments.as_slice(),
            ["api"]
                | ["api", _]
                | ["apis"]
                | ["apis", _]
                | ["apis", _, _]
                | ["version" | "healthz" | "livez" | "readyz"]
                | ["openapi", ..]
        )
}

/// The catalogue entry granting `access`, if any.
pub fn grant_for(access: &Access) -> Option<&'static ApiCall> {
    API_CALLS
        .iter()
        .find(|c| c.group == access.group && c.resource == access.resource && c.verbs.contains(&access.verb))
}

/// Whether the chart's RBAC (which grants exactly [`API_CALLS`]) lets drover make this request.
pub fn permitted(method: &str, path_and_query: &str) -> Result<(), String> {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let Some(access) = verb_of(method, path_and_query) else {
        return if is_discovery(method, path) {
            Ok(())
        } else {
            Err(format!(
                "{method} {path_and_query}: not a resource request drover's RBAC grants (no non-resource URLs are granted)"
            ))
        };
    };
    let group = if access.group.is_empty() {
        "core"
    } else {
        access.group.as_str()
    };
    let Some(call) = grant_for(&access) else {
        return Err(format!(
            "{method} {path_and_query} needs verb {:?} on {group} {:?}, which drover::controller::rbac::API_CALLS \
             (and so the chart's RBAC) does not grant: add it there, with why, and to the chart",
            access.verb, access.resource
        ));
    };
    if call.scope == Scope::ReleaseNamespace && access.namespace.is_none() {
        return Err(format!(
            "{method} {path_and_query}: {group} {:?} is granted only in the release namespace (a Role), \
             not cluster-wide",
            access.resource
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triple(method: &str, uri: &str) -> Option<(String, String, &'static str, Option<String>)> {
        verb_of(method, uri).map(|a| (a.group, a.resource, a.verb, a.namespace))
    }

    fn t(
        group: &str,
        resource: &str,
        verb: &'static str,
        ns: Option<&str>,
    ) -> Option<(String, String, &'static str, Option<String>)> {
        Some((group.into(), resource.into(), verb, ns.map(Into::into)))
    }

    #[test]
    fn core_and_group_paths_map_to_their_triples() {
        assert_eq!(
            triple("GET", "/api/v1/namespaces/dr/secrets/ag1-login"),
            t("", "secrets", "get", Some("dr"))
        );
        assert_eq!(
            triple(
                "PATCH",
                "/apis/drover.dev/v1alpha1/namespaces/dr/availabilitygroups/ag1/status?&force=true&fieldManager=drover"
            ),
            t("drover.dev", "availabilitygroups/status", "patch", Some("dr"))
        );
        assert_eq!(
            triple("POST", "/apis/events.k8s.io/v1/namespaces/dr/events?"),
            t("events.k8s.io", "events", "create", Some("dr"))
        );
        assert_eq!(
            triple("GET", "/api/v1/namespaces/dr/pods/hook-1-abcde/log?&tailLines=20"),
            t("", "pods/log", "get", Some("dr"))
        );
        assert_eq!(
            triple("PUT", "/apis/coordination.k8s.io/v1/namespaces/drover/leases/drover"),
            t("coordination.k8s.io", "leases", "update", Some("drover"))
        );
        assert_eq!(
            triple("DELETE", "/apis/batch/v1/namespaces/dr/jobs/hook"),
            t("batch", "jobs", "delete", Some("dr"))
        );
        assert_eq!(
            triple("DELETE", "/apis/batch/v1/namespaces/dr/jobs"),
            t("batch", "jobs", "deletecollection", Some("dr"))
        );
    }

    #[test]
    fn a_collection_get_is_list_or_watch() {
        assert_eq!(
            triple(
                "GET",
                "/apis/batch/v1/namespaces/cc-b/jobs?&labelSelector=drover.dev%2Fdrsite%3Dcc"
            ),
            t("batch", "jobs", "list", Some("cc-b"))
        );
        assert_eq!(
            triple(
                "GET",
                "/apis/apps/v1/deployments?&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&resourceVersion=12"
            ),
            t("apps", "deployments", "watch", None)
        );
        assert_eq!(
            triple("GET", "/apis/drover.dev/v1alpha1/drsites?watch=1"),
            t("drover.dev", "drsites", "watch", None)
        );
        assert_eq!(
            triple("GET", "/api/v1/watch/namespaces/dr/secrets"),
            t("", "secrets", "watch", Some("dr"))
        );
        // `watch=false` and a parameter that merely ends in "watch=true" are lists.
        assert_eq!(
            triple("GET", "/api/v1/secrets?watch=false"),
            t("", "secrets", "list", None)
        );
        assert_eq!(
            triple("GET", "/api/v1/secrets?allowwatch=true"),
            t("", "secrets", "list", None)
        );
    }

    #[test]
    fn the_namespace_resource_itself_is_not_a_namespaced_path() {
        assert_eq!(triple("GET", "/api/v1/namespaces"), t("", "namespaces", "list", None));
        assert_eq!(triple("GET", "/api/v1/namespaces/dr"), t("", "namespaces", "get", None));
        assert_eq!(
            triple("PUT", "/api/v1/namespaces/dr/finalize"),
            t("", "namespaces/finalize", "update", None)
        );
        assert_eq!(
            triple("GET", "/api/v1/namespaces/dr/pods"),
            t("", "pods", "list", Some("dr"))
        );
    }

    #[test]
    fn non_resource_paths_have_no_triple() {
        assert_eq!(triple("GET", "/version"), None);
        assert_eq!(triple("GET", "/apis/apps/v1"), None);
        assert_eq!(triple("GET", "/api/v1/namespaces/dr/pods/p/log/extra"), None);
        assert_eq!(triple("OPTIONS", "/api/v1/secrets"), None);
    }

    #[test]
    fn the_catalogue_decides() {
        assert_eq!(permitted("GET", "/api/v1/namespaces/dr/secrets/login"), Ok(()));
        assert_eq!(
            permitted("GET", "/apis/apps/v1"),
            Ok(()),
            "discovery is granted to everyone"
        );
        let e = permitted("DELETE", "/apis/batch/v1/namespaces/dr/jobs/hook").unwrap_err();
        assert!(
            e.contains("\"delete\"") && e.contains("batch") && e.contains("\"jobs\""),
            "{e}"
        );
        let e = permitted("GET", "/api/v1/namespaces/dr/configmaps/x").unwrap_err();
        assert!(e.contains("core"), "{e}");
        assert!(permitted("PATCH", "/apis/coordination.k8s.io/v1/namespaces/drover/leases/drover").is_err());
        let e = permitted("GET", "/apis/coordination.k8s.io/v1/leases/drover").unwrap_err();
        assert!(e.contains("release namespace"), "{e}");
        assert!(
            permitted("GET", "/metrics").is_err(),
            "non-resource URLs are not granted"
        );
        assert!(permitted("POST", "/api/v1").is_err(), "discovery is read-only");
    }

    #[test]
    fn every_entry_says_why_and_names_real_verbs() {
        const VERBS: &[&str] = &[
            "get",
            "list",
            "watch",
            "create",
            "update",
            "patch",
            "delete",
            "deletecollection",
        ];
        for call in API_CALLS {
            assert!(!call.why.trim().is_empty(), "{}: no why", call.resource);
            assert!(!call.verbs.is_empty(), "{}: no verbs", call.resource);
            for verb in call.verbs {
                assert!(VERBS.contains(verb), "{}: unknown verb {verb}", call.resource);
            }
            let same = API_CALLS
                .iter()
                .filter(|c| c.group == call.group && c.resource == call.resource)
                .count();
            assert_eq!(same, 1, "{}/{} listed twice", call.group, call.resource);
        }
    }
}
