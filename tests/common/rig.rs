//! Settings shared by the scenario tests that run the controllers against the
//! TDS simulator. Each test crate compiles this module on its own, so an item
//! one of them does not use is not dead.
#![allow(dead_code)]

use drover::api::availability_group::AvailabilityGroup;
use drover::controller::Config;
use drover::controller::memory::MemoryPort;
use drover::sim::Sim;
use drover::sim::model::config::WorldConfig;
use drover::sim::spec::availability_group_spec;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// The controllers' settings: `poll` while a transition runs (and as the first backoff), SQL
/// timeouts the simulator never comes near unless an instance hangs.
pub fn config(poll: Duration) -> Config {
    drover::demo::world::controller_config(poll)
}

/// Two sites with short simulated latencies and a steady committing workload.
pub fn world() -> WorldConfig {
    drover::demo::world::sim_config()
}

/// What an AvailabilityGroup scenario starts from.
pub struct AgStart {
    pub sim: Arc<Sim>,
    /// `dr/ag1` over the simulator's `ag1`, primary at site-a, generation 1.
    pub ag: AvailabilityGroup,
    /// Holds the group's login Secret `dr/ag1-login`.
    pub port: MemoryPort,
    /// The simulated world's start: 2026-11-21 03:00 UTC.
    pub epoch: jiff::Timestamp,
}

/// Starts the simulated world `cfg` and declares its group `ag1`.
pub async fn ag_start(cfg: WorldConfig) -> AgStart {
    let civil = jiff::civil::date(2026, 11, 21).at(3, 0, 0, 0);
    let sim = Sim::start_at(cfg, civil, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .await
        .expect("simulator starts");
    let spec = availability_group_spec(&sim, "ag1", "site-a", "ag1-login").expect("the simulator has ag1");
    let mut ag = AvailabilityGroup::new("ag1", spec);
    ag.metadata.namespace = Some("dr".into());
    ag.metadata.generation = Some(1);
    let port = MemoryPort::default();
    let (user, password) = sim.login();
    port.put_secret("dr", "ag1-login", &[("username", user), ("password", password)]);
    AgStart {
        sim,
        ag,
        port,
        epoch: civil.to_zoned(jiff::tz::TimeZone::UTC).expect("UTC").timestamp(),
    }
}
