//! Reading and writing one table's row of a direction's metadata table, and its rejects.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient};

use super::names::ident;

/// The stored watermark of a table, or `None` when it has no row.
pub async fn watermark<C: GenericClient>(
    client: &C,
    metadata: &str,
    table: &str,
) -> Result<Option<DateTime<Utc>>, tokio_postgres::Error> {
    let row = client
        .query_typed_opt(
            &format!("SELECT last_sync_timestamp FROM {} WHERE table_name = $1", ident(metadata)),
            &[(&table, Type::TEXT)],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// What a run of one table left behind, written in the same transaction as its rows.
pub struct RunRecord<'a> {
    pub table: &'a str,
    pub watermark: Option<DateTime<Utc>>,
    pub rows: i64,
    pub status: &'a str,
    pub error: Option<&'a str>,
}

pub async fn record<C: GenericClient>(
    client: &C,
    metadata: &str,
    r: &RunRecord<'_>,
) -> Result<(), tokio_postgres::Error> {
    client
        .query_typed(
            &format!(
                "UPDATE {} SET last_sync_timestamp = COALESCE($2, last_sync_timestamp), last_run_at = now(), \
                 rows_copied = $3, status = $4, last_error = $5, updated_at = now() WHERE table_name = $1",
                ident(metadata)
            ),
            &[
                (&r.table, Type::TEXT),
                (&r.watermark, Type::TIMESTAMPTZ),
                (&r.rows, Type::INT8),
                (&r.status, Type::TEXT),
                (&r.error, Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// Replaces a table's recorded rejects with the ones its staging set aside in this transaction.
/// `describe` is the generated query yielding `(key, reason, row json, tracking value)`.
pub async fn replace_rejects<C: GenericClient>(
    client: &C,
    rejects: &str,
    table: &str,
    describe: &str,
) -> Result<u64, tokio_postgres::Error> {
    client.execute(&format!("DELETE FROM {} WHERE table_name = $1", ident(rejects)), &[&table]).await?;
    client
        .execute(
            &format!(
                "INSERT INTO {} (table_name, row_key, reason, row_data, tracking_value) \
                 SELECT $1, x.k, x.reason, x.d::jsonb, x.t FROM ({describe}) AS x(k, reason, d, t)",
                ident(rejects)
            ),
            &[&table],
        )
        .await
}

/// Sets watermarks back to the epoch so the next run is a full pass.
pub async fn reset(client: &Client, metadata: &str, tables: &[&str]) -> Result<u64, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            &format!(
                "UPDATE {} SET last_sync_timestamp = '{}', updated_at = now() WHERE table_name = ANY($1) RETURNING 1",
                ident(metadata),
                super::bootstrap::EPOCH
            ),
            &[(&tables, Type::TEXT_ARRAY)],
        )
        .await?;
    Ok(rows.len() as u64)
}
