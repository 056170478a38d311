//! The `--json` documents: one per command, on stdout.

use serde_json::{json, Value};

use crate::engine::doctor::{count, Finding, Severity};
use crate::engine::schema_check::Difference;
use crate::engine::status::StatusRow;
use crate::engine::verify::VerifyReport;
use crate::engine::RunReport;
use crate::program::Program;
use crate::spec::Direction;

pub fn tables(program: &Program) -> Value {
    let rows: Vec<Value> = program
        .tables
        .iter()
        .map(|t| {
            let s = t.spec();
            json!({
                "table": s.name,
                "direction": s.direction,
                "desktop": if s.direction == Direction::Forward { s.source.name } else { s.target.name },
                "cloud": if s.direction == Direction::Forward { s.target.name } else { s.source.name },
                "mode": s.mode,
                "strategy": s.strategy,
                "key": s.key,
                "tracking": if s.track_xmin { Some("xmin") } else { s.tracking },
                "desktop_owns": s.desktop_owns,
            })
        })
        .collect();
    json!({ "manifest": program.manifest.path, "tables": rows })
}

pub fn sync(run: &RunReport, dry_run: bool, exit_code: i32) -> Value {
    json!({ "dry_run": dry_run, "directions": run, "exit_code": exit_code })
}

pub fn failure(error: &str, exit_code: i32) -> Value {
    json!({ "error": error, "exit_code": exit_code })
}

pub fn status(rows: &[StatusRow]) -> Value {
    json!({ "tables": rows })
}

pub fn verify(reports: &[VerifyReport], exit_code: i32) -> Value {
    json!({ "tables": reports, "exit_code": exit_code })
}

pub fn check(differences: &[Difference], warnings: &[Difference]) -> Value {
    json!({ "differences": differences, "warnings": warnings })
}

pub fn doctor(findings: &[Finding]) -> Value {
    json!({
        "findings": findings,
        "problems": count(findings, Severity::Problem),
        "warnings": count(findings, Severity::Warning),
    })
}

pub fn introspect(yaml: &str, warnings: &[&str]) -> Value {
    json!({ "yaml": yaml, "warnings": warnings })
}
