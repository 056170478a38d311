//! `pgbisync restore`: puts rows a delete check removed back where they were born. A kept row is
//! written back to the source table (unless a row with its key is there again), in one source
//! transaction; the next run then brings it to the target like any new source row. Writing it to
//! the target alone would not last: the next delete check would find it gone from the source again.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::metadata::Scope;
use super::names::ident;
use super::Connections;
use crate::spec::{ManifestSpec, TableSpec};

/// Which kept rows to restore.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Rows with these keys, as the deleted-rows table shows them (`{"client_id" : 7}`).
    Keys(Vec<String>),
    /// Rows deleted at or after this time.
    Since(DateTime<Utc>),
}

/// What restoring one table did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    pub table: String,
    pub source: String,
    /// Kept rows selected (not restored before).
    pub selected: u64,
    /// Written back to the source.
    pub restored: u64,
    /// Selected rows whose key the source has again: left as they are, marked restored.
    pub already_there: u64,
}

/// Restores the selected kept rows of one table-direction that propagates deletes.
pub async fn restore(
    manifest: &ManifestSpec,
    connections: &mut Connections,
    spec: &TableSpec,
    scope: &Scope,
    selection: &Selection,
) -> Result<RestoreReport, (crate::spec::Side, tokio_postgres::Error)> {
    let Some(deletes) = &spec.deletes else {
        return Ok(RestoreReport {
            table: spec.name.to_string(),
            source: spec.source.name.to_string(),
            selected: 0,
            restored: 0,
            already_there: 0,
        });
    };
    let (source_side, target_side) = (spec.direction.source(), spec.direction.target());
    let kept = ident(manifest.deleted_table(spec.direction));
    let (source, target) = connections.for_direction(spec.direction);
    let (keys, since) = match selection {
        Selection::Keys(keys) => (Some(keys.clone()), None),
        Selection::Since(t) => (None, Some(*t)),
    };
    let rows = target
        .query_typed(
            &format!(
                "SELECT id, row_data FROM {kept} WHERE table_name = $1 AND scope = $2 AND restored_at IS NULL \
                 AND (row_key = ANY($3) OR deleted_at >= $4) ORDER BY id"
            ),
            &[
                (&spec.name, Type::TEXT),
                (&scope.as_str(), Type::TEXT),
                (&keys.unwrap_or_default(), Type::TEXT_ARRAY),
                (&since, Type::TIMESTAMPTZ),
            ],
        )
        .await
        .map_err(|e| (target_side, e))?;
    let tx = source.transaction().await.map_err(|e| (source_side, e))?;
    let mut restored = 0;
    for row in &rows {
        let data: serde_json::Value = row.get(1);
        restored += tx.execute(deletes.sql.restore, &[&data]).await.map_err(|e| (source_side, e))?;
    }
    tx.commit().await.map_err(|e| (source_side, e))?;
    // Marked after the source committed: a failure in between leaves rows to restore again, which
    // finds their keys there and writes nothing twice.
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    target
        .query_typed(&format!("UPDATE {kept} SET restored_at = now() WHERE id = ANY($1)"), &[(&ids, Type::INT8_ARRAY)])
        .await
        .map_err(|e| (target_side, e))?;
    Ok(RestoreReport {
        table: spec.name.to_string(),
        source: spec.source.name.to_string(),
        selected: rows.len() as u64,
        restored,
        already_there: rows.len() as u64 - restored,
    })
}
