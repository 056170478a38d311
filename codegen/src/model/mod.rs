//! The validated, resolved model: every name checked, every column typed, every direction's
//! mapping worked out, tables in sync order. Building it is the validation; it reports every problem
//! at once, each with its line. The steps live in the files of this folder, in the order they run:
//! `settings` (deployment-wide names), `table` (columns, keys), `order` (reference cycles and sync
//! order), then `direction/` for each table and direction.

mod builder;
mod direction;
mod order;
mod renames;
mod settings;
mod table;

use crate::diagnostic::Diagnostics;
use crate::manifest::Manifest;
use crate::types::PgType;

pub use pgbisync_contract::{Direction, Mode, Side as SideName, Strategy};
pub use renames::Renames;

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: PgType,
    pub declared: String,
    pub nullable: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Side {
    pub side: SideName,
    pub name: String,
    pub columns: Vec<Column>,
    pub key: Vec<String>,
    /// The bookkeeping column this side keeps current on every update, when it has one.
    pub touched: Option<String>,
    /// Columns this side keeps for itself (created/updated times); never copied across.
    pub bookkeeping: Vec<String>,
}

impl Side {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub desktop_url_env: String,
    pub cloud_url_env: String,
    pub forward_metadata: String,
    pub reverse_metadata: String,
    pub forward_rejects: String,
    pub reverse_rejects: String,
    pub forward_deleted: String,
    pub reverse_deleted: String,
    pub reverse_ledger: String,
    pub origin_column: String,
    pub origin_desktop: String,
    pub origin_cloud: String,
    /// The bookkeeping columns each side keeps for itself (`timestamps:`).
    pub created_column: String,
    pub updated_column: String,
    pub tenant: Option<Tenant>,
    pub lookback_seconds: u32,
    pub delete_guard: DeleteGuard,
}

/// How many deletes one run may make of a table before it stops and asks (see the manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteGuard {
    pub max_percent: u32,
    pub min_rows: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// Desktop name of the column; shared columns keep it on both sides unless renamed.
    pub column: String,
    pub env: String,
}

/// Where a staged column's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum StagedValue {
    /// The source column of this name (index into the read list).
    Source { column: String, index: usize },
    /// A manifest constant, already checked against the column type.
    Constant(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StagedColumn {
    /// Target-side name.
    pub name: String,
    pub ty: PgType,
    /// Whether the target column accepts NULL.
    pub target_nullable: bool,
    /// Whether the staged value may be NULL (Option in Rust).
    pub nullable: bool,
    pub value: StagedValue,
}

/// Target columns filled while applying, from the target database itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Computed {
    Now { column: String },
    Lookup { column: String, table: String, by: Vec<String>, take: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceCheck {
    /// Parent by manifest name and its target-side table.
    pub parent: String,
    pub parent_table: String,
    /// (staged column, parent column) pairs.
    pub pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableDirection {
    pub table: String,
    pub direction: Direction,
    pub line: u64,
    pub source: Side,
    pub target: Side,
    pub mode: Mode,
    pub strategy: Strategy,
    /// Source column read as the tracking value.
    pub tracking: Option<String>,
    /// `track: xmin`: changes are found by the source rows' transaction ids, not by a column.
    pub track_xmin: bool,
    /// Columns read from the source, in order (staged sources, then tracking if not among them).
    pub read: Vec<Column>,
    pub staged: Vec<StagedColumn>,
    pub computed: Vec<Computed>,
    /// Target key (target names); empty when the target has none or generates it.
    pub key: Vec<String>,
    /// Deduplicate staged rows by key, newest tracking value first.
    pub dedup: bool,
    /// Forward: stamp this origin column on the target. Reverse: read only rows with the cloud origin.
    pub origin_column: String,
    pub tenant_source: Option<Column>,
    pub tenant_target: Option<Column>,
    pub references: Vec<ReferenceCheck>,
    /// Manifest names of the tables this one reads on the target while applying (lookups, references).
    pub depends_on: Vec<String>,
    /// Whether target rows whose source row is gone are deleted, and how.
    pub deletes: Option<Deletes>,
    /// Columns (target names) the desktop owns on rows born in the cloud: forward writes only these
    /// of such rows, reverse never writes them.
    pub desktop_owns: Vec<String>,
    /// The desktop table recording which keys reverse brought: reverse updates only those; forward
    /// of a two-way table never inserts them as desktop-born rows.
    pub ledger: Option<String>,
}

/// How a forward upsert table deletes the target rows whose source row is gone.
#[derive(Debug, Clone, PartialEq)]
pub struct Deletes {
    /// Incremental tables: the least seconds between two checks (0: every run).
    pub every_seconds: u32,
    /// The parent through which a table without the tenant column finds its rows of the tenant.
    pub scope_through: Option<ScopeParent>,
    /// Target tables whose rows point at this table's rows: a row they reference is not deleted.
    /// Filled once every direction is resolved.
    pub referrers: Vec<Referrer>,
}

/// A parent with the tenant column: a row is the tenant's when its parent row is.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeParent {
    /// The parent's target-side table.
    pub table: String,
    /// (column of this table, parent column), target names.
    pub pairs: Vec<(String, String)>,
    pub tenant: Column,
}

/// A table whose rows reference this one on the target.
#[derive(Debug, Clone, PartialEq)]
pub struct Referrer {
    /// The referring table's manifest name and its target-side table.
    pub name: String,
    pub table: String,
    /// (referring column, this table's column), target names.
    pub pairs: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub name: String,
    pub line: u64,
    pub desktop: Side,
    pub cloud: Side,
    /// Desktop names of the columns both sides share (`columns:`), in manifest order.
    pub shared: Vec<String>,
    pub renames: Renames,
}

impl Table {
    pub fn side(&self, side: SideName) -> &Side {
        match side {
            SideName::Desktop => &self.desktop,
            SideName::Cloud => &self.cloud,
        }
    }

    /// The side a direction reads.
    pub fn source(&self, dir: Direction) -> &Side {
        self.side(dir.source())
    }

    /// The side a direction writes.
    pub fn target(&self, dir: Direction) -> &Side {
        self.side(dir.target())
    }

    /// The shared columns as a direction sees them: (source name, target name).
    pub fn shared_for(&self, dir: Direction) -> Vec<(String, String)> {
        self.shared.iter().map(|desktop| self.renames.for_direction(dir, desktop)).collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub file: String,
    pub settings: Settings,
    pub tables: Vec<Table>,
    /// Every table-direction in sync order: forward tables (parents first), then reverse tables.
    pub directions: Vec<TableDirection>,
}

impl Model {
    pub fn build(file: &str, manifest: &Manifest) -> Result<Model, Diagnostics> {
        let mut b = builder::Builder::new(file);
        let model = b.model(manifest);
        b.finish(model)
    }
}

impl TableDirection {
    /// The source columns holding the target key's values.
    pub fn key_source_columns(&self) -> Vec<String> {
        self.key
            .iter()
            .map(|k| match self.staged.iter().find(|s| &s.name == k).map(|s| &s.value) {
                Some(StagedValue::Source { column, .. }) => column.clone(),
                _ => k.clone(),
            })
            .collect()
    }
}

impl Computed {
    pub fn column(&self) -> &str {
        match self {
            Computed::Now { column } | Computed::Lookup { column, .. } => column,
        }
    }
}
