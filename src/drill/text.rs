//! The drill's report for people: what was drilled, the transitions with their figures, the
//! confirmations given, and the timeline of every step.

use super::DrillReport;
use crate::demo::summary::transitions_table;
use std::fmt::Write;

impl DrillReport {
    pub fn text(&self) -> String {
        let mut out = format!("drill of {} on a simulated twin:\n", self.subject());
        for r in &self.replicas {
            let _ = writeln!(out, "  simulated SQL Server {r}");
        }
        for n in &self.notes {
            let _ = writeln!(out, "  note: {n}");
        }
        for n in &self.not_drilled {
            let _ = writeln!(out, "  NOT DRILLED: {n}");
        }
        let _ = writeln!(out);
        out.push_str(&transitions_table(&self.transitions));
        for c in &self.confirmations {
            let _ = writeln!(out, "confirmed {} for the drill: {}", c.what, c.command);
        }
        let _ = writeln!(
            out,
            "{} acknowledged transaction(s) lost over the drill, as the simulator counts them; {:.1} s at speed {}",
            self.lost_transactions, self.seconds, self.speed
        );
        let _ = writeln!(out, "\ntimeline (seconds since the twin started):");
        for t in &self.timeline {
            let _ = writeln!(
                out,
                "  {:>7.2} {:>7.2}  {:<8} {:<22} {:<24} {}",
                t.start, t.end, t.site, t.source, t.step, t.detail
            );
        }
        out
    }
}
