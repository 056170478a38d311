//! What a sync did: per table, per direction, per run. Plain data, serialised as the `--json` output;
//! how it maps to an exit code is the command line's business.

use chrono::{DateTime, Utc};

use crate::spec::{Direction, TableSpec};

/// What happened to one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableReport {
    pub table: String,
    pub direction: Direction,
    pub source: String,
    pub target: String,
    pub mode: &'static str,
    pub status: Status,
    pub rows_read: u64,
    pub rows_written: u64,
    pub duplicates_dropped: u64,
    pub rejected: u64,
    /// A few of the rejected rows: key and reason.
    pub reject_samples: Vec<(String, String)>,
    pub watermark_from: Option<DateTime<Utc>>,
    pub watermark_to: Option<DateTime<Utc>>,
    pub millis: u128,
    /// Why the table failed, as text for the report (built from a [`super::TableError`]).
    pub error: Option<String>,
    /// The table failed because a server could not be reached, even after the retries.
    pub unavailable: bool,
}

impl TableReport {
    /// The report of a table that wrote nothing.
    pub(crate) fn failed(spec: &TableSpec, error: &super::TableError) -> TableReport {
        TableReport {
            table: spec.name.to_string(),
            direction: spec.direction,
            source: spec.source.name.to_string(),
            target: spec.target.name.to_string(),
            mode: spec.mode.as_str(),
            status: Status::Failed,
            rows_read: 0,
            rows_written: 0,
            duplicates_dropped: 0,
            rejected: 0,
            reject_samples: Vec::new(),
            watermark_from: None,
            watermark_to: None,
            millis: 0,
            error: Some(error.to_string()),
            unavailable: error.is_transient(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Synced, with rows set aside.
    Partial,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Partial => "partial",
            Status::Failed => "failed",
        }
    }
}

/// What a direction's run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DirectionReport {
    pub direction: Direction,
    /// Set when the metadata could not be created: the run went on in full mode.
    pub degraded: Option<String>,
    pub tables: Vec<TableReport>,
}

/// What one sync pass did, direction by direction (directions with no selected table are left out).
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(transparent)]
pub struct RunReport {
    pub directions: Vec<DirectionReport>,
}

impl RunReport {
    /// Every table of every direction, in sync order.
    pub fn tables(&self) -> impl Iterator<Item = &TableReport> {
        self.directions.iter().flat_map(|d| &d.tables)
    }

    /// True when every table synced with nothing set aside.
    pub fn all_ok(&self) -> bool {
        self.tables().all(|t| t.status == Status::Ok)
    }

    pub fn count(&self, status: Status) -> usize {
        self.tables().filter(|t| t.status == status).count()
    }
}
