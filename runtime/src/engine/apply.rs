//! Applying staged rows to the target, set-based, isolating the rows a constraint refuses.

use tokio_postgres::Transaction;

use super::db_error::{describe, is_row_error};
use super::names::{ident, APPLY_SAVEPOINT, REASON, REJECTED, ROW_NUMBER, SET_ASIDE, STAGE};
use crate::spec::TableSpec;

/// Moves the rows the checks rejected out of staging.
pub(crate) async fn set_aside(tx: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let (stage, rejected, n) = (ident(STAGE), ident(REJECTED), ident(ROW_NUMBER));
    tx.execute(
        &format!(
            "WITH moved AS (DELETE FROM {stage} s WHERE s.{n} IN (SELECT r.{n} FROM {rejected} r) RETURNING s.*) \
             INSERT INTO {} SELECT * FROM moved",
            ident(SET_ASIDE)
        ),
        &[],
    )
    .await?;
    Ok(())
}

/// Applies staging set-based. When a statement fails on a row (a constraint the checks could not
/// foresee), the range is halved under savepoints until the offending rows are isolated and set
/// aside with the server's message; the others are applied. Normal runs take one pass.
pub(crate) async fn apply(tx: &Transaction<'_>, spec: &TableSpec) -> Result<u64, tokio_postgres::Error> {
    let n = ident(ROW_NUMBER);
    let bounds = tx.query_one(&format!("SELECT min({n}), max({n}) FROM {}", ident(STAGE)), &[]).await?;
    let (Some(lo), Some(hi)) = (bounds.get::<_, Option<i64>>(0), bounds.get::<_, Option<i64>>(1)) else {
        return Ok(0);
    };
    let mut written = 0;
    let mut ranges = vec![(lo, hi)];
    while let Some((lo, hi)) = ranges.pop() {
        tx.batch_execute(&format!("SAVEPOINT {APPLY_SAVEPOINT}")).await?;
        match apply_range(tx, spec, lo, hi).await {
            Ok(n) => {
                tx.batch_execute(&format!("RELEASE SAVEPOINT {APPLY_SAVEPOINT}")).await?;
                written += n;
            }
            Err(e) if is_row_error(&e) => {
                tx.batch_execute(&format!("ROLLBACK TO SAVEPOINT {APPLY_SAVEPOINT}")).await?;
                if lo == hi {
                    tx.execute(
                        &format!("INSERT INTO {} ({n}, {REASON}) VALUES ($1, $2)", ident(REJECTED)),
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

/// Runs every apply statement over the staged rows `lo..=hi`; the rows they wrote.
async fn apply_range(tx: &Transaction<'_>, spec: &TableSpec, lo: i64, hi: i64) -> Result<u64, tokio_postgres::Error> {
    let mut written = 0;
    for statement in spec.sql.apply {
        written += tx.execute(*statement, &[&lo, &hi]).await?;
    }
    Ok(written)
}
