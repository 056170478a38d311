//! Which keys the target has and the source lacks, found without moving every key. Each side sums
//! its keys into 256 buckets by a hash of the key's text: a count and the sum of each key's
//! 64-bit text hash, which needs no sort and is the same whatever order the rows are read in. Only
//! the keys of buckets that differ travel, both sides ordered in byte order and merge-joined here,
//! so when nothing was deleted the cost is one key-only scan on each side, both sides at once.
//!
//! The bucket must be computed alike on both servers, or a key could sit in a listed bucket on one
//! side and an unlisted one on the other and be taken for gone. PostgreSQL's own text hash is the
//! same on servers of one byte order and encoding, which [`agreed_bucketing`] checks on a few
//! probe texts before each comparison; where the servers differ, md5 (the same everywhere, six
//! times the cost) places the keys. The digest need not agree: a server whose hash differs makes
//! every bucket differ, which lists every key and stays exact.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::pin::Pin;

use futures_util::{Stream, TryStreamExt};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Transaction};

use super::names::{ident, VERIFY_KEY};
use crate::spec::Side;

/// Buckets the keys are summed into.
pub(crate) const BUCKETS: i32 = 256;

/// How both sides place a key text in one of the buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bucketing {
    /// PostgreSQL's text hash: over 2.45M keys, md5's bucket cost six times as much.
    Hash,
    /// The first byte of the key's md5, the same on any server version and platform.
    Md5,
}

/// Texts both servers hash before their hash places keys: ASCII, a key's JSON, and text outside
/// ASCII, whose bytes differ between server encodings.
const PROBES: [&str; 4] = ["pgbisync", "[1045, \"A-17\"]", "{\"job_id\": 7}", "Añjali — தமிழ் 😀"];

/// The bucketing both sides compute alike: their own hash when it agrees on every probe.
pub(crate) async fn agreed_bucketing(
    source: (Side, &Transaction<'_>),
    target: (Side, &Transaction<'_>),
) -> Result<Bucketing, (Side, tokio_postgres::Error)> {
    let (a, b) = tokio::try_join!(probe_hashes(source), probe_hashes(target))?;
    if a == b {
        return Ok(Bucketing::Hash);
    }
    tracing::debug!("the servers hash text differently: keys are placed in buckets by md5");
    Ok(Bucketing::Md5)
}

async fn probe_hashes((side, tx): (Side, &Transaction<'_>)) -> Result<Vec<i64>, (Side, tokio_postgres::Error)> {
    let sql = "SELECT array_agg(hashtextextended(p, 1) ORDER BY n) FROM unnest($1::text[]) WITH ORDINALITY AS u(p, n)";
    let probes: Vec<&str> = PROBES.to_vec();
    let row = tx.query_typed_one(sql, &[(&probes, Type::TEXT_ARRAY)]).await.map_err(|e| (side, e))?;
    Ok(row.get(0))
}

/// A key's bucket (0..=255), over the key text column of alias `v`.
pub(crate) fn bucket_of(bucketing: Bucketing) -> String {
    let k = ident(VERIFY_KEY);
    match bucketing {
        Bucketing::Hash => format!("(hashtextextended(v.{k}, 1) & 255)::int"),
        Bucketing::Md5 => format!("get_byte(decode(left(md5(v.{k}), 2), 'hex'), 0)"),
    }
}

/// Why the key sets could not be compared, and on which side.
#[derive(Debug)]
pub(crate) enum SideError {
    Db(Side, tokio_postgres::Error),
    /// The side listed keys out of byte order, so the merge cannot tell which are missing.
    Unsorted(Side),
}

/// What comparing the two key sets found.
#[derive(Debug, Default, Clone)]
pub(crate) struct KeySets {
    /// Keys on the source.
    pub source_keys: u64,
    /// Keys on the target (the rows that could be deleted).
    pub target_keys: u64,
    /// Keys only the target has, in byte order.
    pub only_target: Vec<String>,
    /// Buckets whose keys had to be listed.
    pub buckets_listed: usize,
}

/// Per bucket: the key count and the digest.
async fn buckets(
    tx: &Transaction<'_>,
    keys: &str,
    bucketing: Bucketing,
) -> Result<HashMap<i32, (i64, String)>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {} AS b, count(*), sum(hashtextextended(v.{}, 0))::text FROM ({keys}) v GROUP BY 1",
        bucket_of(bucketing),
        ident(VERIFY_KEY)
    );
    let rows = tx.query_typed(&sql, &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), (r.get(1), r.get(2)))).collect())
}

type Keys = Pin<Box<dyn Stream<Item = Result<Row, tokio_postgres::Error>> + Send>>;

/// The keys of the listed buckets, in byte order.
async fn listed(
    tx: &Transaction<'_>,
    keys: &str,
    buckets: &[i32],
    bucketing: Bucketing,
) -> Result<Keys, tokio_postgres::Error> {
    let k = ident(VERIFY_KEY);
    let sql =
        format!("SELECT v.{k} FROM ({keys}) v WHERE {} = ANY($1) ORDER BY v.{k} COLLATE \"C\"", bucket_of(bucketing));
    let params = [(&buckets as &(dyn ToSql + Sync), Type::INT4_ARRAY)];
    Ok(Box::pin(tx.query_typed_raw(&sql, params.iter().cloned()).await?))
}

/// One side's key query, in its own transaction.
pub(crate) struct KeyQuery<'a> {
    pub side: Side,
    pub tx: &'a Transaction<'a>,
    pub sql: &'a str,
}

impl KeyQuery<'_> {
    async fn buckets(&self, bucketing: Bucketing) -> Result<HashMap<i32, (i64, String)>, SideError> {
        buckets(self.tx, self.sql, bucketing).await.map_err(|e| SideError::Db(self.side, e))
    }

    async fn listed(&self, buckets: &[i32], bucketing: Bucketing) -> Result<Listed, SideError> {
        let rows = listed(self.tx, self.sql, buckets, bucketing).await.map_err(|e| SideError::Db(self.side, e))?;
        Ok(Listed { side: self.side, rows, last: None })
    }
}

/// One side's listed keys, checked to arrive in byte order.
struct Listed {
    side: Side,
    rows: Keys,
    last: Option<String>,
}

impl Listed {
    /// The next key that differs from the one before (a key read twice is one key).
    async fn next(&mut self) -> Result<Option<String>, SideError> {
        loop {
            let Some(row) = self.rows.try_next().await.map_err(|e| SideError::Db(self.side, e))? else {
                return Ok(None);
            };
            let key: String = row.try_get(0).map_err(|e| SideError::Db(self.side, e))?;
            match self.last.as_deref().map(|last| last.cmp(key.as_str())) {
                Some(Ordering::Equal) => continue,
                // The merge is only right if the side orders keys as Rust compares strings.
                Some(Ordering::Greater) => return Err(SideError::Unsorted(self.side)),
                _ => {}
            }
            self.last = Some(key.clone());
            return Ok(Some(key));
        }
    }
}

/// Compares the source's keys with the target's.
pub(crate) async fn compare(source: KeyQuery<'_>, target: KeyQuery<'_>) -> Result<KeySets, SideError> {
    let bucketing = agreed_bucketing((source.side, source.tx), (target.side, target.tx))
        .await
        .map_err(|(side, e)| SideError::Db(side, e))?;
    compare_in(source, target, bucketing).await
}

/// Compares the two key sets with keys placed in buckets by `bucketing`.
async fn compare_in(source: KeyQuery<'_>, target: KeyQuery<'_>, bucketing: Bucketing) -> Result<KeySets, SideError> {
    let (source_buckets, target_buckets) = tokio::try_join!(source.buckets(bucketing), target.buckets(bucketing))?;
    let count = |b: &HashMap<i32, (i64, String)>| b.values().map(|(n, _)| *n as u64).sum();
    let mut found =
        KeySets { source_keys: count(&source_buckets), target_keys: count(&target_buckets), ..KeySets::default() };
    // A bucket the target lacks holds no key that could be deleted.
    let differing: Vec<i32> = (0..BUCKETS)
        .filter(|b| target_buckets.contains_key(b) && source_buckets.get(b) != target_buckets.get(b))
        .collect();
    found.buckets_listed = differing.len();
    if differing.is_empty() {
        return Ok(found);
    }
    let (mut source_rows, mut target_rows) =
        (source.listed(&differing, bucketing).await?, target.listed(&differing, bucketing).await?);
    let (mut sk, mut tk) = (source_rows.next().await?, target_rows.next().await?);
    while let Some(target_key) = &tk {
        match sk.as_deref().map(|k| k.cmp(target_key.as_str())) {
            Some(Ordering::Less) => sk = source_rows.next().await?,
            Some(Ordering::Equal) => {
                sk = source_rows.next().await?;
                tk = target_rows.next().await?;
            }
            Some(Ordering::Greater) | None => {
                found.only_target.push(target_key.clone());
                tk = target_rows.next().await?;
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::cluster::{Cluster, ClusterOptions};

    /// Keys 1..=3000 as JSON texts, some with text outside ASCII, less `without`, plus `with`.
    fn keys(without: &[i32], with: &[&str]) -> String {
        let k = ident(VERIFY_KEY);
        let extra: Vec<String> = with.iter().map(|t| format!("SELECT '{t}'")).collect();
        let mut sql = format!(
            "SELECT CASE WHEN g % 7 = 0 THEN json_build_array(g, 'Añjali ' || g) ELSE json_build_array(g) END::text \
             AS {k} FROM generate_series(1, 3000) g WHERE g <> ALL (ARRAY[{}]::int[])",
            without.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
        );
        for e in extra {
            sql.push_str(&format!(" UNION ALL {e}"));
        }
        sql
    }

    /// Both ways of placing keys in buckets find the same keys gone, and only those: md5's is the
    /// path two servers that hash text differently take, which one server cannot show otherwise.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn md5_buckets_find_the_same_keys_gone_as_the_servers_hash() {
        let cluster = tokio::task::spawn_blocking(|| Cluster::start(ClusterOptions::new("keyset", "UTC")))
            .await
            .unwrap()
            .unwrap();
        let connect = || async {
            let (client, connection) =
                tokio_postgres::connect(&cluster.url("postgres"), tokio_postgres::NoTls).await.unwrap();
            tokio::spawn(connection);
            client
        };
        let (mut a, mut b) = (connect().await, connect().await);
        let (source_tx, target_tx) = (a.transaction().await.unwrap(), b.transaction().await.unwrap());
        let source_sql = keys(&[14, 2001], &[]);
        let target_sql = keys(&[], &["[\"only on the target\"]", "[3001]"]);
        let agreed = agreed_bucketing((Side::Desktop, &source_tx), (Side::Cloud, &target_tx)).await.unwrap();
        assert_eq!(agreed, Bucketing::Hash, "one server agrees with itself");
        let mut gone = Vec::new();
        for bucketing in [Bucketing::Hash, Bucketing::Md5] {
            let source = KeyQuery { side: Side::Desktop, tx: &source_tx, sql: &source_sql };
            let target = KeyQuery { side: Side::Cloud, tx: &target_tx, sql: &target_sql };
            let found = compare_in(source, target, bucketing).await.unwrap();
            assert_eq!((found.source_keys, found.target_keys), (2998, 3002), "{bucketing:?}");
            assert!(found.buckets_listed <= 4, "{bucketing:?}: only the buckets of the 4 differing keys");
            gone.push(found.only_target);
        }
        let expected = ["[\"only on the target\"]", "[14, \"Añjali 14\"]", "[2001]", "[3001]"];
        assert_eq!(gone[0], expected, "by the servers' hash");
        assert_eq!(gone[1], expected, "by md5");
    }
}
