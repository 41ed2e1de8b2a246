//! The kube-runtime wiring: watch AvailabilityGroups and the Secrets they
//! name, reconcile each at most once at a time, back off per object on errors.

use super::{Context, Error, key_of, reconcile};
use crate::api::availability_group::AvailabilityGroup;
use crate::api::dr_site::DrSite;
use crate::controller::api_in;
use crate::controller::kube::KubePort;
use crate::controller::login::naming_secret;
use crate::runtime::Wiring;
use crate::runtime::metrics::Kind;
use crate::runtime::wiring::retry_after;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use std::future::Future;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

async fn reconcile_kube(ag: Arc<AvailabilityGroup>, ctx: Arc<Context<KubePort>>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", kind = "AvailabilityGroup", object = %key_of(&ag));
    let requeue = reconcile(&ag, &ctx, jiff::Timestamp::now()).instrument(span).await?;
    Ok(requeue.into())
}

fn error_policy(ag: Arc<AvailabilityGroup>, error: &Error, ctx: Arc<Context<KubePort>>) -> Action {
    let key = key_of(&ag);
    retry_after(&key, error, ctx.failed(&key))
}

/// Runs the controller until `stop` is cancelled. `namespace`: watch only that one (default: all).
///
/// The watches are set up (and counted for readiness) when this is called; the returned future runs
/// them.
pub fn run(
    wiring: &Wiring,
    namespace: Option<&str>,
    stop: CancellationToken,
) -> impl Future<Output = ()> + Send + use<> {
    let client = &wiring.client;
    // The DrSites, to tell which list a group (only their field manager may move it), and to
    // look at the groups a DrSite lists again when it changes.
    let (drsites, drsite_changes) = wiring.reflect(api_in::<DrSite>(client, namespace));
    let ctx = Arc::new(
        Context::new(
            KubePort::new(client.clone(), wiring.instance.clone()).with_drsites(drsites),
            wiring.config,
        )
        .with_shared(wiring.shared.clone()),
    );
    // A deleted group's SQL connections are closed.
    let connections = ctx.clone();
    let controller = wiring.controller_closing(
        Kind::AvailabilityGroup,
        api_in::<AvailabilityGroup>(client, namespace),
        move |key| connections.pool.forget(key),
    );
    let store = controller.store();
    // A Secret that changes (a rotated password, a created Secret) re-runs the groups naming it.
    let secrets = wiring.watch(
        api_in::<PartialObjectMeta<Secret>>(client, namespace),
        watcher::Config::default(),
    );
    let controller = controller
        .watches_stream(secrets, move |secret| naming_secret(&store, &secret))
        .watches_stream(drsite_changes, |drs| {
            let ns = drs.namespace().unwrap_or_default();
            drs.spec
                .availability_groups
                .iter()
                .map(|c| ObjectRef::<AvailabilityGroup>::new(&c.name).within(&ns))
                .collect::<Vec<_>>()
        });
    wiring.drive(controller, reconcile_kube, error_policy, ctx, stop)
}
