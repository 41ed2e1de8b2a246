//! The rules for every Job drover creates from a user's template (DrSite start/stop hooks, pool
//! cmdlet hooks, an AvailabilityGroup's fence and force-quorum hooks), and how drover recognises a
//! Job as its own. Pure.
//!
//! drover creates these Jobs with its own identity, so a template is only as safe as what it may
//! ask for: whoever may write a DrSite, pool or group could otherwise run a privileged pod, reach
//! the node through host namespaces or a hostPath volume, or act as a ServiceAccount they could not
//! use themselves. [`check`] refuses all of that; it runs when the spec is validated (an Invalid
//! condition and an Event, nothing done) and again when the Job is built, so nothing that slipped
//! past the first reaches the API server.
//!
//! A Job is drover's when it carries the owning object's UID: an owner reference when the Job is
//! in the owner's namespace (pool and group hooks: garbage-collected with it), and always the
//! [`OWNER_UID_ANNOTATION`] (a DrSite's hooks run in a site's namespace, maybe in another cluster,
//! where an owner reference cannot point). A Job with the expected name but not the UID is someone
//! else's: never taken as the hook's run.

use k8s_openapi::api::batch::v1::{Job, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, EphemeralContainer, PodSpec, SecurityContext};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

/// The annotation holding the UID of the object a Job was created for.
pub const OWNER_UID_ANNOTATION: &str = "drover.dev/owner-uid";

/// Capabilities a hook container may add: the Pod Security Standards' baseline list (what a
/// container runtime grants by default). Anything else (`SYS_ADMIN`, `NET_ADMIN`, `ALL`, …) is
/// refused.
pub const SAFE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// What the administrator allows in Job templates (the operator's `--hook-service-account` flag,
/// the chart's `hooks.allowedServiceAccounts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobPolicy {
    /// ServiceAccount names a template may name in `serviceAccountName` (in the Job's namespace).
    /// Empty (the default): none; the pod runs as the namespace's `default` ServiceAccount without
    /// its token mounted.
    pub allowed_service_accounts: &'static [String],
}

impl JobPolicy {
    fn allows(&self, account: &str) -> bool {
        self.allowed_service_accounts.iter().any(|a| a == account)
    }
}

/// Why a template may not be run: the field (under the template's own field) and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every reason `template` may not be run, with the field under `at` (e.g.
/// `spec.replicas[0].fenceHook`). Empty: it may.
pub fn check(template: &JobTemplateSpec, at: &str, policy: &JobPolicy) -> Vec<Refusal> {
    let mut problems = Vec::new();
    let Some(pod) = template.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        // A template without a pod is refused when the Job is built ("has no spec"); nothing here
        // could run.
        return problems;
    };
    let p = format!("{at}.spec.template.spec");
    let mut refuse = |field: String, why: &str| {
        problems.push(Refusal {
            field,
            message: why.to_string(),
        });
    };
    for (flag, name) in [
        (pod.host_network, "hostNetwork"),
        (pod.host_pid, "hostPID"),
        (pod.host_ipc, "hostIPC"),
    ] {
        if flag == Some(true) {
            refuse(
                format!("{p}.{name}"),
                "host namespaces are not allowed in a Job drover runs",
            );
        }
    }
    for (i, v) in pod.volumes.iter().flatten().enumerate() {
        if v.host_path.is_some() {
            refuse(
                format!("{p}.volumes[{i}].hostPath"),
                "hostPath volumes are not allowed in a Job drover runs",
            );
        }
    }
    let account = pod
        .service_account_name
        .as_deref()
        .or(pod.service_account.as_deref())
        .filter(|a| !a.is_empty());
    match account {
        Some(a) if !policy.allows(a) => refuse(
            format!("{p}.serviceAccountName"),
            &format!(
                "ServiceAccount {a:?} is not allowed: drover runs hook Jobs only as a ServiceAccount the administrator listed (--hook-service-account; allowed: {})",
                if policy.allowed_service_accounts.is_empty() {
                    "none".to_string()
                } else {
                    policy.allowed_service_accounts.join(", ")
                }
            ),
        ),
        None if pod.automount_service_account_token == Some(true) => refuse(
            format!("{p}.automountServiceAccountToken"),
            "a token may be mounted only for a serviceAccountName the administrator allowed",
        ),
        _ => {}
    }
    if pod
        .security_context
        .as_ref()
        .and_then(|s| s.windows_options.as_ref())
        .and_then(|w| w.host_process)
        == Some(true)
    {
        refuse(
            format!("{p}.securityContext.windowsOptions.hostProcess"),
            "Windows HostProcess pods are not allowed in a Job drover runs",
        );
    }
    let containers =
        pod.containers
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("{p}.containers[{i}]"), c.security_context.as_ref()))
            .chain(
                pod.init_containers
                    .iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, c): (usize, &Container)| {
                        (format!("{p}.initContainers[{i}]"), c.security_context.as_ref())
                    }),
            )
            .chain(pod.ephemeral_containers.iter().flatten().enumerate().map(
                |(i, c): (usize, &EphemeralContainer)| {
                    (format!("{p}.ephemeralContainers[{i}]"), c.security_context.as_ref())
                },
            ));
    for (field, sc) in containers {
        if let Some(sc) = sc {
            container(sc, &format!("{field}.securityContext"), &mut refuse);
        }
    }
    problems
}

fn container(sc: &SecurityContext, at: &str, refuse: &mut impl FnMut(String, &str)) {
    if sc.privileged == Some(true) {
        refuse(
            format!("{at}.privileged"),
            "privileged containers are not allowed in a Job drover runs",
        );
    }
    if sc.allow_privilege_escalation == Some(true) {
        refuse(
            format!("{at}.allowPrivilegeEscalation"),
            "privilege escalation is not allowed in a Job drover runs",
        );
    }
    if sc.proc_mount.as_deref() == Some("Unmasked") {
        refuse(
            format!("{at}.procMount"),
            "an unmasked /proc is not allowed in a Job drover runs",
        );
    }
    if sc.windows_options.as_ref().and_then(|w| w.host_process) == Some(true) {
        refuse(
            format!("{at}.windowsOptions.hostProcess"),
            "Windows HostProcess containers are not allowed in a Job drover runs",
        );
    }
    for (i, cap) in sc
        .capabilities
        .as_ref()
        .and_then(|c| c.add.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let bare = cap.trim().to_ascii_uppercase();
        let bare = bare.strip_prefix("CAP_").unwrap_or(&bare);
        if !SAFE_CAPABILITIES.contains(&bare) {
            refuse(
                format!("{at}.capabilities.add[{i}]"),
                &format!(
                    "capability {cap:?} is not allowed in a Job drover runs (allowed: the Pod Security Standards baseline: {})",
                    SAFE_CAPABILITIES.join(", ")
                ),
            );
        }
    }
}

/// Every Job template of an AvailabilityGroup, with its field.
pub fn ag_templates(spec: &crate::api::availability_group::AvailabilityGroupSpec) -> Vec<(String, &JobTemplateSpec)> {
    let mut all = Vec::new();
    for (i, r) in spec.replicas.iter().enumerate() {
        if let Some(t) = &r.fence_hook {
            all.push((format!("spec.replicas[{i}].fenceHook"), t));
        }
        if let Some(t) = &r.force_quorum_hook {
            all.push((format!("spec.replicas[{i}].forceQuorumHook"), t));
        }
    }
    all
}

/// Every Job template of a DrSite (its components' start and stop hooks), with its field.
pub fn drsite_templates(spec: &crate::api::dr_site::DrSiteSpec) -> Vec<(String, &JobTemplateSpec)> {
    let mut all = Vec::new();
    for (i, c) in spec.components.iter().enumerate() {
        for (j, at) in c.sites.iter().enumerate() {
            if let Some(h) = &at.hooks {
                all.push((format!("spec.components[{i}].sites[{j}].hooks.start"), &h.start));
                all.push((format!("spec.components[{i}].sites[{j}].hooks.stop"), &h.stop));
            }
        }
    }
    all
}

/// Every Job template of a PersistentChatPool (its cmdlet hooks), with its field.
pub fn pool_templates(
    spec: &crate::api::persistent_chat_pool::PersistentChatPoolSpec,
) -> Vec<(String, &JobTemplateSpec)> {
    let h = &spec.hooks;
    vec![
        ("spec.hooks.setPoolState".to_string(), &h.set_pool_state),
        ("spec.hooks.setActiveServers".to_string(), &h.set_active_servers),
        ("spec.hooks.installMirror".to_string(), &h.install_mirror),
        ("spec.hooks.establishLogShipping".to_string(), &h.establish_log_shipping),
    ]
}

/// [`check`] over `templates`: every refusal.
pub fn check_all(templates: &[(String, &JobTemplateSpec)], policy: &JobPolicy) -> Vec<Refusal> {
    templates.iter().flat_map(|(at, t)| check(t, at, policy)).collect()
}

/// Hardening drover applies to every Job it builds (after [`check`] passed): without an allowed
/// ServiceAccount, no API token is mounted into the pod.
pub fn harden(pod: &mut PodSpec) {
    let named = pod
        .service_account_name
        .as_deref()
        .or(pod.service_account.as_deref())
        .is_some_and(|a| !a.is_empty());
    if !named {
        pod.automount_service_account_token = Some(false);
    }
}

/// The object a Job is created for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOwner {
    /// `drover.dev/v1alpha1`.
    pub api_version: String,
    /// `AvailabilityGroup`, `PersistentChatPool`, `DrSite`.
    pub kind: String,
    pub name: String,
    pub namespace: String,
    /// Its `metadata.uid`. An object read from an API server always has one; objects built in
    /// memory (tests, the demo) may not, and then `namespace/name` stands in for it.
    pub uid: String,
}

impl JobOwner {
    /// The owner of a Job for the object `meta` of `kind`.
    pub fn of(kind: &str, meta: &ObjectMeta) -> Self {
        let namespace = meta.namespace.clone().unwrap_or_default();
        let name = meta.name.clone().unwrap_or_default();
        let uid = meta
            .uid
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| format!("no-uid:{namespace}/{name}"));
        Self {
            api_version: "drover.dev/v1alpha1".into(),
            kind: kind.into(),
            name,
            namespace,
            uid,
        }
    }

    /// Marks `meta` (a Job's, in `namespace`) as created for this owner: the UID annotation, and an
    /// owner reference when the Job is in the owner's namespace and the owner has a real UID.
    pub fn mark(&self, meta: &mut ObjectMeta, namespace: &str) {
        meta.annotations
            .get_or_insert_default()
            .insert(OWNER_UID_ANNOTATION.into(), self.uid.clone());
        if namespace == self.namespace && !self.uid.starts_with("no-uid:") {
            meta.owner_references = Some(vec![OwnerReference {
                api_version: self.api_version.clone(),
                kind: self.kind.clone(),
                name: self.name.clone(),
                uid: self.uid.clone(),
                controller: Some(true),
                block_owner_deletion: None,
            }]);
        }
    }
}

/// The UID a Job says it was created for: its controller owner reference's, else the annotation's.
pub fn owner_uid(job: &Job) -> Option<&str> {
    let meta = &job.metadata;
    meta.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| r.uid.as_str())
        .or_else(|| {
            meta.annotations
                .as_ref()
                .and_then(|a| a.get(OWNER_UID_ANNOTATION))
                .map(String::as_str)
        })
}

/// Whether `job` was created by drover for the object with `uid`.
pub fn owned_by(job: &Job, uid: &str) -> bool {
    owner_uid(job) == Some(uid)
}

/// The error for a create that found a Job of the same name that is not drover's for this owner.
pub fn not_ours(namespace: &str, name: &str) -> String {
    format!(
        "a Job {namespace}/{name} already exists and was not created by drover for this object (no matching owner UID): it is not taken as the hook's run; delete or rename it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{
        Capabilities, HostPathVolumeSource, PodTemplateSpec, Volume, WindowsSecurityContextOptions,
    };

    fn template(pod: PodSpec) -> JobTemplateSpec {
        JobTemplateSpec {
            metadata: None,
            spec: Some(JobSpec {
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(pod),
                },
                ..JobSpec::default()
            }),
        }
    }

    fn plain() -> PodSpec {
        PodSpec {
            containers: vec![Container {
                name: "run".into(),
                image: Some("registry.example/fence:1".into()),
                ..Container::default()
            }],
            restart_policy: Some("Never".into()),
            ..PodSpec::default()
        }
    }

    fn with_sc(sc: SecurityContext) -> PodSpec {
        let mut pod = plain();
        pod.containers[0].security_context = Some(sc);
        pod
    }

    const AT: &str = "spec.replicas[0].fenceHook";
    const POD: &str = "spec.replicas[0].fenceHook.spec.template.spec";

    fn refused(pod: PodSpec) -> Vec<String> {
        check(&template(pod), AT, &JobPolicy::default())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_plain_template_passes() {
        assert_eq!(refused(plain()), Vec::<String>::new());
        let sc = SecurityContext {
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                add: Some(vec!["NET_BIND_SERVICE".into(), "cap_chown".into()]),
                drop: Some(vec!["ALL".into()]),
            }),
            ..SecurityContext::default()
        };
        assert_eq!(refused(with_sc(sc)), Vec::<String>::new());
    }

    #[test]
    fn each_dangerous_setting_is_refused_with_its_field() {
        let cases: Vec<(PodSpec, String)> = vec![
            (
                with_sc(SecurityContext {
                    privileged: Some(true),
                    ..SecurityContext::default()
                }),
                format!(
                    "{POD}.containers[0].securityContext.privileged: privileged containers are not allowed in a Job drover runs"
                ),
            ),
            (
                with_sc(SecurityContext {
                    allow_privilege_escalation: Some(true),
                    ..SecurityContext::default()
                }),
                format!(
                    "{POD}.containers[0].securityContext.allowPrivilegeEscalation: privilege escalation is not allowed in a Job drover runs"
                ),
            ),
            (
                PodSpec {
                    host_network: Some(true),
                    ..plain()
                },
                format!("{POD}.hostNetwork: host namespaces are not allowed in a Job drover runs"),
            ),
            (
                PodSpec {
                    host_pid: Some(true),
                    ..plain()
                },
                format!("{POD}.hostPID: host namespaces are not allowed in a Job drover runs"),
            ),
            (
                PodSpec {
                    host_ipc: Some(true),
                    ..plain()
                },
                format!("{POD}.hostIPC: host namespaces are not allowed in a Job drover runs"),
            ),
            (
                PodSpec {
                    volumes: Some(vec![Volume {
                        name: "root".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: "/".into(),
                            type_: None,
                        }),
                        ..Volume::default()
                    }]),
                    ..plain()
                },
                format!("{POD}.volumes[0].hostPath: hostPath volumes are not allowed in a Job drover runs"),
            ),
            (
                PodSpec {
                    service_account_name: Some("cluster-admin-sa".into()),
                    ..plain()
                },
                format!(
                    "{POD}.serviceAccountName: ServiceAccount \"cluster-admin-sa\" is not allowed: drover runs hook Jobs only as a ServiceAccount the administrator listed (--hook-service-account; allowed: none)"
                ),
            ),
            (
                PodSpec {
                    service_account: Some("legacy-field".into()),
                    ..plain()
                },
                format!(
                    "{POD}.serviceAccountName: ServiceAccount \"legacy-field\" is not allowed: drover runs hook Jobs only as a ServiceAccount the administrator listed (--hook-service-account; allowed: none)"
                ),
            ),
            (
                PodSpec {
                    automount_service_account_token: Some(true),
                    ..plain()
                },
                format!(
                    "{POD}.automountServiceAccountToken: a token may be mounted only for a serviceAccountName the administrator allowed"
                ),
            ),
            (
                with_sc(SecurityContext {
                    windows_options: Some(WindowsSecurityContextOptions {
                        host_process: Some(true),
                        ..WindowsSecurityContextOptions::default()
                    }),
                    ..SecurityContext::default()
                }),
                format!(
                    "{POD}.containers[0].securityContext.windowsOptions.hostProcess: Windows HostProcess containers are not allowed in a Job drover runs"
                ),
            ),
        ];
        for (pod, expected) in cases {
            assert_eq!(refused(pod), vec![expected]);
        }
    }

    #[test]
    fn capabilities_beyond_the_baseline_are_refused_in_every_kind_of_container() {
        let sc = SecurityContext {
            capabilities: Some(Capabilities {
                add: Some(vec!["SYS_ADMIN".into(), "KILL".into(), "ALL".into()]),
                drop: None,
            }),
            ..SecurityContext::default()
        };
        let mut pod = plain();
        pod.init_containers = Some(vec![Container {
            name: "init".into(),
            security_context: Some(sc),
            ..Container::default()
        }]);
        let problems = refused(pod);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with(&format!(
                "{POD}.initContainers[0].securityContext.capabilities.add[0]: capability \"SYS_ADMIN\" is not allowed"
            )),
            "{problems:?}"
        );
        assert!(
            problems[1].contains("capabilities.add[2]: capability \"ALL\""),
            "{problems:?}"
        );
    }

    #[test]
    fn an_allowed_service_account_passes_and_may_mount_its_token() {
        let allowed: &'static [String] = Box::leak(vec!["fencer".to_string()].into_boxed_slice());
        let policy = JobPolicy {
            allowed_service_accounts: allowed,
        };
        let pod = PodSpec {
            service_account_name: Some("fencer".into()),
            automount_service_account_token: Some(true),
            ..plain()
        };
        assert_eq!(check(&template(pod.clone()), AT, &policy), Vec::<Refusal>::new());
        let other = PodSpec {
            service_account_name: Some("default".into()),
            ..pod
        };
        let problems = check(&template(other), AT, &policy);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].message.contains("\"default\" is not allowed")
                && problems[0].message.contains("allowed: fencer")
        );
    }

    #[test]
    fn hardening_unmounts_the_token_without_a_service_account() {
        let mut pod = plain();
        harden(&mut pod);
        assert_eq!(pod.automount_service_account_token, Some(false));
        let mut named = PodSpec {
            service_account_name: Some("fencer".into()),
            ..plain()
        };
        harden(&mut named);
        assert_eq!(named.automount_service_account_token, None);
    }

    #[test]
    fn a_job_is_ours_only_with_the_owner_uid() {
        let owner = JobOwner::of(
            "AvailabilityGroup",
            &ObjectMeta {
                name: Some("cc-ag".into()),
                namespace: Some("dr".into()),
                uid: Some("0b6c-uid".into()),
                ..ObjectMeta::default()
            },
        );
        let mut job = Job::default();
        assert!(!owned_by(&job, "0b6c-uid"), "a bare Job is nobody's");
        owner.mark(&mut job.metadata, "dr");
        assert!(owned_by(&job, "0b6c-uid"));
        let refs = job
            .metadata
            .owner_references
            .clone()
            .expect("owner reference in the same namespace");
        assert_eq!(refs[0].kind, "AvailabilityGroup");
        assert_eq!(refs[0].controller, Some(true));
        assert!(!owned_by(&job, "another-uid"));

        let mut remote = Job::default();
        owner.mark(&mut remote.metadata, "site-b-apps");
        assert_eq!(
            remote.metadata.owner_references, None,
            "no owner reference across namespaces"
        );
        assert!(owned_by(&remote, "0b6c-uid"), "the annotation carries the UID");

        let no_uid = JobOwner::of(
            "DrSite",
            &ObjectMeta {
                name: Some("cc".into()),
                namespace: Some("dr".into()),
                ..ObjectMeta::default()
            },
        );
        let mut memory = Job::default();
        no_uid.mark(&mut memory.metadata, "dr");
        assert_eq!(memory.metadata.owner_references, None);
        assert!(owned_by(&memory, "no-uid:dr/cc"));
    }
}
