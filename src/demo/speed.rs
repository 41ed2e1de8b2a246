//! `--speed`: every latency of the simulated world (SQL Server's, the components', the hook
//! Jobs', log shipping's), the controllers' poll and the stage limits divided by one number.

use super::{Error, world};
use std::time::Duration;

fn scaled(d: Duration, speed: f64) -> Duration {
    d.div_f64(speed)
}

/// Checks `--speed`: a number above 0.
pub fn check_speed(speed: f64) -> Result<(), Error> {
    if speed.is_finite() && speed > 0.0 {
        Ok(())
    } else {
        Err(Error::BadInput(format!(
            "--speed must be a number above 0, not {speed}"
        )))
    }
}

/// `sql` with every latency and log-shipping interval divided by `speed`, and as many commits per
/// simulated second as before (within reason).
pub fn speed_up(sql: &mut crate::sim::model::config::WorldConfig, speed: f64) {
    let l = &mut sql.latencies;
    for d in [
        &mut l.replication,
        &mut l.failover,
        &mut l.revert,
        &mut l.backup,
        &mut l.restart,
        &mut l.session_timeout,
        &mut l.restore,
        &mut l.lease_timeout,
    ] {
        *d = scaled(*d, speed);
    }
    for ls in &mut sql.log_shipping {
        for d in [
            &mut ls.backup_interval,
            &mut ls.copy_interval,
            &mut ls.restore_interval,
            &mut ls.restore_delay,
        ] {
            *d = scaled(*d, speed);
        }
    }
    sql.workload.commits_per_second = (f64::from(sql.workload.commits_per_second) * speed).clamp(1.0, 2000.0) as u32;
}

/// The components' and hook Jobs' latencies divided by `speed`.
pub fn speed_up_sites(speed: f64) -> crate::components::memory::Latencies {
    let mut sites = world::site_latencies();
    sites.start = scaled(sites.start, speed);
    sites.stop = scaled(sites.stop, speed);
    sites.hook = scaled(sites.hook, speed);
    sites
}

/// The controllers' poll while a transition runs: 200 ms divided by `speed`, at least 2 ms.
pub fn poll_at(speed: f64) -> Duration {
    scaled(Duration::from_millis(200), speed).max(Duration::from_millis(2))
}

/// How long one stage may take before the scenario counts as failed.
pub fn stage_limit(speed: f64) -> Duration {
    scaled(Duration::from_secs(180), speed).max(Duration::from_secs(10))
}

/// How long without change before the view says again what is awaited.
pub fn heartbeat(speed: f64) -> Duration {
    scaled(Duration::from_secs(3), speed)
}
