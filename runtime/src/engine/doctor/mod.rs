//! `pgbisync doctor`: what is wrong with a deployment, as one list with a fix for each item. It
//! reads the catalogs and settings of whichever sides it could reach and writes nothing.
//!
//! Each concern is a file: the connection (TLS, pooler, server version, time zone), the clocks,
//! the privileges each table's work needs, the indexes incremental reads need; the schema
//! differences are `check`'s own (`schema_check::examine_side`).

mod clock;
mod connection;
mod indexes;
mod privileges;

use tokio_postgres::Client;

use crate::config::ConnectionUrl;
use crate::engine::schema_check::{self, Difference};
use crate::program::Program;
use crate::spec::Side;

/// How much an item matters: a problem stops a sync or loses data, a warning costs time or
/// correctness elsewhere, `ok` is what was found in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Warning,
    Problem,
}

/// What an item is about, so a reader (or a script) can group them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    Configuration,
    Connection,
    Tls,
    Pooler,
    Server,
    Clock,
    Privileges,
    Indexes,
    Schema,
}

impl Area {
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Configuration => "configuration",
            Area::Connection => "connection",
            Area::Tls => "tls",
            Area::Pooler => "pooler",
            Area::Server => "server",
            Area::Clock => "clock",
            Area::Privileges => "privileges",
            Area::Indexes => "indexes",
            Area::Schema => "schema",
        }
    }
}

/// One item of the list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub area: Area,
    /// The side it is about; none for what concerns both (the clocks, the time zones).
    pub side: Option<Side>,
    pub table: Option<String>,
    pub message: String,
    /// What to run or change, when something should be.
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(severity: Severity, area: Area, side: Option<Side>, message: impl Into<String>) -> Self {
        Finding { severity, area, side, table: None, message: message.into(), fix: None }
    }

    pub fn ok(area: Area, side: Side, message: impl Into<String>) -> Self {
        Finding::new(Severity::Ok, area, Some(side), message)
    }

    pub fn table(mut self, table: &str) -> Self {
        self.table = Some(table.to_string());
        self
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// A check that could not be made: it says which, so nothing passes by being skipped.
    fn unchecked(area: Area, side: Side, what: &str, error: &tokio_postgres::Error) -> Self {
        Finding::new(
            Severity::Problem,
            area,
            Some(side),
            format!("could not check {what}: {}", crate::engine::db_error::describe(error)),
        )
    }

    fn from_difference(d: Difference, severity: Severity) -> Self {
        Finding {
            severity,
            area: Area::Schema,
            side: Some(d.side),
            table: Some(d.table.clone()),
            message: match &d.column {
                Some(c) => format!("column {c}: {}", d.problem),
                None => d.problem.clone(),
            },
            fix: d.fix,
        }
    }
}

/// A side the doctor reached.
pub struct Reached<'a> {
    pub url: &'a ConnectionUrl,
    pub client: &'a Client,
}

/// Every check of the sides reached, side by side, then what compares the two.
pub async fn examine(program: &Program, sides: &[Reached<'_>]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut servers = Vec::new();
    for reached in sides {
        let side = reached.url.side;
        let (found, server) = connection::examine(reached).await;
        findings.extend(found);
        servers.extend(server);
        findings.extend(privileges::examine(reached.client, program, side).await);
        findings.extend(indexes::examine(reached.client, program, side).await);
        match schema_check::examine_side(reached.client, program, side).await {
            Ok(found) => {
                findings.extend(found.differences.into_iter().map(|d| Finding::from_difference(d, Severity::Problem)));
                findings.extend(found.warnings.into_iter().map(|d| Finding::from_difference(d, Severity::Warning)));
            }
            Err(e) => findings.push(Finding::unchecked(Area::Schema, side, "the tables against the manifest", &e)),
        }
    }
    findings.extend(connection::compare(program, &servers));
    let clients: Vec<(Side, &Client)> = sides.iter().map(|r| (r.url.side, r.client)).collect();
    findings.extend(clock::examine(&clients).await);
    findings
}

/// How many items weigh `severity`; problems fail the preflight.
pub fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}
