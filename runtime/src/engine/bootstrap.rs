//! The one bootstrap both directions run before syncing: make sure the direction's metadata table
//! and rejects table exist on the side that owns them, in the current shape, with one row per table
//! for this run's scope. The old system crashed on a fresh database until someone created these by
//! hand; this is the fix, written once with the direction as a value.
//!
//! The current shape keeps progress per (table, scope), so firms sharing one cloud never read or move
//! each other's watermarks. Older shapes are upgraded in place. Their rows keep the scope `''`:
//! under a tenant scope their owner is unknown, so no firm reads them and each firm's first run after
//! the upgrade is a full pass (idempotent: it rewrites nothing that is already equal).

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Transaction};

use super::db_error::{describe, is_permission_denied};
use super::metadata::{Scope, APPLY_KIND};
use super::names::ident;
use crate::spec::{Direction, ManifestSpec};

/// Columns of the current metadata shape beyond the old 4-column table
/// (`table_name, last_sync_timestamp, created_at, updated_at`), added in place when missing.
const METADATA_COLUMNS: &[(&str, &str)] = &[
    ("last_sync_timestamp", "timestamp with time zone NOT NULL DEFAULT '1970-01-01 00:00:00+00'"),
    ("created_at", "timestamp with time zone DEFAULT now()"),
    ("updated_at", "timestamp with time zone DEFAULT now()"),
    ("last_run_at", "timestamp with time zone"),
    ("rows_copied", "bigint"),
    ("status", "text"),
    ("last_error", "text"),
    ("scope", "text NOT NULL DEFAULT ''"),
    ("deletes_checked_at", "timestamp with time zone"),
    ("rows_deleted", "bigint"),
    ("deletes_error", "text"),
    ("last_sync_xid", "bigint"),
    ("deletes_proof", "text"),
    ("read_proof", "text"),
    ("read_proven_at", "timestamp with time zone"),
];

/// The metadata's primary key in the current shape.
const METADATA_KEY: [&str; 2] = ["table_name", "scope"];

/// The epoch every new watermark starts at, so the first run is a full pass.
pub const EPOCH: &str = "1970-01-01 00:00:00+00";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Metadata is in place: watermarks are read and written.
    Ready { created: bool, upgraded: Vec<String>, seeded: u64 },
    /// The metadata could not be created or upgraded (no permission); every table runs in full mode
    /// and nothing is recorded.
    Degraded { reason: String },
}

impl Bootstrap {
    pub fn is_ready(&self) -> bool {
        matches!(self, Bootstrap::Ready { .. })
    }
}

/// Ensures the metadata of `direction` on the connected (target) side, with a row per table in
/// `scope` (none when `scope` is `None`: the tables are only created or upgraded), and the table
/// deleted rows are kept in when `keeps_deleted` (a table of the direction propagates deletes).
/// Safe to run concurrently: the work happens in one transaction behind a transaction-scoped
/// advisory lock.
pub async fn ensure<C: GenericClient>(
    client: &mut C,
    manifest: &ManifestSpec,
    direction: Direction,
    tables: &[&str],
    scope: Option<&Scope>,
    keeps_deleted: bool,
) -> Result<Bootstrap, tokio_postgres::Error> {
    let metadata = manifest.metadata_table(direction);
    let rejects = manifest.rejects_table(direction);
    if let Some(scope) = scope {
        let deleted = keeps_deleted.then(|| manifest.deleted_table(direction));
        let ledger = (direction == Direction::Reverse).then_some(manifest.reverse_ledger);
        // In a transaction of its own (a savepoint inside a dry run's), which a failure aborts.
        let tx = client.transaction().await?;
        match seed_if_current(&tx, metadata, rejects, deleted, ledger, scope, tables).await {
            Some(seeded) => {
                tx.commit().await?;
                return Ok(Bootstrap::Ready { created: false, upgraded: Vec::new(), seeded });
            }
            None => tx.rollback().await?,
        }
    }
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('pgbisync bootstrap ' || $1, 0))", &[&metadata]).await?;

    let mut created = false;
    let mut upgraded = Vec::new();
    let attempt: Result<u64, tokio_postgres::Error> = async {
        if exists(&tx, metadata).await? {
            upgraded = upgrade_metadata(&tx, metadata).await?;
        } else {
            create_metadata(&tx, metadata).await?;
            created = true;
        }
        upgraded.extend(ensure_rejects(&tx, rejects).await?);
        let metadata_existed = !created;
        if keeps_deleted {
            created |= ensure_deleted(&tx, manifest.deleted_table(direction)).await?;
        }
        let ledger = manifest.reverse_ledger;
        if direction == Direction::Reverse && ensure_ledger(&tx, ledger).await? {
            if metadata_existed {
                // Rows reversed before the ledger existed join it when a reverse run finds their
                // desktop copy equal to the cloud row; one full reverse pass finds them all.
                tx.batch_execute(&format!("UPDATE {} SET last_sync_timestamp = '{EPOCH}'", ident(metadata))).await?;
                upgraded.push(format!("{ledger} (the next reverse run reads in full)"));
            }
        } else if direction == Direction::Reverse && collate_ledger(&tx, ledger).await? {
            upgraded.push(format!("{ledger}.row_key (collation \"C\")"));
        }
        match scope {
            Some(scope) => seed(&tx, metadata, scope, tables).await,
            None => Ok(0),
        }
    }
    .await;
    let seeded = match attempt {
        Ok(n) => n,
        Err(e) if is_permission_denied(&e) => {
            let _ = tx.rollback().await;
            return Ok(Bootstrap::Degraded { reason: describe(&e) });
        }
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    Ok(Bootstrap::Ready { created, upgraded, seeded })
}

/// Every run after the first finds the tables in the current shape: then one statement asks so
/// while the seed runs beside it, without the lock (the seed inserts only rows that are missing,
/// and only this scope's, which one run at a time writes). `None` when the shape is not current or
/// either statement failed (a table missing, no privilege): the caller then rolls `tx` back, takes
/// the lock and does the whole work, which says what is wrong.
async fn seed_if_current(
    client: &Transaction<'_>,
    metadata: &str,
    rejects: &str,
    deleted: Option<&str>,
    ledger: Option<&str>,
    scope: &Scope,
    tables: &[&str],
) -> Option<u64> {
    let columns: std::collections::BTreeSet<&str> =
        METADATA_COLUMNS.iter().map(|(name, _)| *name).chain(METADATA_KEY).collect();
    let columns: Vec<&str> = columns.into_iter().collect();
    let [metadata, rejects] = [metadata, rejects].map(ident);
    let (deleted, ledger) = (deleted.map(ident), ledger.map(ident));
    let key = METADATA_KEY.to_vec();
    let params: [(&(dyn ToSql + Sync), Type); 6] = [
        (&metadata, Type::TEXT),
        (&columns, Type::TEXT_ARRAY),
        (&key, Type::TEXT_ARRAY),
        (&rejects, Type::TEXT),
        (&deleted, Type::TEXT),
        (&ledger, Type::TEXT),
    ];
    let current = client.query_typed(
        "SELECT (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 \
             AND NOT a.attisdropped AND a.attname = ANY($2)) = cardinality($2) \
         AND (SELECT array_agg(a.attname::text ORDER BY k.i) FROM pg_constraint c \
             CROSS JOIN unnest(c.conkey) WITH ORDINALITY k(n, i) \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n \
             WHERE c.conrelid = to_regclass($1) AND c.contype = 'p') = $3 \
         AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = to_regclass($4) AND a.attnum > 0 \
             AND NOT a.attisdropped AND a.attname IN ('scope', 'kind')) = 2 \
         AND ($5::text IS NULL OR to_regclass($5) IS NOT NULL) \
         AND ($6::text IS NULL OR (SELECT c.collname FROM pg_attribute a \
             JOIN pg_collation c ON c.oid = a.attcollation \
             WHERE a.attrelid = to_regclass($6) AND a.attname = 'row_key') = 'C')",
        &params,
    );
    let (seed, scope) = (seed_sql(&metadata), scope.as_str());
    let seed_params: [(&(dyn ToSql + Sync), Type); 2] = [(&tables, Type::TEXT_ARRAY), (&scope, Type::TEXT)];
    let seeded = client.query_typed(&seed, &seed_params);
    match tokio::join!(current, seeded) {
        (Ok(current), Ok(seeded)) if current.first().is_some_and(|r| r.get::<_, Option<bool>>(0) == Some(true)) => {
            Some(seeded.len() as u64)
        }
        _ => None,
    }
}

async fn exists(tx: &Transaction<'_>, table: &str) -> Result<bool, tokio_postgres::Error> {
    let row = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&ident(table)]).await?;
    Ok(row.get(0))
}

async fn create_metadata(tx: &Transaction<'_>, metadata: &str) -> Result<(), tokio_postgres::Error> {
    tx.batch_execute(&format!(
        "CREATE TABLE {} (
            table_name varchar(100) NOT NULL,
            scope text NOT NULL DEFAULT '',
            last_sync_timestamp timestamp with time zone NOT NULL DEFAULT '{EPOCH}',
            created_at timestamp with time zone DEFAULT now(),
            updated_at timestamp with time zone DEFAULT now(),
            last_run_at timestamp with time zone,
            rows_copied bigint,
            status text,
            last_error text,
            deletes_checked_at timestamp with time zone,
            rows_deleted bigint,
            deletes_error text,
            last_sync_xid bigint,
            deletes_proof text,
            read_proof text,
            read_proven_at timestamp with time zone,
            PRIMARY KEY (table_name, scope)
        )",
        ident(metadata)
    ))
    .await
}

/// Adds the columns an older shape lacks and moves its primary key to (table_name, scope).
/// Returns what changed, for the log.
async fn upgrade_metadata(tx: &Transaction<'_>, metadata: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let table = ident(metadata);
    let columns = column_names(tx, metadata).await?;
    let mut upgraded = Vec::new();
    for (name, ddl) in METADATA_COLUMNS {
        if !columns.iter().any(|c| c == name) {
            tx.batch_execute(&format!("ALTER TABLE {table} ADD COLUMN {} {ddl}", ident(name))).await?;
            upgraded.push(name.to_string());
        }
    }
    let key = tx
        .query_opt(
            "SELECT c.conname::text, array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i) \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i) \
             FROM pg_constraint c WHERE c.conrelid = to_regclass($1) AND c.contype = 'p'",
            &[&table],
        )
        .await?;
    let current: Option<(String, Vec<String>)> = key.map(|r| (r.get(0), r.get(1)));
    if current.as_ref().map(|(_, cols)| cols.as_slice()) != Some(&METADATA_KEY.map(String::from)[..]) {
        let drop = match &current {
            Some((name, _)) => format!("DROP CONSTRAINT {}, ", ident(name)),
            None => String::new(),
        };
        tx.batch_execute(&format!("ALTER TABLE {table} {drop}ADD PRIMARY KEY (table_name, scope)")).await?;
        upgraded.push("primary key (table_name, scope)".into());
    }
    Ok(upgraded)
}

/// Creates the rejects table, or adds the columns an older shape lacks (the scope; the kind, which
/// tells rows the apply refused from deletes held back).
async fn ensure_rejects(tx: &Transaction<'_>, rejects: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let table = ident(rejects);
    let index = ident(&format!("{rejects}_table_scope"));
    if !exists(tx, rejects).await? {
        tx.batch_execute(&format!(
            "CREATE TABLE {table} (
                id bigserial PRIMARY KEY,
                table_name varchar(100) NOT NULL,
                scope text NOT NULL DEFAULT '',
                kind text NOT NULL DEFAULT '{APPLY_KIND}',
                row_key text NOT NULL,
                reason text NOT NULL,
                row_data jsonb,
                tracking_value timestamp with time zone,
                seen_at timestamp with time zone NOT NULL DEFAULT now()
            );
            CREATE INDEX {index} ON {table} (table_name, scope)"
        ))
        .await?;
        return Ok(Vec::new());
    }
    let columns = column_names(tx, rejects).await?;
    let mut upgraded = Vec::new();
    if !columns.iter().any(|c| c == "scope") {
        tx.batch_execute(&format!(
            "ALTER TABLE {table} ADD COLUMN scope text NOT NULL DEFAULT '';
             CREATE INDEX {index} ON {table} (table_name, scope)"
        ))
        .await?;
        upgraded.push(format!("{rejects}.scope"));
    }
    if !columns.iter().any(|c| c == "kind") {
        tx.batch_execute(&format!("ALTER TABLE {table} ADD COLUMN kind text NOT NULL DEFAULT '{APPLY_KIND}'")).await?;
        upgraded.push(format!("{rejects}.kind"));
    }
    Ok(upgraded)
}

/// Creates the desktop's ledger of the keys reverse brought; true when it was created. The legacy
/// tables have no origin column and must not change, so this is how pgbisync tells its rows from
/// the desktop's own. Its keys are JSON texts that are only ever matched and sorted, never shown
/// in order: in collation "C" its index compares bytes, where the desktop's own collation (often
/// a Windows or ICU locale) costs a locale comparison at every step (ICU en-US: 250k keys in
/// 1.97 s against 1.40 s).
async fn ensure_ledger(tx: &Transaction<'_>, ledger: &str) -> Result<bool, tokio_postgres::Error> {
    if exists(tx, ledger).await? {
        return Ok(false);
    }
    tx.batch_execute(&format!(
        "CREATE TABLE {} (
            table_name varchar(100) NOT NULL,
            scope text NOT NULL DEFAULT '',
            row_key text COLLATE \"C\" NOT NULL,
            added_at timestamp with time zone NOT NULL DEFAULT now(),
            PRIMARY KEY (table_name, scope, row_key)
        )",
        ident(ledger)
    ))
    .await?;
    Ok(true)
}

/// Moves a ledger of an older shape, whose keys sort in the database's collation, to collation
/// "C" (its index is rebuilt, its rows kept); true when it did.
async fn collate_ledger(tx: &Transaction<'_>, ledger: &str) -> Result<bool, tokio_postgres::Error> {
    let collation: Option<String> = tx
        .query_opt(
            "SELECT c.collname::text FROM pg_attribute a JOIN pg_collation c ON c.oid = a.attcollation \
             WHERE a.attrelid = to_regclass($1) AND a.attname = 'row_key'",
            &[&ident(ledger)],
        )
        .await?
        .map(|r| r.get(0));
    if collation.as_deref() == Some("C") {
        return Ok(false);
    }
    tx.batch_execute(&format!("ALTER TABLE {} ALTER COLUMN row_key TYPE text COLLATE \"C\"", ident(ledger))).await?;
    Ok(true)
}

/// Creates the table deleted rows are kept in; true when it was created.
async fn ensure_deleted(tx: &Transaction<'_>, deleted: &str) -> Result<bool, tokio_postgres::Error> {
    if exists(tx, deleted).await? {
        return Ok(false);
    }
    let (table, index) = (ident(deleted), ident(&format!("{deleted}_table_scope")));
    tx.batch_execute(&format!(
        "CREATE TABLE {table} (
            id bigserial PRIMARY KEY,
            table_name varchar(100) NOT NULL,
            scope text NOT NULL DEFAULT '',
            row_key text NOT NULL,
            row_data jsonb NOT NULL,
            deleted_at timestamp with time zone NOT NULL DEFAULT now(),
            restored_at timestamp with time zone
        );
        CREATE INDEX {index} ON {table} (table_name, scope, deleted_at)"
    ))
    .await?;
    Ok(true)
}

async fn column_names(tx: &Transaction<'_>, table: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = tx
        .query(
            "SELECT a.attname::text FROM pg_attribute a \
             WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
            &[&ident(table)],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Seeds one row per table of this scope at the epoch; existing rows (and their watermarks) stay.
async fn seed(
    tx: &Transaction<'_>,
    metadata: &str,
    scope: &Scope,
    tables: &[&str],
) -> Result<u64, tokio_postgres::Error> {
    let names: Vec<&str> = tables.to_vec();
    tx.execute(&seed_sql(&ident(metadata)), &[&names, &scope.as_str()]).await
}

/// Inserts `(table_name, scope)` rows at the epoch for the tables named in `$1` that the scope `$2`
/// lacks in the `metadata` table (quoted); returns a row for each.
fn seed_sql(metadata: &str) -> String {
    format!(
        "INSERT INTO {metadata} (table_name, scope, last_sync_timestamp) \
         SELECT n, $2, '{EPOCH}' FROM unnest($1::text[]) AS n \
         WHERE NOT EXISTS (SELECT 1 FROM {metadata} x WHERE x.table_name = n AND x.scope = $2) RETURNING 1"
    )
}
