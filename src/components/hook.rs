//! Hook Jobs: the Job drover creates from a user's start or stop template, and
//! what it reads back from one. Pure: the name, labels and environment are a
//! function of the template and the context, so every reconcile (and every
//! operator replica) builds the same Job and a create that already happened
//! is recognised by its name.

use super::jobs::{JobOwner, JobPolicy, check, harden, owner_uid};
use super::{
    HookAction, HookJob, JobPhase, LABEL_ACTION, LABEL_AG, LABEL_COMPONENT, LABEL_DRSITE, LABEL_POOL, LABEL_RUN,
    LABEL_SITE,
};
use crate::plan::fnv1a;
use k8s_openapi::api::batch::v1::{Job, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, EnvVar};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Kubernetes' limit on a label value, and on the Job name (it becomes the pods' `job-name` label).
const MAX_LABEL: usize = 63;
/// Room left for a readable prefix once `-` and 8 hex digits are appended.
const MAX_PREFIX: usize = MAX_LABEL - 9;
/// How much of the DrSite's and the component's names the Job name keeps.
const MAX_DRSITE_PART: usize = 24;
const MAX_COMPONENT_PART: usize = 23;

/// What a hook Job is for; all of it goes into the Job's name, labels and environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HookContext<'a> {
    /// The DrSite's name.
    pub drsite: &'a str,
    /// The component started or stopped.
    pub component: &'a str,
    /// The site it is started or stopped at.
    pub site: &'a str,
    pub action: HookAction,
    /// The site that is (or is becoming) active.
    pub active_site: &'a str,
    /// The transition and attempt ([`run_label`]): a retry gets a new Job, a repeat of the same
    /// attempt finds the one already created.
    pub run: &'a str,
}

/// Who a Job is built for and under which rules: the owning object (its UID marks the Job as
/// drover's) and the administrator's [`JobPolicy`].
#[derive(Debug, Clone, Copy)]
pub struct Build<'a> {
    pub owner: &'a JobOwner,
    pub policy: &'a JobPolicy,
}

/// The Job for one hook run: the template's metadata and spec, named and labelled by drover, with
/// the `DROVER_*` environment in every container. `Err` when the template has no pod to run or
/// asks for what a Job drover runs may not have ([`super::jobs::check`]).
pub fn hook_job(
    template: &JobTemplateSpec,
    namespace: &str,
    ctx: &HookContext<'_>,
    build: Build<'_>,
) -> Result<Job, String> {
    let what = format!("the {} hook of {} at {}", ctx.action.as_str(), ctx.component, ctx.site);
    let labels = [
        (LABEL_DRSITE, label_value(ctx.drsite)),
        (LABEL_COMPONENT, label_value(ctx.component)),
        (LABEL_SITE, label_value(ctx.site)),
        (LABEL_ACTION, ctx.action.as_str().to_string()),
        (LABEL_RUN, label_value(ctx.run)),
    ];
    build_job(
        template,
        namespace,
        &what,
        job_name(ctx),
        &labels,
        &hook_env(ctx),
        build,
    )
}

/// What a pool cmdlet's hook Job is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolHookContext<'a> {
    /// The PersistentChatPool's name.
    pub pool: &'a str,
    /// The pool identity the cmdlets take.
    pub identity: &'a str,
    /// The runbook step (`set-pool-state`, `clear-active-servers`, …).
    pub step: &'a str,
    /// `DROVER_ACTION`: which cmdlet.
    pub hook_action: &'a str,
    pub site: &'a str,
    pub run: &'a str,
}

/// A pool cmdlet's hook Job: named `<pool>-<step>-<hash>`, labelled with the pool, the step and
/// the run, with `DROVER_POOL`, `DROVER_ACTION`, `DROVER_SITE`, `DROVER_RUN` and the step's arguments.
pub fn pool_hook_job(
    template: &JobTemplateSpec,
    namespace: &str,
    ctx: &PoolHookContext<'_>,
    args: &[(&'static str, String)],
    build: Build<'_>,
) -> Result<Job, String> {
    let what = format!("the {} hook of pool {}", ctx.step, ctx.pool);
    let labels = [
        (LABEL_POOL, label_value(ctx.pool)),
        (LABEL_ACTION, label_value(ctx.step)),
        (LABEL_SITE, label_value(ctx.site)),
        (LABEL_RUN, label_value(ctx.run)),
    ];
    let mut env = vec![
        ("DROVER_POOL", ctx.identity.to_string()),
        ("DROVER_ACTION", ctx.hook_action.to_string()),
        ("DROVER_SITE", ctx.site.to_string()),
        ("DROVER_RUN", ctx.run.to_string()),
    ];
    env.extend(args.iter().cloned());
    let key = [ctx.pool, ctx.step, ctx.site, ctx.run].join("\0");
    let prefix = [
        dns_part(ctx.pool, MAX_DRSITE_PART),
        dns_part(ctx.step, MAX_COMPONENT_PART),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .collect::<Vec<_>>()
    .join("-");
    let name = format!("{prefix}-{:08x}", fnv1a(key.as_bytes()) as u32);
    build_job(template, namespace, &what, name, &labels, &env, build)
}

/// What an AvailabilityGroup's fence or force-quorum Job is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgHookContext<'a> {
    /// The AvailabilityGroup's resource name.
    pub group: &'a str,
    /// The availability group's name in SQL Server.
    pub group_name: &'a str,
    pub hook: crate::api::availability_group::AgHook,
    /// The replica it acts on (the old primary to fence, the target to force quorum for).
    pub replica: &'a str,
    pub site: &'a str,
    /// The forced failover's target.
    pub target: &'a str,
    /// The outage it belongs to: a repeat finds the Job already created.
    pub run: &'a str,
}

/// A fence or force-quorum Job: named `<group>-<fence|force-quorum>-<hash>`, labelled with the
/// group, the hook, the site and the run, with `DROVER_ACTION`, `DROVER_GROUP`, `DROVER_REPLICA`,
/// `DROVER_SITE`, `DROVER_TARGET_REPLICA` and `DROVER_RUN` in every container.
pub fn ag_hook_job(
    template: &JobTemplateSpec,
    namespace: &str,
    ctx: &AgHookContext<'_>,
    build: Build<'_>,
) -> Result<Job, String> {
    let action = ctx.hook.as_str();
    let what = format!("the {} of {}", ctx.hook.field(), ctx.replica);
    let labels = [
        (LABEL_AG, label_value(ctx.group)),
        (LABEL_ACTION, action.to_string()),
        (LABEL_SITE, label_value(ctx.site)),
        (LABEL_RUN, label_value(ctx.run)),
    ];
    let env = [
        ("DROVER_ACTION", action.to_string()),
        ("DROVER_GROUP", ctx.group_name.to_string()),
        ("DROVER_REPLICA", ctx.replica.to_string()),
        ("DROVER_SITE", ctx.site.to_string()),
        ("DROVER_TARGET_REPLICA", ctx.target.to_string()),
        ("DROVER_RUN", ctx.run.to_string()),
    ];
    let key = [ctx.group, action, ctx.replica, ctx.site, ctx.run].join("\0");
    let prefix = [
        dns_part(ctx.group, MAX_DRSITE_PART + MAX_COMPONENT_PART - 13),
        action.to_string(),
    ]
    .into_iter()
    .filter(|p| !p.is_empty())
    .collect::<Vec<_>>()
    .join("-");
    let name = format!("{prefix}-{:08x}", fnv1a(key.as_bytes()) as u32);
    build_job(template, namespace, &what, name, &labels, &env, build)
}

/// A fence or force-quorum Job drover created for the group with `owner_uid`; `None` for any
/// other Job (another group's, or one drover did not create, whatever its name).
pub fn parse_ag_job(job: &Job, owner_uid: &str) -> Option<crate::plan::ag::AgJob> {
    if !super::jobs::owned_by(job, owner_uid) {
        return None;
    }
    let labels = job.metadata.labels.as_ref()?;
    Some(crate::plan::ag::AgJob {
        name: job.metadata.name.clone()?,
        hook: crate::api::availability_group::AgHook::parse(labels.get(LABEL_ACTION)?)?,
        site: labels.get(LABEL_SITE)?.clone(),
        run: labels.get(LABEL_RUN)?.clone(),
        phase: job_phase(job),
    })
}

/// A pool hook Job drover created for the pool with `owner_uid`, from its labels and status;
/// `None` for any other Job (another pool's, or one drover did not create).
pub fn parse_pool_job(job: &Job, owner_uid: &str) -> Option<crate::plan::pchat::PoolJob> {
    if !super::jobs::owned_by(job, owner_uid) {
        return None;
    }
    let labels = job.metadata.labels.as_ref()?;
    Some(crate::plan::pchat::PoolJob {
        name: job.metadata.name.clone()?,
        step: labels.get(LABEL_ACTION)?.clone(),
        run: labels.get(LABEL_RUN)?.clone(),
        phase: job_phase(job),
    })
}

/// The template's metadata and spec, named and labelled by drover, with `env` in every container.
fn build_job(
    template: &JobTemplateSpec,
    namespace: &str,
    what: &str,
    name: String,
    drover_labels: &[(&str, String)],
    env: &[(&'static str, String)],
    build: Build<'_>,
) -> Result<Job, String> {
    let refused = check(template, "template", build.policy);
    if !refused.is_empty() {
        let why: Vec<String> = refused.iter().map(ToString::to_string).collect();
        return Err(format!("{what} is refused: {}", why.join("; ")));
    }
    let mut spec = template
        .spec
        .clone()
        .ok_or_else(|| format!("{what} has no spec (a batch/v1 JobSpec)"))?;
    let pod = spec
        .template
        .spec
        .as_mut()
        .ok_or_else(|| format!("{what} has no spec.template.spec (a pod)"))?;
    if pod.containers.is_empty() {
        return Err(format!("{what} has no container"));
    }
    harden(pod);
    for container in pod
        .containers
        .iter_mut()
        .chain(pod.init_containers.iter_mut().flatten())
    {
        set_env(container, env);
    }
    let given = template.metadata.clone().unwrap_or_default();
    let mut labels = given.labels.unwrap_or_default();
    for (key, value) in drover_labels {
        labels.insert((*key).to_string(), value.clone());
    }
    let mut metadata = ObjectMeta {
        name: Some(name),
        namespace: Some(namespace.to_string()),
        labels: Some(labels),
        annotations: given.annotations,
        ..ObjectMeta::default()
    };
    build.owner.mark(&mut metadata, namespace);
    Ok(Job {
        metadata,
        spec: Some(spec),
        status: None,
    })
}

/// The `DROVER_*` variables a hook's containers get.
fn hook_env(ctx: &HookContext<'_>) -> [(&'static str, String); 6] {
    [
        ("DROVER_ACTION", ctx.action.as_str().to_string()),
        ("DROVER_COMPONENT", ctx.component.to_string()),
        ("DROVER_SITE", ctx.site.to_string()),
        ("DROVER_ACTIVE_SITE", ctx.active_site.to_string()),
        ("DROVER_DRSITE", ctx.drsite.to_string()),
        ("DROVER_RUN", ctx.run.to_string()),
    ]
}

/// Sets each variable, replacing one of the same name the template gave (drover's value is the
/// truth about this run) and keeping the others in place.
fn set_env(container: &mut Container, vars: &[(&'static str, String)]) {
    let env = container.env.get_or_insert_default();
    for (name, value) in vars {
        let var = EnvVar {
            name: (*name).to_string(),
            value: Some(value.clone()),
            value_from: None,
        };
        match env.iter().position(|e| e.name == *name) {
            Some(i) => {
                env[i] = var;
                // A duplicate later in the list would win in the container; drop it.
                let mut j = i + 1;
                while j < env.len() {
                    if env[j].name == *name {
                        env.remove(j);
                    } else {
                        j += 1;
                    }
                }
            }
            None => env.push(var),
        }
    }
}

/// `<drsite>-<component>-<action>-<hash>`: readable, at most 63 characters (it ends up in the pods'
/// `job-name` label), and different for every (drsite, component, site, action, run).
fn job_name(ctx: &HookContext<'_>) -> String {
    let parts = [
        dns_part(ctx.drsite, MAX_DRSITE_PART),
        dns_part(ctx.component, MAX_COMPONENT_PART),
        ctx.action.as_str().to_string(),
    ];
    let prefix = parts
        .iter()
        .filter(|p| !p.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join("-");
    let key = [ctx.drsite, ctx.component, ctx.site, ctx.action.as_str(), ctx.run].join("\0");
    format!("{prefix}-{:08x}", fnv1a(key.as_bytes()) as u32)
}

/// `s` as lower-case letters, digits and inner `-`, at most `max` characters.
fn dns_part(s: &str, max: usize) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    let cut: String = trimmed.chars().take(max).collect();
    cut.trim_end_matches('-').to_string()
}

/// Whether Kubernetes accepts `s` as a label value: at most 63 of `[-_.a-zA-Z0-9]`, starting and
/// ending with a letter or digit (or empty).
fn is_label_value(s: &str) -> bool {
    s.is_empty()
        || (s.len() <= MAX_LABEL
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

/// `s` itself when it is a valid label value, else a readable prefix of it and a hash of all of it:
/// valid, deterministic, and distinct for distinct inputs. Every writer and reader of the drsite
/// label goes through this, so a selector built from a name matches the Jobs built from it.
pub fn label_value(s: &str) -> String {
    if is_label_value(s) {
        return s.to_string();
    }
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let start = mapped.trim_start_matches(|c: char| !alnum(c));
    let cut: String = start.chars().take(MAX_PREFIX).collect();
    let prefix = cut.trim_end_matches(|c: char| !alnum(c));
    let hash = format!("{:08x}", fnv1a(s.as_bytes()) as u32);
    if prefix.is_empty() {
        hash
    } else {
        format!("{prefix}-{hash}")
    }
}

/// The run label of a transition's attempt: the transition's start in Unix seconds, the attempt
/// and the site it moves to, e.g. `1795000000-0-site-b`. A valid label value (anything else is
/// hashed into one). Status times keep whole seconds, so the site tells apart two transitions
/// begun in the same second (a move and the move back): without it the second found the first's
/// Jobs and took them for its own.
pub fn run_label(started_at: jiff::Timestamp, attempt: u32, to_site: &str) -> String {
    label_value(&format!("{}-{attempt}-{to_site}", started_at.as_second()))
}

/// A hook Job drover created, from its labels and status; `None` for a Job without drover's labels.
/// `owner_uid` says which object it was created for (see [`super::jobs`]); the caller keeps only
/// its own object's.
pub fn parse_hook_job(job: &Job) -> Option<HookJob> {
    let labels = job.metadata.labels.as_ref()?;
    let label = |key: &str| labels.get(key).cloned();
    Some(HookJob {
        owner_uid: owner_uid(job).map(str::to_string),
        name: job.metadata.name.clone()?,
        component: label(LABEL_COMPONENT)?,
        site: label(LABEL_SITE)?,
        action: HookAction::parse(labels.get(LABEL_ACTION)?)?,
        run: label(LABEL_RUN)?,
        phase: job_phase(job),
    })
}

/// Succeeded on the `Complete` condition or once the wanted completions succeeded; Failed on the
/// `Failed` condition (backoff limit or deadline: the Job controller will not retry); else Running.
pub fn job_phase(job: &Job) -> JobPhase {
    let status = job.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_deref()).unwrap_or_default();
    let holds = |type_: &str| conditions.iter().find(|c| c.type_ == type_ && c.status == "True");
    if holds("Complete").is_some() {
        return JobPhase::Succeeded;
    }
    if let Some(failed) = holds("Failed") {
        let reason = failed.reason.as_deref().unwrap_or_default();
        let message = failed.message.as_deref().unwrap_or_default();
        let why = match (reason.is_empty(), message.is_empty()) {
            (false, false) => format!("{reason}: {message}"),
            (false, true) => reason.to_string(),
            (true, false) => message.to_string(),
            (true, true) => "the Job failed".to_string(),
        };
        return JobPhase::Failed(why);
    }
    let wanted = job.spec.as_ref().and_then(|s| s.completions).unwrap_or(1).max(1);
    if status.and_then(|s| s.succeeded).unwrap_or(0) >= wanted {
        JobPhase::Succeeded
    } else {
        JobPhase::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::api::core::v1::{PodSpec, PodTemplateSpec};
    use std::collections::{BTreeMap, BTreeSet};

    static OWNER: std::sync::LazyLock<JobOwner> = std::sync::LazyLock::new(|| {
        JobOwner::of(
            "DrSite",
            &ObjectMeta {
                name: Some("contact-center".into()),
                namespace: Some("dr".into()),
                uid: Some("uid-cc".into()),
                ..ObjectMeta::default()
            },
        )
    });
    static POLICY: JobPolicy = JobPolicy {
        allowed_service_accounts: &[],
    };

    fn build() -> Build<'static> {
        Build {
            owner: &OWNER,
            policy: &POLICY,
        }
    }

    fn container(name: &str, env: &[(&str, &str)]) -> Container {
        Container {
            name: name.into(),
            image: Some("registry.example/chat-tools:1.4".into()),
            env: (!env.is_empty()).then(|| {
                env.iter()
                    .map(|(k, v)| EnvVar {
                        name: (*k).into(),
                        value: Some((*v).into()),
                        value_from: None,
                    })
                    .collect()
            }),
            ..Container::default()
        }
    }

    fn template() -> JobTemplateSpec {
        JobTemplateSpec {
            metadata: Some(ObjectMeta {
                name: Some("ignored".into()),
                labels: Some(BTreeMap::from([
                    ("team".to_string(), "contact-center".to_string()),
                    (LABEL_SITE.to_string(), "user-set".to_string()),
                ])),
                annotations: Some(BTreeMap::from([("owner".to_string(), "sre".to_string())])),
                ..ObjectMeta::default()
            }),
            spec: Some(JobSpec {
                backoff_limit: Some(2),
                template: PodTemplateSpec {
                    metadata: None,
                    spec: Some(PodSpec {
                        containers: vec![
                            container("run", &[("MODE", "x"), ("DROVER_SITE", "wrong")]),
                            container("sidecar", &[]),
                        ],
                        init_containers: Some(vec![container("wait", &[("DROVER_ACTION", "wrong")])]),
                        restart_policy: Some("Never".into()),
                        ..PodSpec::default()
                    }),
                },
                ..JobSpec::default()
            }),
        }
    }

    fn ctx<'a>(action: HookAction, run: &'a str) -> HookContext<'a> {
        HookContext {
            drsite: "contact-center",
            component: "master-scs",
            site: "site-b",
            action,
            active_site: "site-b",
            run,
        }
    }

    fn env_of(c: &Container) -> BTreeMap<String, String> {
        let vars = c.env.clone().unwrap_or_default();
        let map: BTreeMap<String, String> = vars
            .iter()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect();
        assert_eq!(map.len(), vars.len(), "no variable twice in {}: {vars:?}", c.name);
        map
    }

    fn is_dns_subdomain_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && s.starts_with(|c: char| c.is_ascii_alphanumeric())
            && s.ends_with(|c: char| c.is_ascii_alphanumeric())
    }

    #[test]
    fn the_job_is_named_labelled_and_placed_by_drover() {
        let job = hook_job(
            &template(),
            "site-b-apps",
            &ctx(HookAction::Start, "1795000000-0"),
            build(),
        )
        .expect("builds");
        let name = job.metadata.name.as_deref().expect("named");
        assert!(name.starts_with("contact-center-master-scs-start-"), "{name}");
        assert_eq!(name.len(), "contact-center-master-scs-start-".len() + 8);
        assert!(is_dns_subdomain_label(name), "{name}");
        assert_eq!(job.metadata.namespace.as_deref(), Some("site-b-apps"));
        let labels = job.metadata.labels.clone().expect("labelled");
        assert_eq!(
            labels,
            BTreeMap::from([
                ("team".to_string(), "contact-center".to_string()),
                (LABEL_DRSITE.to_string(), "contact-center".to_string()),
                (LABEL_COMPONENT.to_string(), "master-scs".to_string()),
                (LABEL_SITE.to_string(), "site-b".to_string()),
                (LABEL_ACTION.to_string(), "start".to_string()),
                (LABEL_RUN.to_string(), "1795000000-0".to_string()),
            ]),
            "the template's labels are kept, drover's win"
        );
        assert_eq!(
            job.metadata.annotations,
            Some(BTreeMap::from([
                ("owner".to_string(), "sre".to_string()),
                (
                    super::super::jobs::OWNER_UID_ANNOTATION.to_string(),
                    "uid-cc".to_string()
                ),
            ])),
            "the template's annotations are kept; the owner's UID marks the Job as drover's"
        );
        assert_eq!(
            job.metadata.owner_references, None,
            "a site's namespace is not the DrSite's: no owner reference can point across"
        );
        assert!(job.status.is_none());
        let spec = job.spec.expect("spec");
        assert_eq!(spec.backoff_limit, Some(2), "the template's spec is kept");
        let pod = spec.template.spec.expect("pod");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(
            pod.automount_service_account_token,
            Some(false),
            "no API token without an allowed ServiceAccount"
        );
    }

    #[test]
    fn a_template_the_rules_refuse_is_never_built() {
        let mut t = template();
        let pod = t.spec.as_mut().and_then(|s| s.template.spec.as_mut()).expect("pod");
        pod.host_pid = Some(true);
        pod.volumes = Some(vec![k8s_openapi::api::core::v1::Volume {
            name: "host".into(),
            host_path: Some(k8s_openapi::api::core::v1::HostPathVolumeSource {
                path: "/".into(),
                type_: None,
            }),
            ..Default::default()
        }]);
        pod.containers[0].security_context = Some(k8s_openapi::api::core::v1::SecurityContext {
            privileged: Some(true),
            ..Default::default()
        });
        let e = hook_job(&t, "apps", &ctx(HookAction::Start, "1-0"), build()).expect_err("refused");
        assert_eq!(
            e,
            "the start hook of master-scs at site-b is refused: \
             template.spec.template.spec.hostPID: host namespaces are not allowed in a Job drover runs; \
             template.spec.template.spec.volumes[0].hostPath: hostPath volumes are not allowed in a Job drover runs; \
             template.spec.template.spec.containers[0].securityContext.privileged: privileged containers are not allowed in a Job drover runs"
        );
        let pool = PoolHookContext {
            pool: "pchat",
            identity: "pchat.example",
            step: "set-pool-state",
            hook_action: "SetPoolState",
            site: "dc1",
            run: "1-0",
        };
        assert!(
            pool_hook_job(&t, "chat", &pool, &[], build()).is_err(),
            "pool hooks too"
        );
    }

    #[test]
    fn a_fence_job_is_named_labelled_owned_and_carries_its_environment() {
        use crate::api::availability_group::AgHook;
        let owner = JobOwner::of(
            "AvailabilityGroup",
            &ObjectMeta {
                name: Some("cc-ag".into()),
                namespace: Some("dr".into()),
                uid: Some("uid-ag".into()),
                ..ObjectMeta::default()
            },
        );
        let c = AgHookContext {
            group: "cc-ag",
            group_name: "ag1",
            hook: AgHook::Fence,
            replica: "SQL-A",
            site: "site-a",
            target: "SQL-B",
            run: "1795000000-0-site-a",
        };
        let b = Build {
            owner: &owner,
            policy: &POLICY,
        };
        let job = ag_hook_job(&template(), "dr", &c, b).expect("builds");
        let name = job.metadata.name.clone().expect("named");
        assert!(
            name.starts_with("cc-ag-fence-") && is_dns_subdomain_label(&name),
            "{name}"
        );
        assert_eq!(
            ag_hook_job(&template(), "dr", &c, b).expect("builds").metadata.name,
            Some(name.clone()),
            "a repeat of the same outage builds the same Job"
        );
        let quorum = ag_hook_job(
            &template(),
            "dr",
            &AgHookContext {
                hook: AgHook::ForceQuorum,
                ..c
            },
            b,
        )
        .expect("builds");
        assert_ne!(quorum.metadata.name, Some(name.clone()));
        let refs = job
            .metadata
            .owner_references
            .clone()
            .expect("owned in its own namespace");
        assert_eq!(
            (refs[0].kind.as_str(), refs[0].uid.as_str()),
            ("AvailabilityGroup", "uid-ag")
        );
        let parsed = parse_ag_job(&job, "uid-ag").expect("ours");
        assert_eq!(
            (parsed.hook, parsed.site.as_str(), parsed.run.as_str()),
            (AgHook::Fence, "site-a", "1795000000-0-site-a")
        );
        assert_eq!(
            parse_ag_job(&job, "uid-other"),
            None,
            "another group's (or nobody's) Job is not ours"
        );
        let mut forged = job.clone();
        forged.metadata.owner_references = None;
        forged.metadata.annotations = None;
        assert_eq!(
            parse_ag_job(&forged, "uid-ag"),
            None,
            "the expected name and labels are not enough"
        );
        let pod = job.spec.and_then(|s| s.template.spec).expect("pod");
        let env = env_of(&pod.containers[0]);
        for (k, v) in [
            ("DROVER_ACTION", "fence"),
            ("DROVER_GROUP", "ag1"),
            ("DROVER_REPLICA", "SQL-A"),
            ("DROVER_SITE", "site-a"),
            ("DROVER_TARGET_REPLICA", "SQL-B"),
            ("DROVER_RUN", "1795000000-0-site-a"),
        ] {
            assert_eq!(env.get(k).map(String::as_str), Some(v), "{k}");
        }
    }

    #[test]
    fn every_container_gets_the_drover_environment() {
        let job = hook_job(&template(), "apps", &ctx(HookAction::Stop, "1795000000-2"), build()).expect("builds");
        let pod = job.spec.and_then(|s| s.template.spec).expect("pod");
        let expected = [
            ("DROVER_ACTION", "stop"),
            ("DROVER_COMPONENT", "master-scs"),
            ("DROVER_SITE", "site-b"),
            ("DROVER_ACTIVE_SITE", "site-b"),
            ("DROVER_DRSITE", "contact-center"),
            ("DROVER_RUN", "1795000000-2"),
        ];
        let all: Vec<&Container> = pod
            .containers
            .iter()
            .chain(pod.init_containers.iter().flatten())
            .collect();
        assert_eq!(all.len(), 3);
        for c in all {
            let env = env_of(c);
            for (k, v) in expected {
                assert_eq!(env.get(k).map(String::as_str), Some(v), "{k} in {}", c.name);
            }
        }
        let run = &pod.containers[0];
        assert_eq!(
            env_of(run).get("MODE").map(String::as_str),
            Some("x"),
            "other variables stay"
        );
        let names: Vec<&str> = run.env.iter().flatten().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names[..2],
            ["MODE", "DROVER_SITE"],
            "a replaced variable keeps its place: {names:?}"
        );
    }

    #[test]
    fn a_duplicated_template_variable_is_replaced_once() {
        let mut t = template();
        let pod = t.spec.as_mut().and_then(|s| s.template.spec.as_mut()).expect("pod");
        pod.containers[0] = container("run", &[("DROVER_SITE", "a"), ("X", "1"), ("DROVER_SITE", "b")]);
        let job = hook_job(&t, "apps", &ctx(HookAction::Start, "1-0"), build()).expect("builds");
        let pod = job.spec.and_then(|s| s.template.spec).expect("pod");
        let env = env_of(&pod.containers[0]);
        assert_eq!(env["DROVER_SITE"], "site-b");
        assert_eq!(env["X"], "1");
    }

    #[test]
    fn the_name_is_stable_and_differs_for_any_different_input() {
        let base = ctx(HookAction::Start, "1795000000-0");
        let name = |c: &HookContext<'_>| {
            hook_job(&template(), "apps", c, build())
                .expect("builds")
                .metadata
                .name
                .expect("named")
        };
        assert_eq!(name(&base), name(&base));
        assert_eq!(
            name(&base),
            name(&HookContext {
                active_site: "site-a",
                ..base
            }),
            "the active site is not part of the identity"
        );
        let variants = [
            base,
            HookContext {
                drsite: "contact-centre",
                ..base
            },
            HookContext {
                component: "master-scs2",
                ..base
            },
            HookContext { site: "site-a", ..base },
            HookContext {
                action: HookAction::Stop,
                ..base
            },
            HookContext {
                run: "1795000000-1",
                ..base
            },
            // Same readable prefix, different hidden tail.
            HookContext {
                drsite: "a-very-long-drsite-name-that-is-cut-here-1",
                ..base
            },
            HookContext {
                drsite: "a-very-long-drsite-name-that-is-cut-here-2",
                ..base
            },
        ];
        let names: BTreeSet<String> = variants.iter().map(name).collect();
        assert_eq!(names.len(), variants.len(), "{names:?}");
    }

    #[test]
    fn long_and_odd_names_still_make_a_valid_job_name() {
        let long = "x".repeat(253);
        for (drsite, component) in [
            (long.as_str(), long.as_str()),
            ("Contact.Center.Prod", "master_scs"),
            ("---", "..."),
            ("a", "b"),
        ] {
            let c = HookContext {
                drsite,
                component,
                ..ctx(HookAction::Start, "1-0")
            };
            let job = hook_job(&template(), "apps", &c, build()).expect("builds");
            let name = job.metadata.name.expect("named");
            assert!(is_dns_subdomain_label(&name), "{drsite:?}/{component:?} -> {name:?}");
            for (k, v) in job.metadata.labels.expect("labels") {
                assert!(is_label_value(&v), "{k}={v:?}");
            }
        }
        let c = HookContext {
            drsite: "Contact.Center.Prod",
            ..ctx(HookAction::Stop, "1-0")
        };
        let name = hook_job(&template(), "apps", &c, build())
            .expect("builds")
            .metadata
            .name
            .expect("named");
        assert!(name.starts_with("contact-center-prod-master-scs-stop-"), "{name}");
    }

    #[test]
    fn a_template_without_a_pod_is_an_error_not_a_panic() {
        let c = ctx(HookAction::Start, "1-0");
        let no_spec = JobTemplateSpec {
            metadata: None,
            spec: None,
        };
        let e = hook_job(&no_spec, "apps", &c, build()).expect_err("no spec");
        assert!(
            e.contains("start hook of master-scs at site-b") && e.contains("no spec"),
            "{e}"
        );

        let mut no_pod = template();
        if let Some(s) = no_pod.spec.as_mut() {
            s.template.spec = None;
        }
        let e = hook_job(&no_pod, "apps", &c, build()).expect_err("no pod");
        assert!(e.contains("spec.template.spec"), "{e}");

        let mut no_containers = template();
        if let Some(pod) = no_containers.spec.as_mut().and_then(|s| s.template.spec.as_mut()) {
            pod.containers.clear();
        }
        let e = hook_job(&no_containers, "apps", &c, build()).expect_err("no containers");
        assert!(e.contains("no container"), "{e}");
    }

    #[test]
    fn label_values_are_kept_when_valid_and_made_valid_otherwise() {
        for ok in ["", "a", "contact-center", "A_b.c-9", &"x".repeat(63)] {
            assert_eq!(label_value(ok), ok);
        }
        let long = "x".repeat(64);
        for bad in [
            long.as_str(),
            "-leading",
            "trailing.",
            "has space",
            "ünïcode",
            "a/b",
            "...",
            "contact.center.example.com-with-a-very-long-suffix-that-is-over-63",
        ] {
            let v = label_value(bad);
            assert!(is_label_value(&v) && !v.is_empty(), "{bad:?} -> {v:?}");
            assert_eq!(v, label_value(bad), "deterministic");
        }
        assert!(label_value("has space").starts_with("has-space-"));
        assert_eq!(label_value(&long).len(), 63);
        assert_ne!(label_value(&"x".repeat(64)), label_value(&"x".repeat(65)));
        assert_ne!(label_value("a b"), label_value("a-b"), "the hash keeps them apart");
    }

    #[test]
    fn run_labels_are_seconds_and_attempt() {
        let t: jiff::Timestamp = "2026-11-18T11:06:40Z".parse().expect("timestamp");
        assert_eq!(run_label(t, 0, "site-b"), "1795000000-0-site-b");
        assert_eq!(run_label(t, 12, "dc1"), "1795000000-12-dc1");
        assert_ne!(
            run_label(t, 1, "dc1"),
            run_label(t, 1, "dc2"),
            "a move and the move back"
        );
        let before_1970 = jiff::Timestamp::from_second(-5).expect("timestamp");
        assert!(is_label_value(&run_label(before_1970, 0, "a")));
        assert!(is_label_value(&run_label(t, 0, &"x".repeat(63))));
    }

    fn job_with(status: Option<JobStatus>) -> Job {
        let mut job = hook_job(&template(), "apps", &ctx(HookAction::Start, "1795000000-0"), build()).expect("builds");
        job.status = status;
        job
    }

    fn condition(type_: &str, status: &str, reason: Option<&str>, message: Option<&str>) -> JobCondition {
        JobCondition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.map(Into::into),
            message: message.map(Into::into),
            ..JobCondition::default()
        }
    }

    #[test]
    fn a_hook_job_is_read_back_from_its_labels() {
        let job = job_with(None);
        let parsed = parse_hook_job(&job).expect("drover's Job");
        assert_eq!(
            parsed,
            HookJob {
                owner_uid: Some("uid-cc".into()),
                name: job.metadata.name.clone().expect("named"),
                component: "master-scs".into(),
                site: "site-b".into(),
                action: HookAction::Start,
                run: "1795000000-0".into(),
                phase: JobPhase::Running,
            }
        );
        for key in [LABEL_COMPONENT, LABEL_SITE, LABEL_ACTION, LABEL_RUN] {
            let mut j = job.clone();
            j.metadata.labels.as_mut().expect("labels").remove(key);
            assert_eq!(parse_hook_job(&j), None, "without {key}");
        }
        let mut j = job.clone();
        j.metadata
            .labels
            .as_mut()
            .expect("labels")
            .insert(LABEL_ACTION.into(), "restart".into());
        assert_eq!(parse_hook_job(&j), None, "an unknown action");
        let mut j = job;
        j.metadata.labels = None;
        assert_eq!(parse_hook_job(&j), None);
    }

    #[test]
    fn the_phase_comes_from_conditions_and_counts() {
        let phase = |status: JobStatus| parse_hook_job(&job_with(Some(status))).expect("parses").phase;
        assert_eq!(phase(JobStatus::default()), JobPhase::Running);
        assert_eq!(
            phase(JobStatus {
                active: Some(1),
                failed: Some(1),
                ..JobStatus::default()
            }),
            JobPhase::Running,
            "a failed pod with retries left is still running"
        );
        assert_eq!(
            phase(JobStatus {
                succeeded: Some(1),
                ..JobStatus::default()
            }),
            JobPhase::Succeeded
        );
        assert_eq!(
            phase(JobStatus {
                conditions: Some(vec![condition("Complete", "True", None, None)]),
                ..JobStatus::default()
            }),
            JobPhase::Succeeded
        );
        assert_eq!(
            phase(JobStatus {
                conditions: Some(vec![condition("Complete", "False", None, None)]),
                ..JobStatus::default()
            }),
            JobPhase::Running
        );
        assert_eq!(
            phase(JobStatus {
                failed: Some(3),
                conditions: Some(vec![condition(
                    "Failed",
                    "True",
                    Some("BackoffLimitExceeded"),
                    Some("Job has reached the specified backoff limit")
                )]),
                ..JobStatus::default()
            }),
            JobPhase::Failed("BackoffLimitExceeded: Job has reached the specified backoff limit".into())
        );
        assert_eq!(
            phase(JobStatus {
                conditions: Some(vec![condition("Failed", "True", Some("DeadlineExceeded"), None)]),
                ..JobStatus::default()
            }),
            JobPhase::Failed("DeadlineExceeded".into())
        );
        assert_eq!(
            phase(JobStatus {
                conditions: Some(vec![condition("Failed", "True", None, None)]),
                ..JobStatus::default()
            }),
            JobPhase::Failed("the Job failed".into())
        );
    }

    #[test]
    fn a_job_wanting_several_completions_succeeds_when_all_did() {
        let mut job = job_with(Some(JobStatus {
            succeeded: Some(1),
            active: Some(1),
            ..JobStatus::default()
        }));
        if let Some(spec) = job.spec.as_mut() {
            spec.completions = Some(2);
        }
        assert_eq!(parse_hook_job(&job).expect("parses").phase, JobPhase::Running);
        if let Some(status) = job.status.as_mut() {
            status.succeeded = Some(2);
            status.active = None;
        }
        assert_eq!(parse_hook_job(&job).expect("parses").phase, JobPhase::Succeeded);
    }
}
