//! One table, one direction: read the source as a binary COPY stream, stage it on the target with a
//! binary COPY, set aside the rows that cannot be applied, apply the rest set-based with the table's
//! strategy, and record the watermark -- all of the target's writes in one transaction.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, GenericClient, IsolationLevel, Transaction};

use crate::codec::CompiledTable;
use crate::error::{describe, is_row_error};
use crate::metadata::{self, RunRecord, Scope};
use crate::spec::{ManifestSpec, Mode, TableSpec};
use crate::watermark::{self, Horizon};

/// Staged batches at least this large are analyzed before they are checked and applied.
const ANALYZE_FROM_ROWS: u64 = 10_000;

/// How a run treats every table.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Read every table completely, whatever its watermark.
    pub full: bool,
    pub tenant: Option<String>,
    /// False when the bootstrap could not create the metadata: full reads, nothing recorded.
    pub metadata: bool,
    /// Draw a progress line for long tables (on a terminal).
    pub progress: bool,
    /// Source tables whose key a unique index guarantees: no duplicates to drop.
    pub unique_sources: std::collections::HashSet<String>,
}

/// What happened to one table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableReport {
    pub table: String,
    pub direction: crate::spec::Direction,
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
    pub error: Option<String>,
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

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("{0}")]
    Transfer(#[from] crate::codec::TransferError),
}

impl PipelineError {
    pub fn is_transient(&self) -> bool {
        match self {
            PipelineError::Db(e) => crate::error::is_transient(e),
            PipelineError::Transfer(crate::codec::TransferError::Stream(e)) => crate::error::is_transient(e),
            PipelineError::Transfer(_) => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            PipelineError::Db(e) => describe(e),
            PipelineError::Transfer(crate::codec::TransferError::Stream(e)) => describe(e),
            PipelineError::Transfer(crate::codec::TransferError::Decode { row, source }) => {
                format!("row {row} of the source cannot be read into its typed field: {}", describe(source))
            }
        }
    }
}

/// Sets the `pgbisync.*` settings the generated SQL reads (COPY cannot take parameters, so values
/// reach it this way, still as bound parameters), local to the transaction.
pub(crate) async fn set_settings(
    tx: &Transaction<'_>,
    manifest: &ManifestSpec,
    tenant: Option<&str>,
    since: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "SELECT set_config('pgbisync.origin_desktop', $1, true), set_config('pgbisync.origin_cloud', $2, true), \
         set_config('pgbisync.tenant', $3, true), set_config('pgbisync.since', $4, true)",
        &[&manifest.origin_desktop, &manifest.origin_cloud, &tenant.unwrap_or(""), &since.to_rfc3339()],
    )
    .await?;
    Ok(())
}

/// Syncs one table. `source` and `target` are the two sides for the table's direction.
pub async fn sync_table<C: GenericClient>(
    table: &dyn CompiledTable,
    manifest: &ManifestSpec,
    source: &mut Client,
    target: &mut C,
    options: &RunOptions,
) -> Result<TableReport, PipelineError> {
    let spec = table.spec();
    let started = Instant::now();
    let metadata_table = manifest.metadata_table(spec.direction);
    let incremental =
        spec.mode == Mode::Incremental && !options.full && options.metadata && spec.sql.read_incremental.is_some();

    let scope = Scope::of(options.tenant.as_deref());
    let stored =
        if options.metadata { metadata::watermark(target, metadata_table, &scope, spec.name).await? } else { None };
    let since = if incremental { stored.unwrap_or(DateTime::<Utc>::UNIX_EPOCH) } else { DateTime::<Utc>::UNIX_EPOCH };
    // From the epoch, the incremental read selects every row: read it plainly.
    let incremental = incremental && since > DateTime::<Utc>::UNIX_EPOCH;
    // Taken before the read's snapshot: every row the snapshot misses belongs to a transaction that
    // started at or after this instant, so the next run reading from here cannot miss it.
    let Horizon { watermark: next_watermark } =
        watermark::horizon(source, Duration::from_secs(manifest.lookback_seconds as u64)).await?;

    let source_tx =
        source.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    set_settings(&source_tx, manifest, options.tenant.as_deref(), since).await?;
    if incremental && spec.sql.dedup.is_some() && !options.unique_sources.contains(spec.source.name) {
        // The read joins the table to its own changed keys; on a legacy table without statistics
        // the planner may pick a nested loop, quadratic in the rows changed. A hash join is linear.
        source_tx.batch_execute("SET LOCAL enable_nestloop = off").await?;
    }
    let read_sql =
        if incremental { spec.sql.read_incremental.unwrap_or(spec.sql.read_full) } else { spec.sql.read_full };

    let tx = target.transaction().await?;
    set_settings(&tx, manifest, options.tenant.as_deref(), since).await?;
    // Dedup, checks and apply hash or sort the whole batch; the default 4 MB spills a large
    // table to disk. Local to this transaction.
    tx.batch_execute("SET LOCAL work_mem = '128MB'").await?;
    tx.batch_execute(spec.sql.create_stage).await?;
    tx.batch_execute(
        "CREATE TEMPORARY TABLE \"_pgbisync_rejected\" (\"_n\" bigint NOT NULL, reason text NOT NULL) ON COMMIT DROP; \
         CREATE TEMPORARY TABLE \"_pgbisync_set_aside\" (LIKE \"_pgbisync_stage\") ON COMMIT DROP",
    )
    .await?;

    let out = source_tx.copy_out(read_sql).await?;
    let sink = tx.copy_in(spec.sql.copy_stage).await?;
    let progress = crate::progress::Progress::start(spec.name, options.progress);
    let transferred = table.transfer(out, sink, &progress).await?;
    drop(progress);
    source_tx.commit().await?;
    tracing::debug!(table = spec.name, rows = transferred.rows, elapsed = ?started.elapsed(), "read and staged");
    // Temporary tables are never analyzed automatically; without statistics the planner guesses
    // the batch's size and may hash a million staged rows to probe an empty target. Small batches
    // cannot go far wrong and skip the cost.
    if transferred.rows >= ANALYZE_FROM_ROWS {
        // The row count and the key's statistics are what the joins need; all columns cost 5x more.
        let columns: Vec<String> =
            std::iter::once("_n").chain(spec.key.iter().copied()).map(crate::sql::ident).collect();
        tx.batch_execute(&format!("ANALYZE \"_pgbisync_stage\" ({})", columns.join(", "))).await?;
    }

    let duplicates_dropped = match spec.sql.dedup {
        Some(sql) if !options.unique_sources.contains(spec.source.name) => tx.execute(sql, &[]).await?,
        _ => 0,
    };
    for check in spec.sql.checks {
        tx.execute(*check, &[]).await?;
    }
    set_aside(&tx).await?;
    tracing::debug!(table = spec.name, elapsed = ?started.elapsed(), "deduplicated and checked");
    for statement in spec.sql.prepare {
        tx.execute(*statement, &[]).await?;
    }
    let written = apply(&tx, spec).await?;
    tracing::debug!(table = spec.name, rows = written, elapsed = ?started.elapsed(), "applied");

    let rejected: i64 = tx.query_one("SELECT count(DISTINCT \"_n\") FROM \"_pgbisync_rejected\"", &[]).await?.get(0);
    // One read of the rows set aside: a few samples for the report, and the oldest tracking value,
    // which the watermark must not pass (rejected rows are read again next time).
    let described = tx
        .query(
            &format!(
                "SELECT x.k, x.reason, min(x.t) OVER () FROM ({}) AS x(k, reason, d, t) ORDER BY x.k LIMIT 5",
                spec.sql.describe_rejects
            ),
            &[],
        )
        .await?;
    let reject_samples: Vec<(String, String)> = described.iter().map(|r| (r.get(0), r.get(1))).collect();
    let oldest_reject: Option<DateTime<Utc>> = described.first().and_then(|r| r.get(2));
    let new_watermark = match oldest_reject {
        Some(t) if t < next_watermark => t,
        _ => next_watermark,
    };
    let status = if rejected > 0 { Status::Partial } else { Status::Ok };

    if options.metadata {
        let rejects_table = manifest.rejects_table(spec.direction);
        metadata::replace_rejects(&tx, rejects_table, &scope, spec.name, spec.sql.describe_rejects).await?;
        metadata::record(
            &tx,
            metadata_table,
            &RunRecord {
                table: spec.name,
                scope: &scope,
                watermark: Some(new_watermark),
                rows: written as i64,
                status: status.as_str(),
                error: (rejected > 0)
                    .then(|| format!("{rejected} row(s) set aside; see {}", manifest.rejects_table(spec.direction)))
                    .as_deref(),
            },
        )
        .await?;
    }
    // Dropped explicitly: inside a dry run's outer transaction, ON COMMIT DROP would wait for the end.
    tx.batch_execute("DROP TABLE \"_pgbisync_stage\", \"_pgbisync_rejected\", \"_pgbisync_set_aside\"").await?;
    tx.commit().await?;

    Ok(TableReport {
        table: spec.name.to_string(),
        direction: spec.direction,
        source: spec.source.name.to_string(),
        target: spec.target.name.to_string(),
        mode: if incremental { "incremental" } else { "full" },
        status,
        rows_read: transferred.rows,
        rows_written: written,
        duplicates_dropped,
        rejected: rejected as u64,
        reject_samples,
        watermark_from: incremental.then_some(since),
        watermark_to: options.metadata.then_some(new_watermark),
        millis: started.elapsed().as_millis(),
        error: None,
    })
}

/// Moves the rows the checks rejected out of staging.
async fn set_aside(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    tx.execute(
        "WITH moved AS (DELETE FROM \"_pgbisync_stage\" s WHERE s.\"_n\" IN (SELECT r.\"_n\" FROM \"_pgbisync_rejected\" r) RETURNING s.*) \
         INSERT INTO \"_pgbisync_set_aside\" SELECT * FROM moved",
        &[],
    )
    .await?;
    Ok(())
}

/// Applies staging set-based. When a statement fails on a row (a constraint the checks could not
/// foresee), the range is halved under savepoints until the offending rows are isolated and set
/// aside with the server's message; the others are applied. Normal runs take one pass.
async fn apply(tx: &Transaction<'_>, spec: &TableSpec) -> Result<u64, tokio_postgres::Error> {
    let bounds = tx.query_one("SELECT min(\"_n\"), max(\"_n\") FROM \"_pgbisync_stage\"", &[]).await?;
    let (Some(lo), Some(hi)) = (bounds.get::<_, Option<i64>>(0), bounds.get::<_, Option<i64>>(1)) else {
        return Ok(0);
    };
    let mut written = 0;
    let mut ranges = vec![(lo, hi)];
    while let Some((lo, hi)) = ranges.pop() {
        tx.batch_execute("SAVEPOINT pgbisync_apply").await?;
        let mut result = Ok(0);
        for statement in spec.sql.apply {
            match tx.execute(*statement, &[&lo, &hi]).await {
                Ok(n) => result = result.map(|w| w + n),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        match result {
            Ok(n) => {
                tx.batch_execute("RELEASE SAVEPOINT pgbisync_apply").await?;
                written += n;
            }
            Err(e) if is_row_error(&e) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT pgbisync_apply").await?;
                if lo == hi {
                    tx.execute(
                        "INSERT INTO \"_pgbisync_rejected\" (\"_n\", reason) VALUES ($1, $2)",
                        &[&lo, &describe(&e)],
                    )
                    .await?;
                    set_aside(tx).await?;
                } else {
                    let mid = lo + (hi - lo) / 2;
                    ranges.push((mid + 1, hi));
                    ranges.push((lo, mid));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}
