//! The dry-run report for people (text) and for machines (JSON, YAML).

use super::{NextStep, Report, ResourcePlan};
use std::fmt::Write;

/// `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
    Yaml,
}

/// `report` in `format`, ending with a newline.
pub fn render(report: &Report, format: Format) -> Result<String, String> {
    match format {
        Format::Text => Ok(text(report)),
        Format::Json => serde_json::to_string_pretty(report)
            .map(|s| s + "\n")
            .map_err(|e| format!("cannot render the plan as JSON: {e}")),
        Format::Yaml => serde_saphyr::to_string(report).map_err(|e| format!("cannot render the plan as YAML: {e}")),
    }
}

fn text(report: &Report) -> String {
    let mut out = String::new();
    for r in &report.resources {
        resource(&mut out, r);
        out.push('\n');
    }
    for s in &report.skipped {
        let _ = writeln!(out, "skipped (not a drover resource): {s}");
    }
    for n in &report.notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

fn resource(out: &mut String, r: &ResourcePlan) {
    let _ = writeln!(out, "{}/{}  ({})", r.kind, r.name, r.file);
    let observed = r.observed_site.as_deref().unwrap_or("unknown");
    let desired = r.desired_site.as_deref().unwrap_or("(not set: stays where it is)");
    let _ = writeln!(out, "  desired site: {desired}   observed: {observed}");
    if let Some(phase) = &r.phase {
        let _ = writeln!(out, "  phase: {phase}");
    }
    for s in &r.servers {
        let _ = write!(
            out,
            "  server {} @ {}: {}",
            s.server,
            s.site,
            if s.reachable { "reachable" } else { "UNREACHABLE" }
        );
        if let Some(role) = &s.role {
            let _ = write!(out, ", {role}");
        }
        if let Some(mode) = &s.availability_mode {
            let _ = write!(out, ", {mode}");
        }
        if let Some(problem) = &s.problem {
            let _ = write!(out, " ({problem})");
        }
        out.push('\n');
    }
    match &r.next {
        NextStep::Steady => out.push_str("  next: nothing to do\n"),
        NextStep::Wait { reason } => {
            let _ = writeln!(out, "  next: wait: {reason}");
        }
        NextStep::Blocked { reason } => {
            let _ = writeln!(out, "  next: blocked: {reason}");
        }
        NextStep::Sql {
            action,
            server,
            sql,
            reason,
        } => {
            let _ = writeln!(out, "  next: {action} on {server}: {reason}");
            let _ = writeln!(out, "    T-SQL: {sql}");
        }
        NextStep::Hook {
            action,
            site,
            arguments,
        } => {
            let _ = writeln!(out, "  next: hook Job {action} for {site}");
            for a in arguments {
                let _ = writeln!(out, "    {a}");
            }
        }
        NextStep::SetChildSite { child, site } => {
            let _ = writeln!(out, "  next: set {child}'s desired site to {site}");
        }
    }
    for (i, step) in r.runbook.iter().enumerate() {
        let _ = writeln!(out, "  then {}: {step}", i + 1);
    }
    if !r.conditions.is_empty() {
        out.push_str("  conditions drover would write:\n");
    }
    for c in &r.conditions {
        let _ = write!(out, "    {}={} {}", c.type_, c.status, c.reason);
        if !c.message.is_empty() {
            let _ = write!(out, ": {}", c.message);
        }
        out.push('\n');
    }
    for n in &r.notes {
        let _ = writeln!(out, "  note: {n}");
    }
}
