//! What a sync shows while it runs: a progress line for long tables, only on a terminal (stderr)
//! and never in quiet or JSON runs (the rows read so far and the time taken), and each table's line
//! on stdout as it finishes. The progress line appears at the first progress report (after some
//! thousands of rows), so short tables never draw one.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{human, Output};
use crate::engine::{DeleteReport, Observer, TableReport};
use crate::spec::TableSpec;

pub struct SyncProgress {
    output: Output,
    /// Draw progress lines: human output on a terminal.
    shown: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl SyncProgress {
    pub fn new(output: Output) -> SyncProgress {
        let shown = !output.json && !output.quiet && !output.log_json && std::io::stderr().is_terminal();
        SyncProgress { output, shown, bar: Mutex::new(None) }
    }

    fn clear(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }
}

impl Observer for SyncProgress {
    fn table_started(&self, _spec: &TableSpec) {
        self.clear();
    }

    fn rows_transferred(&self, spec: &TableSpec, rows: u64) {
        if !self.shown {
            return;
        }
        let Ok(mut bar) = self.bar.lock() else { return };
        let bar = bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix}: {human_pos} rows read ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(spec.name);
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        bar.set_position(rows);
    }

    fn transfer_finished(&self, _spec: &TableSpec) {
        self.clear();
    }

    fn table_finished(&self, report: &TableReport) {
        self.clear();
        if !self.output.json && !self.output.quiet {
            super::out!("{}", human::table_line(report));
        }
    }

    fn deletes_finished(&self, report: &DeleteReport) {
        if self.output.json || self.output.quiet {
            return;
        }
        if let Some(line) = human::delete_line(report) {
            super::out!("{line}");
        }
    }
}
