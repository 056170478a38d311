//! `pgbisync status`: per table and direction, what the metadata and rejects tables record.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::metadata::Scope;
use super::names::ident;
use crate::spec::{Direction, ManifestSpec};

#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusRow {
    pub direction: Direction,
    pub table: String,
    pub watermark: Option<DateTime<Utc>>,
    /// Seconds from the watermark to now (this machine's clock): how old the newest change synced
    /// is. It grows while the source is idle, so read it against how often the source changes.
    pub lag_seconds: Option<i64>,
    pub last_run_at: Option<DateTime<Utc>>,
    pub rows_copied: Option<i64>,
    pub status: Option<String>,
    pub last_error: Option<String>,
    /// Why the last delete check deleted nothing (the mass-delete guard), when it did.
    pub deletes_error: Option<String>,
    /// Rows set aside: by the apply, and gone rows held because other rows reference them.
    pub rejects: i64,
    /// Rows deletes removed and the deleted-rows table keeps (not restored).
    pub deleted_kept: i64,
}

/// `count(*)` of `table`'s rows of the status row's table and scope (and `extra` condition), or 0
/// when the table does not exist yet. The scope is read through `to_jsonb`, so a table of an older
/// shape (before firms had their own rows) still answers.
async fn counter(client: &Client, table: &str, extra: &str) -> Result<String, tokio_postgres::Error> {
    let exists: Option<String> =
        client.query_typed_one("SELECT to_regclass($1)::text", &[(&ident(table), Type::TEXT)]).await?.get(0);
    Ok(match exists {
        Some(_) => format!(
            "(SELECT count(*) FROM {} r WHERE r.table_name = x.j->>'table_name' \
             AND coalesce(to_jsonb(r)->>'scope', '') = $2{extra})",
            ident(table)
        ),
        None => "0::bigint".to_string(),
    })
}

/// Reads a direction's metadata of one scope on its owning side. `Ok(None)` when the metadata table
/// does not exist yet. Columns are read through `to_jsonb`, so a metadata table of an older shape
/// shows what it has (a sync upgrades it).
pub async fn read(
    client: &Client,
    manifest: &ManifestSpec,
    direction: Direction,
    scope: &Scope,
    tables: &[&str],
) -> Result<Option<Vec<StatusRow>>, tokio_postgres::Error> {
    let metadata = manifest.metadata_table(direction);
    let exists: Option<String> =
        client.query_typed_one("SELECT to_regclass($1)::text", &[(&ident(metadata), Type::TEXT)]).await?.get(0);
    if exists.is_none() {
        return Ok(None);
    }
    let rejects = counter(client, manifest.rejects_table(direction), "").await?;
    let kept = counter(client, manifest.deleted_table(direction), " AND r.restored_at IS NULL").await?;
    let rows = client
        .query_typed(
            &format!(
                "SELECT x.j->>'table_name', (x.j->>'last_sync_timestamp')::timestamptz, \
                 (x.j->>'last_run_at')::timestamptz, (x.j->>'rows_copied')::bigint, x.j->>'status', \
                 x.j->>'last_error', x.j->>'deletes_error', {rejects}, {kept} \
                 FROM (SELECT to_jsonb(m) AS j FROM {} m) x \
                 WHERE x.j->>'table_name' = ANY($1) AND coalesce(x.j->>'scope', '') = $2",
                ident(metadata)
            ),
            &[(&tables, Type::TEXT_ARRAY), (&scope.as_str(), Type::TEXT)],
        )
        .await?;
    let now = Utc::now();
    let mut out: Vec<StatusRow> = rows
        .iter()
        .map(|r| StatusRow {
            direction,
            table: r.get(0),
            watermark: r.get(1),
            lag_seconds: r.get::<_, Option<DateTime<Utc>>>(1).map(|w| (now - w).num_seconds()),
            last_run_at: r.get(2),
            rows_copied: r.get(3),
            status: r.get(4),
            last_error: r.get(5),
            deletes_error: r.get(6),
            rejects: r.get(7),
            deleted_kept: r.get(8),
        })
        .collect();
    out.sort_by_key(|r| tables.iter().position(|t| *t == r.table));
    Ok(Some(out))
}
