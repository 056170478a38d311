//! The static description of one compiled table-direction. The generator emits one `TableSpec` per
//! table and direction; everything the engine does to a table is driven by it.

use tokio_postgres::types::Type;

pub use pgbisync_contract::{Direction, Mode, Side, Strategy};

/// A column as the manifest declares it on one side.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSpec {
    pub name: &'static str,
    /// The type as `format_type()` prints it, used to compare with the live database.
    pub sql_type: &'static str,
    /// The type as written in the manifest, for messages.
    pub declared_type: &'static str,
    pub nullable: bool,
}

/// A table as the manifest declares it on one side.
#[derive(Debug, Clone, Copy)]
pub struct SideTable {
    pub side: Side,
    pub name: &'static str,
    pub columns: &'static [ColumnSpec],
    /// The column this side keeps current on every update (`updated_at`), when it has one.
    pub touched: Option<&'static str>,
}

/// The SQL the generator wrote for one table-direction. Values never appear in it: they are bound
/// parameters, COPY data, or settings read with `current_setting('pgbisync.*')` that the engine sets
/// with bound parameters at the start of each transaction (COPY cannot take parameters).
#[derive(Debug, Clone, Copy)]
pub struct TableSql {
    /// `COPY (SELECT ...) TO STDOUT (FORMAT binary)` reading every row in scope.
    pub read_full: &'static str,
    /// The same, limited to rows at or after `pgbisync.since` (and rows with a NULL tracking value).
    pub read_incremental: Option<&'static str>,
    /// `SELECT EXISTS (...)`: whether the incremental read would read any row at all.
    pub probe_incremental: Option<&'static str>,
    /// Creates the temporary staging table (dropped at commit).
    pub create_stage: &'static str,
    /// `COPY stage FROM STDIN (FORMAT binary)`.
    pub copy_stage: &'static str,
    /// Deletes all but the newest row of each key from staging; affected rows = dropped duplicates.
    pub dedup: Option<&'static str>,
    /// Each inserts `(_n, reason)` rows into `_pgbisync_rejected` for staged rows that cannot be applied.
    pub checks: &'static [&'static str],
    /// Forward upsert, after a full read: makes `_pgbisync_changed` of the staged rows that would
    /// change the target; the engine then puts it in staging's place.
    pub settle: Option<&'static str>,
    /// Statements run once before `apply`: replace_origin's count of each side's copies and delete
    /// of the target's excess ones; reverse's lookup of the staged keys in the desktop table
    /// (`_pgbisync_found`).
    pub prepare: &'static [&'static str],
    /// The temporary tables `prepare` makes, which the engine drops with staging.
    pub prepared: &'static [&'static str],
    /// Set-based writes from staging, limited to staged rows `_n BETWEEN $1 AND $2`;
    /// the sum of affected rows is the number of rows written.
    pub apply: &'static [&'static str],
    /// Reverse: records in the ledger the keys of the staged rows the desktop lacks (the apply then
    /// inserts them), run before the apply when the metadata is in place. Where there is one,
    /// `prepare` makes the `_pgbisync_found` table it and the apply read.
    pub ledger: Option<&'static str>,
    /// Forward of a two-way table, run on the source (the desktop): `(k)` of the keys reverse
    /// brought. The engine copies them to `_pgbisync_born_in_cloud`, and the insert skips them.
    pub born_in_cloud: Option<&'static str>,
    /// `(key, reason, row json, tracking value)` of every row set aside (`_pgbisync_set_aside` joined to `_pgbisync_rejected`).
    pub describe_rejects: &'static str,
    /// `(k, h)` of the source rows the sync reads (after dedup), ordered by `k COLLATE "C"`: the key
    /// as text (the row's text when the table has no key) and an md5 of the compared values.
    pub verify_source: &'static str,
    /// `(k, h, o)` of the target rows to compare, in the same order and form; `o` is true when a
    /// row the source lacks counts as extra.
    pub verify_target: &'static str,
}

/// Everything the engine needs to sync one table in one direction.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    /// The table's name in the manifest, in `--table`, and in the metadata tables.
    pub name: &'static str,
    pub direction: Direction,
    pub source: SideTable,
    pub target: SideTable,
    pub mode: Mode,
    pub strategy: Strategy,
    /// Key columns on the target (empty when the target has none or generates it).
    pub key: &'static [&'static str],
    /// The source columns holding the key's values (source names).
    pub source_key: &'static [&'static str],
    /// Source column whose value tells when a row last changed.
    pub tracking: Option<&'static str>,
    /// `track: xmin`: incremental reads select rows by the id of the transaction that wrote them.
    pub track_xmin: bool,
    /// Columns (target names) the desktop owns on rows born in the cloud: forward writes only these
    /// of such rows, reverse never writes them.
    pub desktop_owns: &'static [&'static str],
    /// Names of the tables (by `name`) this table references; they sync first.
    pub references: &'static [&'static str],
    /// Types of the columns `sql.read_*` produce, in order.
    pub read_types: &'static [Type],
    /// Types of the staging table's columns, in order (the first is the row number `_n`).
    pub stage_types: &'static [Type],
    /// Where in staging (as `stage_types` counts) the columns of the key the newest-wins dedup
    /// partitions by are; empty when the table has no dedup.
    pub dedup_key: &'static [usize],
    /// Where the table is declared in the manifest, for messages.
    pub manifest_line: u32,
    pub sql: TableSql,
    /// Set when target rows whose source row is gone are deleted (forward upsert tables).
    pub deletes: Option<DeleteSpec>,
    /// Set when a first load may copy straight into the target (forward tables without computed columns).
    pub direct: Option<DirectLoad>,
}

/// A first load written straight into a target holding none of the tenant's rows (see `engine::direct`).
#[derive(Debug, Clone, Copy)]
pub struct DirectLoad {
    /// `COPY target (staged columns, origin) FROM STDIN (FORMAT binary)`.
    pub copy: &'static str,
    /// `SELECT NOT EXISTS (...)`: true when the target holds no row of the tenant.
    pub empty: &'static str,
    /// The staging checks, asked of the tenant's target rows after the load.
    pub checks: &'static [DirectCheck],
    /// How many staged columns the COPY takes: the staged row's values after `_n`, in order.
    pub columns: usize,
}

/// One staging check asked of the loaded rows: `SELECT EXISTS (...)`, true when a row fails it.
#[derive(Debug, Clone, Copy)]
pub struct DirectCheck {
    pub sql: &'static str,
    /// The target's constraint that refuses the same rows during the COPY, when in force.
    pub unless: Constraint,
    /// For a reference: `SELECT count(*)` of the parent rows it locks `FOR KEY SHARE`, those the
    /// loaded rows point at, as the foreign key's triggers would; run when the load skips them.
    pub lock: Option<&'static str>,
}

/// A constraint of the target that refuses what a check looks for.
#[derive(Debug, Clone, Copy)]
pub enum Constraint {
    /// The column is NOT NULL.
    NotNull(&'static str),
    /// A unique index covers the key.
    UniqueKey,
    /// A foreign key from these (column, parent column) pairs to the parent table.
    ForeignKey { parent_table: &'static str, pairs: &'static [(&'static str, &'static str)] },
}

/// How a table deletes the target rows whose source row is gone.
#[derive(Debug, Clone, Copy)]
pub struct DeleteSpec {
    /// Incremental runs check at most this often (0: every run); full runs always check.
    pub every_seconds: u32,
    pub sql: DeleteSql,
}

/// The statements of the delete check, all over verify's key text `k` (see `TableSql::verify_source`).
#[derive(Debug, Clone, Copy)]
pub struct DeleteSql {
    /// `(k)` of every distinct source key the sync reads.
    pub keys_source: &'static str,
    /// `(k)` of every target row the sending side owns in the tenant: the rows that may be deleted.
    pub keys_target: &'static str,
    /// Forward, in the sync's transaction once a full read is staged and deduplicated (before the
    /// checks and the apply): `(owned rows, gone keys as text[])`, the target's owned rows whose
    /// key staging lacks.
    pub gone_staged: Option<&'static str>,
    /// Forward, a full read that settles its unchanged rows (`TableSql::settle`) while this check is
    /// due: both comparisons in one join, in place of `gone_staged` and `settle`.
    pub settling: Option<SettlingSql>,
    /// `(k, row_key, reason, row json)` of the rows listed in `_pgbisync_gone` that other rows
    /// still reference (none when no table references this one).
    pub held: Option<&'static str>,
    /// Deletes the rows listed in `_pgbisync_gone`, returning `(row_key, row json)` of each.
    pub delete: &'static str,
    /// Reverse: forgets the ledger rows of the keys listed in `_pgbisync_gone`, after the delete.
    pub forget: Option<&'static str>,
    /// Run on the source: puts the kept row `$1` (the target row as jsonb) back, unless its key is there.
    pub restore: &'static str,
}

/// One full join of staging with the tenant's target rows, for both the settling and the delete
/// check of a full read.
#[derive(Debug, Clone, Copy)]
pub struct SettlingSql {
    /// Makes `_pgbisync_compared`, `(_n, k)`: the staged rows that would change the target (`k`
    /// NULL), and the owned target keys staging lacks (`_n` NULL).
    pub compare: &'static str,
    /// `(owned rows, gone keys as text[])`, as `gone_staged` answers, from `_pgbisync_compared`.
    pub gone: &'static str,
    /// Makes `_pgbisync_changed` from `_pgbisync_compared`, as `TableSql::settle` does.
    pub changed: &'static str,
}

impl TableSpec {
    /// True when `name` is this table's manifest name or its name on either side.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.source.name == name || self.target.name == name
    }
}

/// Deployment-wide settings from the manifest.
#[derive(Debug, Clone, Copy)]
pub struct ManifestSpec {
    /// Path of the manifest the code was generated from, for messages.
    pub path: &'static str,
    pub desktop_url_env: &'static str,
    pub cloud_url_env: &'static str,
    pub forward_metadata: &'static str,
    pub reverse_metadata: &'static str,
    pub forward_rejects: &'static str,
    pub reverse_rejects: &'static str,
    /// Where deleted rows are kept, on each direction's target.
    pub forward_deleted: &'static str,
    pub reverse_deleted: &'static str,
    /// On the desktop: the keys of each table that reverse brought.
    pub reverse_ledger: &'static str,
    pub origin_column: &'static str,
    /// Origin value stamped on rows born on the desktop.
    pub origin_desktop: &'static str,
    /// Origin value of rows born in the cloud.
    pub origin_cloud: &'static str,
    /// The bookkeeping columns each side keeps for itself (`timestamps:`); never copied across.
    pub created_column: &'static str,
    pub updated_column: &'static str,
    pub tenant: Option<TenantSpec>,
    /// Seconds subtracted from each incremental watermark as a safety margin.
    pub lookback_seconds: u32,
    pub delete_guard: DeleteGuard,
}

/// A run that would delete more than `max_percent` of a table's sending-side rows in the tenant,
/// and more than `min_rows` of them, deletes nothing unless allowed for that run.
#[derive(Debug, Clone, Copy)]
pub struct DeleteGuard {
    pub max_percent: u32,
    pub min_rows: u64,
}

impl DeleteGuard {
    /// True when deleting `gone` of `owned` rows is too many to do without being asked.
    pub fn trips(&self, gone: u64, owned: u64) -> bool {
        gone > self.min_rows && gone * 100 > owned * self.max_percent as u64
    }
}

impl ManifestSpec {
    pub fn metadata_table(&self, direction: Direction) -> &'static str {
        match direction {
            Direction::Forward => self.forward_metadata,
            Direction::Reverse => self.reverse_metadata,
        }
    }

    pub fn rejects_table(&self, direction: Direction) -> &'static str {
        match direction {
            Direction::Forward => self.forward_rejects,
            Direction::Reverse => self.reverse_rejects,
        }
    }

    pub fn deleted_table(&self, direction: Direction) -> &'static str {
        match direction {
            Direction::Forward => self.forward_deleted,
            Direction::Reverse => self.reverse_deleted,
        }
    }

    pub fn url_env(&self, side: Side) -> &'static str {
        match side {
            Side::Desktop => self.desktop_url_env,
            Side::Cloud => self.cloud_url_env,
        }
    }
}

/// A tenant column that bounds every read and delete, its value taken from an environment variable.
#[derive(Debug, Clone, Copy)]
pub struct TenantSpec {
    pub column: &'static str,
    pub env: &'static str,
}
