//! The critical-path ideal of a pool transition. Runbook B is one chain: each step needs the one
//! before it (a log backup is restored only after the previous one, recovery after the last, the
//! hooks after recovery), so the ideal is the sum of the unavoidable waits of the steps the
//! transition ran: a BACKUP takes the simulator's backup latency, a RESTORE (recovery included)
//! its restore latency, a hook Job the Job latency; ending sessions, removing log shipping and
//! turning mirroring off are instant. Pure: the steps' Event reasons and the latencies in.

use crate::demo::ideal::{Ideal, Leg};
use crate::sim::model::config::Latencies;
use std::collections::BTreeMap;
use std::time::Duration;

/// What one step of `reason` must wait, at least.
fn cost(reason: &str, sql: &Latencies, hook: Duration) -> Duration {
    match reason {
        "FullBackup" | "TailLogBackup" => sql.backup,
        "RestoreLog" | "RestoreDatabase" | "RecoverDatabase" => sql.restore,
        crate::controller::pchat::HOOK_STEP_REASON => hook,
        _ => Duration::ZERO,
    }
}

/// The ideal of a transition that ran steps with these Event `reasons`, in order.
pub fn ideal(reasons: &[&str], sql: &Latencies, hook: Duration) -> Ideal {
    let mut by_reason: BTreeMap<&str, u32> = BTreeMap::new();
    for r in reasons {
        *by_reason.entry(r).or_default() += 1;
    }
    let legs: Vec<Leg> = by_reason
        .into_iter()
        .map(|(reason, n)| (reason, n, cost(reason, sql, hook) * n))
        .filter(|(_, _, d)| !d.is_zero())
        .map(|(reason, n, d)| Leg {
            what: format!("{reason} ×{n}"),
            seconds: d.as_secs_f64(),
        })
        .collect();
    Ideal {
        seconds: legs.iter().map(|l| l.seconds).sum(),
        legs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_the_sum_of_its_backups_restores_and_hooks() {
        let sql = Latencies {
            backup: Duration::from_millis(300),
            restore: Duration::from_millis(200),
            ..Latencies::default()
        };
        let reasons = [
            "EndSession",
            "TailLogBackup",
            "RemoveLogShipping",
            "RestoreLog",
            "RestoreLog",
            "RestoreLog",
            "RecoverDatabase",
            "RunHook",
            "RunHook",
        ];
        let got = ideal(&reasons, &sql, Duration::from_secs(1));
        assert!((got.seconds - (0.3 + 4.0 * 0.2 + 2.0)).abs() < 1e-9, "{got:?}");
        let legs: Vec<&str> = got.legs.iter().map(|l| l.what.as_str()).collect();
        assert_eq!(
            legs,
            ["RecoverDatabase ×1", "RestoreLog ×3", "RunHook ×2", "TailLogBackup ×1"]
        );
        assert_eq!(ideal(&["EndSession"], &sql, Duration::from_secs(1)).seconds, 0.0);
    }
}
