//! Whether this process may start a step now: it holds the leader lease (when
//! leader election is on) and is not shutting down. Every controller asks
//! before each reconcile and again right before it executes a step, so a
//! follower never acts and a leader that lost its lease or was told to stop
//! starts nothing new.

use super::lease::Leadership;
use tokio_util::sync::CancellationToken;

/// Cheap to clone; all controllers of one process share one.
#[derive(Clone, Debug, Default)]
pub struct Gate {
    leadership: Option<Leadership>,
    stop: CancellationToken,
}

impl Gate {
    /// Always open until `stop` is cancelled: one process, no election (tests, the demo, a
    /// single replica run with `--leader-election=false`).
    pub fn unelected(stop: CancellationToken) -> Self {
        Self { leadership: None, stop }
    }

    /// Open while `leadership` says this process leads and `stop` is not cancelled.
    pub fn elected(leadership: Leadership, stop: CancellationToken) -> Self {
        Self {
            leadership: Some(leadership),
            stop,
        }
    }

    /// May a step start now?
    pub fn may_act(&self) -> bool {
        !self.stop.is_cancelled() && self.leadership.as_ref().is_none_or(Leadership::is_leading)
    }

    /// Whether shutdown was asked for.
    pub fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// The leadership this gate follows, if election is on.
    pub fn leadership(&self) -> Option<&Leadership> {
        self.leadership.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unelected_gate_closes_on_stop() {
        let stop = CancellationToken::new();
        let gate = Gate::unelected(stop.clone());
        assert!(gate.may_act());
        stop.cancel();
        assert!(!gate.may_act());
        assert!(gate.stopping());
    }
}
