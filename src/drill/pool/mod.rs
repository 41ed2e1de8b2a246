//! A PersistentChatPool on the drill's twin: its simulated world ([`twin`]: its four instances,
//! its share, log shipping and mirroring, the pool served from the primary), its controller on
//! that world ([`world`], which [`crate::demo::world::DemoWorld`] runs beside a DrSite's groups),
//! and the critical-path ideal of its runbook ([`ideal`]). A pool alone is drilled under a DrSite
//! the drill makes for it, with no components.

pub mod ideal;
pub mod twin;
pub mod world;

pub use crate::demo::view::{POOL_EVENT_SOURCE as EVENT_SOURCE, POOL_STEP_SOURCE as STEP_SOURCE};
