//! Each finished table and delete check as one structured event (`table`, `direction`, `rows`,
//! `duration_ms`, ...), and each pass's totals, under the target [`TARGET`], so that `--log-format json` gives a log
//! collector every result as fields. The human log leaves this target out: its stdout line per
//! table already says the same.

use std::time::Duration;

use super::{DeleteReport, RunReport, Status, TableReport};

/// The target of the result events, named in log filters (`PGBISYNC_LOG=pgbisync::result=info`).
pub const TARGET: &str = "pgbisync::result";

pub(crate) fn table_finished(r: &TableReport) {
    let (direction, status) = (r.direction.as_str(), r.status.as_str());
    let duration_ms = u64::try_from(r.millis).unwrap_or(u64::MAX);
    // A failed or partial table is a warning, so that `-q` (warnings only) still logs it.
    if r.status == Status::Ok {
        tracing::info!(
            target: TARGET,
            table = r.table, direction, mode = r.mode, status, rows = r.rows_written, rows_read = r.rows_read,
            set_aside = r.rejected, duration_ms, "table finished"
        );
    } else {
        tracing::warn!(
            target: TARGET,
            table = r.table, direction, mode = r.mode, status, rows = r.rows_written, rows_read = r.rows_read,
            set_aside = r.rejected, duration_ms, error = r.error.as_deref(), "table finished"
        );
    }
}

pub(crate) fn deletes_finished(r: &DeleteReport) {
    let (direction, outcome) = (r.direction.as_str(), r.outcome_str());
    let duration_ms = u64::try_from(r.millis).unwrap_or(u64::MAX);
    if r.is_failure() || r.held > 0 {
        tracing::warn!(
            target: TARGET,
            table = r.table, direction, outcome, rows = r.deleted, held = r.held, gone = r.gone,
            duration_ms, error = r.error.as_deref(), "delete check finished"
        );
    } else {
        tracing::info!(
            target: TARGET,
            table = r.table, direction, outcome, rows = r.deleted, held = r.held, gone = r.gone,
            duration_ms, "delete check finished"
        );
    }
}

/// The end of a pass: the totals of its tables.
pub(crate) fn pass_finished(run: &RunReport, took: Duration) {
    let tables = run.tables().count();
    let (ok, partial, failed) = (run.count(Status::Ok), run.count(Status::Partial), run.count(Status::Failed));
    let rows: u64 = run.tables().map(|t| t.rows_written).sum();
    let rows_read: u64 = run.tables().map(|t| t.rows_read).sum();
    let set_aside: u64 = run.tables().map(|t| t.rejected).sum();
    let deleted: u64 = run.deletes().map(|d| d.deleted).sum();
    let duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    if run.all_ok() {
        tracing::info!(target: TARGET, tables, ok, partial, failed, rows, rows_read, set_aside, deleted, duration_ms, "pass finished");
    } else {
        tracing::warn!(target: TARGET, tables, ok, partial, failed, rows, rows_read, set_aside, deleted, duration_ms, "pass finished");
    }
}
