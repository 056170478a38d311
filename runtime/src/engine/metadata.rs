//! Reading and writing one table's row of a direction's metadata table, and its rejects. Several
//! firms share one cloud, so every row belongs to a [`Scope`]: a firm's run reads and moves only
//! its own watermarks and replaces only its own rejects.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;
use tokio_postgres::{Client, GenericClient};

use super::names::ident;

/// Whose progress a metadata or rejects row records: the tenant value, or `''` when the manifest
/// declares no tenant scope (one deployment owns the metadata).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Scope(String);

impl Scope {
    /// The scope of a run with this tenant value. An integer is written in its plain decimal form,
    /// so `1`, ` 1` and `01` are one firm and never three sets of watermarks.
    pub fn of(tenant: Option<&str>) -> Scope {
        let value = tenant.map(str::trim).unwrap_or("");
        match value.parse::<i64>() {
            Ok(n) => Scope(n.to_string()),
            Err(_) => Scope(value.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The kind of a rejects row the apply set aside (replaced by each run of the table).
pub const APPLY_KIND: &str = "apply";
/// The kind of a rejects row a delete check held back (replaced by each delete check).
pub const DELETE_KIND: &str = "delete";

/// What one table's metadata row of a scope holds for the next run.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    pub watermark: Option<DateTime<Utc>>,
    /// The `track: xmin` watermark: every transaction before it had ended when the last read's
    /// snapshot was taken. `None` before the first run, or after a reset.
    pub xid: Option<i64>,
    /// The last time the table's delete check ran to the end.
    pub deletes_checked_at: Option<DateTime<Utc>>,
    /// The source's change counters read before that check (see [`super::counters`]).
    pub deletes_proof: Option<String>,
    /// A `mode: full` table's source counters read before its last clean full read, and when.
    pub read_proof: Option<String>,
    pub read_proven_at: Option<DateTime<Utc>>,
}

/// The table's row of this scope, or `None` when it has none.
pub async fn stored<C: GenericClient>(
    client: &C,
    metadata: &str,
    scope: &Scope,
    table: &str,
) -> Result<Option<Stored>, tokio_postgres::Error> {
    Ok(stored_all(client, metadata, scope, &[table]).await?.remove(table))
}

/// The rows of these tables in this scope, by table name; a table without one is absent.
pub async fn stored_all<C: GenericClient>(
    client: &C,
    metadata: &str,
    scope: &Scope,
    tables: &[&str],
) -> Result<HashMap<String, Stored>, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            &format!(
                "SELECT table_name::text, last_sync_timestamp, last_sync_xid, deletes_checked_at, deletes_proof, \
                 read_proof, read_proven_at FROM {} \
                 WHERE table_name = ANY($1) AND scope = $2",
                ident(metadata)
            ),
            &[(&tables, Type::TEXT_ARRAY), (&scope.as_str(), Type::TEXT)],
        )
        .await?;
    let stored = rows.iter().map(|r| {
        let stored = Stored {
            watermark: r.get(1),
            xid: r.get(2),
            deletes_checked_at: r.get(3),
            deletes_proof: r.get(4),
            read_proof: r.get(5),
            read_proven_at: r.get(6),
        };
        (r.get(0), stored)
    });
    Ok(stored.collect())
}

/// What a run of one table left behind, written in the same transaction as its rows.
pub struct RunRecord<'a> {
    pub table: &'a str,
    pub scope: &'a Scope,
    pub watermark: Option<DateTime<Utc>>,
    /// The `track: xmin` watermark to keep (`None` keeps the stored one).
    pub xid: Option<i64>,
    pub rows: i64,
    pub status: &'a str,
    pub error: Option<&'a str>,
    pub read_proof: ReadProof<'a>,
}

/// What a run does to the stored proof of a full read (see [`super::counters`]).
#[derive(Debug, Clone, Copy)]
pub enum ReadProof<'a> {
    /// A run that read nothing leaves it, and its time, as they were.
    Keep,
    /// The next run reads in full.
    Clear,
    /// A clean full read's proof, read before its snapshot.
    Set(&'a str),
}

pub async fn record<C: GenericClient>(
    client: &C,
    metadata: &str,
    r: &RunRecord<'_>,
) -> Result<(), tokio_postgres::Error> {
    let (proof, keep) = match r.read_proof {
        ReadProof::Keep => (None, true),
        ReadProof::Clear => (None, false),
        ReadProof::Set(proof) => (Some(proof), false),
    };
    client
        .query_typed(
            &format!(
                "UPDATE {} SET last_sync_timestamp = COALESCE($2, last_sync_timestamp), last_run_at = now(), \
                 rows_copied = $3, status = $4, last_error = $5, updated_at = now(), \
                 last_sync_xid = COALESCE($7, last_sync_xid), \
                 read_proof = CASE WHEN $9 THEN read_proof ELSE $8 END, \
                 read_proven_at = CASE WHEN $9 THEN read_proven_at WHEN $8 IS NULL THEN NULL ELSE now() END \
                 WHERE table_name = $1 AND scope = $6",
                ident(metadata)
            ),
            &[
                (&r.table, Type::TEXT),
                (&r.watermark, Type::TIMESTAMPTZ),
                (&r.rows, Type::INT8),
                (&r.status, Type::TEXT),
                (&r.error, Type::TEXT),
                (&r.scope.as_str(), Type::TEXT),
                (&r.xid, Type::INT8),
                (&proof, Type::TEXT),
                (&keep, Type::BOOL),
            ],
        )
        .await?;
    Ok(())
}

/// Records the runs of tables found unchanged, each with the watermark it moves on to, and clears
/// their rejects of `kind` (a run that read nothing set nothing aside), as [`record`] and
/// [`clear_rejects`] would table by table: one statement, however many tables.
pub async fn record_unchanged<C: GenericClient>(
    client: &C,
    metadata: &str,
    rejects: &str,
    scope: &Scope,
    kind: &str,
    runs: &[(&str, DateTime<Utc>)],
) -> Result<(), tokio_postgres::Error> {
    let (tables, watermarks): (Vec<&str>, Vec<DateTime<Utc>>) = runs.iter().copied().unzip();
    client
        .query_typed(
            &format!(
                "WITH cleared AS (DELETE FROM {} WHERE table_name = ANY($1) AND scope = $3 AND kind = $4) \
                 UPDATE {} m SET last_sync_timestamp = u.watermark, last_run_at = now(), rows_copied = 0, \
                 status = $5, last_error = NULL, updated_at = now() \
                 FROM unnest($1::text[], $2::timestamptz[]) AS u(table_name, watermark) \
                 WHERE m.table_name = u.table_name AND m.scope = $3",
                ident(rejects),
                ident(metadata)
            ),
            &[
                (&tables, Type::TEXT_ARRAY),
                (&watermarks, Type::TIMESTAMPTZ_ARRAY),
                (&scope.as_str(), Type::TEXT),
                (&kind, Type::TEXT),
                (&super::Status::Ok.as_str(), Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// What a delete check left behind, written in its transaction.
pub struct DeleteRecord<'a> {
    pub table: &'a str,
    pub scope: &'a Scope,
    /// The check ran to the end (not refused): its time is recorded, for the table's interval.
    pub checked: bool,
    pub rows_deleted: i64,
    /// Why it deleted nothing, when the guard stopped it.
    pub error: Option<String>,
    /// What spares the next check while it holds; `None` makes the next run check.
    pub proof: Option<&'a str>,
}

pub async fn record_deletes<C: GenericClient>(
    client: &C,
    metadata: &str,
    r: &DeleteRecord<'_>,
) -> Result<(), tokio_postgres::Error> {
    client
        .query_typed(
            &format!(
                "UPDATE {} SET deletes_checked_at = CASE WHEN $3 THEN now() ELSE deletes_checked_at END, \
                 rows_deleted = $4, deletes_error = $5, deletes_proof = $6 WHERE table_name = $1 AND scope = $2",
                ident(metadata)
            ),
            &[
                (&r.table, Type::TEXT),
                (&r.scope.as_str(), Type::TEXT),
                (&r.checked, Type::BOOL),
                (&r.rows_deleted, Type::INT8),
                (&r.error, Type::TEXT),
                (&r.proof, Type::TEXT),
            ],
        )
        .await?;
    Ok(())
}

/// Replaces a table's recorded rejects of one kind in this scope with the rows `describe` yields
/// in this transaction: `(key, reason, row json, tracking value)`.
pub async fn replace_rejects<C: GenericClient>(
    client: &C,
    rejects: &str,
    scope: &Scope,
    table: &str,
    kind: &str,
    describe: &str,
) -> Result<u64, tokio_postgres::Error> {
    clear_rejects(client, rejects, scope, table, kind).await?;
    client
        .execute(
            &format!(
                "INSERT INTO {} (table_name, scope, kind, row_key, reason, row_data, tracking_value) \
                 SELECT $1, $2, $3, x.k, x.reason, x.d::jsonb, x.t FROM ({describe}) AS x(k, reason, d, t)",
                ident(rejects)
            ),
            &[&table, &scope.as_str(), &kind],
        )
        .await
}

/// Clears a table's recorded rejects of one kind in this scope: a run that set none aside. One
/// unnamed statement, so that it keeps its place among statements sent together.
pub async fn clear_rejects<C: GenericClient>(
    client: &C,
    rejects: &str,
    scope: &Scope,
    table: &str,
    kind: &str,
) -> Result<(), tokio_postgres::Error> {
    client
        .query_typed(
            &format!("DELETE FROM {} WHERE table_name = $1 AND scope = $2 AND kind = $3", ident(rejects)),
            &[(&table, Type::TEXT), (&scope.as_str(), Type::TEXT), (&kind, Type::TEXT)],
        )
        .await?;
    Ok(())
}

/// Sets this scope's watermarks back to the epoch so its next run is a full pass.
pub async fn reset(
    client: &Client,
    metadata: &str,
    scope: &Scope,
    tables: &[&str],
) -> Result<u64, tokio_postgres::Error> {
    let rows = client
        .query_typed(
            &format!(
                "UPDATE {} SET last_sync_timestamp = '{}', last_sync_xid = NULL, read_proof = NULL, \
                 deletes_proof = NULL, updated_at = now() \
                 WHERE table_name = ANY($1) AND scope = $2 RETURNING 1",
                ident(metadata),
                super::bootstrap::EPOCH
            ),
            &[(&tables, Type::TEXT_ARRAY), (&scope.as_str(), Type::TEXT)],
        )
        .await?;
    Ok(rows.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn one_firm_has_one_scope_however_its_number_is_written() {
        assert_eq!(Scope::of(Some("1")), Scope::of(Some(" 01 ")));
        assert_eq!(Scope::of(Some("1")).as_str(), "1");
        assert_ne!(Scope::of(Some("1")), Scope::of(Some("2")));
        assert_eq!(Scope::of(None).as_str(), "");
        assert_eq!(Scope::of(Some("acme")).as_str(), "acme");
    }
}
