//! Everything the command line writes: results on stdout (human text or one JSON document), errors
//! and the progress line on stderr. Commands decide what to say; this module is where it is said.

mod human;
mod json;
mod progress;

use std::fmt::Display;
use std::time::Duration;

pub use progress::SyncProgress;

use crate::engine::schema_check::Difference;
use crate::engine::status::StatusRow;
use crate::engine::verify::VerifyReport;
use crate::engine::RunReport;
use crate::program::Program;

/// How this invocation prints: `--json` and `--quiet`.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
}

impl Output {
    /// A line of the result, printed in every mode but JSON's.
    pub fn human(&self, text: impl Display) {
        if !self.json {
            println!("{text}");
        }
    }

    /// A line of a command with no JSON form.
    pub fn line(&self, text: impl Display) {
        println!("{text}");
    }

    pub fn error(&self, error: impl Display) {
        eprintln!("error: {error}");
    }

    /// A failure the `run --every` loop survives.
    pub fn error_retrying(&self, error: impl Display, every: Duration) {
        eprintln!("error: {error}; trying again in {every:?}");
    }

    pub fn codegen(&self, source: &str) {
        print!("{source}");
    }

    pub fn tables(&self, program: &Program) {
        if self.json {
            println!("{}", json::tables(program));
            return;
        }
        for line in human::tables(program) {
            println!("{line}");
        }
    }

    /// The end of a sync pass: the summary (or the JSON document), then each failed table on stderr.
    pub fn sync_finished(&self, run: &RunReport, dry_run: bool, exit_code: i32) {
        if self.json {
            println!("{}", json::sync(run, dry_run, exit_code));
            return;
        }
        println!("{}", human::summary(run, dry_run));
        for t in run.tables().filter(|t| t.status == crate::engine::Status::Failed) {
            eprintln!("error: {} {}: {}", t.direction, t.table, t.error.as_deref().unwrap_or("failed"));
        }
    }

    pub fn status(&self, rows: &[StatusRow]) {
        if self.json {
            println!("{}", json::status(rows));
            return;
        }
        for line in human::status(rows) {
            println!("{line}");
        }
    }

    /// One compared table; quiet runs show only the tables that differ.
    pub fn verified(&self, report: &VerifyReport) {
        if !self.json && (!self.quiet || report.differs()) {
            println!("{}", human::verify_line(report));
        }
    }

    pub fn verify_finished(&self, reports: &[VerifyReport], exit_code: i32) {
        if self.json {
            println!("{}", json::verify(reports, exit_code));
            return;
        }
        let differing = reports.iter().filter(|r| r.differs()).count();
        println!(
            "{} table-direction(s) verified: {} match, {} differ",
            reports.len(),
            reports.len() - differing,
            differing
        );
    }

    pub fn check(&self, program: &Program, differences: &[Difference]) {
        if self.json {
            println!("{}", json::check(differences));
        } else if differences.is_empty() {
            println!("both databases match the manifest ({} table-directions)", program.tables.len());
        } else {
            for d in differences {
                println!("{d}");
            }
            println!("{} difference(s) from the manifest {}", differences.len(), program.manifest.path);
        }
    }
}
