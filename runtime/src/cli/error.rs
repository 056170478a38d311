//! Why a command could not run, typed, and the exit code each kind of failure means.

use super::exit;
use crate::config::ConfigError;
use crate::demo::DemoError;
use crate::engine::db_error::describe;
use crate::engine::introspect::CatalogError;
use crate::engine::verify::VerifyError;
use crate::engine::{ConnectError, EngineError, UnknownTables};
use crate::spec::Side;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    UnknownTables(#[from] UnknownTables),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(
        "another pgbisync run holds the lock on the desktop database{}; this run did nothing. Wait for it to finish",
        .holder.map(|p| format!(" (server pid {p})")).unwrap_or_default()
    )]
    LockBusy { holder: Option<i32> },
    #[error("taking the run lock: {}", describe(.0))]
    Lock(#[source] tokio_postgres::Error),
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A query of `status`, `check`, `bootstrap` or `reset` failed on one side.
    #[error("{}", describe(.source))]
    Database {
        side: Side,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The command was given something it cannot do (named in the message).
    #[error("{0}")]
    Usage(String),
    #[error("restoring kept rows of {table} on the {side}, nothing marked restored: {}", describe(.source))]
    Restore {
        table: String,
        side: Side,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Demo(#[from] DemoError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl CommandError {
    /// A failed query on `side`, for `map_err`.
    pub fn on(side: Side) -> impl Fn(tokio_postgres::Error) -> CommandError {
        move |source| CommandError::Database { side, source }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CommandError::Config(_)
            | CommandError::UnknownTables(_)
            | CommandError::Usage(_)
            | CommandError::Engine(EngineError::UnknownTables(_))
            | CommandError::Catalog(CatalogError::NoSuchTable { .. } | CatalogError::OldServer { .. }) => exit::USAGE,
            CommandError::Restore { source, .. } if !source.is_closed() => exit::PARTIAL,
            // A URL that does not parse is a configuration error; a server that does not answer is not.
            CommandError::Connect(ConnectError::BadUrl { .. }) => exit::USAGE,
            CommandError::Connect(ConnectError::Unreachable { .. })
            | CommandError::LockBusy { .. }
            | CommandError::Lock(_)
            | CommandError::Engine(_)
            | CommandError::Database { .. }
            | CommandError::Restore { .. }
            | CommandError::Verify(_)
            | CommandError::Catalog(CatalogError::Query { .. })
            | CommandError::Demo(_)
            | CommandError::Runtime(_) => exit::UNAVAILABLE,
        }
    }
}
