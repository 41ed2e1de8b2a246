//! Specs for unit tests: a small valid DrSite over the two sites of the
//! AvailabilityGroup fixture, with one component of each form, and builders
//! for more.

use super::*;
use k8s_openapi::api::batch::v1::JobSpec;
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

/// The sites of [`spec`], in order, with their namespaces.
pub(crate) const SITES: [(&str, &str); 2] = [("site-a", "app-site-a"), ("site-b", "app-site-b")];

/// Two sites, availability group `ag1`, and three components in a chain:
/// - `db-app`: `ActiveSite`, Deployment `db-app` (2 replicas), needs `ag1` writable;
/// - `proxy`: `EverySite`, StatefulSet `proxy` (1 replica), after `db-app`;
/// - `legacy`: `ActiveSite`, a server outside Kubernetes with hooks and a TCP probe
///   (`legacy.<site>.example:9000`), after `proxy`.
pub(crate) fn spec() -> DrSiteSpec {
    let mut db_app = workload_component("db-app", Placement::ActiveSite, WorkloadKind::Deployment, 2, &[]);
    db_app.requires_writable = vec!["ag1".into()];
    DrSiteSpec {
        sites: SITES
            .iter()
            .map(|(name, namespace)| SiteSpec {
                name: (*name).into(),
                namespace: (*namespace).into(),
                kubeconfig: None,
            })
            .collect(),
        active_site: "site-a".into(),
        availability_groups: vec![ChildRef { name: "ag1".into() }],
        persistent_chat_pools: vec![],
        components: vec![
            db_app,
            workload_component("proxy", Placement::EverySite, WorkloadKind::StatefulSet, 1, &["db-app"]),
            hooks_component("legacy", Placement::ActiveSite, &["proxy"]),
        ],
        suspend: false,
    }
}

/// A component run by a workload of its own name at every site of [`SITES`].
pub(crate) fn workload_component(
    name: &str,
    placement: Placement,
    kind: WorkloadKind,
    replicas: i32,
    depends_on: &[&str],
) -> ComponentSpec {
    ComponentSpec {
        name: name.into(),
        placement,
        depends_on: depends_on.iter().map(|d| (*d).into()).collect(),
        requires_writable: vec![],
        timeout_seconds: DEFAULT_STEP_TIMEOUT_SECONDS,
        sites: SITES
            .iter()
            .map(|(site, _)| ComponentAtSite {
                site: (*site).into(),
                workload: Some(WorkloadRef {
                    kind,
                    name: name.into(),
                    replicas,
                }),
                hooks: None,
            })
            .collect(),
    }
}

/// A server outside Kubernetes at every site of [`SITES`]: start and stop Jobs, and a TCP
/// probe of `<name>.<site>.example:9000`.
pub(crate) fn hooks_component(name: &str, placement: Placement, depends_on: &[&str]) -> ComponentSpec {
    ComponentSpec {
        name: name.into(),
        placement,
        depends_on: depends_on.iter().map(|d| (*d).into()).collect(),
        requires_writable: vec![],
        timeout_seconds: DEFAULT_STEP_TIMEOUT_SECONDS,
        sites: SITES
            .iter()
            .map(|(site, _)| ComponentAtSite {
                site: (*site).into(),
                workload: None,
                hooks: Some(Hooks {
                    start: job_template(&format!("start {name}")),
                    stop: job_template(&format!("stop {name}")),
                    probe: Probe {
                        tcp: Some(TcpProbe {
                            host: format!("{name}.{site}.example"),
                            port: 9000,
                        }),
                        http: None,
                        timeout_seconds: 2,
                    },
                }),
            })
            .collect(),
    }
}

/// A Job template with one container running `command` in a shell.
pub(crate) fn job_template(command: &str) -> JobTemplateSpec {
    JobTemplateSpec {
        metadata: None,
        spec: Some(JobSpec {
            backoff_limit: Some(1),
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    containers: vec![Container {
                        name: "hook".into(),
                        image: Some("busybox:1.36".into()),
                        command: Some(vec!["sh".into(), "-c".into(), command.into()]),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
    }
}

/// A PersistentChatPool `namespace/name` a DrSite over [`SITES`] can list: primary data center
/// `site-a`, backup `site-b`, asking for `active`. No status, no generation.
pub(crate) fn chat_pool(namespace: &str, name: &str, active: &str) -> crate::api::PersistentChatPool {
    let instance = |host: &str| serde_json::json!({"serverName": host, "endpoint": {"host": host}});
    let pool = serde_json::json!({
        "apiVersion": "drover.dev/v1alpha1",
        "kind": "PersistentChatPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "poolIdentity": "PersistentChatServer:pchat.contoso.com",
            "activeSite": active,
            "primary": {"site": SITES[0].0, "sqlInstance": instance("sql-a"), "activeServers": ["pc-a.contoso.com"]},
            "backup": {"site": SITES[1].0, "sqlInstance": instance("sql-b"), "activeServers": ["pc-b.contoso.com"]},
            "logShipping": {"backupShare": "\\\\fs\\logs", "copyDestination": "D:\\LogShip"},
            "credentials": {"secretName": "pchat-login"},
            "hooks": {"setPoolState": {}, "setActiveServers": {}, "installMirror": {}, "establishLogShipping": {}}
        }
    });
    match serde_json::from_value(pool) {
        Ok(pool) => pool,
        Err(e) => panic!("the pool fixture no longer matches the PersistentChatPool type: {e}"),
    }
}
