//! The generic pgbisync engine. It knows PostgreSQL and no table by name: every table arrives as a
//! generated [`codec::TableCodec`] described by a [`spec::TableSpec`].
//!
//! [`sync`] runs directions and returns a [`RunReport`]; [`cli`] is the command line over it; [`demo`]
//! holds the throwaway clusters and sample data of `pgbisync demo` and the tests.

// The generated code names `codec`, `program`, `spec` and `wire` by path: they stay public modules.
pub mod cli;
pub mod codec;
mod config;
pub mod demo;
mod distinct_keys;
mod engine;
pub mod program;
pub mod spec;
mod tenant;
pub mod wire;

pub use config::{ConfigError, ConnectionUrl};
pub use demo::cluster::{Cluster, ClusterError, ClusterOptions};
pub use demo::sample::{SampleSize, SampleSummary};
pub use engine::bootstrap::{ensure as bootstrap, Bootstrap};
pub use engine::db_error::describe;
pub use engine::lock::{acquire as acquire_lock, Lock};
pub use engine::metadata::Scope;
pub use engine::status::{read as read_status, StatusRow};
pub use engine::verify::{verify_table, verify_tables, VerifyError, VerifyReport};
pub use engine::{
    check_tables, connect, sync, ConnectError, Connections, DeleteOutcome, DeleteReport, DirectionReport, EngineError,
    Observer, RunReport, Silent, Status, SyncOptions, TableError, TableReport, UnknownTables,
};
pub use program::{Program, TableSchema};
pub use spec::{Direction, Mode, Side, Strategy};
