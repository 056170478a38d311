//! The tables compiled from `sync-schema.yaml`. Everything here is generated; see `OUT_DIR/tables.rs`
//! or run `pgbisync codegen` to read it.

include!(concat!(env!("OUT_DIR"), "/tables.rs"));

/// The generated source, for `pgbisync codegen`.
pub const GENERATED_SOURCE: &str = include_str!(concat!(env!("OUT_DIR"), "/tables.rs"));

/// The compiled manifest, as the runtime's CLI takes it.
pub fn program() -> pgbisync_runtime::program::Program {
    pgbisync_runtime::program::Program {
        manifest: &MANIFEST,
        tables: TABLES,
        schema: SCHEMA,
        schema_functions: SCHEMA_FUNCTIONS,
        generated_source: GENERATED_SOURCE,
    }
}
