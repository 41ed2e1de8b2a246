//! The kube-runtime wiring: watch DrSites, the AvailabilityGroups and
//! PersistentChatPools they list, and — in the operator's own cluster — the
//! workloads and hook Jobs of their sites, mapping each change back to the
//! DrSites concerned. Sites in other
//! clusters are not watched: they are polled (fast while a transition runs).

use super::{Context, Error, key_of, reconcile};
use crate::api::availability_group::AvailabilityGroup;
use crate::api::dr_site::{ChildRef, DrSite, WorkloadKind};
use crate::api::persistent_chat_pool::PersistentChatPool;
use crate::components::kube::KubeSites;
use crate::components::{LABEL_DRSITE, hook::label_value};
use crate::controller::api_in;
use crate::controller::kube::KubePort;
use crate::runtime::Wiring;
use crate::runtime::metrics::Kind;
use crate::runtime::wiring::retry_after;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

type Ctx = Context<KubePort, KubeSites>;

async fn reconcile_kube(drs: Arc<DrSite>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", kind = "DrSite", object = %key_of(&drs));
    let requeue = reconcile(&drs, &ctx, jiff::Timestamp::now()).instrument(span).await?;
    Ok(requeue.into())
}

fn error_policy(drs: Arc<DrSite>, error: &Error, ctx: Arc<Ctx>) -> Action {
    let key = key_of(&drs);
    retry_after(&key, error, ctx.failed(&key))
}

/// The DrSites with a local site in `namespace` whose component at that site is `kind`/`name`.
fn by_workload(
    store: &Store<DrSite>,
    kind: WorkloadKind,
    namespace: Option<String>,
    name: &str,
) -> Vec<ObjectRef<DrSite>> {
    store
        .state()
        .into_iter()
        .filter(|drs| {
            drs.spec.sites.iter().any(|site| {
                site.kubeconfig.is_none()
                    && Some(&site.namespace) == namespace.as_ref()
                    && drs.spec.components.iter().any(|c| {
                        c.at(&site.name)
                            .and_then(|a| a.workload.as_ref())
                            .is_some_and(|w| w.kind == kind && w.name == name)
                    })
            })
        })
        .map(|drs| ObjectRef::from_obj(&*drs))
        .collect()
}

/// The DrSites in `namespace` whose `list` (their AGs or their pools) names `name`.
fn by_child(
    store: &Store<DrSite>,
    list: fn(&DrSite) -> &[ChildRef],
    namespace: Option<String>,
    name: &str,
) -> Vec<ObjectRef<DrSite>> {
    store
        .state()
        .into_iter()
        .filter(|drs| drs.namespace() == namespace && list(drs).iter().any(|c| c.name == name))
        .map(|drs| ObjectRef::from_obj(&*drs))
        .collect()
}

/// Runs the controller until `stop` is cancelled. `namespace`: watch only that one (default: all).
///
/// With a namespace, the workloads and hook Jobs are watched in that namespace only: a local
/// site in a namespace drover does not watch is still driven, but noticed at the next poll.
///
/// The watches are set up (and counted for readiness) when this is called; the returned future runs
/// them.
pub fn run(
    wiring: &Wiring,
    namespace: Option<&str>,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + use<> {
    let client = &wiring.client;
    let ctx = Arc::new(
        Context::new(
            KubePort::new(client.clone(), wiring.instance.clone()),
            KubeSites::new(client.clone()),
            wiring.config,
        )
        .with_shared(wiring.shared.clone()),
    );
    let controller = wiring.controller(Kind::DrSite, api_in::<DrSite>(client, namespace));
    let store = controller.store();
    let (ags, pools, deployments, statefulsets, jobs) = (
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
    );
    let all = watcher::Config::default;
    let controller = controller
        // A child's status changed (its primary or active site moved, it asks for a confirmation).
        .watches_stream(
            wiring.watch_valid(api_in::<AvailabilityGroup>(client, namespace), all()),
            move |ag| by_child(&ags, |d| &d.spec.availability_groups, ag.namespace(), &ag.name_any()),
        )
        .watches_stream(
            wiring.watch_valid(api_in::<PersistentChatPool>(client, namespace), all()),
            move |pool| {
                by_child(
                    &pools,
                    |d| &d.spec.persistent_chat_pools,
                    pool.namespace(),
                    &pool.name_any(),
                )
            },
        )
        // Workloads and hook Jobs in every watched namespace: a site's namespace need not be the
        // DrSite's.
        .watches_stream(
            wiring.watch(api_in::<PartialObjectMeta<Deployment>>(client, namespace), all()),
            move |d| by_workload(&deployments, WorkloadKind::Deployment, d.namespace(), &d.name_any()),
        )
        .watches_stream(
            wiring.watch(api_in::<PartialObjectMeta<StatefulSet>>(client, namespace), all()),
            move |s| by_workload(&statefulsets, WorkloadKind::StatefulSet, s.namespace(), &s.name_any()),
        )
        .watches_stream(
            wiring.watch(
                api_in::<PartialObjectMeta<Job>>(client, namespace),
                all().labels(LABEL_DRSITE),
            ),
            move |job| {
                let owner = job.labels().get(LABEL_DRSITE).cloned().unwrap_or_default();
                jobs.state()
                    .into_iter()
                    .filter(|drs| label_value(&drs.name_any()) == owner)
                    .map(|drs| ObjectRef::from_obj(&*drs))
                    .collect::<Vec<_>>()
            },
        );
    wiring.drive(controller, reconcile_kube, error_policy, ctx, stop)
}
