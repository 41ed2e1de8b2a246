//! What the DrSite controller reads each reconcile: every site's hook Jobs
//! (which also says whether the site answers), every component's workload or
//! probe, every child (AvailabilityGroups and PersistentChatPools). Sites are
//! read concurrently, so one dead site costs one timeout, not one per component, and each read
//! of a site has its own deadline ([`SITE_TIMEOUT`]): a site that stalls reads as unreachable and
//! cannot hold up the observation of the others, nor a move away from it.

use super::Error;
use crate::api::dr_site::{DrSite, DrSiteSpec};
use crate::components::{SiteAccess, Sites};
use crate::controller::DrPort;
use crate::plan::drsite::{ChildKind, Instance, Observed, child};
use futures::future::join_all;
use kube::ResourceExt;
use std::future::Future;
use std::time::Duration;

/// How long one read of a site (its hook Jobs, one workload) may take before the site reads as
/// unreachable: above a remote API server's own overall deadline
/// ([`crate::runtime::bounds::REMOTE_CALL_DEADLINE`]) plus the local read of its kubeconfig
/// Secret, so it fires only when something below has no deadline of its own.
pub const SITE_TIMEOUT: Duration = Duration::from_secs(30);

/// `read` of `site`, or why it did not finish within [`SITE_TIMEOUT`].
async fn within<T, E: ToString>(site: &str, read: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(SITE_TIMEOUT, read).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("site {site} did not answer within {SITE_TIMEOUT:?}")),
    }
}

/// How to reach `site` of `drs`.
pub fn access(drs: &DrSite, site: &str) -> Option<SiteAccess> {
    let s = drs.spec.site(site)?;
    Some(SiteAccess {
        site: s.name.clone(),
        namespace: s.namespace.clone(),
        kubeconfig: s.kubeconfig.clone(),
        home_namespace: drs.namespace().unwrap_or_default(),
    })
}

pub async fn observe<P: DrPort, S: Sites>(drs: &DrSite, port: &P, sites: &S) -> Result<Observed, Error> {
    let spec: &DrSiteSpec = &drs.spec;
    let name = drs.name_any();
    let owner = crate::components::jobs::JobOwner::of("DrSite", &drs.metadata);
    let mut observed = Observed::default();

    let listed = join_all(spec.sites.iter().map(|s| {
        let name = &name;
        async move {
            let Some(at) = access(drs, &s.name) else {
                return (s.name.clone(), Err("not in spec.sites".to_string()));
            };
            (s.name.clone(), within(&s.name, sites.hook_jobs(&at, name)).await)
        }
    }))
    .await;
    for (site, result) in listed {
        match result {
            Ok(jobs) => {
                // Only the Jobs drover created for this DrSite: a Job with the expected name and
                // labels but not its UID is someone else's, never a hook's run.
                observed.jobs.extend(
                    jobs.into_iter()
                        .filter(|j| j.owner_uid.as_deref() == Some(owner.uid.as_str())),
                );
                observed.sites.insert(site, Ok(()));
            }
            Err(e) => {
                observed.sites.insert(site, Err(e));
            }
        }
    }

    let placements = spec
        .components
        .iter()
        .flat_map(|c| c.sites.iter().map(move |at| (c, at)));
    let instances = join_all(placements.map(|(c, at)| {
        let observed = &observed;
        async move {
            let key = (c.name.clone(), at.site.clone());
            // A site whose API does not answer is unknown, even if a probe answers (or does not):
            // drover could not run its hooks, and a partition may hide a running server.
            if let Some(Err(why)) = observed.sites.get(&at.site) {
                return (key, Instance::Unknown(why.clone()));
            }
            let Some(site) = access(drs, &at.site) else {
                return (key, Instance::Unknown("not in spec.sites".into()));
            };
            let instance = match (&at.workload, &at.hooks) {
                (Some(w), _) => match within(&at.site, sites.workload(&site, w.kind, &w.name)).await {
                    Ok(found) => Instance::Workload(found),
                    Err(e) => Instance::Unknown(e),
                },
                (None, Some(h)) => Instance::External(sites.probe(&h.probe).await),
                (None, None) => Instance::Unknown("neither workload nor hooks declared".into()),
            };
            (key, instance)
        }
    }))
    .await;
    observed.instances.extend(instances);

    let ns = drs.namespace().unwrap_or_default();
    for (kind, c) in child::listed(spec) {
        let obs = match kind {
            ChildKind::AvailabilityGroup => {
                child::from_availability_group(port.availability_group(&ns, &c.name).await?.as_ref())
            }
            ChildKind::PersistentChatPool => {
                child::from_persistent_chat_pool(port.persistent_chat_pool(&ns, &c.name).await?.as_ref())
            }
        };
        observed.children.insert(kind.key(&c.name), obs);
    }
    Ok(observed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dr_site::{Probe, WorkloadKind, fixtures};
    use crate::components::memory::{Latencies, MemorySites};
    use crate::components::{HookJob, WorkloadObs};
    use crate::controller::PortError;
    use crate::controller::memory::MemoryPort;
    use k8s_openapi::api::batch::v1::Job;

    /// The in-memory sites, except that every read of `stalled` never answers.
    struct Stalled {
        sites: MemorySites,
        stalled: &'static str,
    }

    impl Stalled {
        async fn stall(&self, at: &SiteAccess) {
            if at.site == self.stalled {
                std::future::pending::<()>().await;
            }
        }
    }

    impl Sites for Stalled {
        async fn workload(
            &self,
            at: &SiteAccess,
            kind: WorkloadKind,
            name: &str,
        ) -> Result<Option<WorkloadObs>, PortError> {
            self.stall(at).await;
            self.sites.workload(at, kind, name).await
        }
        async fn scale(&self, at: &SiteAccess, kind: WorkloadKind, name: &str, replicas: i32) -> Result<(), PortError> {
            self.stall(at).await;
            self.sites.scale(at, kind, name, replicas).await
        }
        async fn hook_jobs(&self, at: &SiteAccess, drsite: &str) -> Result<Vec<HookJob>, PortError> {
            self.stall(at).await;
            self.sites.hook_jobs(at, drsite).await
        }
        async fn create_job(&self, at: &SiteAccess, job: &Job) -> Result<(), PortError> {
            self.stall(at).await;
            self.sites.create_job(at, job).await
        }
        async fn probe(&self, probe: &Probe) -> Result<(), String> {
            self.sites.probe(probe).await
        }
        async fn namespace_labels(
            &self,
            namespace: &str,
            from: &str,
        ) -> Result<crate::components::tenancy::Target, PortError> {
            self.sites.namespace_labels(namespace, from).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_site_reads_as_unreachable_after_its_deadline_and_the_others_are_read() {
        let mut drs = DrSite::new("cc", fixtures::spec());
        drs.metadata.namespace = Some("dr".into());
        let sites = Stalled {
            sites: MemorySites::for_spec(&drs.spec, &Latencies::default()),
            stalled: "site-b",
        };
        let started = tokio::time::Instant::now();
        let observed = observe(&drs, &MemoryPort::default(), &sites).await.expect("observed");
        // One deadline for the stalled site's Jobs; its components are then not read at all.
        assert_eq!(started.elapsed(), SITE_TIMEOUT);
        assert_eq!(observed.sites["site-a"], Ok(()));
        let why = observed.sites["site-b"].as_ref().expect_err("site-b unreachable");
        assert!(why.contains("site-b did not answer within 30s"), "{why}");
        let mut at_a = 0;
        for ((component, site), instance) in &observed.instances {
            if site == "site-b" {
                assert!(
                    matches!(instance, Instance::Unknown(_)),
                    "{component}@{site}: {instance:?}"
                );
            } else {
                at_a += 1;
                assert!(
                    !matches!(instance, Instance::Unknown(_)),
                    "{component}@{site}: {instance:?}"
                );
            }
        }
        assert!(at_a > 0, "site-a's components were read");
    }
}
