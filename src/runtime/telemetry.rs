//! Logs: plain text for a terminal, or one JSON object per line for a log
//! pipeline (Loki, Elasticsearch). JSON lines carry the span they were logged
//! in and its parents, so every line of a reconcile names its kind and object
//! (the `reconcile` span the controllers' run loops open).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the current span and the span list.
    Json,
}

/// Logs to standard error, filtered by `RUST_LOG` or, when it is unset or invalid, by `default`
/// (an EnvFilter directive such as `warn` or `drover=info`). A second call changes nothing.
pub fn init(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Fails only when a subscriber is already installed, and then that one stays.
    // Colours only on a terminal: a pod's log is a file, where escape codes are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = subscriber(format, filter, ansi, std::io::stderr).try_init();
}

/// The subscriber [`init`] installs, writing to `writer` (text with colours if `ansi`).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.finish()),
        LogFormat::Json => Box::new(builder.json().with_current_span(true).with_span_list(true).finish()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            crate::sync::lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(format: LogFormat, directive: &str) -> String {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let subscriber = subscriber(format, EnvFilter::new(directive), false, move || out.clone());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("reconcile", kind = "AvailabilityGroup", object = "dr/ag1");
            let _entered = span.enter();
            tracing::info!(step = "planned_failover", "step started");
            tracing::debug!("filtered out");
        });
        let bytes = crate::sync::lock(&buffer.0).clone();
        String::from_utf8(bytes).expect("UTF-8")
    }

    #[test]
    fn a_json_line_names_the_reconcile_it_was_logged_in() {
        let text = logged(LogFormat::Json, "info");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "the debug line is filtered: {text}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).expect("one JSON object per line");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["fields"]["message"], "step started");
        assert_eq!(line["fields"]["step"], "planned_failover");
        assert_eq!(line["span"]["name"], "reconcile");
        assert_eq!(line["span"]["kind"], "AvailabilityGroup");
        assert_eq!(line["spans"][0]["object"], "dr/ag1");
    }

    #[test]
    fn text_lines_follow_the_filter() {
        let text = logged(LogFormat::Text, "warn");
        assert_eq!(text, "", "info is below warn");
        let text = logged(LogFormat::Text, "debug");
        assert!(
            text.contains("reconcile{kind=\"AvailabilityGroup\" object=\"dr/ag1\"}"),
            "{text}"
        );
        assert!(text.contains("filtered out"), "{text}");
    }
}
