//! `pgbisync verify`: compares both sides' rows of each table-direction without copying either.
//! Each side streams `(key text, md5 of the synced values)` ordered by key in byte order; the two
//! sorted streams are merge-joined here, so memory holds one key's rows at a time whatever the
//! table size (the driver's row stream applies backpressure to the server).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures_util::{Stream, TryStreamExt};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, IsolationLevel, Row, Transaction};

use super::keyset::{agreed_bucketing, bucket_of, Bucketing, BUCKETS};
use super::metadata::Scope;
use super::names::{ident, VERIFY_HASH, VERIFY_KEY};
use super::pipeline::set_settings;
use super::Connections;
use crate::codec::CompiledTable;
use crate::spec::{Direction, ManifestSpec, Side, TableSpec};

/// Sample keys kept of each kind of difference.
const SAMPLES: usize = 5;

/// What comparing one table-direction found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    pub table: String,
    pub direction: Option<Direction>,
    pub source: String,
    pub target: String,
    /// Source rows in scope (after newest-wins dedup).
    pub source_rows: u64,
    /// Target rows compared: those sharing a key with the source, and those that can be extra.
    pub target_rows: u64,
    /// Source rows with no matching target row.
    pub missing: u64,
    /// Target rows of the sending side with no source row (forward only).
    pub extra: u64,
    /// Keys on both sides whose values differ.
    pub different: u64,
    /// Source rows whose key the receiving side's own row holds (forward never overwrites those).
    pub held_by_target: u64,
    /// Rows the last sync set aside (its rejects table): they show as missing until they apply.
    pub rejects: i64,
    pub missing_keys: Vec<String>,
    pub extra_keys: Vec<String>,
    pub different_keys: Vec<String>,
    /// Set when the table could not be compared (a query failed).
    pub error: Option<String>,
}

impl VerifyReport {
    pub fn differs(&self) -> bool {
        self.missing + self.extra + self.different > 0 || self.error.is_some()
    }

    fn note(keys: &mut Vec<String>, key: &str) {
        if keys.len() < SAMPLES {
            keys.push(key.to_string());
        }
    }

    /// Compares the rows of one key: hashes equal on both sides match; what is left pairs up as
    /// different values, and the rest is missing (source) or extra (target rows that can be).
    fn compare(&mut self, key: &str, mut source: Vec<String>, mut target: Vec<(String, bool)>) {
        self.source_rows += source.len() as u64;
        if target.is_empty() {
            self.missing += source.len() as u64;
            Self::note(&mut self.missing_keys, key);
            return;
        }
        if source.is_empty() {
            let extra = target.iter().filter(|(_, owned)| *owned).count() as u64;
            self.target_rows += extra;
            if extra > 0 {
                self.extra += extra;
                Self::note(&mut self.extra_keys, key);
            }
            return;
        }
        self.target_rows += target.len() as u64;
        if target.iter().all(|(_, owned)| !owned) && target.iter().all(|(h, _)| !source.contains(h)) {
            // Forward: the key belongs to a row born on the target, which the sync never overwrites.
            if self.direction == Some(Direction::Forward) {
                self.held_by_target += source.len() as u64;
                return;
            }
        }
        source.retain(|h| match target.iter().position(|(t, _)| t == h) {
            Some(i) => {
                target.swap_remove(i);
                false
            }
            None => true,
        });
        let different = source.len().min(target.len()) as u64;
        if different > 0 {
            self.different += different;
            Self::note(&mut self.different_keys, key);
        }
        let missing = source.len() as u64 - different;
        if missing > 0 {
            self.missing += missing;
            Self::note(&mut self.missing_keys, key);
        }
        let extra = target.iter().skip(different as usize).filter(|(_, owned)| *owned).count() as u64;
        if extra > 0 {
            self.extra += extra;
            Self::note(&mut self.extra_keys, key);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("on the {side}: {}", super::db_error::describe(.source))]
    Db {
        side: Side,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("the {side} returned keys out of byte order (is its encoding UTF8?)")]
    Unsorted { side: Side },
}

impl VerifyError {
    /// The connection itself failed: the database cannot be reached, not only this table.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, VerifyError::Db { source, .. } if source.is_closed())
    }

    /// A database error on `side`, for `map_err`.
    fn on(side: Side) -> impl Fn(tokio_postgres::Error) -> VerifyError + Copy {
        move |source| VerifyError::Db { side, source }
    }
}

type Rows = Pin<Box<dyn Stream<Item = Result<Row, tokio_postgres::Error>> + Send>>;

/// One side's sorted rows, read one key's group at a time.
struct Sorted {
    side: Side,
    rows: Rows,
    head: Option<Row>,
    last: Option<String>,
}

impl Sorted {
    async fn new(side: Side, mut rows: Rows) -> Result<Self, VerifyError> {
        let head = rows.try_next().await.map_err(VerifyError::on(side))?;
        Ok(Sorted { side, rows, head, last: None })
    }

    /// The next key and its rows' `(h, o)`; `o` is false for source rows (they are never extra).
    async fn group(&mut self) -> Result<Option<(String, Vec<(String, bool)>)>, VerifyError> {
        let Some(first) = self.head.take() else { return Ok(None) };
        let on = VerifyError::on(self.side);
        let key: String = first.try_get(0).map_err(on)?;
        // The merge is only right if both sides order keys as Rust compares strings.
        if self.last.as_deref().is_some_and(|last| last > key.as_str()) {
            return Err(VerifyError::Unsorted { side: self.side });
        }
        let mut rows = vec![values(&first).map_err(on)?];
        loop {
            self.head = self.rows.try_next().await.map_err(on)?;
            match &self.head {
                Some(row) if row.try_get::<_, &str>(0).map_err(on)? == key => rows.push(values(row).map_err(on)?),
                _ => break,
            }
        }
        self.last = Some(key.clone());
        Ok(Some((key, rows)))
    }
}

/// Per bucket of one side's verify query: its row count and a digest of its `k:h` pairs in key order.
async fn buckets(
    tx: &Transaction<'_>,
    sql: &str,
    bucketing: Bucketing,
) -> Result<HashMap<i32, (i64, String)>, tokio_postgres::Error> {
    let (k, h) = (ident(VERIFY_KEY), ident(VERIFY_HASH));
    let rows = tx
        .query_typed(
            &format!(
                "SELECT {}, count(*), md5(string_agg(v.{k} || ':' || v.{h}, ',' ORDER BY v.{k} COLLATE \"C\", v.{h})) \
                 FROM ({sql}) v GROUP BY 1",
                bucket_of(bucketing)
            ),
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect())
}

fn values(row: &Row) -> Result<(String, bool), tokio_postgres::Error> {
    let owned = if row.len() > 2 { row.try_get(2)? } else { false };
    Ok((row.try_get(1)?, owned))
}

/// Rows the last sync of this table set aside, from the direction's rejects table (0 if none yet).
async fn rejects(
    client: &Client,
    manifest: &ManifestSpec,
    spec: &TableSpec,
    scope: &Scope,
) -> Result<i64, tokio_postgres::Error> {
    let table = ident(manifest.rejects_table(spec.direction));
    let exists: Option<String> =
        client.query_typed_one("SELECT to_regclass($1)::text", &[(&table, Type::TEXT)]).await?.get(0);
    if exists.is_none() {
        return Ok(0);
    }
    let row = client
        .query_typed_one(
            &format!("SELECT count(*) FROM {table} WHERE table_name = $1 AND scope = $2"),
            &[(&spec.name, Type::VARCHAR), (&scope.as_str(), Type::TEXT)],
        )
        .await?;
    Ok(row.get(0))
}

/// The buckets whose count or digest differ; rows of equal buckets are counted as compared.
fn differing_buckets(
    report: &mut VerifyReport,
    source: &HashMap<i32, (i64, String)>,
    target: &HashMap<i32, (i64, String)>,
) -> Vec<i32> {
    let mut differing = Vec::new();
    for b in 0..BUCKETS {
        match (source.get(&b), target.get(&b)) {
            (Some(x), Some(y)) if x == y => {
                report.source_rows += x.0 as u64;
                report.target_rows += x.0 as u64;
            }
            (None, None) => {}
            _ => differing.push(b),
        }
    }
    differing
}

/// Merge-joins the two sorted streams key by key into the report.
async fn merge(report: &mut VerifyReport, mut source: Sorted, mut target: Sorted) -> Result<(), VerifyError> {
    let mut s = source.group().await?;
    let mut t = target.group().await?;
    loop {
        let order = match (&s, &t) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            // Byte order, as `COLLATE "C"` sorts UTF-8 text.
            (Some((sk, _)), Some((tk, _))) => sk.as_str().cmp(tk.as_str()),
        };
        match order {
            Ordering::Less => {
                if let Some((key, rows)) = s.take() {
                    report.compare(&key, rows.into_iter().map(|(h, _)| h).collect(), Vec::new());
                }
                s = source.group().await?;
            }
            Ordering::Greater => {
                if let Some((key, rows)) = t.take() {
                    report.compare(&key, Vec::new(), rows);
                }
                t = target.group().await?;
            }
            Ordering::Equal => {
                if let (Some((key, source_rows)), Some((_, target_rows))) = (s.take(), t.take()) {
                    report.compare(&key, source_rows.into_iter().map(|(h, _)| h).collect(), target_rows);
                }
                s = source.group().await?;
                t = target.group().await?;
            }
        }
    }
}

/// Compares one table-direction. `source` and `target` are the two sides for its direction.
pub async fn verify_table(
    manifest: &ManifestSpec,
    spec: &TableSpec,
    source: &mut Client,
    target: &mut Client,
    tenant: Option<&str>,
) -> Result<VerifyReport, VerifyError> {
    let (s, t) = (VerifyError::on(spec.direction.source()), VerifyError::on(spec.direction.target()));
    let mut report = VerifyReport {
        table: spec.name.to_string(),
        direction: Some(spec.direction),
        source: spec.source.name.to_string(),
        target: spec.target.name.to_string(),
        rejects: rejects(target, manifest, spec, &Scope::of(tenant)).await.map_err(t)?,
        ..VerifyReport::default()
    };
    // Read-only snapshots in UTC, so timestamptz values print the same text on both servers.
    let source_tx = source
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(s)?;
    let target_tx = target
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(t)?;
    for (tx, on) in [(&source_tx, s), (&target_tx, t)] {
        tx.batch_execute("SET LOCAL TimeZone = 'UTC'").await.map_err(on)?;
        set_settings(tx, manifest, tenant, DateTime::<Utc>::UNIX_EPOCH).await.map_err(on)?;
    }
    // First each side sums its rows into 256 buckets by key (a count and a digest); only the rows
    // of buckets that differ travel. Both sides place a key in the same bucket (see `keyset`).
    let sides = (spec.direction.source(), spec.direction.target());
    let bucketing = agreed_bucketing((sides.0, &source_tx), (sides.1, &target_tx))
        .await
        .map_err(|(side, e)| VerifyError::on(side)(e))?;
    let (source_buckets, target_buckets) = (
        buckets(&source_tx, spec.sql.verify_source, bucketing).await.map_err(s)?,
        buckets(&target_tx, spec.sql.verify_target, bucketing).await.map_err(t)?,
    );
    let differing = differing_buckets(&mut report, &source_buckets, &target_buckets);
    let k = ident(VERIFY_KEY);
    let detail = |sql: &str| {
        format!("SELECT v.* FROM ({sql}) v WHERE {} = ANY($1) ORDER BY v.{k} COLLATE \"C\"", bucket_of(bucketing))
    };
    let (source_sql, target_sql) = (detail(spec.sql.verify_source), detail(spec.sql.verify_target));
    let params = [(&differing as &(dyn ToSql + Sync), Type::INT4_ARRAY)];
    let source_rows: Rows = Box::pin(source_tx.query_typed_raw(&source_sql, params.iter().cloned()).await.map_err(s)?);
    let target_rows: Rows = Box::pin(target_tx.query_typed_raw(&target_sql, params.iter().cloned()).await.map_err(t)?);
    let source_side = Sorted::new(spec.direction.source(), source_rows).await?;
    let target_side = Sorted::new(spec.direction.target(), target_rows).await?;
    merge(&mut report, source_side, target_side).await?;
    source_tx.commit().await.map_err(s)?;
    target_tx.commit().await.map_err(t)?;
    Ok(report)
}

/// Compares every given table-direction (in the order given). A table whose queries fail is reported
/// with its error and the others are still compared; a lost connection stops the run.
pub async fn verify_tables(
    manifest: &ManifestSpec,
    connections: &mut Connections,
    tables: &[&dyn CompiledTable],
    tenant: Option<&str>,
    on_table: &mut dyn FnMut(&VerifyReport),
) -> Result<Vec<VerifyReport>, VerifyError> {
    let mut reports = Vec::new();
    for table in tables {
        let spec = table.spec();
        let (source, target) = connections.for_direction(spec.direction);
        let report = match verify_table(manifest, spec, source, target, tenant).await {
            Ok(r) => r,
            Err(e) if e.is_unreachable() => return Err(e),
            Err(e) => VerifyReport {
                table: spec.name.to_string(),
                direction: Some(spec.direction),
                source: spec.source.name.to_string(),
                target: spec.target.name.to_string(),
                error: Some(e.to_string()),
                ..VerifyReport::default()
            },
        };
        on_table(&report);
        reports.push(report);
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(direction: Direction) -> VerifyReport {
        VerifyReport { direction: Some(direction), ..VerifyReport::default() }
    }

    fn h(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn duplicates_compare_as_a_multiset() {
        let mut r = report(Direction::Forward);
        r.compare("row", h(&["a", "a", "a"]), vec![("a".into(), true), ("a".into(), true)]);
        assert_eq!((r.missing, r.extra, r.different, r.source_rows, r.target_rows), (1, 0, 0, 3, 2));
        r.compare("row2", h(&["b"]), vec![("b".into(), true), ("b".into(), true)]);
        assert_eq!((r.missing, r.extra, r.different), (1, 1, 0));
        assert_eq!(
            (r.missing_keys.as_slice(), r.extra_keys.as_slice()),
            (&["row".to_string()][..], &["row2".to_string()][..])
        );
    }

    #[test]
    fn a_key_held_by_the_receiving_sides_own_row_is_not_a_difference_in_forward() {
        let mut r = report(Direction::Forward);
        r.compare("[1]", h(&["desktop edit"]), vec![("mobile".into(), false)]);
        assert_eq!((r.different, r.held_by_target), (0, 1));
        assert!(!r.differs());
        // In reverse the same is a real difference: insert_only kept the desktop's older row.
        let mut r = report(Direction::Reverse);
        r.compare("[1]", h(&["mobile"]), vec![("desktop".into(), false)]);
        assert_eq!((r.different, r.different_keys.as_slice()), (1, &["[1]".to_string()][..]));
    }

    #[test]
    fn only_owned_target_rows_can_be_extra() {
        let mut r = report(Direction::Reverse);
        r.compare("[9]", Vec::new(), vec![("desktop's own".into(), false)]);
        assert!(!r.differs());
        assert_eq!(r.target_rows, 0, "rows outside the comparison are not counted");
        let mut r = report(Direction::Forward);
        r.compare("[9]", Vec::new(), vec![("gone from the desktop".into(), true)]);
        assert_eq!((r.extra, r.target_rows), (1, 1));
    }
}
