//! What `drover demo` reports at the end: a `kubectl get drsites`-style table and, per transition,
//! its measured duration, the critical-path ideal, transactions lost and steps run. Serializes
//! for `-o json` / `-o yaml`; [`Report::text`] is the human form.

use super::ideal::Ideal;
use crate::api::dr_site::DrSiteStatus;
use serde::Serialize;
use std::fmt::Write as _;

/// The whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// How much faster than the base latencies the world ran.
    pub speed: f64,
    /// Time from the world's start to the end of the last transition (tokio time: wall time
    /// unless a test paused the clock).
    pub seconds: f64,
    pub transitions: Vec<TransitionSummary>,
    /// Steps run outside the three transitions (the returning site's leftovers stopped, a
    /// `Repair` of the DrSite).
    pub steps_between: u32,
    /// Every step run: the transitions' and those between them.
    pub steps: u32,
    /// Acknowledged commits the group's primary lacks at the end, from the simulator's model.
    pub lost_transactions: u64,
    /// The confirmations the demo gave on a person's behalf.
    pub confirmations: Vec<Confirmation>,
    /// `kubectl get drsites` at the end.
    pub drsites: Vec<DrSiteRow>,
}

/// One transition of the DrSite.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransitionSummary {
    /// `ColdStart`, `Failover`, `Failback`, …
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub to: String,
    /// From the change that asked for it to the DrSite recording it finished, as the demo timed it.
    pub seconds: f64,
    /// The DrSite's own `status.lastTransition.durationSeconds` (whole seconds).
    pub recorded_seconds: i64,
    pub ideal: Ideal,
    /// Acknowledged commits lost during it, from the simulator's model.
    pub lost_transactions: u64,
    /// DrSite steps run (their Events: a component started or stopped, a hook Job created, a
    /// child moved).
    pub steps: u32,
    /// The rows of the DrSite's plan when it finished (`status.lastTransition.steps`), those it
    /// skipped (at a site declared lost) included.
    pub planned_steps: u32,
    /// SQL steps the AvailabilityGroup controller ran during it.
    pub sql_steps: u32,
    /// Sites declared lost during it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lost_sites: Vec<String>,
}

/// A confirmation the demo gave, and what a person would have run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Confirmation {
    /// `data-loss` (the group's forced failover), `site-lost` (the DrSite) or `discard` (an old
    /// primary's diverged data, at failback).
    pub what: String,
    pub token: String,
    pub command: String,
}

/// One line of `kubectl get drsites`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrSiteRow {
    pub name: String,
    pub active: String,
    pub desired: String,
    pub phase: String,
    pub ready: String,
    pub step: String,
    pub age: String,
}

impl DrSiteRow {
    pub fn new(name: &str, desired: &str, status: &DrSiteStatus, age_seconds: u64) -> Self {
        let or_none = |v: Option<String>| v.unwrap_or_else(|| "<none>".into());
        DrSiteRow {
            name: name.into(),
            active: or_none(status.active_site.clone()),
            desired: desired.into(),
            phase: or_none(status.phase.map(|p| format!("{p:?}"))),
            ready: or_none(status.ready.clone()),
            step: or_none(status.step.clone()),
            age: age(age_seconds),
        }
    }
}

/// kubectl's short age: `45s`, `3m12s`, `2h5m`.
fn age(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{}h{}m", s / 3600, s % 3600 / 60),
    }
}

/// Columns padded to their widest cell, separated by three spaces, as kubectl prints them.
pub fn table(rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        let _ = writeln!(out, "{}", line.join("   ").trim_end());
    }
    out
}

/// The transitions with their figures, then each one's ideal legs.
pub fn transitions_table(transitions: &[TransitionSummary]) -> String {
    let mut rows = vec![
        [
            "TRANSITION",
            "FROM",
            "TO",
            "TOOK",
            "IDEAL",
            "STEPS",
            "SQL STEPS",
            "LOST TXNS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    rows.extend(transitions.iter().map(|t| {
        vec![
            t.kind.clone(),
            t.from.clone().unwrap_or_else(|| "-".into()),
            t.to.clone(),
            format!("{:.1} s", t.seconds),
            format!("{:.1} s", t.ideal.seconds),
            t.steps.to_string(),
            t.sql_steps.to_string(),
            t.lost_transactions.to_string(),
        ]
    }));
    let mut out = table(&rows);
    for t in transitions {
        let legs: Vec<String> = t
            .ideal
            .legs
            .iter()
            .map(|l| format!("{} ({:.2} s)", l.what, l.seconds))
            .collect();
        let _ = writeln!(out, "  ideal {}: {}", t.kind, legs.join(", then "));
    }
    out
}

impl Report {
    /// The human form: the table, then the summary.
    pub fn text(&self) -> String {
        let mut rows = vec![
            ["NAME", "ACTIVE", "DESIRED", "PHASE", "READY", "STEP", "AGE"]
                .map(String::from)
                .to_vec(),
        ];
        rows.extend(self.drsites.iter().map(|r| {
            vec![
                r.name.clone(),
                r.active.clone(),
                r.desired.clone(),
                r.phase.clone(),
                r.ready.clone(),
                r.step.clone(),
                r.age.clone(),
            ]
        }));
        let mut out = format!("$ kubectl get drsites -n contact-center\n{}\n", table(&rows));
        out.push_str(&transitions_table(&self.transitions));
        let _ = writeln!(
            out,
            "\n{} steps in {:.1} s at speed {} ({} between transitions); {} acknowledged transaction(s) lost, as the simulator counts them",
            self.steps, self.seconds, self.speed, self.steps_between, self.lost_transactions
        );
        for c in &self.confirmations {
            let _ = writeln!(out, "confirmed {} for you: {}", c.what, c.command);
        }
        out
    }
}

#[cfg(test)]
mod tests;
