//! The drill's self-contained HTML report, fit to attach to a DR test record: inline CSS, no
//! scripts, no external assets; a Gantt of every step by site (absolutely positioned divs, one
//! lane per site), the figures, and a table of every executed step with its exact T-SQL or hook.

use super::DrillReport;
use std::fmt::Write;

/// `text` safe inside HTML text and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}\
code{font-family:monospace;white-space:pre-wrap}.lane{position:relative;height:28px;border-bottom:1px solid #ddd;margin-left:8em}\
.lane span.site{position:absolute;left:-8em;width:7.5em;font-size:12px}\
.bar{position:absolute;top:4px;height:20px;background:#4a90d9;opacity:.8;min-width:3px}\
.bar.sql{background:#d9822b}.bar.event{background:#3a9d5d}";

impl DrillReport {
    pub fn html(&self) -> String {
        let mut out = String::new();
        let title = format!("drover drill: {}", self.subject());
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
            escape(&title)
        );
        let _ = writeln!(
            out,
            "<h1>{}</h1><p>On a simulated twin; {:.1} s at speed {}; {} acknowledged transaction(s) lost over the drill, as the simulator counts them.</p>",
            escape(&title),
            self.seconds,
            self.speed,
            self.lost_transactions
        );
        out.push_str("<ul>");
        for line in self
            .replicas
            .iter()
            .map(|r| format!("simulated SQL Server {r}"))
            .chain(self.notes.iter().cloned())
            .chain(self.not_drilled.iter().map(|n| format!("NOT DRILLED: {n}")))
        {
            let _ = write!(out, "<li>{}</li>", escape(&line));
        }
        out.push_str("</ul>\n<h2>Figures</h2><table><tr><th>Transition</th><th>From</th><th>To</th><th>Took (s)</th><th>Ideal (s)</th><th>Steps</th><th>SQL steps</th><th>Lost transactions</th></tr>\n");
        for t in &self.transitions {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&t.kind),
                escape(t.from.as_deref().unwrap_or("-")),
                escape(&t.to),
                t.seconds,
                t.ideal.seconds,
                t.steps,
                t.sql_steps,
                t.lost_transactions
            );
        }
        out.push_str("</table>\n");
        if !self.confirmations.is_empty() {
            out.push_str("<h2>Confirmations the drill gave</h2><ul>");
            for c in &self.confirmations {
                let _ = write!(out, "<li>{}: <code>{}</code></li>", escape(&c.what), escape(&c.command));
            }
            out.push_str("</ul>\n");
        }
        self.gantt(&mut out);
        out.push_str("<h2>Every step</h2><table><tr><th>Start (s)</th><th>End (s)</th><th>Site</th><th>Source</th><th>Step</th><th>T-SQL, hook or outcome</th></tr>\n");
        for t in &self.timeline {
            let _ = writeln!(
                out,
                "<tr><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                t.start,
                t.end,
                escape(&t.site),
                escape(&t.source),
                escape(&t.step),
                escape(&t.detail)
            );
        }
        out.push_str("</table>\n</body></html>\n");
        out
    }

    /// One lane per site; each step a bar from its start to its end (a sliver for an instant).
    fn gantt(&self, out: &mut String) {
        let span = self
            .timeline
            .iter()
            .map(|t| t.end)
            .fold(self.seconds, f64::max)
            .max(1e-9);
        let mut sites: Vec<&str> = self.timeline.iter().map(|t| t.site.as_str()).collect();
        sites.sort_unstable();
        sites.dedup();
        out.push_str("<h2>Timeline</h2><div>\n");
        for site in sites {
            let label = if site.is_empty() { "(no site)" } else { site };
            let _ = write!(out, "<div class=\"lane\"><span class=\"site\">{}</span>", escape(label));
            for t in self.timeline.iter().filter(|t| t.site == site) {
                let class = match t.source.as_str() {
                    "DrSite" | super::pool::STEP_SOURCE => "bar",
                    "AvailabilityGroupEvent" => "bar sql",
                    super::pool::EVENT_SOURCE if t.step != crate::controller::pchat::HOOK_STEP_REASON => "bar sql",
                    _ => "bar event",
                };
                let _ = write!(
                    out,
                    "<div class=\"{class}\" style=\"left:{:.3}%;width:{:.3}%\" title=\"{}\"></div>",
                    t.start / span * 100.0,
                    (t.end - t.start) / span * 100.0,
                    escape(&format!("{:.2}–{:.2} s {} {}", t.start, t.end, t.step, t.detail))
                );
            }
            out.push_str("</div>\n");
        }
        out.push_str("</div>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_makes_markup_and_quotes_inert() {
        assert_eq!(
            escape(r#"<b>&"x"'y'</b>"#),
            "&lt;b&gt;&amp;&quot;x&quot;&#39;y&#39;&lt;/b&gt;"
        );
        assert_eq!(
            escape("ALTER AVAILABILITY GROUP [cc_ag] FAILOVER"),
            "ALTER AVAILABILITY GROUP [cc_ag] FAILOVER"
        );
    }
}
