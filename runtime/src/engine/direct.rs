//! A first load written once. When the target holds none of the tenant's rows of a table, every
//! row the source sends is an insert: the rows are copied straight into the target, under a
//! savepoint, instead of into staging and then inserted (which wrote each row twice). Staging's
//! checks are then asked of the rows loaded, except those a constraint of the target enforced
//! during the COPY itself. A row the target refuses, or a check that finds one, rolls the load back
//! to the savepoint, and the engine stages the batch as usual, setting such rows aside with reasons.
//!
//! A foreign key's triggers check the loaded rows one by one (two thirds of a million-row load's
//! time). When they are the only triggers an INSERT fires and this role may set
//! `session_replication_role` (a superuser, a role granted `SET` on it, Supabase's `postgres`),
//! the COPY runs without them and the engine asks the same question set-based instead, having
//! first locked the referenced parent rows `FOR KEY SHARE` as the triggers would, so that no parent
//! can be deleted between the check and the commit.

use futures_util::future::join_all;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use super::db_error::{describe, is_row_error};
use super::names::{ident, DIRECT_SAVEPOINT, TRIGGERS_SAVEPOINT};
use super::pipeline::{in_order, on, transfer_error, RunOptions};
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
    let Some(plan) = plan(spec, &direct, tx, options).await.map_err(on_target)? else {
        return Ok(None);
    };
    // Each check joins the loaded rows to a table whose statistics predate them: hash joins only.
    tx.batch_execute(&format!("SAVEPOINT {DIRECT_SAVEPOINT}; SET LOCAL enable_nestloop = off"))
        .await
        .map_err(on_target)?;
    let target = ident(spec.target.name);
    let skipped = !plan.foreign_keys.is_empty()
        && only_these_triggers(tx, &target, &plan.constraints).await.map_err(on_target)?
        && skip_triggers(tx).await.map_err(on_target)?;
    // The locks go first: a parent deleted meanwhile is then missing for the check, not locked.
    let checks: Vec<&str> = if skipped {
        let (locks, fk_checks): (Vec<&str>, Vec<&str>) = plan.foreign_keys.iter().copied().unzip();
        locks.into_iter().chain(plan.checks).chain(fk_checks).collect()
    } else {
        plan.checks
    };
    let out = source_tx.copy_out(read_sql).await.map_err(on_source)?;
    let sink = tx.copy_in(direct.copy).await.map_err(on_target)?;
    let progress = |rows| observer.rows_transferred(spec, rows);
    let loaded = table.load(out, sink, manifest.origin_desktop, &progress).await;
    observer.transfer_finished(spec);
    if skipped && loaded.is_ok() {
        tx.batch_execute("SET LOCAL session_replication_role = origin").await.map_err(on_target)?;
    }
    let rows = match loaded {
        Ok(stats) => stats.rows,
        Err(TransferError::Write(e)) if is_row_error(&e) => {
            return undo(tx, spec, &format!("the target refused a row ({})", describe(&e))).await;
        }
        Err(e) => return Err(transfer_error(spec, e)),
    };
    let found = in_order(join_all(checks.iter().map(|check| tx.query_typed(check, &[]))).await).map_err(on_target)?;
    // The locks' counts say nothing; each check's EXISTS says whether it found a row.
    let locks = if skipped { plan.foreign_keys.len() } else { 0 };
    let mut asked = checks.iter().zip(&found).skip(locks);
    if let Some((check, _)) = asked.find(|(_, rows)| rows.first().is_some_and(|r| r.get::<_, bool>(0))) {
        tracing::debug!(table = spec.name, check, "found a row after the direct load");
        return undo(tx, spec, "a staging check found a row to set aside").await;
    }
    tx.batch_execute(&format!("RELEASE SAVEPOINT {DIRECT_SAVEPOINT}")).await.map_err(on_target)?;
    tracing::debug!(table = spec.name, rows, foreign_key_triggers_skipped = skipped, "loaded straight into the target");
    Ok(Some(rows))
}

/// What a direct load asks after the COPY.
struct Plan {
    /// The checks no constraint of the target enforces.
    checks: Vec<&'static str>,
    /// The references a foreign key of the target enforces: (lock, check) for each, and the
    /// foreign keys' constraints. Asked only when the load skips those constraints' triggers.
    foreign_keys: Vec<(&'static str, &'static str)>,
    constraints: Vec<u32>,
}

/// The checks to ask after the load, or `None` when the batch must be staged: the target holds
/// rows of the tenant, or the batch may hold duplicate keys that nothing would drop.
async fn plan(
    spec: &TableSpec,
    direct: &DirectLoad,
    tx: &Transaction<'_>,
    options: &RunOptions,
) -> Result<Option<Plan>, tokio_postgres::Error> {
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
    if dedup && enforced.last().is_some_and(Option::is_none) {
        return Ok(None);
    }
    let mut plan = Plan { checks: Vec::new(), foreign_keys: Vec::new(), constraints: Vec::new() };
    for (check, enforced) in direct.checks.iter().zip(enforced) {
        match (enforced, check.lock) {
            (None, _) => plan.checks.push(check.sql),
            (Some(constraints), Some(lock)) => {
                plan.foreign_keys.push((lock, check.sql));
                plan.constraints.extend(constraints);
            }
            (Some(_), None) => {}
        }
    }
    Ok(Some(plan))
}

/// Whether the target's catalog shows `constraint` in force for every row a COPY writes: `None`
/// if not, else the foreign keys that enforce it (none for the other constraints).
async fn enforces(
    tx: &Transaction<'_>,
    target: &str,
    spec: &TableSpec,
    constraint: Constraint,
) -> Result<Option<Vec<u32>>, tokio_postgres::Error> {
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
            let rows = tx
                .query_typed(
                    "SELECT ARRAY( \
                   SELECT c.oid FROM pg_constraint c WHERE c.conrelid = to_regclass($1) \
                     AND c.confrelid = to_regclass($2) AND c.contype = 'f' AND c.convalidated \
                     AND NOT c.condeferred \
                     AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgconstraint = c.oid \
                       AND g.tgrelid = c.conrelid AND g.tgenabled NOT IN ('O', 'A')) \
                     AND ARRAY(SELECT a.attname || '=' || p.attname FROM unnest(c.conkey, c.confkey) AS u(k, f) \
                       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = u.k \
                       JOIN pg_attribute p ON p.attrelid = c.confrelid AND p.attnum = u.f ORDER BY 1) \
                       = ARRAY(SELECT x FROM unnest($3::text[]) AS x ORDER BY 1)) \
                 WHERE current_setting('session_replication_role') = 'origin'",
                    &[(&target, Type::TEXT), (&parent, Type::TEXT), (&pairs, Type::TEXT_ARRAY)],
                )
                .await?;
            return Ok(rows.first().map(|r| r.get::<_, Vec<u32>>(0)).filter(|oids| !oids.is_empty()));
        }
    };
    Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)).then(Vec::new))
}

/// Whether `constraints` are all the target's COPY would skip in the replica role: every other
/// trigger an INSERT fires fires there too (`ENABLE ALWAYS`), and none starts to (`ENABLE REPLICA`).
async fn only_these_triggers(
    tx: &Transaction<'_>,
    target: &str,
    constraints: &[u32],
) -> Result<bool, tokio_postgres::Error> {
    // tgtype bit 4: fires on INSERT. A foreign key's check trigger on the referencing table names
    // the constraint; its action triggers sit on the parent.
    let rows = tx
        .query_typed(
            "SELECT r.relkind = 'r' AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = r.oid \
               AND g.tgtype::int & 4 <> 0 \
               AND (g.tgenabled = 'R' OR (g.tgenabled = 'O' AND NOT g.tgconstraint = ANY ($2::oid[])))) \
             FROM pg_class r WHERE r.oid = to_regclass($1)",
            &[(&target, Type::TEXT), (&constraints, Type::OID_ARRAY)],
        )
        .await?;
    Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
}

/// Sets `session_replication_role = replica` until the load's savepoint ends, when this role may;
/// whether it did. A role that may not is told so by the server, which only undoes the try.
async fn skip_triggers(tx: &Transaction<'_>) -> Result<bool, tokio_postgres::Error> {
    tx.batch_execute(&format!("SAVEPOINT {TRIGGERS_SAVEPOINT}")).await?;
    match tx.batch_execute("SET LOCAL session_replication_role = replica").await {
        Ok(()) => {
            tx.batch_execute(&format!("RELEASE SAVEPOINT {TRIGGERS_SAVEPOINT}")).await?;
            Ok(true)
        }
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            tracing::debug!("foreign-key triggers kept: {}", describe(&e));
            tx.batch_execute(&format!(
                "ROLLBACK TO SAVEPOINT {TRIGGERS_SAVEPOINT}; RELEASE SAVEPOINT {TRIGGERS_SAVEPOINT}"
            ))
            .await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Rolls the load back: the batch is staged instead, and the rows that stopped it set aside.
async fn undo(tx: &Transaction<'_>, spec: &'static TableSpec, why: &str) -> Result<Option<u64>, TableError> {
    tracing::info!(table = spec.name, "first load staged after all: {why}");
    tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {DIRECT_SAVEPOINT}; RELEASE SAVEPOINT {DIRECT_SAVEPOINT}"))
        .await
        .map_err(on(spec, spec.direction.target()))?;
    Ok(None)
}
