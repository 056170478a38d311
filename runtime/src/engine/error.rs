//! What can stop a sync, typed: a direction that cannot start ([`EngineError`]), and a table that
//! fails while the others go on ([`TableError`]). Database errors are kept as sources; their text is
//! rendered with [`describe`] only when the error is displayed.

use super::connections::ConnectError;
use super::db_error::{describe, is_transient, privilege_note};
use super::schema_check::Difference;
use crate::spec::{Direction, Side};

/// Names given with `--table` that no compiled table of the requested directions answers to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown table(s): {}; `pgbisync tables` lists the compiled tables", .names.join(", "))]
pub struct UnknownTables {
    pub names: Vec<String>,
}

/// A direction could not run at all; no table of it was synced.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    UnknownTables(#[from] UnknownTables),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("starting the {direction} dry run's transaction on the {side}: {}", describe(.source))]
    DryRun {
        direction: Direction,
        side: Side,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("bootstrapping the {direction} metadata on the {side}: {}", describe(.source))]
    Bootstrap {
        direction: Direction,
        side: Side,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("reading the live schema on the {side}: {}", describe(.source))]
    Schema {
        side: Side,
        #[source]
        source: tokio_postgres::Error,
    },
}

/// One table failed; its transaction was rolled back and the run went on with the next table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(
        "the live tables differ from the manifest ({manifest} line {line}), nothing written: {}",
        .differences.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")
    )]
    SchemaDiffers { table: &'static str, manifest: &'static str, line: u32, differences: Vec<Difference> },
    #[error("{}{}", describe(.source), privilege_note(*.side, .source))]
    Database {
        table: &'static str,
        side: Side,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("row {row} of the source cannot be read into its typed fields: {source}")]
    Decode {
        table: &'static str,
        row: u64,
        #[source]
        source: crate::wire::DecodeError,
    },
    #[error("row {row} of the source cannot be written as the target's columns: {source}")]
    Encode {
        table: &'static str,
        row: u64,
        #[source]
        source: crate::wire::binary_copy::EncodeError,
    },
    #[error(
        "did not finish within {} s (--table-timeout): a server stopped answering in the middle of a statement \
         (a stalled pooler, a dropped NAT mapping), or a statement ran that long; the table was rolled back and \
         both connections opened again",
        .after.as_secs()
    )]
    Deadline { table: &'static str, after: std::time::Duration },
    #[error("{}; blocked by {blockers}", describe(.source))]
    LockTimeout {
        table: &'static str,
        side: Side,
        /// The sessions holding locks on the table, as `pg_stat_activity` shows them to this role.
        blockers: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("the {side} listed keys out of byte order (is its encoding UTF8?), so nothing was deleted")]
    Unsorted { table: &'static str, side: Side },
    /// A connection closed by an earlier failure could not be opened again.
    #[error(transparent)]
    Reconnect(#[from] ConnectError),
}

impl TableError {
    /// Worth another attempt after a pause (see [`is_transient`]).
    pub fn is_transient(&self) -> bool {
        match self {
            TableError::Database { source, .. } => is_transient(source),
            TableError::Reconnect(_) => true,
            TableError::SchemaDiffers { .. }
            | TableError::Decode { .. }
            | TableError::Encode { .. }
            | TableError::Unsorted { .. }
            | TableError::Deadline { .. }
            | TableError::LockTimeout { .. } => false,
        }
    }

    /// A server could not be reached or stopped answering: the run exits 3 (SPEC 9).
    pub fn is_unavailable(&self) -> bool {
        self.is_transient() || matches!(self, TableError::Deadline { .. })
    }
}
