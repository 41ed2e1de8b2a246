//! The simulator's clock: tokio time since the world started, so a test under
//! tokio's paused clock drives the whole world deterministically.

use crate::sim::model::SimTime;

#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    start: tokio::time::Instant,
}

impl SimClock {
    /// Starts the clock now (must be called inside a tokio runtime).
    pub fn start() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }

    /// Simulated time elapsed since the start.
    pub fn now(&self) -> SimTime {
        self.start.elapsed()
    }
}
