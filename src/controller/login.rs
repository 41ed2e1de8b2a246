//! The SQL login and TLS settings of a resource, read from its Secrets: shared
//! by every controller that talks to SQL Server.

use super::{Port, PortError};
use crate::api::availability_group::{CredentialsRef, TlsSpec};
use crate::sql::{Credentials, Tls};
use std::collections::BTreeMap;

/// A resource that logs in to SQL Server with a login and TLS settings from Secrets.
pub trait SqlLogin {
    fn login_refs(&self) -> (&CredentialsRef, &TlsSpec);
}

impl SqlLogin for crate::api::availability_group::AvailabilityGroup {
    fn login_refs(&self) -> (&CredentialsRef, &TlsSpec) {
        (&self.spec.credentials, &self.spec.tls)
    }
}

impl SqlLogin for crate::api::persistent_chat_pool::PersistentChatPool {
    fn login_refs(&self) -> (&CredentialsRef, &TlsSpec) {
        (&self.spec.credentials, &self.spec.tls)
    }
}

/// The objects in `store` whose login or CA is the Secret `secret`: a change to it (a rotated
/// password, a Secret created late) re-runs them.
pub fn naming_secret<K>(
    store: &kube::runtime::reflector::Store<K>,
    secret: &kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Secret>,
) -> Vec<kube::runtime::reflector::ObjectRef<K>>
where
    K: SqlLogin + kube::Resource<DynamicType = ()> + Clone + 'static,
{
    use kube::ResourceExt;
    let (ns, name) = (secret.namespace(), secret.name_any());
    store
        .state()
        .into_iter()
        .filter(|o| {
            let (credentials, tls) = o.login_refs();
            o.namespace() == ns
                && (credentials.secret_name == name || tls.ca_secret.as_ref().is_some_and(|c| c.name == name))
        })
        .map(|o| kube::runtime::reflector::ObjectRef::from_obj(&*o))
        .collect()
}

/// Why the login could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Kubernetes(#[from] PortError),
    /// A missing Secret or key, or a value that is not UTF-8.
    #[error("{0}")]
    Credentials(String),
}

/// A Secret's data; a missing Secret is a credentials problem, not an API error.
async fn secret_data<P: Port>(port: &P, ns: &str, name: &str) -> Result<BTreeMap<String, Vec<u8>>, LoginError> {
    port.secret(ns, name).await.map_err(|e| match e {
        PortError::NotFound { .. } => LoginError::Credentials(e.to_string()),
        other => LoginError::Kubernetes(other),
    })
}

/// One key of a Secret's data.
fn secret_key(data: &BTreeMap<String, Vec<u8>>, ns: &str, name: &str, key: &str) -> Result<Vec<u8>, LoginError> {
    data.get(key)
        .cloned()
        .ok_or_else(|| LoginError::Credentials(format!("Secret {ns}/{name} has no key {key:?}")))
}

/// The login and TLS settings for a resource in namespace `ns`.
pub async fn login<P: Port>(
    port: &P,
    ns: &str,
    credentials: &CredentialsRef,
    tls: &TlsSpec,
) -> Result<(Credentials, Tls), LoginError> {
    let secret = &credentials.secret_name;
    let data = secret_data(port, ns, secret).await?;
    let text = |key: &str| {
        String::from_utf8(secret_key(&data, ns, secret, key)?)
            .map_err(|_| LoginError::Credentials(format!("Secret {ns}/{secret} key {key:?} is not UTF-8")))
    };
    let login = Credentials {
        user: text(&credentials.username_key)?,
        password: text(&credentials.password_key)?,
    };
    let ca_bundle_pem = match &tls.ca_secret {
        None => None,
        Some(r) => Some(secret_key(&secret_data(port, ns, &r.name).await?, ns, &r.name, &r.key)?),
    };
    let tls = Tls {
        encryption: tls.encryption.into(),
        trust_server_certificate: tls.trust_server_certificate,
        ca_bundle_pem,
        host_name_in_certificate: tls.host_name_in_certificate.clone(),
    };
    Ok((login, tls))
}
