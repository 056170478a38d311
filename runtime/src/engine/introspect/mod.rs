//! `pgbisync introspect`: live tables read from the catalog (`catalog`), turned into the manifest
//! entry that would sync them (`suggest`, deciding an [`Entry`]), in the manifest's own type
//! spellings (`manifest_type`). The command line renders the entry as YAML.

pub(crate) mod catalog;
pub(crate) mod entry;
mod manifest_type;
mod suggest;

pub use catalog::{read_table, CatalogError};
pub use entry::{ColumnDecl, Entry, SyncDecl};
pub use suggest::{suggest, KnownTable, Pair};
