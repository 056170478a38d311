//! A first load written once. When the target holds none of the tenant's rows of a table, every
//! row the source sends is an insert: the rows are copied straight into the target, under a
//! savepoint, instead of into staging and then inserted (which wrote each row twice). Staging's
//! checks are then asked of the rows loaded, except those a constraint of the target enforced
//! during the COPY itself. A row the target refuses, or a check that finds one, rolls the load back
//! to the savepoint, and the engine stages the batch as usual, setting such rows aside with reasons.

use futures_util::future::join_all;
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use super::db_error::{describe, is_row_error};
use super::names::{ident, DIRECT_SAVEPOINT};
use super::pipeline::{on, transfer_error, RunOptions};
use super::{Observer, TableError};
use crate::codec::{CompiledTable, TransferError};
use crate::spec::{Constraint, DirectLoad, ManifestSpec, TableSpec};

/// Loads the batch straight into the target when it may; the rows loaded, or `None` when the batch
/// must be staged (nothing of the attempt is left in the target then).
pub(crate) async fn load(
    table: &dyn CompiledTable,
    manifest: &ManifestSpec,
    source_tx: &Transaction<'_>,
    tx: &Transaction<'_>,
    read_sql: &str,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<Option<u64>, TableError> {
    let spec = table.spec();
    let Some(direct) = spec.direct else { return Ok(None) };
    let (on_source, on_target) = (on(spec, spec.direction.source()), on(spec, spec.direction.target()));
    let Some(checks) = checks_needed(spec, &direct, tx, options).await.map_err(on_target)? else {
        return Ok(None);
    };
    // Each check joins the loaded rows to a table whose statistics predate them: hash joins only.
    tx.batch_execute(&format!("SAVEPOINT {DIRECT_SAVEPOINT}; SET LOCAL enable_nestloop = off"))
        .await
        .map_err(on_target)?;
    let out = source_tx.copy_out(read_sql).await.map_err(on_source)?;
    let sink = tx.copy_in(direct.copy).await.map_err(on_target)?;
    let progress = |rows| observer.rows_transferred(spec, rows);
    let loaded = table.load(out, sink, manifest.origin_desktop, &progress).await;
    observer.transfer_finished(spec);
    let rows = match loaded {
        Ok(stats) => stats.rows,
        Err(TransferError::Write(e)) if is_row_error(&e) => {
            return undo(tx, spec, &format!("the target refused a row ({})", describe(&e))).await;
        }
        Err(e) => return Err(transfer_error(spec, e)),
    };
    let found = in_order(join_all(checks.iter().map(|check| tx.query_typed(check, &[]))).await).map_err(on_target)?;
    if let Some(i) = found.iter().position(|rows| rows.first().is_some_and(|r| r.get::<_, bool>(0))) {
        tracing::debug!(table = spec.name, check = checks[i], "found a row after the direct load");
        return undo(tx, spec, "a staging check found a row to set aside").await;
    }
    tx.batch_execute(&format!("RELEASE SAVEPOINT {DIRECT_SAVEPOINT}")).await.map_err(on_target)?;
    tracing::debug!(table = spec.name, rows, "loaded straight into the target");
    Ok(Some(rows))
}

/// The checks to ask after the load, or `None` when the batch must be staged: the target holds
/// rows of the tenant, or the batch may hold duplicate keys that nothing would drop.
async fn checks_needed(
    spec: &TableSpec,
    direct: &DirectLoad,
    tx: &Transaction<'_>,
    options: &RunOptions,
) -> Result<Option<Vec<&'static str>>, tokio_postgres::Error> {
    let empty = tx.query_typed(direct.empty, &[]).await?;
    if !empty.first().is_some_and(|r| r.get::<_, bool>(0)) {
        return Ok(None);
    }
    let target = ident(spec.target.name);
    let dedup = spec.sql.dedup.is_some() && !options.unique_sources.contains(spec.source.name);
    let asked = direct.checks.iter().map(|c| c.unless).chain(dedup.then_some(Constraint::UniqueKey));
    // Sent together; the first error in the order sent is the one that counts.
    let enforced = in_order(join_all(asked.map(|c| enforces(tx, &target, spec, c))).await)?;
    // A key unique on neither side: staging's newest-wins dedup must pick the row to keep.
    if dedup && !enforced.last().copied().unwrap_or(false) {
        return Ok(None);
    }
    Ok(Some(direct.checks.iter().zip(enforced).filter(|(_, enforced)| !enforced).map(|(c, _)| c.sql).collect()))
}

/// The results of statements sent together, or the first one's error in the order they were sent
/// (a later statement of an aborted transaction only reports the abort).
fn in_order<T>(results: Vec<Result<T, tokio_postgres::Error>>) -> Result<Vec<T>, tokio_postgres::Error> {
    results.into_iter().collect()
}

/// Whether the target's catalog shows `constraint` in force for every row a COPY writes.
async fn enforces(
    tx: &Transaction<'_>,
    target: &str,
    spec: &TableSpec,
    constraint: Constraint,
) -> Result<bool, tokio_postgres::Error> {
    let rows = match constraint {
        Constraint::NotNull(column) => {
            tx.query_typed(
                "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 \
                 AND attnotnull)",
                &[(&target, Type::TEXT), (&column, Type::TEXT)],
            )
            .await?
        }
        Constraint::UniqueKey => {
            let key: Vec<&str> = spec.key.to_vec();
            // A valid, immediate unique index on NOT NULL columns, all of them in the key.
            tx.query_typed(
                "SELECT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = to_regclass($1) AND i.indisunique \
                   AND i.indisvalid AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL \
                   AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) AS k(attnum) \
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                     WHERE NOT (a.attname = ANY ($2::text[]) AND a.attnotnull)))",
                &[(&target, Type::TEXT), (&key, Type::TEXT_ARRAY)],
            )
            .await?
        }
        Constraint::ForeignKey { parent_table, pairs } => {
            let parent = ident(parent_table);
            let pairs: Vec<String> = pairs.iter().map(|(c, p)| format!("{c}={p}")).collect();
            // Validated, checked at the end of each statement, its triggers firing in this session.
            tx.query_typed(
                "SELECT current_setting('session_replication_role') = 'origin' AND EXISTS ( \
                   SELECT 1 FROM pg_constraint c WHERE c.conrelid = to_regclass($1) \
                     AND c.confrelid = to_regclass($2) AND c.contype = 'f' AND c.convalidated \
                     AND NOT c.condeferred \
                     AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgconstraint = c.oid \
                       AND g.tgrelid = c.conrelid AND g.tgenabled NOT IN ('O', 'A')) \
                     AND ARRAY(SELECT a.attname || '=' || p.attname FROM unnest(c.conkey, c.confkey) AS u(k, f) \
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.k \
                       JOIN pg_attribute p ON p.attrelid = c.confrelid AND p.attnum = u.f ORDER BY 1) \
                       = ARRAY(SELECT x FROM unnest($3::text[]) AS x ORDER BY 1))",
                &[(&target, Type::TEXT), (&parent, Type::TEXT), (&pairs, Type::TEXT_ARRAY)],
            )
            .await?
        }
    };
    Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
}

/// Rolls the load back: the batch is staged instead, and the rows that stopped it set aside.
async fn undo(tx: &Transaction<'_>, spec: &'static TableSpec, why: &str) -> Result<Option<u64>, TableError> {
    tracing::info!(table = spec.name, "first load staged after all: {why}");
    tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {DIRECT_SAVEPOINT}; RELEASE SAVEPOINT {DIRECT_SAVEPOINT}"))
        .await
        .map_err(on(spec, spec.direction.target()))?;
    Ok(None)
}
