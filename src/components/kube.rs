//! [`Sites`] over the Kubernetes API: workloads read with GET and scaled by
//! server-side apply of their `scale` subresource, hook Jobs listed by label and created with POST, each in
//! the cluster its site lives in. A site in another cluster is reached through
//! a client built from its kubeconfig Secret, cached until the Secret changes,
//! with short timeouts so a dead site is reported unreachable quickly.

use super::hook::{label_value, parse_hook_job};
use super::tenancy::Target;
use super::{HookJob, LABEL_DRSITE, SiteAccess, Sites, WorkloadObs, probe};
use crate::api::dr_site::{KubeconfigRef, Probe, WorkloadKind};
use crate::controller::DRSITE_FIELD_MANAGER;
use crate::controller::PortError;
use crate::controller::kube::{get_opt, is_already_exists, is_not_found, port_error};
use crate::runtime::bounds::BoundsLayer;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long a remote site's API server may take to accept a connection.
pub const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long it may take to answer (and to take a request).
pub const REMOTE_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds a client from a remote site's configuration (the timeouts already set).
type Connector = dyn Fn(kube::Config) -> Result<Client, String> + Send + Sync;

/// Which kubeconfig: the Secret's namespace and name, and the key.
type SecretKey = (String, String, String);

/// A remote client and the Secret version it was built from.
struct Remote {
    resource_version: String,
    client: Client,
    /// The kubeconfig turns off the server certificate check (`insecure-skip-tls-verify`).
    insecure: bool,
}

/// The sites, for real.
pub struct KubeSites {
    local: Client,
    connect: Box<Connector>,
    remotes: Mutex<BTreeMap<SecretKey, Remote>>,
}

impl KubeSites {
    /// Sites in the operator's cluster through `local`; sites in other clusters through clients
    /// built from their kubeconfig Secrets.
    pub fn new(local: Client) -> Self {
        Self::with_bounds(local, BoundsLayer::remote())
    }

    /// As [`KubeSites::new`], with every call to a remote site bounded by `bounds`: an overall
    /// deadline and a size cap on its answer (connect/read timeouts alone let a trickling or
    /// endless answer run on).
    pub fn with_bounds(local: Client, bounds: BoundsLayer) -> Self {
        Self::with_connector(local, move |config| {
            kube::client::ClientBuilder::try_from(config)
                .map(|builder| builder.with_layer(&bounds).build())
                .map_err(|e| format!("cannot build a client: {e}"))
        })
    }

    /// As [`KubeSites::new`], with `connect` building the remote clients (tests hand out mocks).
    pub fn with_connector(
        local: Client,
        connect: impl Fn(kube::Config) -> Result<Client, String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            local,
            connect: Box::new(connect),
            remotes: Mutex::new(BTreeMap::new()),
        }
    }

    /// The client for the cluster `at` is in.
    async fn client(&self, at: &SiteAccess) -> Result<Client, PortError> {
        match &at.kubeconfig {
            None => Ok(self.local.clone()),
            Some(kubeconfig) => self.remote(at, kubeconfig).await,
        }
    }

    /// The remote client for a kubeconfig Secret: the Secret is read on every call (one GET on the
    /// local API) so a rotated kubeconfig is used at once; the client is rebuilt only when the
    /// Secret's resourceVersion changed.
    async fn remote(&self, at: &SiteAccess, r: &KubeconfigRef) -> Result<Client, PortError> {
        let ns = &at.home_namespace;
        let what = format!("kubeconfig Secret {ns}/{} of site {}", r.secret_name, at.site);
        let key: SecretKey = (ns.clone(), r.secret_name.clone(), r.key.clone());
        let secrets: Api<Secret> = Api::namespaced(self.local.clone(), ns);
        let secret = match secrets.get(&r.secret_name).await {
            Ok(secret) => secret,
            Err(e) if is_not_found(&e) => {
                crate::sync::lock(&self.remotes).remove(&key);
                return Err(PortError::Api(format!("{what} not found")));
            }
            Err(e) => {
                return Err(match port_error(e) {
                    PortError::Unreachable(m) => PortError::Unreachable(format!("reading the {what}: {m}")),
                    PortError::Api(m) => PortError::Api(format!("reading the {what}: {m}")),
                    other => other,
                });
            }
        };
        let version = secret.metadata.resource_version.clone();
        if let Some(v) = &version
            && let Some(cached) = crate::sync::lock(&self.remotes).get(&key)
            && cached.resource_version == *v
        {
            return Ok(cached.client.clone());
        }
        let (client, insecure) = self
            .build(&secret, &r.key)
            .await
            .map_err(|why| PortError::Api(format!("{what}: {why}")))?;
        if insecure {
            tracing::warn!(site = %at.site, secret = %r.secret_name, "{}", insecure_warning(at, r));
        }
        if let Some(resource_version) = version {
            crate::sync::lock(&self.remotes).insert(
                key,
                Remote {
                    resource_version,
                    client: client.clone(),
                    insecure,
                },
            );
        }
        Ok(client)
    }

    /// A client from the kubeconfig under `key` in `secret`, and whether the kubeconfig turns the
    /// server certificate check off.
    async fn build(&self, secret: &Secret, key: &str) -> Result<(Client, bool), String> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .ok_or_else(|| format!("has no key {key:?}"))?;
        let text = std::str::from_utf8(&bytes.0).map_err(|_| format!("key {key:?} is not UTF-8 text"))?;
        // The YAML parser's message may quote the text, and the text holds credentials.
        let kubeconfig =
            Kubeconfig::from_yaml(text).map_err(|_| format!("key {key:?} does not hold a kubeconfig (YAML)"))?;
        self_contained(&kubeconfig).map_err(|why| format!("key {key:?}: {why}"))?;
        let insecure = kubeconfig
            .clusters
            .iter()
            .filter_map(|c| c.cluster.as_ref())
            .any(|c| c.insecure_skip_tls_verify == Some(true));
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| format!("key {key:?}: {e}"))?;
        config.connect_timeout = Some(REMOTE_CONNECT_TIMEOUT);
        config.read_timeout = Some(REMOTE_READ_TIMEOUT);
        config.write_timeout = Some(REMOTE_READ_TIMEOUT);
        // kube's default retries 429/503/504 for minutes; the reconcile loop is the retry, and
        // a site that keeps answering 503 is reported, not waited on.
        config.default_retry = false;
        (self.connect)(config).map(|client| (client, insecure))
    }
}

/// The warning for a site whose kubeconfig skips the server certificate check.
fn insecure_warning(at: &SiteAccess, r: &KubeconfigRef) -> String {
    format!(
        "site {}: the kubeconfig in Secret {}/{} sets insecure-skip-tls-verify: any server on the path \
         can impersonate that cluster's API and receive its credentials; use certificate-authority-data",
        at.site, at.home_namespace, r.secret_name
    )
}

/// Refuses what a kubeconfig could make the operator do besides talking to one API server: run a
/// command (`exec`, `auth-provider`) or read a file of the operator's pod. Whoever can write the
/// Secret could otherwise act with the operator's identity; credentials must be inline.
fn self_contained(kubeconfig: &Kubeconfig) -> Result<(), String> {
    for named in &kubeconfig.auth_infos {
        let Some(user) = &named.auth_info else { continue };
        let refused = [
            ("exec", user.exec.is_some()),
            ("auth-provider", user.auth_provider.is_some()),
            ("tokenFile", user.token_file.is_some()),
            ("client-certificate", user.client_certificate.is_some()),
            ("client-key", user.client_key.is_some()),
        ];
        if let Some((field, _)) = refused.iter().find(|(_, present)| *present) {
            return Err(format!(
                "user {:?} uses {field}; a site's kubeconfig must carry its credentials inline \
                 (token, client-certificate-data, client-key-data)",
                named.name
            ));
        }
    }
    for named in &kubeconfig.clusters {
        if named
            .cluster
            .as_ref()
            .is_some_and(|c| c.certificate_authority.is_some())
        {
            return Err(format!(
                "cluster {:?} uses certificate-authority (a file); use certificate-authority-data",
                named.name
            ));
        }
    }
    Ok(())
}

/// What drover reads of a workload: the shared part of Deployments and StatefulSets.
fn observe(
    metadata: &ObjectMeta,
    desired: Option<i32>,
    status: Option<(Option<i32>, i32, Option<i64>)>,
) -> WorkloadObs {
    let (ready, current, observed) = status.unwrap_or((None, 0, None));
    WorkloadObs {
        desired: desired.unwrap_or(1),
        ready: ready.unwrap_or(0),
        current,
        up_to_date: match (observed, metadata.generation) {
            (Some(observed), Some(generation)) => observed >= generation,
            // Nothing to compare with: a status never written is not current.
            (None, _) => false,
            (Some(_), None) => true,
        },
    }
}

impl Sites for KubeSites {
    async fn workload(
        &self,
        at: &SiteAccess,
        kind: WorkloadKind,
        name: &str,
    ) -> Result<Option<WorkloadObs>, PortError> {
        let client = self.client(at).await?;
        Ok(match kind {
            WorkloadKind::Deployment => {
                let api: Api<Deployment> = Api::namespaced(client, &at.namespace);
                get_opt(&api, name).await?.map(|d| {
                    let status = d
                        .status
                        .as_ref()
                        .map(|s| (s.ready_replicas, s.replicas.unwrap_or(0), s.observed_generation));
                    observe(&d.metadata, d.spec.as_ref().and_then(|s| s.replicas), status)
                })
            }
            WorkloadKind::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(client, &at.namespace);
                get_opt(&api, name).await?.map(|s| {
                    let status = s
                        .status
                        .as_ref()
                        .map(|st| (st.ready_replicas, st.replicas, st.observed_generation));
                    observe(&s.metadata, s.spec.as_ref().and_then(|sp| sp.replicas), status)
                })
            }
        })
    }

    async fn scale(&self, at: &SiteAccess, kind: WorkloadKind, name: &str, replicas: i32) -> Result<(), PortError> {
        let client = self.client(at).await?;
        let kind_name = match kind {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
        };
        // Through the `scale` subresource, as the HorizontalPodAutoscaler does: RBAC grants drover
        // `patch` on `deployments/scale` and `statefulsets/scale`, never on the whole object (its
        // pod template, its ServiceAccount). Only `spec.replicas`, forced: drover owns that field
        // from now on, as an autoscaler would (managedFields record it on the workload).
        let body = serde_json::json!({
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": name, "namespace": at.namespace},
            "spec": {"replicas": replicas},
        });
        let params = PatchParams::apply(DRSITE_FIELD_MANAGER).force();
        let patch = Patch::Apply(body);
        let result = match kind {
            WorkloadKind::Deployment => {
                let api: Api<Deployment> = Api::namespaced(client, &at.namespace);
                api.patch_scale(name, &params, &patch).await.map(drop)
            }
            WorkloadKind::StatefulSet => {
                let api: Api<StatefulSet> = Api::namespaced(client, &at.namespace);
                api.patch_scale(name, &params, &patch).await.map(drop)
            }
        };
        result.map_err(|e| {
            if is_not_found(&e) {
                PortError::NotFound {
                    kind: kind_name,
                    namespace: at.namespace.clone(),
                    name: name.to_string(),
                }
            } else {
                port_error(e)
            }
        })
    }

    async fn hook_jobs(&self, at: &SiteAccess, drsite: &str) -> Result<Vec<HookJob>, PortError> {
        let client = self.client(at).await?;
        let api: Api<Job> = Api::namespaced(client, &at.namespace);
        let selector = format!("{LABEL_DRSITE}={}", label_value(drsite));
        let jobs = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(port_error)?;
        Ok(jobs.items.iter().filter_map(parse_hook_job).collect())
    }

    async fn create_job(&self, at: &SiteAccess, job: &Job) -> Result<(), PortError> {
        let client = self.client(at).await?;
        let api: Api<Job> = Api::namespaced(client, &at.namespace);
        match api.create(&PostParams::default(), job).await {
            Ok(_) => Ok(()),
            // Its name is deterministic: the Job created by an earlier pass, if it carries the
            // same owner UID; anyone else's Job of that name is not taken for it.
            Err(e) if is_already_exists(&e) => existing_is_ours(&api, &at.namespace, job).await,
            Err(e) => Err(port_error(e)),
        }
    }

    async fn probe(&self, p: &Probe) -> Result<(), String> {
        probe::probe(p).await
    }

    fn transport_warning(&self, at: &SiteAccess) -> Option<String> {
        let r = at.kubeconfig.as_ref()?;
        let key: SecretKey = (at.home_namespace.clone(), r.secret_name.clone(), r.key.clone());
        let insecure = crate::sync::lock(&self.remotes)
            .get(&key)
            .is_some_and(|remote| remote.insecure);
        insecure.then(|| insecure_warning(at, r))
    }

    async fn namespace_labels(&self, namespace: &str, _from: &str) -> Result<Target, PortError> {
        // Always the operator's own cluster: a remote site is never looked up (tenancy::check).
        let api: Api<Namespace> = Api::all(self.local.clone());
        Ok(match get_opt(&api, namespace).await? {
            Some(ns) => Target::Labels(ns.metadata.labels.unwrap_or_default()),
            None => Target::Missing,
        })
    }
}

/// After a create refused with AlreadyExists: `Ok` when the Job of that name is drover's for the
/// same owner as `job` (an earlier pass created it), else the error that it is someone else's.
pub async fn existing_is_ours(
    api: &kube::Api<Job>,
    namespace: &str,
    job: &Job,
) -> Result<(), crate::controller::PortError> {
    let name = job.metadata.name.clone().unwrap_or_default();
    let existing = crate::controller::kube::get_opt(api, &name).await?;
    match existing {
        Some(found)
            if super::jobs::owner_uid(&found).is_some()
                && super::jobs::owner_uid(&found) == super::jobs::owner_uid(job) =>
        {
            Ok(())
        }
        // Deleted meanwhile: the next pass creates it again.
        None => Ok(()),
        Some(_) => Err(crate::controller::PortError::Api(super::jobs::not_ours(
            namespace, &name,
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubeconfig_that_would_run_or_read_something_is_refused() {
        let yaml = "apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: https://b.example:6443\n    certificate-authority-data: AAAA\nusers:\n- name: drover\n  user:\n    token: abc\ncontexts:\n- name: b\n  context:\n    cluster: b\n    user: drover\ncurrent-context: b\n";
        let good = Kubeconfig::from_yaml(yaml).expect("parses");
        assert_eq!(self_contained(&good), Ok(()));

        let exec_yaml = yaml.replace(
            "users:\n",
            "users:\n- name: eks\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws\n",
        );
        let exec = Kubeconfig::from_yaml(&exec_yaml).expect("parses");
        let e = self_contained(&exec).expect_err("exec refused");
        assert!(e.contains("\"eks\" uses exec"), "{e}");

        let file_yaml = yaml.replace(
            "token: abc",
            "tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token",
        );
        let e = self_contained(&Kubeconfig::from_yaml(&file_yaml).expect("parses")).expect_err("file refused");
        assert!(e.contains("tokenFile"), "{e}");

        let ca_yaml = yaml.replace("certificate-authority-data: AAAA", "certificate-authority: /etc/ca.crt");
        let e = self_contained(&Kubeconfig::from_yaml(&ca_yaml).expect("parses")).expect_err("CA file refused");
        assert!(e.contains("certificate-authority"), "{e}");
    }

    #[test]
    fn a_workload_status_is_current_only_when_observed_at_its_generation() {
        let meta = |generation| ObjectMeta {
            generation,
            ..ObjectMeta::default()
        };
        assert_eq!(
            observe(&meta(Some(4)), Some(3), Some((Some(2), 3, Some(4)))),
            WorkloadObs {
                desired: 3,
                ready: 2,
                current: 3,
                up_to_date: true
            }
        );
        assert!(!observe(&meta(Some(5)), Some(3), Some((Some(3), 3, Some(4)))).up_to_date);
        assert_eq!(
            observe(&meta(Some(1)), None, None),
            WorkloadObs {
                desired: 1,
                ready: 0,
                current: 0,
                up_to_date: false
            },
            "defaults: one replica wanted, none seen, no status yet"
        );
    }
}
