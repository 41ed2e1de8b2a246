//! Harness code shared by several integration tests. Each test crate compiles
//! this module on its own, so an item one of them does not use is not dead.
#![allow(dead_code)]

pub mod fake_api;
pub mod mock_api;
pub mod rig;
pub mod schema;
pub mod scrape;
