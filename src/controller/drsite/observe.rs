//! What the DrSite controller reads each reconcile: every site's hook Jobs
//! (which also says whether the site answers), every component's workload or
//! probe, every child (AvailabilityGroups and PersistentChatPools). Sites are
//! read concurrently, so one dead site costs one timeout, not one per component.

use super::Error;
use crate::api::dr_site::{DrSite, DrSiteSpec};
use crate::components::{SiteAccess, Sites};
use crate::controller::DrPort;
use crate::plan::drsite::{ChildKind, Instance, Observed, child};
use futures::future::join_all;
use kube::ResourceExt;

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
            (
                s.name.clone(),
                sites.hook_jobs(&at, name).await.map_err(|e| e.to_string()),
            )
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
                (Some(w), _) => match sites.workload(&site, w.kind, &w.name).await {
                    Ok(found) => Instance::Workload(found),
                    Err(e) => Instance::Unknown(e.to_string()),
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
