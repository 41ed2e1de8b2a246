//! Where a DrSite may act. drover holds more power than the people who create
//! its resources, so a DrSite acts in its own namespace only, unless an
//! administrator allowed more: a label on the *target* namespace naming the
//! DrSite's namespace, `allow-from.drover.dev/<source namespace>=true`.
//! Labelling a namespace takes `patch` on the cluster-scoped `namespaces`
//! resource, which tenants do not hold for namespaces they do not own, so the
//! allowance is the administrator's. `drover run --no-cross-namespace-refs`
//! refuses every other namespace, label or not (Flux's lockdown).
//!
//! A site in another cluster (a kubeconfig Secret) is not checked here: drover
//! acts there with the kubeconfig's credentials, so that cluster's RBAC
//! decides; the Secret itself is read from the DrSite's own namespace only.
//!
//! Pure: the labels are read by [`super::Sites::namespace_labels`].

use crate::api::dr_site::SiteSpec;
use std::collections::BTreeMap;

/// The prefix of the label an administrator puts on a namespace to let the DrSites of another
/// namespace act in it: `allow-from.drover.dev/<namespace>=true`.
pub const ALLOW_FROM_PREFIX: &str = "allow-from.drover.dev/";

/// The label allowing DrSites of namespace `from` in a namespace.
pub fn allow_label(from: &str) -> String {
    format!("{ALLOW_FROM_PREFIX}{from}")
}

/// What the administrator allowed, as far as drover is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// `--no-cross-namespace-refs`: own namespace only, no exceptions.
    pub no_cross_namespace_refs: bool,
}

/// What is known about a site's target namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The namespace's labels.
    Labels(BTreeMap<String, String>),
    /// It does not exist.
    Missing,
}

/// Why a site's namespace is refused; `Display` is the condition's and Event's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "site {site}: namespace {target} is not this DrSite's namespace ({home}) and drover runs with \
         --no-cross-namespace-refs: a DrSite acts only in its own namespace"
    )]
    Lockdown { site: String, target: String, home: String },
    #[error(
        "site {site}: namespace {target} is not this DrSite's namespace ({home}) and no administrator \
         allowed it: the namespace needs the label {label}=true"
    )]
    NotAllowed {
        site: String,
        target: String,
        home: String,
        label: String,
    },
    #[error("site {site}: namespace {target} does not exist")]
    Missing { site: String, target: String },
}

/// Whether a DrSite in `home` may act in `site`'s namespace; `target` is read only when the site
/// is in the operator's cluster and its namespace is not `home` (see [`needs_lookup`]).
pub fn check(home: &str, site: &SiteSpec, policy: Policy, target: Option<&Target>) -> Result<(), Refusal> {
    if !needs_lookup(home, site) {
        return Ok(());
    }
    let (name, ns) = (site.name.clone(), site.namespace.clone());
    if policy.no_cross_namespace_refs {
        return Err(Refusal::Lockdown {
            site: name,
            target: ns,
            home: home.into(),
        });
    }
    let label = allow_label(home);
    match target {
        Some(Target::Labels(labels)) if labels.get(&label).is_some_and(|v| v == "true") => Ok(()),
        Some(Target::Missing) => Err(Refusal::Missing { site: name, target: ns }),
        _ => Err(Refusal::NotAllowed {
            site: name,
            target: ns,
            home: home.into(),
            label,
        }),
    }
}

/// Whether `site` is in the operator's cluster in a namespace other than `home`, so that its
/// namespace must be looked at (or refused outright under the lockdown).
pub fn needs_lookup(home: &str, site: &SiteSpec) -> bool {
    site.kubeconfig.is_none() && site.namespace != home
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::dr_site::KubeconfigRef;

    fn site(ns: &str) -> SiteSpec {
        SiteSpec {
            name: "site-b".into(),
            namespace: ns.into(),
            kubeconfig: None,
        }
    }

    fn labelled(pairs: &[(&str, &str)]) -> Target {
        Target::Labels(pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect())
    }

    #[test]
    fn the_own_namespace_is_always_allowed_and_never_looked_up() {
        let locked = Policy {
            no_cross_namespace_refs: true,
        };
        assert!(!needs_lookup("tenant-a", &site("tenant-a")));
        assert_eq!(check("tenant-a", &site("tenant-a"), locked, None), Ok(()));
    }

    #[test]
    fn another_namespace_needs_the_administrators_label_naming_the_source() {
        let open = Policy::default();
        let refused = check("tenant-a", &site("kube-system"), open, Some(&labelled(&[])));
        assert_eq!(
            refused.expect_err("refused").to_string(),
            "site site-b: namespace kube-system is not this DrSite's namespace (tenant-a) and no administrator \
             allowed it: the namespace needs the label allow-from.drover.dev/tenant-a=true"
        );
        // Another source's allowance is not this one's; a value other than "true" allows nothing.
        let other = labelled(&[("allow-from.drover.dev/tenant-b", "true")]);
        assert!(check("tenant-a", &site("db"), open, Some(&other)).is_err());
        let not_true = labelled(&[("allow-from.drover.dev/tenant-a", "yes")]);
        assert!(check("tenant-a", &site("db"), open, Some(&not_true)).is_err());
        let allowed = labelled(&[("allow-from.drover.dev/tenant-a", "true")]);
        assert_eq!(check("tenant-a", &site("db"), open, Some(&allowed)), Ok(()));
        assert_eq!(
            check("tenant-a", &site("db"), open, Some(&Target::Missing)),
            Err(Refusal::Missing {
                site: "site-b".into(),
                target: "db".into()
            })
        );
    }

    #[test]
    fn the_lockdown_refuses_even_an_allowed_namespace() {
        let locked = Policy {
            no_cross_namespace_refs: true,
        };
        let allowed = labelled(&[("allow-from.drover.dev/tenant-a", "true")]);
        let refused = check("tenant-a", &site("db"), locked, Some(&allowed)).expect_err("refused");
        assert!(matches!(refused, Refusal::Lockdown { .. }), "{refused:?}");
        assert!(refused.to_string().contains("--no-cross-namespace-refs"), "{refused}");
    }

    #[test]
    fn a_site_in_another_cluster_is_decided_by_that_clusters_rbac() {
        let mut remote = site("kube-system");
        remote.kubeconfig = Some(KubeconfigRef {
            secret_name: "b".into(),
            key: "kubeconfig".into(),
        });
        assert!(!needs_lookup("tenant-a", &remote));
        let locked = Policy {
            no_cross_namespace_refs: true,
        };
        assert_eq!(check("tenant-a", &remote, locked, None), Ok(()));
    }
}
