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
    pub last_run_at: Option<DateTime<Utc>>,
    pub rows_copied: Option<i64>,
    pub status: Option<String>,
    pub last_error: Option<String>,
    pub rejects: i64,
}

/// Reads a direction's metadata of one scope on its owning side. `Ok(None)` when the metadata table
/// does not exist yet.
pub async fn read(
    client: &Client,
    manifest: &ManifestSpec,
    direction: Direction,
    scope: &Scope,
    tables: &[&str],
) -> Result<Option<Vec<StatusRow>>, tokio_postgres::Error> {
    let metadata = manifest.metadata_table(direction);
    let rejects = manifest.rejects_table(direction);
    let exists: Option<String> =
        client.query_typed_one("SELECT to_regclass($1)::text", &[(&ident(metadata), Type::TEXT)]).await?.get(0);
    if exists.is_none() {
        return Ok(None);
    }
    let has_rejects: Option<String> =
        client.query_typed_one("SELECT to_regclass($1)::text", &[(&ident(rejects), Type::TEXT)]).await?.get(0);
    let rejects_count = if has_rejects.is_some() {
        format!("(SELECT count(*) FROM {} r WHERE r.table_name = m.table_name AND r.scope = m.scope)", ident(rejects))
    } else {
        "0::bigint".to_string()
    };
    let rows = client
        .query_typed(
            &format!(
                "SELECT m.table_name::text, m.last_sync_timestamp, m.last_run_at, m.rows_copied, m.status, m.last_error, {rejects_count} \
                 FROM {} m WHERE m.table_name = ANY($1) AND m.scope = $2",
                ident(metadata)
            ),
            &[(&tables, Type::TEXT_ARRAY), (&scope.as_str(), Type::TEXT)],
        )
        .await?;
    let mut out: Vec<StatusRow> = rows
        .iter()
        .map(|r| StatusRow {
            direction,
            table: r.get(0),
            watermark: r.get(1),
            last_run_at: r.get(2),
            rows_copied: r.get(3),
            status: r.get(4),
            last_error: r.get(5),
            rejects: r.get(6),
        })
        .collect();
    out.sort_by_key(|r| tables.iter().position(|t| *t == r.table));
    Ok(Some(out))
}
