//! Everything the command line writes: results on stdout (human text or one JSON document), errors
//! and the progress line on stderr. Commands decide what to say; this module is where it is said.

mod human;
mod json;
mod manifest_entry;
mod progress;

use std::fmt::Display;
use std::io::Write;
use std::time::Duration;

pub use progress::SyncProgress;

/// A line on stdout. A closed stdout (`pgbisync status | head -1`) must never abort a command, least
/// of all a sync in the middle of a table, so a failed write is dropped, not a panic.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(&mut std::io::stdout().lock(), format_args!("{}\n", format_args!($($arg)*)));
    }};
}
/// A line on stderr, with the same rule.
macro_rules! err {
    ($($arg:tt)*) => {{
        let _ = std::io::Write::write_fmt(&mut std::io::stderr().lock(), format_args!("{}\n", format_args!($($arg)*)));
    }};
}
pub(super) use out;

use crate::engine::doctor::{Finding, Severity};
use crate::engine::introspect::Entry;
use crate::engine::schema_check::Difference;
use crate::engine::status::StatusRow;
use crate::engine::verify::VerifyReport;
use crate::engine::RunReport;
use crate::program::Program;

/// How this invocation prints: `--json`, `--quiet`, and `--log-format json` (stderr carries only
/// JSON log lines, so errors go there as log events instead of `error:` lines).
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub log_json: bool,
}

impl Output {
    /// A line of the result, printed in every mode but JSON's.
    pub fn human(&self, text: impl Display) {
        if !self.json {
            out!("{text}");
        }
    }

    /// A line of a command with no JSON form.
    pub fn line(&self, text: impl Display) {
        out!("{text}");
    }

    pub fn error(&self, error: impl Display) {
        if self.log_json {
            tracing::error!("{error}");
        } else {
            err!("error: {error}");
        }
    }

    /// A command that could not run: the error on stderr and, with `--json`, a JSON document on
    /// stdout too, so a caller parsing stdout always gets one.
    pub fn failed(&self, error: impl Display, exit_code: i32) {
        if self.log_json {
            tracing::error!(exit_code, "{error}");
        } else {
            err!("error: {error}");
        }
        if self.json {
            out!("{}", json::failure(&error.to_string(), exit_code));
        }
    }

    /// A failure the `run --every` loop survives.
    pub fn error_retrying(&self, error: impl Display, every: Duration) {
        if self.log_json {
            tracing::error!(retry_in_s = every.as_secs(), "{error}; trying again in {every:?}");
        } else {
            err!("error: {error}; trying again in {every:?}");
        }
    }

    /// `pgbisync trigger`: whether a run heard it.
    pub fn triggered(&self, holder: Option<i32>) {
        if self.json {
            out!("{}", serde_json::json!({ "triggered": holder.is_some(), "run_pid": holder }));
            return;
        }
        match holder {
            Some(pid) => out!("trigger sent: the run holding the lock (desktop backend pid {pid}) starts a pass now, or right after the pass in hand"),
            None => err!(
                "error: no pgbisync run holds the lock on this desktop database, so nothing heard the trigger; start one with `pgbisync run --every 5m`, or sync once with `pgbisync run`"
            ),
        }
    }

    pub fn codegen(&self, source: &str) {
        let _ = std::io::stdout().lock().write_all(source.as_bytes());
    }

    pub fn tables(&self, program: &Program) {
        if self.json {
            out!("{}", json::tables(program));
            return;
        }
        for line in human::tables(program) {
            out!("{line}");
        }
    }

    /// The end of a sync pass: the summary (or the JSON document), then each failed table on stderr.
    pub fn sync_finished(&self, run: &RunReport, dry_run: bool, exit_code: i32) {
        if self.json {
            out!("{}", json::sync(run, dry_run, exit_code));
            return;
        }
        out!("{}", human::summary(run, dry_run));
        // The JSON log has each failure already, as its table's result event.
        if self.log_json {
            return;
        }
        for t in run.tables().filter(|t| t.status == crate::engine::Status::Failed) {
            err!("error: {} {}: {}", t.direction, t.table, t.error.as_deref().unwrap_or("failed"));
        }
        for d in run.deletes().filter(|d| d.is_failure()) {
            err!("error: {} {} deletes: {}", d.direction, d.table, d.error.as_deref().unwrap_or("failed"));
        }
    }

    pub fn status(&self, rows: &[StatusRow]) {
        if self.json {
            out!("{}", json::status(rows));
            return;
        }
        for line in human::status(rows) {
            out!("{line}");
        }
    }

    /// One compared table; quiet runs show only the tables that differ.
    pub fn verified(&self, report: &VerifyReport) {
        if !self.json && (!self.quiet || report.differs()) {
            out!("{}", human::verify_line(report));
        }
    }

    pub fn verify_finished(&self, reports: &[VerifyReport], exit_code: i32) {
        if self.json {
            out!("{}", json::verify(reports, exit_code));
            return;
        }
        let differing = reports.iter().filter(|r| r.differs()).count();
        out!(
            "{} table-direction(s) verified: {} match, {} differ",
            reports.len(),
            reports.len() - differing,
            differing
        );
    }

    /// `check`'s findings, each with its fix; `--quiet` leaves out the warnings.
    pub fn check(&self, program: &Program, differences: &[Difference], warnings: &[Difference]) {
        if self.json {
            out!("{}", json::check(differences, warnings));
            return;
        }
        let shown_warnings = if self.quiet { &[][..] } else { warnings };
        let findings = differences.iter().map(|d| (d, false)).chain(shown_warnings.iter().map(|d| (d, true)));
        for (d, warning) in findings {
            for line in human::check_finding(d, warning) {
                out!("{line}");
            }
        }
        out!("{}", human::check_summary(program, differences.len(), warnings.len()));
    }

    /// `doctor`'s list: problems first, then warnings, then what is fine; `--quiet` leaves out the
    /// fine.
    pub fn doctor(&self, findings: &[Finding]) {
        if self.json {
            out!("{}", json::doctor(findings));
            return;
        }
        let mut sorted: Vec<&Finding> = findings.iter().filter(|f| !self.quiet || f.severity != Severity::Ok).collect();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
        for f in sorted {
            for line in human::doctor_finding(f) {
                out!("{line}");
            }
        }
        out!("{}", human::doctor_summary(findings));
    }

    /// `introspect`'s entries as YAML on stdout (or inside the JSON document), and what needs a
    /// person's attention on stderr, where a paste of stdout leaves it out.
    pub fn manifest_entries(&self, entries: &[Entry]) {
        let yaml = manifest_entry::render(entries);
        let warnings: Vec<&str> = entries.iter().flat_map(|e| e.warnings.iter().map(String::as_str)).collect();
        if self.json {
            out!("{}", json::introspect(&yaml, &warnings));
        } else {
            let _ = std::io::stdout().lock().write_all(yaml.as_bytes());
        }
        for w in warnings {
            err!("warning: {w}");
        }
    }
}
