//! The manifest exactly as the file spells it: serde types, no validation beyond shape.
//! Every struct rejects unknown keys, so a typo is an error with a line, not a silent default.

use pgbisync_contract::{Mode, Strategy};
use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub version: Spanned<u32>,
    #[serde(default)]
    pub connections: Connections,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub origin: Origin,
    pub tenant: Option<Spanned<Tenant>>,
    #[serde(default)]
    pub timestamps: Timestamps,
    /// Seconds each incremental watermark reaches back, as a margin for writers the engine cannot see.
    #[serde(default = "default_lookback")]
    pub lookback_seconds: u32,
    /// When a run's deletes are too many to trust (see [`DeleteGuard`]).
    #[serde(default)]
    pub delete_guard: DeleteGuard,
    pub tables: Vec<Spanned<Table>>,
}

/// A run whose deletes would remove more than `max_percent` of a table's rows born on the sending
/// side in the tenant, and more than `min_rows` of them, deletes nothing until it is allowed once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeleteGuard {
    pub max_percent: Spanned<u32>,
    pub min_rows: Spanned<u64>,
}

impl Default for DeleteGuard {
    fn default() -> Self {
        DeleteGuard { max_percent: unspanned(10), min_rows: unspanned(100) }
    }
}

fn default_lookback() -> u32 {
    60
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Connections {
    pub desktop_url_env: Spanned<String>,
    pub cloud_url_env: Spanned<String>,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            desktop_url_env: unspanned("DESKTOP_DATABASE_URL".into()),
            cloud_url_env: unspanned("CLOUD_DATABASE_URL".into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Metadata {
    pub forward: Spanned<String>,
    pub reverse: Spanned<String>,
    pub forward_rejects: Spanned<String>,
    pub reverse_rejects: Spanned<String>,
    /// Where each deleted row is kept (table, tenant, key, the row as JSON, when), on the target.
    pub forward_deleted: Spanned<String>,
    pub reverse_deleted: Spanned<String>,
    /// On the desktop: which keys of which table reverse brought (the desktop has no origin column).
    pub reverse_ledger: Spanned<String>,
}

impl Default for Metadata {
    fn default() -> Self {
        Metadata {
            forward: unspanned("_sync_metadata".into()),
            reverse: unspanned("_reverse_sync_metadata".into()),
            forward_rejects: unspanned("_sync_rejects".into()),
            reverse_rejects: unspanned("_reverse_sync_rejects".into()),
            forward_deleted: unspanned("_sync_deleted".into()),
            reverse_deleted: unspanned("_reverse_sync_deleted".into()),
            reverse_ledger: unspanned("_reverse_sync_ledger".into()),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Origin {
    pub column: Spanned<String>,
    pub desktop: Spanned<String>,
    pub cloud: Spanned<String>,
}

impl Default for Origin {
    fn default() -> Self {
        Origin { column: unspanned("source".into()), desktop: unspanned("D".into()), cloud: unspanned("M".into()) }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    pub column: Spanned<String>,
    pub env: Spanned<String>,
}

/// Bookkeeping columns each side keeps for itself; they are never copied across.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timestamps {
    pub created: Spanned<String>,
    pub updated: Spanned<String>,
}

impl Default for Timestamps {
    fn default() -> Self {
        Timestamps { created: unspanned("created_at".into()), updated: unspanned("updated_at".into()) }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// The table's name in the manifest, the CLI and the metadata tables; also its default name on both sides.
    pub name: Spanned<String>,
    pub desktop: Option<Spanned<String>>,
    pub cloud: Option<Spanned<String>>,
    /// Columns both sides have: `"name type [not null]"`.
    pub columns: Vec<Spanned<String>>,
    #[serde(default)]
    pub desktop_only: Vec<Spanned<String>>,
    #[serde(default)]
    pub cloud_only: Vec<Spanned<String>>,
    /// Desktop column name -> cloud column name, for shared columns named differently.
    #[serde(default)]
    pub renames: Vec<Spanned<Rename>>,
    /// Whether each side carries the manifest-wide `timestamps` columns (default: both do).
    #[serde(default)]
    pub timestamps: Option<Spanned<SideFlags>>,
    /// Key on both sides (shared columns, desktop names).
    #[serde(default)]
    pub key: Option<Spanned<Vec<Spanned<String>>>>,
    pub desktop_key: Option<Spanned<Vec<Spanned<String>>>>,
    pub cloud_key: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub references: Vec<Spanned<Reference>>,
    /// Columns of rows born in the cloud that the desktop writes (e.g. an approval); the cloud owns
    /// the rest of those rows, and the desktop all of its own rows.
    #[serde(default)]
    pub desktop_owns: Vec<Spanned<String>>,
    pub forward: Option<Spanned<DirectionDef>>,
    pub reverse: Option<Spanned<DirectionDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub desktop: Spanned<String>,
    pub cloud: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideFlags {
    #[serde(default = "yes")]
    pub desktop: bool,
    #[serde(default = "yes")]
    pub cloud: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// Columns of this table (desktop names) holding the parent's key.
    pub columns: Vec<Spanned<String>>,
    /// The parent, by manifest name.
    pub table: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectionDef {
    pub mode: Spanned<Mode>,
    pub strategy: Spanned<Strategy>,
    pub track: Option<Spanned<String>>,
    /// Shared columns not written in this direction.
    #[serde(default)]
    pub skip: Vec<Spanned<String>>,
    /// Target columns filled by a rule instead of from the source.
    #[serde(default)]
    pub set: Vec<Spanned<SetDef>>,
    #[serde(default)]
    pub dedup: Option<Spanned<DedupDef>>,
    /// Whether rows gone from the source are deleted from the target (forward upsert: propagate).
    pub deletes: Option<Spanned<DeletesDef>>,
    /// Incremental tables: the least time between two delete checks (default 0: every run).
    pub deletes_every_seconds: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletesDef {
    /// A row gone from the source is deleted from the target (and kept in the deleted-rows table).
    Propagate,
    /// Target rows stay when their source row is gone.
    Keep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DedupDef {
    /// Keep the row with the newest tracking value; ties broken by the row's content.
    Newest,
}

/// One mapping rule: `{ column: x, const: 'A' }`, `{ column: x, now: true }`,
/// `{ column: x, lookup: { table: t, by: [a], take: b } }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetDef {
    /// Target column (target-side name).
    pub column: Spanned<String>,
    #[serde(rename = "const")]
    pub constant: Option<Spanned<String>>,
    pub now: Option<Spanned<bool>>,
    pub lookup: Option<Spanned<LookupDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupDef {
    /// Another table of the manifest, read on the target side.
    pub table: Spanned<String>,
    /// Columns of the looked-up table's target-side key, matched against these staged columns (target names).
    pub by: Vec<Spanned<String>>,
    /// The looked-up table's column whose value fills the target column.
    pub take: Spanned<String>,
}

fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(value, serde_saphyr::Location::UNKNOWN, serde_saphyr::Location::UNKNOWN)
}
