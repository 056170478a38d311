//! `/metrics` in the Prometheus text exposition format (version 0.0.4): each metric's `# HELP` and
//! `# TYPE` lines, then its samples; per table-direction samples are labelled `table` and `direction`.
//! A gauge of a table's last sync has no sample until the table synced in this process (a missing
//! sample, not a misleading 0); counters start at 0.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{State, TableState};

/// The exposition's content type, for the response header.
pub(super) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) fn render(state: &State, every: Duration, now: DateTime<Utc>) -> String {
    let mut out = Exposition::default();
    let per_table = |out: &mut Exposition, name, kind, help, value: &dyn Fn(&TableState) -> Option<Value>| {
        out.family(name, kind, help);
        for t in &state.tables {
            if let Some(v) = value(t) {
                out.sample(name, &[("table", t.table), ("direction", t.direction.as_str())], v);
            }
        }
    };
    per_table(
        &mut out,
        "pgbisync_table_lag_seconds",
        "gauge",
        "Seconds from the table's stored watermark to now; includes the manifest's lookback_seconds and grows while the source is idle.",
        &|t| t.watermark.map(|w| Value::Real(seconds(now - w))),
    );
    per_table(
        &mut out,
        "pgbisync_table_rows_written",
        "gauge",
        "Rows the table's last sync inserted or updated on the target.",
        &|t| t.last.as_ref().map(|l| Value::Count(l.rows_written)),
    );
    per_table(
        &mut out,
        "pgbisync_table_rows_written_total",
        "counter",
        "Rows inserted or updated on the target since the process started.",
        &|t| Some(Value::Count(t.rows_written_total)),
    );
    per_table(
        &mut out,
        "pgbisync_table_rows_set_aside",
        "gauge",
        "Rows the table's last sync set aside in the rejects table.",
        &|t| t.last.as_ref().map(|l| Value::Count(l.rows_set_aside)),
    );
    per_table(
        &mut out,
        "pgbisync_table_rows_set_aside_total",
        "counter",
        "Rows set aside since the process started (a row set aside again each pass counts each time).",
        &|t| Some(Value::Count(t.rows_set_aside_total)),
    );
    per_table(
        &mut out,
        "pgbisync_table_rows_deleted_total",
        "counter",
        "Target rows the delete checks removed since the process started.",
        &|t| Some(Value::Count(t.rows_deleted_total)),
    );
    per_table(
        &mut out,
        "pgbisync_table_failures_total",
        "counter",
        "Syncs of the table that failed (after the retries) since the process started.",
        &|t| Some(Value::Count(t.failures_total)),
    );
    per_table(
        &mut out,
        "pgbisync_table_delete_failures_total",
        "counter",
        "Delete checks of the table that failed or that the mass-delete guard refused since the process started.",
        &|t| Some(Value::Count(t.delete_failures_total)),
    );
    per_table(&mut out, "pgbisync_table_duration_seconds", "gauge", "How long the table's last sync took.", &|t| {
        t.last.as_ref().map(|l| Value::Real(l.seconds))
    });

    let passes = &state.passes;
    let last = passes.last.as_ref();
    out.single(
        "pgbisync_interval_seconds",
        "gauge",
        "The --every interval between passes.",
        Some(Value::Real(every.as_secs_f64())),
    );
    out.single(
        "pgbisync_passes_total",
        "counter",
        "Passes run since the process started.",
        Some(Value::Count(passes.total)),
    );
    out.single(
        "pgbisync_pass_failures_total",
        "counter",
        "Passes that did not succeed (a table failed or set rows aside, or the pass could not run).",
        Some(Value::Count(passes.failures_total)),
    );
    out.single(
        "pgbisync_last_pass_success",
        "gauge",
        "1 when the last pass succeeded, else 0.",
        last.map(|l| Value::Count(u64::from(l.failure.is_none()))),
    );
    out.single(
        "pgbisync_last_pass_timestamp_seconds",
        "gauge",
        "When the last pass finished (Unix time).",
        last.map(|l| Value::Real(unix_seconds(l.finished_at))),
    );
    out.single(
        "pgbisync_last_pass_duration_seconds",
        "gauge",
        "How long the last pass took.",
        last.map(|l| Value::Real(l.took.as_secs_f64())),
    );
    out.single(
        "pgbisync_last_success_timestamp_seconds",
        "gauge",
        "When the last pass that succeeded finished (Unix time).",
        passes.last_success.map(|(_, at)| Value::Real(unix_seconds(at))),
    );
    out.text
}

/// The text being written, one line at a time.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// A metric of one unlabelled sample (none while its value is not known yet).
    fn single(&mut self, name: &str, kind: &str, help: &str, value: Option<Value>) {
        self.family(name, kind, help);
        if let Some(value) = value {
            self.sample(name, &[], value);
        }
    }

    /// A sample of the metric whose `family` was written last: the format keeps a metric's lines
    /// together.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.text.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
            let _ = write!(self.text, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value's escapes: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    value.replace('\\', r"\\").replace('"', "\\\"").replace('\n', r"\n")
}

/// A HELP text's escapes: backslash and line feed.
fn escape_help(text: &str) -> String {
    text.replace('\\', r"\\").replace('\n', r"\n")
}

/// A sample's value: a count, written exactly, or a real number of seconds, to the millisecond.
#[derive(Debug, Clone, Copy)]
enum Value {
    Count(u64),
    Real(f64),
}

impl std::fmt::Display for Value {
    /// As the format spells it: Rust never writes an exponent for an `f64`, and the non-finite values
    /// get the format's own names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Value::Count(n) => write!(f, "{n}"),
            Value::Real(v) if v.is_nan() => f.write_str("NaN"),
            Value::Real(v) if v.is_infinite() => f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" }),
            Value::Real(v) => write!(f, "{}", (v * 1000.0).round() / 1000.0),
        }
    }
}

fn seconds(d: chrono::TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

fn unix_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Direction;

    #[test]
    fn label_values_and_help_are_escaped_and_values_are_plain_numbers() {
        assert_eq!(escape_label("a\\b\"c\nd"), r#"a\\b\"c\nd"#);
        assert_eq!(escape_help("x\\y\nz \"q\""), "x\\\\y\\nz \"q\"");
        assert_eq!(Value::Real(1.0).to_string(), "1");
        assert_eq!(Value::Real(0.1234567).to_string(), "0.123");
        assert_eq!(Value::Real(1.7e9).to_string(), "1700000000");
        assert_eq!(Value::Count(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(Value::Real(f64::INFINITY).to_string(), "+Inf");
    }

    #[test]
    fn a_table_that_never_synced_has_counters_but_no_last_sync_gauges() {
        let now = Utc::now();
        let state = State {
            tables: vec![TableState {
                watermark: Some(now - chrono::TimeDelta::seconds(90)),
                ..TableState::new(Direction::Forward, "odd\"name")
            }],
            passes: super::super::Passes::default(),
        };
        let text = render(&state, Duration::from_secs(60), now);
        assert!(
            text.contains("pgbisync_table_lag_seconds{table=\"odd\\\"name\",direction=\"forward\"} 90\n"),
            "{text}"
        );
        assert!(text.contains("pgbisync_table_rows_written_total{table=\"odd\\\"name\",direction=\"forward\"} 0\n"));
        assert!(!text.contains("pgbisync_table_rows_written{"), "{text}");
        assert!(!text.contains("\npgbisync_last_pass_success "), "{text}");
        assert!(text.contains("# TYPE pgbisync_passes_total counter\npgbisync_passes_total 0\n"), "{text}");
    }
}
