//! One table, one direction: read the source as a binary COPY stream, stage it on the target with a
//! binary COPY, set aside the rows that cannot be applied, apply the rest set-based with the table's
//! strategy, and record the watermark -- all of the target's writes in one transaction.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures_util::{SinkExt, TryStreamExt};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, IsolationLevel, Transaction};

use super::apply::{apply, set_aside};
use super::counters::{self, Counting};
use super::metadata::{self, ReadProof, RunRecord, Scope};
use super::names::{self, ident, CHANGED, REJECTED, ROW_NUMBER, SET_ASIDE, STAGE};
use super::overrun::Watch;
use super::watermark::{self, Horizon};
use super::{deletes, direct};
use super::{Observer, Status, TableError, TableReport};
use crate::codec::{CompiledTable, TransferError, TransferStats};
use crate::spec::{ManifestSpec, Mode, Side, TableSpec};

/// Staged batches at least this large are analyzed before they are checked and applied.
const ANALYZE_FROM_ROWS: u64 = 10_000;

/// How a run treats every table.
#[derive(Debug, Clone)]
pub(crate) struct RunOptions {
    /// Read every table completely, whatever its watermark.
    pub full: bool,
    pub tenant: Option<String>,
    /// Whose metadata and rejects rows this run reads and writes (the tenant's).
    pub scope: Scope,
    /// False when the bootstrap could not create the metadata: full reads, nothing recorded.
    pub metadata: bool,
    /// Source tables whose key a unique index guarantees: no duplicates to drop.
    pub unique_sources: HashSet<String>,
    /// Deletes go ahead even where the mass-delete guard would stop them.
    pub allow_mass_delete: bool,
    /// `lock_timeout` of every target transaction, when set.
    pub lock_timeout: Option<Duration>,
    /// How long one table may take.
    pub table_timeout: Option<Duration>,
}

/// Sets the target transaction's `lock_timeout`, as a bound parameter of one unnamed statement (so
/// that it keeps its place among statements sent together).
pub(crate) async fn set_lock_timeout(tx: &Transaction<'_>, options: &RunOptions) -> Result<(), tokio_postgres::Error> {
    if let Some(wait) = options.lock_timeout {
        let wait = format!("{}ms", wait.as_millis());
        tx.query_typed("SELECT set_config('lock_timeout', $1, true)", &[(&wait, Type::TEXT)]).await?;
    }
    Ok(())
}

/// Sets the `pgbisync.*` settings the generated SQL reads (COPY cannot take parameters, so values
/// reach it this way, still as bound parameters), local to the transaction. JIT is off in every
/// transaction of the engine: a large batch's estimates pass its threshold, and compiling the wide
/// row comparisons took 2.3 s of a 2.8 s statement, more than any scan saves.
pub(crate) async fn set_settings(
    tx: &impl GenericClient,
    manifest: &ManifestSpec,
    tenant: Option<&str>,
    since: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    let sql = format!(
        "SELECT set_config('{}', $1, true), set_config('{}', $2, true), set_config('{}', $3, true), \
         set_config('{}', $4, true), set_config('{}', $5, true), set_config('jit', 'off', true)",
        names::SETTING_ORIGIN_DESKTOP,
        names::SETTING_ORIGIN_CLOUD,
        names::SETTING_TENANT,
        names::SETTING_SINCE,
        names::SETTING_SCOPE
    );
    let scope = Scope::of(tenant);
    let (tenant, since, scope) = (tenant.unwrap_or(""), since.to_rfc3339(), scope.as_str());
    let values: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 5] = [
        (&manifest.origin_desktop, Type::TEXT),
        (&manifest.origin_cloud, Type::TEXT),
        (&tenant, Type::TEXT),
        (&since, Type::TEXT),
        (&scope, Type::TEXT),
    ];
    // Unnamed: one round trip instead of a prepare and an execute.
    tx.query_typed(&sql, &values).await?;
    Ok(())
}

/// A database error of this table on one side.
pub(crate) fn on(spec: &'static TableSpec, side: Side) -> impl Fn(tokio_postgres::Error) -> TableError + Copy {
    move |source| TableError::Database { table: spec.name, side, source }
}

/// Where this run reads from, decided before the read's snapshot is taken.
pub(crate) struct ReadPlan {
    pub incremental: bool,
    pub since: DateTime<Utc>,
    /// `track: xmin` tables: the stored transaction-id watermark.
    since_xid: Option<i64>,
    /// The watermark the next run starts from if nothing is set aside.
    pub next_watermark: DateTime<Utc>,
    /// What the last clean full read recorded (see [`counters`]).
    pub stored: metadata::Stored,
}

async fn plan<C: GenericClient>(
    spec: &'static TableSpec,
    manifest: &ManifestSpec,
    source: &Client,
    target: &C,
    options: &RunOptions,
) -> Result<ReadPlan, TableError> {
    let metadata_table = manifest.metadata_table(spec.direction);
    let stored = async {
        if !options.metadata {
            return Ok(metadata::Stored::default());
        }
        let stored = metadata::stored(target, metadata_table, &options.scope, spec.name).await;
        Ok(stored.map_err(on(spec, spec.direction.target()))?.unwrap_or_default())
    };
    // Taken before the read's snapshot: every row the snapshot misses belongs to a transaction that
    // started at or after this instant, so the next run reading from here cannot miss it. Asked
    // while the target answers for the metadata: the two servers work at once.
    let horizon = async {
        let lookback = Duration::from_secs(manifest.lookback_seconds as u64);
        watermark::horizon(source, lookback).await.map_err(on(spec, spec.direction.source()))
    };
    let (stored, Horizon { watermark: next_watermark }) = tokio::try_join!(stored, horizon)?;
    Ok(read_plan(spec, options, stored, next_watermark))
}

/// The plan of a table whose metadata row is `stored`, the source's horizon `next_watermark`.
pub(crate) fn read_plan(
    spec: &'static TableSpec,
    options: &RunOptions,
    stored: metadata::Stored,
    next_watermark: DateTime<Utc>,
) -> ReadPlan {
    let incremental =
        spec.mode == Mode::Incremental && !options.full && options.metadata && spec.sql.read_incremental.is_some();
    let since =
        if incremental { stored.watermark.unwrap_or(DateTime::<Utc>::UNIX_EPOCH) } else { DateTime::<Utc>::UNIX_EPOCH };
    // From the epoch, the incremental read selects every row: read it plainly.
    let mut incremental = incremental && since > DateTime::<Utc>::UNIX_EPOCH;
    let since_xid = stored.xid.filter(|_| spec.track_xmin && incremental);
    if spec.track_xmin {
        incremental = since_xid.is_some();
    }
    ReadPlan { incremental, since, since_xid, next_watermark, stored }
}

/// Syncs one table. `source` and `target` are the two sides for the table's direction.
pub(crate) async fn sync_table<C: GenericClient>(
    table: &dyn CompiledTable,
    manifest: &ManifestSpec,
    source: &mut Client,
    target: &mut C,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<TableReport, TableError> {
    let spec = table.spec();
    let started = Instant::now();
    let (on_source, on_target) = (on(spec, spec.direction.source()), on(spec, spec.direction.target()));
    // Both before the read's snapshot (so a change the read misses moves the counters past the
    // proof), asked together.
    let (mut plan, read_proof) = tokio::try_join!(
        plan(spec, manifest, source, target, options),
        full_read_proof(spec, manifest, source, target, options)
    )?;
    let stored = &plan.stored;
    if !options.full && counters::holds(read_proof.as_deref(), stored.read_proof.as_deref(), stored.read_proven_at) {
        return unchanged(spec, manifest, target, options, &plan, None, started).await;
    }

    if !spec.track_xmin && plan.incremental && !changed_since(spec, manifest, source, options, &plan).await? {
        return unchanged(spec, manifest, target, options, &plan, None, started).await;
    }
    // A full read stages every source key: the delete check, when due, compares against staging.
    let check = deletes::against_staging(spec, source, &*target, options, &plan.stored, !plan.incremental).await?;
    let source_tx = begin_read(source, spec, manifest, options, &plan).await.map_err(on_source)?;
    let snapshot_xid =
        if spec.track_xmin { Some(xid_horizon(&source_tx, spec, &mut plan).await.map_err(on_source)?) } else { None };
    // A `track: xmin` table probes in its read's snapshot, whose xid is the next watermark.
    if let Some(probe) = spec.sql.probe_incremental.filter(|_| plan.incremental && spec.track_xmin) {
        let changed: bool = source_tx.query_one(probe, &[]).await.map_err(on_source)?.get(0);
        if !changed {
            source_tx.commit().await.map_err(on_source)?;
            return unchanged(spec, manifest, target, options, &plan, snapshot_xid, started).await;
        }
    }
    let read_sql =
        if plan.incremental { spec.sql.read_incremental.unwrap_or(spec.sql.read_full) } else { spec.sql.read_full };

    let tx = target.transaction().await.map_err(on_target)?;
    create_stage(&tx, spec, manifest, options, plan.since).await.map_err(on_target)?;
    let born_in_cloud = match spec.sql.born_in_cloud {
        Some(keys) => copy_born_in_cloud(spec, &source_tx, &tx, manifest, keys).await?,
        None => 0,
    };
    // The ledger's keys are skipped by the insert, which a straight copy cannot do.
    let loaded = match born_in_cloud {
        0 => direct::load(table, manifest, &source_tx, &tx, read_sql, options, observer).await?,
        _ => None,
    };
    let applied = match loaded {
        Some(rows) => {
            source_tx.commit().await.map_err(on_source)?;
            // The target held none of the tenant's rows: every row it holds now came from this read.
            Applied {
                rows_read: rows,
                duplicates_dropped: 0,
                written: rows,
                first_load: options.metadata,
                direct: true,
                deletes_compared: None,
            }
        }
        None => {
            let read = Read { sql: read_sql, full: !plan.incremental, deletes: check };
            stage_and_apply(table, source_tx, &tx, read, manifest, options, observer, started).await?
        }
    };
    let Applied { rows_read, duplicates_dropped, written, first_load, direct, deletes_compared } = applied;

    let rejects = read_rejects(&tx, spec, plan.next_watermark).await.map_err(on_target)?;
    let status = if rejects.count > 0 { Status::Partial } else { Status::Ok };
    if options.metadata {
        // Rows set aside carry no transaction id to hold the xid watermark back at: it stays, and
        // the next run reads again everything written since.
        let xid = snapshot_xid.filter(|_| rejects.count == 0);
        let read_proof = match &read_proof {
            Some(proof) if status == Status::Ok => ReadProof::Set(proof),
            _ => ReadProof::Clear,
        };
        record(&tx, manifest, spec, &options.scope, &rejects, xid, written, status, read_proof)
            .await
            .map_err(on_target)?;
    }
    // Dropped explicitly: inside a dry run's outer transaction, ON COMMIT DROP would wait for the end.
    let mut temporary = vec![ident(STAGE), ident(REJECTED), ident(SET_ASIDE)];
    if spec.sql.born_in_cloud.is_some() {
        temporary.push(ident(names::BORN_IN_CLOUD));
    }
    // Made by prepare, which every staged run runs.
    if !direct {
        temporary.extend(spec.sql.prepared.iter().map(|t| ident(t)));
    }
    tx.batch_execute(&format!("DROP TABLE {}", temporary.join(", "))).await.map_err(on_target)?;
    tx.commit().await.map_err(on_target)?;

    Ok(TableReport {
        table: spec.name.to_string(),
        direction: spec.direction,
        source: spec.source.name.to_string(),
        target: spec.target.name.to_string(),
        mode: if plan.incremental { "incremental" } else { "full" },
        status,
        rows_read,
        rows_written: written,
        duplicates_dropped,
        rejected: rejects.count,
        reject_samples: rejects.samples,
        watermark_from: plan.incremental.then_some(plan.since),
        watermark_to: options.metadata.then_some(rejects.watermark),
        millis: started.elapsed().as_millis(),
        error: None,
        unavailable: false,
        first_load,
        direct,
        deletes_compared,
    })
}

/// What writing one batch into the target did.
struct Applied {
    rows_read: u64,
    duplicates_dropped: u64,
    written: u64,
    /// The target held none of the rows this side owns: nothing for the delete check to find.
    first_load: bool,
    /// Copied straight into the target, not staged.
    direct: bool,
    /// The delete check's keys, compared against staging (a full read, a check due).
    deletes_compared: Option<deletes::StagedCheck>,
}

/// What a staged run reads, and what it compares along the way.
struct Read<'a> {
    sql: &'a str,
    /// Every source row of the tenant, not only those changed since the watermark.
    full: bool,
    /// The delete check to compare against staging, when the read is full and the check due.
    deletes: Option<deletes::Pending>,
}

/// Copies the batch into staging, sets aside the rows the checks refuse, and applies the rest
/// with the table's strategy.
#[allow(clippy::too_many_arguments)]
async fn stage_and_apply(
    table: &dyn CompiledTable,
    source_tx: Transaction<'_>,
    tx: &Transaction<'_>,
    read: Read<'_>,
    manifest: &ManifestSpec,
    options: &RunOptions,
    observer: &dyn Observer,
    started: Instant,
) -> Result<Applied, TableError> {
    let spec = table.spec();
    let (on_source, on_target) = (on(spec, spec.direction.source()), on(spec, spec.direction.target()));
    let out = source_tx.copy_out(read.sql).await.map_err(on_source)?;
    let sink = tx.copy_in(spec.sql.copy_stage).await.map_err(on_target)?;
    let progress = |rows| observer.rows_transferred(spec, rows);
    let transferred = table.transfer(out, sink, &progress).await;
    observer.transfer_finished(spec);
    let transferred = transferred.map_err(|e| transfer_error(spec, e))?;
    let rows_read = transferred.rows;
    source_tx.commit().await.map_err(on_source)?;
    tracing::debug!(table = spec.name, rows = rows_read, elapsed = ?started.elapsed(), "read and staged");

    let target = table_size(tx, spec.target.name).await.map_err(on_target)?;
    let watch = Watch::new(spec, rows_read, target.bytes);
    let duplicates_dropped = watch.run("dedup", dedup(tx, spec, options, &transferred)).await.map_err(on_target)?;
    let source_keys = rows_read - duplicates_dropped;
    let settle = spec.sql.settle.filter(|_| read.full);
    let settling = spec.deletes.and_then(|d| d.sql.settling).filter(|_| settle.is_some());
    // Staging holds every key the source has until the unchanged rows leave it.
    let (deletes_compared, staged) = match (read.deletes, settle, settling) {
        (Some(check), Some(_), Some(settling)) => {
            let compared = deletes::compare_settling(tx, check, &settling, source_keys);
            let (check, changed) = watch.run("comparison", compared).await.map_err(on_target)?;
            (Some(check), swap_in_changed(tx, spec, changed).await.map_err(on_target)?)
        }
        (check, settle, _) => {
            let check = match check {
                Some(check) => {
                    let compared = deletes::compare_staged(tx, check, source_keys);
                    Some(watch.run("delete check", compared).await.map_err(on_target)?)
                }
                None => None,
            };
            let staged = match settle {
                Some(settle) => watch.run("settle", settle_unchanged(tx, spec, settle)).await.map_err(on_target)?,
                None => source_keys,
            };
            (check, staged)
        }
    };
    watch.run("check", check_stage(tx, spec)).await.map_err(on_target)?;
    tracing::debug!(table = spec.name, staged, elapsed = ?started.elapsed(), "deduplicated and checked");
    // Before the statements that join the batch to the target: prepare's too.
    keep_plans_linear(tx, spec, &target, staged).await.map_err(on_target)?;
    for statement in spec.sql.prepare {
        // Reverse's lookup in the desktop table, or replace_origin's matching of the two sides.
        watch.run("pre-apply", tx.execute(*statement, &[])).await.map_err(on_target)?;
    }
    if let Some(ledger) = spec.sql.ledger.filter(|_| options.metadata) {
        watch.run("ledger", record_ledger(tx, manifest, ledger, staged)).await.map_err(on_target)?;
    }
    let first_load = first_load(tx, spec, options, rows_read).await.map_err(on_target)?;
    let written = watch.run("apply", apply(tx, spec)).await.map_err(on_target)?;
    tracing::debug!(table = spec.name, rows = written, elapsed = ?started.elapsed(), "applied");
    // Nothing the target held can be gone: the check waits for the next run.
    let deletes_compared = deletes_compared.filter(|_| !first_load);
    Ok(Applied { rows_read, duplicates_dropped, written, first_load, direct: false, deletes_compared })
}

/// A failed transfer as the table's error, naming the side that failed.
pub(crate) fn transfer_error(spec: &'static TableSpec, e: TransferError) -> TableError {
    match e {
        TransferError::Read(source) => on(spec, spec.direction.source())(source),
        TransferError::Write(source) => on(spec, spec.direction.target())(source),
        TransferError::Decode { row, source } => TableError::Decode { table: spec.name, row, source },
        TransferError::Encode { row, source } => TableError::Encode { table: spec.name, row, source },
    }
}

/// A table in which no row changed since the watermark, or a `mode: full` table whose source's
/// counters prove it as it was at its last clean read: nothing is staged or applied; the watermark
/// moves on and the last run's rejects are cleared, as a read of no row would do. Its commit does
/// not wait for the disk: lost in a crash, it leaves the older watermark, which the next run reads
/// from again, losing nothing.
async fn unchanged<C: GenericClient>(
    spec: &'static TableSpec,
    manifest: &ManifestSpec,
    target: &mut C,
    options: &RunOptions,
    plan: &ReadPlan,
    xid: Option<i64>,
    started: Instant,
) -> Result<TableReport, TableError> {
    let on_target = on(spec, spec.direction.target());
    let tx = target.transaction().await.map_err(on_target)?;
    let run = unchanged_run(spec, options, plan, xid);
    let rejects = manifest.rejects_table(spec.direction);
    // Sent together and run in order: one round trip, not four.
    tokio::try_join!(
        tx.batch_execute("SET LOCAL synchronous_commit = off"),
        set_lock_timeout(&tx, options),
        metadata::clear_rejects(&tx, rejects, &options.scope, spec.name, metadata::APPLY_KIND),
        metadata::record(&tx, manifest.metadata_table(spec.direction), &run),
    )
    .map_err(on_target)?;
    tx.commit().await.map_err(on_target)?;
    Ok(unchanged_report(spec, plan, started))
}

/// What an unchanged table's run records: the watermark moves on, nothing was copied.
fn unchanged_run<'a>(
    spec: &'static TableSpec,
    options: &'a RunOptions,
    plan: &ReadPlan,
    xid: Option<i64>,
) -> RunRecord<'a> {
    RunRecord {
        table: spec.name,
        scope: &options.scope,
        watermark: Some(plan.next_watermark),
        xid,
        rows: 0,
        status: Status::Ok.as_str(),
        error: None,
        read_proof: ReadProof::Keep,
    }
}

pub(crate) fn unchanged_report(spec: &'static TableSpec, plan: &ReadPlan, started: Instant) -> TableReport {
    tracing::debug!(table = spec.name, elapsed = ?started.elapsed(), "unchanged since the last run");
    TableReport {
        mode: if plan.incremental { "incremental" } else { "full" },
        watermark_from: plan.incremental.then_some(plan.since),
        watermark_to: Some(plan.next_watermark),
        millis: started.elapsed().as_millis(),
        ..TableReport::new(spec, Status::Ok)
    }
}

/// The results of statements sent together, or the first one's error in the order they were sent
/// (a later statement of an aborted transaction only reports the abort).
pub(crate) fn in_order<T>(results: Vec<Result<T, tokio_postgres::Error>>) -> Result<Vec<T>, tokio_postgres::Error> {
    results.into_iter().collect()
}

/// The proof a `mode: full` table's source is as its last clean full read left it, standing for
/// the read and the apply (a manifest that changes either reads again).
async fn full_read_proof<C: GenericClient>(
    spec: &'static TableSpec,
    manifest: &ManifestSpec,
    source: &Client,
    target: &C,
    options: &RunOptions,
) -> Result<Option<String>, TableError> {
    let Some(statement) = full_read_statement(spec, manifest, options) else { return Ok(None) };
    counters::proof(spec, Counting::AnyChange, &statement, source, target)
        .await
        .map_err(|(side, source)| TableError::Database { table: spec.name, side, source })
}

/// What a full read's proof stands for, for a `mode: full` table with metadata.
pub(crate) fn full_read_statement(spec: &TableSpec, manifest: &ManifestSpec, options: &RunOptions) -> Option<String> {
    if spec.mode != Mode::Full || !options.metadata {
        return None;
    }
    let mut statement = vec![spec.sql.read_full, &manifest.origin_desktop, &manifest.origin_cloud];
    statement.extend(spec.sql.apply);
    Some(statement.join("\n"))
}

/// True when a large batch goes into a target holding none of the rows this side owns in the
/// tenant: every row the table then holds came from this read, so the delete check that follows
/// has nothing to find (a row deleted on the source since the read is found by the next check,
/// which this leaves due). Asked only for large batches: it may scan what the check would scan,
/// and at 1M rows the check costs more than the apply.
async fn first_load(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    options: &RunOptions,
    staged: u64,
) -> Result<bool, tokio_postgres::Error> {
    let Some(deletes) = spec.deletes.as_ref().filter(|_| options.metadata && staged >= ANALYZE_FROM_ROWS) else {
        return Ok(false);
    };
    let row = tx.query_one(&format!("SELECT NOT EXISTS ({})", deletes.sql.keys_target), &[]).await?;
    Ok(row.get(0))
}

/// Opens the read-only transaction probes run in. The watermark is a setting, unknown when a probe is
/// planned: the planner guesses a third of the table is past it and may scan the table whole,
/// hoping to stop at once, when no row is. An index on the tracking column, where there is one,
/// then always serves the probe.
pub(crate) const BEGIN_PROBES: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL enable_seqscan = off";

/// Whether any row passed the watermark, asked in a read-only transaction of its own whose four
/// statements are sent at once (one round trip): most runs of most tables find none.
async fn changed_since(
    spec: &'static TableSpec,
    manifest: &ManifestSpec,
    source: &Client,
    options: &RunOptions,
    plan: &ReadPlan,
) -> Result<bool, TableError> {
    let Some(probe) = spec.sql.probe_incremental else { return Ok(true) };
    let on_source = on(spec, spec.direction.source());
    let (_, _, changed, _) = tokio::try_join!(
        source.batch_execute(BEGIN_PROBES),
        set_settings(source, manifest, options.tenant.as_deref(), plan.since),
        source.query_typed(probe, &[]),
        source.batch_execute("COMMIT"),
    )
    .map_err(on_source)?;
    Ok(changed.first().is_none_or(|r| r.get::<_, bool>(0)))
}

/// The source's read-only snapshot, with the settings the read query uses.
async fn begin_read<'a>(
    source: &'a mut Client,
    spec: &TableSpec,
    manifest: &ManifestSpec,
    options: &RunOptions,
    plan: &ReadPlan,
) -> Result<Transaction<'a>, tokio_postgres::Error> {
    let tx = source.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
    set_settings(&tx, manifest, options.tenant.as_deref(), plan.since).await?;
    if let Some(xid) = plan.since_xid {
        let sql = format!("SELECT set_config('{}', $1, true)", names::SETTING_SINCE_XID);
        tx.query_typed(&sql, &[(&xid.to_string(), Type::TEXT)]).await?;
    }
    if plan.incremental && spec.sql.dedup.is_some() && !options.unique_sources.contains(spec.source.name) {
        // The read joins the table to its own changed keys; on a legacy table without statistics
        // the planner may pick a nested loop, quadratic in the rows changed. A hash join is linear.
        tx.batch_execute("SET LOCAL enable_nestloop = off").await?;
    }
    Ok(tx)
}

/// When the target's statistics say it holds fewer rows than the batch (empty after a TRUNCATE or a
/// restore, or never analyzed), the planner may probe it once per staged row with a nested loop
/// over a sequential scan: quadratic as the insert grows the table (150,000 rows took 104 s). A
/// hash join then reads the target once, which is linear whatever its real size; a small batch
/// into a large, analyzed table keeps its index lookups.
async fn keep_plans_linear(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    target: &TableSize,
    staged: u64,
) -> Result<(), tokio_postgres::Error> {
    // reltuples is -1 for a table never analyzed (PostgreSQL 14 and later), 0 after an empty ANALYZE.
    if target.estimated_rows < staged as f64 {
        let estimated = target.estimated_rows;
        tracing::debug!(table = spec.name, estimated, staged, "target statistics below the batch: hash joins only");
        tx.batch_execute("SET LOCAL enable_nestloop = off").await?;
    }
    Ok(())
}

/// A table as the planner believes it (its statistics' row count: -1 never analyzed, 0 after an
/// empty ANALYZE or when there is no such table) and as it is on disk.
struct TableSize {
    estimated_rows: f64,
    bytes: u64,
}

async fn table_size(tx: &Transaction<'_>, table: &str) -> Result<TableSize, tokio_postgres::Error> {
    let row = tx
        .query_one(
            "SELECT coalesce((SELECT reltuples::float8 FROM pg_class WHERE oid = to_regclass($1)), 0), \
                 coalesce(pg_table_size(to_regclass($1)), 0)",
            &[&ident(table)],
        )
        .await?;
    Ok(TableSize { estimated_rows: row.get(0), bytes: row.get::<_, i64>(1).max(0) as u64 })
}

/// Records the keys reverse brings in the ledger, whose insert skips the keys it holds. A batch far
/// smaller than the ledger looks each key up in the ledger's index: reading every key the ledger
/// holds of the table, as a hash join does, made each run of a few rows cost the ledger's size
/// (2.5M keys: 1 s for 10 rows, against 0.3 ms). Nested loops are allowed for it only when the
/// ledger's statistics say it is large, so the planner, reading the same statistics, probes the
/// index rather than scan the ledger once per row; a planner that believed the ledger small could
/// pick that scan, which is what the hash joins of the larger batches rule out. A larger batch
/// reads the ledger's keys once.
async fn record_ledger(
    tx: &Transaction<'_>,
    manifest: &ManifestSpec,
    insert: &str,
    staged: u64,
) -> Result<u64, tokio_postgres::Error> {
    let keys = table_size(tx, manifest.reverse_ledger).await?.estimated_rows;
    if (staged as f64) * LEDGER_PROBES_BELOW < keys {
        with_settings(tx, &[("enable_nestloop", "on")], tx.execute(insert, &[])).await
    } else {
        without_nested_loops(tx, tx.execute(insert, &[])).await
    }
}

/// How many times more keys than staged rows the ledger must hold for the ledger's insert to look
/// keys up one by one: a lookup cost 7 to 11 µs, reading a key into the hash join 0.4 µs (a 2.5M-key
/// ledger), so this errs towards the hash join, which is never worse than linear.
const LEDGER_PROBES_BELOW: f64 = 10.0;

/// Runs `statement` with hash joins only, then puts the setting back. For a statement that reads
/// the table it grows (the ledger's insert skips the keys the ledger holds): a planner that believes
/// the table empty may scan it once per row with a nested loop, and every scan then reads the rows
/// inserted so far again, quadratic in the batch. And for a statement that compares two whole sets
/// (a full read's staging with the target): a filter the planner cannot estimate (a setting, a
/// cast column) made it expect a few hundred target rows of 25,000, and scan staging once per
/// target row: 44 s instead of 0.2.
pub(crate) async fn without_nested_loops<T>(
    tx: &Transaction<'_>,
    statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    with_settings(tx, &[("enable_nestloop", "off")], statement).await
}

/// Runs `statement` with the planner `settings` (name, value) local to the transaction, then puts
/// the previous values back.
async fn with_settings<T>(
    tx: &Transaction<'_>,
    settings: &[(&str, &str)],
    statement: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, tokio_postgres::Error> {
    let mut previous = Vec::with_capacity(settings.len());
    for (name, value) in settings {
        let row = tx.query_one("SELECT current_setting($1)", &[name]).await?;
        previous.push((*name, row.get::<_, String>(0)));
        tx.query_one("SELECT set_config($1, $2, true)", &[name, value]).await?;
    }
    let result = statement.await?;
    for (name, value) in &previous {
        tx.query_one("SELECT set_config($1, $2, true)", &[name, value]).await?;
    }
    Ok(result)
}

/// A `track: xmin` read's snapshot: the id before which every transaction had ended, the next
/// watermark. When the stored one has fallen more than 2^31 transactions behind, the 32-bit `xmin`
/// of a row can no longer be placed before or after it, so this run reads the table in full.
async fn xid_horizon(
    source_tx: &Transaction<'_>,
    spec: &TableSpec,
    plan: &mut ReadPlan,
) -> Result<i64, tokio_postgres::Error> {
    // txid_* rather than pg_snapshot_*: the same on every server version a desktop may run.
    let row = source_tx.query_one("SELECT txid_snapshot_xmin(txid_current_snapshot())", &[]).await?;
    let snapshot: i64 = row.get(0);
    if let Some(since) = plan.since_xid {
        if snapshot - since >= 1 << 31 {
            tracing::warn!(
                table = spec.name,
                since,
                snapshot,
                "the xmin watermark is too far behind to compare; reading in full"
            );
            plan.incremental = false;
        }
    }
    Ok(snapshot)
}

/// Copies the keys the desktop's ledger says reverse brought (read in the source's snapshot) to the
/// target, for the insert to skip; none before the first reverse run has created the ledger.
/// Returns how many there are. They stream from one COPY into the other, so a ledger of millions
/// of keys costs no memory here (they were once gathered in one array, as large as the ledger).
async fn copy_born_in_cloud(
    spec: &'static TableSpec,
    source_tx: &Transaction<'_>,
    tx: &Transaction<'_>,
    manifest: &ManifestSpec,
    keys_sql: &str,
) -> Result<usize, TableError> {
    let (on_source, on_target) = (on(spec, spec.direction.source()), on(spec, spec.direction.target()));
    let table = ident(names::BORN_IN_CLOUD);
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE {table} ({} text NOT NULL) ON COMMIT DROP",
        ident(names::VERIFY_KEY)
    ))
    .await
    .map_err(on_target)?;
    let exists: bool = source_tx
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&ident(manifest.reverse_ledger)])
        .await
        .map_err(on_source)?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let keys = source_tx.copy_out(&format!("COPY ({keys_sql}) TO STDOUT")).await.map_err(on_source)?;
    let sink = tx.copy_in::<_, bytes::Bytes>(&format!("COPY {table} FROM STDIN")).await.map_err(on_target)?;
    futures_util::pin_mut!(keys, sink);
    // `feed` lets the sink gather rows into larger messages; text COPY reads back what it wrote.
    while let Some(chunk) = keys.try_next().await.map_err(on_source)? {
        sink.feed(chunk).await.map_err(on_target)?;
    }
    let copied = sink.as_mut().finish().await.map_err(on_target)?;
    Ok(copied as usize)
}

/// Prepares the target's transaction: settings, memory, and the empty temporary tables.
async fn create_stage(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    manifest: &ManifestSpec,
    options: &RunOptions,
    since: DateTime<Utc>,
) -> Result<(), tokio_postgres::Error> {
    set_settings(tx, manifest, options.tenant.as_deref(), since).await?;
    set_lock_timeout(tx, options).await?;
    // Dedup, checks and apply hash or sort the whole batch; the default 4 MB spills a large
    // table to disk. Local to this transaction.
    tx.batch_execute("SET LOCAL work_mem = '128MB'").await?;
    tx.batch_execute(spec.sql.create_stage).await?;
    tx.batch_execute(&format!(
        "CREATE TEMPORARY TABLE {} ({} bigint NOT NULL, {} text NOT NULL) ON COMMIT DROP; \
         CREATE TEMPORARY TABLE {} (LIKE {}) ON COMMIT DROP",
        ident(REJECTED),
        ident(ROW_NUMBER),
        names::REASON,
        ident(SET_ASIDE),
        ident(STAGE)
    ))
    .await
}

/// Analyzes a large batch and drops duplicate keys; returns the duplicates dropped. A batch whose
/// keys were proven distinct as they streamed has none to drop, and skips the statement.
async fn dedup(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    options: &RunOptions,
    staged: &TransferStats,
) -> Result<u64, tokio_postgres::Error> {
    analyze_stage(tx, spec, staged.rows).await?;
    Ok(match spec.sql.dedup {
        Some(sql) if !staged.keys_distinct && !options.unique_sources.contains(spec.source.name) => {
            tx.execute(sql, &[]).await?
        }
        _ => 0,
    })
}

/// Temporary tables are never analyzed automatically; without statistics the planner guesses the
/// batch's size and may hash a million staged rows to probe an empty target. Small batches cannot
/// go far wrong and skip the cost.
async fn analyze_stage(tx: &Transaction<'_>, spec: &TableSpec, rows: u64) -> Result<(), tokio_postgres::Error> {
    if rows >= ANALYZE_FROM_ROWS {
        // The row count and the key's statistics are what the joins need; all columns cost 5x more.
        let columns: Vec<String> = std::iter::once(ROW_NUMBER).chain(spec.key.iter().copied()).map(ident).collect();
        tx.batch_execute(&format!("ANALYZE {} ({})", ident(STAGE), columns.join(", "))).await?;
    }
    Ok(())
}

/// Puts the staged rows that would change the target (`settle` makes them) in staging's place;
/// returns how many there are. Staging's table is dropped whole rather than emptied row by row:
/// the later statements then scan only what changes, not a million dead rows.
async fn settle_unchanged(tx: &Transaction<'_>, spec: &TableSpec, settle: &str) -> Result<u64, tokio_postgres::Error> {
    let changed = without_nested_loops(tx, tx.execute(settle, &[])).await?;
    swap_in_changed(tx, spec, changed).await
}

/// Puts `_pgbisync_changed`, of `changed` rows, in staging's place.
async fn swap_in_changed(tx: &Transaction<'_>, spec: &TableSpec, changed: u64) -> Result<u64, tokio_postgres::Error> {
    let stage = ident(STAGE);
    tx.batch_execute(&format!("DROP TABLE {stage}; ALTER TABLE {} RENAME TO {stage}", ident(CHANGED))).await?;
    analyze_stage(tx, spec, changed).await?;
    Ok(changed)
}

/// Sets aside the rows the checks refuse.
async fn check_stage(tx: &Transaction<'_>, spec: &TableSpec) -> Result<(), tokio_postgres::Error> {
    for check in spec.sql.checks {
        tx.execute(*check, &[]).await?;
    }
    set_aside(tx).await
}

/// The rows this run set aside, and the watermark they allow.
struct Rejects {
    count: u64,
    samples: Vec<(String, String)>,
    watermark: DateTime<Utc>,
}

async fn read_rejects(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    next_watermark: DateTime<Utc>,
) -> Result<Rejects, tokio_postgres::Error> {
    let count: i64 = tx
        .query_one(&format!("SELECT count(DISTINCT {}) FROM {}", ident(ROW_NUMBER), ident(REJECTED)), &[])
        .await?
        .get(0);
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
    let samples = described.iter().map(|r| (r.get(0), r.get(1))).collect();
    let oldest: Option<DateTime<Utc>> = described.first().and_then(|r| r.get(2));
    let watermark = match oldest {
        Some(t) if t < next_watermark => t,
        _ => next_watermark,
    };
    Ok(Rejects { count: count as u64, samples, watermark })
}

/// Records the rejects and the run in the metadata, inside the table's transaction.
#[allow(clippy::too_many_arguments)]
async fn record(
    tx: &Transaction<'_>,
    manifest: &ManifestSpec,
    spec: &TableSpec,
    scope: &Scope,
    rejects: &Rejects,
    xid: Option<i64>,
    written: u64,
    status: Status,
    read_proof: ReadProof<'_>,
) -> Result<(), tokio_postgres::Error> {
    let rejects_table = manifest.rejects_table(spec.direction);
    metadata::replace_rejects(tx, rejects_table, scope, spec.name, metadata::APPLY_KIND, spec.sql.describe_rejects)
        .await?;
    let error = (rejects.count > 0).then(|| format!("{} row(s) set aside; see {rejects_table}", rejects.count));
    let run = RunRecord {
        table: spec.name,
        scope,
        watermark: Some(rejects.watermark),
        xid,
        rows: written as i64,
        status: status.as_str(),
        error: error.as_deref(),
        read_proof,
    };
    metadata::record(tx, manifest.metadata_table(spec.direction), &run).await
}
