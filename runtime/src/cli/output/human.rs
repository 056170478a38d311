//! The human-readable lines: one per table, the summaries, and the tables of `status` and `tables`.

use chrono::{DateTime, Utc};

use crate::engine::doctor::{count, Finding, Severity};
use crate::engine::schema_check::Difference;
use crate::engine::status::StatusRow;
use crate::engine::verify::VerifyReport;
use crate::engine::{DeleteOutcome, DeleteReport, RunReport, Status, TableReport};
use crate::program::Program;
use crate::spec::Direction;

pub fn table_line(r: &TableReport) -> String {
    let mut line = format!(
        "{:<7} {:<20} {:<11} read {:>8}  written {:>8}",
        r.direction.as_str(),
        r.table,
        r.mode,
        r.rows_read,
        r.rows_written
    );
    if r.duplicates_dropped > 0 {
        line.push_str(&format!("  duplicates dropped {}", r.duplicates_dropped));
    }
    if r.rejected > 0 {
        line.push_str(&format!("  set aside {}", r.rejected));
    }
    line.push_str(&format!("  {:>6.2}s  {}", r.millis as f64 / 1000.0, r.status.as_str()));
    if let Some((key, reason)) = r.reject_samples.first() {
        line.push_str(&format!("  (e.g. {key}: {reason})"));
    }
    if let Some(e) = &r.error {
        line.push_str(&format!("  {e}"));
    }
    line
}

/// A delete check worth a line: one that found rows gone, held some, or stopped; `None` for the
/// checks that found nothing to do.
pub fn delete_line(r: &DeleteReport) -> Option<String> {
    let head = format!("{:<7} {:<20} deletes", r.direction.as_str(), r.table);
    match r.outcome {
        DeleteOutcome::NotDue | DeleteOutcome::Skipped | DeleteOutcome::FirstLoad | DeleteOutcome::Unchanged => None,
        DeleteOutcome::Refused | DeleteOutcome::Failed => {
            Some(format!("{head}     {}  {}", r.outcome_str(), r.error.as_deref().unwrap_or("")))
        }
        DeleteOutcome::Checked if r.gone == 0 && r.held == 0 => None,
        DeleteOutcome::Checked => {
            let mut line = format!("{head}  deleted {:>8}", r.deleted);
            if r.held > 0 {
                line.push_str(&format!("  held {}", r.held));
            }
            line.push_str(&format!("  {:>6.2}s", r.millis as f64 / 1000.0));
            if let Some((key, reason)) = r.held_samples.first() {
                line.push_str(&format!("  (e.g. {key}: {reason})"));
            }
            Some(line)
        }
    }
}

pub fn summary(run: &RunReport, dry_run: bool) -> String {
    let deleted: u64 = run.deletes().map(|d| d.deleted).sum();
    let held: u64 = run.deletes().map(|d| d.held).sum();
    let refused = run.deletes().filter(|d| d.is_failure()).count();
    let mut deletes = String::new();
    if deleted + held > 0 || refused > 0 {
        deletes = format!("; {deleted} deleted");
        if held > 0 {
            deletes.push_str(&format!(", {held} held"));
        }
        if refused > 0 {
            deletes.push_str(&format!(", {refused} delete check(s) stopped"));
        }
    }
    format!(
        "{}{} table(s): {} ok, {} partial, {} failed; {} rows read, {} written, {} set aside{deletes}",
        if dry_run { "dry run (rolled back): " } else { "" },
        run.tables().count(),
        run.count(Status::Ok),
        run.count(Status::Partial),
        run.count(Status::Failed),
        run.tables().map(|t| t.rows_read).sum::<u64>(),
        run.tables().map(|t| t.rows_written).sum::<u64>(),
        run.tables().map(|t| t.rejected).sum::<u64>(),
    )
}

pub fn tables(program: &Program) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<9} {:<20} {:<20} {:<20} {:<12} {:<15} key",
        "direction", "table", "desktop", "cloud", "mode", "strategy"
    )];
    for t in program.tables {
        let s = t.spec();
        let (desktop, cloud) = if s.direction == Direction::Forward {
            (s.source.name, s.target.name)
        } else {
            (s.target.name, s.source.name)
        };
        let key = if s.key.is_empty() { "(none: target generates it)".to_string() } else { s.key.join(", ") };
        lines.push(format!(
            "{:<9} {:<20} {:<20} {:<20} {:<12} {:<15} {}",
            s.direction.as_str(),
            s.name,
            desktop,
            cloud,
            s.mode.as_str(),
            s.strategy.as_str(),
            key
        ));
        if !s.desktop_owns.is_empty() {
            let writes = if s.direction == Direction::Forward { "writes only" } else { "never writes" };
            lines.push(format!(
                "{:<9} {:<20} on rows born in the cloud, the desktop owns {}: {} {writes} those",
                "",
                "",
                s.desktop_owns.join(", "),
                s.direction.as_str()
            ));
        }
    }
    lines
}

pub fn status(rows: &[StatusRow]) -> Vec<String> {
    let mut lines = vec![format!(
        "{:<9} {:<20} {:<26} {:>9} {:<26} {:>9} {:<8} {:>7} {:>7}  last error",
        "direction", "table", "watermark", "lag (s)", "last run", "rows", "status", "rejects", "deleted"
    )];
    let ts = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()).unwrap_or_else(|| "-".into())
    };
    for r in rows {
        lines.push(format!(
            "{:<9} {:<20} {:<26} {:>9} {:<26} {:>9} {:<8} {:>7} {:>7}  {}",
            r.direction.as_str(),
            r.table,
            ts(r.watermark),
            r.lag_seconds.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            ts(r.last_run_at),
            r.rows_copied.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            r.status.as_deref().unwrap_or("never"),
            r.rejects,
            r.deleted_kept,
            [r.last_error.as_deref(), r.deletes_error.as_deref().map(|e| format!("deletes: {e}")).as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }
    lines
}

pub fn verify_line(r: &VerifyReport) -> String {
    let direction = r.direction.map(|d| d.as_str()).unwrap_or("");
    if let Some(e) = &r.error {
        return format!("{direction:<7} {:<20} cannot compare: {e}", r.table);
    }
    let mut line = format!(
        "{direction:<7} {:<20} source {:>8}  target {:>8}  missing {}  extra {}  different {}",
        r.table, r.source_rows, r.target_rows, r.missing, r.extra, r.different
    );
    if r.rejects > 0 {
        line.push_str(&format!("  set aside {}", r.rejects));
    }
    if r.held_by_target > 0 {
        line.push_str(&format!(
            "  held by the {}'s own rows {}",
            r.direction.map(|d| d.target().to_string()).unwrap_or_default(),
            r.held_by_target
        ));
    }
    let samples: Vec<String> =
        [("missing", &r.missing_keys), ("extra", &r.extra_keys), ("different", &r.different_keys)]
            .iter()
            .filter(|(_, keys)| !keys.is_empty())
            .map(|(kind, keys)| format!("{kind} {}", keys.join(" ")))
            .collect();
    if !samples.is_empty() {
        line.push_str(&format!("  (e.g. {})", samples.join("; ")));
    }
    line
}

/// One finding of `check` (prefixed with `warning: ` when it does not fail the check), then its fix
/// indented on the lines below, ready to paste into psql.
pub fn check_finding(d: &Difference, warning: bool) -> Vec<String> {
    let mut lines = vec![if warning { format!("warning: {d}") } else { d.to_string() }];
    if let Some(fix) = &d.fix {
        lines.extend(fix.lines().map(|l| format!("    {l}")));
    }
    lines
}

pub fn check_summary(program: &Program, differences: usize, warnings: usize) -> String {
    let warned = if warnings > 0 { format!(", {warnings} warning(s)") } else { String::new() };
    if differences == 0 {
        format!("both databases match the manifest ({} table-directions{warned})", program.tables.len())
    } else {
        format!("{differences} difference(s) from the manifest {}{warned}", program.manifest.path)
    }
}

/// One item: its weight, where, what; then the fix, indented.
pub fn doctor_finding(f: &Finding) -> Vec<String> {
    let weight = match f.severity {
        Severity::Problem => "PROBLEM",
        Severity::Warning => "warning",
        Severity::Ok => "ok",
    };
    let place = match (&f.side, &f.table) {
        (Some(side), Some(table)) => format!("{side} {}, {table}", f.area.as_str()),
        (Some(side), None) => format!("{side} {}", f.area.as_str()),
        (None, _) => f.area.as_str().to_string(),
    };
    let mut lines = vec![format!("{weight:<8}{place}: {}", f.message)];
    if let Some(fix) = &f.fix {
        lines.push(format!("        fix: {fix}"));
    }
    lines
}

pub fn doctor_summary(findings: &[Finding]) -> String {
    match (count(findings, Severity::Problem), count(findings, Severity::Warning)) {
        (0, 0) => "no problems found: this deployment is ready to sync".to_string(),
        (0, w) => format!("no problems, {w} warning(s): it will sync; the warnings cost speed or clarity"),
        (p, w) => format!("{p} problem(s), {w} warning(s): fix the problems before syncing"),
    }
}
