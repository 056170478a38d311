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
    /// The target held none of the rows this side owns in the tenant before this run: its delete
    /// check has nothing to find and waits for the next run.
    pub first_load: bool,
    /// The rows were copied straight into the target (a first load; see `engine::direct`).
    pub direct: bool,
    /// The delete check's keys, compared in this sync's transaction against what its full read
    /// staged; the check itself runs with the others, children before parents.
    #[serde(skip)]
    pub(crate) deletes_compared: Option<super::deletes::StagedCheck>,
}

impl TableReport {
    /// A report of `spec` with nothing read or written yet.
    pub(crate) fn new(spec: &TableSpec, status: Status) -> TableReport {
        TableReport {
            table: spec.name.to_string(),
            direction: spec.direction,
            source: spec.source.name.to_string(),
            target: spec.target.name.to_string(),
            mode: spec.mode.as_str(),
            status,
            rows_read: 0,
            rows_written: 0,
            duplicates_dropped: 0,
            rejected: 0,
            reject_samples: Vec::new(),
            watermark_from: None,
            watermark_to: None,
            millis: 0,
            error: None,
            unavailable: false,
            first_load: false,
            direct: false,
            deletes_compared: None,
        }
    }

    pub(crate) fn failed(spec: &TableSpec, error: &super::TableError) -> TableReport {
        TableReport {
            error: Some(error.to_string()),
            unavailable: error.is_unavailable(),
            ..TableReport::new(spec, Status::Failed)
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

/// What one table's delete check did: the target rows whose source row is gone.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeleteReport {
    pub table: String,
    pub direction: Direction,
    pub target: String,
    pub outcome: DeleteOutcome,
    /// Keys on the source, and the target rows the sending side owns in the tenant.
    pub source_keys: u64,
    pub target_rows: u64,
    /// Target rows whose source row is gone (found, whether deleted or not).
    pub gone: u64,
    pub deleted: u64,
    /// Gone rows other rows still reference: set aside, tried again at the next check.
    pub held: u64,
    pub held_samples: Vec<(String, String)>,
    /// Of the 256 key buckets, those whose keys had to be listed (0 when both key sets are equal).
    pub buckets_listed: usize,
    /// The keys were compared in the table's sync, against the rows its full read staged: no key
    /// scan of the source.
    pub against_staging: bool,
    /// Why nothing was deleted (the guard), or why the check failed.
    pub error: Option<String>,
    /// The check failed because a server could not be reached.
    pub unavailable: bool,
    pub millis: u128,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteOutcome {
    /// Checked; the rows gone were deleted (possibly none), except those held.
    Checked,
    /// Checked less than the table's interval ago: not checked this run.
    NotDue,
    /// The mass-delete guard stopped it: nothing deleted.
    Refused,
    /// The table's own sync failed this run, so its deletes wait for the next.
    Skipped,
    /// The table's first load this run: nothing it holds can be gone yet; checked next run.
    FirstLoad,
    /// The source's change counters prove no key left it since the last check.
    Unchanged,
    Failed,
}

impl DeleteReport {
    pub(crate) fn new(spec: &TableSpec, outcome: DeleteOutcome) -> DeleteReport {
        DeleteReport {
            table: spec.name.to_string(),
            direction: spec.direction,
            target: spec.target.name.to_string(),
            outcome,
            source_keys: 0,
            target_rows: 0,
            gone: 0,
            deleted: 0,
            held: 0,
            held_samples: Vec::new(),
            buckets_listed: 0,
            against_staging: false,
            error: None,
            unavailable: false,
            millis: 0,
        }
    }

    pub(crate) fn failed(spec: &TableSpec, error: &super::TableError) -> DeleteReport {
        DeleteReport {
            error: Some(error.to_string()),
            unavailable: error.is_unavailable(),
            ..DeleteReport::new(spec, DeleteOutcome::Failed)
        }
    }

    pub fn outcome_str(&self) -> &'static str {
        match self.outcome {
            DeleteOutcome::Checked => "checked",
            DeleteOutcome::NotDue => "not due",
            DeleteOutcome::Refused => "refused",
            DeleteOutcome::Skipped => "skipped",
            DeleteOutcome::FirstLoad => "first load",
            DeleteOutcome::Unchanged => "unchanged",
            DeleteOutcome::Failed => "failed",
        }
    }

    /// True when the check stopped short of what it had to do (refused or failed).
    pub fn is_failure(&self) -> bool {
        matches!(self.outcome, DeleteOutcome::Refused | DeleteOutcome::Failed)
    }
}

/// What a direction's run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DirectionReport {
    pub direction: Direction,
    /// Set when the metadata could not be created: the run went on in full mode.
    pub degraded: Option<String>,
    pub tables: Vec<TableReport>,
    /// The delete checks, children before parents (empty when no table propagates deletes).
    pub deletes: Vec<DeleteReport>,
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

    /// Every delete check of every direction.
    pub fn deletes(&self) -> impl Iterator<Item = &DeleteReport> {
        self.directions.iter().flat_map(|d| &d.deletes)
    }

    /// True when every table synced with nothing set aside, and every delete check did its work.
    pub fn all_ok(&self) -> bool {
        self.tables().all(|t| t.status == Status::Ok) && self.deletes().all(|d| !d.is_failure() && d.held == 0)
    }

    pub fn count(&self, status: Status) -> usize {
        self.tables().filter(|t| t.status == status).count()
    }
}
