//! The kube-runtime wiring: watch AvailabilityGroups and the Secrets they
//! name, reconcile each at most once at a time, back off per object on errors.

use super::{Context, Error, Requeue, key_of, reconcile};
use crate::api::availability_group::AvailabilityGroup;
use crate::controller::kube::KubePort;
use crate::controller::{Config, api_in};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

async fn reconcile_kube(ag: Arc<AvailabilityGroup>, ctx: Arc<Context<KubePort>>) -> Result<Action, Error> {
    let span = tracing::info_span!("reconcile", kind = "AvailabilityGroup", object = %key_of(&ag));
    let requeue = reconcile(&ag, &ctx, jiff::Timestamp::now()).instrument(span).await?;
    Ok(match requeue {
        Requeue::After(d) => Action::requeue(d),
        Requeue::OnChange => Action::await_change(),
    })
}

fn error_policy(ag: Arc<AvailabilityGroup>, error: &Error, ctx: Arc<Context<KubePort>>) -> Action {
    let key = key_of(&ag);
    let delay = ctx.failed(&key);
    tracing::warn!(object = %key, error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Runs the controller until `shutdown` completes. `namespace`: watch only that one (default: all).
pub async fn run(
    client: Client,
    config: Config,
    namespace: Option<&str>,
    instance: Option<String>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ags: Api<AvailabilityGroup> = api_in(&client, namespace);
    let secrets: Api<PartialObjectMeta<Secret>> = api_in(&client, namespace);
    let ctx = Arc::new(Context::new(KubePort::new(client, instance), config));
    let controller = Controller::new(ags, watcher::Config::default().any_semantic());
    let store = controller.store();
    controller
        // A Secret that changes (a rotated password, a created Secret) re-runs the groups naming it.
        .watches(secrets, watcher::Config::default(), move |secret| {
            let (ns, name) = (secret.namespace(), secret.name_any());
            store
                .state()
                .into_iter()
                .filter(|ag| {
                    ag.namespace() == ns
                        && (ag.spec.credentials.secret_name == name
                            || ag.spec.tls.ca_secret.as_ref().is_some_and(|c| c.name == name))
                })
                .map(|ag| ObjectRef::from_obj(&*ag))
                .collect::<Vec<_>>()
        })
        .graceful_shutdown_on(shutdown)
        .run(reconcile_kube, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "controller event");
            }
        })
        .await;
}
