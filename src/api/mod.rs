//! The custom resources (group `drover.dev`, version `v1alpha1`) and their
//! generated CRD YAML.

pub mod availability_group;
pub mod conditions;
pub mod confirmation;
pub mod dr_site;
pub mod persistent_chat_pool;
pub mod schema;

pub use availability_group::{AvailabilityGroup, AvailabilityGroupSpec, AvailabilityGroupStatus, SpecError};
pub use dr_site::{DrSite, DrSiteSpec, DrSiteStatus};
pub use persistent_chat_pool::{PersistentChatPool, PersistentChatPoolSpec, PersistentChatPoolStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Every CRD drover serves, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![AvailabilityGroup::crd(), DrSite::crd(), PersistentChatPool::crd()]
}

/// The file name of a CRD in `crds/`: `<plural>.<group>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

/// One CRD as YAML, as `drover crd` prints it and `crds/` holds it.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, String> {
    serde_saphyr::to_string(crd).map_err(|e| format!("cannot render CRD as YAML: {e}"))
}

/// All CRDs as one multi-document YAML stream.
pub fn all_crds_yaml() -> Result<String, String> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&crd_yaml(&crd)?);
    }
    Ok(out)
}
