//! A suggested manifest entry: what `introspect` decided from the live tables, each guess with the
//! reason it is a guess. The command line renders it as YAML; nothing here knows the text.

use crate::spec::{Mode, Strategy};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Entry {
    /// The table's manifest name.
    pub name: String,
    /// `desktop:` / `cloud:`, when the side's table name differs from `name`.
    pub desktop: Option<String>,
    pub cloud: Option<String>,
    /// Said before the entry: where it came from, what was assumed.
    pub notes: Vec<String>,
    pub columns: Vec<ColumnDecl>,
    pub desktop_only: Vec<ColumnDecl>,
    pub cloud_only: Vec<ColumnDecl>,
    pub renames: Vec<Rename>,
    pub timestamps: Timestamps,
    pub key: Key,
    pub references: Vec<ReferenceDecl>,
    pub forward: SyncDecl,
    /// A reverse section to uncomment when rows are born in the cloud (none when the table could
    /// not sync that way).
    pub reverse: Option<SyncDecl>,
    /// What needs a person's attention before the entry works as pasted, for stderr.
    pub warnings: Vec<String>,
}

/// One `name type [not null]` line.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDecl {
    pub name: String,
    /// The manifest spelling, or the live type when the manifest has none.
    pub ty: String,
    pub not_null: bool,
    /// False when the manifest cannot declare the column (its type or its name): it is shown
    /// commented out and not synced.
    pub declarable: bool,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rename {
    pub desktop: String,
    pub cloud: String,
    pub notes: Vec<String>,
}

/// Which sides keep the manifest's created/updated columns (default: both).
#[derive(Debug, Clone, PartialEq)]
pub struct Timestamps {
    pub desktop: bool,
    pub cloud: bool,
    pub notes: Vec<String>,
}

impl Default for Timestamps {
    fn default() -> Self {
        Timestamps { desktop: true, cloud: true, notes: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Key {
    /// `key:`, desktop names, on both sides.
    pub shared: Vec<String>,
    pub desktop: Option<Vec<String>>,
    pub cloud: Option<Vec<String>>,
    pub notes: Vec<String>,
    /// Key lines offered commented out, e.g. `("key", ["invoice_id"])`, when none was found.
    pub suggestions: Vec<(String, Vec<String>)>,
}

impl Key {
    /// The desktop key (desktop names).
    pub fn desktop_columns(&self) -> &[String] {
        self.desktop.as_deref().unwrap_or(&self.shared)
    }
}

/// One `{ columns: [...], table: parent }` line.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceDecl {
    /// Desktop names, in the order of the parent's key.
    pub columns: Vec<String>,
    /// The parent's manifest name (or, when it has none yet, its table name).
    pub table: String,
    /// False when the line would not build as it is: shown commented out.
    pub active: bool,
    pub notes: Vec<String>,
}

/// One direction's `{ mode, strategy, track }`.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncDecl {
    pub mode: Mode,
    pub strategy: Strategy,
    pub track: Option<String>,
    /// `deletes: keep`, when deletes could not be kept to one firm.
    pub keep_deletes: bool,
    /// False for a section offered commented out.
    pub active: bool,
    pub notes: Vec<String>,
}

impl Default for SyncDecl {
    fn default() -> Self {
        SyncDecl {
            mode: Mode::Full,
            strategy: Strategy::Upsert,
            track: None,
            keep_deletes: false,
            active: true,
            notes: Vec::new(),
        }
    }
}
