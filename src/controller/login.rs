//! The SQL login and TLS settings of a resource, read from its Secrets: shared
//! by every controller that talks to SQL Server.

use super::{Port, PortError, SecretData};
use crate::api::availability_group::{CredentialsRef, TlsSpec};
use crate::sql::{Credentials, Tls};

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

/// The Secret type that opts a Secret in as a login (its owner made it a credentials Secret).
pub const BASIC_AUTH: &str = "kubernetes.io/basic-auth";
/// The label that opts any Secret in: `drover.dev/credentials=true`.
pub const CREDENTIALS_LABEL: &str = "drover.dev/credentials";

/// Why the login could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error(transparent)]
    Kubernetes(#[from] PortError),
    /// A missing Secret or key, a Secret that did not opt in, or a value that is not UTF-8.
    #[error("{0}")]
    Credentials(String),
}

/// A Secret; a missing Secret is a credentials problem, not an API error.
async fn secret_data<P: Port>(port: &P, ns: &str, name: &str) -> Result<SecretData, LoginError> {
    port.secret(ns, name).await.map_err(|e| match e {
        PortError::NotFound { .. } => LoginError::Credentials(e.to_string()),
        other => LoginError::Kubernetes(other),
    })
}

/// Whether the Secret's owner let drover use it: type `kubernetes.io/basic-auth`, or the label
/// `drover.dev/credentials=true`. Whoever writes an AvailabilityGroup or pool may name any Secret
/// of the namespace; only these are read, so naming another (a ServiceAccount token, a TLS key,
/// an application's API key) reads nothing.
pub fn opted_in(secret: &SecretData) -> bool {
    secret.type_.as_deref() == Some(BASIC_AUTH) || secret.labels.get(CREDENTIALS_LABEL).is_some_and(|v| v == "true")
}

/// The refusal of a Secret that did not opt in (the Invalid-credentials message; no value read).
pub fn not_opted_in(ns: &str, name: &str, what: &str) -> String {
    format!(
        "Secret {ns}/{name} may not be used as {what}: drover reads only Secrets of type {BASIC_AUTH} \
         or labelled {CREDENTIALS_LABEL}=true, so that the Secret's owner decides"
    )
}

/// The Warning Event reason for a connection that can be read or impersonated on the network.
pub const INSECURE_TRANSPORT: &str = "InsecureTransport";

/// What is weak in `tls` (`None` when nothing is): a server certificate accepted unchecked, or a
/// connection not (wholly) encrypted, which sends the login's password to whatever answers.
pub fn transport_warning(tls: &TlsSpec) -> Option<String> {
    use crate::api::availability_group::Encryption;
    let mut weak = Vec::new();
    match tls.encryption {
        Encryption::Off => {
            weak.push("encryption Off: the login, its password and every statement cross the network in clear")
        }
        Encryption::LoginOnly => {
            weak.push("encryption LoginOnly: every statement and result after the login crosses the network in clear")
        }
        Encryption::Required | Encryption::Strict => {}
    }
    if tls.trust_server_certificate {
        weak.push(
            "trustServerCertificate: any server certificate is accepted, so anyone on the path can \
             impersonate a replica and receive the password (pin a CA with caSecret instead)",
        );
    }
    (!weak.is_empty()).then(|| format!("spec.tls: {}", weak.join("; ")))
}

/// One key of a Secret's data.
fn secret_key(secret: &SecretData, ns: &str, name: &str, key: &str) -> Result<Vec<u8>, LoginError> {
    secret
        .data
        .get(key)
        .cloned()
        .ok_or_else(|| LoginError::Credentials(format!("Secret {ns}/{name} has no key {key:?}")))
}

/// The login and TLS settings for a resource in namespace `ns`. Nothing of a Secret that did not
/// opt in is used ([`opted_in`]); a CA bundle may also be the `ca.crt` of a `kubernetes.io/tls`
/// Secret (what cert-manager writes). Errors name Secrets and keys, never a value.
pub async fn login<P: Port>(
    port: &P,
    ns: &str,
    credentials: &CredentialsRef,
    tls: &TlsSpec,
) -> Result<(Credentials, Tls), LoginError> {
    let secret = &credentials.secret_name;
    let data = secret_data(port, ns, secret).await?;
    if !opted_in(&data) {
        return Err(LoginError::Credentials(not_opted_in(ns, secret, "a SQL login")));
    }
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
        Some(r) => {
            let ca = secret_data(port, ns, &r.name).await?;
            let tls_ca = ca.type_.as_deref() == Some("kubernetes.io/tls") && r.key == "ca.crt";
            if !(opted_in(&ca) || tls_ca) {
                return Err(LoginError::Credentials(not_opted_in(ns, &r.name, "a CA bundle")));
            }
            Some(secret_key(&ca, ns, &r.name, &r.key)?)
        }
    };
    let tls = Tls {
        encryption: tls.encryption.into(),
        trust_server_certificate: tls.trust_server_certificate,
        ca_bundle_pem,
        host_name_in_certificate: tls.host_name_in_certificate.clone(),
    };
    Ok((login, tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::availability_group::SecretKeyRef;
    use crate::controller::memory::MemoryPort;

    fn refs() -> CredentialsRef {
        CredentialsRef {
            secret_name: "login".into(),
            username_key: "username".into(),
            password_key: "password".into(),
        }
    }

    fn with_ca(name: &str, key: &str) -> TlsSpec {
        TlsSpec {
            ca_secret: Some(SecretKeyRef {
                name: name.into(),
                key: key.into(),
            }),
            ..TlsSpec::default()
        }
    }

    #[test]
    fn weak_transport_is_named() {
        use crate::api::availability_group::Encryption;
        assert_eq!(transport_warning(&TlsSpec::default()), None);
        let off = TlsSpec {
            encryption: Encryption::Off,
            trust_server_certificate: true,
            ..TlsSpec::default()
        };
        let w = transport_warning(&off).expect("a warning");
        assert!(
            w.contains("encryption Off") && w.contains("trustServerCertificate"),
            "{w}"
        );
        let login_only = TlsSpec {
            encryption: Encryption::LoginOnly,
            ..TlsSpec::default()
        };
        assert!(transport_warning(&login_only).is_some_and(|w| w.contains("LoginOnly")));
    }

    #[tokio::test]
    async fn only_secrets_that_opted_in_are_used() {
        let port = MemoryPort::default();
        let data = [("username", "u"), ("password", "p")];
        port.put_secret_as("ns", "login", Some("Opaque"), &[], &data);
        let refused = login(&port, "ns", &refs(), &TlsSpec::default()).await;
        assert!(
            matches!(&refused, Err(LoginError::Credentials(m)) if m.contains("may not be used as a SQL login")),
            "{refused:?}"
        );
        // A label with another value opts nothing in.
        port.put_secret_as("ns", "login", None, &[(CREDENTIALS_LABEL, "yes")], &data);
        assert!(login(&port, "ns", &refs(), &TlsSpec::default()).await.is_err());
        port.put_secret_as("ns", "login", None, &[(CREDENTIALS_LABEL, "true")], &data);
        let (c, _) = login(&port, "ns", &refs(), &TlsSpec::default())
            .await
            .expect("labelled");
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p"));
        port.put_secret_as("ns", "login", Some(BASIC_AUTH), &[], &data);
        assert!(login(&port, "ns", &refs(), &TlsSpec::default()).await.is_ok());
    }

    #[tokio::test]
    async fn a_ca_bundle_comes_from_an_opted_in_secret_or_a_tls_secrets_ca_crt_only() {
        let port = MemoryPort::default();
        port.put_secret("ns", "login", &[("username", "u"), ("password", "p")]);
        port.put_secret_as(
            "ns",
            "cert",
            Some("kubernetes.io/tls"),
            &[],
            &[("ca.crt", "CA"), ("tls.key", "KEY")],
        );
        let (_, tls) = login(&port, "ns", &refs(), &with_ca("cert", "ca.crt"))
            .await
            .expect("ca.crt");
        assert_eq!(tls.ca_bundle_pem.as_deref(), Some(&b"CA"[..]));
        let refused = login(&port, "ns", &refs(), &with_ca("cert", "tls.key")).await;
        assert!(
            matches!(&refused, Err(LoginError::Credentials(m)) if m.contains("as a CA bundle")),
            "{refused:?}"
        );
        port.put_secret_as("ns", "token", Some("Opaque"), &[], &[("ca.crt", "CA")]);
        assert!(login(&port, "ns", &refs(), &with_ca("token", "ca.crt")).await.is_err());
    }
}
