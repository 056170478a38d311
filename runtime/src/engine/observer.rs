//! How the engine tells its caller what it is doing while it does it, without printing anything
//! itself: the command line draws a progress line and prints each table's line; tests pass
//! [`Silent`].

use super::{DeleteReport, TableReport};
use crate::spec::TableSpec;

/// Notified as tables are synced. Called from the task running the sync; `Sync` because the row
/// count is reported from inside the transfer future.
pub trait Observer: Sync {
    /// A table (or a retry of it) begins.
    fn table_started(&self, _spec: &TableSpec) {}
    /// Rows read and staged so far, every few thousand rows of a long table.
    fn rows_transferred(&self, _spec: &TableSpec, _rows: u64) {}
    /// The rows of the table are all staged, or the transfer stopped.
    fn transfer_finished(&self, _spec: &TableSpec) {}
    /// The table is done: synced, partial, or failed.
    fn table_finished(&self, _report: &TableReport) {}
    /// A table's delete check is done (or was not due, or failed).
    fn deletes_finished(&self, _report: &DeleteReport) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Two observers told the same things, the first first: the command line's lines and progress, and
/// what a long run keeps for its `/metrics` and `/healthz`.
pub struct Both<'a>(pub &'a dyn Observer, pub &'a dyn Observer);

impl Observer for Both<'_> {
    fn table_started(&self, spec: &TableSpec) {
        self.0.table_started(spec);
        self.1.table_started(spec);
    }
    fn rows_transferred(&self, spec: &TableSpec, rows: u64) {
        self.0.rows_transferred(spec, rows);
        self.1.rows_transferred(spec, rows);
    }
    fn transfer_finished(&self, spec: &TableSpec) {
        self.0.transfer_finished(spec);
        self.1.transfer_finished(spec);
    }
    fn table_finished(&self, report: &TableReport) {
        self.0.table_finished(report);
        self.1.table_finished(report);
    }
    fn deletes_finished(&self, report: &DeleteReport) {
        self.0.deletes_finished(report);
        self.1.deletes_finished(report);
    }
}
