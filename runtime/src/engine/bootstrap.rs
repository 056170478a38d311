//! The one bootstrap both directions run before syncing: make sure the direction's metadata table
//! and rejects table exist on the side that owns them, in the current shape, with one row per table.
//! The old system crashed on a fresh database until someone created these by hand; this is the fix,
//! written once with the direction as a value.

use tokio_postgres::{GenericClient, Transaction};

use super::db_error::{describe, is_permission_denied};
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
];

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

/// Ensures the metadata of `direction` on the connected (target) side. Safe to run concurrently:
/// the work happens in one transaction behind a transaction-scoped advisory lock.
pub async fn ensure<C: GenericClient>(
    client: &mut C,
    manifest: &ManifestSpec,
    direction: Direction,
    tables: &[&str],
) -> Result<Bootstrap, tokio_postgres::Error> {
    let metadata = manifest.metadata_table(direction);
    let rejects = manifest.rejects_table(direction);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended('pgbisync bootstrap ' || $1, 0))", &[&metadata]).await?;

    let present = tx
        .query(
            "SELECT c.relname::text FROM pg_class c WHERE c.relname = ANY($1) AND pg_table_is_visible(c.oid)",
            &[&vec![metadata, rejects]],
        )
        .await?;
    let has = |name: &str| present.iter().any(|r| r.get::<_, String>(0) == name);
    let (created, upgraded) = match create_or_upgrade(&tx, metadata, rejects, has(metadata), has(rejects)).await {
        Ok(done) => done,
        Err(e) if is_permission_denied(&e) => {
            let _ = tx.rollback().await;
            return Ok(Bootstrap::Degraded { reason: describe(&e) });
        }
        Err(e) => return Err(e),
    };

    // Seed one row per table at the epoch; existing rows (and their watermarks) stay as they are.
    let names: Vec<&str> = tables.to_vec();
    let seeded = tx
        .execute(
            &format!(
                "INSERT INTO {m} (table_name, last_sync_timestamp) SELECT n, '{EPOCH}' FROM unnest($1::text[]) AS n \
                 WHERE NOT EXISTS (SELECT 1 FROM {m} x WHERE x.table_name = n)",
                m = ident(metadata)
            ),
            &[&names],
        )
        .await;
    let seeded = match seeded {
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

/// Creates the metadata table (or adds the columns an older one lacks) and the rejects table;
/// whether the metadata table was created, and the columns added.
async fn create_or_upgrade(
    tx: &Transaction<'_>,
    metadata: &str,
    rejects: &str,
    has_metadata: bool,
    has_rejects: bool,
) -> Result<(bool, Vec<String>), tokio_postgres::Error> {
    let mut created = false;
    let mut upgraded = Vec::new();
    if !has_metadata {
        tx.batch_execute(&format!(
            "CREATE TABLE {} (table_name varchar(100) PRIMARY KEY, \
             last_sync_timestamp timestamp with time zone NOT NULL DEFAULT '{EPOCH}', \
             created_at timestamp with time zone DEFAULT now(), updated_at timestamp with time zone DEFAULT now(), \
             last_run_at timestamp with time zone, rows_copied bigint, status text, last_error text)",
            ident(metadata)
        ))
        .await?;
        created = true;
    } else {
        let cols: Vec<String> = tx
            .query(
                "SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
                &[&ident(metadata)],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for (name, ddl) in METADATA_COLUMNS {
            if !cols.iter().any(|c| c == name) {
                tx.batch_execute(&format!("ALTER TABLE {} ADD COLUMN {} {ddl}", ident(metadata), ident(name))).await?;
                upgraded.push(name.to_string());
            }
        }
    }
    if !has_rejects {
        tx.batch_execute(&format!(
            "CREATE TABLE {} (id bigserial PRIMARY KEY, table_name varchar(100) NOT NULL, row_key text NOT NULL, \
             reason text NOT NULL, row_data jsonb, tracking_value timestamp with time zone, \
             seen_at timestamp with time zone NOT NULL DEFAULT now()); \
             CREATE INDEX {} ON {} (table_name)",
            ident(rejects),
            ident(&format!("{rejects}_table_name")),
            ident(rejects)
        ))
        .await?;
    }
    Ok((created, upgraded))
}
