//! One table's delete check: the target rows the sending side owns in the tenant whose key the
//! source no longer has are deleted, each kept first in the deleted-rows table. Found by comparing
//! the two key sets (see [`super::keyset`]), with no trigger and no change to the source.
//!
//! Nothing is deleted on doubt: a run that would delete too many of a table's rows (the manifest's
//! `delete_guard`), or any row when the source reads as empty, deletes nothing and says which flag
//! allows it once. A row that another row still references is set aside, not deleted.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient, IsolationLevel, Transaction};

use super::counters::{self, Counting};
use super::db_error::{describe, is_row_error};
use super::keyset::{self, KeyQuery, KeySets, SideError};
use super::metadata::{self, DeleteRecord, Stored, DELETE_KIND};
use super::names::{ident, COMPARED, GONE, VERIFY_KEY};
use super::pipeline::{set_lock_timeout, set_settings, without_nested_loops, RunOptions};
use super::report::{DeleteOutcome, DeleteReport};
use super::TableError;
use crate::spec::{DeleteSpec, ManifestSpec, Mode, SettlingSql, Side, TableSpec};

/// Rows set aside by the held query, `(k, row_key, reason, d)`.
const HELD: &str = "_pgbisync_held";
/// Gone keys at least this many are analyzed before the delete joins them to the target.
const ANALYZE_FROM_ROWS: usize = 10_000;
/// Typed empty columns `reason, d` for a query of held rows that yields none.
const NONE: &str = "NULL::text AS reason, NULL::jsonb AS d";
/// The savepoint each delete runs under, so a row the server refuses can be set aside alone.
const SAVEPOINT: &str = "pgbisync_delete";

fn on(spec: &'static TableSpec, side: Side) -> impl Fn(tokio_postgres::Error) -> TableError + Copy {
    move |source| TableError::Database { table: spec.name, side, source }
}

/// True when the table's interval since its last check has not passed (incremental runs only).
fn not_due(spec: &TableSpec, deletes: &DeleteSpec, last: &Stored, options: &RunOptions) -> bool {
    if deletes.every_seconds == 0 || options.full || spec.mode == Mode::Full {
        return false;
    }
    let every = chrono::Duration::from_std(Duration::from_secs(deletes.every_seconds as u64)).unwrap_or_default();
    last.deletes_checked_at.is_some_and(|at: DateTime<Utc>| at + every > Utc::now())
}

/// What the delete check's proof stands for.
pub(crate) fn statement(deletes: &DeleteSpec) -> String {
    format!("{}\n{}", deletes.sql.keys_source, deletes.sql.keys_target)
}

/// The outcome of a check that need not run: not due, or its proof (read before the check's
/// snapshot) the one its last clean check recorded. A --full run trusts no proof.
pub(crate) fn settled(
    spec: &TableSpec,
    deletes: &DeleteSpec,
    last: &Stored,
    proof: Option<&str>,
    options: &RunOptions,
) -> Option<DeleteOutcome> {
    if not_due(spec, deletes, last, options) {
        return Some(DeleteOutcome::NotDue);
    }
    let unchanged = counters::holds(proof, last.deletes_proof.as_deref(), last.deletes_checked_at);
    (!options.full && unchanged).then_some(DeleteOutcome::Unchanged)
}

/// A delete check whose keys were compared in the sync's own transaction, against the rows a full
/// read staged (`DeleteSql::gone_staged`): no key scan of the source, one hashed anti-join on the
/// target. The proof was read before that read's snapshot.
#[derive(Debug, Clone)]
pub(crate) struct StagedCheck {
    keys: KeySets,
    proof: Option<String>,
}

/// A check the sync will compare against staging: its statement and its proof.
pub(crate) struct Pending {
    sql: &'static str,
    proof: Option<String>,
}

/// Asked by the sync before its read's snapshot: whether this read will stage every source key
/// (a full read) for a check that is due, and then the check's proof, read now so that a change
/// the read misses moves the counters past it.
pub(crate) async fn against_staging<C: GenericClient>(
    spec: &'static TableSpec,
    source: &Client,
    target: &C,
    options: &RunOptions,
    last: &Stored,
    full_read: bool,
) -> Result<Option<Pending>, TableError> {
    let Some(deletes) = spec.deletes.as_ref() else { return Ok(None) };
    let Some(sql) = deletes.sql.gone_staged.filter(|_| full_read && options.metadata) else { return Ok(None) };
    let proof = keys_lost_proof(spec, deletes, source, target).await?;
    if settled(spec, deletes, last, proof.as_deref(), options).is_some() {
        return Ok(None);
    }
    Ok(Some(Pending { sql, proof }))
}

/// Compares the target's owned keys with staging, in the sync's transaction while staging still
/// holds every key the read brought (before the checks set rows aside, the unchanged rows are
/// settled and the apply);
/// `source_keys` is the distinct keys the read staged.
pub(crate) async fn compare_staged(
    tx: &Transaction<'_>,
    pending: Pending,
    source_keys: u64,
) -> Result<StagedCheck, tokio_postgres::Error> {
    let row = without_nested_loops(tx, tx.query_one(pending.sql, &[])).await?;
    Ok(staged_check(&row, source_keys, pending))
}

/// The check's answer from the row `(owned rows, gone keys)` a staged comparison returned.
fn staged_check(row: &tokio_postgres::Row, source_keys: u64, pending: Pending) -> StagedCheck {
    let (target_keys, mut only_target): (i64, Vec<String>) = (row.get(0), row.get(1));
    only_target.sort_unstable();
    let keys = KeySets { source_keys, target_keys: target_keys as u64, only_target, buckets_listed: 0 };
    StagedCheck { keys, proof: pending.proof }
}

/// Compares the target's owned keys with staging and settles the unchanged staged rows, both in one
/// join (`DeleteSql::settling`), at the point `compare_staged` would run; leaves the staged rows
/// that would change the target in `_pgbisync_changed` (returns how many) for the sync to put in
/// staging's place.
pub(crate) async fn compare_settling(
    tx: &Transaction<'_>,
    pending: Pending,
    settling: &SettlingSql,
    source_keys: u64,
) -> Result<(StagedCheck, u64), tokio_postgres::Error> {
    without_nested_loops(tx, tx.execute(settling.compare, &[])).await?;
    let row = tx.query_one(settling.gone, &[]).await?;
    let changed = without_nested_loops(tx, tx.execute(settling.changed, &[])).await?;
    tx.batch_execute(&format!("DROP TABLE {}", ident(COMPARED))).await?;
    Ok((staged_check(&row, source_keys, pending), changed))
}

/// Runs the delete check of one table. `source` and `target` are the two sides of its direction;
/// `staged`, the keys the table's sync already compared, when it did.
pub(crate) async fn delete_table<C: GenericClient>(
    spec: &'static TableSpec,
    manifest: &ManifestSpec,
    source: &mut Client,
    target: &mut C,
    options: &RunOptions,
    staged: Option<&StagedCheck>,
) -> Result<DeleteReport, TableError> {
    let Some(deletes) = &spec.deletes else { return Ok(DeleteReport::new(spec, DeleteOutcome::NotDue)) };
    let proof = match staged {
        Some(staged) => staged.proof.clone(),
        None => match proof_unless_settled(spec, deletes, manifest, source, target, options).await? {
            Ok(proof) => proof,
            Err(outcome) => return Ok(DeleteReport::new(spec, outcome)),
        },
    };
    let started = Instant::now();
    let on_target = on(spec, spec.direction.target());
    let tx = target.transaction().await.map_err(on_target)?;
    set_settings(&tx, manifest, options.tenant.as_deref(), DateTime::<Utc>::UNIX_EPOCH).await.map_err(on_target)?;
    tx.batch_execute("SET LOCAL work_mem = '128MB'").await.map_err(on_target)?;
    set_lock_timeout(&tx, options).await.map_err(on_target)?;
    let keys = match staged {
        Some(staged) => staged.keys.clone(),
        None => compare_with_source(spec, deletes, manifest, source, &tx, options).await?,
    };

    let report = DeleteReport {
        source_keys: keys.source_keys,
        target_rows: keys.target_keys,
        gone: keys.only_target.len() as u64,
        buckets_listed: keys.buckets_listed,
        against_staging: staged.is_some(),
        ..DeleteReport::new(spec, DeleteOutcome::Checked)
    };
    tracing::debug!(
        table = spec.name,
        source_keys = keys.source_keys,
        target_rows = keys.target_keys,
        buckets_listed = keys.buckets_listed,
        gone = report.gone,
        elapsed = ?started.elapsed(),
        "compared key sets"
    );
    // A refused check, or one that held rows back, leaves no proof: the next run checks again.
    let record = |error: Option<String>, deleted: u64, keep_proof: bool| DeleteRecord {
        table: spec.name,
        scope: &options.scope,
        checked: error.is_none(),
        rows_deleted: deleted as i64,
        error,
        proof: proof.as_deref().filter(|_| keep_proof),
    };
    if let Some(refusal) = refusal(spec, manifest, &report, options) {
        metadata::record_deletes(
            &tx,
            manifest.metadata_table(spec.direction),
            &record(Some(refusal.clone()), 0, false),
        )
        .await
        .map_err(on_target)?;
        tx.commit().await.map_err(on_target)?;
        return Ok(DeleteReport {
            outcome: DeleteOutcome::Refused,
            error: Some(refusal),
            millis: started.elapsed().as_millis(),
            ..report
        });
    }

    let (deleted, held, held_samples) = if keys.only_target.is_empty() {
        // Nothing gone, so nothing held either: only the rows held before are cleared.
        let rejects = manifest.rejects_table(spec.direction);
        metadata::clear_rejects(&tx, rejects, &options.scope, spec.name, DELETE_KIND).await.map_err(on_target)?;
        (0, 0, Vec::new())
    } else {
        fill_gone(&tx, &keys.only_target).await.map_err(on_target)?;
        hold_referenced(&tx, spec, manifest, options).await.map_err(on_target)?;
        let deleted = delete_gone(&tx, spec, manifest, options).await.map_err(on_target)?;
        if let Some(forget) = deletes.sql.forget {
            // Held keys left `_pgbisync_gone`, so the ledger keeps them for the next check.
            tx.execute(forget, &[]).await.map_err(on_target)?;
        }
        let (held, samples) = held_samples(&tx, manifest, spec, options).await.map_err(on_target)?;
        tx.batch_execute(&format!("DROP TABLE {}, {}", ident(GONE), ident(HELD))).await.map_err(on_target)?;
        (deleted, held, samples)
    };
    metadata::record_deletes(&tx, manifest.metadata_table(spec.direction), &record(None, deleted, held == 0))
        .await
        .map_err(on_target)?;
    tx.commit().await.map_err(on_target)?;
    Ok(DeleteReport { deleted, held, held_samples, millis: started.elapsed().as_millis(), ..report })
}

/// The check's proof, read before its snapshot, unless the check need not run (then its outcome).
async fn proof_unless_settled<C: GenericClient>(
    spec: &'static TableSpec,
    deletes: &DeleteSpec,
    manifest: &ManifestSpec,
    source: &Client,
    target: &C,
    options: &RunOptions,
) -> Result<Result<Option<String>, DeleteOutcome>, TableError> {
    let metadata_table = manifest.metadata_table(spec.direction);
    let last = async {
        let last = metadata::stored(target, metadata_table, &options.scope, spec.name).await;
        Ok(last.map_err(on(spec, spec.direction.target()))?.unwrap_or_default())
    };
    // Read before the check's snapshot, so a change it misses moves the counters past this; asked
    // with the metadata, though a check not due does not use it.
    let (last, proof): (Stored, _) = tokio::try_join!(last, keys_lost_proof(spec, deletes, source, target))?;
    Ok(match settled(spec, deletes, &last, proof.as_deref(), options) {
        Some(outcome) => Err(outcome),
        None => Ok(proof),
    })
}

/// The delete check's proof now (the source's counters of what could lose a key), or `None`.
async fn keys_lost_proof<C: GenericClient>(
    spec: &'static TableSpec,
    deletes: &DeleteSpec,
    source: &Client,
    target: &C,
) -> Result<Option<String>, TableError> {
    let proof = counters::proof(spec, Counting::KeysLost, &statement(deletes), source, target).await;
    proof.map_err(|(side, source)| TableError::Database { table: spec.name, side, source })
}

/// Both key sets, compared bucket by bucket (see [`keyset`]), the source's in a snapshot of its own.
async fn compare_with_source(
    spec: &'static TableSpec,
    deletes: &DeleteSpec,
    manifest: &ManifestSpec,
    source: &mut Client,
    tx: &Transaction<'_>,
    options: &RunOptions,
) -> Result<KeySets, TableError> {
    let on_source = on(spec, spec.direction.source());
    let source_tx =
        source.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await;
    let source_tx = source_tx.map_err(on_source)?;
    set_settings(&source_tx, manifest, options.tenant.as_deref(), DateTime::<Utc>::UNIX_EPOCH)
        .await
        .map_err(on_source)?;
    let keys = keyset::compare(
        KeyQuery { side: spec.direction.source(), tx: &source_tx, sql: deletes.sql.keys_source },
        KeyQuery { side: spec.direction.target(), tx, sql: deletes.sql.keys_target },
    )
    .await
    .map_err(|e| match e {
        SideError::Db(side, source) => TableError::Database { table: spec.name, side, source },
        SideError::Unsorted(side) => TableError::Unsorted { table: spec.name, side },
    })?;
    source_tx.commit().await.map_err(on_source)?;
    Ok(keys)
}

/// Why this check must delete nothing, when it must.
fn refusal(spec: &TableSpec, manifest: &ManifestSpec, found: &DeleteReport, options: &RunOptions) -> Option<String> {
    if found.gone == 0 || options.allow_mass_delete {
        return None;
    }
    let whose = match options.tenant.as_deref() {
        Some(tenant) => format!(" of firm {tenant}"),
        None => String::new(),
    };
    let what = format!(
        "would delete {} of the {} rows{whose} born on the {} in {} {}",
        found.gone,
        found.target_rows,
        spec.direction.source(),
        spec.direction.target(),
        spec.target.name
    );
    let allow = "nothing was deleted; if the rows really are gone, run once with --allow-mass-delete";
    if found.source_keys == 0 {
        return Some(format!(
            "{what}, because the {} table {} reads as empty; {allow}",
            spec.direction.source(),
            spec.source.name
        ));
    }
    let guard = manifest.delete_guard;
    guard.trips(found.gone, found.target_rows).then(|| {
        format!(
            "{what}: more than {}% and more than {} rows (delete_guard in the manifest); {allow}",
            guard.max_percent, guard.min_rows
        )
    })
}

/// Lists the gone keys in the temporary table the generated statements read.
async fn fill_gone(tx: &Transaction<'_>, keys: &[String]) -> Result<(), tokio_postgres::Error> {
    let gone = ident(GONE);
    tx.batch_execute(&format!("CREATE TEMPORARY TABLE {gone} ({} text NOT NULL) ON COMMIT DROP", ident(VERIFY_KEY)))
        .await?;
    tx.query_typed(&format!("INSERT INTO {gone} SELECT unnest($1::text[])"), &[(&keys, Type::TEXT_ARRAY)]).await?;
    if keys.len() >= ANALYZE_FROM_ROWS {
        // Temporary tables are never analyzed automatically; the join to the target needs the count.
        tx.batch_execute(&format!("ANALYZE {gone}")).await?;
    }
    Ok(())
}

/// Sets aside the gone rows other rows still reference (they stay, and are tried again at the next
/// check), replacing the table's held rows in the rejects table.
async fn hold_referenced(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    manifest: &ManifestSpec,
    options: &RunOptions,
) -> Result<(), tokio_postgres::Error> {
    let k = ident(VERIFY_KEY);
    let held = ident(HELD);
    let select = match spec.deletes.as_ref().and_then(|d| d.sql.held) {
        Some(sql) => format!("SELECT * FROM ({sql}) AS h(k, row_key, reason, d)"),
        None => format!("SELECT NULL::text AS k, NULL::text AS row_key, {NONE} WHERE false"),
    };
    tx.batch_execute(&format!("CREATE TEMPORARY TABLE {held} ON COMMIT DROP AS {select}")).await?;
    tx.execute(&format!("DELETE FROM {} g WHERE g.{k} IN (SELECT h.k FROM {held} h)", ident(GONE)), &[]).await?;
    metadata::replace_rejects(
        tx,
        manifest.rejects_table(spec.direction),
        &options.scope,
        spec.name,
        DELETE_KIND,
        &format!("SELECT h.row_key, h.reason, h.d, NULL::timestamptz FROM {held} h"),
    )
    .await?;
    Ok(())
}

/// Deletes the gone rows, keeping each in the deleted-rows table. When the server refuses the set
/// (a foreign key the manifest does not declare, a trigger), each key is deleted alone so the rows
/// it refuses are set aside with its message and the others still go.
async fn delete_gone(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    manifest: &ManifestSpec,
    options: &RunOptions,
) -> Result<u64, tokio_postgres::Error> {
    let Some(deletes) = &spec.deletes else { return Ok(0) };
    let keep = format!(
        "WITH gone AS ({}) INSERT INTO {} (table_name, scope, row_key, row_data) SELECT $1, $2, g.row_key, g.d FROM gone g",
        deletes.sql.delete,
        ident(manifest.deleted_table(spec.direction))
    );
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&spec.name, &options.scope.as_str()];
    tx.batch_execute(&format!("SAVEPOINT {SAVEPOINT}")).await?;
    match tx.execute(&keep, &params).await {
        Ok(n) => {
            tx.batch_execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}")).await?;
            return Ok(n);
        }
        Err(e) if is_row_error(&e) => tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}")).await?,
        Err(e) => return Err(e),
    }
    let gone = ident(GONE);
    let remaining: Vec<String> =
        tx.query(&format!("SELECT {} FROM {gone}", ident(VERIFY_KEY)), &[]).await?.iter().map(|r| r.get(0)).collect();
    let mut deleted = 0;
    for key in remaining {
        tx.execute(&format!("DELETE FROM {gone}"), &[]).await?;
        tx.execute(&format!("INSERT INTO {gone} VALUES ($1)"), &[&key]).await?;
        tx.batch_execute(&format!("SAVEPOINT {SAVEPOINT}")).await?;
        match tx.execute(&keep, &params).await {
            Ok(n) => {
                tx.batch_execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}")).await?;
                deleted += n;
            }
            Err(e) if is_row_error(&e) => {
                tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}")).await?;
                let reason = format!("not deleted: {}", describe(&e));
                tx.execute(
                    &format!(
                        "INSERT INTO {} (table_name, scope, kind, row_key, reason) VALUES ($1, $2, $3, $4, $5)",
                        ident(manifest.rejects_table(spec.direction))
                    ),
                    &[&spec.name, &options.scope.as_str(), &DELETE_KIND, &key, &reason],
                )
                .await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}

/// How many gone rows this check set aside, and a few of them: key and reason.
async fn held_samples(
    tx: &Transaction<'_>,
    manifest: &ManifestSpec,
    spec: &TableSpec,
    options: &RunOptions,
) -> Result<(u64, Vec<(String, String)>), tokio_postgres::Error> {
    let rows = tx
        .query(
            &format!(
                "SELECT row_key, reason, count(*) OVER () FROM {} \
                 WHERE table_name = $1 AND scope = $2 AND kind = $3 ORDER BY row_key LIMIT 5",
                ident(manifest.rejects_table(spec.direction))
            ),
            &[&spec.name, &options.scope.as_str(), &DELETE_KIND],
        )
        .await?;
    let total = rows.first().map_or(0, |r| r.get::<_, i64>(2) as u64);
    Ok((total, rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
}
